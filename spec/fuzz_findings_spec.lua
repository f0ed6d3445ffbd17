-- Behaviour pinned down after fuzzing (fuzz/): each case is one the fuzz
-- targets found, kept here so that it stays fixed in the ordinary suite.
local core = require("dify.core")
local support = require("spec.support")

local function parse(text, max, cuts)
  local parser = core.sse_parser(max)
  local events, from = {}, 1
  local function take(list, kind)
    if not list then return nil, kind end
    for _, ev in ipairs(list) do events[#events + 1] = ev end
    return true
  end
  for _, cut in ipairs(cuts or {}) do
    local ok, kind = take(parser:feed(text:sub(from, cut)))
    if not ok then return events, kind end
    from = cut + 1
  end
  local ok, kind = take(parser:feed(text:sub(from)))
  if not ok then return events, kind end
  ok, kind = take(parser:finish())
  if not ok then return events, kind end
  return events, "ok"
end

describe("the SSE parser's max_event_size", function()
  it("gives the same verdict wherever the stream is split", function()
    local text = "event: ping\n\ndata: " .. ("x"):rep(40) .. "\n\n"
    local _, whole_verdict = parse(text, 10)
    assert.equal("protocol", whole_verdict)
    for cut = 1, #text - 1 do
      assert.equal(whole_verdict, select(2, parse(text, 10, { cut })), "split at byte " .. cut)
    end
  end)

  it("charges a data line its value only, split or not", function()
    local text = "data: " .. ("x"):rep(10) .. "\n\n"
    for cut = 1, #text - 1 do
      local events, verdict = parse(text, 10, { cut })
      assert.same({ { data = ("x"):rep(10) } }, events)
      assert.equal("ok", verdict)
    end
  end)

  it("ignores a comment or unknown field line of any length, split or not", function()
    -- Such lines are never kept, so they cost no memory and count toward no event.
    for _, line in ipairs{ ": " .. ("c"):rep(20), "foo: " .. ("c"):rep(20) } do
      local text = line .. "\ndata: x\n\n"
      for cut = 1, #text - 1 do
        local events, verdict = parse(text, 10, { cut })
        assert.equal("ok", verdict, "split at byte " .. cut)
        assert.same({ { data = "x" } }, events)
      end
      assert.equal("ok", select(2, parse(text, 10)))
    end
  end)

  it("voids an id line holding NUL whatever its length, split or not", function()
    local voided = "id: " .. ("x"):rep(20) .. "\0y\ndata: x\n\n"
    local kept = "id: " .. ("x"):rep(20) .. "y\ndata: x\n\n"
    for cut = 1, #voided - 1 do
      local events, verdict = parse(voided, 11, { cut })
      assert.equal("ok", verdict, "split at byte " .. cut)
      assert.same({ { data = "x" } }, events)
      assert.equal("protocol", select(2, parse(kept, 11, { math.min(cut, #kept - 1) })), "split at " .. cut)
    end
    assert.equal("ok", select(2, parse(voided, 11)))
    assert.equal("protocol", select(2, parse(kept, 11)))
  end)
end)

describe("multipart parts", function()
  it("refuse a CR or LF in a media type, name or file name before anything is sent", function()
    local session = assert(core.session{})
    for _, part in ipairs{
      { name = "file", data = "x", content_type = "text/plain\r\nX-Evil: 1" },
      { name = "fi\nle", data = "x" },
      { name = "file", data = "x", filename = "a\r.txt" },
      { name = "file", data = "x", content_type = "text/plain\0X" },
    } do
      local err = support.raised(session.request, session,
        { method = "POST", url = support.dead_url() .. "/files/upload", parts = { part } })
      assert.matches("must not contain CR, LF or NUL", err)
    end
    session:close()
  end)
end)
