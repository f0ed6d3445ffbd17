/* dify.core: the Lua face of the C core. It turns request tables into C
 * structs and C results into Lua values; policy lives in lua/dify*.lua.
 *
 * Every C resource is owned by a userdata before anything that can raise
 * runs, so a Lua error (including out of memory) never leaks it, and no Lua
 * error ever unwinds through libcurl: callbacks run Lua code protected and
 * keep its error until the transfer has returned. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "driver.h"
#include "event_queue.h"
#include "http.h"
#include "lhost.h"

#define SESSION_MT "dify.core.session"
#define STREAM_MT "dify.core.stream"
#define CALL_MT "dify.core.call"
#define PENDING_MT "dify.core.pending"
#define HEADERS_MT "dify.core.headers"
#define PARSER_MT "dify.core.sse_parser"
#define DRIVER_MT "dify.core.driver"
#define DRIVER_KEY "dify.core.the_driver" /* registry slot of the instance */

#define DEFAULT_MAX_BODY (64u * 1024u * 1024u)
#define DEFAULT_MAX_EVENT (16u * 1024u * 1024u)

typedef struct session_box {
    dify_session *session;
    int call_ref; /* the call box kept for its blocking calls */
} session_box;

typedef struct stream_box {
    dify_stream *stream;
} stream_box;

/* A started call (session:start): the request table stays referenced, since
 * parts read their bytes from its strings while the call runs. */
typedef struct pending_box {
    dify_pending *pending;
    FILE *out;
    int has_sink;
    int request_ref;
} pending_box;

/* The Lua state's one driver (in the registry): every stream, from any
 * client, runs on it, so that any of them can be waited on together. */
typedef struct driver_box {
    dify_driver *driver;
} driver_box;

typedef struct parser_box {
    dify_sse_parser parser;
    dify_event_queue queue;
} parser_box;

/* One blocking call's resources, and what its callbacks need. */
typedef struct call_box {
    int busy;
    lua_State *L;
    dify_response res;
    FILE *out;
    int sink_ref;
    int progress_ref;
    int error_slot; /* stack index keeping a callback's error until it is raised */
    int callback_failed;
    const char *chunk;
    size_t chunk_len;
    lua_Number progress[4];
} call_box;

/* ---- helpers ---- */

static int push_failure(lua_State *L, const dify_error *err) {
    lua_pushnil(L);
    lua_pushstring(L, dify_error_kind_name(err->kind));
    lua_pushstring(L, err->message);
    if (err->which)
        lua_pushstring(L, err->which);
    else
        lua_pushnil(L);
    lua_pushboolean(L, err->request_sent);
    return 5;
}

static long field_ms(lua_State *L, int t, const char *key, long fallback) {
    lua_getfield(L, t, key);
    long ms = fallback;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
            luaL_error(L, "%s must be a number of seconds >= 0", key);
        ms = (long)(lua_tonumber(L, -1) * 1000.0 + 0.5);
    }
    lua_pop(L, 1);
    return ms;
}

static size_t field_size(lua_State *L, int t, const char *key, size_t fallback) {
    lua_getfield(L, t, key);
    size_t n = fallback;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 1)
            luaL_error(L, "%s must be a positive number of bytes", key);
        n = (size_t)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return n;
}

/* The string stays alive because the table holding it is on the stack. */
static const char *field_string(lua_State *L, int t, const char *key, size_t *len) {
    lua_getfield(L, t, key);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s must be a string", key);
        s = lua_tolstring(L, -1, len);
    }
    lua_pop(L, 1);
    return s;
}

static int field_ref(lua_State *L, int t, const char *key, int type) {
    lua_getfield(L, t, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    if (lua_type(L, -1) != type) luaL_error(L, "%s has the wrong type", key);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Set-Cookie is the one header whose lines cannot be joined by ", ": a
 * cookie's Expires date holds a comma. Its lines become a list, in order. */
static int is_set_cookie(const char *name, size_t n) {
    return n == 10 && memcmp(name, "set-cookie", 10) == 0; /* names are lower case */
}

static void append_set_cookie(lua_State *L, int t, const char *value, size_t value_len) {
    lua_pushliteral(L, "set-cookie");
    lua_rawget(L, t);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushliteral(L, "set-cookie");
        lua_pushvalue(L, -2);
        lua_rawset(L, t);
    }
    lua_pushlstring(L, value, value_len);
    lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

/* Parses "name: value\n" lines into the table at t (repeated names joined by
 * ", ", except set-cookie: a list of its lines). */
static void parse_headers(lua_State *L, int t, const char *data, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        const char *line = data + pos;
        const char *end = memchr(line, '\n', len - pos);
        size_t n = end ? (size_t)(end - line) : len - pos;
        pos += n + 1;
        const char *sep = memchr(line, ':', n);
        if (!sep) continue;
        size_t name_len = (size_t)(sep - line);
        size_t value_at = name_len + 2;
        const char *value = line + (value_at <= n ? value_at : n);
        size_t value_len = n - (size_t)(value - line);
        if (is_set_cookie(line, name_len)) {
            append_set_cookie(L, t, value, value_len);
            continue;
        }
        lua_pushlstring(L, line, name_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, t);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, value, value_len);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, value, value_len);
            lua_concat(L, 3);
        }
        lua_rawset(L, t);
    }
}

