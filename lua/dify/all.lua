--- Blocking calls that run together: `dify.all`.
--
--     local r = dify.all{
--       function() return client:chat{ query = "one" } end,
--       function() return client:chat{ query = "two" } end,
--     }
--     local answer, err = r[1][1], r[1][2]
--
-- Each function runs in a coroutine of its own. When a blocking call of a
-- libcurl client is about to wait for its answer, it is started on the Lua
-- state's driver (the multi handle that also moves every stream) and its
-- coroutine yields; the scheduler here waits for whichever call finishes and
-- resumes that coroutine. Retries, hooks and error mapping are those of a plain
-- call: `Client:_exchange` runs unchanged and only asks `send` below to carry
-- the request. Streams opened and read inside such a coroutine pause it the
-- same way.
--
-- The same coroutines, run by another scheduler, are the tasks of dify.spawn
-- (lua/dify/host.lua): a coroutine pauses with `coroutine.yield(PAUSE, what,
-- wake)`, where `what` is a started call, a core stream or a list of them
-- (resumed with the index of a ready one), and `wake` a time of core.now().
-- @module dify.all
local core = require("dify.core")

local all = {}

-- The scheduler's own yields carry this, so that a function that yields for
-- its own reasons is told apart.
local PAUSE = {}
all.PAUSE = PAUSE

-- Coroutines run by a scheduler: only a call on one of them may yield. The
-- core's own table (weak keys): a core stream read on one of them answers
-- false rather than wait.
local workers = core.workers
all.workers = workers

-- What each worker has started (weak both ways), for closing when its task is cancelled.
local owned = setmetatable({}, { __mode = "k" })

-- Lua 5.1 cannot yield across pcall (which `Client:_send` uses); LuaJIT and 5.2+ can.
local can_yield_in_pcall = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil

local function current_worker()
  local co = coroutine.running()
  return co ~= nil and workers[co] and co or nil
end
all.current_worker = current_worker

--- Set by a host loop (dify.watch): a function answering true where a call
-- that blocks would freeze the host, which then raises instead.
all.guard = nil

local function check_guard()
  local guard = all.guard
  if guard and guard() then
    error("dify: this call would block the host's event loop; run it inside a task:"
      .. " dify.spawn(function() ... end)", 0)
  end
end
all.check_guard = check_guard

local function own(co, thing)
  local things = owned[co]
  if not things then
    things = setmetatable({}, { __mode = "k" })
    owned[co] = things
  end
  things[thing] = true
end

--- Closes every call and stream that worker `co` started and has not let go.
function all.close_owned(co)
  local things = owned[co]
  owned[co] = nil
  for thing in pairs(things or {}) do thing:close() end
end

--- Pauses the running worker until `what` (a started call, a core stream, or
-- a list of them) is ready, or until time `wake`; returns what its scheduler
-- resumes it with (for a list, the index of a ready one; nil when `wake` came first).
function all.pause(what, wake)
  return coroutine.yield(PAUSE, what, wake)
end

--- Carries one attempt of a request (`send` is "request" or "stream") through
-- `session`, as `session[send](session, req)` would; inside dify.all or a task
-- the request yields while it is on the wire.
function all.send(session, send, req)
  local co = current_worker()
  if not co then
    if all.guard then check_guard() end
    return session[send](session, req)
  end
  local start = send == "request" and session.start or session.start_stream
  if not start then
    -- A transport of its own may still open streams the blocking way.
    if send == "stream" then return session:stream(req) end
    error("dify.all, dify.spawn: this client's transport cannot run calls together"
      .. " (inside nginx, run them with ngx.thread.spawn)", 0)
  end
  if type(req.output) == "function" or req.on_progress ~= nil then
    -- They would run on whichever coroutine drives the network, not on this call's.
    error("dify.all, dify.spawn: output functions and on_progress are not supported inside"
      .. " dify.all or a task (an output path is)", 0)
  end
  local call, kind, message, which, sent = start(session, req)
  if not call then return nil, kind, message, which, sent end
  own(co, call)
  coroutine.yield(PAUSE, call)
  if send == "request" then return call:result() end
  return call:opened()
end

