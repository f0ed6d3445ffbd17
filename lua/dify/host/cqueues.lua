--- dify.watch on cqueues (Debian's `lua-cqueues`).
--
--     local cq = require("cqueues").new()
--     require("dify.host.cqueues").start(cq)
--     dify.spawn(function() ... end)       -- from anywhere: main code or a cqueues coroutine
--     assert(cq:loop())
--
-- One coroutine of the controller polls the sockets libcurl names and its
-- timer, and hands what is ready to the watcher; it runs while lua-dify has
-- tasks or sockets, so `cq:loop()` returns once every task has ended. A task
-- must not call cqueues' own waits (cqueues.poll, cqueues.sleep, socket
-- reads): it would yield to lua-dify's scheduler, which fails it.
-- @module dify.host.cqueues
local cqueues = require("cqueues")
local condition = require("cqueues.condition")
local dify = require("dify")
local host = require("dify.host")

local cqueues_host = {}

local EVENTS = { ["in"] = "r", out = "w", inout = "rw" }
local unpack = table.unpack or unpack -- luacheck: ignore 143

-- A socket as cqueues polls it.
local Pollable = {}
Pollable.__index = Pollable
function Pollable:pollfd() return self.fd end
function Pollable:events() return self.ev end
function Pollable.timeout() return nil end

-- The adapter of this Lua state, once started.
local running

--- Starts driving lua-dify's tasks from a cqueues controller, or returns the
-- adapter already started on it.
-- @param[opt] cq the controller (default: a new one, `adapter.cq`)
-- @treturn table the adapter: `cq`, `watcher` (see dify.watch) and `close()`
function cqueues_host.start(cq)
  if running then
    if cq == nil or cq == running.cq then return running end
    error("dify.host.cqueues.start: already started on another controller", 2)
  end
  cq = cq or cqueues.new()
  local watched = {} -- fd -> Pollable
  local deadline -- of the watcher's timer, on cqueues.monotime()
  local changed = condition.new()
  local looping = false
  local watcher

  local function loop()
    while watcher and (next(watched) or deadline or host.running() > 0) do
      local list, n = { changed }, 1
      for _, p in pairs(watched) do
        n = n + 1
        list[n] = p
      end
      if deadline then
        n = n + 1
        list[n] = math.max(0, deadline - cqueues.monotime())
      end
      local ready = { cqueues.poll(unpack(list, 1, n)) }
      for _, p in ipairs(ready) do
        -- (poll also returns its timeout, and the condition)
        if watcher and type(p) == "table" and watched[p.fd] == p then watcher:ready(p.fd, p.ev) end
      end
      if watcher and deadline and cqueues.monotime() >= deadline then
        deadline = nil
        watcher:timeout()
      end
    end
    looping = false
  end

  local function wake()
    changed:signal()
    if not looping then
      looping = true
      cq:wrap(loop)
    end
  end

  watcher = dify.watch{
    socket = function(fd, what)
      if what == "remove" then
        watched[fd] = nil
        -- Every controller forgets the descriptor before it is closed (cqueues
        -- fails on a registration it holds for a closed one).
        cqueues.cancel(fd)
      else
        watched[fd] = setmetatable({ fd = fd, ev = EVENTS[what] }, Pollable)
      end
      wake()
    end,
    timer = function(ms)
      deadline = ms and cqueues.monotime() + ms / 1000 or nil
      wake()
    end,
    -- Any code that runs under a controller (outside lua-dify's tasks) would stall it.
    guard = function() return cqueues.running() ~= nil end,
  }

  local adapter = { cq = cq, watcher = watcher }

  --- Stops: lua-dify drives its sockets itself again.
  function adapter.close()
    if running ~= adapter then return end
    running = nil
    local w = watcher
    watcher = nil
    w:close()
    changed:signal()
  end

  running = adapter
  return adapter
end

return cqueues_host
