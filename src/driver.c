#define _POSIX_C_SOURCE 200809L
#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h" /* dify_now_ms */
#include "watch.h"

struct dify_driver {
    CURLM *multi;
    int refs;
    int performing;
    dify_driven *parked;
    dify_watch *watch; /* socket-action mode: a host loop watches the sockets */
    size_t transfers;  /* in the multi handle */
};

dify_driver *dify_driver_new(dify_error *err) {
    dify_driver *d = calloc(1, sizeof *d);
    if (d) d->multi = curl_multi_init();
    if (!d || !d->multi) {
        free(d);
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    d->refs = 1;
    return d;
}

void dify_driver_retain(dify_driver *d) {
    d->refs++;
}

void dify_driver_release(dify_driver *d) {
    if (d && --d->refs == 0) {
        dify_watch_free(d->watch);
        curl_multi_cleanup(d->multi);
        free(d);
    }
}

int dify_driver_add(dify_driver *drv, dify_driven *d, dify_error *err) {
    if (curl_easy_setopt(d->curl, CURLOPT_PRIVATE, (void *)d) != CURLE_OK ||
        curl_multi_add_handle(drv->multi, d->curl) != CURLM_OK) {
        dify_error_set(err, DIFY_ERR_NETWORK, "libcurl cannot start the transfer");
        return -1;
    }
    drv->transfers++;
    return 0;
}

static void drop(dify_driver *drv, dify_driven *d) {
    curl_multi_remove_handle(drv->multi, d->curl);
    drv->transfers--;
    d->free(d);
}

void dify_driver_remove(dify_driver *drv, dify_driven *d) {
    if (drv->performing) {
        d->next_parked = drv->parked;
        drv->parked = d;
        return;
    }
    drop(drv, d);
}

static int is_parked(const dify_driver *drv, const dify_driven *d) {
    for (const dify_driven *p = drv->parked; p; p = p->next_parked)
        if (p == d) return 1;
    return 0;
}

int dify_driver_perform(dify_driver *drv, dify_error *err) {
    if (drv->performing) {
        /* A Lua callback waited on a stream: libcurl would refuse the recursion. */
        dify_error_set(err, DIFY_ERR_NETWORK, "cannot wait on a stream from inside a callback");
        return -1;
    }
    int running = 0;
    drv->performing = 1;
    CURLMcode mc =
        drv->watch ? dify_watch_run(drv->watch) : curl_multi_perform(drv->multi, &running);
    int pending;
    CURLMsg *msg;
    while (mc == CURLM_OK && (msg = curl_multi_info_read(drv->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        void *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        dify_driven *d = priv;
        if (d && !is_parked(drv, d)) d->on_done(d, msg->data.result);
    }
    drv->performing = 0;
    while (drv->parked) {
        dify_driven *d = drv->parked;
        drv->parked = d->next_parked;
        drop(drv, d);
    }
    if (mc != CURLM_OK) {
        dify_error_set(err, DIFY_ERR_NETWORK, "%s", curl_multi_strerror(mc));
        return -1;
    }
    return 0;
}

int dify_driver_wait(dify_driver *drv, int wait_ms, dify_error *err) {
    if (drv->watch) {
        /* A blocking call in socket-action mode: poll the sockets the host watches. */
        if (dify_watch_wait(drv->watch, wait_ms) != 0) {
            dify_error_set(err, DIFY_ERR_NETWORK, "poll: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    CURLMcode mc = curl_multi_poll(drv->multi, NULL, 0, wait_ms, NULL);
    if (mc != CURLM_OK) {
        dify_error_set(err, DIFY_ERR_NETWORK, "%s", curl_multi_strerror(mc));
        return -1;
    }
    return 0;
}

static size_t first_ready(dify_driven *const *list, size_t n, size_t first) {
    for (size_t k = 0; k < n; k++) {
        size_t i = (first + k) % n;
        if (list[i]->ready(list[i])) return i;
    }
    return n;
}

static void fail_all(dify_driven *const *list, size_t n, const dify_error *err) {
    for (size_t i = 0; i < n; i++)
        list[i]->fail(list[i], err);
}

size_t dify_driver_wait_any(dify_driver *drv, dify_driven *const *list, size_t n, size_t first,
                            long timeout_ms) {
    long long deadline = timeout_ms >= 0 ? dify_now_ms() + timeout_ms : -1;
    for (;;) {
        size_t i = first_ready(list, n, first);
        if (i < n) return i;
        dify_error err;
        dify_error_clear(&err);
        if (dify_driver_perform(drv, &err) != 0) {
            fail_all(list, n, &err);
            continue;
        }
        if ((i = first_ready(list, n, first)) < n) return i;
        long long now = dify_now_ms();
        long long wait_ms = 1000;
        /* libcurl only runs progress checks while it has work: idle timers are ours. */
        for (size_t k = 0; k < n; k++)
            if (list[k]->check_timers) list[k]->check_timers(list[k], now, &wait_ms);
        if ((i = first_ready(list, n, first)) < n) return i;
        if (deadline >= 0) {
            if (now >= deadline) return n;
            if (deadline - now < wait_ms) wait_ms = deadline - now;
        }
        if (dify_driver_wait(drv, (int)wait_ms, &err) != 0) fail_all(list, n, &err);
    }
}

int dify_driver_watch(dify_driver *drv, dify_error *err) {
    if (drv->watch) return 0;
    if (drv->transfers) {
        /* libcurl only tells of sockets that change: those in use would never be named. */
        dify_error_set(err, DIFY_ERR_NETWORK,
                       "%zu transfer(s) already run without it: close them first", drv->transfers);
        return -1;
    }
    drv->watch = dify_watch_new(drv->multi);
    if (!drv->watch) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

void dify_driver_unwatch(dify_driver *drv) {
    dify_watch_free(drv->watch);
    drv->watch = NULL;
}

dify_watch *dify_driver_watching(const dify_driver *drv) {
    return drv->watch;
}

size_t dify_driver_transfers(const dify_driver *drv) {
    return drv->transfers;
}

long dify_driver_timeout_ms(dify_driver *drv) {
    if (drv->watch) return dify_watch_timeout(drv->watch);
    long ms = -1;
    if (curl_multi_timeout(drv->multi, &ms) != CURLM_OK) return -1;
    return ms;
}
