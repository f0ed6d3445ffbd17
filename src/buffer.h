/* A growable byte buffer: the one place the C core allocates text. */
#ifndef DIFY_BUFFER_H
#define DIFY_BUFFER_H

#include <stddef.h>

typedef struct dify_buf {
    char *data;
    size_t len;
    size_t cap;
} dify_buf;

void dify_buf_init(dify_buf *b);
void dify_buf_free(dify_buf *b);
/* Returns 0, or -1 when memory ran out (the buffer is left as it was). */
int dify_buf_reserve(dify_buf *b, size_t extra);
int dify_buf_append(dify_buf *b, const char *bytes, size_t n);
int dify_buf_append_char(dify_buf *b, char c);

#endif
