-- Specs of the fake server's routes added for Dify 1.13/1.14 (end users,
-- document update/download/ZIP, built-in metadata, models by type, the
-- knowledge pipeline) and of the answers it shapes as Dify does (strings
-- where Dify sends strings, 201s, 204s, error bodies, optional users).
-- Plain LuaSocket, so that they check exactly what goes over the wire.

local mock = require("spec.mock")

local json = mock.json

local APP, KB = "Bearer " .. mock.APP_KEY, "Bearer dataset-test"
local NOBODY = "00000000-0000-4000-8000-000000000000" -- a UUID no record has

-- A call with `key` (default the app's). Returns status, decoded body (or raw text), headers.
local function call(srv, method, path, body, key, headers)
  headers = headers or {}
  headers.authorization = key or APP
  return mock.call(srv, method, path, body, headers)
end

local BOUNDARY = "----mock-routes-boundary"

-- A multipart call: `fields` are text parts, `file` = {name, type, data} (optional).
local function upload(srv, method, path, fields, file, key)
  return call(srv, method, path, mock.multipart(BOUNDARY, fields, file), key,
    { ["content-type"] = "multipart/form-data; boundary=" .. BOUNDARY })
end

-- The JSON events of an SSE body.
local function sse(body)
  local list = {}
  for payload in body:gmatch("data: ([^\n]*)\n\n") do
    list[#list + 1] = assert(json.decode(payload))
  end
  return list
end

local function event_names(list)
  local names = {}
  for i, event in ipairs(list) do names[i] = event.event end
  return names
end

-- A little-endian unsigned integer of `width` bytes at `pos` (string.unpack
-- is Lua 5.3+, and the specs run on every Lua).
local function le(bytes, pos, width)
  local n = 0
  for i = width - 1, 0, -1 do n = n * 256 + bytes:byte(pos + i) end
  return n
end

-- The names and contents of a stored ZIP's local file entries.
local function unzip(bytes)
  local files, pos = {}, 1
  while bytes:sub(pos, pos + 3) == "PK\3\4" do
    local method = le(bytes, pos + 8, 2)
    local size, name_length, extra_length = le(bytes, pos + 22, 4), le(bytes, pos + 26, 2), le(bytes, pos + 28, 2)
    assert(method == 0, "stored entries only")
    local name_start = pos + 30
    local data_start = name_start + name_length + extra_length
    files[bytes:sub(name_start, name_start + name_length - 1)] = bytes:sub(data_start, data_start + size - 1)
    pos = data_start + size
  end
  return files
end

describe("dify-mock routes of Dify 1.13/1.14", function()
  local srv

  setup(function() srv = mock.start() end)
  teardown(function() srv.stop() end)
  before_each(function() srv.reset() end)

  local function new_dataset(name)
    local _, dataset = call(srv, "POST", "/datasets", { name = name or "kb" }, KB)
    return dataset
  end

  local function new_document(dataset, name, text)
    local _, created = call(srv, "POST", "/datasets/" .. dataset.id .. "/document/create-by-text",
      { name = name or "guide.txt", text = text or "Hello there.", indexing_technique = "economy" }, KB)
    return created.document
  end

  describe("end users", function()
    it("GET /end-users/{id} names the end user a file was uploaded by", function()
      local _, file = upload(srv, "POST", "/files/upload", { user = "u1" },
        { name = "a.txt", type = "text/plain", data = "abc" })
      local status, end_user = call(srv, "GET", "/end-users/" .. file.created_by)
      assert.equal(200, status)
      assert.same({ file.created_by, "u1", "u1", "service-api", false },
        { end_user.id, end_user.session_id, end_user.external_user_id, end_user.type, end_user.is_anonymous })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", end_user.created_at)
      local missing_status, missing = call(srv, "GET", "/end-users/" .. NOBODY)
      assert.equal(404, missing_status)
      assert.equal("end_user_not_found", missing.code)
      assert.equal(404, (call(srv, "GET", "/end-users/u1"))) -- not a UUID: Flask's 404
    end)

    it("a file uploaded without a user belongs to DEFAULT-USER, an anonymous end user", function()
      local status, file = upload(srv, "POST", "/files/upload", {}, { name = "a.txt", type = "text/plain", data = "x" })
      assert.equal(201, status)
      local _, end_user = call(srv, "GET", "/end-users/" .. file.created_by)
      assert.equal("DEFAULT-USER", end_user.session_id)
      assert.is_true(end_user.is_anonymous)
    end)
  end)

  describe("documents", function()
    it("PATCH …/documents/{doc} replaces the file, or only the options without one", function()
      local dataset = new_dataset()
      local document = new_document(dataset)
      local status, updated = upload(srv, "PATCH", "/datasets/" .. dataset.id .. "/documents/" .. document.id,
        { data = json.encode({ doc_form = "text_model" }) },
        { name = "v2.txt", type = "text/plain", data = "New text." }, KB)
      assert.equal(200, status)
      assert.equal(document.id, updated.document.id)
      assert.equal("v2.txt", updated.document.name)
      assert.is_string(updated.batch)
      local options_status, options_only = upload(srv, "PATCH",
        "/datasets/" .. dataset.id .. "/documents/" .. document.id, { data = "{}" }, nil, KB)
      assert.equal(200, options_status)
      assert.equal("v2.txt", options_only.document.name)
    end)

    it("GET …/download answers a signed URL of the original file", function()
      local dataset = new_dataset()
      local document = new_document(dataset)
      local status, body = call(srv, "GET", "/datasets/" .. dataset.id .. "/documents/" .. document.id .. "/download",
        nil, KB)
      assert.equal(200, status)
      assert.matches("^http://.+/files/.+%?timestamp=%d+&nonce=%x+&sign=", body.url)
      assert.equal(404, (call(srv, "GET", "/datasets/" .. dataset.id .. "/documents/" .. NOBODY .. "/download",
        nil, KB)))
    end)

    it("POST …/documents/download-zip answers the originals as a ZIP", function()
      local dataset = new_dataset()
      local first = new_document(dataset, "one.txt", "first text")
      local second = new_document(dataset, "notes", "second text")
      local status, bytes, headers = call(srv, "POST", "/datasets/" .. dataset.id .. "/documents/download-zip",
        { document_ids = { first.id, second.id } }, KB)
      assert.equal(200, status)
      assert.equal("application/zip", headers["content-type"])
      assert.matches("^attachment; filename%*=UTF%-8''", headers["content-disposition"])
      assert.same({ ["one.txt"] = "first text", ["notes.txt"] = "second text" }, unzip(bytes))
      local missing_status, missing = call(srv, "POST", "/datasets/" .. dataset.id .. "/documents/download-zip",
        { document_ids = { first.id, NOBODY } }, KB)
      assert.equal(404, missing_status)
      assert.equal("not_found", missing.code)
    end)

    it("create-by-file asks for a process_rule while the dataset has none", function()
      local dataset = new_dataset()
      local path = "/datasets/" .. dataset.id .. "/document/create-by-file"
      local file = { name = "a.txt", type = "text/plain", data = "text" }
      local status, body = upload(srv, "POST", path, { data = json.encode({ indexing_technique = "economy" }) },
        file, KB)
      assert.equal(400, status)
      assert.same({ "invalid_param", "process_rule is required." }, { body.code, body.message })
      assert.equal(200, (upload(srv, "POST", path,
        { data = json.encode({ process_rule = { mode = "automatic" } }) }, file, KB)))
      assert.equal(200, (upload(srv, "POST", path, { data = "{}" }, file, KB))) -- the dataset keeps the rule
    end)

    it("answers true 204s to knowledge deletes and tag (un)binding", function()
      local dataset = new_dataset()
      local _, tag = call(srv, "POST", "/datasets/tags", { name = "t" }, KB)
      assert.equal("0", tag.binding_count)
      assert.equal(204, (call(srv, "POST", "/datasets/tags/binding", { tag_ids = { tag.id }, target_id = dataset.id },
        KB)))
      local _, tags = call(srv, "GET", "/datasets/tags", nil, KB)
      assert.equal("1", tags[1].binding_count)
      local status, body = call(srv, "POST", "/datasets/tags/unbinding",
        { tag_ids = { tag.id }, target_id = dataset.id }, KB)
      assert.same({ 204, "" }, { status, body })
      local document = new_document(dataset)
      assert.equal(204, (call(srv, "DELETE", "/datasets/" .. dataset.id .. "/documents/" .. document.id, nil, KB)))
      assert.equal(204, (call(srv, "DELETE", "/datasets/" .. dataset.id, nil, KB)))
    end)
  end)

  describe("segments and metadata", function()
    it("create_segments answers {error} to a body it cannot validate", function()
      local dataset = new_dataset()
      local document = new_document(dataset)
      local path = "/datasets/" .. dataset.id .. "/documents/" .. document.id .. "/segments"
      for _, segments in ipairs({ json.array(), { { content = "  " } } }) do
        local status, body = call(srv, "POST", path, { segments = segments }, KB)
        assert.equal(400, status)
        assert.is_string(body.error)
        assert.is_nil(body.code)
      end
    end)

    it("list_segments keeps every status asked for", function()
      local dataset = new_dataset()
      local document = new_document(dataset, "d.txt", "one\n\ntwo")
      local path = "/datasets/" .. dataset.id .. "/documents/" .. document.id .. "/segments"
      local _, both = call(srv, "GET", path .. "?status=indexing&status=completed", nil, KB)
      assert.equal(2, #both.data)
      local _, none = call(srv, "GET", path .. "?status=indexing&status=error", nil, KB)
      assert.equal(0, #none.data)
    end)

    it("lists the built-in metadata fields, and ignores an unknown built-in action", function()
      local dataset = new_dataset()
      local status, body = call(srv, "GET", "/datasets/" .. dataset.id .. "/metadata/built-in", nil, KB)
      assert.equal(200, status)
      assert.same({ name = "document_name", type = "string" }, body.fields[1])
      assert.equal(5, #body.fields)
      local action_status, action = call(srv, "POST", "/datasets/" .. dataset.id .. "/metadata/built-in/toggle",
        nil, KB)
      assert.same({ 200, "success" }, { action_status, action.result })
    end)

    it("lists the models of any type", function()
      for _, model_type in ipairs({ "text-embedding", "rerank", "llm", "tts", "speech2text", "moderation" }) do
        local status, body = call(srv, "GET", "/workspaces/current/models/model-types/" .. model_type, nil, KB)
        assert.equal(200, status, model_type)
        assert.equal(model_type, body.data[1].models[1].model_type)
      end
      assert.equal(400, (call(srv, "GET", "/workspaces/current/models/model-types/nonsense", nil, KB)))
    end)
  end)

  describe("the knowledge pipeline", function()
    it("uploads a file (201) and runs the pipeline over it, blocking", function()
      local status, file = upload(srv, "POST", "/datasets/pipeline/file-upload", nil,
        { name = "report.txt", type = "text/plain", data = "Quarterly report." }, KB)
      assert.equal(201, status)
      assert.same({ "report.txt", 17, "txt", "text/plain" }, { file.name, file.size, file.extension, file.mime_type })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", file.created_at)
      local dataset = new_dataset()
      local run_status, run = call(srv, "POST", "/datasets/" .. dataset.id .. "/pipeline/run", {
        inputs = json.object(), datasource_type = "local_file", start_node_id = "local_file",
        datasource_info_list = { { reference = file.id } }, is_published = true, response_mode = "blocking",
      }, KB)
      assert.equal(200, run_status)
      assert.equal("succeeded", run.data.status)
      assert.equal(run.workflow_run_id, run.data.id)
      local _, documents = call(srv, "GET", "/datasets/" .. dataset.id .. "/documents", nil, KB)
      assert.equal("report.txt", documents.data[1].name)
    end)

    it("streams a pipeline run to its workflow_finished", function()
      local dataset = new_dataset()
      local status, body = call(srv, "POST", "/datasets/" .. dataset.id .. "/pipeline/run", {
        inputs = json.object(), datasource_type = "website_crawl", start_node_id = "web",
        datasource_info_list = { { url = "https://example.com", title = "Example" } }, is_published = true,
        response_mode = "streaming",
      }, KB)
      assert.equal(200, status)
      local names = event_names(sse(body))
      assert.equal("workflow_started", names[1])
      assert.equal("workflow_finished", names[#names])
      local failed_status, failed = call(srv, "POST", "/datasets/" .. dataset.id .. "/pipeline/run", {
        inputs = json.object(), datasource_type = "local_file", start_node_id = "local_file",
        datasource_info_list = { { reference = NOBODY } }, is_published = true, response_mode = "blocking",
      }, KB)
      assert.equal(500, failed_status)
      assert.equal("pipeline_run_error", failed.code)
    end)

    it("lists the datasource nodes", function()
      local dataset = new_dataset()
      local status, plugins = call(srv, "GET", "/datasets/" .. dataset.id .. "/pipeline/datasource-plugins"
        .. "?is_published=false", nil, KB)
      assert.equal(200, status)
      assert.is_true(json.is_array(plugins))
      assert.same({ "local_file", "local_file" }, { plugins[1].node_id, plugins[1].datasource_type })
      assert.equal("online_document", plugins[2].datasource_type)
      assert.is_true(plugins[2].credentials[1].is_default)
    end)

    it("runs a datasource node: datasource_processing, then datasource_completed or datasource_error", function()
      local dataset = new_dataset()
      local function run(node_id, kind)
        local status, body = call(srv, "POST", "/datasets/" .. dataset.id .. "/pipeline/datasource/nodes/"
          .. node_id .. "/run", { inputs = json.object(), datasource_type = kind, is_published = true }, KB)
        assert.equal(200, status)
        return sse(body)
      end
      local pages = run("notion", "online_document")
      assert.same({ "datasource_processing", "datasource_completed" }, event_names(pages))
      assert.equal("page-1", pages[2].data[1].pages[1].page_id)
      local crawl = run("web", "website_crawl")
      assert.same({ 2, 1 }, { crawl[1].total, crawl[1].completed })
      assert.equal(2, #crawl[2].data)
      assert.same({ "datasource_error" }, event_names(run("nope", "online_document")))
      assert.same({ "datasource_error" }, event_names(run("local_file", "local_file")))
      assert.equal(400, (call(srv, "POST", "/datasets/" .. dataset.id .. "/pipeline/datasource/nodes/notion/run",
        { datasource_type = "online_document" }, KB)))
    end)
  end)

  describe("app answers shaped as Dify's", function()
    local function chat(query, extra)
      local body = { query = query, inputs = json.object(), user = "u1" }
      for k, v in pairs(extra or {}) do body[k] = v end
      local _, answer = call(srv, "POST", "/chat-messages", body)
      return answer
    end

    it("sends conversation variable values as strings", function()
      local answer = chat("vars")
      local path = "/conversations/" .. answer.conversation_id .. "/variables"
      local _, list = call(srv, "GET", path .. "?user=u1")
      local by_name = {}
      for _, variable in ipairs(list.data) do by_name[variable.name] = variable end
      assert.equal("0", by_name.turns.value)
      local _, updated = call(srv, "PUT", path .. "/" .. by_name.turns.id, { value = 12, user = "u1" })
      assert.equal("12", updated.value)
    end)

    it("takes user as optional where Dify does, and not at all where it reads none", function()
      chat("hello") -- u1's
      local status, list = call(srv, "GET", "/conversations")
      assert.equal(200, status)
      assert.equal(0, #list.data) -- DEFAULT-USER has none
      assert.equal(200, (call(srv, "GET", "/parameters")))
      local send_status, body = call(srv, "POST", "/chat-messages", { query = "x", inputs = json.object() })
      assert.equal(400, send_status)
      assert.equal("Arg user must be provided.", body.message)
    end)

    it("lists messages with parent_message_id, status, error and extra_contents", function()
      local first = chat("one")
      chat("two", { conversation_id = first.conversation_id })
      local _, history = call(srv, "GET", "/messages?user=u1&conversation_id=" .. first.conversation_id)
      assert.equal(json.null, history.data[1].parent_message_id)
      assert.equal(history.data[1].id, history.data[2].parent_message_id)
      assert.same({ "normal", json.null }, { history.data[2].status, history.data[2].error })
      assert.is_true(json.is_array(history.data[2].extra_contents))
    end)

    it("answers an upload with preview_url, source_url and Dify's other fields", function()
      local status, file = upload(srv, "POST", "/files/upload", { user = "u1" },
        { name = "a.png", type = "image/png", data = "png" })
      assert.equal(201, status)
      assert.matches("^http://.+/files/" .. file.id:gsub("%-", "%%-") .. "/file%-preview%?", file.source_url)
      assert.is_string(file.preview_url)
      for _, field in ipairs({ "reference", "original_url", "user_id", "conversation_id", "file_key" }) do
        assert.equal(json.null, file[field], field)
      end
      assert.is_string(file.tenant_id)
    end)

    it("previews only files attached to a message", function()
      local _, file = upload(srv, "POST", "/files/upload", { user = "u1" },
        { name = "é.txt", type = "text/plain", data = "hi" })
      local status, body = call(srv, "GET", "/files/" .. file.id .. "/preview")
      assert.equal(404, status)
      assert.same({ "file_not_found", "File not found in message context" }, { body.code, body.message })
      chat("with file", { files = { { type = "document", transfer_method = "local_file", upload_file_id = file.id } } })
      local ok_status, bytes, headers = call(srv, "GET", "/files/" .. file.id .. "/preview?as_attachment=false")
      assert.same({ 200, "hi", "text/plain" }, { ok_status, bytes, headers["content-type"] })
      local _, _, attachment = call(srv, "GET", "/files/" .. file.id .. "/preview?as_attachment=true")
      assert.equal("attachment; filename*=UTF-8''%C3%A9.txt", attachment["content-disposition"])
    end)

    it("text_to_audio: null for a message it cannot read out, 400 without text or message", function()
      local status, body, headers = call(srv, "POST", "/text-to-audio", { message_id = NOBODY, text = "ignored" })
      assert.same({ 200, "null" }, { status, body == json.null and "null" or body })
      assert.equal("application/json", headers["content-type"])
      local missing_status, missing = call(srv, "POST", "/text-to-audio", { voice = "alloy" })
      assert.same({ 400, "invalid_param" }, { missing_status, missing.code })
    end)

    it("audio_to_text without a file: werkzeug's bad_request_key_error", function()
      local status, body = upload(srv, "POST", "/audio-to-text", { user = "u1" })
      assert.equal(400, status)
      assert.equal("bad_request_key_error", body.code)
    end)

    it("annotations: 201 on create, has_more on a full last page, annotation_reply as Dify checks it", function()
      for i = 1, 2 do
        local status = call(srv, "POST", "/apps/annotations", { question = "q" .. i, answer = "a" })
        assert.equal(201, status)
      end
      local _, page = call(srv, "GET", "/apps/annotations?page=1&limit=2")
      assert.is_true(page.has_more) -- Dify's has_more is len(data) == limit
      local status, body = call(srv, "POST", "/apps/annotation-reply/disable", {})
      assert.same({ 400, "invalid_param" }, { status, body.code })
      local settings = { score_threshold = 0.9, embedding_provider_name = "openai",
        embedding_model_name = "text-embedding-3-small" }
      assert.equal(200, (call(srv, "POST", "/apps/annotation-reply/disable", settings)))
      local unknown_status, unknown = call(srv, "POST", "/apps/annotation-reply/toggle", settings)
      assert.same({ 500, "unknown" }, { unknown_status, unknown.code })
    end)

    it("workflow logs carry details and workflow_run.triggered_from", function()
      call(srv, "POST", "/workflows/run", { inputs = { query = "log" }, user = "u1" })
      local _, logs = call(srv, "GET", "/workflows/logs")
      assert.equal(json.null, logs.data[1].details)
      assert.equal("app-run", logs.data[1].workflow_run.triggered_from)
      assert.equal("service-api", logs.data[1].created_by_end_user.type)
    end)
  end)
end)
