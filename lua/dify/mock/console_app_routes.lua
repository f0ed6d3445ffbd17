--- The fake console's app routes beyond creating and listing: the model
-- config, publishing, DSL import (with its confirm step) and export, the
-- admin's conversation log, and draft runs (event streams) with their stop.
-- @module dify.mock.console_app_routes

local json = require("dify.mock.json")
local util = require("dify.mock.util")
local apps = require("dify.mock.console_routes")

local fail = util.fail

local routes = {}

local CHAT_MODES = { chat = true, ["agent-chat"] = true, completion = true }
local FLOW_MODES = { workflow = true, ["advanced-chat"] = true }

--- The DSL version the fake console writes and reads.
routes.DSL_VERSION = "0.6.0"

-- POST /apps/{app_id}/model-config: the whole config object, kept on the app.
local function model_config(ctx)
  local app = apps.find_app(ctx, CHAT_MODES)
  app.model_config = ctx.body
  app.updated_at = util.now()
  return 200, json.object({ result = "success" })
end

-- POST /apps/{app_id}/workflows/publish {marked_name, marked_comment}
local function publish(ctx)
  local app = apps.find_app(ctx, FLOW_MODES)
  local now = util.now()
  app.workflow = json.object({ id = util.uuid(), created_at = now,
    marked_name = util.string_field(ctx.body, "marked_name", false) or "",
    marked_comment = util.string_field(ctx.body, "marked_comment", false) or "" })
  return 200, json.object({ result = "success", created_at = now })
end

-- GET /apps/{app_id}/export?include_secret= -> {data = yaml}
local function export(ctx)
  local app = apps.find_app(ctx)
  local yaml = table.concat({
    "app:",
    "  description: " .. ("%q"):format(app.description),
    "  icon: " .. ("%q"):format(app.icon),
    "  mode: " .. app.mode,
    "  name: " .. ("%q"):format(app.name),
    "kind: app",
    "version: " .. routes.DSL_VERSION,
    "",
  }, "\n")
  return 200, json.object({ data = yaml })
end

local function version_parts(v)
  local major, minor, patch = tostring(v):match("^(%d+)%.(%d+)%.(%d+)$")
  if not major then return nil end
  return tonumber(major), tonumber(minor), tonumber(patch)
end

-- What Dify decides about a DSL's version (services/dsl_version.py): a newer
-- one, or an older major, is pending (it needs confirming); an older minor
-- completes with warnings.
local function import_status(version)
  local major, minor, patch = version_parts(version)
  local cur_major, cur_minor, cur_patch = version_parts(routes.DSL_VERSION)
  local newer = major > cur_major or (major == cur_major and (minor > cur_minor
    or (minor == cur_minor and patch > cur_patch)))
  if newer or major < cur_major then return "pending" end
  if minor < cur_minor then return "completed-with-warnings" end
  return "completed"
end

-- The app section of a DSL: {mode, name, description}; nil when it has none.
local function parse_dsl(yaml)
  if not yaml:find("^app:") and not yaml:find("\napp:") then return nil, "Missing app data in YAML content" end
  local function field(name)
    local raw = yaml:match("\n%s+" .. name .. ":%s*([^\n]*)")
    if not raw then return nil end
    local quoted = raw:match('^"(.*)"$')
    return quoted or raw
  end
  local mode = field("mode")
  if not mode then return nil, "Missing app mode in YAML content" end
  return { mode = mode, name = field("name") or "Imported app", description = field("description") or "" },
    nil, yaml:match("\nversion:%s*['\"]?([%d%.]+)") or yaml:match("^version:%s*['\"]?([%d%.]+)")
end

local function import_result(id, status, app, version, error_text)
  return json.object({ id = id, status = status, app_id = app and app.id or json.null,
    app_mode = app and app.mode or json.null, current_dsl_version = routes.DSL_VERSION,
    imported_dsl_version = version or "", error = error_text or "" })
end

-- Creates the app of an import, or overwrites the one named by app_id.
local function apply_import(ctx, parsed, overrides, app_id)
  if app_id then
    local app = ctx.st.apps[app_id]
    if not app then return nil, "App not found" end
    if app.mode ~= parsed.mode then return nil, "App mode does not match the imported DSL" end
    app.updated_at = util.now()
    return app
  end
  local body = json.object({ name = overrides.name or parsed.name, mode = parsed.mode,
    description = overrides.description or parsed.description, icon = overrides.icon,
    icon_type = overrides.icon_type, icon_background = overrides.icon_background })
  return apps.add_app(ctx, body)
