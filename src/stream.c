#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "event_queue.h"
#include "transfer.h"

struct dify_stream {
    transfer t;
    CURLM *multi;
    dify_response res;
    dify_error err;
    dify_sse_parser sse;
    dify_event_queue queue;
    long long first_event_deadline_ms; /* 0: none */
    int saw_data_event;
    int finished;
};

static void finish(dify_stream *st, CURLcode rc) {
    st->finished = 1;
    if (transfer_finish(&st->t, rc) == 0 && st->res.is_event_stream) {
        int sse_rc = dify_sse_finish(&st->sse, dify_event_queue_push, &st->queue);
        if (sse_rc != DIFY_SSE_OK)
            dify_error_set(&st->err, DIFY_ERR_PROTOCOL, "event stream: %s",
                           dify_sse_strerror(sse_rc));
    }
}

/* Moves the transfer on: reads what the network has, or waits a little. */
static void pump(dify_stream *st) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(st->multi, &running);
    if (mc != CURLM_OK) {
        st->finished = 1;
        dify_error_set(&st->err, DIFY_ERR_NETWORK, "%s", curl_multi_strerror(mc));
        return;
    }
    int pending;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(st->multi, &pending)) != NULL) {
        if (msg->msg == CURLMSG_DONE) finish(st, msg->data.result);
    }
    if (st->finished || !dify_event_queue_empty(&st->queue)) return;
    long long now = dify_now_ms();
    if (!st->saw_data_event && st->first_event_deadline_ms && now > st->first_event_deadline_ms) {
        /* Pings keep a connection alive without bringing an answer any closer. */
        st->finished = 1;
        dify_error_set(&st->err, DIFY_ERR_TIMEOUT, "no event within first_event_timeout");
        st->err.which = "first_event";
        return;
    }
    long long idle = st->t.idle_ms;
    if (idle > 0 && now - st->t.last_activity_ms > idle) {
        /* libcurl only calls the progress check while it has work; silence is ours to catch. */
        st->finished = 1;
        st->t.idle_fired = 1;
        dify_error_set(&st->err, DIFY_ERR_TIMEOUT, "no data received for %lld ms (idle_timeout)",
                       idle);
        st->err.which = "idle";
        return;
    }
    long long wait_ms = idle > 0 && idle < 1000 ? idle : 1000;
    if (!st->saw_data_event && st->first_event_deadline_ms &&
        st->first_event_deadline_ms - now + 1 < wait_ms)
        wait_ms = st->first_event_deadline_ms - now + 1;
    mc = curl_multi_poll(st->multi, NULL, 0, (int)wait_ms, NULL);
    if (mc != CURLM_OK) {
        st->finished = 1;
        dify_error_set(&st->err, DIFY_ERR_NETWORK, "%s", curl_multi_strerror(mc));
    }
}

static void free_stream(dify_stream *st) {
    if (st->multi) {
        if (st->t.curl) curl_multi_remove_handle(st->multi, st->t.curl);
        curl_multi_cleanup(st->multi);
    }
    if (st->t.curl) curl_easy_cleanup(st->t.curl);
    transfer_cleanup(&st->t);
    dify_sse_free(&st->sse);
    dify_event_queue_free(&st->queue);
    dify_response_free(&st->res);
    dify_session_release(st->t.session);
    free(st);
}

dify_stream *dify_stream_open(dify_session *s, const dify_request *req, dify_error *err) {
    dify_error_clear(err);
    dify_stream *st = calloc(1, sizeof *st);
    if (!st) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->refs++;
    st->t.session = s;
    dify_error_clear(&st->err);
    dify_response_init(&st->res);
    dify_sse_init(&st->sse, s->opts.max_event_size);
    dify_event_queue_init(&st->queue);
    st->t.res = &st->res;
    st->t.err = &st->err;
    st->t.sse = &st->sse;
    st->t.on_event = dify_event_queue_push;
    st->t.event_ctx = &st->queue;
    st->t.idle_ms = s->opts.idle_timeout_ms;
    if (req->first_event_timeout_ms > 0)
        st->first_event_deadline_ms = dify_now_ms() + req->first_event_timeout_ms;

    st->t.curl = curl_easy_init();
    st->multi = curl_multi_init();
    if (!st->t.curl || !st->multi) {
        dify_error_set(&st->err, DIFY_ERR_NOMEM, "out of memory");
        goto failed;
    }
    /* Streams may run for minutes: only silence (idle_timeout) ends them. */
    long timeout_ms = req->timeout_ms >= 0 ? req->timeout_ms : 0;
    if (transfer_setup(&st->t, req, timeout_ms) != 0) goto failed;
    if (curl_multi_add_handle(st->multi, st->t.curl) != CURLM_OK) {
        dify_error_set(&st->err, DIFY_ERR_NOMEM, "out of memory");
        goto failed;
    }
    while (!st->finished && !st->t.headers_done)
        pump(st);
    int streaming = st->res.status >= 200 && st->res.status < 300 && st->res.is_event_stream;
    while (!streaming && !st->finished)
        pump(st);
    /* Once an event stream has begun, a failure is next()'s to report, after the
     * events before it: where it shows must not depend on how packets fell. */
    if (st->err.kind != DIFY_OK && !(streaming && st->t.headers_done)) goto failed;
    return st;
failed:
    *err = st->err;
    free_stream(st);
    return NULL;
}

const dify_response *dify_stream_response(const dify_stream *st) {
    return &st->res;
}

int dify_stream_next(dify_stream *st, dify_sse_event *event, dify_error *err) {
    if (dify_event_queue_empty(&st->queue)) {
        /* The caller is done with the previous event's bytes. */
        dify_event_queue_clear(&st->queue);
        while (dify_event_queue_empty(&st->queue) && !st->finished)
            pump(st);
    }
    if (dify_event_queue_pop(&st->queue, event)) {
        if (event->has_data) st->saw_data_event = 1;
        return 1;
    }
    if (st->err.kind != DIFY_OK) {
        *err = st->err;
        return -1;
    }
    return 0;
}

void dify_stream_close(dify_stream *st) {
    if (st) free_stream(st);
}
