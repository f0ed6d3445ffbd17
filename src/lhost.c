/* core.turn, core.next_timer and the socket-action mode (core.watch...):
 * what lua/dify/host.lua schedules tasks with. No Lua code runs while libcurl
 * does: the sockets and timer libcurl names are recorded (watch.c) and handed
 * to Lua afterwards by core.watch_changes. */
#define _POSIX_C_SOURCE 200809L
#include "lhost.h"

#include <limits.h>

#include "http.h" /* dify_now_ms */
#include "watch.h"

/* The waitables of the list at index t, in a userdata left on the stack. */
static dify_driven **read_list(lua_State *L, int t, size_t *n) {
    luaL_checktype(L, t, LUA_TTABLE);
    *n = lua_rawlen(L, t);
    dify_driven **list = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *list, 0);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i + 1);
        list[i] = dify_lua_waitable(L, -1, (int)i + 1);
        lua_pop(L, 1);
    }
    return list;
}

static void fail_all(dify_driven **list, size_t n, const dify_error *err) {
    for (size_t i = 0; i < n; i++)
        if (list[i]) list[i]->fail(list[i], err);
}

static int is_ready(dify_driven *d, long long now, long long *timers_ms) {
    if (!d || d->ready(d)) return 1;
    /* libcurl only runs progress checks while it has work: idle timers are ours. */
    if (d->check_timers) d->check_timers(d, now, timers_ms);
    return d->ready(d);
}

/* Writes the indices of the ready ones to out[1..]; returns how many. */
static size_t scan(lua_State *L, dify_driven **list, size_t n, int out, long long *timers_ms) {
    long long now = dify_now_ms();
    size_t k = 0;
    *timers_ms = LLONG_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!is_ready(list[i], now, timers_ms)) continue;
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_rawseti(L, out, (int)++k);
    }
    return k;
}

/* Seconds until the sooner of libcurl's timer and timers_ms, or nil. */
static void push_next_timer(lua_State *L, dify_driver *drv, long long timers_ms) {
    long curl_ms = dify_driver_timeout_ms(drv);
    long long ms = timers_ms;
    if (curl_ms >= 0 && curl_ms < ms) ms = curl_ms;
    if (ms == LLONG_MAX)
        lua_pushnil(L);
    else
        lua_pushnumber(L, (lua_Number)(ms > 0 ? ms : 0) / 1000.0);
}

/* core.turn(list, wait_s, out) -> n, next_s
 * One turn of the driver for the core streams and started calls of list:
 * reads and writes what the sockets allow; while none of list is ready and
 * wait_s (default 0) has not passed, waits for the network and reads again.
 * out[1..n] get the indices of the ready ones (an event, an answer, the end,
 * an opened stream, a timer that ran out, or closed). next_s: seconds until
 * the next timer of libcurl or of a stream in list, nil when there is none. */
static int core_turn(lua_State *L) {
    size_t n;
    dify_driven **list = read_list(L, 1, &n);
    lua_Number wait_s = luaL_optnumber(L, 2, 0);
    if (!(wait_s < 1e7)) wait_s = 1e7; /* math.huge (or NaN) must not reach the conversion below */
    luaL_checktype(L, 3, LUA_TTABLE);
    dify_driver *drv = dify_lua_driver(L);
    long long deadline = dify_now_ms() + (wait_s > 0 ? (long long)(wait_s * 1000.0 + 0.5) : 0);
    dify_error err;
    dify_error_clear(&err);
    if (dify_driver_perform(drv, &err) != 0) fail_all(list, n, &err);
    long long timers_ms;
    size_t k = scan(L, list, n, 3, &timers_ms);
    while (k == 0) {
        long long left = deadline - dify_now_ms();
        if (left <= 0) break;
        if (timers_ms < left) left = timers_ms;
        if (left > INT_MAX) left = INT_MAX;
        if (dify_driver_wait(drv, (int)left, &err) != 0 || dify_driver_perform(drv, &err) != 0)
            fail_all(list, n, &err);
        k = scan(L, list, n, 3, &timers_ms);
    }
    lua_pushinteger(L, (lua_Integer)k);
    push_next_timer(L, drv, k ? 0 : timers_ms);
    return 2;
}

