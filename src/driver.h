/* The one libcurl multi handle that moves every stream and concurrent call of
 * a Lua state, so that any number of them progress together in one thread.
 *
 * Transfers register a dify_driven with CURLINFO_PRIVATE; when libcurl says
 * one is done, its on_done runs. A transfer closed while the driver is inside
 * curl_multi_perform (from a Lua callback of another transfer) cannot leave
 * the multi handle then: it is parked and freed when perform returns. */
#ifndef DIFY_DRIVER_H
#define DIFY_DRIVER_H

#include <curl/curl.h>

#include "error.h"

typedef struct dify_driven dify_driven;
struct dify_driven {
    CURL *curl;
    void (*on_done)(dify_driven *d, CURLcode rc);
    void (*free)(dify_driven *d); /* removes nothing: the driver has done that */
    /* For dify_driver_wait_any: whether d has something for its owner (an
     * event, an answer, an end); failing d on a timer that ran out, or else
     * lowering *wait_ms to that timer (may be NULL: libcurl keeps d's timers);
     * ending d with err. */
    int (*ready)(dify_driven *d);
    void (*check_timers)(dify_driven *d, long long now_ms, long long *wait_ms);
    void (*fail)(dify_driven *d, const dify_error *err);
    dify_driven *next_parked;
};

typedef struct dify_driver dify_driver;

dify_driver *dify_driver_new(dify_error *err);
void dify_driver_retain(dify_driver *d);
void dify_driver_release(dify_driver *d);

/* Adds d->curl to the multi handle. Returns 0, or -1 with err set. */
int dify_driver_add(dify_driver *drv, dify_driven *d, dify_error *err);
/* Takes d->curl out of the multi handle and frees d, now or after perform. */
void dify_driver_remove(dify_driver *drv, dify_driven *d);

/* Reads and writes what the sockets allow and reports finished transfers.
 * Returns 0, or -1 with err set when libcurl itself fails. */
int dify_driver_perform(dify_driver *drv, dify_error *err);
/* Waits up to wait_ms for socket activity. Returns 0, or -1 with err set. */
int dify_driver_wait(dify_driver *drv, int wait_ms, dify_error *err);

/* Socket-action mode (watch.h), for a host loop that watches libcurl's
 * sockets and timer: perform and wait then go through curl_multi_socket_action.
 * Only while no transfer runs (their sockets would never be named). Returns 0,
 * or -1 with err set. Unwatching goes back to curl_multi_perform at any time. */
struct dify_watch;
int dify_driver_watch(dify_driver *drv, dify_error *err);
void dify_driver_unwatch(dify_driver *drv);
struct dify_watch *dify_driver_watching(const dify_driver *drv); /* NULL: not watched */
size_t dify_driver_transfers(const dify_driver *drv);
/* Milliseconds until libcurl wants to run again (0: now), -1 when it has no timer. */
long dify_driver_timeout_ms(dify_driver *drv);

/* Drives drv until one of list (all on drv) is ready; returns its index,
 * looking from `first` on for fairness, or n when timeout_ms (>= 0) passed first. */
size_t dify_driver_wait_any(dify_driver *drv, dify_driven *const *list, size_t n, size_t first,
                            long timeout_ms);

#endif
