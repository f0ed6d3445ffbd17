/* Incremental server-sent events parser (WHATWG event-stream rules).
 *
 * Bytes may be fed in pieces split anywhere; events come out through a
 * handler. It knows nothing of HTTP or Lua, so the libcurl transport and a
 * Lua-fed transport (nginx cosockets) share it.
 */
#ifndef DIFY_SSE_H
#define DIFY_SSE_H

#include <stddef.h>

#include "buffer.h"

typedef struct dify_sse_event {
    const char *type; /* the `event:` field; empty when the frame had none */
    size_t type_len;
    const char *data; /* `data:` lines joined with LF; valid only in the handler */
    size_t data_len;
    int has_data; /* 0 for frames such as a bare `event: ping` */
    const char *id;
    size_t id_len;
} dify_sse_event;

/* Returns 0 to go on; any other value stops parsing and is returned by feed. */
typedef int (*dify_sse_handler)(void *ctx, const dify_sse_event *event);

enum {
    DIFY_SSE_OK = 0,
    DIFY_SSE_TOO_LARGE = -1, /* an event grew past max_event_size */
    DIFY_SSE_NOMEM = -2,
    DIFY_SSE_FAILED = -3,   /* fed again after an earlier failure */
    DIFY_SSE_TRUNCATED = -4 /* the body ended in the middle of an event */
};

typedef struct dify_sse_parser {
    dify_buf line; /* the start of a line whose end has not arrived yet */
    dify_buf data;
    dify_buf type;
    dify_buf id;
    const char *direct; /* a data line still inside the caller's chunk: not copied yet */
    size_t direct_len;
    size_t line_value_at; /* where the buffered line's value starts; 0: no colon yet */
    int skip_line;        /* the rest of this line is a comment or an unknown field */
    int oversized_id;     /* a skipped `id:` line too large to keep, unless a NUL voids it */
    size_t max_event_size;
    size_t bom_matched;
    int bom_done;
    int has_data;
    int after_cr;
    int failed;
} dify_sse_parser;

void dify_sse_init(dify_sse_parser *p, size_t max_event_size);
void dify_sse_free(dify_sse_parser *p);
/* Forgets any partial frame, as at the start of a new stream. */
void dify_sse_reset(dify_sse_parser *p);
int dify_sse_feed(dify_sse_parser *p, const char *bytes, size_t n, dify_sse_handler handler,
                  void *ctx);
/* At the end of the body. An event is dispatched by its blank line only: one
 * cut off by the end is discarded (the SSE rule) and DIFY_SSE_TRUNCATED says
 * so, since a Dify frame cut short is an answer lost, not one to guess at. */
int dify_sse_finish(dify_sse_parser *p, dify_sse_handler handler, void *ctx);
const char *dify_sse_strerror(int code);

#endif
