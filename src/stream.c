#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "driven_transfer.h"
#include "event_queue.h"

/* Unread events a stream may hold before its transfer pauses: other streams
 * on the same driver keep flowing while this one is not being read. */
#define HOLD_BYTES (1024 * 1024)

struct dify_stream {
    driven_transfer base;
    dify_sse_parser sse;
    dify_event_queue queue;
    long long first_event_deadline_ms; /* 0: none */
    int saw_data_event;
    int opening; /* started without waiting: ready once open (dify_stream_opened) */
};

static dify_stream *stream_of(dify_driven *d) {
    return (dify_stream *)(void *)((char *)d - offsetof(dify_stream, base.driven));
}

static int queue_full(void *ctx) {
    const dify_event_queue *q = ctx;
    return q->arena.len >= HOLD_BYTES;
}

static void on_done(dify_driven *d, CURLcode rc) {
    dify_stream *st = stream_of(d);
    st->base.finished = 1;
    if (transfer_finish(&st->base.t, rc) == 0 && st->base.res.is_event_stream) {
        int sse_rc = dify_sse_finish(&st->sse, dify_event_queue_push, &st->queue);
        if (sse_rc != DIFY_SSE_OK)
            dify_error_set(&st->base.err, DIFY_ERR_PROTOCOL, "event stream: %s",
                           dify_sse_strerror(sse_rc));
    }
}

static void free_stream(dify_driven *d) {
    dify_stream *st = stream_of(d);
    driven_transfer_cleanup(&st->base);
    dify_sse_free(&st->sse);
    dify_event_queue_free(&st->queue);
    free(st);
}

static void fail(dify_stream *st, const dify_error *err) {
    driven_transfer_fail(&st->base, err);
}

static int has_event_or_end(const dify_stream *st) {
    return st->base.finished || !dify_event_queue_empty(&st->queue);
}

static int has_headers_or_end(const dify_stream *st) {
    return st->base.finished || st->base.t.headers_done;
}

static int has_ended(const dify_stream *st) {
    return st->base.finished;
}

static int is_streaming(const dify_stream *st) {
    return st->base.res.status >= 200 && st->base.res.status < 300 && st->base.res.is_event_stream;
}

/* Headers of a 2xx event stream, or (any other answer is read whole) the end. */
static int open_finished(const dify_stream *st) {
    return st->base.finished || (st->base.t.headers_done && is_streaming(st));
}

/* Fails st when its first-event or idle timer ran out (returns 1); else lowers
 * *wait_ms to the time left on them. */
static int check_timers(dify_stream *st, long long now, long long *wait_ms) {
    dify_error err;
    dify_error_clear(&err);
    if (!st->saw_data_event && st->first_event_deadline_ms) {
        long long first_left = st->first_event_deadline_ms - now;
        if (first_left < 0) {
            /* Pings keep a connection alive without bringing an answer any closer. */
            dify_error_set(&err, DIFY_ERR_TIMEOUT, "no event within first_event_timeout");
            err.which = "first_event";
            fail(st, &err);
            return 1;
        }
        if (first_left + 1 < *wait_ms) *wait_ms = first_left + 1;
    }
    long long idle = st->base.t.idle_ms;
    if (idle <= 0 || st->base.t.paused) return 0;
    long long left = idle - (now - st->base.t.last_activity_ms);
    if (left < 0) {
        st->base.t.idle_fired = 1;
        dify_error_set(&err, DIFY_ERR_TIMEOUT, "no data received for %lld ms (idle_timeout)", idle);
        err.which = "idle";
        fail(st, &err);
        return 1;
    }
    if (left < *wait_ms) *wait_ms = left;
    return 0;
}

/* One turn of the driver for the streams in list: read what the sockets
 * hold; when none of the streams became ready, check their idle timers (libcurl
 * only runs its progress check while it has work) and wait for the network. */
static void turn(dify_stream *const *list, size_t n, int (*ready)(const dify_stream *)) {
    dify_driver *drv = list[0]->base.driver;
    dify_error err;
    dify_error_clear(&err);
    if (dify_driver_perform(drv, &err) != 0) {
        for (size_t i = 0; i < n; i++)
            fail(list[i], &err);
        return;
    }
    long long now = dify_now_ms();
    long long wait_ms = 1000;
    for (size_t i = 0; i < n; i++) {
        if (ready(list[i])) return;
        if (check_timers(list[i], now, &wait_ms)) return;
    }
    if (dify_driver_wait(drv, (int)wait_ms, &err) != 0)
        for (size_t i = 0; i < n; i++)
            fail(list[i], &err);
}

