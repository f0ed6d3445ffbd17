-- Blocking calls reuse one libcurl handle without resetting it: nothing of one
-- call (method, body, parts, headers, timeout) may reach the next.
local dify = require("dify")
local support = require("spec.support")

describe("a reused connection handle", function()
  local srv, client

  setup(function()
    srv = support.start()
    client = support.client(srv)
  end)

  teardown(function()
    srv.stop()
  end)

  local function last()
    local all = srv.requests()
    return all[#all]
  end

  it("sends a GET without the body of the POST before it", function()
    assert(client:chat{ query = "a body" })
    assert(client:info())
    local r = last()
    assert.equal("GET", r.method)
    assert.equal("", r.body or "")
    assert.is_nil(r.headers["content-type"])
    assert.is_nil(r.headers["content-length"])
  end)

  it("sends a DELETE with its own body, not the POST's before it", function()
    local c = assert(client:chat{ query = "to delete" })
    assert.is_true(client:delete_conversation(c.conversation_id))
    local r = last()
    assert.equal("DELETE", r.method)
    assert.same({ user = "alice" }, r.json)
  end)

  it("sends JSON after a multipart upload, and a POST after a DELETE", function()
    assert(client:upload_file{ data = "abc", filename = "a.txt" })
    assert.is_not_nil(last().parts)
    local c = assert(client:chat{ query = "after upload" })
    local r = last()
    assert.equal("POST", r.method)
    assert.is_nil(r.parts)
    assert.matches("^application/json", r.headers["content-type"])
    assert.equal("after upload", r.json.query)
    assert.is_true(client:delete_conversation(c.conversation_id))
    assert(client:chat{ query = "after delete" })
    assert.equal("POST", last().method)
    assert.equal("after delete", last().json.query)
  end)

  it("forgets a call's headers and timeout", function()
    assert(client:info{ headers = { ["X-Once"] = "1" } })
    assert.equal("1", last().headers["x-once"])
    assert(client:info())
    assert.is_nil(last().headers["x-once"])
    local stalling = support.faulty(srv, "stall:0.5")
    local _, err = stalling:info{ timeout = 0.1, retries = 0 }
    assert.equal("timeout", err.kind)
    assert(stalling:info()) -- the client's 10 s again
  end)

  it("sends a changed header line, not the list the handle kept", function()
    assert(client:info{ headers = { ["X-Once"] = "1" } })
    assert(client:info{ headers = { ["X-Once"] = "2" } })
    assert.equal("2", last().headers["x-once"])
    assert(client:info{ api_key = "app-another-key" })
    assert.equal("Bearer app-another-key", last().headers["authorization"])
    assert(client:info())
    assert.equal("Bearer " .. support.API_KEY, last().headers["authorization"])
  end)

  it("leaves the caller's table as it was, so that it can be sent again", function()
    local fields = { query = "one table", inputs = { topic = "lua" } }
    assert(client:chat(fields))
    assert.same({ query = "one table", inputs = { topic = "lua" } }, fields)
    assert(client:chat(fields))
    assert.equal("one table", last().json.query)
    assert.equal("alice", last().json.user)
    assert.same({ topic = "lua" }, last().json.inputs)
  end)

  it("names itself once in User-Agent, unless the caller names another", function()
    assert(client:info())
    assert.equal("lua-dify/" .. dify._VERSION, last().headers["user-agent"])
    local stream = assert(client:chat_stream{ query = "ua" })
    for _ in stream do end
    assert.equal("lua-dify/" .. dify._VERSION, last().headers["user-agent"])
    assert(client:info{ headers = { ["user-agent"] = "mine/1" } })
    assert.equal("mine/1", last().headers["user-agent"])
    local own = support.client(srv, { headers = { ["User-Agent"] = "mine/2" } })
    assert(own:chat{ query = "ua" })
    assert.equal("mine/2", last().headers["user-agent"])
  end)

  it("sends every one of many header lines", function()
    local many = {}
    for i = 1, 40 do many["X-Many-" .. i] = tostring(i) end
    assert(client:info{ headers = many })
    for i = 1, 40 do assert.equal(tostring(i), last().headers["x-many-" .. i]) end
  end)

  it("never waits for 100 Continue: small, large and multipart bodies", function()
    assert(client:chat{ query = "small" })
    assert.is_nil(last().headers["expect"])
    local big = string.rep("q", 1536 * 1024)
    assert(client:chat{ query = big })
    assert.is_nil(last().headers["expect"])
    assert.equal(#big, #last().json.query)
    assert(client:upload_file{ data = string.rep("u", 1536 * 1024), filename = "big.txt" })
    assert.is_nil(last().headers["expect"])
    assert(client:chat{ query = "small again" })
    assert.is_nil(last().headers["expect"])
  end)

  it("lets an output function and on_progress make calls of their own", function()
    local chunks, inner = {}, {}
    assert.is_true(client:text_to_audio{
      text = "abcdefghij",
      headers = { ["X-Outer"] = "1" },
      output = function(chunk)
        chunks[#chunks + 1] = chunk
        inner[#inner + 1] = assert(client:chat{ query = "inside output" }).answer
      end,
      on_progress = function()
        if #inner < 3 then inner[#inner + 1] = assert(client:info()).name end
      end,
    })
    assert.equal(1000, #table.concat(chunks))
    assert.is_true(#inner >= #chunks)
    for _, answer in ipairs(inner) do assert.is_string(answer) end
    assert.equal("1", srv.last("/text%-to%-audio$").headers["x-outer"])
    assert.is_nil(srv.last("/chat%-messages$").headers["x-outer"])
    -- The session's own handle, header list and buffers serve the next call as before.
    local after = assert(client:chat{ query = "after the nesting" })
    assert.equal("after the nesting", last().json.query)
    assert.matches("after the nesting", after.answer)
  end)

  it("sends a request that has no header lines at all", function()
    local session = require("dify.core").session{ compression = true }
    local status, _, body = session:request{ method = "GET", url = srv.url .. "/info" }
    assert.equal(401, status, tostring(body))
  end)

  it("reads the client's headers once, at dify.new", function()
    local extra = { ["X-Team"] = "blue" }
    local own = support.client(srv, { headers = extra })
    assert(own:info())
    assert.equal("blue", last().headers["x-team"])
    extra["X-Team"] = "red"
    extra["X-Late"] = "1"
    assert(own:info())
    assert.equal("blue", last().headers["x-team"])
    assert.is_nil(last().headers["x-late"])
    assert(own:chat{ query = "first of its kind" }) -- header lines not built before
    assert.equal("blue", last().headers["x-team"])
    assert.is_nil(last().headers["x-late"])
  end)
end)
