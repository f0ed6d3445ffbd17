/* A transfer moved by the Lua state's driver and owned by one handle: a
 * blocking call sent without waiting for it (pending.c) or an event stream
 * (stream.c). Both hold the same references and record their answer and first
 * failure the same way; they differ in what they do with the body. */
#ifndef DIFY_DRIVEN_TRANSFER_H
#define DIFY_DRIVEN_TRANSFER_H

#include "driver.h"
#include "transfer.h"

typedef struct driven_transfer {
    dify_driven driven;
    transfer t;
    dify_driver *driver;
    dify_response res;
    dify_error err;
    int added; /* in the driver: it may be inside perform, so only it may free */
    int finished;
} driven_transfer;

/* Takes a reference on s and drv and points dt's transfer at dt's answer and
 * error; dt must be zeroed. driven.fail is set; the owner sets the other
 * callbacks, and its driven.free calls driven_transfer_cleanup. */
void driven_transfer_init(driven_transfer *dt, dify_session *s, dify_driver *drv);
/* Gives dt an easy handle set up for req and adds it to the driver. Returns 0,
 * or -1 with dt->err set. */
int driven_transfer_start(driven_transfer *dt, const dify_request *req, long timeout_ms);
/* Ends dt with err, unless an earlier failure already did: that one is the cause. */
void driven_transfer_fail(driven_transfer *dt, const dify_error *err);
/* Releases what init and start took, but not dt's own memory. */
void driven_transfer_cleanup(driven_transfer *dt);
/* Frees dt through its driven.free, at once or, when it is in the driver, when
 * the driver lets it go. */
void driven_transfer_close(driven_transfer *dt);

#endif
