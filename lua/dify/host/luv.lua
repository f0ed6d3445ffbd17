--- dify.watch on luv: Neovim's `vim.loop` and Debian's `lua-luv`.
--
--     local dify = require("dify")
--     require("dify.host.luv").start()   -- vim.loop inside Neovim, else require("luv")
--     dify.spawn(function() ... end)      -- runs while the loop runs
--     uv.run()                            -- plain luv (Neovim runs its own loop)
--
-- Each socket libcurl names gets a poll handle, its timer one timer handle;
-- a prepare handle, run before the loop waits, tells the loop of sockets that
-- changed outside any task (a stream closed by the collector). Inside Neovim,
-- luv callbacks are "fast events" where most of `vim.api` is refused, so the
-- tasks run from `vim.schedule` instead: a task may write to buffers.
-- @module dify.host.luv
local dify = require("dify")

local luv_host = {}

local EVENTS = { ["in"] = "r", out = "w", inout = "rw" }

-- The adapter of this Lua state, once started.
local running

-- Whether the caller runs inside uv.run (a luv callback): the C function is on the stack.
local function inside(fn)
  local level = 3
  while true do
    local info = debug.getinfo(level, "f")
    if not info then return false end
    if info.func == fn then return true end
    level = level + 1
  end
end

--- Starts driving lua-dify's tasks from a luv loop, or returns the adapter
-- already started (so that several plugins may each call it).
-- @tparam[opt] table opts `uv` (default `vim.loop` inside Neovim, else
--  `require("luv")`), `schedule` (a function that runs a function soon outside
--  the loop's callbacks; default `vim.schedule` inside Neovim, none elsewhere:
--  tasks then run inside the callbacks)
-- @treturn table the adapter: `watcher` (see dify.watch) and `close()`
function luv_host.start(opts)
  if opts ~= nil and type(opts) ~= "table" then error("dify.host.luv.start: opts must be a table", 2) end
  opts = opts or {}
  if running then return running end
  local vim = rawget(_G, "vim")
  local uv = opts.uv or (vim and vim.loop) or require("luv")
  local schedule = opts.schedule
  if schedule == nil and vim and vim.schedule then schedule = vim.schedule end
  if schedule ~= nil and type(schedule) ~= "function" then
    error("dify.host.luv.start: schedule must be a function", 2)
  end

  local polls = {} -- fd -> { handle, events, cb }
  local timer = uv.new_timer()
  local prepare = uv.new_prepare()
  local watcher
  -- With schedule: what the callbacks saw, handed over in one scheduled run.
  local pending, paused, timer_due, scheduled = {}, {}, false, false

  local function run_pending()
    scheduled = false
    if not watcher then return end
    local batch, due = pending, timer_due
    pending, timer_due = {}, false
    for fd, events in pairs(batch) do watcher:ready(fd, events) end
    if due then watcher:timeout() end
    -- Polls stopped until this run (the socket stays ready until libcurl reads it).
    for fd in pairs(paused) do
      local p = polls[fd]
      if p then p.handle:start(p.events, p.cb) end
    end
    paused = {}
  end

  local function later()
    if not scheduled then
      scheduled = true
      schedule(run_pending)
    end
  end

  local function poll_callback(fd)
    return function(err, events)
      if not watcher then return end
      events = err and "e" or events
      if not schedule then return watcher:ready(fd, events) end
      local p = polls[fd]
      if p then
        p.handle:stop()
        paused[fd] = true
      end
      pending[fd] = (pending[fd] or "") .. events
      later()
    end
  end

  local function on_timer()
    if not watcher then return end
    if not schedule then return watcher:timeout() end
    timer_due = true
    later()
  end

  local guard
  if vim and vim.in_fast_event then
    guard = function() return vim.in_fast_event() end
  else
    guard = function() return inside(uv.run) end
  end

  watcher = dify.watch{
    socket = function(fd, what)
      local p = polls[fd]
      if what == "remove" then
        if p then
          polls[fd], paused[fd] = nil, nil
          -- Stopped at once, so that a new handle may take the same number.
          p.handle:stop()
          p.handle:close()
        end
        return
      end
      if not p then
        local handle, why = uv.new_socket_poll(fd)
        if not handle then error("dify.host.luv: cannot poll socket " .. fd .. ": " .. tostring(why), 0) end
        p = { handle = handle, cb = poll_callback(fd) }
        polls[fd] = p
      end
      p.events = EVENTS[what]
      paused[fd] = nil
      p.handle:start(p.events, p.cb)
    end,
    timer = function(ms)
      if ms then
        timer:start(ms, 0, on_timer)
      else
        timer:stop()
      end
    end,
    guard = guard,
  }

  prepare:start(function()
    if watcher then watcher:flush() end
  end)
  -- Neither keeps the loop alive by itself: only sockets and due timers do.
  prepare:unref()

  local adapter = { watcher = watcher, uv = uv }

  --- Stops: lua-dify drives its sockets itself again; the loop's handles are closed.
  function adapter.close()
    if running ~= adapter then return end
    running = nil
    local w = watcher
    watcher = nil
    w:close()
    for fd, p in pairs(polls) do
      polls[fd] = nil
      if not p.handle:is_closing() then p.handle:close() end
    end
    timer:close()
    prepare:close()
    -- Close callbacks run on the loop's next turn; luv crashes at exit when a
    -- closed handle never saw one. Inside a callback (or Neovim) the loop goes on anyway.
    if not vim and not inside(uv.run) then uv.run("nowait") end
  end

  running = adapter
  return adapter
end

return luv_host
