/* HTTP for the Dify client: sessions, blocking requests and event streams.
 *
 * A session holds the settings and the connection cache that every request
 * made through it shares, so sequential calls reuse one keep-alive connection.
 */
#ifndef DIFY_HTTP_H
#define DIFY_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#include "buffer.h"
#include "error.h"
#include "multipart.h"
#include "sse.h"

typedef struct dify_session_options {
    long connect_timeout_ms;
    long timeout_ms;      /* a whole blocking call; 0: no limit */
    long idle_timeout_ms; /* silence allowed on a stream; any byte resets it; 0: none */
    const char *proxy;
    const char *ca_file;
    int verify_tls;
    const char *user_agent;
    int compression;       /* ask for compressed answers (Accept-Encoding) */
    size_t max_body_size;  /* a collected (not sunk) response body */
    size_t max_event_size; /* one server-sent event */
} dify_session_options;

typedef struct dify_session dify_session;

/* Receives a successful body piece by piece; returns 0, or -1 with err set. */
typedef int (*dify_sink_fn)(void *ctx, const char *bytes, size_t n, dify_error *err);
/* Sees transfer progress; returns 0, or -1 with err set to abort. */
typedef int (*dify_progress_fn)(void *ctx, curl_off_t down_now, curl_off_t down_total,
                                curl_off_t up_now, curl_off_t up_total, dify_error *err);

typedef struct dify_request {
    const char *method;
    const char *url;
    const char *const *headers; /* "Name: value" lines, already checked for CR/LF */
    size_t n_headers;
    const char *body; /* copied: need not outlive the call */
    size_t body_len;
    const dify_part *parts; /* multipart; must outlive a blocking call */
    size_t n_parts;
    long timeout_ms; /* < 0: the session's */
    long
        first_event_timeout_ms; /* streams: time allowed until the first event with data; 0: none */
    dify_sink_fn sink;
    dify_progress_fn progress;
    void *ctx;
} dify_request;

typedef struct dify_response {
    long status;
    dify_buf headers; /* the final response's headers as "name: value\n", names lower case */
    dify_buf body;    /* what was not given to a sink */
    int is_event_stream;
} dify_response;

/* Milliseconds on a monotonic clock: for timeouts, never for dates. */
long long dify_now_ms(void);

void dify_response_init(dify_response *res);
void dify_response_free(dify_response *res);

dify_session *dify_session_new(const dify_session_options *opts, dify_error *err);
/* Sessions are shared with the streams they open; the last release frees. */
void dify_session_release(dify_session *s);

/* Returns 0 when an HTTP response arrived (any status), -1 with err set otherwise. */
int dify_session_perform(dify_session *s, const dify_request *req, dify_response *res,
                         dify_error *err);

typedef struct dify_stream dify_stream;
struct dify_driver; /* driver.h */

/* Sends the request on drv (which every stream it drives shares) and waits
 * for the response headers. Returns NULL with err set on a transport failure.
 * When the answer is not a 2xx event stream, its whole body has been read
 * into the response and next() reports the end. */
dify_stream *dify_stream_open(dify_session *s, struct dify_driver *drv, const dify_request *req,
                              dify_error *err);
/* The same without waiting (a stream inside a task): it is ready for
 * dify_driver_wait_any once dify_stream_opened, and dify_stream_finish_open
 * then says what dify_stream_open would have (-1 with err set: close it). */
dify_stream *dify_stream_start(dify_session *s, struct dify_driver *drv, const dify_request *req,
                               dify_error *err);
int dify_stream_opened(const dify_stream *st);
int dify_stream_finish_open(dify_stream *st, dify_error *err);
const dify_response *dify_stream_response(const dify_stream *st);
struct dify_driver *dify_stream_driver(const dify_stream *st);

#define DIFY_STREAM_PENDING 2
/* 1: an event, 0: the stream ended, -1: err set. The event stays valid until
 * the next call on any stream of the same driver. next() waits; take() answers
 * DIFY_STREAM_PENDING at once when nothing has arrived yet. */
int dify_stream_next(dify_stream *st, dify_sse_event *event, dify_error *err);
int dify_stream_take(dify_stream *st, dify_sse_event *event, dify_error *err);
/* st as something dify_driver_wait_any can wait on (ready: an event or the
 * end); the events read so far are released. */
struct dify_driven *dify_stream_waitable(dify_stream *st);
void dify_stream_close(dify_stream *st);

/* A blocking request sent on a driver without waiting for it, so that several
 * progress together (dify.all). Its body and parts are copied or must outlive it. */
typedef struct dify_pending dify_pending;
dify_pending *dify_pending_start(dify_session *s, struct dify_driver *drv, const dify_request *req,
                                 dify_error *err);
struct dify_driven *dify_pending_waitable(dify_pending *p);
struct dify_driver *dify_pending_driver(const dify_pending *p);
int dify_pending_done(const dify_pending *p);
/* Once done: 0 with *res set when an HTTP answer arrived (any status), -1 with err set. */
int dify_pending_result(dify_pending *p, const dify_response **res, dify_error *err);
/* Stops the request if it still runs and frees it. */
void dify_pending_close(dify_pending *p);

#endif