end

-- POST /apps/imports {mode = "yaml-content"|"yaml-url", yaml_content, yaml_url, app_id, name, ...}
local function import_app(ctx)
  local body = ctx.body
  local mode = util.string_field(body, "mode", true)
  local id = util.uuid()
  if mode == "yaml-url" then
    return 400, import_result(id, "failed", nil, nil, "The fake console cannot fetch URLs")
  elseif mode ~= "yaml-content" then
    return 400, import_result(id, "failed", nil, nil, "Invalid import_mode: " .. mode)
  end
  local yaml = util.string_field(body, "yaml_content", false)
  if not yaml then
    return 400, import_result(id, "failed", nil, nil, "yaml_content is required when import_mode is yaml-content")
  end
  local parsed, why, version = parse_dsl(yaml)
  if not parsed then return 400, import_result(id, "failed", nil, nil, why) end
  if not version or not version_parts(version) then
    return 400, import_result(id, "failed", nil, version, "Invalid version type, expected str")
  end
  local status = import_status(version)
  local app_id = util.string_field(body, "app_id", false)
  if status == "pending" then
    ctx.st.imports[id] = { parsed = parsed, body = body, app_id = app_id, version = version }
    return 202, import_result(id, "pending", nil, version)
  end
  local app, failure = apply_import(ctx, parsed, body, app_id)
  if not app then return 400, import_result(id, "failed", nil, version, failure) end
  return 200, import_result(id, status, app, version)
end

-- POST /apps/imports/{import_id}/confirm
local function confirm_import(ctx)
  local pending = ctx.st.imports[ctx.params.import_id]
  if not pending then
    return 400, import_result(ctx.params.import_id, "failed", nil, nil, "Import information expired or does not exist")
  end
  ctx.st.imports[ctx.params.import_id] = nil
  local app, failure = apply_import(ctx, pending.parsed, pending.body, pending.app_id)
  if not app then return 400, import_result(ctx.params.import_id, "failed", nil, pending.version, failure) end
  return 200, import_result(ctx.params.import_id, "completed", app, pending.version)
end

