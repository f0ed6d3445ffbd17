--- Tasks inside any host's event loop: `dify.spawn`, `dify.step`, `dify.watch`.
--
--     local task = dify.spawn(function()
--       for ev in assert(client:chat_stream{ query = "Explain this function" }) do
--         if ev.event == "message" then append_to_buffer(ev.answer) end
--       end
--     end)
--     -- a frame callback or an idle handler:   dify.step(0)
--     -- an event loop (luv, cqueues):          require("dify.host.luv").start()
--
-- A task is a coroutine of the same kind as a `dify.all` function: every
-- blocking call and stream inside it goes on the Lua state's driver (the one
-- libcurl multi handle of lua/dify/all.lua and src/driver.c) and the task
-- yields until it is ready. The scheduler here resumes tasks when the driver
-- has something for them, on a host's polling (`dify.step`) or on the host's
-- socket and timer events (`dify.watch`, which puts the driver in libcurl's
-- socket-action mode: src/watch.c).
-- @module dify.host
local core = require("dify.core")
local all = require("dify.all")
local errors = require("dify.errors")

local PAUSE, workers = all.PAUSE, all.workers
local unpack = table.unpack or unpack -- luacheck: ignore 143

local host = {}

-- Live tasks, oldest first: every turn resumes the ready ones in this order.
local tasks = {}
-- Set while a turn runs: on_done may not step again from inside it.
local busy = false
-- The first error an on_done raised during a turn, raised once the turn is over.
local deferred
-- Set when the next timer may have come sooner (a task began, ended or sleeps):
-- a watching host's timer is worked out again then, not after every event.
local retime = true

-- The one watcher of this Lua state (dify.watch), or nil.
local watcher

-- A host that does not watch sockets should step at least this often.
local MAX_NEXT = 1

local Task = {}
Task.__index = Task
Task.__name = "dify.task"

local function pack(...)
  return { n = select("#", ...), ... }
end

-- Lua 5.1 (not LuaJIT) cannot yield from a generic for's iterator or across pcall.
local function explain(err)
  if type(err) == "string" and err:find("attempt to yield across", 1, true) then
    return "dify.spawn: Lua 5.1 cannot pause a task inside a for loop's iterator or a pcall"
      .. " (for ev in stream, stream:text(), :result(), :stop()); read with stream:next()"
      .. " there, or use LuaJIT or Lua 5.2+ (" .. err .. ")"
  end
  return err
end

local function finish(task, ok, ...)
  retime = true
  for i, t in ipairs(tasks) do
    if t == task then
      table.remove(tasks, i)
      break
    end
  end
  workers[task.co] = nil
  task.what, task.wake = nil, nil
  task.state = ok and "done" or (task.state == "cancelling" and "cancelled" or "failed")
  task._result = pack(ok, ...)
  local on_done = task.on_done
  if on_done then
    -- An error of on_done is the host's own: raised after this turn, not in the middle of it.
    local done_ok, err = pcall(on_done, ok, ...)
    if not done_ok and deferred == nil then deferred = err end
  end
end

-- What coroutine.resume gave back (no table per resume: this runs once per event).
local function resumed(task, ok, first, ...)
  if not ok then
    all.close_owned(task.co) -- what it left on the wire
    return finish(task, false, explain(first))
  end
  if coroutine.status(task.co) == "dead" then return finish(task, true, first, ...) end
  if first ~= PAUSE then
    all.close_owned(task.co)
    return finish(task, false, "dify.spawn: the task yielded; only its dify calls may pause it")
  end
  local what, wake = ...
  task.what, task.wake = what, wake
  if wake then retime = true end
end

local function resume(task, ...)
  task.what, task.wake = nil, nil
  return resumed(task, coroutine.resume(task.co, ...))
end

-- What the live tasks wait on, kept from turn to turn: a flat list of core
-- streams and started calls with, for each, its task and (for a task waiting
-- on a list) its index there.
local list, owner, at, listed = {}, {}, {}, 0

