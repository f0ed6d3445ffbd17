#define _POSIX_C_SOURCE 200809L
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "http.h" /* dify_now_ms */

/* The host never watches libcurl's own descriptor but a duplicate of it:
 * libcurl closes its sockets on paths of its own (some before it says so), and
 * a host loop may fail on a descriptor closed under it (cqueues does) or watch
 * another socket that got its number. A duplicate is closed only once the host
 * has been told to stop watching it and has handled that (dify_watch_release). */
typedef struct watched {
    curl_socket_t fd;
    curl_socket_t host_fd; /* what the host watches; CURL_SOCKET_BAD while it has none */
    int host_owned;        /* host_fd is a duplicate (else fd itself: no descriptor was left) */
    int want;              /* what libcurl waits for on fd now; DIFY_WATCH_STOP once it let go */
    int told;              /* what the host was last told */
    int renew;             /* libcurl let go of fd while the host watched its duplicate */
    int ready;             /* CURL_CSELECT_* bits seen since the last run */
} watched;

struct dify_watch {
    CURLM *multi;
    watched *socks; /* in the order libcurl first named them; never reordered by a callback */
    size_t n, cap;
    int changed; /* a callback ran since the host last took every change */
    struct pollfd *polls;
    size_t polls_cap;
    curl_socket_t *retired; /* duplicates the host is being told to stop watching */
    size_t n_retired, retired_cap;
    long long deadline_ms; /* libcurl's timer; -1: none */
    int timer_fired;
    int timer_moved; /* libcurl set its timer since dify_watch_timer_moved last asked */
    int failed;
};

static watched *find(dify_watch *w, curl_socket_t fd) {
    for (size_t i = 0; i < w->n; i++)
        if (w->socks[i].fd == fd) return &w->socks[i];
    return NULL;
}

static watched *add(dify_watch *w, curl_socket_t fd) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        watched *grown = realloc(w->socks, cap * sizeof *grown);
        if (!grown) return NULL;
        w->socks = grown;
        w->cap = cap;
    }
    watched *s = &w->socks[w->n++];
    s->fd = fd;
    s->host_fd = CURL_SOCKET_BAD;
    s->host_owned = 0;
    s->want = s->told = DIFY_WATCH_STOP;
    s->renew = s->ready = 0;
    return s;
}

/* Runs inside libcurl: records, never calls out. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    (void)socketp;
    dify_watch *w = userp;
    watched *s = find(w, fd);
    if (what == CURL_POLL_REMOVE) {
        if (!s) return 0;
        /* libcurl closes fd next; a socket opened later may get the same number. */
        if (s->told != DIFY_WATCH_STOP) s->renew = 1;
        s->want = DIFY_WATCH_STOP;
        s->ready = 0;
        w->changed = 1;
        return 0;
    }
    if (!s && !(s = add(w, fd))) {
        w->failed = 1;
        return -1; /* libcurl fails the transfers rather than lose a socket */
    }
    s->want = what & CURL_POLL_INOUT;
    w->changed = 1;
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    dify_watch *w = userp;
    w->deadline_ms = timeout_ms < 0 ? -1 : dify_now_ms() + timeout_ms;
    w->timer_moved = 1;
    return 0;
}

dify_watch *dify_watch_new(CURLM *multi) {
    dify_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->multi = multi;
    w->deadline_ms = -1;
    if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, (void *)w) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_TIMERDATA, (void *)w) != CURLM_OK) {
        dify_watch_free(w);
        return NULL;
    }
    return w;
}

/* The host lets go of s's duplicate: it is closed at the next release. */
static void retire(dify_watch *w, watched *s) {
    if (s->host_owned) {
        if (w->n_retired == w->retired_cap) {
            size_t cap = w->retired_cap ? w->retired_cap * 2 : 8;
            curl_socket_t *grown = realloc(w->retired, cap * sizeof *grown);
            if (grown) {
                w->retired = grown;
                w->retired_cap = cap;
            }
        }
        if (w->n_retired < w->retired_cap)
            w->retired[w->n_retired++] = s->host_fd;
        else
            close(s->host_fd); /* out of memory: at once rather than never */
    }
    s->host_fd = CURL_SOCKET_BAD;
    s->host_owned = 0;
}

void dify_watch_release(dify_watch *w) {
    for (size_t i = 0; i < w->n_retired; i++)
        close(w->retired[i]);
    w->n_retired = 0;
}

void dify_watch_free(dify_watch *w) {
    if (!w) return;
    dify_watch_release(w);
    for (size_t i = 0; i < w->n; i++)
        if (w->socks[i].host_owned) close(w->socks[i].host_fd);
    free(w->retired);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, NULL);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, NULL);
    free(w->socks);
    free(w->polls);
    free(w);
}

