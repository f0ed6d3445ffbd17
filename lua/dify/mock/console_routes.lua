--- The fake console's routes (relative to /console/api), each with the
-- logged-in account in ctx.account: apps, API keys, statistics, ...
--
-- Statistics are computed from the mock's own Service API state. That side
-- knows no apps, so a message (or workflow run) counts for an app when the
-- recorded request that made it carried one of the app's API keys: requests
-- and messages are matched in order, by user and query.
-- @module dify.mock.console_routes

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local fail = util.fail

local routes = {}

local MAX_KEYS = 10
local APP_MODES = { chat = true, ["agent-chat"] = true, agent = true, ["advanced-chat"] = true,
  workflow = true, completion = true }
local LIST_MODES = { completion = true, chat = true, ["advanced-chat"] = true, workflow = true,
  ["agent-chat"] = true, agent = true, channel = true, all = true }

--- Fills a fresh console state with what its routes keep.
function routes.init(st)
  st.apps, st.app_list = {}, {} -- newest first, as Dify lists them
  st.app_keys = {} -- app id -> list of keys
  st.dataset_keys = {}
  st.clock = 0
  st.imports = {} -- pending imports by id
  st.tasks, st.stops = {}, {} -- draft runs' task ids; stop calls seen
  st.invitations = {}
end

