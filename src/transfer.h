/* One HTTP exchange on a libcurl easy handle: option setup, the callbacks
 * that record rather than raise, and the mapping of failures to error kinds.
 * Shared by blocking calls (session.c) and event streams (stream.c). */
#ifndef DIFY_TRANSFER_H
#define DIFY_TRANSFER_H

#include "http.h"

struct dify_session {
    CURLSH *share;
    CURL *easy; /* reused by blocking calls for keep-alive; has the session's options */
    int easy_busy;
    struct curl_slist *easy_headers; /* the easy handle's header list, kept while it repeats */
    size_t easy_headers_n;           /* how many of its lines came from the request */
    int easy_headers_no_expect;      /* whether it has the empty Expect line */
    char *user_agent_line;           /* "User-Agent: ..." */
    int refs;
    dify_session_options opts; /* strings owned */
};

typedef struct transfer {
    dify_session *session;
    CURL *curl;
    struct curl_slist *headers; /* owned by this transfer, unless keeps_headers */
    int keeps_headers;          /* on the session's handle: its list is kept from call to call */
    curl_mime *mime;
    char *body;
    size_t body_len;
    size_t body_pos;
    int body_started;
    dify_response *res;
    dify_error *err; /* set by callbacks; CURLE_OK does not clear it */
    dify_sink_fn sink;
    dify_progress_fn progress;
    void *ctx;
    dify_sse_parser *sse; /* set for streams: a 2xx event-stream body goes here */
    dify_sse_handler on_event;
    void *event_ctx;
    /* Nonzero when event_ctx holds enough unread events: the body is paused
     * (CURL_WRITEFUNC_PAUSE) until its owner resumes it, and idle time stops counting. */
    int (*hold)(void *event_ctx);
    int paused;
    long idle_ms;
    long long last_activity_ms;
    curl_off_t seen_down, seen_up;
    int headers_done;
    int idle_fired;
    int has_body;
    int attempts;       /* requests libcurl began for this transfer (a retry makes two) */
    int resend_refused; /* a second attempt was stopped: the body may have reached Dify */
    char curl_message[CURL_ERROR_SIZE];
} transfer;

/* Sets the options that are the same for every call of session s: once per
 * handle (a reused handle keeps them). Returns 0, or -1 when libcurl refuses one. */
int transfer_set_session_options(CURL *c, const dify_session *s);
/* A fresh easy handle with the session's options, or NULL (out of memory). */
CURL *dify_session_new_handle(const dify_session *s);
/* Configures t->curl, which has the session's options, for req. Returns 0, or
 * -1 with *t->err set. */
int transfer_setup(transfer *t, const dify_request *req, long timeout_ms);
void transfer_cleanup(transfer *t);
/* Turns a finished transfer's result into *t->err; returns 0 when it succeeded. */
int transfer_finish(transfer *t, CURLcode rc);

#endif
