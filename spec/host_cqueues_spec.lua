-- dify.watch through the cqueues adapter (Debian's lua-cqueues): tasks run
-- while cq:loop() runs, beside the controller's own coroutines. A coroutine
-- sleeping 10 ms at a time counts ticks; they are counted, never timed.
local support = require("spec.support")
local host_support = require("spec.host_support")
local read_all, plain_51 = host_support.read_all, host_support.plain_51

local has_cqueues, cqueues = pcall(require, "cqueues")

if not has_cqueues then
  describe("dify.host.cqueues", function()
    pending("lua-cqueues is not installed for " .. _VERSION
      .. " (apt-get install lua-cqueues; scripts/ci-hostloops does)")
  end)
  return
end

local dify = require("dify")
local cqueues_host = require("dify.host.cqueues")

-- Runs the controller until every coroutine (lua-dify's among them) is done.
local function loop(cq)
  local ok, err = cq:loop(30)
  assert(ok, err)
  assert.is_true(cq:empty(), "the controller still had coroutines after 30 s")
end

-- A coroutine ticking every 10 ms until stop() is called.
local function ticker(cq)
  local t = { n = 0, running = true }
  cq:wrap(function()
    while t.running do
      cqueues.sleep(0.01)
      t.n = t.n + 1
    end
  end)
  function t.stop() t.running = false end
  return t
end

describe("dify.host.cqueues", function()
  local srv, client, dripping, cq, adapter

  support.serve(function(s, c)
    srv, client = s, c
    dripping = support.faulty(srv, "drip:50")
  end)

  before_each(function()
    cq = cqueues.new()
    adapter = cqueues_host.start(cq)
  end)
  after_each(function()
    adapter.close()
    assert.is_nil(dify.step(0))
  end)

  it("runs three streams and a blocking call inside cq:loop(), another coroutine ticking between events", function()
    local ticks = ticker(cq)
    local at = { {}, {}, {} }
    local tasks, ended = {}, 0
    local function count_end() ended = ended + 1; if ended == 4 then ticks.stop() end end
    local query = "one two three four five six seven eight"
    for i = 1, 3 do
      tasks[i] = dify.spawn(function()
        return read_all(assert(dripping:chat_stream{ query = query .. " " .. i }),
          function() table.insert(at[i], ticks.n) end)
      end, { on_done = count_end })
    end
    local stalling = support.faulty(srv, "stall:0.1")
    local chat_tick
    tasks[4] = dify.spawn(function()
      local answer = assert(stalling:chat{ query = "beside" }).answer
      chat_tick = ticks.n
      return answer
    end, { on_done = count_end })
    loop(cq)
    host_support.assert_interleaved(tasks, at, query, chat_tick)
  end)

  it("spawns from a cqueues coroutine and cancels in flight from another; the loop then ends", function()
    local stream, events, task = nil, 0, nil
    local other
    cq:wrap(function()
      task = dify.spawn(function()
        stream = assert(dripping:chat_stream{ query = "a long answer cut short" })
        read_all(stream, function() events = events + 1 end)
      end)
      other = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "unhurt" })) end)
    end)
    cq:wrap(function()
      while events < 2 do cqueues.sleep(0.005) end
      task:cancel()
    end)
    loop(cq)
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
    local fine = dify.spawn(function() return read_all(assert(dripping:chat_stream{ query = "fine" })) end)
    local answered = dify.spawn(function() return assert(client:chat{ query = "call" }).answer end)
    loop(cq)
    local ok, err = failing:result()
    assert.is_false(ok)
    assert.matches("task broke", err)
    assert.same({ true, "Echo: fine" }, { fine:result() })
    assert.same({ true, "Echo: call" }, { answered:result() })
  end)

  if not plain_51 then
    it("reads a stream with a for loop inside a task", function()
      local task = dify.spawn(function()
        local text = {}
        for ev in assert(dripping:chat_stream{ query = "for loop" }) do
          if ev.event == "message" then text[#text + 1] = ev.answer end
        end
        return table.concat(text)
      end)
      loop(cq)
      assert.same({ true, "Echo: for loop" }, { task:result() })
    end)
  end

  it("raises 'use dify.spawn' for a blocking call from a cqueues coroutine outside any task", function()
    local raised
    cq:wrap(function()
      raised = support.raised(client.chat, client, { query = "would stall the controller" })
    end)
    loop(cq)
    assert.matches("dify.spawn", raised)
    assert.equal("Echo: outside", assert(client:chat{ query = "outside" }).answer)
  end)

  it("refuses to start on a second controller while the first is watched", function()
    assert.equal(adapter, cqueues_host.start(cq))
    assert.matches("another controller", support.raised(cqueues_host.start, cqueues.new()))
  end)
end)
