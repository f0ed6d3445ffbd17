/* Parsed events waiting for the caller to pull them, one at a time.
 * Their bytes live in one arena, emptied when the queue drains, so a long
 * stream allocates once rather than per event. */
#ifndef DIFY_EVENT_QUEUE_H
#define DIFY_EVENT_QUEUE_H

#include <stddef.h>

#include "buffer.h"
#include "sse.h"

typedef struct queued_event {
    size_t type_at, type_len;
    size_t data_at, data_len;
    size_t id_at, id_len;
    int has_data;
} queued_event;

typedef struct dify_event_queue {
    dify_buf arena;
    queued_event *items;
    size_t len, cap, head;
} dify_event_queue;

void dify_event_queue_init(dify_event_queue *q);
void dify_event_queue_free(dify_event_queue *q);
/* A dify_sse_handler: ctx is the queue. */
int dify_event_queue_push(void *ctx, const dify_sse_event *event);
int dify_event_queue_empty(const dify_event_queue *q);
/* Forgets every event; only when the caller holds none of their bytes. */
void dify_event_queue_clear(dify_event_queue *q);
/* Returns 0 when empty; the event is valid until the queue is cleared. */
int dify_event_queue_pop(dify_event_queue *q, dify_sse_event *event);

#endif
