-- Header injection, path segments, and what an upload reads.
local dify = require("dify")
local mock = require("spec.mock")
local support = require("spec.support")

describe("security", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("refuses CR, LF or NUL in any header value or the API key, before sending", function()
    for _, bad in ipairs{ "a\rb", "a\nb", "a\0b" } do
      assert.matches("CR, LF or NUL", support.raised(dify.new, { api_key = "app-" .. bad }))
      assert.matches("CR, LF or NUL", support.raised(dify.new, { headers = { ["X-A"] = bad } }))
      assert.matches("CR, LF or NUL", support.raised(client.chat, client,
        { query = "q", headers = { ["X-A"] = bad } }))
      assert.matches("CR, LF or NUL", support.raised(client.chat, client, { query = "q", api_key = bad }))
    end
    assert.matches("header name", support.raised(client.chat, client,
      { query = "q", headers = { ["X-A: b"] = "c" } }))
    assert.same({}, srv.requests())
  end)

  it("sends every id as exactly one path segment", function()
    local id = "../x?y#z /%2F"
    client:rename_conversation(id, { name = "n" })
    client:update_conversation_variable(id, "..", "v")
    local requests = srv.requests()
    assert.equal("/v1/conversations/..%2Fx%3Fy%23z%20%2F%252F/name", requests[1].path)
    assert.equal("", requests[1].query)
    assert.equal("/v1/conversations/..%2Fx%3Fy%23z%20%2F%252F/variables/%2E%2E", requests[2].path)
  end)

  it("uploads exactly the bytes of the path given", function()
    local path = support.temp_file("only these bytes\0and these")
    finally(function() os.remove(path) end)
    assert(client:upload_file{ path = path })
    local parts = mock.parts_by_name(srv.last("/files/upload$"))
    assert.equal("only these bytes\0and these", parts.file.data)
  end)

  it("turns TLS verification off only for an explicit boolean false", function()
    -- (That verification is on by default is proven against a real TLS server in faults_spec.)
    for _, loose in ipairs{ 0, "no", "false" } do
      assert.matches("verify_tls", support.raised(dify.new, { verify_tls = loose }))
    end
  end)
end)