--- Waits for a core stream that answered false to next() on a worker (see
-- dify.stream): the worker pauses until it has an event or has ended.
function all.wait_stream(core_stream)
  if current_worker() then
    coroutine.yield(PAUSE, core_stream)
  else
    core.wait_any({ core_stream })
  end
end

--- core.wait_any for dify.multiplex and dify.all: inside a worker, the worker
-- pauses instead (the scheduler above it waits for all at once).
function all.wait_any(list, first, timeout)
  if current_worker() then
    -- What is ready now is taken without a pause (and keeps `first`'s fairness).
    local k = core.wait_any(list, first, 0)
    if k or timeout == 0 then return k end
    return all.pause(list, timeout and core.now() + timeout or nil)
  end
  if all.guard then check_guard() end
  return core.wait_any(list, first, timeout)
end

--- Waits `seconds` between retries: inside dify.all or a task with the
-- default sleep, only this call's coroutine waits; otherwise `sleep(seconds)`.
function all.sleep(sleep, seconds)
  if sleep == core.sleep and current_worker() then
    coroutine.yield(PAUSE, nil, core.now() + seconds)
  else
    sleep(seconds)
  end
end

local function pack(...)
  return { n = select("#", ...), ... }
end

local function run_in_turn(fns)
  local results = {}
  for i, f in ipairs(fns) do results[i] = pack(f()) end
  return results
end

--- Runs every function of `fns` together and returns, in order, what each
-- returned: `results[i]` is the list of function i's return values, with `n`
-- (so `{answer, n = 1}` or `{nil, err, n = 2}`). Blocking calls of libcurl
-- clients made by the functions progress together; anything else in them runs
-- in turn. When a function raises, the calls still on the wire are closed and
-- the error is raised again from dify.all.
-- @tparam {function,...} fns
-- @treturn {table,...}
function all.run(fns)
  if type(fns) ~= "table" then error("dify.all: expected a list of functions", 2) end
  for i = 1, #fns do
    if type(fns[i]) ~= "function" then error(("dify.all: item #%d is not a function"):format(i), 2) end
  end
  if all.guard and not current_worker() then check_guard() end
  if not can_yield_in_pcall then return run_in_turn(fns) end

  local tasks, results = {}, {}
  local function close_all()
    for _, task in ipairs(tasks) do
      all.close_owned(task.co)
      task.call, task.wake = nil, nil
      workers[task.co] = nil
    end
  end
  local function step(i, ...)
    local task = tasks[i]
    task.call, task.wake = nil, nil
    local r = pack(coroutine.resume(task.co, ...))
    if not r[1] then
      close_all()
      error(r[2], 0)
    end
    if coroutine.status(task.co) == "dead" then
      workers[task.co] = nil
      results[i] = pack(select(2, (table.unpack or unpack)(r, 1, r.n)))
    elseif r[2] ~= PAUSE then
      close_all()
      error(("dify.all: function #%d yielded; only its dify calls may pause it"):format(i), 0)
    else
      task.call, task.wake = r[3], r[4]
    end
  end

  for i, f in ipairs(fns) do
    tasks[i] = { co = coroutine.create(f) }
    workers[tasks[i].co] = true
  end
  for i = 1, #tasks do step(i) end
  local first = 1
  while true do
    local calls, owner, at, n, soonest = {}, {}, {}, 0, nil
    for i, task in ipairs(tasks) do
      local what = task.call
      if type(what) == "table" then
        -- A list (dify.multiplex, or dify.all inside this one): resumed with the ready one's index.
        for j, call in ipairs(what) do
          n = n + 1
          calls[n], owner[n], at[n] = call, i, j
        end
      elseif what then
        n = n + 1
        calls[n], owner[n] = what, i
      end
      if task.wake and (not soonest or task.wake < soonest) then soonest = task.wake end
    end
    if n == 0 and not soonest then break end
    local now = core.now()
    if soonest and soonest <= now then
      for i, task in ipairs(tasks) do
        if task.wake and task.wake <= now then step(i) end
      end
    elseif n == 0 then
      all.sleep(core.sleep, soonest - now)
    else
      local k = all.wait_any(calls, first, soonest and soonest - now or nil)
      if k then
        first = k + 1
        step(owner[k], at[k])
      end
    end
  end
  return results
end

return all
