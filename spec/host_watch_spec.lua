-- dify.watch with a host loop written here (LuaSocket's select over the
-- sockets libcurl names, and one timer), on every Lua: what an adapter for
-- any event loop has to do, and what it is told.
local dify = require("dify")
local socket = require("socket")
local support = require("spec.support")
local host_support = require("spec.host_support")
local distinct, read_all = host_support.distinct, host_support.read_all

-- An event loop of the simplest kind, driving one watcher.
local function new_host()
  local host = { watched = {}, told = {}, timer_at = nil, turns = 0, in_callback = false }
  host.watcher = dify.watch{
    socket = function(fd, what)
      host.told[#host.told + 1] = what
      host.watched[fd] = what ~= "remove" and what or nil
    end,
    timer = function(ms)
      host.timer_at = ms and socket.gettime() + ms / 1000 or nil
    end,
    guard = function() return host.in_callback end,
  }
  -- One turn: waits for a watched socket or the timer, then tells the watcher.
  function host.turn()
    host.turns = host.turns + 1
    local readers, writers = {}, {}
    for fd, what in pairs(host.watched) do
      local handle = { getfd = function() return fd end, fd = fd }
      if what ~= "out" then readers[#readers + 1] = handle end
      if what ~= "in" then writers[#writers + 1] = handle end
    end
    local wait = host.timer_at and math.max(0, host.timer_at - socket.gettime()) or 1
    local readable, writable = socket.select(readers, writers, math.min(wait, 1))
    host.in_callback = true
    local ok, err = pcall(function()
      for _, handle in ipairs(readable) do host.watcher:ready(handle.fd, "r") end
      for _, handle in ipairs(writable) do host.watcher:ready(handle.fd, "w") end
      if host.timer_at and socket.gettime() >= host.timer_at then
        host.timer_at = nil
        host.watcher:timeout()
      end
      if host.on_turn then host.on_turn() end
    end)
    host.in_callback = false
    if not ok then error(err, 0) end
  end
  function host.run_until(done)
    while not done() do
      host.turn()
      assert(host.turns < 5000, "the tasks did not end")
    end
  end
  return host
end

describe("dify.watch driven by a host loop of its own", function()
  local srv, client, dripping, host

  support.serve(function(s, c)
    srv, client = s, c
    dripping = support.faulty(srv, "drip:50")
  end)

  before_each(function() host = new_host() end)
  after_each(function() host.watcher:close() end)

  it("names the sockets to watch and when to call back, and lets go of all once the tasks end", function()
    local at = { {}, {} }
    local tasks = {}
    for i = 1, 2 do
      tasks[i] = dify.spawn(function()
        return read_all(assert(dripping:chat_stream{ query = "watched stream " .. i }),
          function() table.insert(at[i], host.turns) end)
      end)
    end
    tasks[3] = dify.spawn(function() return assert(client:chat{ query = "watched call" }).answer end)
    -- Spawning started the transfers: libcurl asked for a turn at once.
    assert.is_not_nil(host.timer_at)
    host.run_until(function() return tasks[1]:done() and tasks[2]:done() and tasks[3]:done() end)
    assert.same({ true, "Echo: watched stream 1" }, { tasks[1]:result() })
    assert.same({ true, "Echo: watched stream 2" }, { tasks[2]:result() })
    assert.same({ true, "Echo: watched call" }, { tasks[3]:result() })
    for i = 1, 2 do
      assert.is_true(distinct(at[i]) >= #at[i] / 2 and at[i][#at[i]] > at[i][1])
    end
    -- Every socket it was told to watch, it was told to forget; and no timer is left.
    assert.is_nil(next(host.watched))
    assert.is_nil(host.timer_at)
    local watch, remove = 0, 0
    for _, what in ipairs(host.told) do
      if what == "remove" then remove = remove + 1 else watch = watch + 1 end
    end
    assert.is_true(watch >= 3 and remove >= 3)
  end)

  it("closes a cancelled task's socket: the host is told to forget it", function()
    local events = 0
    local task = dify.spawn(function()
      read_all(assert(dripping:chat_stream{ query = "to be cancelled" }), function() events = events + 1 end)
    end)
    host.run_until(function() return events >= 1 end)
    assert.is_not_nil(next(host.watched))
    task:cancel()
    assert.is_nil(next(host.watched))
    assert.is_nil(host.timer_at)
    assert.equal("cancelled", select(2, task:result()).kind)
  end)

  it("raises 'use dify.spawn' for a blocking call where the guard says the host would freeze", function()
    local raised = {}
    host.on_turn = function()
      host.on_turn = nil
      raised[1] = support.raised(client.chat, client, { query = "inside a callback" })
      raised[2] = support.raised(dify.all, { function() end })
      raised[3] = support.raised(client.chat_stream, client, { query = "a stream too" })
    end
    host.turn()
    for i = 1, 3 do assert.matches("would block the host's event loop; run it inside a task: dify.spawn", raised[i]) end
    -- Outside the host's callbacks, the same call works.
    assert.equal("Echo: outside", assert(client:chat{ query = "outside" }).answer)
  end)

  it("goes on with dify.step and blocking streams once closed", function()
    host.watcher:close()
    local task = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "polled" })) end)
    while dify.step(1) do end
    assert.same({ true, "Echo: polled" }, { task:result() })
    host = new_host() -- for after_each
  end)

  it("raises on a caller's mistake", function()
    assert.matches("already watches", support.raised(dify.watch, { socket = print, timer = print }))
    host.watcher:close()
    assert.matches("expected a table with socket and timer", support.raised(dify.watch, { socket = print }))
    assert.matches("guard must be a function",
      support.raised(dify.watch, { socket = print, timer = print, guard = 1 }))
    assert.matches("closed", support.raised(host.watcher.ready, host.watcher, 3, "r"))
    host = new_host()
  end)
end)
