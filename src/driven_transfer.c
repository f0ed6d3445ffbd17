#define _POSIX_C_SOURCE 200809L
#include "driven_transfer.h"

#include <stddef.h>

static driven_transfer *driven_transfer_of(dify_driven *d) {
    return (driven_transfer *)(void *)((char *)d - offsetof(driven_transfer, driven));
}

static void fail_driven(dify_driven *d, const dify_error *err) {
    driven_transfer_fail(driven_transfer_of(d), err);
}

void driven_transfer_init(driven_transfer *dt, dify_session *s, dify_driver *drv) {
    s->refs++;
    dify_driver_retain(drv);
    dt->driver = drv;
    dt->t.session = s;
    dify_error_clear(&dt->err);
    dify_response_init(&dt->res);
    dt->t.res = &dt->res;
    dt->t.err = &dt->err;
    dt->driven.fail = fail_driven;
}

int driven_transfer_start(driven_transfer *dt, const dify_request *req, long timeout_ms) {
    dt->t.curl = dt->driven.curl = dify_session_new_handle(dt->t.session);
    if (!dt->t.curl) {
        dify_error_set(&dt->err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (transfer_setup(&dt->t, req, timeout_ms) != 0) return -1;
    if (dify_driver_add(dt->driver, &dt->driven, &dt->err) != 0) return -1;
    dt->added = 1;
    return 0;
}

void driven_transfer_fail(driven_transfer *dt, const dify_error *err) {
    dt->finished = 1;
    if (dt->err.kind == DIFY_OK) dt->err = *err;
}

void driven_transfer_cleanup(driven_transfer *dt) {
    if (dt->t.curl) curl_easy_cleanup(dt->t.curl);
    transfer_cleanup(&dt->t);
    dify_response_free(&dt->res);
    dify_session_release(dt->t.session);
    dify_driver_release(dt->driver);
}

void driven_transfer_close(driven_transfer *dt) {
    if (dt->added)
        dify_driver_remove(dt->driver, &dt->driven);
    else
        dt->driven.free(&dt->driven);
}
