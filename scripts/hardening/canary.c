/* A Lua module that does, on purpose, what the sanitizer runs must catch: it
 * proves that `make asan` and `make valgrind` would see such a fault in a
 * module loaded into lua5.4 (the runtimes preloaded, leaks checked after
 * lua_close) rather than passing because they looked nowhere. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

static void *volatile last_leak;

static int leak(lua_State *L) {
    last_leak = malloc(4096);
    memset(last_leak, 1, 4096);
    last_leak = NULL; /* nothing points to it any more: definitely lost */
    lua_pushboolean(L, 1);
    return 1;
}

static int overflow(lua_State *L) {
    char *volatile bytes = malloc(16);
    bytes[(size_t)luaL_optinteger(L, 1, 16)] = 1; /* one past the end */
    free(bytes);
    return 0;
}

static int use_after_free(lua_State *L) {
    char *volatile bytes = malloc(16);
    free(bytes);
    lua_pushinteger(L, bytes[0]);
    return 1;
}

static int signed_overflow(lua_State *L) {
    int big = (int)luaL_optinteger(L, 1, 0x7fffffff);
    lua_pushinteger(L, big + 1);
    return 1;
}

int luaopen_canary(lua_State *L) {
    static const luaL_Reg functions[] = {{"leak", leak},
                                         {"overflow", overflow},
                                         {"use_after_free", use_after_free},
                                         {"signed_overflow", signed_overflow},
                                         {NULL, NULL}};
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    return 1;
}