int dify_watch_take_change(dify_watch *w, curl_socket_t *fd, int *what) {
    if (!w->changed) return 0;
    for (size_t i = 0; i < w->n; i++) {
        watched *s = &w->socks[i];
        if (s->renew || (s->want == DIFY_WATCH_STOP && s->told != DIFY_WATCH_STOP)) {
            *fd = s->host_fd;
            *what = DIFY_WATCH_STOP;
            retire(w, s);
            s->renew = 0;
            s->told = DIFY_WATCH_STOP;
            return 1;
        }
        if (s->want != s->told) {
            if (s->host_fd == CURL_SOCKET_BAD) {
                s->host_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
                s->host_owned = s->host_fd != CURL_SOCKET_BAD;
                if (!s->host_owned) s->host_fd = s->fd; /* out of descriptors: the socket itself */
            }
            s->told = s->want;
            *fd = s->host_fd;
            *what = s->want;
            return 1;
        }
        if (s->want == DIFY_WATCH_STOP) {
            /* Forgotten by libcurl and by the host: its slot goes to the last one. */
            *s = w->socks[--w->n];
            i--;
        }
    }
    w->changed = 0;
    return 0;
}

void dify_watch_ready(dify_watch *w, curl_socket_t fd, int mask) {
    if (fd == CURL_SOCKET_TIMEOUT) {
        w->timer_fired = 1;
        return;
    }
    for (size_t i = 0; i < w->n; i++) {
        watched *s = &w->socks[i];
        if (s->host_fd == fd && s->want != DIFY_WATCH_STOP) s->ready |= mask;
    }
}

CURLMcode dify_watch_run(dify_watch *w) {
    int running = 0;
    CURLMcode mc = CURLM_OK;
    /* Callbacks only append to socks, so an index stays valid across an action. */
    for (size_t i = 0; mc == CURLM_OK && i < w->n; i++) {
        int mask = w->socks[i].ready;
        if (!mask) continue;
        w->socks[i].ready = 0;
        mc = curl_multi_socket_action(w->multi, w->socks[i].fd, mask, &running);
    }
    if (mc == CURLM_OK &&
        (w->timer_fired || (w->deadline_ms >= 0 && dify_now_ms() >= w->deadline_ms))) {
        /* libcurl tells the next timer again from inside this call. */
        w->timer_fired = 0;
        w->deadline_ms = -1;
        mc = curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    return mc;
}

int dify_watch_wait(dify_watch *w, long wait_ms) {
    long timer = dify_watch_timeout(w);
    if (timer >= 0 && timer < wait_ms) wait_ms = timer;
    if (wait_ms > INT_MAX) wait_ms = INT_MAX;
    if (w->n > w->polls_cap) {
        struct pollfd *grown = realloc(w->polls, w->n * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        w->polls = grown;
        w->polls_cap = w->n;
    }
    nfds_t n = 0;
    for (size_t i = 0; i < w->n; i++) {
        int want = w->socks[i].want;
        if (want == DIFY_WATCH_STOP) continue;
        w->polls[n].fd = w->socks[i].fd;
        w->polls[n].events =
            (short)(((want & CURL_POLL_IN) ? POLLIN : 0) | ((want & CURL_POLL_OUT) ? POLLOUT : 0));
        w->polls[n].revents = 0;
        n++;
    }
    if (poll(n ? w->polls : NULL, n, (int)wait_ms) < 0) return errno == EINTR ? 0 : -1;
    for (nfds_t k = 0; k < n; k++) {
        short ev = w->polls[k].revents;
        if (!ev) continue;
        int mask = ((ev & (POLLIN | POLLHUP)) ? CURL_CSELECT_IN : 0) |
                   ((ev & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((ev & (POLLERR | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
        watched *s = find(w, w->polls[k].fd); /* libcurl's own descriptor, not the host's */
        if (s) s->ready |= mask;
    }
    return 0;
}

long dify_watch_timeout(const dify_watch *w) {
    if (w->timer_fired) return 0;
    if (w->deadline_ms < 0) return -1;
    long long left = w->deadline_ms - dify_now_ms();
    if (left <= 0) return 0;
    return left > LONG_MAX ? LONG_MAX : (long)left;
}

int dify_watch_timer_moved(dify_watch *w) {
    int moved = w->timer_moved;
    w->timer_moved = 0;
    return moved;
}

int dify_watch_failed(const dify_watch *w) {
    return w->failed;
}
