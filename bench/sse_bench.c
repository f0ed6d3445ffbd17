/* The SSE parser alone (src/sse.c) over 200-byte events, fed in the 16 KiB
 * pieces libcurl hands over, against a memchr scan for LF of the same bytes.
 *
 *   bench-sse [MiB]     prints "parser_gbps X", "memchr_gbps Y", "events N" */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sse.h"

#define PIECE 16384
#define EVENT_SIZE 200

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_event(void *ctx, const dify_sse_event *ev) {
    long *n = ctx;
    *n += ev->data_len > 0;
    return 0;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    size_t total = mib << 20;
    char *buf = malloc(total);
    if (!buf) return 1;
    const char *head = "data: {\"event\":\"message\",\"answer\":\"";
    const char *tail = "\"}\n\n";
    size_t pad = EVENT_SIZE - strlen(head) - strlen(tail);
    size_t used = 0;
    while (used + EVENT_SIZE <= total) {
        memcpy(buf + used, head, strlen(head));
        memset(buf + used + strlen(head), 'x', pad);
        memcpy(buf + used + EVENT_SIZE - strlen(tail), tail, strlen(tail));
        used += EVENT_SIZE;
    }

    long events = 0;
    dify_sse_parser p;
    dify_sse_init(&p, 1 << 24);
    double t0 = now_s();
    for (size_t at = 0; at < used; at += PIECE) {
        size_t n = used - at < PIECE ? used - at : PIECE;
        if (dify_sse_feed(&p, buf + at, n, count_event, &events) != DIFY_SSE_OK) return 1;
    }
    double parse_s = now_s() - t0;
    dify_sse_free(&p);

    volatile long lines = 0;
    t0 = now_s();
    for (size_t at = 0; at < used; at += PIECE) {
        size_t n = used - at < PIECE ? used - at : PIECE;
        const char *q = buf + at, *end = buf + at + n;
        while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
            lines++;
            q++;
        }
    }
    double scan_s = now_s() - t0;
    printf("parser_gbps %.3f\nmemchr_gbps %.3f\nevents %ld\n", used / parse_s / 1e9,
           used / scan_s / 1e9, events);
    free(buf);
    return events == (long)(used / EVENT_SIZE) ? 0 : 1;
}
