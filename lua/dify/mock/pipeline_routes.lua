--- The knowledge pipeline (Dify 1.13+, dataset key): uploading a file for
-- it, listing its datasource nodes, running one datasource node (a stream
-- of datasource_* events), running the whole pipeline (blocking JSON, or a
-- workflow stream ending at workflow_finished).
--
-- Every mock dataset has the same published pipeline: four datasource nodes
-- (local_file, notion, web, drive), then a knowledge-index node.  Running
-- it adds one document per datasource item to the dataset.
--
-- Datasource node runs stream what Dify's RagPipelineService yields
-- (api/core/rag/entities/event.py): datasource_processing, then
-- datasource_completed, or datasource_error; no ping, no terminal event:
-- the stream simply ends.

local events = require("dify.mock.events")
local json = require("dify.mock.json")
local stream = require("dify.mock.stream")
local util = require("dify.mock.util")

local fail = util.fail

local pipeline = {}

local NODES = {
  { node_id = "local_file", plugin_id = "langgenius/file", provider_name = "file",
    datasource_type = "local_file", title = "File Upload" },
  { node_id = "notion", plugin_id = "langgenius/notion_datasource", provider_name = "notion",
    datasource_type = "online_document", title = "Notion Documents",
    credential_id = "7b1f3c2a-0d4e-4f5a-9b6c-1d2e3f4a5b61" },
  { node_id = "web", plugin_id = "langgenius/firecrawl_datasource", provider_name = "firecrawl",
    datasource_type = "website_crawl", title = "Website Crawl",
    credential_id = "7b1f3c2a-0d4e-4f5a-9b6c-1d2e3f4a5b62" },
  { node_id = "drive", plugin_id = "langgenius/s3_datasource", provider_name = "s3",
    datasource_type = "online_drive", title = "S3 Bucket",
    credential_id = "7b1f3c2a-0d4e-4f5a-9b6c-1d2e3f4a5b63" },
}

local function node_of(node_id)
  for _, node in ipairs(NODES) do
    if node.node_id == node_id then
      return node
    end
  end
  return nil
end

-- Dify's pydantic models: a missing or mistyped field is a 400 invalid_param.
local function check_fields(body, fields)
  for _, field in ipairs(fields) do
    local name, kind = field[1], field[2]
    local value = body[name]
    local ok = (kind == "object" and json.is_object(value) and not json.is_array(value))
      or (kind == "array" and json.is_array(value))
      or type(value) == kind
    if not ok then
      fail(400, "invalid_param", ("1 validation error\n%s\n  Field required or not a valid %s"):format(name, kind))
    end
  end
end

---------------------------------------------------------------------------
-- Upload and plugins
---------------------------------------------------------------------------

