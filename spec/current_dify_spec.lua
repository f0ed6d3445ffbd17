-- What current Dify (1.13–1.14) does that older servers did not: runs that
-- pause for a person, New Agent apps, reasoning chunks, chatflow endings,
-- the human-input routes and the operations added in 2025–26, against the
-- bundled mock (docs/mock.md names its scenarios).
local dify = require("dify")
local pager = require("dify.pager")
local support = require("spec.support")

local function names_of(events)
  local names = {}
  for i, ev in ipairs(events) do names[i] = ev.event end
  return names
end

-- POSTs a JSON body to a control route of the mock; returns the status.
local function mock_json_post(srv, path, body)
  local mock = require("spec.mock")
  return (mock.request("POST", srv.url:gsub("/v1$", "") .. path, assert(dify.json.encode(body)),
    { ["content-type"] = "application/json" }))
end

local function index_of(list, value)
  for i, v in ipairs(list) do
    if v == value then return i end
  end
end

describe("current Dify streams", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  describe("a chatflow that pauses on a Human Input node", function()
    it("ends the loop without an error, with the pause and its form kept", function()
      local stream = assert(client:chat_stream{ query = "pause" })
      local events = support.collect(stream)
      local names = names_of(events)
      assert.equal("workflow_paused", names[#names])
      assert.is_nil(index_of(names, "message_end"))
      assert.is_table(stream.paused)
      assert.equal("paused", stream.paused.status)
      assert.equal(1, #stream.forms)
      assert.is_string(stream.forms[1].form_token)
    end)

    it("gives text() the answer so far and the workflow_paused event", function()
      local stream = assert(client:chat_stream{ query = "pause" })
      local text, last = stream:text()
      assert.is_string(text)
      assert.equal("workflow_paused", last.event)
      assert.equal("paused", assert(stream:result()).status)
    end)

    it("answers a blocking chat with the paused shape, marked paused", function()
      local answer = assert(client:chat{ query = "pause" })
      assert.is_true(answer.paused)
      assert.equal("workflow_paused", answer.event)
      assert.equal("paused", answer.data.status)
    end)

    it("reads the form, submits it, and streams the resumed run to its end", function()
      local stream = assert(client:chat_stream{ query = "pause" })
      support.collect(stream)
      local token = stream.forms[1].form_token
      local form = assert(client:human_input_form(token))
      assert.is_table(form.user_actions)
      assert.is_nil(srv.last("/form/human_input/").args.user)
      local action = form.user_actions[1].id
      local answers = { comment = "fine", priority = "high" }
      assert.same({}, assert(client:submit_human_input_form(token, { inputs = answers, action = action })))
      local sent = srv.last("/form/human_input/")
      assert.equal("POST", sent.method)
      assert.same({ inputs = answers, action = action, user = "alice" }, sent.json)
      local resumed = assert(client:workflow_events(stream.workflow_run_id))
      local names = names_of(support.collect(resumed))
      assert.truthy(index_of(names, "human_input_form_filled"))
      assert.equal("workflow_finished", names[#names])
      local again, err = client:human_input_form(token)
      assert.is_nil(again)
      assert.equal(412, err.status)
    end)
  end)

  it("clears stream.paused when a run followed with continue_on_pause then finishes", function()
    local stream = assert(client:run_workflow_stream{ inputs = { scenario = "pause" } })
    assert(stream:result())
    local follower = assert(client:workflow_events(stream.workflow_run_id,
      { include_state_snapshot = true, continue_on_pause = true }))
    for ev in follower.next, follower do
      if ev.event == "workflow_paused" then break end
    end
    assert.is_table(follower.paused)
    local token = stream.forms[1].form_token
    local action = assert(client:human_input_form(token)).user_actions[1].id
    assert(client:submit_human_input_form(token, { inputs = { comment = "ok", priority = "low" }, action = action }))
    assert.equal("succeeded", assert(follower:result()).status)
    assert.is_nil(follower.paused)
  end)

  describe("stopping a chatflow's run from a stream of its events", function()
    -- Requests to a route, by path pattern.
    local function count_requests(pattern)
      local n = 0
      for _, r in ipairs(srv.requests()) do
        if r.method == "POST" and r.path:find(pattern) then n = n + 1 end
      end
      return n
    end

    it("resume() keeps the chat stop route of the stream it came from", function()
      local stream = assert(client:chat_stream{ query = "pause" })
      support.collect(stream)
      local workflow_stops = count_requests("^/v1/workflows/tasks/")
      local resumed = assert(stream:resume{ include_state_snapshot = true })
      assert.same({ result = "success" }, assert(resumed:stop()))
      assert.equal(workflow_stops, count_requests("^/v1/workflows/tasks/"))
      assert.truthy(srv.last("/chat%-messages/[^/]+/stop$"))
      assert.equal("stopped", assert(client:workflow_run(stream.workflow_run_id)).status)
    end)

    it("workflow_events of a chatflow falls back to the chat stop route on not_workflow_app", function()
      local stream = assert(client:chat_stream{ query = "pause" })
      support.collect(stream)
      local events = assert(client:workflow_events(stream.workflow_run_id, { include_state_snapshot = true }))
      assert.same({ result = "success" }, assert(events:stop()))
      assert.equal(stream.task_id, srv.last("/chat%-messages/[^/]+/stop$").path:match("/chat%-messages/([^/]+)/stop$"))
      assert.equal("stopped", assert(client:workflow_run(stream.workflow_run_id)).status)
    end)
  end)

  describe("a workflow that pauses", function()
    it("ends run_workflow_stream normally; result() is the paused data", function()
      local stream = assert(client:run_workflow_stream{ inputs = { scenario = "pause" } })
      local data = assert(stream:result())
      assert.equal("paused", data.status)
      assert.equal(data, stream.paused)
      assert.is_string(stream.forms[1].form_token)
    end)

    it("marks a blocking run that paused", function()
      local run = assert(client:run_workflow{ inputs = { scenario = "pause" } })
      assert.is_true(run.paused)
      assert.equal("paused", run.data.status)
    end)

    it("resumes with a timeout when the form expires", function()
      local stream = assert(client:run_workflow_stream{ inputs = { scenario = "pause" } })
      assert(stream:result())
      local status = mock_json_post(srv, "/__mock/expire_form", { form_token = stream.forms[1].form_token })
      assert.equal(200, status)
      local names = names_of(support.collect(assert(client:workflow_events(stream.workflow_run_id))))
      assert.truthy(index_of(names, "human_input_form_timeout"))
    end)
  end)

  describe("a New Agent app", function()
    it("gives text() its closing message once, not after its chunks", function()
      local stream = assert(client:chat_stream{ query = "new_agent" })
      local text = assert(stream:text())
      assert.equal("Echo: new_agent", text)
    end)

    it("keeps an Agent Chat app's agent_message chunks as its answer", function()
      assert.equal("Echo: agent", assert(assert(client:chat_stream{ query = "agent" }):text()))
    end)

    it("refuses blocking calls, as Dify does", function()
      local answer, err = client:chat{ query = "new_agent" }
      assert.is_nil(answer)
      assert.equal(400, err.status)
      assert.equal("bad_request", err.code)
    end)
  end)

  describe("reasoning chunks", function()
    it("reach the loop; text() leaves them out and reasoning() joins them", function()
      local stream = assert(client:chat_stream{ query = "reasoning" })
      local events = support.collect(stream)
      assert.truthy(index_of(names_of(events), "reasoning_chunk"))
      local reasoning = assert(stream:reasoning()) -- what the loop saw
      assert.is_true(#reasoning > 0)
      local fresh = assert(client:chat_stream{ query = "reasoning" })
      local text, _, also_reasoning = fresh:text()
      assert.equal("Echo: reasoning", text)
      assert.equal(reasoning, also_reasoning)
      assert.equal(reasoning, fresh:reasoning())
      assert.is_nil(text:find("<think>", 1, true))
    end)
  end)

  describe("chatflow endings", function()
    it("raises the error event's code after a failed workflow_finished", function()
      local stream = assert(client:chat_stream{ query = "fail" })
      local seen = {}
      local ok, err = pcall(function()
        for ev in stream do seen[#seen + 1] = ev.event end
      end)
      assert.is_false(ok)
      assert.equal("api", err.kind)
      assert.is_string(err.code)
      assert.equal("workflow_finished", seen[#seen])
      assert.equal("1.14.2", err.server_version)
    end)

    it("ends normally at workflow_finished without message_end (Dify 1.13.0)", function()
      local stream = assert(support.faulty(srv, "no_message_end"):chat_stream{ query = "workflow" })
      local text, last = stream:text()
      assert.equal("Echo: workflow", text)
      assert.equal("workflow_finished", last.event)
    end)

    it("passes events of older servers (parallel_branch_*) through", function()
      local events = support.collect(assert(support.faulty(srv, "parallel_branches"):run_workflow_stream{
        inputs = { query = "old" } }))
      assert.truthy(index_of(names_of(events), "parallel_branch_started"))
    end)
  end)

  it("fails with kind protocol when the body ends inside a frame, keeping the events before", function()
    local stream = assert(support.faulty(srv, "cut_frame"):chat_stream{ query = "x" })
    local seen = 0
    local ok, err = pcall(function()
      for _ in stream do seen = seen + 1 end
    end)
    assert.is_false(ok)
    assert.equal("protocol", err.kind)
    assert.matches("middle of an event", err.message)
    assert.equal(1, seen)
    -- A whole frame that is not JSON stays a decode error.
    local _, bad = pcall(support.collect, assert(support.faulty(srv, "bad_json"):chat_stream{ query = "x" }))
    assert.equal("decode", bad.kind)
  end)
end)

describe("the operations added in 2025–26", function()
  local srv, client, kb
  support.serve(function(s, c)
    srv, client = s, c
    kb = dify.new{ base_url = srv.url, api_key = "dataset-test-key-7777", timeout = 10 }
  end)

  local function new_document()
    local ds = assert(kb:create_dataset{ name = "Current", indexing_technique = "economy" })
    local created = assert(kb:create_document_by_text(ds.id, {
      name = "a.txt", text = "Lua is small.", indexing_technique = "economy",
      process_rule = { mode = "automatic" } }))
    return ds, created.document
  end

  it("reads an end user", function()
    assert(client:chat{ query = "hello" })
    local conversations = assert(client:conversations())
    assert.is_true(#conversations.data >= 1)
    local logs = assert(client:run_workflow{ inputs = { query = "who" } })
    assert.is_string(logs.workflow_run_id)
    local entry = assert(client:workflow_logs()).data[1]
    local user = assert(client:end_user(entry.created_by_end_user.id))
    assert.equal("alice", user.session_id)
    local none, err = client:end_user("00000000-0000-4000-8000-000000000000")
    assert.is_nil(none)
    assert.equal("end_user_not_found", err.code)
  end)

  it("updates a document by PATCH, with or without a new file", function()
    local ds, doc = new_document()
    local updated = assert(kb:update_document(ds.id, doc.id, { data = "new text", filename = "b.txt",
      process_rule = { mode = "automatic" } }))
    assert.is_table(updated.document)
    local req = srv.last("/documents/[^/]+$")
    assert.equal("PATCH", req.method)
    local names = {}
    for _, part in ipairs(req.parts) do names[part.name] = part end
    assert.equal("b.txt", names.file.filename)
    assert.same({ process_rule = { mode = "automatic" } }, dify.json.decode(names.data.data))
    assert(kb:update_document(ds.id, doc.id, { doc_language = "English" }))
    assert.is_nil(srv.last("/documents/[^/]+$").parts[2])
  end)

  it("downloads a document's signed URL, and several as a ZIP", function()
    local ds, doc = new_document()
    assert.is_string(assert(kb:download_document(ds.id, doc.id)).url)
    local zip = assert(kb:download_documents_zip(ds.id, { document_ids = { doc.id } }))
    assert.equal("PK", zip:sub(1, 2))
    local path = os.tmpname()
    assert(kb:download_documents_zip(ds.id, { document_ids = { doc.id }, output = path }))
    assert.equal(zip, support.read_file(path))
    os.remove(path)
    assert.same({ document_ids = { doc.id } }, srv.last("/download%-zip$").json)
  end)

  it("lists built-in metadata fields and models of any type", function()
    local ds = new_document()
    assert.is_table(assert(kb:list_built_in_metadata(ds.id)).fields)
    assert.is_table(assert(kb:list_models("rerank")).data)
    assert.matches("/model%-types/rerank$", srv.last("/model%-types/").path)
    assert.is_table(assert(kb:list_embedding_models()).data)
    assert.matches("/model%-types/text%-embedding$", srv.last("/model%-types/").path)
  end)

  it("drives the knowledge pipeline", function()
    local ds = new_document()
    local file = assert(kb:upload_pipeline_file{ data = "hello", filename = "p.txt" })
    assert.is_string(file.id)
    local plugins = assert(kb:list_datasource_plugins(ds.id, { is_published = true }))
    assert.equal("true", srv.last("/datasource%-plugins").args.is_published)
    local node_of = {}
    for _, plugin in ipairs(plugins) do node_of[plugin.datasource_type or plugin.provider_type] = plugin.node_id end
    local online = assert(node_of.online_document, "an online_document node")
    local node_events = support.collect(assert(kb:run_datasource_node(ds.id, online, {
      datasource_type = "online_document", is_published = true })))
    assert.equal("datasource_completed", node_events[#node_events].event)
    assert.same({}, srv.last("/datasource/nodes/").json.inputs)
    -- A datasource_error event raises, as Dify's error event does.
    local failing = assert(kb:run_datasource_node(ds.id, "no-such-node", {
      datasource_type = "online_document", is_published = true }))
    local ok, err = pcall(support.collect, failing)
    assert.is_false(ok)
    assert.equal("datasource_error", err.code)
    local request = { datasource_type = "local_file", start_node_id = assert(node_of.local_file),
      is_published = true, datasource_info_list = { { reference = file.id, name = "p.txt" } } }
    assert.is_table(assert(kb:run_pipeline(ds.id, request)))
    assert.equal("blocking", srv.last("/pipeline/run$").json.response_mode)
    assert.equal("succeeded", assert(assert(kb:run_pipeline_stream(ds.id, request)):result()).status)
  end)

  it("text_to_audio: Dify's 200 null for an unknown message is an error, not audio", function()
    local audio, err = client:text_to_audio{ message_id = "00000000-0000-4000-8000-000000000000" }
    assert.is_nil(audio)
    assert.equal("no_result", err.code)
  end)

  it("text_to_audio: Dify's null is no audio for an output path or function either", function()
    local unknown = "00000000-0000-4000-8000-000000000000"
    local path = os.tmpname()
    os.remove(path)
    local ok, err = client:text_to_audio{ message_id = unknown, output = path }
    assert.is_nil(ok)
    assert.equal("no_result", err.code)
    assert.is_nil(io.open(path, "rb"))
    assert.is_nil(io.open(path .. ".part", "rb"))
    local chunks = {}
    ok, err = client:text_to_audio{ message_id = unknown, output = function(c) chunks[#chunks + 1] = c end }
    assert.is_nil(ok)
    assert.equal("no_result", err.code)
    assert.same({}, chunks)
    -- Real audio still reaches the function whole, the bytes held back included.
    local whole = assert(client:text_to_audio{ text = "Hello" })
    assert.is_true(assert(client:text_to_audio{ text = "Hello", output = function(c) chunks[#chunks + 1] = c end }))
    assert.equal(whole, table.concat(chunks))
  end)

  it("names the answer's server version and trace id on every error about an answer", function()
    local _, api = client:conversation_variables("00000000-0000-4000-8000-000000000000")
    assert.equal("1.14.2", api.server_version)
    assert.is_string(api.trace_id)
    local _, decode = support.faulty(srv, "empty200"):info()
    assert.equal("decode", decode.kind)
    assert.equal("1.14.2", decode.server_version)
    assert.is_string(decode.trace_id)
  end)

  it("keeps what an error body holds beside code and message", function()
    local ds, doc = new_document()
    local _, err = kb:create_segments(ds.id, doc.id, { segments = { { content = "" } } })
    assert.equal(400, err.status)
    assert.equal("api", err.kind)
    assert.is_string(err.details.error)
    assert.equal(err.details.error, err.message)
  end)

  it("leaves a false as_attachment out of a preview (Dify up to 1.10 read any value as true)", function()
    client:file_preview("00000000-0000-4000-8000-000000000000", { as_attachment = false })
    assert.is_nil(srv.last("/preview").args.as_attachment)
    client:file_preview("00000000-0000-4000-8000-000000000000", { as_attachment = true })
    assert.equal("true", srv.last("/preview").args.as_attachment)
  end)

  it("unbinds several tags at once", function()
    local ds = assert(kb:create_dataset{ name = "Tagged" })
    local a, b = assert(kb:create_tag{ name = "a" }), assert(kb:create_tag{ name = "b" })
    assert(kb:bind_tags{ tag_ids = { a.id, b.id }, target_id = ds.id })
    assert.is_true(kb:unbind_tag{ tag_ids = { a.id, b.id }, target_id = ds.id })
    assert.same({ tag_ids = { a.id, b.id }, target_id = ds.id }, srv.last("/unbinding$").json)
    assert.is_true(kb:unbind_tag{ tag_id = a.id, target_id = ds.id })
  end)

  describe("on a server older than the route", function()
    local function older(fault, key)
      return dify.new{ base_url = srv.url, api_key = key or "app-test-key-9999", user = "alice", timeout = 10,
        headers = { ["X-Mock-Fault"] = fault } }
    end

    it("says which Dify version has a route the server does not know (404 page)", function()
      local none, err = older("version:1.12.1"):end_user("00000000-0000-4000-8000-000000000000")
      assert.is_nil(none)
      assert.same({ 404, "http", "1.13.0", "1.12.1" }, { err.status, err.kind, err.since, err.server_version })
      assert.matches("GET /end-users/{end_user_id} is in Dify 1.13.0 and later; this server is 1.12.1",
        err.message, 1, true)
      assert.matches("is in Dify 1.13.0 and later", tostring(err), 1, true)
    end)

    it("says so for a stream and for a method the path lacks there (405)", function()
      local _, stream_err = older("version:1.13.2"):workflow_events("00000000-0000-4000-8000-000000000000")
      assert.equal("1.14.0", stream_err.since)
      local ds, doc = new_document()
      local _, patch_err = older("version:1.13.2", "dataset-test-key-7777"):update_document(ds.id, doc.id,
        { name = "renamed" })
      assert.same({ 405, "1.14.0" }, { patch_err.status, patch_err.since })
      assert.matches("PATCH /datasets/{dataset_id}/documents/{document_id} is in Dify 1.14.0",
        patch_err.message, 1, true)
      -- The route that stays for such servers still answers there.
      assert(older("version:1.13.2", "dataset-test-key-7777"):update_document_by_text(ds.id, doc.id,
        { name = "renamed", text = "Lua is small and fast." }))
    end)

    it("leaves Dify's own 404s and current servers' answers as they are", function()
      local _, own = client:end_user("00000000-0000-4000-8000-000000000000")
      assert.equal("end_user_not_found", own.code)
      assert.is_nil(own.since)
      local _, found_later = older("version:1.13.0"):end_user("00000000-0000-4000-8000-000000000000")
      assert.equal("end_user_not_found", found_later.code)
      assert.is_nil(found_later.since)
      assert.equal("1.13.0", assert(older("version:1.13.0"):probe()).version)
    end)
  end)

  describe("bad input raises before anything is sent", function()
    local function raises(pattern, f, ...)
      local before = #srv.requests()
      assert.matches(pattern, support.raised(f, ...))
      assert.equal(before, #srv.requests())
    end

    it("for the human input routes", function()
      raises("form_token", client.human_input_form, client)
      raises("form_token", client.human_input_form, client, "")
      raises("inputs", client.submit_human_input_form, client, "tok", { inputs = "x", action = "a" })
      raises("action", client.submit_human_input_form, client, "tok", { inputs = {} })
    end)

    it("for the knowledge routes", function()
      raises("model_type", kb.list_models, kb, "text/embedding")
      raises("model_type", kb.list_models, kb, "../x")
      raises("document_ids", kb.download_documents_zip, kb, "d", {})
      raises("one of tag_id", kb.unbind_tag, kb, { target_id = "t" })
      raises("datasource_type", kb.run_pipeline, kb, "d", { start_node_id = "n", is_published = true,
        datasource_info_list = {} })
      raises("path= or data=", kb.upload_pipeline_file, kb, {})
    end)

    it("for annotations, child chunks and metadata, as Dify requires", function()
      raises("annotation_reply: [%w_]+ is required", client.annotation_reply, client, "disable", {})
      raises("action must be one of", client.annotation_reply, client, "toggle", {
        score_threshold = 0.5, embedding_provider_name = "p", embedding_model_name = "m" })
      raises("answer", client.update_annotation, client, "a", { question = "q" })
      raises("content", kb.update_child_chunk, kb, "d", "doc", "s", "c", {})
      raises("name", kb.update_metadata, kb, "d", "m", {})
      raises("one of auto_generate %(boolean%), name %(string%)", client.rename_conversation, client, "c", {})
    end)
  end)
end)

describe("client:each on lists without has_more", function()
  -- A client whose list call hands out the given pages, recording the fields asked.
  local function fake_client(pages)
    local asked = { n = 0 }
    return {
      _call = function(_, _, fields)
        asked.n = asked.n + 1
        asked[asked.n] = fields.page
        return pages[asked.n]
      end,
    }, asked
  end

  local function items(n, from)
    local list = {}
    for i = 1, n do list[i] = { id = from + i } end
    return list
  end

  it("walks app_feedbacks while a page is full", function()
    local client, asked = fake_client{ { data = items(2, 0) }, { data = items(2, 2) }, { data = items(1, 4) } }
    local n = 0
    for _ in pager.each(client, "app_feedbacks", { limit = 2 }) do n = n + 1 end
    assert.equal(5, n)
    assert.equal(3, asked.n)
    assert.same({ nil, 2, 3 }, { asked[1], asked[2], asked[3] })
  end)

  it("walks list_child_chunks while page < total_pages", function()
    local client, asked = fake_client{
      { data = items(2, 0), page = 1, total_pages = 2, limit = 2 },
      { data = items(2, 2), page = 2, total_pages = 2, limit = 2 },
    }
    local n = 0
    for _ in pager.each(client, "list_child_chunks", { dataset_id = "d", document_id = "x", segment_id = "s",
      limit = 2 }) do n = n + 1 end
    assert.equal(4, n)
    assert.equal(2, asked.n)
  end)
end)