/* The key under which a headers table keeps its unparsed lines. */
static const char raw_headers_key = 'h';

/* headers[name] of a table not parsed yet: most answers are read without
 * looking at a header, so the table is filled on the first lookup only. */
static int headers_index(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&raw_headers_key);
    lua_rawget(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) return 0;
    size_t len;
    const char *raw = lua_tolstring(L, -1, &len);
    parse_headers(L, 1, raw, len); /* the raw string stays on the stack meanwhile */
    lua_pushlightuserdata(L, (void *)&raw_headers_key);
    lua_pushnil(L);
    lua_rawset(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/* A table of the response headers, names lower case. */
static void push_headers(lua_State *L, const dify_buf *h) {
    lua_createtable(L, 0, 1);
    if (h->len == 0) return;
    lua_pushlightuserdata(L, (void *)&raw_headers_key);
    lua_pushlstring(L, h->data, h->len);
    lua_rawset(L, -3);
    luaL_getmetatable(L, HEADERS_MT);
    lua_setmetatable(L, -2);
}

/* status, headers, and the body (true when a sink took a 2xx body). */
static void push_answer(lua_State *L, const dify_response *res, int has_sink) {
    lua_pushinteger(L, (lua_Integer)res->status);
    push_headers(L, &res->headers);
    if (has_sink && res->status >= 200 && res->status < 300)
        lua_pushboolean(L, 1);
    else
        lua_pushlstring(L, res->body.len ? res->body.data : "", res->body.len);
}

/* ---- request tables ---- */

#define FEW_HEADERS 16

typedef struct request_args {
    dify_request req;
    const char *output_path;
    int has_output_function;
    const char *few_headers[FEW_HEADERS]; /* spares most calls an array on the Lua heap */
} request_args;

static void read_headers(lua_State *L, int t, request_args *a) {
    dify_request *req = &a->req;
    lua_getfield(L, t, "headers");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    int headers_at = lua_gettop(L);
    size_t n = lua_rawlen(L, headers_at);
    const char **lines = a->few_headers;
    if (n > FEW_HEADERS) lines = lua_newuserdatauv(L, n * sizeof *lines, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, headers_at, (int)i + 1);
        size_t len;
        const char *line = lua_tolstring(L, -1, &len);
        if (!line || lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "headers must be strings");
        if (strcspn(line, "\r\n") != len)
            luaL_error(L, "header values must not contain CR, LF or NUL");
        lines[i] = line;
        lua_pop(L, 1);
    }
    /* The array and the headers table stay on the stack for the whole call. */
    req->headers = lines;
    req->n_headers = n;
}

/* Part names and media types end up in part headers. */
static int header_text(lua_State *L, int t, const char *key) {
    size_t len = 0;
    const char *text = field_string(L, t, key, &len);
    return !text || strcspn(text, "\r\n") == len;
}

static void read_parts(lua_State *L, int t, dify_request *req) {
    lua_getfield(L, t, "parts");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    int parts_at = lua_gettop(L);
    size_t n = lua_rawlen(L, parts_at);
    dify_part *parts = lua_newuserdatauv(L, (n ? n : 1) * sizeof *parts, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, parts_at, (int)i + 1);
        int p = lua_gettop(L);
        luaL_checktype(L, p, LUA_TTABLE);
        memset(&parts[i], 0, sizeof parts[i]);
        parts[i].name = field_string(L, p, "name", NULL);
        parts[i].path = field_string(L, p, "path", NULL);
        parts[i].data = field_string(L, p, "data", &parts[i].data_len);
        parts[i].filename = field_string(L, p, "filename", NULL);
        parts[i].content_type = field_string(L, p, "content_type", NULL);
        if (!parts[i].name) luaL_error(L, "every part needs a name");
        if (!header_text(L, p, "name") || !header_text(L, p, "filename") ||
            !header_text(L, p, "content_type"))
            luaL_error(L,
                       "a part's name, filename and content_type must not contain CR, LF or NUL");
        lua_pop(L, 1);
    }
    req->parts = parts;
    req->n_parts = n;
}

