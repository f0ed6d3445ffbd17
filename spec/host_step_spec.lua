-- dify.spawn and dify.step: tasks inside a loop that polls (a game's frame
-- callback, an idle handler), in plain Lua. Frames are counted, never timed.
local dify = require("dify")
local core = require("dify.core")
local support = require("spec.support")
local host_support = require("spec.host_support")
local distinct, read_all, plain_51 = host_support.distinct, host_support.read_all, host_support.plain_51

local frames_until, MAX_FRAMES = host_support.frames_until, host_support.MAX_FRAMES

local function all_done(tasks)
  return function()
    for _, task in ipairs(tasks) do
      if not task:done() then return false end
    end
    return true
  end
end

describe("dify.spawn and dify.step(0) in a frame loop", function()
  local srv, client, dripping

  support.serve(function(s, c)
    srv, client = s, c
    dripping = support.faulty(srv, "drip:50")
  end)

  after_each(function()
    -- No test leaves a task behind for the next.
    assert.is_nil(dify.step(0))
  end)

  it("completes three streams and a blocking call while frames keep running between their events", function()
    local frame = 0
    local at = { {}, {}, {} } -- the frame of each event, per stream
    local tasks = {}
    local query = "one two three four five six seven eight nine ten"
    for i = 1, 3 do
      tasks[i] = dify.spawn(function()
        local stream = assert(dripping:chat_stream{ query = query .. " " .. i })
        return read_all(stream, function() table.insert(at[i], frame) end)
      end)
    end
    local stalling = support.faulty(srv, "stall:0.1")
    local chat_frame
    tasks[4] = dify.spawn(function()
      local answer = assert(stalling:chat{ query = "beside the streams" })
      chat_frame = frame
      return answer.answer
    end)
    -- Spawning ran each task up to its first wait: nothing has arrived yet.
    for i = 1, 3 do assert.equal(0, #at[i]) end

    frames_until(all_done(tasks), function(n) frame = n end)

    for i = 1, 3 do
      local ok, answer = tasks[i]:result()
      assert.is_true(ok)
      -- The whole answer, as the same query gives without a task.
      assert.equal(assert(client:chat{ query = query .. " " .. i }).answer, answer)
      local frames = at[i]
      assert.is_true(#frames >= 11)
      -- Frames ran while the stream was in progress: its events came in many frames (all
      -- in one, had the stream blocked them), not two of them in one frame unless the
      -- machine is slow (valgrind) and the second was already waiting.
      assert.is_true(distinct(frames) >= #frames / 2, ("stream %d: %d frames"):format(i, distinct(frames)))
      assert.is_true(frames[#frames] > frames[1])
    end
    assert.same({ true, "Echo: beside the streams" }, { tasks[4]:result() })
    -- Together, not one after the other: every stream had begun before any ended,
    -- and the blocking call was answered while all three were still streaming.
    for i = 1, 3 do
      for j = 1, 3 do assert.is_true(at[i][1] < at[j][#at[j]]) end
      assert.is_true(chat_frame < at[i][#at[i]])
    end
  end)

  it("runs a task at once up to its first wait, and hands what it returns to on_done once", function()
    local order, calls = {}, {}
    local task = dify.spawn(function()
      order[#order + 1] = "task starts"
      local answer = assert(client:chat{ query = "x" })
      order[#order + 1] = "task has its answer"
      return answer.answer, 42
    end, { on_done = function(...) calls[#calls + 1] = { n = select("#", ...), ... } end })
    order[#order + 1] = "spawn returned"
    assert.is_false(task:done())
    frames_until(function() return task:done() end)
    assert.same({ "task starts", "spawn returned", "task has its answer" }, order)
    assert.same({ { true, "Echo: x", 42, n = 3 } }, calls)
    assert.same({ true, "Echo: x", 42 }, { task:result() })
    assert.equal("dify.task (done)", tostring(task))
  end)

  it("keeps an error inside a task on the task and leaves the other tasks alone", function()
    local seen
    local failing = dify.spawn(function()
      assert(client:chat{ query = "first" })
      error({ mine = true })
    end, { on_done = function(ok, err) seen = { ok, err } end })
    local fine = dify.spawn(function()
      return read_all(assert(dripping:chat_stream{ query = "still here" }))
    end)
    -- The error is not raised from dify.step.
    frames_until(all_done{ failing, fine })
    assert.same({ false, { mine = true } }, seen)
    assert.same({ false, { mine = true } }, { failing:result() })
    assert.same({ true, "Echo: still here" }, { fine:result() })
  end)

  it("returns a failing call's error to the task as a plain call does", function()
    local failing = support.faulty(srv, "status:400:invalid_param")
    local task = dify.spawn(function() return failing:chat{ query = "x" } end)
    frames_until(function() return task:done() end)
    local ok, answer, err = task:result()
    assert.is_true(ok)
    assert.is_nil(answer)
    assert.equal("api", err.kind)
    assert.equal("invalid_param", err.code)
  end)

  it("cancels a task in flight: its stream is closed at once and it ends as cancelled", function()
    local stream, events, done_with = nil, 0, nil
    local task = dify.spawn(function()
      stream = assert(dripping:chat_stream{ query = "a long answer that will not be read to its end" })
      read_all(stream, function() events = events + 1 end)
    end, { on_done = function(ok, err) done_with = { ok, err } end })
    frames_until(function() return events >= 2 end)
    assert.is_true(stream._core:is_open())
    assert.is_true(task:cancel())
    assert.is_false(stream._core:is_open())
    assert.is_true(task:done())
    local ok, err = task:result()
    assert.is_false(ok)
    assert.equal("cancelled", err.kind)
    assert.same({ false, err }, done_with)
    assert.equal("dify.task (cancelled)", tostring(task))
    -- Frames go on; the task does not come back.
    for _ = 1, 5 do dify.step(0) end
    assert.equal(2, events)
    assert.is_false(task:cancel())
  end)

  it("cancels a task waiting on a blocking call", function()
    local slow = support.faulty(srv, "stall:5")
    local task = dify.spawn(function() return slow:chat{ query = "never answered" } end)
    dify.step(0)
    assert.is_true(task:cancel())
    assert.equal("cancelled", select(2, task:result()).kind)
    -- The driver is fine afterwards.
    local after = dify.spawn(function() return assert(client:chat{ query = "after" }).answer end)
    frames_until(function() return after:done() end)
    assert.same({ true, "Echo: after" }, { after:result() })
  end)

  it("waits between retries without holding the frames", function()
    local attempts = {}
    local frame = 0
    local flaky = support.faulty(srv, "status:503, times:1", {
      retry_base_delay = 0.05,
      on_request = function(info) attempts[info.attempt] = frame end,
    })
    local task = dify.spawn(function() return assert(flaky:parameters()) end)
    frames_until(function() return task:done() end, function(n) frame = n end)
    assert.is_true(task:result())
    assert.equal(2, #attempts)
    assert.is_true(attempts[2] > attempts[1] + 1)
  end)

  it("reads a stream opened outside any task from inside one", function()
    local stream = assert(dripping:chat_stream{ query = "opened outside" })
    local frame, at = 0, {}
    local task = dify.spawn(function()
      return read_all(stream, function() at[#at + 1] = frame end)
    end)
    frames_until(function() return task:done() end, function(n) frame = n end)
    assert.same({ true, "Echo: opened outside" }, { task:result() })
    assert.is_true(distinct(at) >= #at / 2 and at[#at] > at[1])
  end)

  it("runs dify.multiplex and dify.all inside a task without holding the frames", function()
    local frame, at = 0, {}
    local task = dify.spawn(function()
      local a = assert(dripping:chat_stream{ query = "left side" })
      local b = assert(dripping:chat_stream{ query = "right side" })
      local texts = { [a] = {}, [b] = {} }
      -- Its iterator called by hand: plain Lua 5.1 cannot pause inside a for loop's.
      local next_event = dify.multiplex{ a, b }
      while true do
        local stream, ev, err = next_event()
        if not stream then break end
        assert(not err, err)
        at[#at + 1] = frame
        if ev.event == "message" then table.insert(texts[stream], ev.answer) end
      end
      local stalling = support.faulty(srv, "stall:0.2")
      local before = frame
      local results = dify.all{
        function() return stalling:chat{ query = "all one" } end,
        function() return stalling:chat{ query = "all two" } end,
      }
      return table.concat(texts[a]), table.concat(texts[b]), results[1][1].answer, results[2][1].answer,
        frame - before
    end)
    frames_until(function() return task:done() end, function(n) frame = n end)
    local ok, left, right, one, two, frames_during_all = task:result()
    assert.is_true(ok, left)
    assert.same({ "Echo: left side", "Echo: right side", "Echo: all one", "Echo: all two" }, { left, right, one, two })
    assert.is_true(frames_during_all > 1)
    -- Two streams' events 50 ms apart arrive over many frames, not in one.
    assert.is_true(distinct(at) >= #at / 2)
  end)

  if plain_51 then
    it("on plain Lua 5.1 fails a task that reads a stream with a for loop, saying why", function()
      local task = dify.spawn(function()
        for _ in assert(dripping:chat_stream{ query = "for" }) do end
      end)
      frames_until(function() return task:done() end)
      local ok, err = task:result()
      assert.is_false(ok)
      assert.matches("Lua 5.1 cannot pause a task inside a for loop", err)
    end)
  else
    it("reads a stream with a for loop and its text() inside a task", function()
      local frame, at = 0, {}
      local task = dify.spawn(function()
        for ev in assert(dripping:chat_stream{ query = "for loop" }) do
          if ev.event == "message" then at[#at + 1] = frame end
        end
        local text = assert(assert(dripping:chat_stream{ query = "whole text" }):text())
        return text
      end)
      frames_until(function() return task:done() end, function(n) frame = n end)
      assert.same({ true, "Echo: whole text" }, { task:result() })
      assert.equal(3, #at)
      assert.is_true(at[1] < at[2] and at[2] < at[3])
    end)
  end

  it("tells how long until the next step is needed, and nil when no task is left", function()
    assert.is_nil(dify.step(0))
    local slow = support.faulty(srv, "stall:0.3")
    local task = dify.spawn(function() return slow:chat{ query = "x" } end)
    local next_s = dify.step(0)
    assert.equal("number", type(next_s))
    assert.is_true(next_s >= 0 and next_s <= 1)
    -- With a timeout, a step waits for the network until a task has work:
    -- here the one answer, so a single step (not one per frame).
    local steps = 0
    repeat steps = steps + 1 until not dify.step(5)
    assert.is_true(task:done())
    assert.equal(1, steps)
  end)

  it("sleeps in a task without holding the frames (wait_indexed with the client's sleep)", function()
    local kb = dify.new{ base_url = srv.url, api_key = "dataset-test-key-5555", timeout = 10 }
    local ds = assert(kb:create_dataset{ name = "Docs", indexing_technique = "economy" })
    local created = assert(kb:create_document_by_text(ds.id, { name = "a.txt", text = "Lua.",
      indexing_technique = "economy", process_rule = { mode = "automatic" } }))
    local frame, polls = 0, {}
    local stuck = dify.new{ base_url = srv.url, api_key = "dataset-test-key-5555",
      headers = { ["X-Mock-Fault"] = "indexing:waiting" },
      on_request = function() polls[#polls + 1] = frame end }
    local task = dify.spawn(function()
      return stuck:wait_indexed(ds.id, created.batch, { timeout = 0.3, interval = 0.05 })
    end)
    frames_until(function() return task:done() end, function(n) frame = n end)
    local ok, result, err = task:result()
    assert.is_true(ok)
    assert.is_nil(result)
    assert.equal("timeout", err.kind)
    assert.is_true(#polls >= 3)
    for k = 2, #polls do assert.is_true(polls[k] > polls[k - 1] + 1) end
  end)
end)

if not plain_51 then
  describe("dify.all, on the same machinery", function()
    local srv
    support.serve(function(s) srv = s end)

    it("reads the streams of its functions together", function()
      local dripping = support.faulty(srv, "drip:50")
      local order = {}
      local function reader(name)
        return function()
          for ev in assert(dripping:chat_stream{ query = "a b c d e" }) do
            if ev.event == "message" then order[#order + 1] = name end
          end
          return true
        end
      end
      local results = dify.all{ reader("a"), reader("b") }
      assert.is_true(results[1][1] and results[2][1])
      local first, last = {}, {}
      for i, name in ipairs(order) do
        first[name] = first[name] or i
        last[name] = i
      end
      assert.equal(12, #order)
      -- Interleaved: each stream had begun before the other ended.
      assert.is_true(first.a < last.b and first.b < last.a)
    end)
  end)
end

describe("dify.spawn and dify.step, used wrongly", function()
  local srv, client

  support.serve(function(s, c) srv, client = s, c end)

  it("raises on a caller's mistake at once", function()
    assert.matches("expected a function", support.raised(dify.spawn, "nope"))
    assert.matches("opts must be a table", support.raised(dify.spawn, print, 1))
    assert.matches("on_done must be a function", support.raised(dify.spawn, print, { on_done = 1 }))
    assert.matches("timeout must be a number", support.raised(dify.step, "soon"))
    assert.matches("timeout must be a number", support.raised(dify.step, -1))
    assert.matches("timeout must be a number", support.raised(dify.step, 0 / 0))
    -- No task: math.huge returns at once.
    assert.is_nil(dify.step(math.huge))
  end)

  it("raises for dify.step called from inside a task, keeping the error on the task", function()
    local task = dify.spawn(function() dify.step(0) end)
    assert.is_true(task:done())
    local ok, err = task:result()
    assert.is_false(ok)
    assert.matches("dify.step: called from inside a task", err)
  end)

  if not plain_51 then
    -- (Plain Lua 5.1 runs dify.all's functions in turn, outside any coroutine.)
    it("raises for dify.step called from inside dify.all", function()
      local err = support.raised(dify.all, { function() dify.step(0) end })
      assert.matches("dify.step: called from inside a task", err)
    end)
  end

  it("raises for task:result() while the task runs", function()
    local slow = support.faulty(srv, "stall:0.2")
    local task = dify.spawn(function() return slow:chat{ query = "x" } end)
    assert.matches("still running", support.raised(task.result, task))
    frames_until(function() return task:done() end)
  end)

  it("fails a task that cancels itself, or yields for its own reasons", function()
    local me
    me = dify.spawn(function()
      assert(client:chat{ query = "x" })
      me:cancel()
    end)
    frames_until(function() return me:done() end)
    assert.matches("cannot cancel itself", select(2, me:result()))
    local yielding = dify.spawn(function() coroutine.yield("mine") end)
    assert.is_true(yielding:done())
    assert.matches("only its dify calls may pause it", select(2, yielding:result()))
  end)

  it("raises on_done's own error from the step that ran it, once; the other tasks go on", function()
    local other_done = false
    local bad = dify.spawn(function() return assert(client:chat{ query = "x" }).answer end,
      { on_done = function() error("on_done broke") end })
    local other = dify.spawn(function() return assert(client:chat{ query = "y" }).answer end,
      { on_done = function() other_done = true end })
    local raised, frames = {}, 0
    while not (bad:done() and other:done()) do
      local ok, err = pcall(dify.step, 0)
      if not ok then raised[#raised + 1] = err end
      frames = frames + 1
      assert(frames < MAX_FRAMES)
      core.sleep(0.001)
    end
    assert.equal(1, #raised)
    assert.matches("on_done broke", raised[1])
    assert.is_true(other_done)
    assert.same({ true, "Echo: x" }, { bad:result() })
  end)
end)
