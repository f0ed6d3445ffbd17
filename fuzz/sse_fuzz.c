/* libFuzzer target for the SSE parser (src/sse.c).
 *
 * The first bytes of the input choose a max_event_size and how the rest is
 * split into chunks. The same bytes are then parsed four ways: whole and
 * chunked, without a limit and with the chosen one. Whichever way, the parser
 * must give the same events and the same verdict; with a limit, no event may
 * be larger than it. Each chunk lives in its own allocation, freed right after
 * it is fed, so AddressSanitizer sees any event that still points into it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/sse.h"

#define HEADER_LEN 6

typedef struct parse_result {
    dify_buf events; /* every event, serialised: lengths then bytes */
    size_t count;
    size_t largest; /* the largest type + data seen */
    int rc;
} parse_result;

static void die(const char *why) {
    fprintf(stderr, "sse_fuzz: %s\n", why);
    abort(); /* libFuzzer saves the input that did it */
}

static void put_field(dify_buf *b, const char *bytes, size_t len) {
    if (dify_buf_append(b, (const char *)&len, sizeof len) || dify_buf_append(b, bytes, len))
        die("out of memory");
}

static int collect(void *ctx, const dify_sse_event *ev) {
    parse_result *r = ctx;
    char has_data = (char)(ev->has_data != 0);
    put_field(&r->events, ev->type, ev->type_len);
    put_field(&r->events, &has_data, 1);
    put_field(&r->events, ev->data, ev->data_len);
    put_field(&r->events, ev->id, ev->id_len);
    if (ev->type_len + ev->data_len > r->largest) r->largest = ev->type_len + ev->data_len;
    r->count++;
    return DIFY_SSE_OK;
}

/* A small deterministic generator: the split depends on the input only. */
static uint32_t next_random(uint32_t *state) {
    uint32_t x = *state ? *state : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void parse(const uint8_t *data, size_t size, size_t max, uint32_t split_seed,
                  size_t max_chunk, parse_result *r) {
    dify_sse_parser p;
    dify_sse_init(&p, max);
    dify_buf_init(&r->events);
    r->count = r->largest = 0;
    r->rc = DIFY_SSE_OK;
    size_t pos = 0;
    uint32_t state = split_seed;
    while (pos < size && r->rc == DIFY_SSE_OK) {
        size_t n = size - pos;
        if (max_chunk) {
            size_t want = 1 + next_random(&state) % max_chunk;
            if (want < n) n = want;
        }
        char *chunk = malloc(n);
        if (!chunk) die("out of memory");
        memcpy(chunk, data + pos, n);
        r->rc = dify_sse_feed(&p, chunk, n, collect, r);
        free(chunk);
        pos += n;
    }
    if (r->rc == DIFY_SSE_OK) r->rc = dify_sse_finish(&p, collect, r);
    /* A failed parser stays failed. */
    if (r->rc != DIFY_SSE_OK && dify_sse_feed(&p, "x", 1, collect, r) != DIFY_SSE_FAILED)
        die("a failed parser accepted more bytes");
    dify_sse_free(&p);
}

static int same(const parse_result *a, const parse_result *b) {
    return a->rc == b->rc && a->count == b->count && a->events.len == b->events.len &&
           (a->events.len == 0 || memcmp(a->events.data, b->events.data, a->events.len) == 0);
}

/* Events before a failure are exactly the first events of an unlimited parse. */
static int is_prefix(const parse_result *part, const parse_result *whole) {
    return part->events.len <= whole->events.len &&
           (part->events.len == 0 ||
            memcmp(part->events.data, whole->events.data, part->events.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < HEADER_LEN) return 0;
    size_t max = 1 + ((size_t)data[0] | (size_t)data[1] << 8) % 2048;
    size_t max_chunk = 1 + data[2] % 64;
    uint32_t seed = (uint32_t)data[3] | (uint32_t)data[4] << 8 | (uint32_t)data[5] << 16;
    data += HEADER_LEN;
    size -= HEADER_LEN;

    parse_result whole, chunked, whole_max, chunked_max;
    parse(data, size, 0, 0, 0, &whole);
    parse(data, size, 0, seed, max_chunk, &chunked);
    parse(data, size, max, 0, 0, &whole_max);
    parse(data, size, max, seed, max_chunk, &chunked_max);

    /* Without a limit the only failure is a body that ends inside an event. */
    if (whole.rc != DIFY_SSE_OK && whole.rc != DIFY_SSE_TRUNCATED) die("an unlimited parse failed");
    if (!same(&whole, &chunked)) die("chunked parse differs from one-shot parse");
    if (!same(&whole_max, &chunked_max)) die("with a limit, chunked differs from one-shot");
    if (whole_max.rc != DIFY_SSE_OK && whole_max.rc != DIFY_SSE_TOO_LARGE &&
        whole_max.rc != DIFY_SSE_TRUNCATED)
        die("unexpected failure code");
    if (whole_max.rc != DIFY_SSE_TOO_LARGE && !same(&whole, &whole_max))
        die("a limit that was not reached changed the events or the verdict");
    if (!is_prefix(&whole_max, &whole)) die("events before the failure differ");
    if (whole_max.largest > max) die("an event larger than max_event_size came out");

    dify_buf_free(&whole.events);
    dify_buf_free(&chunked.events);
    dify_buf_free(&whole_max.events);
    dify_buf_free(&chunked_max.events);
    return 0;
}
