-- What differs between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT must not show on
-- the wire or in messages: numbers decoded from JSON are floats on 5.3+.
local dify = require("dify")
local support = require("spec.support")

describe("on " .. (rawget(_G, "jit") and jit.version or _VERSION), function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("loads the C core built for this Lua", function()
    local core = require("dify.core")
    assert.matches("^libcurl %d", core.version())
    assert.is_function(core.session)
  end)

  it("sends page numbers taken from a decoded page as integers", function()
    srv.seed("annotations", 5)
    local n = 0
    for _ in client:each("annotations", { limit = 2 }) do n = n + 1 end
    assert.equal(5, n)
    local pages = {}
    for _, req in ipairs(srv.requests()) do
      if req.path == "/v1/apps/annotations" then pages[#pages + 1] = req.args.page or "none" end
    end
    assert.same({ "none", "2", "3" }, pages)
  end)

  it("sends integral floats in queries and paths without a fraction", function()
    assert(client:conversations{ limit = 20.0 })
    assert.equal("20", srv.last("/conversations$").args.limit)
    client:delete_conversation(7.0)
    assert.equal("/v1/conversations/7", srv.last("/conversations/").path)
  end)

  it("reads an error event's status as an integer", function()
    local stream = assert(support.faulty(srv, "error_event"):chat_stream{ query = "a b c" })
    local err = support.raised(function()
      for _ in stream.next, stream do end
    end)
    assert.equal("api", err.kind)
    assert.equal(400, err.status)
    assert.matches("(HTTP 400)", tostring(err), 1, true)
  end)

  it("round-trips text with NUL bytes and non-ASCII through the fake server", function()
    local data = "\0a\255\0" .. "é"
    local file = assert(client:upload_file{ data = data, filename = "blob.bin" })
    assert.equal(#data, file.size)
    -- Dify previews only files attached to one of the app's messages
    assert(client:chat{ query = "see file", files = {
      { type = "document", transfer_method = "local_file", upload_file_id = file.id } } })
    local bytes = assert(client:file_preview(file.id))
    assert.equal(data, bytes)
  end)

  it("decodes JSON null to dify.null", function()
    assert.equal(require("cjson").null, dify.null)
  end)
end)
