-- Every request the client sends and every answer the fake server gives,
-- checked against Dify's own OpenAPI document (../shared/dify-openapi.json,
-- or $DIFY_OPENAPI) by scripts/openapi-check (python3-jsonschema).
--
-- How: the spec drives the client through every route of lua/dify/routes.lua
-- against one fake server (spec/mock.lua), creating what later calls need (a
-- conversation by chatting, a dataset, documents, a segment...). Requests are
-- taken as the server received them (its recording, GET /__mock/requests).
-- Answers are taken by the client's own transport seam (`dify.new{transport=}`):
-- a libcurl core session wrapped so that each answer's status, headers and
-- body, and each event of a stream, are kept as they came off the wire, before
-- the client decodes anything. The n-th answer belongs to the n-th recorded
-- request (the calls are made one at a time; the spec checks method and path
-- agree). Replaying requests would not do: a replayed DELETE or create meets a
-- changed state, and the client's decoded results lose JSON's types.
--
-- The exchanges go to the checker in one file; it prints one line per problem.
-- Separately, every route must have been driven, and every call must succeed
-- (a 404 for a route the fake server lacks is a status the OpenAPI lists, so the
-- checker alone would let it pass).
local dify = require("dify")
local core = require("dify.core")
local mock = require("spec.mock")
local routes = require("dify.routes")

local json = mock.json
local unpack = table.unpack or unpack -- luacheck: ignore 143

local this_file = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/openapi_spec.lua"
local root_dir = this_file:match("^(.*)/spec/[^/]*$") or "."

-- Routes whose exchanges are not checked, with the reason.
local NOT_IN_SPEC = {
  probe = "GET on the API index /: Dify serves it without a key, but the OpenAPI document has no such operation",
}

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- $DIFY_OPENAPI, else shared/dify-openapi.json beside the repository (or beside a folder above it).
local function find_openapi()
  local given = os.getenv("DIFY_OPENAPI")
  if given and given ~= "" then return readable(given) and given or nil, given end
  local dir = root_dir
  for _ = 1, 4 do
    local candidate = dir .. "/../shared/dify-openapi.json"
    if readable(candidate) then return candidate end
    dir = dir .. "/.."
  end
  return nil, root_dir .. "/../shared/dify-openapi.json"
end

local function pack(...) return { n = select("#", ...), ... } end