-- GET /apps/{app_id}/chat-conversations?page=&limit=&start=&end=&sort_by=&annotation_status=
local function chat_conversations(ctx)
  local app = apps.find_app(ctx, { chat = true, ["agent-chat"] = true, ["advanced-chat"] = true, agent = true })
  local page = util.int_arg(ctx.args, "page", 1, 1, 99999)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local sort_by = util.first(ctx.args.sort_by) or "-updated_at"
  local field, descending = sort_by:match("^%-?(.*)$"), sort_by:sub(1, 1) == "-"
  if field ~= "created_at" and field ~= "updated_at" then
    fail(400, "invalid_param", "sort_by must be created_at, -created_at, updated_at or -updated_at")
  end
  local status = util.first(ctx.args.annotation_status) or "all"
  if status ~= "all" and status ~= "annotated" and status ~= "not_annotated" then
    fail(400, "invalid_param", "annotation_status must be all, annotated or not_annotated")
  end
  local by_id, list = {}, {}
  for _, message in ipairs(apps.app_messages(ctx, app)) do
    local conversation = ctx.server.state.conversations[message.conversation_id]
    if conversation and not by_id[conversation.id] then
      by_id[conversation.id] = { conversation = conversation, count = 0 }
      list[#list + 1] = by_id[conversation.id]
    end
    if by_id[message.conversation_id] then
      by_id[message.conversation_id].count = by_id[message.conversation_id].count + 1
    end
  end
  if status == "annotated" then list = {} end -- the fake console has no annotations on logs
  local seq_field = field == "created_at" and "seq" or "updated_seq"
  table.sort(list, function(a, b)
    local x, y = a.conversation[seq_field] or 0, b.conversation[seq_field] or 0
    if descending then return x > y end
    return x < y
  end)
  local views = {}
  for _, entry in ipairs(list) do
    local c = entry.conversation
    views[#views + 1] = json.object({ id = c.id, status = c.status, from_source = "api",
      from_end_user_session_id = c.user, name = c.name, summary = c.name, read_at = json.null,
      created_at = c.created_at, updated_at = c.updated_at, annotated = false, message_count = entry.count,
      model_config = json.object(), user_feedback_stats = json.object({ like = 0, dislike = 0 }),
      admin_feedback_stats = json.object({ like = 0, dislike = 0 }) })
  end
  local items, more = util.page(views, page, limit)
  return 200, json.object({ data = items, has_more = more, limit = limit, page = page, total = #views })
end

local function frame(value)
  return "data: " .. json.encode(value) .. "\n\n"
end

-- A draft run's events, as a workflow app's stream; `chat` adds a chatflow's
-- message events and message_end.
local function draft_run(ctx, chat)
  local app = apps.find_app(ctx, chat and { ["advanced-chat"] = true } or { workflow = true })
  local inputs = util.inputs(ctx.body, false)
  local query = chat and util.string_field(ctx.body, "query", true) or nil
  local task_id, run_id, now = util.uuid(), util.uuid(), util.now()
  ctx.st.tasks[task_id] = { app_id = app.id, stopped = false }
  local text = chat and ("You said: " .. query) or ("Ran with " .. json.encode(inputs))
  local conversation_id, message_id = util.uuid(), util.uuid()
  local function base(event, data)
    local ev = json.object({ event = event, task_id = task_id, workflow_run_id = run_id })
    if chat then
      ev.conversation_id, ev.message_id = conversation_id, message_id
    end
    ev.data = data
    return ev
  end
  local events = {
    base("workflow_started", json.object({ id = run_id, workflow_id = util.uuid(), inputs = inputs,
      created_at = now })),
    base("node_started", json.object({ id = util.uuid(), node_id = "start", node_type = "start", title = "Start" })),
    base("node_finished", json.object({ id = util.uuid(), node_id = "start", node_type = "start", title = "Start",
      status = "succeeded" })),
  }
  for word in text:gmatch("%S+%s*") do
    if chat then
      local ev = base("message", nil)
      ev.answer = word
      events[#events + 1] = ev
    else
      events[#events + 1] = base("text_chunk", json.object({ text = word, from_variable_selector = json.array() }))
    end
  end
  events[#events + 1] = base("workflow_finished", json.object({ id = run_id, status = "succeeded",
    outputs = json.object({ text = text }), error = json.null, total_steps = 2, total_tokens = 0,
    created_at = now, finished_at = now, elapsed_time = 0.01 }))
  if chat then
    local ev = base("message_end", nil)
    ev.id = message_id
    ev.metadata = json.object({ usage = util.usage(query, text) })
    events[#events + 1] = ev
  end
  local res = ctx.res
  res:begin_chunked(200, { { "Content-Type", "text/event-stream" }, { "Cache-Control", "no-cache" } })
  for i, ev in ipairs(events) do
    if ctx.st.tasks[task_id].stopped then break end
    res:chunk(frame(ev))
    if i == 1 and ctx.faults.stall then require("dify.mock.loop").sleep(ctx.faults.stall) end
  end
  res:finish()
end

-- POST /apps/{app_id}/workflow-runs/tasks/{task_id}/stop
local function stop(ctx)
  local app = apps.find_app(ctx, FLOW_MODES)
  local task = ctx.st.tasks[ctx.params.task_id]
  if task then task.stopped = true end
  table.insert(ctx.st.stops, json.object({ app_id = app.id, task_id = ctx.params.task_id }))
  return 200, json.object({ result = "success" })
end

function routes.register(router)
  router:add("POST", "/apps/imports", import_app)
  router:add("POST", "/apps/imports/:import_id/confirm", confirm_import)
  router:add("POST", "/apps/:app_id/model-config", model_config)
  router:add("POST", "/apps/:app_id/workflows/publish", publish)
  router:add("GET", "/apps/:app_id/export", export)
  router:add("GET", "/apps/:app_id/chat-conversations", chat_conversations)
  router:add("POST", "/apps/:app_id/workflows/draft/run", function(ctx) return draft_run(ctx, false) end)
  router:add("POST", "/apps/:app_id/advanced-chat/workflows/draft/run", function(ctx) return draft_run(ctx, true) end)
  router:add("POST", "/apps/:app_id/workflow-runs/tasks/:task_id/stop", stop)
end

return routes
