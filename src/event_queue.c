#include "event_queue.h"

#include <stdlib.h>

void dify_event_queue_init(dify_event_queue *q) {
    dify_buf_init(&q->arena);
    q->items = NULL;
    q->len = q->cap = q->head = 0;
}

void dify_event_queue_free(dify_event_queue *q) {
    dify_buf_free(&q->arena);
    free(q->items);
    dify_event_queue_init(q);
}

static size_t keep(dify_buf *arena, const char *bytes, size_t n) {
    size_t at = arena->len;
    dify_buf_append(arena, bytes, n); /* room was reserved by the caller */
    return at;
}

int dify_event_queue_push(void *ctx, const dify_sse_event *event) {
    dify_event_queue *q = ctx;
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        queued_event *grown = realloc(q->items, cap * sizeof *grown);
        if (!grown) return DIFY_SSE_NOMEM;
        q->items = grown;
        q->cap = cap;
    }
    if (dify_buf_reserve(&q->arena, event->type_len + event->data_len + event->id_len) != 0)
        return DIFY_SSE_NOMEM;
    queued_event *item = &q->items[q->len++];
    item->type_len = event->type_len;
    item->type_at = keep(&q->arena, event->type, event->type_len);
    item->data_len = event->data_len;
    item->data_at = keep(&q->arena, event->data, event->data_len);
    item->id_len = event->id_len;
    item->id_at = keep(&q->arena, event->id, event->id_len);
    item->has_data = event->has_data;
    return DIFY_SSE_OK;
}

int dify_event_queue_empty(const dify_event_queue *q) {
    return q->head == q->len;
}

void dify_event_queue_clear(dify_event_queue *q) {
    q->head = q->len = 0;
    q->arena.len = 0;
}

static const char *at(const dify_event_queue *q, size_t offset) {
    return q->arena.data ? q->arena.data + offset : "";
}

int dify_event_queue_pop(dify_event_queue *q, dify_sse_event *event) {
    if (dify_event_queue_empty(q)) return 0;
    const queued_event *item = &q->items[q->head++];
    event->type = at(q, item->type_at);
    event->type_len = item->type_len;
    event->data = at(q, item->data_at);
    event->data_len = item->data_len;
    event->id = at(q, item->id_at);
    event->id_len = item->id_len;
    event->has_data = item->has_data;
    return 1;
}
