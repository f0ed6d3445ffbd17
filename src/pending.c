/* A blocking call sent on the Lua state's driver without waiting for it:
 * dify.all starts several, waits for any with dify_driver_wait_any, and each
 * answer is read whole, exactly as dify_session_perform reads it. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdlib.h>

#include "driven_transfer.h"

struct dify_pending {
    driven_transfer base;
};

static dify_pending *pending_of(dify_driven *d) {
    return (dify_pending *)(void *)((char *)d - offsetof(dify_pending, base.driven));
}

static void on_done(dify_driven *d, CURLcode rc) {
    dify_pending *p = pending_of(d);
    p->base.finished = 1;
    transfer_finish(&p->base.t, rc);
}

static void free_pending(dify_driven *d) {
    dify_pending *p = pending_of(d);
    driven_transfer_cleanup(&p->base);
    free(p);
}

static int is_ready(dify_driven *d) {
    return pending_of(d)->base.finished;
}

dify_pending *dify_pending_start(dify_session *s, dify_driver *drv, const dify_request *req,
                                 dify_error *err) {
    dify_error_clear(err);
    dify_pending *p = calloc(1, sizeof *p);
    if (!p) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    driven_transfer_init(&p->base, s, drv);
    p->base.driven.on_done = on_done;
    p->base.driven.free = free_pending;
    p->base.driven.ready = is_ready;
    /* The whole call's timeout is libcurl's own (CURLOPT_TIMEOUT_MS): no timers here. */
    p->base.driven.check_timers = NULL;
    long timeout_ms = req->timeout_ms >= 0 ? req->timeout_ms : s->opts.timeout_ms;
    if (driven_transfer_start(&p->base, req, timeout_ms) != 0) {
        *err = p->base.err;
        dify_pending_close(p);
        return NULL;
    }
    return p;
}

dify_driven *dify_pending_waitable(dify_pending *p) {
    return &p->base.driven;
}

dify_driver *dify_pending_driver(const dify_pending *p) {
    return p->base.driver;
}

int dify_pending_done(const dify_pending *p) {
    return p->base.finished;
}

int dify_pending_result(dify_pending *p, const dify_response **res, dify_error *err) {
    if (p->base.err.kind != DIFY_OK) {
        *err = p->base.err;
        return -1;
    }
    *res = &p->base.res;
    return 0;
}

void dify_pending_close(dify_pending *p) {
    if (p) driven_transfer_close(&p->base);
}