--- A transport: a libcurl core session whose every answer is kept in `log`.
local function recording_transport()
  local session = assert(core.session{ timeout = 20, connect_timeout = 5, idle_timeout = 20 })
  local t = { log = {}, label = "?" }
  function t.request(_, req)
    local r = pack(session:request(req))
    t.log[#t.log + 1] = { label = t.label, method = req.method, url = req.url, status = r[1],
      headers = r[1] and r[2] or {}, body = r[1] and type(r[3]) == "string" and r[3] or nil,
      failure = not r[1] and tostring(r[3]) or nil }
    return unpack(r, 1, r.n)
  end
  function t.stream(_, req)
    local r = pack(session:stream(req))
    local entry = { label = t.label, method = req.method, url = req.url, status = r[1],
      headers = r[1] and r[2] or {}, failure = not r[1] and tostring(r[3]) or nil }
    t.log[#t.log + 1] = entry
    if r[1] and type(r[3]) == "string" then
      entry.body = r[3]
    elseif r[1] then
      local inner = r[3]
      entry.events = {}
      local wrapped = {}
      function wrapped.next(_, no_wait)
        local ev = pack(inner:next(no_wait))
        if ev[1] then entry.events[#entry.events + 1] = { event = ev[1], data = ev[2] } end
        return unpack(ev, 1, ev.n)
      end
      function wrapped.close() inner:close() end
      function wrapped.is_open() return inner:is_open() end
      r[3] = wrapped
    end
    return unpack(r, 1, r.n)
  end
  function t.close() session:close() end
  return t
end

local ZERO_ID = "00000000-0000-0000-0000-000000000000"

-- Drives every route; returns the transport's log and the calls that failed.
local function drive(srv)
  local transport = recording_transport()
  local failures = {}
  local function client_for(key)
    return dify.new{ base_url = srv.url, api_key = key, user = "alice", transport = transport, retries = 0 }
  end
  local app = client_for("app-contract-check")
  local kb = client_for("dataset-contract-check")

  local function describe_err(err)
    if type(err) ~= "table" then return tostring(err) end
    return ("%s %s %s: %s"):format(tostring(err.kind), tostring(err.status or ""), tostring(err.code or ""),
      tostring(err.message))
  end

  -- Calls client[name](client, ...); returns its result, or nil (noting why).
  local function call(client, name, ...)
    transport.label = name
    local ok, result, err = pcall(client[name], client, ...)
    if not ok then
      failures[#failures + 1] = name .. ": raised " .. describe_err(result)
      return nil
    end
    if result == nil then
      failures[#failures + 1] = name .. ": failed: " .. describe_err(err)
      return nil
    end
    return result
  end
  -- Opens a stream and reads it to its end; returns its events (nil when it failed) and the stream.
  local function read_stream(client, name, ...)
    local stream = call(client, name, ...)
    if not stream then return nil end
    local events = {}
    local ok, err = pcall(function()
      for ev in stream.next, stream do events[#events + 1] = ev end
    end)
    stream:close()
    if not ok then
      failures[#failures + 1] = name .. ": stream failed: " .. describe_err(err)
    end
    return events, stream
  end
  local function first(events, field)
    for _, ev in ipairs(events or {}) do
      if type(ev[field]) == "string" then return ev[field] end
      if type(ev.data) == "table" and type(ev.data[field]) == "string" then return ev.data[field] end
    end
    return nil
  end

  -- App information
  call(app, "probe")
  call(app, "parameters")
  call(app, "info")
  call(app, "meta")
  call(app, "site")

  -- Files, chat and conversations
  local file = call(app, "upload_file", { data = "The contract check's notes.\n", filename = "notes.txt" }) or {}
  local files = file.id and { { type = "document", transfer_method = "local_file", upload_file_id = file.id } } or nil
  local answer = call(app, "chat", { query = "What do the notes say?", inputs = {}, files = files,
    auto_generate_name = true }) or {}
  local conversation_id = answer.conversation_id or ZERO_ID
  local message_id = answer.message_id or answer.id or ZERO_ID
  local chat_events, chat_stream = read_stream(app, "chat_stream",
    { query = "And after that?", inputs = {}, conversation_id = conversation_id })
  local chat_task = chat_stream and chat_stream.task_id or first(chat_events, "task_id") or ZERO_ID
  call(app, "stop", chat_task)
  call(app, "messages", { conversation_id = conversation_id, limit = 20 })
  call(app, "feedback", message_id, { rating = "like", content = "Clear answer." })
  call(app, "suggested", message_id)
  call(app, "app_feedbacks", { page = 1, limit = 20 })
  call(app, "conversations", { limit = 20, sort_by = "-updated_at" })
  local variables = call(app, "conversation_variables", conversation_id, { limit = 20 }) or {}
  local variable
  for _, v in ipairs(variables.data or {}) do
    if v.value_type == "string" then variable = v end
  end
  variable = variable or (variables.data or {})[1] or { id = ZERO_ID }
  call(app, "update_conversation_variable", conversation_id, variable.id, "updated by the contract check")
  call(app, "rename_conversation", conversation_id, { name = "Contract check" })
  call(app, "text_to_audio", { text = "Hello from the contract check." })
  call(app, "audio_to_text", { data = "RIFF\36\0\0\0WAVEfmt ", filename = "hello.wav", mime_type = "audio/wav" })
  call(app, "file_preview", file.id or ZERO_ID, { as_attachment = true })
  call(app, "end_user", file.created_by or ZERO_ID)

  -- Annotations
  local annotation = call(app, "create_annotation", { question = "What is lua-dify?",
    answer = "A Dify client for Lua." }) or { id = ZERO_ID }
  call(app, "annotations", { page = 1, limit = 20, keyword = "lua" })
  call(app, "update_annotation", annotation.id, { question = "What is lua-dify?",
    answer = "A Dify client for Lua, with a C core." })
  local reply = { score_threshold = 0.9, embedding_provider_name = "openai",
    embedding_model_name = "text-embedding-3-small" }
  local job = call(app, "annotation_reply", "enable", reply) or { job_id = ZERO_ID }
  call(app, "annotation_reply_status", "enable", job.job_id)
  call(app, "delete_annotation", annotation.id)

  -- Completion apps
  call(app, "complete", { inputs = { query = "Write a haiku." } })
  local _, completion_stream = read_stream(app, "complete_stream", { inputs = { query = "Write a limerick." } })
  call(app, "stop_completion", completion_stream and completion_stream.task_id or ZERO_ID)

  -- The kinds of chat app the fake server plays, chosen by the query (docs/mock.md): their events
  for _, scenario in ipairs{ "workflow", "reasoning", "agent", "new_agent", "pause" } do
    read_stream(app, "chat_stream", { query = scenario, inputs = {} })
  end

  -- Workflow apps
  local run = call(app, "run_workflow", { inputs = { query = "Summarise the notes." } }) or {}
  local run_id = run.workflow_run_id or ZERO_ID
  local workflow_id = run.data and run.data.workflow_id
  call(app, "run_workflow", { workflow_id = workflow_id or ZERO_ID, inputs = { query = "Again, that version." } })
  call(app, "run_workflow", { inputs = { query = "Fail.", scenario = "fail" } }) -- a 200 whose status is failed
  local wf_events, wf_stream = read_stream(app, "run_workflow_stream", { inputs = { query = "Stream it." } })
  read_stream(app, "run_workflow_stream", { inputs = { query = "Think it over.", scenario = "reasoning" } })
  call(app, "stop_workflow", wf_stream and wf_stream.task_id or first(wf_events, "task_id") or ZERO_ID)
  call(app, "workflow_run", run_id)
  read_stream(app, "workflow_events", wf_stream and wf_stream.workflow_run_id or first(wf_events, "workflow_run_id")
    or run_id, { include_state_snapshot = false })
  call(app, "workflow_logs", { page = 1, limit = 20, status = "succeeded" })

  -- A paused run: its Human Input form, answered, and the resumed run's events
  local paused_events, paused = read_stream(app, "run_workflow_stream",
    { inputs = { query = "Ask first.", scenario = "pause" } })
  local paused_run = paused and paused.workflow_run_id or first(paused_events, "workflow_run_id") or ZERO_ID
  local form_token = first(paused_events, "form_token") or "no-form-token-in-the-paused-stream"
  local form = call(app, "human_input_form", form_token) or {}
  local action = type(form.user_actions) == "table" and form.user_actions[1] and form.user_actions[1].id or "approve"
  call(app, "submit_human_input_form", form_token, { inputs = { comment = "Looks right.", priority = "high" },
    action = action })
  read_stream(app, "workflow_events", paused_run, { include_state_snapshot = true })

  call(app, "delete_conversation", conversation_id)

  -- Knowledge base
  local dataset = call(kb, "create_dataset", { name = "Contract check", description = "Made by the contract check",
    indexing_technique = "high_quality", permission = "only_me" }) or { id = ZERO_ID }
  local ds = dataset.id
  call(kb, "list_datasets", { page = 1, limit = 20, include_all = false })
  call(kb, "get_dataset", ds)
  call(kb, "update_dataset", ds, { description = "Changed by the contract check" })

  local process_rule = { mode = "automatic" }
  local by_text = call(kb, "create_document_by_text", ds, { name = "Guide", text = "First line.\n\nSecond line.",
    indexing_technique = "high_quality", doc_form = "text_model", doc_language = "English",
    process_rule = process_rule }) or {}
  local doc = by_text.document and by_text.document.id or ZERO_ID
  local batch = by_text.batch or ZERO_ID
  local by_file = call(kb, "create_document_by_file", ds, { data = "File document text.\n", filename = "file.txt",
    indexing_technique = "high_quality", doc_form = "text_model", process_rule = process_rule }) or {}
  local doc2 = by_file.document and by_file.document.id or ZERO_ID
  call(kb, "update_document_by_text", ds, doc, { name = "Guide, second edition", text = "Only line." })
  call(kb, "update_document_by_file", ds, doc2, { data = "File text, changed.\n", filename = "file.txt",
    process_rule = process_rule })
  call(kb, "update_document", ds, doc2, { data = "File text, changed again.\n", filename = "file.txt",
    doc_form = "text_model" })
  call(kb, "list_documents", ds, { page = 1, limit = 20 })
  call(kb, "get_document", ds, doc, { metadata = "all" })
  call(kb, "indexing_status", ds, batch)
  call(kb, "download_document", ds, doc)
  call(kb, "download_documents_zip", ds, { document_ids = { doc, doc2 } })
  call(kb, "update_document_status", ds, "disable", { document_ids = { doc2 } })

  local created = call(kb, "create_segments", ds, doc, { segments = { { content = "A segment.",
    keywords = { "segment" } } } }) or {}
  local segment = created.data and created.data[1] and created.data[1].id or ZERO_ID
  call(kb, "list_segments", ds, doc, { page = 1, limit = 20, status = { "completed" } })
  call(kb, "get_segment", ds, doc, segment)
  call(kb, "update_segment", ds, doc, segment, { segment = { content = "A changed segment.",
    keywords = { "segment" }, enabled = true } })
  local child = call(kb, "create_child_chunk", ds, doc, segment, { content = "A child chunk." }) or {}
  local child_id = child.data and child.data.id or ZERO_ID
  call(kb, "list_child_chunks", ds, doc, segment, { page = 1, limit = 20 })
  call(kb, "update_child_chunk", ds, doc, segment, child_id, { content = "A changed child chunk." })
  call(kb, "delete_child_chunk", ds, doc, segment, child_id)
  call(kb, "delete_segment", ds, doc, segment)

  local field = call(kb, "create_metadata", ds, { type = "string", name = "author" }) or { id = ZERO_ID }
  call(kb, "list_metadata", ds)
  call(kb, "update_metadata", ds, field.id, { name = "writer" })
  call(kb, "list_built_in_metadata", ds)
  call(kb, "built_in_metadata", ds, "enable")
  call(kb, "update_document_metadata", ds, { operation_data = { { document_id = doc,
    metadata_list = { { id = field.id, name = "writer", value = "Ann" } } } } })
  call(kb, "built_in_metadata", ds, "disable")
  call(kb, "delete_metadata", ds, field.id)

  local tag = call(kb, "create_tag", { name = "contract" }) or { id = ZERO_ID }
  call(kb, "list_tags")
  call(kb, "update_tag", { tag_id = tag.id, name = "contract-check" })
  call(kb, "bind_tags", { tag_ids = { tag.id }, target_id = ds })
  call(kb, "get_dataset_tags", ds)
  call(kb, "list_datasets", { keyword = "Contract", tag_ids = { tag.id } }) -- an array as repeated keys
  call(kb, "unbind_tag", { tag_ids = { tag.id }, target_id = ds })
  call(kb, "delete_tag", { tag_id = tag.id })

  call(kb, "retrieve", ds, { query = "line", retrieval_model = { search_method = "semantic_search",
    reranking_enable = false, top_k = 3, score_threshold_enabled = false } })
  call(kb, "list_models", "text-embedding")

  -- The knowledge pipeline
  local upload = call(kb, "upload_pipeline_file", { data = "Pipeline input.\n", filename = "input.txt" }) or {}
  local plugins = call(kb, "list_datasource_plugins", ds, { is_published = true }) or {}
  local function plugin_of(kind)
    for _, plugin in ipairs(type(plugins) == "table" and plugins or {}) do
      if plugin.datasource_type == kind then return plugin end
    end
    return { node_id = "no-" .. kind .. "-node", credentials = {} }
  end
  -- A local file needs no node run (nothing to browse); an online document's node lists its pages.
  local online = plugin_of("online_document")
  local credential = online.credentials and online.credentials[1]
  read_stream(kb, "run_datasource_node", ds, online.node_id, { datasource_type = "online_document",
    credential_id = credential and credential.id or nil, is_published = true, inputs = {} })
  local pipeline = { datasource_type = "local_file", start_node_id = plugin_of("local_file").node_id,
    is_published = true, inputs = {},
    datasource_info_list = { { reference = upload.id or ZERO_ID, name = "input.txt" } } }
  call(kb, "run_pipeline", ds, pipeline)
  read_stream(kb, "run_pipeline_stream", ds, pipeline)

  call(kb, "delete_document", ds, doc2)
  call(kb, "delete_dataset", ds)

  transport.close()
  return transport.log, failures
end

-- The exchanges as scripts/openapi-check reads them: the server's recording
-- of each request beside the answer the transport kept.
local function exchanges(srv, log)
  local recorded = srv.requests()
  assert(#recorded == #log, ("the server recorded %d requests, the transport saw %d"):format(#recorded, #log))
  local base = srv.url:match("^https?://[^/]+(.*)$")
  local list = json.array()
  for i, req in ipairs(recorded) do
    local got = log[i]
    local url_path = got.url:match("^https?://[^/]+([^?]*)")
    assert(req.method == got.method and req.path == url_path,
      ("request %d: the server saw %s %s, the transport %s %s"):format(i, req.method, req.path, got.method, url_path))
    if not NOT_IN_SPEC[got.label] then
      local content_type = req.headers["content-type"]
      local ex = { label = got.label, method = req.method, query = req.query, content_type = content_type,
        status = got.status, response_content_type = got.headers["content-type"] }
      ex.path = req.path:sub(1, #base) == base and req.path:sub(#base + 1) or req.path
      if ex.path == "" then ex.path = "/" end
      if req.parts then
        ex.parts = json.array()
        for _, part in ipairs(req.parts) do
          -- A file's bytes stay out (format: binary is not checked); other fields are text.
          ex.parts[#ex.parts + 1] = { name = part.name, filename = part.filename, content_type = part.content_type,
            data = part.filename == nil and part.data or nil }
        end
      elseif req.body ~= "" then
        ex.body = req.body
      end
      local rtype = (got.headers["content-type"] or ""):lower()
      if got.body and (rtype:find("json", 1, true) or rtype:find("^text/")) then ex.response_body = got.body end
      if got.events then
        ex.events = json.array()
        for _, ev in ipairs(got.events) do ex.events[#ex.events + 1] = { event = ev.event, data = ev.data } end
      end
      list[#list + 1] = ex
    end
  end
  return list
end

-- Runs the checker on a list of exchanges, written to `keep` (or a temporary file).
local function run_checker(openapi, list, keep)
  local path = keep or os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(json.encode(list))
  f:close()
  local function quote(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
  -- Without the sanitizer runtime make asan preloads: Python's own leaks at exit would set its exit code.
  local pipe = assert(io.popen(("env -u LD_PRELOAD %s --openapi %s %s 2>&1; echo \"exit=$?\""):format(
    quote(root_dir .. "/scripts/openapi-check"), quote(openapi), quote(path))))
  local output = pipe:read("*a")
  pipe:close()
  if path ~= keep then os.remove(path) end
  local code = tonumber(output:match("exit=(%d+)%s*$"))
  output = output:gsub("exit=%d+%s*$", "")
  local lines = {}
  for line in output:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return code, lines
end

describe("the client's requests and the fake server's answers against Dify's OpenAPI", function()
  local openapi, looked_for = find_openapi()
  if not openapi then
    it("are checked", function()
      pending(looked_for .. " not found: contract checks skipped")
    end)
    return
  end

  local log, failures, code, lines
  setup(function()
    local srv = mock.start()
    local ok, err = pcall(function()
      log, failures = drive(srv)
      -- $DIFY_OPENAPI_EXCHANGES names a file to keep them in, for running the checker by hand.
      local keep = os.getenv("DIFY_OPENAPI_EXCHANGES")
      code, lines = run_checker(openapi, exchanges(srv, log), keep ~= "" and keep or nil)
    end)
    srv.stop()
    assert(ok, err)
  end)

  it("drives every route of the route table", function()
    local driven = {}
    for _, entry in ipairs(log) do driven[entry.label] = true end
    local missing = {}
    for _, route in ipairs(routes.list) do
      if not driven[route.name] then missing[#missing + 1] = route.name end
    end
    assert.same({}, missing)
  end)

  it("lists only exceptions that are routes", function()
    for name in pairs(NOT_IN_SPEC) do assert.is_table(routes.by_name[name], name) end
  end)

  it("gets an answer to every call (a 2xx)", function()
    assert.same({}, failures)
  end)

  it("runs the checker", function()
    -- 0: no problems, 1: problems (the next two tests list them); anything else is the checker's own failure.
    assert.is_true(code == 0 or code == 1, table.concat(lines, "\n"))
  end)

  local function problems(side)
    local out = {}
    for _, line in ipairs(lines or {}) do
      if line:find("): " .. side .. ": ", 1, true) or line:find(": " .. side .. ": no ", 1, true) then
        out[#out + 1] = line
      end
    end
    return out
  end

  it("sends only requests that the OpenAPI describes", function()
    assert.same({}, problems("request"))
  end)

  it("gets only answers that the OpenAPI describes", function()
    assert.same({}, problems("answer"))
  end)
end)

describe("scripts/openapi-check", function()
  local openapi, looked_for = find_openapi()
  if not openapi then
    it("is checked", function()
      pending(looked_for .. " not found: contract checks skipped")
    end)
    return
  end
  local UUID = "45701982-8118-4bc5-8e9b-64562b4555f2"
  local function check(ex)
    local code, lines = run_checker(openapi, json.array{ ex })
    return code, table.concat(lines, "\n")
  end
  -- The checker's report on an exchange it must find fault with.
  local function faults(ex)
    local code, out = check(ex)
    assert.are.equal(1, code, out)
    return out
  end

  it("passes a request and answer as the OpenAPI describes them, nulls where it allows them", function()
    local code, out = check{ label = "ok", method = "POST", path = "/messages/" .. UUID .. "/feedbacks",
      content_type = "application/json", body = '{"rating":null,"user":"alice","extra":"passes through"}',
      status = 200, response_content_type = "application/json", response_body = '{"result":"success"}' }
    assert.are.equal(0, code, out)
  end)

  it("finds what is wrong in a request", function()
    local out = faults{ label = "bad", method = "GET", path = "/apps/annotation-reply/start/status/x",
      query = "user=alice", status = 200, response_content_type = "application/json",
      response_body = '{"job_id":"' .. UUID .. '","job_status":"completed","error_msg":""}' }
    assert.matches("request: path parameter action: 'start' is not one of", out, 1, true)
    assert.matches("request: query parameter user is not one the operation lists", out, 1, true)
    out = faults{ label = "bad", method = "GET", path = "/conversations", query = "limit=many&sort_by=name",
      status = 200, response_content_type = "application/json", response_body = '{"data":[],"has_more":false}' }
    assert.matches("query parameter limit: 'many' is not of type 'integer'", out, 1, true)
    assert.matches("query parameter sort_by: 'name' is not one of", out, 1, true)
    out = faults{ label = "bad", method = "POST", path = "/chat-messages", content_type = "application/json",
      body = '{"query":1,"inputs":[]}', status = 400, response_content_type = "application/json",
      response_body = '{"code":"invalid_param"}' }
    assert.matches("request body: 'user' is a required property", out, 1, true)
    assert.matches("request body at inputs: [] is not of type 'object'", out, 1, true)
    assert.matches("request body at query: 1 is not of type 'string'", out, 1, true)
    out = faults{ label = "bad", method = "POST", path = "/files/upload",
      content_type = "multipart/form-data; boundary=x", parts = json.array{ { name = "user", data = "alice" } },
      status = 201, response_content_type = "application/json", response_body = "{}" }
    assert.matches("request: form: 'file' is a required property", out, 1, true)
    out = faults{ label = "bad", method = "PUT", path = "/chat-messages", status = 200 }
    assert.matches("request: no PUT operation on this path (only POST)", out, 1, true)
  end)

  it("finds what is wrong in an answer", function()
    local out = faults{ label = "bad", method = "GET", path = "/datasets/tags", status = 201,
      response_content_type = "application/json", response_body = "[]" }
    assert.matches("answer: status 201 is not one the operation lists (200)", out, 1, true)
    out = faults{ label = "bad", method = "GET", path = "/datasets/tags", status = 200,
      response_content_type = "text/html", response_body = "<p>" }
    assert.matches("answer: 200 as 'text/html', not a content type that response lists", out, 1, true)
    out = faults{ label = "bad", method = "GET", path = "/datasets/tags", status = 200,
      response_content_type = "application/json",
      response_body = '[{"id":"' .. UUID .. '","name":"t","type":"knowledge","binding_count":3}]' }
    assert.matches("answer: 200 body at [0].binding_count: 3 is not of type 'string', 'null'", out, 1, true)
    out = faults{ label = "bad", method = "POST", path = "/chat-messages", content_type = "application/json",
      body = '{"query":"q","inputs":{},"user":"u","response_mode":"streaming"}', status = 200,
      response_content_type = "text/event-stream",
      events = json.array{ { event = "", data = '{"event":"message","answer":7}' }, { event = "ping" },
        { event = "", data = '{"event":"surprise"}' } } }
    assert.matches("answer: event 1 (message) at answer: 7 is not of type 'string'", out, 1, true)
    assert.matches("answer: event 3: 'surprise' is not an event of ChunkChatEvent", out, 1, true)
    out = faults{ label = "bad", method = "DELETE", path = "/datasets/tags", content_type = "application/json",
      body = '{"tag_id":"' .. UUID .. '"}', status = 204, response_content_type = "application/json",
      response_body = '{"result":"success"}' }
    assert.matches("answer: 204 has a body (application/json), but that response has none", out, 1, true)
  end)

  it("lists the document's quirks it fixes, each with its reason", function()
    local pipe = assert(io.popen(("'%s/scripts/openapi-check' --openapi '%s' --quirks 2>&1"):format(root_dir, openapi)))
    local out = pipe:read("*a")
    pipe:close()
    -- The checker's QUIRKS, each "place: reason"; a new one is added here too, on purpose.
    local places = {}
    for place in out:gmatch("(/[^\n]-): [^\n]*") do places[#places + 1] = place end
    assert.same({
      "/components/schemas/Dataset/properties/data_source_type",
      "/paths/~1workspaces~1current~1models~1model-types~1{model_type}/get/responses/200/content/application~1json"
        .. "/schema/properties/data/items/properties/icon_small_dark",
      "/components/schemas/AppParametersResponse/properties/user_input_form/items/oneOf",
    }, places)
  end)
end)
