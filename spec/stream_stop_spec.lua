-- stream:stop() stops the run as the user (and with the key) that started it:
-- Dify only stops a run for its own end user.
local support = require("spec.support")

describe("stream:stop", function()
  local srv

  setup(function()
    srv = support.start()
  end)

  teardown(function()
    srv.stop()
  end)

  it("uses the user the stream was opened with, not the client's default", function()
    local client = support.faulty(srv, "drip:100")
    local stream = assert(client:chat_stream{ query = "a b c d e f", user = "carol" })
    assert(stream:stop())
    local stop = srv.last("/stop$")
    assert.are.equal("carol", stop.json.user)
    assert.are.equal("Bearer " .. support.API_KEY, stop.headers["authorization"])
  end)

  it("uses the key the stream was opened with", function()
    local client = support.faulty(srv, "drip:100", { api_key = "app-other-key-1111" })
    local stream = assert(client:chat_stream{ query = "a b c d e f", api_key = support.API_KEY })
    assert(stream:stop())
    assert.are.equal("Bearer " .. support.API_KEY, srv.last("/stop$").headers["authorization"])
  end)

  it("falls back to the client's user", function()
    local client = support.faulty(srv, "drip:100")
    local stream = assert(client:chat_stream{ query = "a b c d e f" })
    assert(stream:stop())
    assert.are.equal("alice", srv.last("/stop$").json.user)
  end)
end)