/* core.next_timer(list) -> seconds until the driver needs a turn for list (0
 * when one of it is ready), nil when there is no timer. Reads nothing. */
static int core_next_timer(lua_State *L) {
    size_t n;
    dify_driven **list = read_list(L, 1, &n);
    long long now = dify_now_ms(), timers_ms = LLONG_MAX;
    for (size_t i = 0; i < n; i++) {
        if (is_ready(list[i], now, &timers_ms)) {
            timers_ms = 0;
            break;
        }
    }
    push_next_timer(L, dify_lua_driver(L), timers_ms);
    return 1;
}

/* core.watch() -> true | nil, message: the driver goes to socket-action mode. */
static int core_watch(lua_State *L) {
    dify_error err;
    dify_error_clear(&err);
    if (dify_driver_watch(dify_lua_driver(L), &err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.message);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int core_unwatch(lua_State *L) {
    dify_driver_unwatch(dify_lua_driver(L));
    return 0;
}

static dify_watch *check_watching(lua_State *L) {
    dify_watch *w = dify_driver_watching(dify_lua_driver(L));
    if (!w) luaL_error(L, "dify.core: the driver is not in socket-action mode (core.watch)");
    return w;
}

/* core.watch_ready(fd, mask): the host saw socket fd ready (mask: 1 readable,
 * 2 writable, 4 error, as CURL_CSELECT_*); watch_ready() with no fd: the host's
 * timer fired. The next core.turn hands it to libcurl. */
static int core_watch_ready(lua_State *L) {
    dify_watch *w = check_watching(L);
    if (lua_isnoneornil(L, 1)) {
        dify_watch_ready(w, CURL_SOCKET_TIMEOUT, 0);
        return 0;
    }
    curl_socket_t fd = (curl_socket_t)luaL_checkinteger(L, 1);
    int mask = (int)luaL_optinteger(L, 2, CURL_CSELECT_IN);
    dify_watch_ready(w, fd, mask & (CURL_CSELECT_IN | CURL_CSELECT_OUT | CURL_CSELECT_ERR));
    return 0;
}

/* core.watch_changes(out) -> n, timer_moved: what the host has not been told
 * yet, as pairs out[2i-1] = fd, out[2i] = 0 (stop watching), 1 (readable), 2
 * (writable) or 3 (both); n pairs; and whether libcurl set its timer since the
 * last call. The descriptors are the host's own (duplicates of libcurl's),
 * valid until it has been told to stop and core.watch_release ran. */
static int core_watch_changes(lua_State *L) {
    dify_watch *w = check_watching(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    curl_socket_t fd;
    int what, n = 0;
    while (dify_watch_take_change(w, &fd, &what)) {
        /* Taken before it is stored: a memory error here loses one change, never half of one. */
        lua_pushinteger(L, (lua_Integer)fd);
        lua_rawseti(L, 1, 2 * n + 1);
        lua_pushinteger(L, what);
        lua_rawseti(L, 1, 2 * n + 2);
        n++;
    }
    lua_pushinteger(L, n);
    lua_pushboolean(L, dify_watch_timer_moved(w));
    return 2;
}

/* core.watch_release(): the host has handled the changes core.watch_changes
 * gave; the descriptors it was told to stop watching are closed now. */
static int core_watch_release(lua_State *L) {
    dify_watch_release(check_watching(L));
    return 0;
}

void dify_lua_open_host(lua_State *L) {
    static const luaL_Reg functions[] = {{"turn", core_turn},
                                         {"next_timer", core_next_timer},
                                         {"watch", core_watch},
                                         {"unwatch", core_unwatch},
                                         {"watch_ready", core_watch_ready},
                                         {"watch_changes", core_watch_changes},
                                         {"watch_release", core_watch_release},
                                         {NULL, NULL}};
    luaL_setfuncs(L, functions, 0);
}
