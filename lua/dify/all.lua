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
-- the request.
-- @module dify.all
local core = require("dify.core")

local all = {}

-- The scheduler's own yields carry this, so that a function that yields for
-- its own reasons is told apart.
local PAUSE = {}

-- Coroutines run by a scheduler: only a call on one of them may yield.
local workers = setmetatable({}, { __mode = "k" })

-- Lua 5.1 cannot yield across pcall (which `Client:_send` uses); LuaJIT and 5.2+ can.
local can_yield_in_pcall = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil

local function current_worker()
  local co = coroutine.running()
  return co ~= nil and workers[co] and co or nil
end

--- Carries one attempt of a request (`send` is "request" or "stream") through
-- `session`, as `session[send](session, req)` would; inside dify.all a blocking
-- request yields while it is on the wire.
function all.send(session, send, req)
  if send ~= "request" or not current_worker() then return session[send](session, req) end
  if not session.start then
    error("dify.all: this client's transport cannot run calls together"
      .. " (inside nginx, run them with ngx.thread.spawn)", 0)
  end
  if type(req.output) == "function" or req.on_progress ~= nil then
    -- They would run on whichever coroutine drives the network, not on this call's.
    error("dify.all: output functions and on_progress are not supported inside dify.all"
      .. " (an output path is)", 0)
  end
  local call, kind, message, which, sent = session:start(req)
  if not call then return nil, kind, message, which, sent end
  coroutine.yield(PAUSE, call)
  return call:result()
end

--- Waits `seconds` between retries: inside dify.all with the default sleep,
-- only this call's coroutine waits; otherwise `sleep(seconds)`.
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
  if not can_yield_in_pcall then return run_in_turn(fns) end

  local tasks, results = {}, {}
  local function close_all()
    for _, task in ipairs(tasks) do
      if task.call then task.call:close() end
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
    local calls, owner, soonest = {}, {}, nil
    for i, task in ipairs(tasks) do
      if task.call then
        calls[#calls + 1], owner[#calls + 1] = task.call, i
      elseif task.wake and (not soonest or task.wake < soonest) then
        soonest = task.wake
      end
    end
    if #calls == 0 and not soonest then break end
    local now = core.now()
    if soonest and soonest <= now then
      for i, task in ipairs(tasks) do
        if task.wake and task.wake <= now then step(i) end
      end
    elseif #calls == 0 then
      core.sleep(soonest - now)
    else
      local k = core.wait_any(calls, first, soonest and soonest - now or nil)
      if k then
        first = k + 1
        step(owner[k])
      end
    end
  end
  return results
end

return all