static int driven_ready(dify_driven *d) {
    dify_stream *st = stream_of(d);
    return st->opening ? open_finished(st) : has_event_or_end(st);
}

static void driven_timers(dify_driven *d, long long now, long long *wait_ms) {
    check_timers(stream_of(d), now, wait_ms);
}

/* The caller holds none of the popped events' bytes any more. */
static void release_read_events(dify_stream *st) {
    if (!dify_event_queue_empty(&st->queue)) return;
    dify_event_queue_clear(&st->queue);
    if (st->base.t.paused && !st->base.finished) {
        st->base.t.paused = 0;
        st->base.t.last_activity_ms = dify_now_ms();
        /* May hand the held bytes to the parser right here. */
        curl_easy_pause(st->base.t.curl, CURLPAUSE_CONT);
    }
}

dify_stream *dify_stream_start(dify_session *s, dify_driver *drv, const dify_request *req,
                               dify_error *err) {
    dify_error_clear(err);
    dify_stream *st = calloc(1, sizeof *st);
    if (!st) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    driven_transfer_init(&st->base, s, drv);
    dify_sse_init(&st->sse, s->opts.max_event_size);
    dify_event_queue_init(&st->queue);
    st->base.t.sse = &st->sse;
    st->base.t.on_event = dify_event_queue_push;
    st->base.t.event_ctx = &st->queue;
    st->base.t.hold = queue_full;
    st->base.t.idle_ms = s->opts.idle_timeout_ms;
    st->base.driven.on_done = on_done;
    st->base.driven.free = free_stream;
    st->base.driven.ready = driven_ready;
    st->base.driven.check_timers = driven_timers;
    st->opening = 1;
    if (req->first_event_timeout_ms > 0)
        st->first_event_deadline_ms = dify_now_ms() + req->first_event_timeout_ms;

    /* Streams may run for minutes: only silence (idle_timeout) ends them. */
    long timeout_ms = req->timeout_ms >= 0 ? req->timeout_ms : 0;
    if (driven_transfer_start(&st->base, req, timeout_ms) != 0) {
        *err = st->base.err;
        dify_stream_close(st);
        return NULL;
    }
    return st;
}

int dify_stream_opened(const dify_stream *st) {
    return open_finished(st);
}

int dify_stream_finish_open(dify_stream *st, dify_error *err) {
    st->opening = 0;
    /* Once an event stream has begun, a failure is next()'s to report, after the
     * events before it: where it shows must not depend on how packets fell. */
    if (st->base.err.kind != DIFY_OK && !(is_streaming(st) && st->base.t.headers_done)) {
        *err = st->base.err;
        return -1;
    }
    return 0;
}

dify_stream *dify_stream_open(dify_session *s, dify_driver *drv, const dify_request *req,
                              dify_error *err) {
    dify_stream *st = dify_stream_start(s, drv, req, err);
    if (!st) return NULL;
    while (!has_headers_or_end(st))
        turn(&st, 1, has_headers_or_end);
    while (!is_streaming(st) && !st->base.finished)
        turn(&st, 1, has_ended);
    if (dify_stream_finish_open(st, err) != 0) {
        dify_stream_close(st);
        return NULL;
    }
    return st;
}

const dify_response *dify_stream_response(const dify_stream *st) {
    return &st->base.res;
}

int dify_stream_take(dify_stream *st, dify_sse_event *event, dify_error *err) {
    if (dify_event_queue_pop(&st->queue, event)) {
        if (event->has_data) st->saw_data_event = 1;
        return 1;
    }
    if (!st->base.finished) return DIFY_STREAM_PENDING;
    if (st->base.err.kind != DIFY_OK) {
        *err = st->base.err;
        return -1;
    }
    return 0;
}

int dify_stream_next(dify_stream *st, dify_sse_event *event, dify_error *err) {
    release_read_events(st);
    while (!has_event_or_end(st))
        turn(&st, 1, has_event_or_end);
    return dify_stream_take(st, event, err);
}

dify_driven *dify_stream_waitable(dify_stream *st) {
    release_read_events(st);
    return &st->base.driven;
}

dify_driver *dify_stream_driver(const dify_stream *st) {
    return st->base.driver;
}

void dify_stream_close(dify_stream *st) {
    if (st) driven_transfer_close(&st->base);
}
