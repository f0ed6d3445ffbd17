-- Completion apps: blocking, streamed, stopped.
local support = require("spec.support")

describe("completion apps", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("client:complete sends inputs and returns the answer", function()
    local answer = assert(client:complete{ inputs = { query = "write a haiku" } })
    assert.equal("Echo: write a haiku", answer.answer)
    assert.equal("completion", answer.mode)
    local req = srv.last("/completion%-messages$")
    assert.same({ inputs = { query = "write a haiku" }, user = "alice", response_mode = "blocking" }, req.json)
  end)

  it("client:complete sends an empty inputs object when none is given", function()
    assert(client:complete{})
    assert.matches('"inputs":{}', srv.last("/completion%-messages$").body, 1, true)
  end)

  it("client:complete_stream streams message events up to message_end", function()
    local stream = assert(client:complete_stream{ inputs = { query = "stream it" } })
    local text, last = stream:text()
    assert.equal("Echo: stream it", text)
    assert.equal("message_end", last.event)
    assert.equal("streaming", srv.last("/completion%-messages$").json.response_mode)
  end)

  it("client:complete_stream raises when the stream lacks message_end", function()
    local stream = assert(support.faulty(srv, "no_terminal"):complete_stream{ inputs = { query = "a b" } })
    local err = support.raised(support.collect, stream)
    assert.equal("protocol", err.kind)
  end)

  it("stop_completion posts to the completion stop route, and stream:stop uses it", function()
    assert.equal("success", assert(client:stop_completion("task-1")).result)
    assert.equal("/v1/completion-messages/task-1/stop", srv.last("/stop$").path)
    local stream = assert(support.faulty(srv, "drip:100"):complete_stream{ inputs = { query = "a b c d e" } })
    stream()
    assert(stream:stop())
    assert.equal("/v1/completion-messages/" .. stream.task_id .. "/stop", srv.last("/stop$").path)
  end)
end)
