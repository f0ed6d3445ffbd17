-- Conversations, messages, feedback and conversation variables.
local support = require("spec.support")
local json = require("dify.json")

describe("conversations and messages", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  local function new_conversation(query)
    return assert(client:chat{ query = query or "start" })
  end

  it("lists conversations with the user in the query string", function()
    local first = new_conversation("first")
    local list = assert(client:conversations{ limit = 5, sort_by = "-created_at" })
    assert.equal(first.conversation_id, list.data[1].id)
    assert.is_boolean(list.has_more)
    local req = srv.last("/conversations")
    assert.equal("GET", req.method)
    assert.equal("alice", req.args.user)
    assert.equal("5", req.args.limit)
    assert.equal("-created_at", req.args.sort_by)
  end)

  it("scopes conversations to the user", function()
    new_conversation()
    local list = assert(client:conversations{ user = "somebody-else" })
    assert.equal(0, #list.data)
  end)

  it("lists a conversation's messages", function()
    local first = new_conversation("hello")
    assert(client:chat{ query = "again", conversation_id = first.conversation_id })
    local history = assert(client:messages{ conversation_id = first.conversation_id, limit = 20 })
    assert.equal(2, #history.data)
    local queries = {}
    for _, m in ipairs(history.data) do queries[m.query] = true end
    assert.is_true(queries.hello and queries.again)
    assert.equal(first.conversation_id, srv.last("/messages").args.conversation_id)
  end)

  it("requires a conversation_id for messages", function()
    assert.matches("conversation_id", support.raised(client.messages, client, {}))
  end)

  it("renames a conversation, by name or automatically", function()
    local c = new_conversation()
    local renamed = assert(client:rename_conversation(c.conversation_id, { name = "Trip plans" }))
    assert.equal("Trip plans", renamed.name)
    local req = srv.last("/name$")
    assert.same({ name = "Trip plans", user = "alice" }, req.json)
    assert(client:rename_conversation(c.conversation_id, { auto_generate = true }))
    assert.equal(true, srv.last("/name$").json.auto_generate)
  end)

  it("deletes a conversation, sending the user in the body", function()
    local c = new_conversation()
    assert.is_true(client:delete_conversation(c.conversation_id))
    local req = srv.last("/conversations/")
    assert.equal("DELETE", req.method)
    assert.same({ user = "alice" }, req.json)
    local again, err = client:delete_conversation(c.conversation_id)
    assert.is_nil(again)
    assert.equal("not_found", err.code)
  end)

  it("sends feedback, and a nil rating as JSON null to revoke it", function()
    local c = new_conversation()
    local result = assert(client:feedback(c.message_id, { rating = "like", content = "great" }))
    assert.equal("success", result.result)
    assert.same({ rating = "like", content = "great", user = "alice" }, srv.last("/feedbacks$").json)
    assert(client:feedback(c.message_id, {}))
    local req = srv.last("/feedbacks$")
    assert.matches('"rating":null', req.body, 1, true)
  end)

  it("lists the app's feedbacks", function()
    local c = new_conversation()
    assert(client:feedback(c.message_id, { rating = "dislike" }))
    local list = assert(client:app_feedbacks{ page = 1, limit = 20 })
    assert.equal("dislike", list.data[1].rating)
    assert.equal("1", srv.last("/app/feedbacks").args.page)
  end)

  it("returns suggested questions as a list of strings", function()
    local c = new_conversation()
    local suggestions = assert(client:suggested(c.message_id))
    assert.is_string(suggestions[1])
    assert.equal("alice", srv.last("/suggested").args.user)
    local none, err = client:suggested("00000000-0000-4000-8000-000000000000") -- a UUID no message has
    assert.is_nil(none)
    assert.equal("not_found", err.code)
  end)

  it("lists and updates conversation variables", function()
    local c = new_conversation()
    local vars = assert(client:conversation_variables(c.conversation_id, { limit = 10 }))
    assert.is_true(#vars.data >= 1)
    local var = vars.data[1]
    local updated = assert(client:update_conversation_variable(c.conversation_id, var.id, "new value"))
    assert.equal("new value", updated.value)
    local req = srv.last("/variables/")
    assert.equal("PUT", req.method)
    assert.same({ value = "new value", user = "alice" }, req.json)
  end)

  it("sends a table value of a conversation variable as JSON", function()
    local c = new_conversation()
    local var = assert(client:conversation_variables(c.conversation_id)).data[1]
    client:update_conversation_variable(c.conversation_id, var.id, { a = 1 })
    assert.same({ value = { a = 1 }, user = "alice" }, srv.last("/variables/").json)
  end)

  describe("client:each", function()
    it("walks every page of conversations by last_id", function()
      for i = 1, 7 do new_conversation("c" .. i) end
      local seen = {}
      for conversation in client:each("conversations", { limit = 3 }) do
        seen[#seen + 1] = conversation.id
      end
      assert.equal(7, #seen)
      local pages = {}
      for _, req in ipairs(srv.requests()) do
        if req.path == "/v1/conversations" then pages[#pages + 1] = req.args end
      end
      assert.equal(3, #pages)
      assert.is_nil(pages[1].last_id)
      assert.equal(seen[3], pages[2].last_id)
      assert.equal(seen[6], pages[3].last_id)
    end)

    it("walks message history backwards by first_id", function()
      local c = new_conversation("m1")
      for i = 2, 5 do assert(client:chat{ query = "m" .. i, conversation_id = c.conversation_id }) end
      local seen = {}
      for message in client:each("messages", { conversation_id = c.conversation_id, limit = 2 }) do
        seen[message.query] = (seen[message.query] or 0) + 1
      end
      for i = 1, 5 do assert.equal(1, seen["m" .. i], "m" .. i) end
    end)

    it("stops after max_pages", function()
      for i = 1, 6 do new_conversation("c" .. i) end
      local n = 0
      for _ in client:each("conversations", { limit = 2, max_pages = 2 }) do n = n + 1 end
      assert.equal(4, n)
    end)

    it("raises the error object when a page fails", function()
      local bad = support.client(srv, { api_key = "app-bad" })
      local err = support.raised(function()
        for _ in bad:each("conversations") do end
      end)
      assert.equal("api", err.kind)
      assert.equal(401, err.status)
    end)

    it("raises for a method that is not a list", function()
      assert.matches("not a list", support.raised(client.each, client, "chat"))
    end)
  end)

  it("decodes null fields to dify.null", function()
    local c = new_conversation()
    local list = assert(client:messages{ conversation_id = c.conversation_id })
    assert.is_not_nil(list.data[1])
    assert.equal(json.null, require("dify").null)
  end)
end)