/* Reads req's fields; raises on a malformed table before any resource exists. */
static void read_request(lua_State *L, int t, request_args *a) {
    memset(a, 0, sizeof *a);
    a->req.method = field_string(L, t, "method", NULL);
    a->req.url = field_string(L, t, "url", NULL);
    if (!a->req.method || !a->req.url) luaL_error(L, "request needs method and url");
    a->req.body = field_string(L, t, "body", &a->req.body_len);
    a->req.timeout_ms = field_ms(L, t, "timeout", -1);
    a->req.first_event_timeout_ms = field_ms(L, t, "first_event_timeout", 0);
    read_headers(L, t, a);
    read_parts(L, t, &a->req);
    lua_getfield(L, t, "output");
    if (lua_type(L, -1) == LUA_TSTRING)
        a->output_path = lua_tostring(L, -1);
    else if (lua_type(L, -1) == LUA_TFUNCTION)
        a->has_output_function = 1;
    else if (!lua_isnil(L, -1))
        luaL_error(L, "output must be a path or a function");
    lua_getfield(L, t, "on_progress");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TFUNCTION)
        luaL_error(L, "on_progress must be a function");
    lua_pop(L, 2);
}

/* ---- callbacks: protected Lua calls from inside libcurl ---- */

static int run_sink(lua_State *L) {
    call_box *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->sink_ref);
    lua_pushlstring(L, c->chunk, c->chunk_len);
    lua_call(L, 1, 0);
    return 0;
}

static int run_progress(lua_State *L) {
    call_box *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->progress_ref);
    for (int i = 0; i < 4; i++)
        lua_pushnumber(L, c->progress[i]);
    lua_call(L, 4, 0);
    return 0;
}

static int call_protected(call_box *c, lua_CFunction f, dify_error *err) {
    lua_State *L = c->L;
    if (!lua_checkstack(L, 8)) {
        dify_error_set(err, DIFY_ERR_NOMEM, "Lua stack exhausted");
        return -1;
    }
    if (dify_protected_call(L, f, c) != 0) {
        lua_replace(L, c->error_slot);
        c->callback_failed = 1;
        dify_error_set(err, DIFY_ERR_CALLBACK, "a callback raised an error");
        return -1;
    }
    return 0;
}

static int sink_to_function(void *ctx, const char *bytes, size_t n, dify_error *err) {
    call_box *c = ctx;
    c->chunk = bytes;
    c->chunk_len = n;
    return call_protected(c, run_sink, err);
}