--- What GET /console/api/__mock/state shows.
function routes.summary(st)
  local keys = 0
  for _, list in pairs(st.app_keys) do keys = keys + #list end
  return json.object({ config = st.config, counts = st.counts, apps = #st.app_list, app_keys = keys,
    dataset_keys = #st.dataset_keys, stops = json.array(st.stops), invitations = json.array(st.invitations) })
end

local function tick(st)
  st.clock = st.clock + 1
  return st.clock
end

local function random_token(prefix)
  local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
  local out = {}
  for i = 1, 24 do
    local n = math.random(1, #chars)
    out[i] = chars:sub(n, n)
  end
  return prefix .. table.concat(out)
end

---------------------------------------------------------------------------
-- The account
---------------------------------------------------------------------------

-- GET /account/profile
local function profile(ctx)
  local account = ctx.account
  return 200, json.object({ id = account.id, name = account.name, email = account.email,
    interface_language = "en-US", timezone = "UTC" })
end

---------------------------------------------------------------------------
-- Apps
---------------------------------------------------------------------------

--- The app the path names, or Dify's 404; with `modes`, the app must have one of them.
local function find_app(ctx, modes)
  local app = ctx.st.apps[ctx.params.app_id]
  if not app then fail(404, "app_not_found", "App not found.") end
  if modes and not modes[app.mode] then
    local names = {}
    for mode in pairs(modes) do names[#names + 1] = ("'%s'"):format(mode) end
    table.sort(names)
    fail(404, "app_not_found", "App mode is not in the supported list: {" .. table.concat(names, ", ") .. "}")
  end
  return app
end
routes.find_app = find_app

local function optional_string(body, name, max)
  local value = util.string_field(body, name, false)
  if value and max and #value > max then
    fail(400, "invalid_param", ("%s must be at most %d characters"):format(name, max))
  end
  return value
end

local function view(app)
  return util.public(app, { seq = true, created_by = true })
end
routes.view = view

-- GET /apps?page=&limit=&mode=&name=&is_created_by_me=
local function list_apps(ctx)
  local page = util.int_arg(ctx.args, "page", 1, 1, 99999)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local mode = util.first(ctx.args.mode) or "all"
  if not LIST_MODES[mode] then fail(400, "invalid_param", "mode is not a valid app mode") end
  local name = util.first(ctx.args.name)
  local mine = util.first(ctx.args.is_created_by_me) == "true"
  local matching = {}
  for _, app in ipairs(ctx.st.app_list) do
    if (mode == "all" or app.mode == mode)
      and (not name or name == "" or app.name:lower():find(name:lower(), 1, true))
      and (not mine or app.created_by == ctx.account.id) then
      matching[#matching + 1] = view(app)
    end
  end
  local items, more = util.page(matching, page, limit)
  return 200, json.object({ data = items, has_more = more, limit = limit, page = page, total = #matching })
end

--- Adds an app to the console state (from POST /apps or an import); returns it.
function routes.add_app(ctx, body)
  local name = util.string_field(body, "name", true)
  if name == "" then fail(400, "invalid_param", "name must not be empty") end
  local mode = util.string_field(body, "mode", true)
  if not APP_MODES[mode] then fail(400, "invalid_param", "mode must be one of chat, agent-chat, agent, "
    .. "advanced-chat, workflow, completion") end
  local now = util.now()
  local id = util.uuid()
  local root = ("http://%s"):format(ctx.req.headers["host"] or "127.0.0.1")
  local app = json.object({
    id = id, name = name, mode = mode,
    description = optional_string(body, "description", 400) or "",
    icon_type = optional_string(body, "icon_type") or "emoji",
    icon = optional_string(body, "icon") or "🤖",
    icon_background = optional_string(body, "icon_background") or "#FFEAD5",
    enable_site = true, enable_api = true,
    model_config = json.null, workflow = json.null,
    api_base_url = root .. "/v1",
    site = json.object({ access_token = util.uuid():sub(1, 16), title = name, code = util.uuid():sub(1, 16) }),
    tags = json.array(),
    created_at = now, updated_at = now,
    created_by = ctx.account.id,
    seq = tick(ctx.st),
  })
  ctx.st.apps[id] = app
  table.insert(ctx.st.app_list, 1, app)
  ctx.st.app_keys[id] = {}
  return app
end

-- POST /apps {name, mode, description, icon_type, icon, icon_background} -> 201
local function create_app(ctx)
  return 201, view(routes.add_app(ctx, ctx.body))
end

-- GET /apps/{app_id}
local function get_app(ctx)
  return 200, view(find_app(ctx))
end

-- PUT /apps/{app_id} {name, description, icon_type, icon, icon_background, ...}
local function update_app(ctx)
  local app = find_app(ctx)
  local body = ctx.body
  local name = util.string_field(body, "name", true)
  if name == "" then fail(400, "invalid_param", "name must not be empty") end
  app.name = name
  app.description = optional_string(body, "description", 400) or ""
  for _, field in ipairs({ "icon_type", "icon", "icon_background" }) do
    local value = optional_string(body, field)
    if value then app[field] = value end
  end
  app.updated_at = util.now()
  return 200, view(app)
end

-- DELETE /apps/{app_id} -> 204
local function delete_app(ctx)
  local app = find_app(ctx)
  ctx.st.apps[app.id] = nil
  ctx.st.app_keys[app.id] = nil
  util.remove(ctx.st.app_list, app)
  return 204
end

---------------------------------------------------------------------------
-- API keys
---------------------------------------------------------------------------

local function key_view(key)
  return json.object({ id = key.id, type = key.type, token = key.token, last_used_at = json.null,
    created_at = key.created_at })
end

local function keys_view(list)
  local data = json.array()
  for _, key in ipairs(list) do data[#data + 1] = key_view(key) end
  return json.object({ data = data })
end

local function create_key(list, kind, prefix)
  if #list >= MAX_KEYS then
    fail(400, "bad_request", ("Cannot create more than %d API keys for this resource type."):format(MAX_KEYS))
  end
  local key = { id = util.uuid(), type = kind, token = random_token(prefix), created_at = util.now() }
  list[#list + 1] = key
  return key
end

local function delete_key(list, id)
  for i, key in ipairs(list) do
    if key.id == id then
      table.remove(list, i)
      return 204
    end
  end
  fail(404, "not_found", "API key not found")
end

local function keys_of(ctx) return ctx.st.app_keys[find_app(ctx).id] end
local function app_keys(ctx) return 200, keys_view(keys_of(ctx)) end
local function create_app_key(ctx) return 201, key_view(create_key(keys_of(ctx), "app", "app-")) end
local function delete_app_key(ctx) return delete_key(keys_of(ctx), ctx.params.key_id) end
local function dataset_keys(ctx) return 200, keys_view(ctx.st.dataset_keys) end
-- Dify answers this one 200, not 201.
local function create_dataset_key(ctx) return 200, key_view(create_key(ctx.st.dataset_keys, "dataset", "dataset-")) end
local function delete_dataset_key(ctx) return delete_key(ctx.st.dataset_keys, ctx.params.key_id) end

---------------------------------------------------------------------------
-- Statistics
---------------------------------------------------------------------------

-- "YYYY-MM-DD HH:MM" (UTC: the fake account's time zone) to Unix seconds.
local function parse_time(value, label)
  if value == nil or value == "" then return nil end
  local y, m, d, hh, mm = value:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d)$")
  if not y then
    fail(400, "bad_request", ("Invalid %s time format: time data '%s' does not match format '%%Y-%%m-%%d %%H:%%M'")
      :format(label, value))
  end
  local local_time = os.time({ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = tonumber(hh),
    min = tonumber(mm), sec = 0, isdst = false })
  local now = os.time()
  local offset = os.difftime(now, os.time(os.date("!*t", now)))
  return local_time + offset
end

local function time_range(ctx)
  local start = parse_time(util.first(ctx.args.start), "start")
  local stop = parse_time(util.first(ctx.args["end"]), "end")
  if start and stop and start > stop then fail(400, "bad_request", "start must be before end") end
  return start, stop
end

-- The Service API records (list) matched to the app, in order: for each
-- recorded request of `path` made with one of the app's keys, the next item
-- of `items` (oldest first) that `fits` it.
local function matched(ctx, app, path, items, fits)
  local keys = {}
  for _, key in ipairs(ctx.st.app_keys[app.id]) do keys[key.token] = true end
  local out, next_item = {}, 1
  for _, record in ipairs(ctx.server.requests) do
    if record.method == "POST" and record.path == path and keys[util.bearer(record.headers or {})]
      and type(record.json) == "table" then
      for i = next_item, #items do
        if fits(items[i], record.json) then
          out[#out + 1] = items[i]
          next_item = i + 1
          break
        end
      end
    end
  end
  return out
end

local function by_seq(a, b) return a.seq < b.seq end

-- The records (a table of them, in any order) that `matched` gives the app
-- for `path`, oldest first, within the request's start and end.
local function app_records(ctx, app, path, records, fits)
  local all = {}
  for _, record in pairs(records) do all[#all + 1] = record end
  table.sort(all, by_seq)
  local start, stop = time_range(ctx)
  local found = {}
  for _, record in ipairs(matched(ctx, app, path, all, fits)) do
    if (not start or record.created_at >= start) and (not stop or record.created_at < stop) then
      found[#found + 1] = record
    end
  end
  return found
end

--- The app's messages (oldest first) within the request's start and end.
local function app_messages(ctx, app)
  return app_records(ctx, app, "/v1/chat-messages", ctx.server.state.messages, function(message, request)
    return message.user == request.user and message.query == request.query
  end)
end

routes.app_messages = app_messages

local function day_of(t) return os.date("!%Y-%m-%d", t) end

-- Groups items by day: a sorted list of {date, items}.
local function by_day(items)
  local days, order = {}, {}
  for _, item in ipairs(items) do
    local day = day_of(item.created_at)
    if not days[day] then
      days[day] = {}
      order[#order + 1] = day
    end
    table.insert(days[day], item)
  end
  table.sort(order)
  local out = {}
  for _, day in ipairs(order) do out[#out + 1] = { date = day, items = days[day] } end
  return out
end

local function distinct(items, field)
  local seen, n = {}, 0
  for _, item in ipairs(items) do
    if not seen[item[field]] then
      seen[item[field]] = true
      n = n + 1
    end
  end
  return n
end

local function usage(message) return util.usage(message.query or "", message.answer or "") end

local LATENCY = 0.42 -- seconds, as util.usage claims

-- Each statistic: a row of a day's messages.
local STATISTICS = {
  ["daily-messages"] = function(items) return { message_count = #items } end,
  ["daily-conversations"] = function(items) return { conversation_count = distinct(items, "conversation_id") } end,
  ["daily-end-users"] = function(items) return { terminal_count = distinct(items, "user") } end,
  ["token-costs"] = function(items)
    local tokens, price = 0, 0
    for _, message in ipairs(items) do
      local u = usage(message)
      tokens = tokens + u.total_tokens
      price = price + tonumber(u.total_price)
    end
    return { token_count = tokens, total_price = ("%.7f"):format(price), currency = "USD" }
  end,
  ["average-session-interactions"] = function(items)
    local conversations = distinct(items, "conversation_id")
    return { interactions = math.floor(#items / conversations * 100 + 0.5) / 100 }
  end,
  ["user-satisfaction-rate"] = function(items)
    local liked = 0
    for _, message in ipairs(items) do
      if type(message.feedback) == "table" and message.feedback.rating == "like" then liked = liked + 1 end
    end
    return { rate = math.floor(liked * 1000 / #items * 100 + 0.5) / 100 }
  end,
  ["average-response-time"] = function() return { latency = LATENCY * 1000 } end,
  ["tokens-per-second"] = function(items)
    local answer_tokens = 0
    for _, message in ipairs(items) do answer_tokens = answer_tokens + usage(message).completion_tokens end
    return { tps = math.floor(answer_tokens / (LATENCY * #items) * 10000 + 0.5) / 10000 }
  end,
}

local function statistic(name)
  local row_of = STATISTICS[name]
  return function(ctx)
    local app = find_app(ctx)
    local data = json.array()
    for _, day in ipairs(by_day(app_messages(ctx, app))) do
      local row = json.object(row_of(day.items))
      row.date = day.date
      data[#data + 1] = row
    end
    return 200, json.object({ data = data })
  end
end

-- GET /apps/{app_id}/workflow/statistics/daily-conversations: the app's runs a day.
local function workflow_daily_runs(ctx)
  local app = find_app(ctx)
  local runs = app_records(ctx, app, "/v1/workflows/run", ctx.server.state.workflow_run_list, function(run, request)
    return run.user == nil or run.user == request.user
  end)
  local data = json.array()
  for _, day in ipairs(by_day(runs)) do data[#data + 1] = json.object({ date = day.date, runs = #day.items }) end
  return 200, json.object({ data = data })
end

function routes.register(router)
  router:add("GET", "/account/profile", profile)
  router:add("POST", "/logout", function() end) -- answered by dify.mock.console_auth
  router:add("GET", "/apps", list_apps)
  router:add("POST", "/apps", create_app)
  router:add("GET", "/apps/:app_id", get_app)
  router:add("PUT", "/apps/:app_id", update_app)
  router:add("DELETE", "/apps/:app_id", delete_app)
  router:add("GET", "/apps/:app_id/api-keys", app_keys)
  router:add("POST", "/apps/:app_id/api-keys", create_app_key)
  router:add("DELETE", "/apps/:app_id/api-keys/:key_id", delete_app_key)
  router:add("GET", "/datasets/api-keys", dataset_keys)
  router:add("POST", "/datasets/api-keys", create_dataset_key)
  router:add("DELETE", "/datasets/api-keys/:key_id", delete_dataset_key)
  for name in pairs(STATISTICS) do router:add("GET", "/apps/:app_id/statistics/" .. name, statistic(name)) end
  router:add("GET", "/apps/:app_id/workflow/statistics/daily-conversations", workflow_daily_runs)
  require("dify.mock.console_app_routes").register(router)
  require("dify.mock.console_workspace_routes").register(router)
end

return routes
