-- dify.multiplex: many streams, from any client, read together in one Lua state.
local dify = require("dify")
local support = require("spec.support")
local Stream = require("dify.stream")

local function answers(events)
  local out = {}
  for i, ev in ipairs(events) do out[i] = ev.event .. ":" .. tostring(ev.answer) end
  return out
end

describe("dify.multiplex", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("yields every event of every stream, each stream's in order", function()
    local queries = { "one two three", "four five", "six seven eight nine" }
    local expected, streams, by_stream = {}, {}, {}
    for i, q in ipairs(queries) do
      expected[i] = answers(support.collect(assert(client:chat_stream{ query = q })))
    end
    for i, q in ipairs(queries) do
      streams[i] = assert(client:chat_stream{ query = q })
      by_stream[streams[i]] = {}
    end
    for stream, ev, err in dify.multiplex(streams) do
      assert.is_nil(err)
      table.insert(by_stream[stream], ev)
    end
    for i, stream in ipairs(streams) do
      assert.same(expected[i], answers(by_stream[stream]))
      assert.is_string(stream.task_id)
    end
  end)

  it("lets a fast stream finish while a slow one is silent", function()
    local slow = assert(support.faulty(srv, "stall:2"):chat_stream{ query = "slow stream here" })
    local fast = assert(client:chat_stream{ query = "fast one" })
    local order = {}
    for stream, ev in dify.multiplex{ slow, fast } do
      order[#order + 1] = (stream == slow and "slow:" or "fast:") .. ev.event
    end
    -- The slow stream sends one event, then nothing for 2 s: every fast event comes in between.
    local slow_seen, last_fast, second_slow = 0, 0, nil
    for i, item in ipairs(order) do
      if item:match("^fast:") then last_fast = i end
      if item:match("^slow:") then
        slow_seen = slow_seen + 1
        if slow_seen == 2 then second_slow = i end
      end
    end
    assert.equal("fast:message_end", order[last_fast])
    assert.is_true(last_fast < second_slow, table.concat(order, " "))
    assert.equal("slow:message_end", order[#order])
  end)

  it("reports a failing stream with its error and goes on with the others", function()
    local failing = assert(support.faulty(srv, "error_event"):chat_stream{ query = "will fail soon" })
    local dropping = assert(support.faulty(srv, "close_mid"):chat_stream{ query = "will drop soon" })
    local good = assert(client:chat_stream{ query = "all good here" })
    local errors_of, ends = {}, {}
    for stream, ev, err in dify.multiplex{ failing, dropping, good } do
      if err then
        assert.is_nil(errors_of[stream], "a failed stream is reported once")
        errors_of[stream] = err
      elseif ev.event == "message_end" then
        ends[stream] = true
      end
    end
    assert.equal("api", errors_of[failing].kind)
    assert.equal("completion_request_error", errors_of[failing].code)
    assert.equal("network", errors_of[dropping].kind)
    assert.is_nil(errors_of[good])
    assert.is_true(ends[good])
  end)

  it("reads streams of different clients together", function()
    local other = support.client(srv, { user = "bob", api_key = "app-other-key-1234" })
    local a = assert(client:chat_stream{ query = "from alice" })
    local b = assert(other:chat_stream{ query = "from bob" })
    local seen = {}
    for stream, ev in dify.multiplex{ a, b } do
      if ev.event == "message_end" then seen[stream] = true end
    end
    assert.is_true(seen[a])
    assert.is_true(seen[b])
  end)

  it("holds back an unread stream without losing or reordering its events", function()
    -- ~20 000 events (several MiB): more than a stream may hold unread, so its
    -- transfer pauses while the other is read, and resumes when it is read.
    local words = ("w "):rep(20000)
    local big = assert(client:chat_stream{ query = words })
    local small = assert(support.faulty(srv, "drip:20"):chat_stream{ query = "a b c d e" })
    local small_events = support.collect(small)
    assert.equal("message_end", small_events[#small_events].event)
    local n, text = 0, {}
    for ev in big.next, big do
      if ev.event == "message" then
        n = n + 1
        text[n] = ev.answer
      end
    end
    assert.equal(20001, n) -- "Echo:" and the query's 20 000 words
    assert.matches("^Echo:", text[1])
    assert.matches("^w", text[n])
  end)

  it("does not time out a stream held back by its reader", function()
    local quick = support.client(srv, { idle_timeout = 1 })
    local big = assert(quick:chat_stream{ query = ("w "):rep(20000) })
    local slow = assert(support.faulty(srv, "drip:400"):chat_stream{ query = "a b c d e" })
    support.collect(slow) -- about 2.5 s, while `big` sits paused
    local events = support.collect(big)
    assert.equal("message_end", events[#events].event)
  end)

  it("closes the streams still open when the loop is left early", function()
    local a = assert(client:chat_stream{ query = "a b c" })
    local b = assert(client:chat_stream{ query = "d e f" })
    local first
    for stream in dify.multiplex{ a, b } do
      first = stream
      if first then break end
    end
    assert.is_not_nil(first)
    if _VERSION == "Lua 5.4" then
      assert.is_false(a._core:is_open())
      assert.is_false(b._core:is_open())
    else
      a:close()
      b:close()
    end
  end)

  it("ends at once for an empty list and for streams already read", function()
    for _ in dify.multiplex{} do error("nothing to yield") end
    local s = assert(client:chat_stream{ query = "x" })
    support.collect(s)
    for _ in dify.multiplex{ s } do error("nothing left") end
  end)

  it("raises for anything but libcurl streams", function()
    assert.matches("expected a list", support.raised(dify.multiplex, "nope"))
    assert.matches("item #1 is not a stream", support.raised(dify.multiplex, { {} }))
    local lua_core = { next = function() return nil end, close = function() end, is_open = function() return true end }
    local foreign = Stream.new(client, lua_core, { terminal = "message_end" })
    assert.matches("stream #1 does not run on libcurl", support.raised(dify.multiplex, { foreign }))
  end)
end)
