-- dify.watch through the luv adapter (Debian's lua-luv; Neovim's vim.loop is
-- the same library): tasks run while uv.run() runs, woken only by libcurl's
-- sockets and timer. A 10 ms timer's ticks are counted, never timed.
local support = require("spec.support")
local host_support = require("spec.host_support")
local read_all, plain_51 = host_support.read_all, host_support.plain_51

local has_luv, uv = pcall(require, "luv")

if not has_luv then
  describe("dify.host.luv", function()
    pending("lua-luv is not installed for " .. _VERSION .. " (apt-get install lua-luv; scripts/ci-hostloops does)")
  end)
  return
end

local dify = require("dify")
local luv_host = require("dify.host.luv")

-- Runs the loop until it has nothing left to do (every task ended and the
-- adapter let go of its handles), or gives up after `seconds`.
local function run_loop(seconds)
  local gave_up = false
  local guard = uv.new_timer()
  guard:start((seconds or 15) * 1000, 0, function()
    gave_up = true
    uv.stop()
  end)
  guard:unref() -- only the tasks' sockets and timers keep the loop running
  uv.run()
  guard:close()
  uv.run("nowait")
  return not gave_up
end

-- A 10 ms timer that counts its ticks without keeping the loop alive.
local function ticker()
  local t = { n = 0, handle = uv.new_timer() }
  t.handle:start(10, 10, function() t.n = t.n + 1 end)
  t.handle:unref()
  function t.stop() t.handle:close() end
  return t
end

describe("dify.host.luv", function()
  local srv, client, dripping, adapter

  support.serve(function(s, c)
    srv, client = s, c
    dripping = support.faulty(srv, "drip:50")
  end)

  before_each(function() adapter = luv_host.start() end)
  after_each(function()
    adapter.close()
    assert.is_nil(dify.step(0))
  end)

  it("runs three streams and a blocking call inside uv.run, the loop's timer ticking between events", function()
    local ticks = ticker()
    local at = { {}, {}, {} }
    local tasks = {}
    local query = "one two three four five six seven eight"
    for i = 1, 3 do
      tasks[i] = dify.spawn(function()
        return read_all(assert(dripping:chat_stream{ query = query .. " " .. i }),
          function() table.insert(at[i], ticks.n) end)
      end)
    end
    local stalling = support.faulty(srv, "stall:0.1")
    local chat_tick
    tasks[4] = dify.spawn(function()
      local answer = assert(stalling:chat{ query = "beside" }).answer
      chat_tick = ticks.n
      return answer
    end)
    assert.is_true(run_loop())
    ticks.stop()
    host_support.assert_interleaved(tasks, at, query, chat_tick)
  end)

  it("runs the callback form of a stream inside uv.run, on_event between the loop's ticks", function()
    local ticks = ticker()
    local at, done_text = {}, nil
    dripping:chat_stream{ query = "one two three four five six",
      on_event = function() at[#at + 1] = ticks.n end,
      on_done = function(stream, err) done_text = stream and stream:text() or err end }
    assert.is_true(run_loop())
    ticks.stop()
    assert.equal("Echo: one two three four five six", done_text)
    assert.is_true(host_support.distinct(at) > 2) -- the events fell in several ticks
  end)

  it("cancels a task in flight from a luv callback; the loop then ends on its own", function()
    local stream, events = nil, 0
    local task = dify.spawn(function()
      stream = assert(dripping:chat_stream{ query = "a long answer cut short by the user" })
      read_all(stream, function() events = events + 1 end)
    end)
    local other = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "unhurt" })) end)
    local checker = uv.new_timer()
    checker:start(5, 5, function()
      if events >= 2 then
        checker:close()
        task:cancel()
      end
    end)
    -- The loop ends only if the cancelled transfer let go of its socket and timer.
    assert.is_true(run_loop())
    assert.equal(2, events)
    assert.is_false(stream._core:is_open())
    assert.equal("cancelled", select(2, task:result()).kind)
    assert.same({ true, "Echo: unhurt" }, { other:result() })
  end)

  it("keeps an error in one task on it and leaves the others alone", function()
    local failing = dify.spawn(function()
      read_all(assert(dripping:chat_stream{ query = "first" }))
      error("task broke")
    end)
    local broken = support.faulty(srv, "drip:50, close_mid")
    local dropped = dify.spawn(function() return read_all(assert(broken:chat_stream{ query = "dropped" })) end)
    local fine = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "fine" })) end)
    assert.is_true(run_loop())
    local ok, err = failing:result()
    assert.is_false(ok)
    assert.matches("task broke", err)
    ok, err = dropped:result()
    assert.is_false(ok)
    assert.is_true(dify.errors.is(err)) -- the stream's own error, raised in its task
    assert.same({ true, "Echo: fine" }, { fine:result() })
  end)

  if not plain_51 then
    it("reads a stream with a for loop, and calls one after another, in one task", function()
      local task = dify.spawn(function()
        local first = assert(client:chat{ query = "hello" })
        local text = {}
        for ev in assert(dripping:chat_stream{ query = "then", conversation_id = first.conversation_id }) do
          if ev.event == "message" then text[#text + 1] = ev.answer end
        end
        return first.answer, table.concat(text)
      end)
      assert.is_true(run_loop())
      assert.same({ true, "Echo: hello", "Echo: then" }, { task:result() })
    end)
  end

  it("raises 'use dify.spawn' for a blocking call from a luv callback outside any task", function()
    local raised
    local t = uv.new_timer()
    t:start(1, 0, function()
      t:close()
      local ok, err = pcall(client.chat, client, { query = "would freeze the loop" })
      raised = not ok and err or "no error"
    end)
    assert.is_true(run_loop())
    assert.matches("dify.spawn", raised)
    -- Outside the loop's callbacks a blocking call harms nothing and works.
    assert.equal("Echo: outside", assert(client:chat{ query = "outside" }).answer)
  end)

  it("refuses a second watcher, and a watcher while transfers already run", function()
    assert.equal(adapter, luv_host.start()) -- a plugin calling start() again shares it
    assert.matches("already watches", support.raised(dify.watch, { socket = print, timer = print }))
    adapter.close()
    local stream = assert(dripping:chat_stream{ query = "open outside" })
    assert.matches("close them first", support.raised(luv_host.start))
    stream:close()
    adapter = luv_host.start()
    assert.matches("expected a table", support.raised(dify.watch, {}))
  end)

  it("lets blocking streams outside tasks work while the loop watches", function()
    -- Not inside a callback: the guard lets it through, and the driver polls the sockets itself.
    local text = assert(assert(dripping:chat_stream{ query = "blocking inside watch" }):text())
    assert.equal("Echo: blocking inside watch", text)
    local task = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "then a task" })) end)
    assert.is_true(run_loop())
    assert.same({ true, "Echo: then a task" }, { task:result() })
  end)
end)
