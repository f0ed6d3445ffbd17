--- The fake console's workspace routes: member invites, the knowledge
-- base's indexing as the console sees it (the mock's own Service API
-- datasets), and the models, tools and plugins of the workspace.
-- @module dify.mock.console_workspace_routes

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local fail = util.fail

local routes = {}

local ROLES = { normal = true, editor = true, admin = true, dataset_operator = true }

-- POST /workspaces/current/members/invite-email {emails, role, language} -> 201
local function invite(ctx)
  local emails, role = ctx.body.emails, ctx.body.role
  if type(emails) ~= "table" or not json.is_array(emails) or #emails == 0 then
    fail(400, "invalid_param", "emails must be a non-empty list")
  end
  if not ROLES[role] then return 400, json.object({ code = "invalid-role", message = "Invalid role" }) end
  local results = json.array()
  for _, email in ipairs(emails) do
    if type(email) ~= "string" or not email:find("^[^@%s]+@[^@%s]+$") then
      results[#results + 1] = json.object({ status = "failed", email = tostring(email),
        message = "Invalid email address" })
    elseif ctx.st.accounts[email:lower()] then
      results[#results + 1] = json.object({ status = "success", email = email, url = "http://mock/signin" })
    else
      table.insert(ctx.st.invitations, json.object({ email = email, role = role }))
      results[#results + 1] = json.object({ status = "success", email = email,
        url = "http://mock/activate?email=" .. email:gsub("@", "%%40") .. "&token=" .. util.uuid() })
    end
  end
  return 201, json.object({ result = "success", invitation_results = results, tenant_id = util.uuid() })
end

local function dataset_of(ctx)
  return ctx.server.state:dataset(ctx.params.dataset_id)
end

local function document_status(document)
  local completed = document.indexing_status == "completed"
  local at = document.created_at
  local segments = #(document.segment_list or {})
  return json.object({ id = document.id, indexing_status = document.indexing_status,
    processing_started_at = at, parsing_completed_at = at, cleaning_completed_at = at,
    splitting_completed_at = at, completed_at = completed and at or json.null, paused_at = json.null,
    error = document.error or json.null, stopped_at = json.null,
    completed_segments = completed and segments or 0, total_segments = segments })
end