/* An output path's file, or NULL with err set. */
static FILE *open_output(const char *path, dify_error *err) {
    FILE *out = fopen(path, "wb");
    if (!out) {
        dify_error_clear(err);
        dify_error_set(err, DIFY_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    return out;
}

static int write_output(FILE *out, const char *bytes, size_t n, dify_error *err) {
    if (fwrite(bytes, 1, n, out) != n) {
        dify_error_set(err, DIFY_ERR_IO, "cannot write output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int sink_to_file(void *ctx, const char *bytes, size_t n, dify_error *err) {
    return write_output(((call_box *)ctx)->out, bytes, n, err);
}

static int report_progress(void *ctx, curl_off_t down_now, curl_off_t down_total, curl_off_t up_now,
                           curl_off_t up_total, dify_error *err) {
    call_box *c = ctx;
    lua_Number now[4] = {(lua_Number)up_now, (lua_Number)up_total, (lua_Number)down_now,
                         (lua_Number)down_total};
    if (memcmp(now, c->progress, sizeof now) == 0) return 0;
    memcpy(c->progress, now, sizeof now);
    return call_protected(c, run_progress, err);
}

/* Buffers up to this size stay with a kept call box for the next call. */
#define KEPT_BUFFER_MAX (64u * 1024u)

static void keep_or_free(dify_buf *b) {
    if (b->cap > KEPT_BUFFER_MAX)
        dify_buf_free(b);
    else
        b->len = 0;
}

static void release_call(lua_State *L, call_box *c) {
    keep_or_free(&c->res.headers);
    keep_or_free(&c->res.body);
    if (c->out) {
        fclose(c->out);
        c->out = NULL;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, c->sink_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, c->progress_ref);
    c->sink_ref = c->progress_ref = LUA_NOREF;
    c->busy = 0;
}

/* Pushes the box for a blocking call: the session's own, with the buffers of
 * its last call, unless a callback of a running call makes this one. */
static call_box *push_call_box(lua_State *L, session_box *sbox) {
    call_box *c = NULL;
    if (sbox->call_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, sbox->call_ref);
        c = lua_touserdata(L, -1);
        if (c->busy) {
            lua_pop(L, 1);
            c = NULL;
        }
    }
    if (!c) {
        c = lua_newuserdatauv(L, sizeof *c, 0);
        memset(c, 0, sizeof *c);
        c->sink_ref = c->progress_ref = LUA_NOREF;
        dify_response_init(&c->res);
        luaL_getmetatable(L, CALL_MT);
        lua_setmetatable(L, -2);
        if (sbox->call_ref == LUA_NOREF) {
            lua_pushvalue(L, -1);
            sbox->call_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        }
    }
    c->busy = 1;
    c->L = L;
    c->callback_failed = 0;
    memset(c->progress, 0, sizeof c->progress);
    c->res.status = 0;
    c->res.is_event_stream = 0;
    return c;
}

static int call_gc(lua_State *L) {
    call_box *c = luaL_checkudata(L, 1, CALL_MT);
    release_call(L, c);
    dify_response_free(&c->res);
    return 0;
}

/* ---- driver ---- */

static int driver_gc(lua_State *L) {
    driver_box *box = luaL_checkudata(L, 1, DRIVER_MT);
    dify_driver_release(box->driver);
    box->driver = NULL;
    return 0;
}

static dify_driver *state_driver(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, DRIVER_KEY);
    driver_box *box = luaL_testudata(L, -1, DRIVER_MT);
    lua_pop(L, 1);
    if (box && box->driver) return box->driver;
    box = lua_newuserdatauv(L, sizeof *box, 0);
    box->driver = NULL;
    luaL_getmetatable(L, DRIVER_MT);
    lua_setmetatable(L, -2);
    dify_error err;
    dify_error_clear(&err);
    box->driver = dify_driver_new(&err);
    if (!box->driver) luaL_error(L, "dify.core: %s", err.message);
    lua_setfield(L, LUA_REGISTRYINDEX, DRIVER_KEY);
    return box->driver;
}

/* ---- session ---- */

static session_box *check_session(lua_State *L) {
    session_box *box = luaL_checkudata(L, 1, SESSION_MT);
    if (!box->session) luaL_error(L, "the session is closed");
    return box;
}

static int core_session(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    dify_session_options o;
    memset(&o, 0, sizeof o);
    o.connect_timeout_ms = field_ms(L, 1, "connect_timeout", 10000);
    o.timeout_ms = field_ms(L, 1, "timeout", 60000);
    o.idle_timeout_ms = field_ms(L, 1, "idle_timeout", 300000);
    o.proxy = field_string(L, 1, "proxy", NULL);
    o.ca_file = field_string(L, 1, "ca_file", NULL);
    size_t user_agent_len = 0;
    o.user_agent = field_string(L, 1, "user_agent", &user_agent_len);
    if (o.user_agent && strcspn(o.user_agent, "\r\n") != user_agent_len)
        luaL_error(L, "user_agent must not contain CR, LF or NUL");
    o.max_body_size = field_size(L, 1, "max_body_size", DEFAULT_MAX_BODY);
    o.max_event_size = field_size(L, 1, "max_event_size", DEFAULT_MAX_EVENT);
    lua_getfield(L, 1, "verify_tls");
    o.verify_tls = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_getfield(L, 1, "compression");
    o.compression = lua_toboolean(L, -1);
    lua_pop(L, 2);

    session_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->session = NULL;
    box->call_ref = LUA_NOREF;
    luaL_getmetatable(L, SESSION_MT);
    lua_setmetatable(L, -2);
    dify_error err;
    dify_error_clear(&err);
    box->session = dify_session_new(&o, &err);
    if (!box->session) return push_failure(L, &err);
    return 1;
}

static int session_request(lua_State *L) {
    session_box *box = check_session(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    request_args a;
    read_request(L, 2, &a);

    call_box *c = push_call_box(L, box);
    int call_at = lua_gettop(L);
    lua_pushnil(L);
    c->error_slot = lua_gettop(L);
    if (a.has_output_function) c->sink_ref = field_ref(L, 2, "output", LUA_TFUNCTION);
    c->progress_ref = field_ref(L, 2, "on_progress", LUA_TFUNCTION);

    if (a.output_path) {
        dify_error err;
        c->out = open_output(a.output_path, &err);
        if (!c->out) {
            release_call(L, c);
            return push_failure(L, &err);
        }
        a.req.sink = sink_to_file;
    } else if (a.has_output_function) {
        a.req.sink = sink_to_function;
    }
    if (c->progress_ref != LUA_NOREF) a.req.progress = report_progress;
    a.req.ctx = c;

    dify_error err;
    int rc = dify_session_perform(box->session, &a.req, &c->res, &err);
    if (c->out && fclose(c->out) != 0 && rc == 0) {
        dify_error_set(&err, DIFY_ERR_IO, "cannot write output: %s", strerror(errno));
        rc = -1;
    }
    c->out = NULL;
    if (c->callback_failed) {
        release_call(L, c);
        lua_pushvalue(L, c->error_slot);
        return lua_error(L);
    }
    if (rc != 0) {
        release_call(L, c);
        return push_failure(L, &err);
    }
    push_answer(L, &c->res, a.req.sink != NULL);
    release_call(L, (call_box *)lua_touserdata(L, call_at));
    return 3;
}

static int sink_to_stdio(void *ctx, const char *bytes, size_t n, dify_error *err) {
    return write_output(((pending_box *)ctx)->out, bytes, n, err);
}

static void release_pending(lua_State *L, pending_box *box) {
    dify_pending_close(box->pending);
    box->pending = NULL;
    if (box->out) fclose(box->out);
    box->out = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, box->request_ref);
    box->request_ref = LUA_NOREF;
}

/* session:start(req): sends a blocking call on the state's driver and returns
 * at once; core.wait_any waits for it, call:result() reads it. Lua callbacks
 * are refused: they would run on whichever coroutine drives the driver. */
static int session_start(lua_State *L) {
    session_box *sbox = check_session(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    request_args a;
    read_request(L, 2, &a);
    lua_getfield(L, 2, "on_progress");
    int has_progress = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (a.has_output_function || has_progress)
        luaL_error(L, "a started call takes no output function and no on_progress");

    pending_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->pending = NULL;
    box->out = NULL;
    box->has_sink = 0;
    box->request_ref = LUA_NOREF;
    luaL_getmetatable(L, PENDING_MT);
    lua_setmetatable(L, -2);
    int box_at = lua_gettop(L);
    lua_pushvalue(L, 2);
    box->request_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    dify_driver *driver = state_driver(L);
    if (a.output_path) {
        dify_error err;
        box->out = open_output(a.output_path, &err);
        if (!box->out) {
            release_pending(L, box);
            return push_failure(L, &err);
        }
        a.req.sink = sink_to_stdio;
        a.req.ctx = box;
        box->has_sink = 1;
    }
    dify_error err;
    box->pending = dify_pending_start(sbox->session, driver, &a.req, &err);
    if (!box->pending) {
        release_pending(L, box);
        return push_failure(L, &err);
    }
    lua_pushvalue(L, box_at);
    return 1;
}

/* status, headers, and the stream at stream_at, or the whole body of an
 * answer that is not a 2xx event stream (the stream is closed then). */
static int push_opened(lua_State *L, stream_box *sb, int stream_at) {
    const dify_response *res = dify_stream_response(sb->stream);
    lua_pushinteger(L, (lua_Integer)res->status);
    push_headers(L, &res->headers);
    if (res->status >= 200 && res->status < 300 && res->is_event_stream) {
        lua_pushvalue(L, stream_at);
        return 3;
    }
    lua_pushlstring(L, res->body.len ? res->body.data : "", res->body.len);
    dify_stream_close(sb->stream);
    sb->stream = NULL;
    return 3;
}

/* Reads a stream request and pushes its (still empty) box. */
static stream_box *new_stream_box(lua_State *L, request_args *a) {
    luaL_checktype(L, 2, LUA_TTABLE);
    read_request(L, 2, a);
    if (a->output_path || a->has_output_function || a->req.n_parts)
        luaL_error(L, "a stream takes neither output nor parts");
    stream_box *sb = lua_newuserdatauv(L, sizeof *sb, 0);
    sb->stream = NULL;
    luaL_getmetatable(L, STREAM_MT);
    lua_setmetatable(L, -2);
    return sb;
}

static int session_stream(lua_State *L) {
    session_box *box = check_session(L);
    request_args a;
    stream_box *sb = new_stream_box(L, &a);
    int stream_at = lua_gettop(L);
    dify_driver *driver = state_driver(L);
    dify_error err;
    sb->stream = dify_stream_open(box->session, driver, &a.req, &err);
    if (!sb->stream) return push_failure(L, &err);
    return push_opened(L, sb, stream_at);
}

/* session:start_stream(req): sends the request and returns the stream at once,
 * before its headers (a stream inside a task); once core.wait_any or core.turn
 * finds it ready, stream:opened() answers as session:stream would have. */
static int session_start_stream(lua_State *L) {
    session_box *box = check_session(L);
    request_args a;
    stream_box *sb = new_stream_box(L, &a);
    dify_driver *driver = state_driver(L);
    dify_error err;
    sb->stream = dify_stream_start(box->session, driver, &a.req, &err);
    if (!sb->stream) return push_failure(L, &err);
    return 1;
}

static int session_close(lua_State *L) {
    session_box *box = luaL_checkudata(L, 1, SESSION_MT);
    dify_session_release(box->session);
    box->session = NULL;
    luaL_unref(L, LUA_REGISTRYINDEX, box->call_ref);
    box->call_ref = LUA_NOREF;
    return 0;
}

/* ---- stream ---- */

static void push_event_fields(lua_State *L, const dify_sse_event *ev) {
    lua_pushlstring(L, ev->type, ev->type_len);
    if (ev->has_data)
        lua_pushlstring(L, ev->data, ev->data_len);
    else
        lua_pushnil(L);
    if (ev->id_len)
        lua_pushlstring(L, ev->id, ev->id_len);
    else
        lua_pushnil(L);
}

/* luaL_checkudata for the once-per-event method: the metatable is its upvalue,
 * which spares a registry lookup by name. */
static stream_box *check_stream_fast(lua_State *L) {
    stream_box *sb = lua_touserdata(L, 1);
    int ok = sb && lua_getmetatable(L, 1);
    if (ok) {
        ok = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
    }
    if (!ok) sb = luaL_checkudata(L, 1, STREAM_MT); /* raises the usual error */
    return sb;
}

/* next() waits for an event; next(true) answers false at once when none has
 * arrived, and so does next() on a coroutine of core.workers (a task: it
 * yields to its scheduler instead of blocking the thread). */
static int stream_next(lua_State *L) {
    stream_box *sb = check_stream_fast(L);
    int no_wait = lua_toboolean(L, 2);
    if (!sb->stream) return 0;
    if (!no_wait) {
        if (!lua_pushthread(L)) {
            lua_rawget(L, lua_upvalueindex(2));
            no_wait = lua_toboolean(L, -1);
        }
        lua_pop(L, 1);
    }
    dify_sse_event ev;
    dify_error err;
    int rc =
        no_wait ? dify_stream_take(sb->stream, &ev, &err) : dify_stream_next(sb->stream, &ev, &err);
    if (rc == DIFY_STREAM_PENDING) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc == 1) {
        push_event_fields(L, &ev);
        return 3;
    }
    /* Ended or failed: let the connection go now rather than at collection. */
    dify_stream_close(sb->stream);
    sb->stream = NULL;
    if (rc == 0) return 0;
    return push_failure(L, &err);
}

static int stream_close(lua_State *L) {
    stream_box *sb = luaL_checkudata(L, 1, STREAM_MT);
    dify_stream_close(sb->stream);
    sb->stream = NULL;
    return 0;
}

/* stream:opened() -> what session:stream returns, for a stream from
 * session:start_stream once it is ready. */
static int stream_opened(lua_State *L) {
    stream_box *sb = luaL_checkudata(L, 1, STREAM_MT);
    if (!sb->stream) luaL_error(L, "the stream is closed");
    if (!dify_stream_opened(sb->stream))
        luaL_error(L, "the stream has not opened yet: wait for it with core.wait_any");
    dify_error err;
    dify_error_clear(&err);
    if (dify_stream_finish_open(sb->stream, &err) != 0) {
        dify_stream_close(sb->stream);
        sb->stream = NULL;
        return push_failure(L, &err);
    }
    return push_opened(L, sb, 1);
}

static int stream_is_open(lua_State *L) {
    stream_box *sb = luaL_checkudata(L, 1, STREAM_MT);
    lua_pushboolean(L, sb->stream != NULL);
    return 1;
}

/* ---- started calls ---- */

static pending_box *check_pending(lua_State *L) {
    pending_box *box = luaL_checkudata(L, 1, PENDING_MT);
    if (!box->pending) luaL_error(L, "the call is closed");
    return box;
}

/* call:result() -> status, headers, body | nil, kind, message, which, sent
 * (as session:request); the call is closed after. */
static int pending_result(lua_State *L) {
    pending_box *box = check_pending(L);
    if (!dify_pending_done(box->pending))
        luaL_error(L, "the call has not finished: wait for it with core.wait_any");
    const dify_response *res = NULL;
    dify_error err;
    dify_error_clear(&err);
    int rc = dify_pending_result(box->pending, &res, &err);
    if (box->out) {
        if (fclose(box->out) != 0 && rc == 0) {
            dify_error_set(&err, DIFY_ERR_IO, "cannot write output: %s", strerror(errno));
            rc = -1;
        }
        box->out = NULL;
    }
    if (rc != 0) {
        release_pending(L, box);
        return push_failure(L, &err);
    }
    push_answer(L, res, box->has_sink);
    release_pending(L, box);
    return 3;
}

static int pending_close(lua_State *L) {
    release_pending(L, luaL_checkudata(L, 1, PENDING_MT));
    return 0;
}

static int pending_is_done(lua_State *L) {
    pending_box *box = luaL_checkudata(L, 1, PENDING_MT);
    lua_pushboolean(L, !box->pending || dify_pending_done(box->pending));
    return 1;
}

dify_driven *dify_lua_waitable(lua_State *L, int idx, int position) {
    stream_box *sb = luaL_testudata(L, idx, STREAM_MT);
    pending_box *pb = sb ? NULL : luaL_testudata(L, idx, PENDING_MT);
    if (!sb && !pb) luaL_error(L, "#%d is neither a libcurl stream nor a started call", position);
    if (sb) return sb->stream ? dify_stream_waitable(sb->stream) : NULL;
    return pb->pending ? dify_pending_waitable(pb->pending) : NULL;
}

dify_driver *dify_lua_driver(lua_State *L) {
    return state_driver(L);
}

/* core.wait_any({s1, c2, ...}[, first[, timeout]]): drives core streams and
 * started calls together until one has an event, an answer or has ended;
 * returns its index, or nil when timeout seconds passed first. A closed one
 * is ready at once. */
static int core_wait_any(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = lua_rawlen(L, 1);
    if (n == 0) luaL_argerror(L, 1, "nothing to wait on");
    lua_Integer first = luaL_optinteger(L, 2, 1);
    long timeout_ms = -1;
    if (!lua_isnoneornil(L, 3)) {
        lua_Number seconds = luaL_checknumber(L, 3);
        timeout_ms = seconds > 0 ? (long)(seconds * 1000.0 + 0.5) : 0;
    }
    dify_driven **list = lua_newuserdatauv(L, n * sizeof *list, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        list[i] = dify_lua_waitable(L, -1, (int)i + 1);
        lua_pop(L, 1);
        if (!list[i]) {
            lua_pushinteger(L, (lua_Integer)i + 1);
            return 1;
        }
    }
    size_t start = first >= 1 ? (size_t)(first - 1) % n : 0;
    size_t ready = dify_driver_wait_any(state_driver(L), list, n, start, timeout_ms);
    if (ready == n) return 0;
    lua_pushinteger(L, (lua_Integer)ready + 1);
    return 1;
}

/* ---- SSE parser for chunks that arrive from Lua (nginx cosockets) ---- */

static int core_sse_parser(lua_State *L) {
    size_t max = (size_t)luaL_optnumber(L, 1, DEFAULT_MAX_EVENT);
    parser_box *pb = lua_newuserdatauv(L, sizeof *pb, 0);
    dify_sse_init(&pb->parser, max);
    dify_event_queue_init(&pb->queue);
    luaL_getmetatable(L, PARSER_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int push_parsed(lua_State *L, parser_box *pb, int rc) {
    if (rc != DIFY_SSE_OK) {
        dify_event_queue_clear(&pb->queue);
        lua_pushnil(L);
        lua_pushstring(L, rc == DIFY_SSE_NOMEM ? "memory" : "protocol");
        lua_pushfstring(L, "event stream: %s", dify_sse_strerror(rc));
        return 3;
    }
    lua_newtable(L);
    dify_sse_event ev;
    int i = 0;
    while (dify_event_queue_pop(&pb->queue, &ev)) {
        lua_createtable(L, 0, 3);
        if (ev.type_len) {
            lua_pushlstring(L, ev.type, ev.type_len);
            lua_setfield(L, -2, "event");
        }
        if (ev.has_data) {
            lua_pushlstring(L, ev.data, ev.data_len);
            lua_setfield(L, -2, "data");
        }
        if (ev.id_len) {
            lua_pushlstring(L, ev.id, ev.id_len);
            lua_setfield(L, -2, "id");
        }
        lua_rawseti(L, -2, ++i);
    }
    dify_event_queue_clear(&pb->queue);
    return 1;
}

static int parser_feed(lua_State *L) {
    parser_box *pb = luaL_checkudata(L, 1, PARSER_MT);
    size_t len;
    const char *chunk = luaL_checklstring(L, 2, &len);
    dify_event_queue_clear(&pb->queue);
    return push_parsed(L, pb,
                       dify_sse_feed(&pb->parser, chunk, len, dify_event_queue_push, &pb->queue));
}

static int parser_finish(lua_State *L) {
    parser_box *pb = luaL_checkudata(L, 1, PARSER_MT);
    dify_event_queue_clear(&pb->queue);
    return push_parsed(L, pb, dify_sse_finish(&pb->parser, dify_event_queue_push, &pb->queue));
}

static int parser_reset(lua_State *L) {
    parser_box *pb = luaL_checkudata(L, 1, PARSER_MT);
    dify_sse_reset(&pb->parser);
    dify_event_queue_clear(&pb->queue);
    return 0;
}

static int parser_gc(lua_State *L) {
    parser_box *pb = luaL_checkudata(L, 1, PARSER_MT);
    dify_sse_free(&pb->parser);
    dify_event_queue_free(&pb->queue);
    return 0;
}

/* ---- time, for polling loops in Lua (plain Lua has neither) ---- */

static int core_now(lua_State *L) {
    lua_pushnumber(L, (lua_Number)dify_now_ms() / 1000.0);
    return 1;
}

static int core_sleep(lua_State *L) {
    lua_Number seconds = luaL_checknumber(L, 1);
    if (seconds > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return 0;
}

/* ---- module ---- */

static int core_version(lua_State *L) {
    curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    lua_pushfstring(L, "libcurl %s", info->version);
    return 1;
}

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

int luaopen_dify_core(lua_State *L) {
    static const luaL_Reg session_methods[] = {{"request", session_request},
                                               {"stream", session_stream},
                                               {"start", session_start},
                                               {"start_stream", session_start_stream},
                                               {"close", session_close},
                                               {"__gc", session_close},
                                               {NULL, NULL}};
    static const luaL_Reg stream_methods[] = {
        {"close", stream_close}, {"is_open", stream_is_open}, {"opened", stream_opened},
        {"__gc", stream_close},  {"__close", stream_close},   {NULL, NULL}};
    static const luaL_Reg parser_methods[] = {{"feed", parser_feed},
                                              {"finish", parser_finish},
                                              {"reset", parser_reset},
                                              {"__gc", parser_gc},
                                              {NULL, NULL}};
    static const luaL_Reg call_methods[] = {{"__gc", call_gc}, {NULL, NULL}};
    static const luaL_Reg pending_methods[] = {{"result", pending_result},
                                               {"close", pending_close},
                                               {"is_done", pending_is_done},
                                               {"__gc", pending_close},
                                               {NULL, NULL}};
    static const luaL_Reg driver_methods[] = {{"__gc", driver_gc}, {NULL, NULL}};
    static const luaL_Reg functions[] = {{"session", core_session},
                                         {"sse_parser", core_sse_parser},
                                         {"version", core_version},
                                         {"wait_any", core_wait_any},
                                         {"now", core_now},
                                         {"sleep", core_sleep},
                                         {NULL, NULL}};
    /* Reference counted by libcurl itself; never cleaned up, as other users may share it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return luaL_error(L, "curl_global_init failed");
    new_class(L, SESSION_MT, session_methods);
    new_class(L, STREAM_MT, stream_methods);
    /* Coroutines whose dify calls pause rather than block (dify.all, dify.spawn). */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    int workers_at = lua_gettop(L);
    luaL_getmetatable(L, STREAM_MT);
    lua_pushvalue(L, -1);
    lua_pushvalue(L, workers_at);
    lua_pushcclosure(L, stream_next, 2);
    lua_setfield(L, -2, "next");
    lua_pop(L, 1);
    new_class(L, PARSER_MT, parser_methods);
    new_class(L, CALL_MT, call_methods);
    new_class(L, PENDING_MT, pending_methods);
    luaL_newmetatable(L, HEADERS_MT);
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    new_class(L, DRIVER_MT, driver_methods);
    luaL_newlib(L, functions);
    lua_pushvalue(L, workers_at);
    lua_setfield(L, -2, "workers");
    dify_lua_open_host(L);
    return 1;
}