-- Fills list, owner and at; returns how many, and the soonest time a task sleeps until.
local function collect()
  local n, soonest = 0, nil
  for _, task in ipairs(tasks) do
    local what = task.what
    if type(what) == "table" then
      for j = 1, #what do
        n = n + 1
        list[n], owner[n], at[n] = what[j], task, j
      end
    elseif what then
      n = n + 1
      list[n], owner[n], at[n] = what, task, nil
    end
    local wake = task.wake
    if wake and (not soonest or wake < soonest) then soonest = wake end
  end
  for i = n + 1, listed do list[i], owner[i], at[i] = nil, nil, nil end
  listed = n
  return n, soonest
end

local function wake_sleepers(now)
  local due = {}
  for _, task in ipairs(tasks) do
    if task.wake and task.wake <= now then due[#due + 1] = task end
  end
  -- A list wait woken by its time is resumed with nil.
  for _, task in ipairs(due) do
    if task.state == "running" then resume(task) end
  end
end

-- Seconds until the scheduler needs a turn (0: now), at most MAX_NEXT; nil when no task lives.
local function next_turn()
  if #tasks == 0 then return nil end
  local n, soonest = collect()
  local next_s = n > 0 and core.next_timer(list) or nil
  if soonest then
    local left = math.max(0, soonest - core.now())
    if not next_s or left < next_s then next_s = left end
  end
  if not next_s or next_s > MAX_NEXT then next_s = MAX_NEXT end
  return next_s
end

local WHAT = { [0] = "remove", "in", "out", "inout" }
local changes = {}

-- Tells the watching host the sockets libcurl changed; returns how many and
-- the first error of its handler.
local function tell_sockets(w)
  local n, timer_moved = core.watch_changes(changes)
  if n > 0 or timer_moved then retime = true end
  local first_err
  for i = 1, n do
    local fd, what = changes[2 * i - 1], WHAT[changes[2 * i]]
    w._told[fd] = what ~= "remove" or nil
    local ok, err = pcall(w._socket, fd, what)
    if not ok and not first_err then first_err = err end
  end
  -- The descriptors it was told to stop watching are closed now that it has let go.
  if n > 0 then core.watch_release() end
  return n, first_err
end

-- Tells the watching host what libcurl changed, and when to call back.
local function flush()
  local w = watcher
  if not w then return end
  local _, first_err = tell_sockets(w)
  -- Nothing that could bring the next timer sooner happened: the armed one stands (firing
  -- early costs an idle turn; stream timers only ever move later, sockets and libcurl say so).
  if not retime and w._timer_at then
    if first_err then error(first_err, 0) end
    return
  end
  retime = false
  local next_s = next_turn()
  local due, armed = next_s and core.now() + next_s, w._timer_at
  -- Re-armed only when it must fire sooner (or stop): firing early costs one idle turn.
  if (due == nil) ~= (armed == nil) or (due and due < armed - 0.001) then
    w._timer_at = due
    local ok, err = pcall(w._timer, next_s and math.floor(next_s * 1000 + 0.5) or nil)
    if not ok and not first_err then first_err = err end
  end
  if first_err then error(first_err, 0) end
end

local function raise_deferred()
  local err = deferred
  deferred = nil
  if err ~= nil then error(err, 0) end
end

local ready, woken, woken_at, turns = {}, {}, {}, 0

local function turn_body(wait)
  local n, soonest = collect()
  if soonest then
    local now = core.now()
    if soonest <= now then
      wake_sleepers(now)
      n, soonest = collect()
    end
    if soonest then wait = math.min(wait, math.max(0, soonest - now)) end
  end
  if n > 0 or watcher then
    local k = core.turn(list, wait, ready)
    -- The tasks with something, each once, taken before any runs (a task's code may spawn).
    turns = turns + 1
    local m = 0
    for i = 1, k do
      local idx = ready[i]
      local task = owner[idx]
      if task and task._turn ~= turns then
        task._turn = turns
        m = m + 1
        woken[m], woken_at[m] = task, at[idx]
      end
    end
    for i = 1, m do
      local task, where = woken[i], woken_at[i]
      woken[i], woken_at[i] = nil, nil
      if task.state == "running" and task.what ~= nil then resume(task, where) end
    end
  elseif wait > 0 then
    core.sleep(wait)
  end
  if wait > 0 then wake_sleepers(core.now()) end
end

-- One turn: wakes the sleepers that are due, runs the driver (waiting up to
-- `wait` seconds when nothing is ready), resumes each task that has something,
-- once, and tells a watching host what changed.
local function turn(wait)
  busy = true
  local ok, err = pcall(turn_body, wait)
  busy = false
  flush()
  if not ok then error(err, 0) end
  raise_deferred()
end

local function check_host_side(name)
  if all.current_worker() then
    error(("%s: called from inside a task (or a dify.all function): only the host's loop may"
      .. " run the scheduler"):format(name), 3)
  end
  if busy then error(name .. ": called from inside on_done, while the scheduler runs", 3) end
end

--- Runs `fn` as a task: at once, until its first dify call waits, and then
-- whenever the driver has something for it (on `dify.step` or the watching
-- host's events). An error inside `fn` ends the task and is kept on it, never
-- raised into the host's loop.
-- @tparam function fn
-- @tparam[opt] table opts `on_done(ok, ...)`: called once when the task ends,
--  with what `task:result()` returns
-- @treturn dify.task
function host.spawn(fn, opts)
  if type(fn) ~= "function" then error("dify.spawn: expected a function", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("dify.spawn: opts must be a table", 2) end
  local on_done = opts and opts.on_done
  if on_done ~= nil and type(on_done) ~= "function" then error("dify.spawn: on_done must be a function", 2) end
  local task = setmetatable({ co = coroutine.create(fn), state = "running", on_done = on_done }, Task)
  workers[task.co] = true
  tasks[#tasks + 1] = task
  retime = true
  resume(task)
  if not busy then
    flush()
    raise_deferred()
  end
  return task
end

--- Does the ready work of every task: returns at once when `timeout` is 0 (a
-- frame callback, an idle handler); otherwise waits up to `timeout` seconds
-- for the network when nothing is ready. Returns the seconds until the
-- scheduler next needs a step (0: work is ready now; at most 1, since a host
-- that does not watch the sockets cannot know when data arrives), or nil
-- when no task is left.
-- @tparam[opt=0] number timeout seconds
-- @treturn ?number
function host.step(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0 or timeout ~= timeout) then
    error("dify.step: timeout must be a number of seconds >= 0", 2)
  end
  check_host_side("dify.step")
  if #tasks == 0 and not watcher then return nil end
  turn(timeout or 0)
  return next_turn()
end

--- How many tasks are still running.
function host.running()
  return #tasks
end

local Watcher = {}
Watcher.__index = Watcher
Watcher.__name = "dify.watcher"

local MASK = { r = 1, w = 2, e = 4 }
local MASKS = { r = 1, w = 2, rw = 3, wr = 3, e = 4 } -- what luv and the adapters say

--- Hands libcurl's sockets and timer to a host's event loop: from now on the
-- host wakes lua-dify only when a socket is ready or the timer is due
-- (libcurl's CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION, driven by
-- curl_multi_socket_action). Only one watcher per Lua state, and only while
-- no stream or call runs yet (libcurl would never name their sockets).
-- @tparam table handlers
--  `socket(fd, what)`: watch `fd` for `what` ("in", "out", "inout") from now
--  on, or stop ("remove") and forget any handle kept for it;
--  `timer(ms)`: call `watcher:timeout()` in `ms` milliseconds (replacing the
--  previous timer), or never (nil);
--  `guard()` (optional): true where a blocking call would freeze the host (it
--  then raises "use dify.spawn").
-- @treturn dify.watcher with `ready(fd, events)`, `timeout()`, `flush()`, `close()`
function host.watch(handlers)
  if type(handlers) ~= "table" or type(handlers.socket) ~= "function" or type(handlers.timer) ~= "function" then
    error("dify.watch: expected a table with socket and timer functions", 2)
  end
  if handlers.guard ~= nil and type(handlers.guard) ~= "function" then
    error("dify.watch: guard must be a function", 2)
  end
  check_host_side("dify.watch")
  if watcher then error("dify.watch: a host loop already watches this Lua state (close it first)", 2) end
  local ok, why = core.watch()
  if not ok then error("dify.watch: " .. why, 2) end
  watcher = setmetatable({ _socket = handlers.socket, _timer = handlers.timer, _told = {} }, Watcher)
  all.guard = handlers.guard
  return watcher
end

--- What `dify.spawn` returns.
-- @type Task

--- Whether the task has ended (returned, raised or was cancelled).
function Task:done()
  return self.state ~= "running"
end

--- What the task ended with: `true` and what `fn` returned, or `false` and
-- the error it raised (`kind = "cancelled"` after `task:cancel()`). Raises
-- while the task is still running.
function Task:result()
  if self.state == "running" then
    error("task:result: the task is still running (see task:done() and on_done)", 2)
  end
  return unpack(self._result, 1, self._result.n)
end

--- Ends the task now: its calls and streams are closed at once (in Lua 5.4
-- its to-be-closed variables too), and it ends with `false` and an error of
-- kind "cancelled" (on_done is called). Returns whether it was still running.
function Task:cancel()
  if self.state ~= "running" then return false end
  local status = coroutine.status(self.co)
  if status == "running" then error("task:cancel: a task cannot cancel itself; return from it", 2) end
  if status == "normal" then error("task:cancel: the task is waiting on the one cancelling it", 2) end
  self.state = "cancelling"
  all.close_owned(self.co)
  if coroutine.close then coroutine.close(self.co) end
  finish(self, false, errors.new{ kind = "cancelled", message = "the task was cancelled" })
  if not busy then
    flush()
    raise_deferred()
  end
  return true
end

function Task:__tostring()
  return ("dify.task (%s)"):format(self.state == "cancelling" and "running" or self.state)
end

--- What `dify.watch` returns: what a host's loop calls when a socket or its timer is ready.
-- @type Watcher

--- The host saw socket `fd` ready: `events` holds "r" (readable), "w"
-- (writable) and/or "e" (an error), as luv reports them; nil means any.
function Watcher:ready(fd, events)
  if watcher ~= self then error("watcher:ready: this watcher is closed", 2) end
  local mask = MASKS[events] or 0
  if mask == 0 and type(events) == "string" then
    for c, bit in pairs(MASK) do
      if events:find(c, 1, true) then mask = mask + bit end
    end
  end
  core.watch_ready(fd, mask ~= 0 and mask or 3)
  if not busy then turn(0) end -- else the running turn takes it
end

--- The host's timer fired.
function Watcher:timeout()
  if watcher ~= self then return end
  self._timer_at = nil
  core.watch_ready()
  if not busy then turn(0) end
end

--- Tells the host of changes made outside the scheduler (a stream closed or
-- collected outside any task): cheap when there is none; an adapter calls it
-- once per turn of its loop.
function Watcher:flush()
  if watcher ~= self or busy then return end
  local n, err = tell_sockets(self)
  if err then error(err, 0) end
  if n > 0 then flush() end
end

--- Stops watching: libcurl goes back to driving its sockets itself
-- (`dify.step` and blocking calls still work); the host is told to forget
-- every socket and the timer.
function Watcher:close()
  if watcher ~= self then return end
  check_host_side("watcher:close")
  -- The host holds handles for what it was told (changes not taken yet it never heard of);
  -- the descriptors it was given are closed once it has let go of them.
  local live = self._told
  watcher = nil
  all.guard = nil
  for fd in pairs(live) do pcall(self._socket, fd, "remove") end
  pcall(self._timer, nil)
  core.unwatch()
end

host.Task, host.Watcher = Task, Watcher
return host
