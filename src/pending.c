/* A blocking call sent on the Lua state's driver without waiting for it:
 * dify.all starts several, waits for any with dify_driver_wait_any, and each
 * answer is read whole, exactly as dify_session_perform reads it. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>

#include "driver.h"
#include "transfer.h"

struct dify_pending {
    dify_driven driven;
    transfer t;
    dify_driver *driver;
    dify_response res;
    dify_error err;
    int added;
    int finished;
};

static dify_pending *pending_of(dify_driven *d) {
    return (dify_pending *)(void *)((char *)d - offsetof(dify_pending, driven));
}

static void on_done(dify_driven *d, CURLcode rc) {
    dify_pending *p = pending_of(d);
    p->finished = 1;
    transfer_finish(&p->t, rc);
}

static void free_pending(dify_driven *d) {
    dify_pending *p = pending_of(d);
    if (p->t.curl) curl_easy_cleanup(p->t.curl);
    transfer_cleanup(&p->t);
    dify_response_free(&p->res);
    dify_session_release(p->t.session);
    dify_driver_release(p->driver);
    free(p);
}

static int is_ready(dify_driven *d) {
    return pending_of(d)->finished;
}

static void fail(dify_driven *d, const dify_error *err) {
    dify_pending *p = pending_of(d);
    p->finished = 1;
    if (p->err.kind == DIFY_OK) p->err = *err;
}

dify_pending *dify_pending_start(dify_session *s, dify_driver *drv, const dify_request *req,
                                 dify_error *err) {
    dify_error_clear(err);
    dify_pending *p = calloc(1, sizeof *p);
    if (!p) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->refs++;
    dify_driver_retain(drv);
    p->driver = drv;
    p->t.session = s;
    dify_error_clear(&p->err);
    dify_response_init(&p->res);
    p->t.res = &p->res;
    p->t.err = &p->err;
    p->driven.on_done = on_done;
    p->driven.free = free_pending;
    p->driven.ready = is_ready;
    p->driven.fail = fail;
    /* The whole call's timeout is libcurl's own (CURLOPT_TIMEOUT_MS): no timers here. */
    p->driven.check_timers = NULL;
    p->t.curl = p->driven.curl = dify_session_new_handle(s);
    if (!p->t.curl) {
        dify_error_set(&p->err, DIFY_ERR_NOMEM, "out of memory");
        goto failed;
    }
    long timeout_ms = req->timeout_ms >= 0 ? req->timeout_ms : s->opts.timeout_ms;
    if (transfer_setup(&p->t, req, timeout_ms) != 0) goto failed;
    if (dify_driver_add(drv, &p->driven, &p->err) != 0) goto failed;
    p->added = 1;
    return p;
failed:
    *err = p->err;
    dify_pending_close(p);
    return NULL;
}

dify_driven *dify_pending_waitable(dify_pending *p) {
    return &p->driven;
}

dify_driver *dify_pending_driver(const dify_pending *p) {
    return p->driver;
}

int dify_pending_done(const dify_pending *p) {
    return p->finished;
}

int dify_pending_result(dify_pending *p, const dify_response **res, dify_error *err) {
    if (p->err.kind != DIFY_OK) {
        *err = p->err;
        return -1;
    }
    *res = &p->res;
    return 0;
}

void dify_pending_close(dify_pending *p) {
    if (!p) return;
    if (p->added)
        dify_driver_remove(p->driver, &p->driven);
    else
        free_pending(&p->driven);
}
