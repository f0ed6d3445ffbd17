-- Chat messages, blocking and streamed, checked on the wire against the fake server.
local dify = require("dify")
local support = require("spec.support")

describe("chat", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  describe("client:chat (blocking)", function()
    it("sends Dify's fields and returns the decoded answer", function()
      local answer = assert(client:chat{ query = "hello there", inputs = { name = "Ann" } })
      assert.equal("Echo: hello there", answer.answer)
      assert.is_string(answer.conversation_id)
      assert.is_string(answer.message_id)
      local req = srv.last("/chat%-messages$")
      assert.equal("POST", req.method)
      assert.equal("/v1/chat-messages", req.path)
      assert.equal("Bearer " .. support.API_KEY, req.headers.authorization)
      assert.matches("^application/json", req.headers["content-type"])
      assert.same({ query = "hello there", inputs = { name = "Ann" }, user = "alice",
                    response_mode = "blocking" }, req.json)
    end)

    it("sends inputs as a JSON object even when empty, and passes unknown fields through", function()
      assert(client:chat{ query = "q", conversation_id = nil, auto_generate_name = false, extra_field = 7 })
      local req = srv.last("/chat%-messages$")
      assert.matches('"inputs":{}', req.body, 1, true)
      assert.equal(false, req.json.auto_generate_name)
      assert.equal(7, req.json.extra_field)
    end)

    it("continues a conversation and sends files", function()
      local first = assert(client:chat{ query = "one" })
      assert(client:chat{ query = "two", conversation_id = first.conversation_id,
        files = { { type = "image", transfer_method = "remote_url", url = "https://example.com/a.png" } } })
      local req = srv.last("/chat%-messages$")
      assert.equal(first.conversation_id, req.json.conversation_id)
      assert.equal("remote_url", req.json.files[1].transfer_method)
    end)

    it("takes user and api_key per call", function()
      assert(client:chat{ query = "q", user = "bob", api_key = "app-other-key-1" })
      local req = srv.last("/chat%-messages$")
      assert.equal("bob", req.json.user)
      assert.equal("Bearer app-other-key-1", req.headers.authorization)
    end)

    it("returns an api error for Dify's error body", function()
      local nobody = "00000000-0000-4000-8000-000000000000" -- a UUID no conversation has
      local answer, err = client:chat{ query = "q", conversation_id = nobody }
      assert.is_nil(answer)
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
      assert.equal("not_found", err.code)
      assert.is_string(err.message)
      assert.matches("404", tostring(err))
      assert.matches("not_found", tostring(err))
    end)

    it("returns an api error for a bad key, without the key in it", function()
      local bad = support.client(srv, { api_key = "app-bad" })
      local answer, err = bad:chat{ query = "q" }
      assert.is_nil(answer)
      assert.equal("api", err.kind)
      assert.equal(401, err.status)
      assert.equal("unauthorized", err.code)
      assert.not_matches("app%-bad", tostring(err))
    end)

    it("returns a network error when nothing listens", function()
      local dead = dify.new{ base_url = support.dead_url(), api_key = "app-x", user = "u", retries = 0 }
      local answer, err = dead:chat{ query = "q" }
      assert.is_nil(answer)
      assert.equal("network", err.kind)
      assert.is_nil(err.status)
    end)

    it("raises at once for caller mistakes, sending nothing", function()
      assert.matches("query is required", support.raised(client.chat, client, {}))
      assert.matches("query is required", support.raised(client.chat, client, { query = 5 }))
      assert.matches("inputs must be a table", support.raised(client.chat, client, { query = "q", inputs = "x" }))
      assert.matches("expected a table", support.raised(client.chat, client, "just a string"))
      local no_user = dify.new{ base_url = srv.url, api_key = support.API_KEY }
      assert.matches("user is required", support.raised(no_user.chat, no_user, { query = "q" }))
      assert.matches("CR, LF", support.raised(client.chat, client,
        { query = "q", headers = { ["X-Evil"] = "a\r\nInjected: 1" } }))
      assert.same({}, srv.requests())
    end)

    it("reuses one connection for many sequential calls", function()
      local before = srv.connections()
      for i = 1, 20 do assert(client:chat{ query = "call " .. i }) end
      assert.equal(1, srv.connections() - before)
    end)
  end)

  describe("client:chat_stream", function()
    it("yields decoded events in a for loop and sets the stream's ids", function()
      local stream = assert(client:chat_stream{ query = "one two three" })
      local answer, kinds = {}, {}
      for ev in stream do
        kinds[#kinds + 1] = ev.event
        if ev.event == "message" then answer[#answer + 1] = ev.answer end
      end
      assert.equal("Echo: one two three", table.concat(answer))
      assert.equal("message_end", kinds[#kinds])
      assert.is_string(stream.task_id)
      assert.is_string(stream.message_id)
      assert.is_string(stream.conversation_id)
      local req = srv.last("/chat%-messages$")
      assert.equal("streaming", req.json.response_mode)
      assert.equal("text/event-stream", req.headers.accept)
    end)

    it("works directly as the generic-for iterator, with assert", function()
      local n = 0
      for ev in assert(client:chat_stream{ query = "a b" }) do
        assert.is_string(ev.event)
        n = n + 1
      end
      assert.is_true(n >= 3)
    end)

    it("returns the whole answer and the message_end event from text()", function()
      local stream = assert(client:chat_stream{ query = "whole answer please" })
      local text, last = stream:text()
      assert.equal("Echo: whole answer please", text)
      assert.equal("message_end", last.event)
      assert.is_table(last.metadata.usage)
    end)

    it("delivers the same events however the stream is framed", function()
      local expected = support.collect(assert(client:chat_stream{ query = "frame me well" }))
      local function strip(events)
        local out = {}
        for i, ev in ipairs(events) do out[i] = { event = ev.event, answer = ev.answer } end
        return out
      end
      for _, fault in ipairs{ "split1", "crlf", "cr", "ping:5", "comment", "bom", "split1,cr,bom,ping:3" } do
        local events = support.collect(assert(support.faulty(srv, fault):chat_stream{ query = "frame me well" }))
        assert.same(strip(expected), strip(events), fault)
      end
    end)

    it("does not yield pings", function()
      for ev in assert(support.faulty(srv, "ping:20"):chat_stream{ query = "x" }) do
        assert.not_equal("ping", ev.event)
      end
    end)

    it("passes workflow events of a chatflow through, message_end before workflow_finished", function()
      local kinds = {}
      for ev in assert(client:chat_stream{ query = "workflow" }) do kinds[#kinds + 1] = ev.event end
      local seen = {}
      for i, kind in ipairs(kinds) do seen[kind] = seen[kind] or i end
      assert.truthy(seen.workflow_started)
      assert.truthy(seen.node_started)
      assert.truthy(seen.workflow_finished)
      assert.is_true(seen.message_end < seen.workflow_finished) -- Dify 1.13.1+
      assert.equal("workflow_finished", kinds[#kinds])
    end)

    it("raises the api error when Dify sends an error event, after the events before it", function()
      local stream = assert(support.faulty(srv, "error_event"):chat_stream{ query = "a b c" })
      local first = stream()
      assert.equal("message", first.event)
      local err = support.raised(stream.next, stream)
      assert.equal("api", err.kind)
      assert.equal("completion_request_error", err.code)
      assert.equal(400, err.status)
      assert.is_false(stream._core:is_open())
    end)

    it("returns nil and the error when the request is refused before streaming", function()
      local stream, err = support.faulty(srv, "status:429", {}):chat_stream{ query = "x" }
      assert.is_nil(stream)
      assert.equal("api", err.kind)
      assert.equal(429, err.status)
      stream, err = client:chat_stream{ query = "x", conversation_id = "00000000-0000-4000-8000-000000000000" }
      assert.is_nil(stream)
      assert.equal("not_found", err.code)
    end)

    it("returns itself as the generic-for closing value", function()
      local iterator, state, control, closing = client:chat_stream{ query = "a b" }
      assert.equal(iterator, closing)
      assert.is_nil(state)
      assert.is_nil(control)
      closing:close()
    end)

    it("can be closed by hand and by the collector", function()
      local stream = assert(client:chat_stream{ query = "a b c" })
      stream:close()
      stream:close()
      assert.is_false(stream._core:is_open())
      assert.is_nil(stream())
      for _ = 1, 50 do assert(client:chat_stream{ query = "left open" }) end
      collectgarbage()
      collectgarbage()
      assert(client:chat{ query = "still fine" })
    end)

    it("stop() asks Dify to stop the run and closes the stream", function()
      local stream = assert(support.faulty(srv, "drip:100"):chat_stream{ query = "a b c d e f g h" })
      local first = stream()
      local result = assert(stream:stop())
      assert.equal("success", result.result)
      assert.is_false(stream._core:is_open())
      local req = srv.last("/stop$")
      assert.equal("/v1/chat-messages/" .. first.task_id .. "/stop", req.path)
      assert.equal("alice", req.json.user)
    end)
  end)

  describe("client:stop", function()
    it("posts the user to the task's stop route, the task id one path segment", function()
      local result = assert(client:stop("../x?y#z"))
      assert.equal("success", result.result)
      local req = srv.last("/stop$")
      assert.equal("/v1/chat-messages/..%2Fx%3Fy%23z/stop", req.path)
      assert.same({ user = "alice" }, req.json)
    end)

    it("raises without a task id", function()
      assert.matches("task_id", support.raised(client.stop, client))
    end)
  end)
end)
