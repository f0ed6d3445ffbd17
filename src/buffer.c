#include "buffer.h"

#include <stdlib.h>
#include <string.h>

void dify_buf_init(dify_buf *b) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void dify_buf_free(dify_buf *b) {
    free(b->data);
    dify_buf_init(b);
}

int dify_buf_reserve(dify_buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return 0;
    if (extra > (size_t)-1 - b->len) return -1;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > (size_t)-1 / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (!grown) return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int dify_buf_append(dify_buf *b, const char *bytes, size_t n) {
    if (n == 0) return 0;
    if (dify_buf_reserve(b, n) != 0) return -1;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

int dify_buf_append_char(dify_buf *b, char c) {
    return dify_buf_append(b, &c, 1);
}