-- GET /datasets/{dataset_id}/indexing-status -> {data = [...]}
local function dataset_indexing(ctx)
  local data = json.array()
  for _, document in ipairs(dataset_of(ctx).document_list) do data[#data + 1] = document_status(document) end
  return 200, json.object({ data = data })
end

-- GET /datasets/{dataset_id}/documents/{document_id}/indexing-status
local function document_indexing(ctx)
  return 200, document_status(util.found(dataset_of(ctx).documents[ctx.params.document_id], "Document not found."))
end

-- GET /datasets/{dataset_id}/error-docs -> {data, total}
local function error_docs(ctx)
  local data = json.array()
  for _, document in ipairs(dataset_of(ctx).document_list) do
    if document.indexing_status == "error" then
      data[#data + 1] = json.object({ id = document.id, name = document.name, position = document.position,
        indexing_status = "error", error = document.error, created_at = document.created_at })
    end
  end
  return 200, json.object({ data = data, total = #data })
end

-- POST /datasets/{dataset_id}/retry {document_ids} -> 204; the fake indexes at once.
local function retry(ctx)
  local dataset = dataset_of(ctx)
  local ids = ctx.body.document_ids
  if type(ids) ~= "table" or not json.is_array(ids) then fail(400, "invalid_param", "document_ids must be a list") end
  for _, id in ipairs(ids) do
    local document = dataset.documents[id]
    -- Dify skips (and logs) unknown and finished documents.
    if document and document.indexing_status ~= "completed" then
      document.indexing_status, document.error = "completed", json.null
    end
  end
  return 204
end

--- Marks a document of the mock's knowledge base as failed to index
-- (POST /console/api/__mock/fail_document {dataset_id, document_id, error}).
function routes.fail_document(server, body)
  local dataset = server.state.datasets[body.dataset_id]
  local document = dataset and dataset.documents[body.document_id]
  if not document then fail(404, "not_found", "no such document") end
  document.indexing_status = "error"
  document.error = type(body.error) == "string" and body.error or "mock indexing failure"
  return json.object({ result = "success" })
end

local label = util.label

local PROVIDERS = {
  { provider = "langgenius/openai/openai", name = "OpenAI", types = { "llm", "text-embedding", "tts", "speech2text" },
    models = { llm = { "gpt-4o", "gpt-4o-mini" }, ["text-embedding"] = { "text-embedding-3-small" },
      tts = { "tts-1" }, speech2text = { "whisper-1" } } },
  { provider = "langgenius/cohere/cohere", name = "Cohere", types = { "rerank", "text-embedding" },
    models = { rerank = { "rerank-english-v3.0" }, ["text-embedding"] = { "embed-english-v3.0" } } },
}

-- GET /workspaces/current/model-providers -> {data}
local function model_providers(ctx)
  local wanted = util.first(ctx.args.model_type)
  local data = json.array()
  for _, p in ipairs(PROVIDERS) do
    local supported = false
    for _, t in ipairs(p.types) do supported = supported or t == wanted end
    if not wanted or supported then
      data[#data + 1] = json.object({ tenant_id = "mock-tenant", provider = p.provider, label = label(p.name),
        supported_model_types = json.array(p.types), configurate_methods = json.array({ "predefined-model" }),
        preferred_provider_type = "custom",
        custom_configuration = json.object({ status = "active" }),
        system_configuration = json.object({ enabled = false }) })
    end
  end
  return 200, json.object({ data = data })
end

local MODEL_TYPES = { llm = true, ["text-embedding"] = true, rerank = true, speech2text = true,
  moderation = true, tts = true }

-- GET /workspaces/current/models/model-types/{model_type} -> {data}
local function models_by_type(ctx)
  local model_type = ctx.params.model_type
  if not MODEL_TYPES[model_type] then fail(400, "invalid_param", "Invalid model type: " .. model_type) end
  local data = json.array()
  for _, p in ipairs(PROVIDERS) do
    local names = p.models[model_type]
    if names then
      local models = json.array()
      for _, name in ipairs(names) do
        models[#models + 1] = json.object({ model = name, label = label(name), model_type = model_type,
          fetch_from = "predefined-model", status = "active", model_properties = json.object() })
      end
      data[#data + 1] = json.object({ provider = p.provider, label = label(p.name), status = "active",
        models = models })
    end
  end
  return 200, json.object({ data = data })
end

-- GET /workspaces/current/tool-providers -> a list
local function tool_providers()
  return 200, json.array({
    json.object({ id = "langgenius/google/google", author = "Dify", name = "langgenius/google/google",
      label = label("Google"), type = "builtin", is_team_authorization = true, tools = json.array() }),
    json.object({ id = "langgenius/time/time", author = "Dify", name = "langgenius/time/time",
      label = label("Time"), type = "builtin", is_team_authorization = true, tools = json.array() }),
  })
end

-- GET /workspaces/current/plugin/list?page=&page_size= -> {plugins, total}
local function plugins(ctx)
  local page = util.int_arg(ctx.args, "page", 1, 1, 99999)
  local page_size = util.int_arg(ctx.args, "page_size", 256, 1, 256)
  local all = {}
  for _, p in ipairs(PROVIDERS) do
    all[#all + 1] = json.object({ plugin_id = p.provider:match("^(.-/.-)/"), name = p.provider:match("/([^/]+)/"),
      version = "0.1.0", source = "marketplace", installation_id = util.uuid() })
  end
  local items = util.page(all, page, page_size)
  return 200, json.object({ plugins = items, total = #all })
end

function routes.register(router)
  router:add("POST", "/workspaces/current/members/invite-email", invite)
  router:add("GET", "/datasets/:dataset_id/indexing-status", dataset_indexing)
  router:add("GET", "/datasets/:dataset_id/documents/:document_id/indexing-status", document_indexing)
  router:add("GET", "/datasets/:dataset_id/error-docs", error_docs)
  router:add("POST", "/datasets/:dataset_id/retry", retry)
  router:add("GET", "/workspaces/current/model-providers", model_providers)
  router:add("GET", "/workspaces/current/models/model-types/:model_type", models_by_type)
  router:add("GET", "/workspaces/current/tool-providers", tool_providers)
  router:add("GET", "/workspaces/current/plugin/list", plugins)
end

return routes
