-- The C SSE parser, driven through dify.core.sse_parser: every framing rule
-- of the WHATWG event-stream format that Dify and proxies exercise.
local core = require("dify.core")

local function parse_whole(text, max)
  local parser = core.sse_parser(max)
  local events = assert(parser:feed(text))
  for _, ev in ipairs(assert(parser:finish())) do events[#events + 1] = ev end
  return events
end

local function parse_in_pieces(text, cuts, max)
  local parser = core.sse_parser(max)
  local events, from = {}, 1
  for _, cut in ipairs(cuts) do
    for _, ev in ipairs(assert(parser:feed(text:sub(from, cut)))) do events[#events + 1] = ev end
    from = cut + 1
  end
  for _, ev in ipairs(assert(parser:feed(text:sub(from)))) do events[#events + 1] = ev end
  for _, ev in ipairs(assert(parser:finish())) do events[#events + 1] = ev end
  return events
end

describe("the SSE parser", function()
  it("reads a Dify data frame", function()
    local events = parse_whole('data: {"event": "message", "answer": "Hel"}\n\n')
    assert.same({ { data = '{"event": "message", "answer": "Hel"}' } }, events)
  end)

  it("accepts LF, CRLF and CR line ends alike", function()
    local expected = { { data = "a" }, { data = "b" } }
    assert.same(expected, parse_whole("data: a\n\ndata: b\n\n"))
    assert.same(expected, parse_whole("data: a\r\n\r\ndata: b\r\n\r\n"))
    assert.same(expected, parse_whole("data: a\r\rdata: b\r\r"))
  end)

  it("joins multi-line data with LF", function()
    assert.same({ { data = "one\ntwo\n\nfour" } }, parse_whole("data: one\ndata: two\ndata:\ndata: four\n\n"))
  end)

  it("strips one space after the colon, and only one", function()
    assert.same({ { data = " x" }, { data = "y" } }, parse_whole("data:  x\n\ndata:y\n\n"))
  end)

  it("skips comments", function()
    assert.same({ { data = "x" } }, parse_whole(": keep-alive\ndata: x\n: more\n\n:\n\n"))
  end)

  it("yields event-only frames such as a bare `event: ping`, without data", function()
    assert.same({ { event = "ping" }, { event = "message", data = "x" } },
      parse_whole("event: ping\n\nevent: message\ndata: x\n\n"))
  end)

  it("keeps the last event id across events and ignores unknown fields and retry", function()
    assert.same({ { data = "a", id = "7" }, { data = "b", id = "7" } },
      parse_whole("id: 7\nretry: 10\nfoo: bar\ndata: a\n\ndata: b\n\n"))
  end)

  it("treats a line without a colon as a field with an empty value", function()
    assert.same({ { data = "" } }, parse_whole("data\n\n"))
  end)

  it("drops one leading UTF-8 BOM, even when it arrives split", function()
    local text = "\239\187\191data: x\n\n"
    assert.same({ { data = "x" } }, parse_whole(text))
    assert.same({ { data = "x" } }, parse_in_pieces(text, { 1, 2 }))
    -- A second BOM is data, not a BOM.
    assert.same({ { data = "\239\187\191x" } }, parse_whole("\239\187\191data: \239\187\191x\n\n"))
  end)

  it("keeps bytes that only start like a BOM", function()
    -- The false start stays part of the first field name, which is then unknown.
    assert.same({}, parse_whole("\239data: x\n\n"))
    assert.same({}, parse_whole("\239\187data: x\n\n"))
    assert.same({}, parse_in_pieces("\239\187data: x\n\n", { 1, 2 }))
    assert.same({ { data = "x" } }, parse_whole("\239\187\n\ndata: x\n\n"))
  end)

  it("gives the same events whichever byte the stream is split at", function()
    local text = "\239\187\191event: ping\r\n\r\n: c\r\ndata: {\"answer\": \"h\195\169\"}\r\n" ..
      "data: second\r\rid: 9\ndata: third\n\nevent: message_end\ndata: {}\r\n\r\n"
    local whole = parse_whole(text)
    assert.equal(4, #whole)
    for cut = 1, #text - 1 do
      assert.same(whole, parse_in_pieces(text, { cut }), "split at byte " .. cut)
    end
    local bytes = {}
    for i = 1, #text - 1 do bytes[i] = i end
    assert.same(whole, parse_in_pieces(text, bytes), "one byte at a time")
  end)

  it("gives the same events for random splits of a long stream", function()
    local frames = {}
    for i = 1, 300 do
      frames[i] = ("data: {\"event\": \"message\", \"answer\": \"%s\"}\n\n"):format(("w"):rep(i % 37))
    end
    local text = table.concat(frames)
    local whole = parse_whole(text)
    assert.equal(300, #whole)
    math.randomseed(42)
    for _ = 1, 20 do
      local cuts, at = {}, 0
      while true do
        at = at + math.random(1, 200)
        if at >= #text then break end
        cuts[#cuts + 1] = at
      end
      assert.same(whole, parse_in_pieces(text, cuts))
    end
  end)

  it("fails clearly when an event grows past the maximum size", function()
    local parser = core.sse_parser(64)
    local events, kind, message = parser:feed("data: " .. ("x"):rep(100) .. "\n\n")
    assert.is_nil(events)
    assert.equal("protocol", kind)
    assert.matches("max_event_size", message)
  end)

  it("counts a long line split across chunks toward the maximum", function()
    local parser = core.sse_parser(64)
    assert.same({}, parser:feed("data: " .. ("x"):rep(40)))
    local events, kind = parser:feed(("x"):rep(40))
    assert.is_nil(events)
    assert.equal("protocol", kind)
  end)

  it("accepts an event exactly at the maximum size", function()
    local parser = core.sse_parser(10)
    assert.same({ { data = ("x"):rep(10) } }, parser:feed("data: " .. ("x"):rep(10) .. "\n\n"))
  end)

  it("accepts an event exactly at the maximum size when it arrives in pieces", function()
    local parser = core.sse_parser(10)
    assert.same({}, parser:feed("data: 01234"))
    assert.same({}, parser:feed("56789"))
    assert.same({ { data = "0123456789" } }, parser:feed("\n\n"))
  end)

  it("neither keeps nor counts comments and unknown fields, however they are split", function()
    local text = ": " .. ("c"):rep(5000) .. "\nx-unknown-field: " .. ("u"):rep(5000) .. "\ndata: ok\n\n"
    assert.same({ { data = "ok" } }, parse_whole(text, 64))
    assert.same({ { data = "ok" } }, parse_in_pieces(text, { 3, 100, 4000, 5003, 5020, 9000 }, 64))
  end)

  it("fails or succeeds alike whether a stream comes whole or in pieces", function()
    math.randomseed(7)
    local fields = { "data: ", "data:", "event: ", "id: ", ": ", "retry: ", "x: ", "data" }
    local ends = { "\n", "\r\n", "\r", "\n\n" }
    local function outcome(parse)
      local ok, events = pcall(parse)
      return ok and events or "failed"
    end
    for _ = 1, 300 do
      local pieces = {}
      for _ = 1, math.random(1, 12) do
        pieces[#pieces + 1] = fields[math.random(#fields)] .. ("v"):rep(math.random(0, 40)) ..
          ends[math.random(#ends)]
      end
      local text = table.concat(pieces)
      local max = math.random(5, 60)
      local cuts, at = {}, 0
      while true do
        at = at + math.random(1, 9)
        if at >= #text then break end
        cuts[#cuts + 1] = at
      end
      assert.same(outcome(function() return parse_whole(text, max) end),
        outcome(function() return parse_in_pieces(text, cuts, max) end), text)
    end
  end)

  it("discards a last frame that lacks its blank line, and says the body was cut", function()
    for _, tail in ipairs{ "data: tail", "data: tail\n", 'data: {"event": "message", "ans' } do
      local parser = core.sse_parser()
      assert.same({}, parser:feed(tail))
      local events, kind, message = parser:finish()
      assert.is_nil(events, tail)
      assert.equal("protocol", kind)
      assert.matches("middle of an event", message)
    end
  end)

  it("ends cleanly when only a comment or a data-less field was cut", function()
    for _, tail in ipairs{ ": keep-al", "event: pi", "event: ping\n", "" } do
      local parser = core.sse_parser()
      assert.same({ { data = "x" } }, parser:feed("data: x\n\n" .. tail))
      assert.same({}, parser:finish(), tail)
    end
  end)

  it("starts afresh after reset", function()
    local parser = core.sse_parser()
    parser:feed("data: half")
    parser:reset()
    assert.same({ { data = "new" } }, parser:feed("data: new\n\n"))
  end)
end)
