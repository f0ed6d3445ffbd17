#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transfer.h"

void dify_response_init(dify_response *res) {
    res->status = 0;
    res->is_event_stream = 0;
    dify_buf_init(&res->headers);
    dify_buf_init(&res->body);
}

void dify_response_free(dify_response *res) {
    dify_buf_free(&res->headers);
    dify_buf_free(&res->body);
}

static int copy_string(const char *src, const char **dst) {
    *dst = NULL;
    if (!src) return 0;
    char *copy = strdup(src);
    if (!copy) return -1;
    *dst = copy;
    return 0;
}

static void free_session(dify_session *s) {
    if (s->easy) curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->easy_headers);
    if (s->share) curl_share_cleanup(s->share);
    free((char *)s->opts.proxy);
    free((char *)s->opts.ca_file);
    free(s->user_agent_line);
    free(s);
}

dify_session *dify_session_new(const dify_session_options *opts, dify_error *err) {
    dify_session *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->refs = 1;
    s->opts = *opts;
    s->opts.user_agent = NULL; /* kept as user_agent_line */
    /* The caller's strings are not ours to free, should a copy fail half way. */
    s->opts.proxy = s->opts.ca_file = NULL;
    if (copy_string(opts->proxy, &s->opts.proxy) || copy_string(opts->ca_file, &s->opts.ca_file))
        goto nomem;
    if (opts->user_agent) {
        size_t len = strlen("User-Agent: ") + strlen(opts->user_agent) + 1;
        s->user_agent_line = malloc(len);
        if (!s->user_agent_line) goto nomem;
        snprintf(s->user_agent_line, len, "User-Agent: %s", opts->user_agent);
    }
    s->share = curl_share_init();
    if (!s->share) goto nomem;
    /* One connection cache for the blocking handle and every stream's handle. */
    if (curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        dify_error_set(err, DIFY_ERR_NETWORK, "libcurl cannot share connections");
        free_session(s);
        return NULL;
    }
    s->easy = dify_session_new_handle(s);
    if (!s->easy) goto nomem;
    return s;
nomem:
    if (s) free_session(s);
    dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
    return NULL;
}

CURL *dify_session_new_handle(const dify_session *s) {
    CURL *c = curl_easy_init();
    if (c && transfer_set_session_options(c, s) != 0) {
        curl_easy_cleanup(c);
        c = NULL;
    }
    return c;
}

void dify_session_release(dify_session *s) {
    if (s && --s->refs == 0) free_session(s);
}

int dify_session_perform(dify_session *s, const dify_request *req, dify_response *res,
                         dify_error *err) {
    transfer t;
    memset(&t, 0, sizeof t);
    t.session = s;
    t.res = res;
    t.err = err;
    dify_error_clear(err);

    /* A callback may call back into the same session: give it its own handle. */
    int own_handle = s->easy_busy;
    /* The session's handle keeps the session's options and its buffers from
     * call to call (no curl_easy_reset): transfer_setup sets every option
     * that differs between calls. */
    t.curl = own_handle ? dify_session_new_handle(s) : s->easy;
    if (!t.curl) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (!own_handle) {
        s->easy_busy = 1;
        t.keeps_headers = 1;
    }
    long timeout_ms = req->timeout_ms >= 0 ? req->timeout_ms : s->opts.timeout_ms;
    int rc = -1;
    if (transfer_setup(&t, req, timeout_ms) == 0)
        rc = transfer_finish(&t, curl_easy_perform(t.curl));
    /* Options point into t; none may dangle into the next call on this handle. */
    curl_easy_setopt(t.curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(t.curl, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(t.curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(t.curl, CURLOPT_ERRORBUFFER, NULL);
    transfer_cleanup(&t);
    if (own_handle)
        curl_easy_cleanup(t.curl);
    else
        s->easy_busy = 0;
    return rc;
}
