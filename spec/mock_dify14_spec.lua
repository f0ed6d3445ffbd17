-- Specs of the fake server as Dify 1.14.2: the API index and the headers of
-- every answer, Flask's HTML 404s, the streams of each scenario, pausing on a
-- Human Input form and following the resumed run. Plain LuaSocket, so that
-- they check exactly what goes over the wire.

local socket = require("socket")
local mock = require("spec.mock")

local json = mock.json

local APP = "Bearer " .. mock.APP_KEY
local NOBODY = "00000000-0000-4000-8000-000000000000" -- a UUID no record has

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local call = mock.call

-- Sends a request on a new connection (closed by the server after it) and
-- returns a reader of its answer: reader.status, reader.headers, then
-- reader:next() -> the next SSE frame ({ping = true} or the decoded event), nil at the end.
local function open(srv, method, path, body, extra_headers)
  local sock = assert(socket.connect("127.0.0.1", srv.port))
  sock:settimeout(5)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1", "Connection: close" }
  local headers = { authorization = APP }
  for k, v in pairs(extra_headers or {}) do headers[k] = v end
  if body then
    headers["content-type"] = "application/json"
    headers["content-length"] = tostring(#body)
  end
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
  assert(sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))

  local reader = { headers = {} }
  reader.status = tonumber(assert(sock:receive("*l")):match("^HTTP/1%.1 (%d+)"))
  while true do
    local line = assert(sock:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    reader.headers[name:lower()] = value
  end
  function reader.next()
    while true do
      local line = sock:receive("*l")
      if not line or line == "0" then
        return nil
      elseif line == "event: ping" then
        return { ping = true }
      elseif line:find("^data: ") then
        return assert(json.decode(line:sub(7)))
      end -- chunk sizes and blank lines
    end
  end
  function reader.rest()
    local list = {}
    for frame in reader.next do list[#list + 1] = frame end
    sock:close()
    return list
  end
  return reader
end

-- A whole streamed exchange: status, headers, frames.
local function stream(srv, path, body, headers)
  local reader = open(srv, "POST", "/v1" .. path, json.encode(body), headers)
  return reader.status, reader.headers, reader.rest()
end

local function names(frames)
  local list = {}
  for i, frame in ipairs(frames) do list[i] = frame.ping and "ping" or frame.event end
  return list
end

local function find(frames, name)
  for _, frame in ipairs(frames) do
    if frame.event == name then return frame end
  end
  return nil
end

local function count(frames, name)
  local n = 0
  for _, frame in ipairs(frames) do
    if (frame.ping and "ping" or frame.event) == name then n = n + 1 end
  end
  return n
end

local function chat_body(query, mode)
  return { query = query, inputs = json.object(), user = "u1", response_mode = mode or "streaming" }
end

local function workflow_body(inputs, mode)
  return { inputs = inputs, user = "u1", response_mode = mode or "streaming" }
end

local UUID = "^%x+%-%x+%-%x+%-%x+%-%x+$"

---------------------------------------------------------------------------
-- Specs
---------------------------------------------------------------------------

describe("dify-mock as Dify 1.14.2", function()
  local srv

  setup(function() srv = mock.start() end)
  teardown(function() srv.stop() end)
  before_each(function() srv.reset() end)

  describe("the API index and headers", function()
    it("answers GET /v1/ without a key", function()
      local status, body, headers = mock.request("GET", srv.url .. "/")
      assert.equal(200, status)
      assert.same({ welcome = "Dify OpenAPI", api_version = "v1", server_version = "1.14.2" }, json.decode(body))
      assert.equal("1.14.2", headers["x-version"])
      assert.equal("PRODUCTION", headers["x-env"])
      assert.matches(UUID, headers["x-trace-id"])
    end)

    it("redirects /v1 to /v1/ with a 308", function()
      local reader = open(srv, "GET", "/v1")
      assert.equal(308, reader.status)
      assert.equal("/v1/", reader.headers["location"])
      assert.equal("1.14.2", reader.headers["x-version"])
    end)

    it("answers the host root with Flask's HTML 404, X-Version included", function()
      local status, body, headers = mock.request("GET", srv.root .. "/")
      assert.equal(404, status)
      assert.matches("^text/html", headers["content-type"])
      assert.matches("<title>404 Not Found</title>", body, 1, true)
      assert.equal("1.14.2", headers["x-version"])
    end)

    it("plays an older-style server with no_index: /v1/ unknown, / answers the version", function()
      local fault = { ["x-mock-fault"] = "no_index" }
      local status, body = mock.request("GET", srv.url .. "/", nil, fault)
      assert.equal(404, status)
      assert.matches("<h1>Not Found</h1>", body, 1, true)
      local root_status, root_body, headers = mock.request("GET", srv.root .. "/", nil,
        { ["x-mock-fault"] = "no_index" })
      assert.equal(200, root_status)
      assert.same({ version = "1.14.2" }, json.decode(root_body))
      assert.equal("1.14.2", headers["x-version"])
    end)

    it("plays an older version with version:X.Y.Z: its X-Version, its index, none of the later routes", function()
      local fault = { ["x-mock-fault"] = "version:1.13.0", authorization = "Bearer app-test-key-1" }
      local status, body, headers = mock.request("GET", srv.url .. "/", nil, fault)
      assert.equal(200, status)
      assert.equal("1.13.0", json.decode(body).server_version)
      assert.equal("1.13.0", headers["x-version"])
      local form_status, form_body = mock.request("GET", srv.url .. "/form/human_input/some-token", nil, fault)
      assert.equal(404, form_status)
      assert.matches("<title>404 Not Found</title>", form_body, 1, true)
      -- 1.13.0's own routes are there: an unknown end user is Dify's JSON 404.
      local user_status, user_body = mock.request("GET",
        srv.url .. "/end-users/00000000-0000-4000-8000-000000000000", nil, fault)
      assert.equal(404, user_status)
      assert.equal("end_user_not_found", json.decode(user_body).code)
      -- The current server has the route: an unknown token is its JSON answer, not the page.
      local _, _, current_headers = mock.request("GET", srv.url .. "/form/human_input/some-token", nil,
        { authorization = "Bearer app-test-key-1" })
      assert.matches("^application/json", current_headers["content-type"])
    end)

    it("puts X-Version, X-Env and a fresh X-Trace-Id on errors, streams and 204s", function()
      local _, _, unauthorized = mock.request("GET", srv.url .. "/parameters")
      assert.equal('Bearer realm="api"', unauthorized["www-authenticate"])
      local _, streamed = stream(srv, "/chat-messages", chat_body("hi"))
      local _, created = call(srv, "POST", "/apps/annotations", { question = "q", answer = "a" })
      local deleted_status, _, deleted = call(srv, "DELETE", "/apps/annotations/" .. created.id)
      assert.equal(204, deleted_status)
      local traces = {}
      for _, headers in ipairs({ unauthorized, streamed, deleted }) do
        assert.equal("1.14.2", headers["x-version"])
        assert.equal("PRODUCTION", headers["x-env"])
        assert.matches(UUID, headers["x-trace-id"])
        assert.is_nil(traces[headers["x-trace-id"]])
        traces[headers["x-trace-id"]] = true
      end
    end)
  end)

  describe("routing", function()
    it("answers unknown routes and non-UUID ids with Flask's HTML 404", function()
      for _, case in ipairs({
        { "GET", "/no-such-route" },
        { "GET", "/conversations/nope/variables?user=u1" },
        { "POST", "/messages/nope/feedbacks" },
        { "GET", "/datasets/not-a-uuid" },
        { "GET", "/chat-messages/" }, -- Flask's strict slashes
      }) do
        local status, body, headers = call(srv, case[1], case[2])
        assert.equal(404, status, case[2])
        assert.matches("^text/html", headers["content-type"], 1, false)
        assert.matches("<title>404 Not Found</title>", body, 1, true)
      end
    end)

    it("routes before it checks the key, as Flask does", function()
      local status = call(srv, "GET", "/no-such-route", nil, { authorization = "Bearer app-bad" })
      assert.equal(404, status)
    end)

    it("keeps a JSON 405 for a wrong method on a known path", function()
      local status, body = call(srv, "DELETE", "/chat-messages")
      assert.equal(405, status)
      assert.equal("method_not_allowed", body.code)
    end)

    it("has no …/documents/{doc}/upload-file any more (gone since Dify 1.9.0)", function()
      local key = { authorization = "Bearer dataset-test" }
      local _, dataset = call(srv, "POST", "/datasets", { name = "kb" }, key)
      local _, created = call(srv, "POST", "/datasets/" .. dataset.id .. "/document/create-by-text",
        { name = "a.txt", text = "x", indexing_technique = "economy" }, { authorization = "Bearer dataset-test" })
      local status = call(srv, "GET", "/datasets/" .. dataset.id .. "/documents/" .. created.document.id
        .. "/upload-file", nil, { authorization = "Bearer dataset-test" })
      assert.equal(404, status)
    end)
  end)

  describe("chat streams", function()
    it("a plain chat app sends no opening ping", function()
      local _, headers, frames = stream(srv, "/chat-messages", chat_body("hi there"))
      assert.same({ "message", "message", "message", "message_end" }, names(frames)) -- "Echo: ", "hi ", "there"
      assert.equal("text/event-stream; charset=utf-8", headers["content-type"])
      assert.equal(json.null, frames[4].files) -- message_end names the files it produced: none
    end)

    it("query workflow: a chatflow, ping first, message_end then workflow_finished", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("workflow"))
      local list = names(frames)
      assert.equal("ping", list[1])
      assert.equal("workflow_started", list[2])
      assert.equal("message_end", list[#list - 1])
      assert.equal("workflow_finished", list[#list])
      local started = frames[2].data
      assert.equal("initial", started.reason)
      assert.is_nil(started.sequence_number)
      for _, frame in ipairs(frames) do
        if not frame.ping then
          assert.matches(UUID, frame.conversation_id)
          assert.matches(UUID, frame.message_id)
        end
      end
      assert.equal("succeeded", frames[#frames].data.status)
    end)

    it("no_message_end: the chatflow ends at workflow_finished (Dify 1.13.0)", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("workflow"), { ["x-mock-fault"] = "no_message_end" })
      assert.equal(0, count(frames, "message_end"))
      assert.equal("workflow_finished", names(frames)[#frames])
    end)

    it("query agent: an Agent Chat app, which refuses blocking mode", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("agent"))
      local list = names(frames)
      assert.equal("agent_thought", list[1])
      assert.equal("agent_message", list[2])
      assert.equal("agent_thought", list[#list - 1])
      assert.equal("message_end", list[#list])
      assert.equal(0, count(frames, "message"))
      local status, body = call(srv, "POST", "/chat-messages", chat_body("agent", "blocking"))
      assert.equal(400, status)
      assert.same({ code = "invalid_param", message = "Agent Chat App does not support blocking mode",
        status = 400 }, body)
    end)

    it("query new_agent: agent_message chunks, one closing message with the whole answer", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("new_agent"))
      local chunks = {}
      for _, frame in ipairs(frames) do
        if frame.event == "agent_message" then chunks[#chunks + 1] = frame.answer end
      end
      assert.equal("Echo: new_agent", table.concat(chunks))
      assert.equal(1, count(frames, "message"))
      assert.equal("Echo: new_agent", find(frames, "message").answer)
      local list = names(frames)
      assert.same({ "message", "message_end" }, { list[#list - 1], list[#list] })
      assert.is_nil(frames[#frames].metadata.retriever_resources)
      local status, body = call(srv, "POST", "/chat-messages", chat_body("new_agent", "blocking"))
      assert.equal(400, status)
      assert.same({ code = "bad_request", message = "Agent App only supports streaming response mode.",
        status = 400 }, body)
    end)

    it("query reasoning: reasoning_chunk events before the answer, which has no <think>", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("reasoning"))
      local reasoning, finals, first_reasoning, first_message = {}, 0, nil, nil
      for i, frame in ipairs(frames) do
        if frame.event == "reasoning_chunk" then
          first_reasoning = first_reasoning or i
          assert.equal(frame.message_id, frame.data.message_id)
          assert.equal("llm", frame.data.node_id)
          reasoning[#reasoning + 1] = frame.data.reasoning
          if frame.data.is_final then finals = finals + 1 end
        elseif frame.event == "message" then
          first_message = first_message or i
          assert.is_nil(frame.answer:find("<think>", 1, true))
        end
      end
      assert.is_true(first_reasoning < first_message)
      assert.equal(1, finals)
      assert.is_true(frames[first_message - 1].data.is_final)
      assert.matches("echo it back", table.concat(reasoning))
    end)

    it("query fail: a failed workflow_finished, then an error event; no message_end", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("fail"))
      local list = names(frames)
      assert.same({ "workflow_finished", "error" }, { list[#list - 1], list[#list] })
      assert.equal(0, count(frames, "message_end"))
      local finished, err = frames[#frames - 1], frames[#frames]
      assert.equal("failed", finished.data.status)
      assert.is_string(finished.data.error)
      assert.is_nil(err.task_id)
      assert.matches(UUID, err.conversation_id)
      assert.matches(UUID, err.message_id)
      assert.is_number(err.created_at)
      assert.same({ "invalid_param", 400 }, { err.code, err.status })
      local status, body = call(srv, "POST", "/chat-messages", chat_body("fail", "blocking"))
      assert.equal(400, status)
      assert.equal("invalid_param", body.code)
    end)

    it("an error event (error_event fault) has no task_id, and the ids of its app", function()
      local _, _, chat = stream(srv, "/chat-messages", chat_body("a b"), { ["x-mock-fault"] = "error_event" })
      local err = find(chat, "error")
      assert.is_nil(err.task_id)
      assert.matches(UUID, err.conversation_id)
      assert.is_number(err.created_at)
      local _, _, run = stream(srv, "/workflows/run", workflow_body({ query = "a b" }),
        { ["x-mock-fault"] = "error_event" })
      local run_err = find(run, "error")
      assert.is_nil(run_err.task_id)
      assert.matches(UUID, run_err.workflow_run_id)
      assert.is_nil(run_err.conversation_id)
    end)

    it("query pause: the chatflow pauses on a Human Input node", function()
      local _, _, frames = stream(srv, "/chat-messages", chat_body("pause"))
      local list = names(frames)
      assert.same({ "ping", "workflow_started" }, { list[1], list[2] })
      assert.same({ "human_input_required", "workflow_paused" }, { list[#list - 1], list[#list] })
      assert.equal(0, count(frames, "message_end") + count(frames, "workflow_finished"))
      local required, paused = frames[#frames - 1].data, frames[#frames].data
      assert.is_string(required.form_token)
      assert.equal("human_input", required.node_id)
      assert.same({ "approve", "reject" }, { required.actions[1].id, required.actions[2].id })
      assert.equal("paused", paused.status)
      assert.same({ "human_input" }, paused.paused_nodes)
      assert.same({}, paused.outputs)
      assert.equal("human_input_required", paused.reasons[1].TYPE)
      assert.equal(required.form_token, paused.reasons[1].form_token)
      assert.equal(frames[2].workflow_run_id, paused.workflow_run_id)
    end)

    it("query pause, blocking: the workflow_paused answer", function()
      local status, body = call(srv, "POST", "/chat-messages", chat_body("pause", "blocking"))
      assert.equal(200, status)
      assert.equal("workflow_paused", body.event)
      assert.equal("advanced-chat", body.mode)
      assert.matches(UUID, body.workflow_run_id)
      assert.equal("paused", body.data.status)
      assert.same({ "human_input" }, body.data.paused_nodes)
      assert.is_string(body.data.reasons[1].form_token)
      assert.equal(body.message_id, body.data.message_id)
    end)
  end)

  describe("workflow streams", function()
    it("begin with a ping and carry no parallel_branch events", function()
      local _, _, frames = stream(srv, "/workflows/run", workflow_body({ query = "go" }))
      local list = names(frames)
      assert.equal("ping", list[1])
      assert.equal("workflow_finished", list[#list])
      assert.equal(0, count(frames, "parallel_branch_started") + count(frames, "parallel_branch_finished"))
      assert.equal(1, count(frames, "ping"))
      assert.is_nil(frames[2].created_at) -- a workflow app's events carry no message fields
      assert.is_nil(frames[2].data.sequence_number)
      assert.equal("initial", frames[2].data.reason)
    end)

    it("parallel_branches: an older server's parallel_branch events around the iteration", function()
      local _, _, frames = stream(srv, "/workflows/run", workflow_body({ query = "go" }),
        { ["x-mock-fault"] = "parallel_branches" })
      assert.equal(1, count(frames, "parallel_branch_started"))
      assert.equal(1, count(frames, "parallel_branch_finished"))
    end)

    it("scenario fail: workflow_finished status failed, and no error event", function()
      local _, _, frames = stream(srv, "/workflows/run", workflow_body({ scenario = "fail" }))
      local last = frames[#frames]
      assert.equal("workflow_finished", last.event)
      assert.equal("failed", last.data.status)
      assert.is_string(last.data.error)
      assert.equal(0, count(frames, "error"))
      local status, body = call(srv, "POST", "/workflows/run", workflow_body({ scenario = "fail" }, "blocking"))
      assert.equal(200, status)
      assert.equal("failed", body.data.status)
      local _, detail = call(srv, "GET", "/workflows/run/" .. body.workflow_run_id)
      assert.equal("failed", detail.status)
    end)

    it("scenario reasoning: reasoning_chunk events of the LLM node", function()
      local _, _, frames = stream(srv, "/workflows/run", workflow_body({ scenario = "reasoning", query = "x" }))
      local chunk = find(frames, "reasoning_chunk")
      assert.equal("llm", chunk.data.node_id)
      assert.is_false(chunk.data.is_final)
      assert.is_nil(chunk.data.message_id)
      assert.matches(UUID, chunk.workflow_run_id)
    end)

    it("scenario pause: human_input_required then workflow_paused; stored as paused", function()
      local _, _, frames = stream(srv, "/workflows/run", workflow_body({ scenario = "pause", query = "x" }))
      local list = names(frames)
      assert.same({ "human_input_required", "workflow_paused" }, { list[#list - 1], list[#list] })
      local run_id = frames[#frames].workflow_run_id
      local _, detail = call(srv, "GET", "/workflows/run/" .. run_id)
      assert.equal("paused", detail.status)
      assert.same({}, detail.outputs)
      assert.equal(json.null, detail.finished_at)
    end)

    it("scenario pause, blocking: data.status paused, finished_at null, paused_nodes, reasons", function()
      local status, body = call(srv, "POST", "/workflows/run", workflow_body({ scenario = "pause" }, "blocking"))
      assert.equal(200, status)
      assert.equal("paused", body.data.status)
      assert.equal(json.null, body.data.finished_at)
      assert.same({ "human_input" }, body.data.paused_nodes)
      assert.is_string(body.data.reasons[1].form_token)
    end)

    it("a run's detail hands out its inputs as JSON text", function()
      local _, run = call(srv, "POST", "/workflows/run", workflow_body({ query = "detail" }, "blocking"))
      local _, detail = call(srv, "GET", "/workflows/run/" .. run.workflow_run_id)
      assert.is_string(detail.inputs)
      assert.same({ query = "detail" }, json.decode(detail.inputs))
    end)
  end)

  describe("human input and GET /workflow/{id}/events", function()
    local function paused_run(path, body)
      local _, _, frames = stream(srv, path, body)
      local required = find(frames, "human_input_required")
      return required.workflow_run_id, required.data.form_token, frames
    end

    local function events_of(run_id, query)
      return open(srv, "GET", "/v1/workflow/" .. run_id .. "/events?user=u1" .. (query or ""))
    end

    local function submit(token, inputs, action, user)
      return call(srv, "POST", "/form/human_input/" .. token, {
        inputs = inputs or { comment = "ship it", priority = "high" }, action = action or "approve",
        user = user or "u2" })
    end

    it("reads the form a paused run waits on", function()
      local _, token = paused_run("/workflows/run", workflow_body({ scenario = "pause", query = "draft" }))
      local status, form = call(srv, "GET", "/form/human_input/" .. token)
      assert.equal(200, status)
      assert.matches("draft", form.form_content)
      assert.same({ "comment", "priority" },
        { form.inputs[1].output_variable_name, form.inputs[2].output_variable_name })
      assert.same({ "low", "medium", "high" }, form.inputs[2].option_source.value)
      assert.same({ comment = "" }, form.resolved_default_values)
      assert.equal("approve", form.user_actions[1].id)
      assert.is_true(form.expiration_time > os.time())
      assert.equal(404, (call(srv, "GET", "/form/human_input/no-such-token")))
    end)

    it("a workflow: submit the form, and the run resumes on its events stream", function()
      local run_id, token = paused_run("/workflows/run", workflow_body({ scenario = "pause", query = "draft" }))
      local reader = events_of(run_id)
      assert.equal(200, reader.status)
      assert.equal("no-cache", reader.headers["cache-control"])
      assert.is_true(reader.next().ping) -- sent at once, while the run still waits
      local status, body = submit(token)
      assert.equal(200, status)
      assert.same({}, body)
      local frames = reader.rest()
      local list = names(frames)
      assert.equal("human_input_form_filled", list[1])
      assert.equal("workflow_finished", list[#list])
      assert.equal(0, count(frames, "workflow_started"))
      local filled = frames[1].data
      assert.same({ "approve", "Approve" }, { filled.action_id, filled.action_text })
      assert.same({ comment = "ship it", priority = "high" }, filled.submitted_data)
      assert.matches("Comment: ship it", filled.rendered_content, 1, true)
      assert.equal("succeeded", frames[#frames].data.status)
      local _, detail = call(srv, "GET", "/workflows/run/" .. run_id)
      assert.equal("succeeded", detail.status)
      assert.same({ text = "Echo: draft" }, detail.outputs)
    end)

    it("a chatflow: submitted first, then followed: the message and message_end come", function()
      local run_id, token = paused_run("/chat-messages", chat_body("pause"))
      assert.equal(200, (submit(token)))
      local frames = events_of(run_id).rest()
      local list = names(frames)
      assert.equal("ping", list[1])
      assert.equal("human_input_form_filled", list[2])
      assert.same({ "message_end", "workflow_finished" }, { list[#list - 1], list[#list] })
      local answer = {}
      for _, frame in ipairs(frames) do
        if frame.event == "message" then answer[#answer + 1] = frame.answer end
      end
      assert.equal("Echo: pause", table.concat(answer))
      local _, history = call(srv, "GET", "/messages?user=u1&conversation_id=" .. frames[2].conversation_id)
      assert.equal("Echo: pause", history.data[1].answer)
      assert.equal("normal", history.data[1].status)
      assert.is_true(history.data[1].extra_contents[1].submitted)
    end)

    it("a form is one-shot: 412 once submitted", function()
      local _, token = paused_run("/workflows/run", workflow_body({ scenario = "pause" }))
      assert.equal(200, (submit(token)))
      local status, body = submit(token)
      assert.equal(412, status)
      assert.equal("human_input_form_submitted", body.code)
      local read_status, read = call(srv, "GET", "/form/human_input/" .. token)
      assert.equal(412, read_status)
      assert.equal("human_input_form_submitted", read.code)
    end)

    it("checks a submission against the form", function()
      local _, token = paused_run("/workflows/run", workflow_body({ scenario = "pause" }))
      for _, case in ipairs({
        { { comment = "x", priority = "high" }, "maybe", "invalid_form_data" },
        { { comment = "x" }, "approve", "invalid_form_data" },
        { { comment = "x", priority = "urgent" }, "approve", "invalid_form_data" },
      }) do
        local status, body = submit(token, case[1], case[2])
        assert.equal(400, status)
        assert.equal(case[3], body.code)
      end
      local status, body = call(srv, "POST", "/form/human_input/" .. token,
        { inputs = { comment = "x", priority = "low" }, action = "approve" })
      assert.equal(400, status)
      assert.same({ "invalid_param", "Arg user must be provided." }, { body.code, body.message })
      assert.equal(404, (submit("no-such-token")))
    end)

    it("POST /__mock/expire_form: the run resumes with human_input_form_timeout", function()
      local run_id, token = paused_run("/workflows/run", workflow_body({ scenario = "pause" }))
      local reader = events_of(run_id)
      assert.is_true(reader.next().ping)
      local status = mock.request("POST", srv.root .. "/__mock/expire_form",
        json.encode({ form_token = token }), { ["content-type"] = "application/json" })
      assert.equal(200, status)
      local frames = reader.rest()
      assert.equal("human_input_form_timeout", frames[1].event)
      assert.equal("human_input", frames[1].data.node_id)
      assert.is_number(frames[1].data.expiration_time)
      assert.equal("workflow_finished", frames[#frames].event)
      local read_status, read = call(srv, "GET", "/form/human_input/" .. token)
      assert.equal(412, read_status)
      assert.equal("human_input_form_expired", read.code)
      assert.equal(404, (mock.request("POST", srv.root .. "/__mock/expire_form",
        json.encode({ form_token = "nope" }), { ["content-type"] = "application/json" })))
    end)

    it("a finished run answers its workflow_finished alone, as one data frame", function()
      local _, run = call(srv, "POST", "/workflows/run", workflow_body({ query = "done" }, "blocking"))
      local frames = events_of(run.workflow_run_id).rest()
      assert.equal(1, #frames)
      assert.equal("workflow_finished", frames[1].event)
      assert.equal(run.workflow_run_id, frames[1].task_id)
      assert.equal("succeeded", frames[1].data.status)
      assert.same({ id = frames[1].data.created_by.id, user = "u1" }, frames[1].data.created_by)
    end)

    it("is for the run's own end user only; user is required", function()
      local _, run = call(srv, "POST", "/workflows/run", workflow_body({ query = "mine" }, "blocking"))
      local status, body = call(srv, "GET", "/workflow/" .. run.workflow_run_id .. "/events?user=someone-else")
      assert.equal(404, status)
      assert.equal("not_found", body.code)
      local missing_status, missing = call(srv, "GET", "/workflow/" .. run.workflow_run_id .. "/events")
      assert.equal(400, missing_status)
      assert.equal("invalid_param", missing.code)
      assert.equal(404, (call(srv, "GET", "/workflow/" .. NOBODY .. "/events?user=u1")))
    end)

    it("include_state_snapshot on a paused run: the snapshot, ending at its pause", function()
      local run_id, _, original = paused_run("/workflows/run", workflow_body({ scenario = "pause" }))
      local frames = events_of(run_id, "&include_state_snapshot=true").rest()
      local list = names(frames)
      assert.same({ "ping", "workflow_started", "node_started", "node_finished", "node_started",
        "human_input_required", "workflow_paused" }, list)
      assert.equal(find(original, "node_started").data.id, frames[3].data.id)
    end)

    it("include_state_snapshot with continue_on_pause: the snapshot, then the resumed run", function()
      local run_id, token = paused_run("/chat-messages", chat_body("pause"))
      local reader = events_of(run_id, "&include_state_snapshot=true&continue_on_pause=true")
      local seen = {}
      repeat
        local frame = reader.next()
        seen[#seen + 1] = frame.ping and "ping" or frame.event
      until frame.event == "workflow_paused"
      assert.same({ "ping", "workflow_started", "message_replace" }, { seen[1], seen[2], seen[3] })
      assert.equal(200, (submit(token)))
      local frames = reader.rest()
      assert.equal("human_input_form_filled", frames[1].event)
      assert.equal("workflow_finished", frames[#frames].event)
    end)

    it("follows a running run live, from the events after it subscribed", function()
      local run = open(srv, "POST", "/v1/workflows/run", json.encode(workflow_body({ query = "a b c d e" })),
        { ["x-mock-fault"] = "drip:60" })
      assert.is_true(run.next().ping)
      local started = run.next()
      assert.equal("workflow_started", started.event)
      local follower = events_of(started.workflow_run_id)
      local live = follower.rest()
      local whole = run.rest()
      assert.equal("ping", names(live)[1])
      assert.equal(0, count(live, "workflow_started"))
      assert.equal("workflow_finished", names(live)[#live])
      assert.is_true(#live - 1 <= #whole) -- nothing replayed from before it came
      assert.equal("workflow_finished", names(whole)[#whole])
    end)

    it("a chatflow's task is stopped through the chat route, not the workflow one", function()
      local _, _, frames = paused_run("/chat-messages", chat_body("pause"))
      local task_id = frames[2].task_id
      local status, body = call(srv, "POST", "/workflows/tasks/" .. task_id .. "/stop", { user = "u1" })
      assert.same({ 400, "not_workflow_app" }, { status, body.code })
      assert.equal(200, (call(srv, "POST", "/chat-messages/" .. task_id .. "/stop", { user = "u1" })))
      local _, detail = call(srv, "GET", "/workflows/run/" .. frames[2].workflow_run_id)
      assert.equal("stopped", detail.status)
    end)

    it("a stop request ends a paused run for whoever follows it", function()
      local run_id, _, frames = paused_run("/workflows/run", workflow_body({ scenario = "pause" }))
      local reader = events_of(run_id)
      assert.is_true(reader.next().ping)
      local status = call(srv, "POST", "/workflows/tasks/" .. frames[2].task_id .. "/stop", { user = "u1" })
      assert.equal(200, status)
      local rest = reader.rest()
      assert.same({ "workflow_finished" }, names(rest))
      assert.equal("stopped", rest[1].data.status)
      local _, detail = call(srv, "GET", "/workflows/run/" .. run_id)
      assert.equal("stopped", detail.status)
    end)
  end)
end)
