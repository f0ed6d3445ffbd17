/* The driver's socket-action mode, for hosts that run an event loop of their
 * own (dify.watch): libcurl says which sockets it waits on
 * (CURLMOPT_SOCKETFUNCTION) and when it next wants to run
 * (CURLMOPT_TIMERFUNCTION); the callbacks only record that, and the host
 * learns it afterwards, one change at a time, outside libcurl. The host (or
 * dify_watch_wait, standing in for it while a blocking call waits) says which
 * sockets are ready; dify_watch_run hands them to curl_multi_socket_action.
 *
 * Nothing here knows Lua. */
#ifndef DIFY_WATCH_H
#define DIFY_WATCH_H

#include <curl/curl.h>

typedef struct dify_watch dify_watch;

/* A change's `what`: stop watching the socket, or watch it for CURL_POLL_IN,
 * CURL_POLL_OUT or CURL_POLL_INOUT. */
#define DIFY_WATCH_STOP 0

/* Sets multi's socket and timer callbacks. NULL: out of memory, or libcurl
 * refused them. */
dify_watch *dify_watch_new(CURLM *multi);
/* Unsets the callbacks and frees w (NULL is fine). */
void dify_watch_free(dify_watch *w);

/* Takes the oldest change the host has not been told of: 1 with *fd and *what
 * set, 0 when there is none. The descriptors the host is given are duplicates
 * of libcurl's (watch.c says why), each named until it is told to stop. */
int dify_watch_take_change(dify_watch *w, curl_socket_t *fd, int *what);
/* Closes the duplicates the host was told to stop watching: call it once the
 * host has handled the changes taken. */
void dify_watch_release(dify_watch *w);

/* The host saw fd (a descriptor it was given) ready for mask
 * (CURL_CSELECT_IN, _OUT, _ERR); with fd == CURL_SOCKET_TIMEOUT, its timer
 * fired. Unknown descriptors are ignored. */
void dify_watch_ready(dify_watch *w, curl_socket_t fd, int mask);
/* Runs libcurl for the ready sockets, then for its timer if that is due or
 * the host said it fired. */
CURLMcode dify_watch_run(dify_watch *w);
/* Waits up to wait_ms (less when libcurl's timer falls earlier) until a
 * watched socket is ready, and notes which. Returns 0, or -1 with errno set. */
int dify_watch_wait(dify_watch *w, long wait_ms);
/* Milliseconds until libcurl's timer (0 when due), or -1 when it has none. */
long dify_watch_timeout(const dify_watch *w);
/* Whether libcurl set its timer since the last time this was asked. */
int dify_watch_timer_moved(dify_watch *w);
/* Whether a callback ran out of memory (libcurl then failed the transfers). */
int dify_watch_failed(const dify_watch *w);

#endif
