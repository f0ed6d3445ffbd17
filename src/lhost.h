/* The host-loop half of dify.core, behind dify.spawn, dify.step and
 * dify.watch (lua/dify/host.lua): one turn of the Lua state's driver for what
 * tasks wait on, and the socket-action mode that a host's loop drives.
 * Registered by luaopen_dify_core. */
#ifndef DIFY_LHOST_H
#define DIFY_LHOST_H

#include "compat.h"
#include "driver.h"

/* Adds turn, next_timer, watch, unwatch, watch_ready and watch_changes to the
 * table on top of the stack. */
void dify_lua_open_host(lua_State *L);

/* From ldify.c: the state's driver, made on first use. */
dify_driver *dify_lua_driver(lua_State *L);
/* What driver functions wait on for the core stream or started call at idx,
 * NULL when it is closed; raises "#position is neither ..." for anything else. */
dify_driven *dify_lua_waitable(lua_State *L, int idx, int position);

#endif
