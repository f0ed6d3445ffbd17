#define _POSIX_C_SOURCE 200809L
#include "transfer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

long long dify_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_success(const transfer *t) {
    return t->res->status >= 200 && t->res->status < 300;
}

static int failed(const transfer *t) {
    return t->err->kind != DIFY_OK;
}

static void record_header(transfer *t, const char *line, size_t n) {
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        n--;
    if (n == 0) {
        if (t->res->status >= 200) t->headers_done = 1;
        return;
    }
    if (n > 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new status line: 100 Continue and redirects come before the final one. */
        const char *space = memchr(line, ' ', n);
        t->res->status = space ? strtol(space + 1, NULL, 10) : 0;
        t->res->headers.len = 0;
        t->res->is_event_stream = 0;
        return;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return;
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_len = (size_t)(line + n - value);
    while (value_len && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    dify_buf *h = &t->res->headers;
    if (dify_buf_reserve(h, name_len + value_len + 3) != 0) {
        dify_error_set(t->err, DIFY_ERR_NOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < name_len; i++)
        h->data[h->len++] = (char)tolower((unsigned char)line[i]);
    memcpy(h->data + h->len, ": ", 2);
    h->len += 2;
    memcpy(h->data + h->len, value, value_len);
    h->len += value_len;
    h->data[h->len++] = '\n';
    if (name_len == 12 && strncasecmp(line, "content-type", 12) == 0) {
        /* Dify names the media type alone, but proxies may add parameters. */
        t->res->is_event_stream =
            value_len >= 17 && strncasecmp(value, "text/event-stream", 17) == 0;
    }
}

static size_t on_header(char *line, size_t size, size_t n, void *arg) {
    transfer *t = arg;
    if (t->idle_ms > 0) t->last_activity_ms = dify_now_ms(); /* only idle timers read it */
    record_header(t, line, size * n);
    return failed(t) ? 0 : size * n;
}

static size_t on_body(char *bytes, size_t size, size_t n, void *arg) {
    transfer *t = arg;
    size_t len = size * n;
    if (t->idle_ms > 0) t->last_activity_ms = dify_now_ms();
    if (failed(t)) return 0;
    if (is_success(t) && t->sse && t->res->is_event_stream) {
        if (t->hold && t->hold(t->event_ctx)) {
            t->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        int rc = dify_sse_feed(t->sse, bytes, len, t->on_event, t->event_ctx);
        if (rc != DIFY_SSE_OK) {
            if (!failed(t))
                dify_error_set(t->err, rc == DIFY_SSE_NOMEM ? DIFY_ERR_NOMEM : DIFY_ERR_PROTOCOL,
                               "event stream: %s (max_event_size %zu bytes)", dify_sse_strerror(rc),
                               t->session->opts.max_event_size);
            return 0;
        }
        return len;
    }
    if (is_success(t) && t->sink) return t->sink(t->ctx, bytes, len, t->err) == 0 ? len : 0;
    if (t->res->body.len + len > t->session->opts.max_body_size) {
        dify_error_set(t->err, DIFY_ERR_PROTOCOL,
                       "response body larger than max_body_size (%zu bytes)",
                       t->session->opts.max_body_size);
        return 0;
    }
    if (dify_buf_append(&t->res->body, bytes, len) != 0) {
        dify_error_set(t->err, DIFY_ERR_NOMEM, "out of memory");
        return 0;
    }
    return len;
}

static int on_progress(void *arg, curl_off_t down_total, curl_off_t down_now, curl_off_t up_total,
                       curl_off_t up_now) {
    transfer *t = arg;
    long long now = dify_now_ms();
    if (down_now != t->seen_down || up_now != t->seen_up) {
        t->seen_down = down_now;
        t->seen_up = up_now;
        t->last_activity_ms = now;
    }
    if (t->idle_ms > 0 && !t->paused && now - t->last_activity_ms > t->idle_ms) {
        t->idle_fired = 1;
        return 1;
    }
    if (t->progress && t->progress(t->ctx, down_now, down_total, up_now, up_total, t->err) != 0)
        return 1;
    return 0;
}

static size_t read_body(char *out, size_t size, size_t n, void *arg) {
    transfer *t = arg;
    size_t left = t->body_len - t->body_pos;
    size_t want = size * n < left ? size * n : left;
    if (want == 0) return 0;
    memcpy(out, t->body + t->body_pos, want);
    t->body_pos += want;
    if (want) t->body_started = 1;
    return want;
}

/* Refusing to rewind a body that has begun to leave stops libcurl from
 * silently sending a POST twice when a reused connection turns out dead. */
static int seek_body(void *arg, curl_off_t offset, int origin) {
    transfer *t = arg;
    if (t->body_started || offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
    t->body_pos = 0;
    return CURL_SEEKFUNC_OK;
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* libcurl silently sends a request again when a reused connection dies before
 * any answer byte; a body that may have reached Dify (a chat bills) must not
 * go twice, so a second attempt of a request with a body is refused. */
static int refuse_resend(void *arg, char *ip, char *local_ip, int port, int local_port) {
    transfer *t = arg;
    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    if (++t->attempts > 1 && t->has_body) {
        t->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

#define SET(opt, val)                                                      \
    do {                                                                   \
        if (curl_easy_setopt(c, opt, val) != CURLE_OK) goto setopt_failed; \
    } while (0)

static int set_method(transfer *t, const dify_request *req) {
    CURL *c = t->curl;
    int is_get = strcmp(req->method, "GET") == 0;
    int is_post = strcmp(req->method, "POST") == 0;
    if (req->n_parts) {
        t->mime = dify_multipart_build(c, req->parts, req->n_parts, t->err);
        if (!t->mime) return -1;
        SET(CURLOPT_MIMEPOST, t->mime);
    } else if (req->body || is_post) {
        t->has_body = 1;
        if (req->body_len) {
            t->body = malloc(req->body_len);
            if (!t->body) {
                dify_error_set(t->err, DIFY_ERR_NOMEM, "out of memory");
                return -1;
            }
            memcpy(t->body, req->body, req->body_len);
            t->body_len = req->body_len;
        }
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
#if LIBCURL_VERSION_NUM >= 0x075000
        /* Head and body leave in one send (a read callback costs a second
         * send and wake-up per call); refuse_resend stops libcurl's retry. */
        SET(CURLOPT_POSTFIELDS, t->body ? t->body : "");
        (void)read_body;
        (void)seek_body;
#else
        SET(CURLOPT_READFUNCTION, read_body);
        SET(CURLOPT_READDATA, t);
        SET(CURLOPT_SEEKFUNCTION, seek_body);
        SET(CURLOPT_SEEKDATA, t);
#endif
    } else {
        /* Also undoes a previous call's POST on a reused handle. */
        SET(CURLOPT_HTTPGET, 1L);
    }
    SET(CURLOPT_CUSTOMREQUEST, is_get || is_post ? NULL : req->method);
    return 0;
setopt_failed:
    dify_error_set(t->err, DIFY_ERR_NETWORK, "libcurl refused the request method");
    return -1;
}

int transfer_set_session_options(CURL *c, const dify_session *s) {
    const dify_session_options *o = &s->opts;
    SET(CURLOPT_SHARE, s->share);
    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->proxy) SET(CURLOPT_PROXY, o->proxy);
    if (o->ca_file) SET(CURLOPT_CAINFO, o->ca_file);
    SET(CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
#if LIBCURL_VERSION_NUM >= 0x075000
    SET(CURLOPT_PREREQFUNCTION, refuse_resend);
#endif
    return 0;
setopt_failed:
    return -1;
}

/* libcurl asks for "100 Continue" (and waits for it) before a multipart body
 * or one over 1 MiB: an empty Expect line stops it. Smaller bodies go without
 * the line, which costs libcurl time on every call. */
static int needs_no_expect(const dify_request *req) {
    return req->n_parts > 0 || req->body_len > 1024 * 1024;
}

static int append_line(struct curl_slist **list, const char *line) {
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (!grown) return -1;
    *list = grown;
    return 0;
}

/* The request's lines, then those every request carries, into *out (NULL
 * when there are none). Returns 0, or -1 when memory ran out. */
static int build_header_list(const dify_request *req, const dify_session *s,
                             struct curl_slist **out) {
    struct curl_slist *list = NULL;
    int has_user_agent = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (append_line(&list, req->headers[i]) != 0) goto nomem;
        if (strncasecmp(req->headers[i], "User-Agent:", 11) == 0) has_user_agent = 1;
    }
    /* A line of the list costs libcurl less than CURLOPT_USERAGENT's own. */
    if (s->user_agent_line && !has_user_agent && append_line(&list, s->user_agent_line) != 0)
        goto nomem;
    if (needs_no_expect(req) && append_line(&list, "Expect:") != 0) goto nomem;
    /* Nothing is asked for (proxies may hold back compressed event streams),
     * yet an answer compressed anyway is still decoded. */
    if (!s->opts.compression && append_line(&list, "Accept-Encoding:") != 0) goto nomem;
    *out = list;
    return 0;
nomem:
    curl_slist_free_all(list);
    return -1;
}

static int header_list_matches(const struct curl_slist *list, size_t n, int no_expect,
                               const dify_request *req) {
    if (n != req->n_headers || no_expect != needs_no_expect(req)) return 0;
    for (size_t i = 0; i < n; i++, list = list->next)
        if (strcmp(list->data, req->headers[i]) != 0) return 0;
    return 1;
}

/* The list for this call, into *lines: a reused handle keeps its previous
 * list while the lines repeat (they rarely change between calls of one
 * client). Returns 0, or -1 when memory ran out. */
static int header_list(transfer *t, const dify_request *req, struct curl_slist **lines) {
    dify_session *s = t->session;
    if (!t->keeps_headers) {
        if (build_header_list(req, s, &t->headers) != 0) return -1;
        *lines = t->headers;
        return 0;
    }
    if (s->easy_headers &&
        header_list_matches(s->easy_headers, s->easy_headers_n, s->easy_headers_no_expect, req)) {
        *lines = s->easy_headers;
        return 0;
    }
    struct curl_slist *fresh = NULL;
    if (build_header_list(req, s, &fresh) != 0) return -1;
    curl_slist_free_all(s->easy_headers);
    s->easy_headers = fresh;
    s->easy_headers_n = req->n_headers;
    s->easy_headers_no_expect = needs_no_expect(req);
    *lines = fresh;
    return 0;
}

int transfer_setup(transfer *t, const dify_request *req, long timeout_ms) {
    CURL *c = t->curl;
    t->curl_message[0] = '\0';
    struct curl_slist *lines = NULL;
    if (header_list(t, req, &lines) != 0) goto nomem;

    t->sink = req->sink;
    t->progress = req->progress;
    t->ctx = req->ctx;
    t->last_activity_ms = dify_now_ms();

    /* Every option that differs between calls is set here, each time: a
     * reused handle keeps the previous call's values otherwise. */
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_ERRORBUFFER, t->curl_message);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_HTTPHEADER, lines);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_XFERINFODATA, t);
    /* Progress calls cost a clock read each: only when someone watches. */
    SET(CURLOPT_NOPROGRESS, t->progress || t->idle_ms > 0 ? 0L : 1L);
#if LIBCURL_VERSION_NUM >= 0x075000
    SET(CURLOPT_PREREQDATA, t);
#endif
    return set_method(t, req);
nomem:
    dify_error_set(t->err, DIFY_ERR_NOMEM, "out of memory");
    return -1;
setopt_failed:
    dify_error_set(t->err, DIFY_ERR_NETWORK, "libcurl refused an option (URL or proxy malformed?)");
    return -1;
}

void transfer_cleanup(transfer *t) {
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    curl_mime_free(t->mime);
    t->mime = NULL;
    free(t->body);
    t->body = NULL;
}

static int is_tls_failure(CURLcode rc) {
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return 1;
    default: return 0;
    }
}

static int never_connected(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
           rc == CURLE_COULDNT_CONNECT;
}

int transfer_finish(transfer *t, CURLcode rc) {
    long request_size = 0;
    curl_easy_getinfo(t->curl, CURLINFO_REQUEST_SIZE, &request_size);
    t->err->request_sent = request_size > 0 && !never_connected(rc);
    if (rc == CURLE_OK) return failed(t) ? -1 : 0;
    if (failed(t)) return -1; /* a callback already said why */

    const char *why = t->curl_message[0] ? t->curl_message : curl_easy_strerror(rc);
    if (t->idle_fired) {
        dify_error_set(t->err, DIFY_ERR_TIMEOUT, "no data received for %ld ms (idle_timeout)",
                       t->idle_ms);
        t->err->which = "idle";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        curl_off_t connected_at = 0;
        curl_easy_getinfo(t->curl, CURLINFO_CONNECT_TIME_T, &connected_at);
        t->err->which = connected_at > 0 ? "total" : "connect";
        dify_error_set(t->err, DIFY_ERR_TIMEOUT, "%s (%s timeout)", why, t->err->which);
    } else if (is_tls_failure(rc)) {
        dify_error_set(t->err, DIFY_ERR_TLS, "%s", why);
    } else if (rc == CURLE_BAD_CONTENT_ENCODING) {
        dify_error_set(t->err, DIFY_ERR_DECODE, "%s", why);
    } else if (rc == CURLE_OUT_OF_MEMORY) {
        dify_error_set(t->err, DIFY_ERR_NOMEM, "out of memory");
    } else if (rc == CURLE_SEND_FAIL_REWIND || t->resend_refused) {
        dify_error_set(t->err, DIFY_ERR_NETWORK,
                       "connection lost after the request was sent; not resent");
    } else {
        dify_error_set(t->err, DIFY_ERR_NETWORK, "%s", why);
    }
    return -1;
}