-- POST /datasets/pipeline/file-upload (multipart: file) -> 201
local function upload(ctx)
  local files = {}
  for _, part in ipairs(ctx.parts or {}) do
    if part.filename or part.name == "file" then
      files[#files + 1] = part
    end
  end
  local file = files[1]
  if not file or file.name ~= "file" then
    fail(400, "no_file_uploaded", "Please upload your file.")
  elseif #files > 1 then
    fail(400, "too_many_files", "Only one file is allowed.")
  elseif not file.content_type or file.content_type == "" then
    fail(415, "unsupported_file_type", "File type not allowed.")
  elseif not file.filename or file.filename == "" then
    fail(400, "filename_not_exists_error", "The specified filename does not exist.")
  end
  local record = {
    id = util.uuid(), name = file.filename, size = file.size,
    extension = (file.filename:match("%.([^./]+)$") or ""):lower(),
    mime_type = file.content_type, created_by = "mock-account", created_at = util.iso(util.now()),
    data = file.data,
  }
  ctx.state.pipeline_files[record.id] = record
  return 201, util.pick(record, { "id", "name", "size", "extension", "mime_type", "created_by", "created_at" })
end

local function plugin_view(node)
  local view = util.pick(node, { "node_id", "plugin_id", "provider_name", "datasource_type", "title" })
  view.user_input_variables = json.array()
  view.credentials = json.array()
  if node.credential_id then -- a local file needs no credentials
    view.credentials[1] = json.object({
      id = node.credential_id, name = "Mock " .. node.provider_name, type = "api-key", is_default = true,
    })
  end
  return view
end

-- GET /datasets/{id}/pipeline/datasource-plugins?is_published=
-- (Dify reads is_published with type=bool, so any non-empty text is true;
-- the draft and the published pipeline are the same here anyway)
local function list_plugins(ctx)
  ctx.state:dataset(ctx.params.dataset_id)
  return 200, util.map(NODES, plugin_view)
end

---------------------------------------------------------------------------
-- Running one datasource node
---------------------------------------------------------------------------

local function processing(total, completed)
  return json.object({ event = "datasource_processing", total = total, completed = completed })
end

local function completed(data, total, done)
  return json.object({
    event = "datasource_completed", data = data, total = total, completed = done, time_consuming = 0.12,
  })
end

-- What each kind of datasource yields (RagPipelineService.run_datasource_workflow_node).
local NODE_RUNS = {
  online_document = function()
    local page = json.object({ page_id = "page-1", page_name = "Mock page", page_icon = json.null,
      type = "page", last_edited_time = util.iso(util.now()), parent_id = "root" })
    return { processing(0, 0), completed(json.array({ json.object({
      workspace_id = "workspace-1", workspace_name = "Mock workspace", workspace_icon = json.null,
      total = 1, pages = json.array({ page }) }) }), 0, 0) }
  end,
  website_crawl = function(inputs)
    local url = type(inputs.url) == "string" and inputs.url or "https://example.com"
    local pages = json.array()
    for i = 1, 2 do
      pages[i] = json.object({ source_url = url .. "/page-" .. i, title = "Page " .. i,
        description = "", content = "Content of page " .. i })
    end
    return { processing(2, 1), completed(pages, 2, 2) }
  end,
  online_drive = function(inputs)
    local bucket = type(inputs.bucket) == "string" and inputs.bucket or "mock-bucket"
    return { processing(0, 0), completed(json.array({ json.object({
      bucket = bucket, is_truncated = false, next_page_parameters = json.object(),
      files = json.array({ json.object({ id = "report.pdf", name = "report.pdf", size = 1024, type = "file" }) }),
    }) }), json.null, json.null) }
  end,
}

local function datasource_error(text)
  return { json.object({ event = "datasource_error", error = text }) }
end

-- POST /datasets/{id}/pipeline/datasource/nodes/{node_id}/run
local function run_node(ctx)
  ctx.state:dataset(ctx.params.dataset_id)
  check_fields(ctx.body, { { "inputs", "object" }, { "datasource_type", "string" }, { "is_published", "boolean" } })
  local kind = ctx.body.datasource_type
  local list
  if not node_of(ctx.params.node_id) then
    list = datasource_error("Datasource node data not found")
  elseif NODE_RUNS[kind] then
    list = NODE_RUNS[kind](ctx.body.inputs)
  else
    list = datasource_error("Unsupported datasource provider: " .. kind)
  end
  local writer = stream.writer(ctx.res, ctx.faults)
  for _, event in ipairs(list) do
    writer:event(event)
  end
  writer:finish()
end

---------------------------------------------------------------------------
-- Running the pipeline
---------------------------------------------------------------------------

-- The name and text of the document a datasource item becomes.
local function document_fields(state, kind, item)
  if kind == "local_file" then
    local file = state.pipeline_files[item.reference or item.related_id]
    if not file then
      error("Pipeline execution failed: file not found: " .. tostring(item.reference or item.related_id), 0)
    end
    return { name = item.name or file.name, text = file.data }
  elseif kind == "online_document" then
    local page = json.is_object(item.page) and item.page or {}
    return { name = page.page_name or "untitled", text = "Content of " .. tostring(page.page_id) }
  elseif kind == "website_crawl" then
    return { name = item.title or "untitled", text = "Content of " .. tostring(item.url) }
  end
  return { name = item.name or "untitled", text = "Content of " .. tostring(item.id) }
end

-- Indexes the items into the dataset; returns the outputs of the run.
local function index_items(state, dataset, kind, items)
  local documents, batch = json.array(), nil
  for i, item in ipairs(items) do
    local document
    document, batch = state:create_document(dataset, document_fields(state, kind, item))
    documents[i] = json.object({ id = document.id, name = document.name, indexing_status = "completed" })
  end
  return json.object({ batch = batch or json.null, documents = documents })
end

-- The run's events: workflow_started, the datasource and knowledge-index
-- nodes, workflow_finished.
local function pipeline_flow(ids, body, node, outputs)
  local list = { events.workflow_started(ids, body.inputs) }
  local steps = {
    { id = node.node_id, type = "datasource", title = node.title, index = 1, outputs = json.object() },
    { id = "knowledge_index", type = "knowledge-index", title = "Knowledge Base", index = 2,
      predecessor = node.node_id, outputs = outputs },
  }
  for _, step in ipairs(steps) do
    local execution = { id = util.uuid(), node = step, status = "succeeded" }
    list[#list + 1] = events.workflow_event(ids, "node_started", events.node_started_data(ids, execution))
    list[#list + 1] = events.workflow_event(ids, "node_finished", events.node_finished_data(ids, execution))
  end
  local result = { status = "succeeded", outputs = outputs, total_steps = 2, total_tokens = 0,
    finished_at = util.now() }
  list[#list + 1] = events.workflow_finished(ids, result, json.object({ id = "mock-account" }))
  return list, result
end

local RUN_FIELDS = {
  { "inputs", "object" }, { "datasource_type", "string" }, { "datasource_info_list", "array" },
  { "start_node_id", "string" }, { "is_published", "boolean" }, { "response_mode", "string" },
}

-- POST /datasets/{id}/pipeline/run
local function run_pipeline(ctx)
  local dataset = ctx.state:dataset(ctx.params.dataset_id)
  check_fields(ctx.body, RUN_FIELDS)
  local body = ctx.body
  local node = node_of(body.start_node_id)
  if not node then
    fail(500, "pipeline_run_error", "Pipeline execution failed: start node " .. body.start_node_id .. " not found")
  end
  local ok, outputs = pcall(index_items, ctx.state, dataset, body.datasource_type, body.datasource_info_list)
  if not ok then
    fail(500, "pipeline_run_error", tostring(outputs))
  end
  local ids = { task_id = util.uuid(), workflow_run_id = util.uuid(), workflow_id = ctx.state.workflow_id,
    created_at = util.now() }
  local list, result = pipeline_flow(ids, body, node, outputs)
  if body.response_mode ~= "streaming" then
    return 200, json.object({ task_id = ids.task_id, workflow_run_id = ids.workflow_run_id,
      data = events.workflow_result(ids, result) })
  end
  -- the pipeline's generator is not a pub/sub one: no opening ping
  stream.sse(ctx.res, list, ctx.faults, nil)
end

-- The knowledge pipeline's Service API routes came with Dify 1.13.0.
local SINCE = { since = "1.13.0" }

function pipeline.register(router)
  local dataset = "/datasets/:dataset_id:uuid"
  router:add("POST", "/datasets/pipeline/file-upload", upload, SINCE)
  router:add("GET", dataset .. "/pipeline/datasource-plugins", list_plugins, SINCE)
  router:add("POST", dataset .. "/pipeline/datasource/nodes/:node_id/run", run_node, SINCE)
  router:add("POST", dataset .. "/pipeline/run", run_pipeline, SINCE)
end

return pipeline
