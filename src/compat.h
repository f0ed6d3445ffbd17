/* The few Lua C API differences between 5.1/LuaJIT and 5.4, in one place. */
#ifndef DIFY_COMPAT_H
#define DIFY_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))
#endif

/* LuaJIT 2.1 speaks 5.1 but already has these 5.2 helpers (luaL_newlib is its
 * macro, so it marks them); plain 5.1 gets shims. */
#if LUA_VERSION_NUM < 502 && !defined(luaL_newlib)
#define luaL_setfuncs(L, funcs, nup) luaL_register((L), NULL, (funcs))
#define luaL_newlib(L, funcs) (lua_newtable(L), luaL_register((L), NULL, (funcs)))
static inline void *dify_testudata(lua_State *L, int i, const char *tname) {
    void *p = lua_touserdata(L, i);
    if (!p || !lua_getmetatable(L, i)) return NULL;
    luaL_getmetatable(L, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}
#define luaL_testudata dify_testudata
#endif

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata((L), (size))
#endif

/* Calls f(ud) in protected mode without allocating before protection starts
 * (lua_pushcfunction allocates a closure on 5.1 and LuaJIT). */
#if LUA_VERSION_NUM < 502
#define dify_protected_call(L, f, ud) lua_cpcall((L), (f), (ud))
#else
static inline int dify_protected_call(lua_State *L, lua_CFunction f, void *ud) {
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 1, 0, 0);
}
#endif

#endif
