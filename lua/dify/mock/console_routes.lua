--- The fake console's routes (relative to /console/api), each with the
-- logged-in account in ctx.account: apps, API keys, statistics, ...
-- @module dify.mock.console_routes

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local fail = util.fail

local routes = {}

--- Fills a fresh console state with what its routes keep.
function routes.init(st)
  st.apps, st.app_list = {}, {}
end

--- What GET /console/api/__mock/state shows.
function routes.summary(st)
  return json.object({ config = st.config, counts = st.counts, apps = #st.app_list })
end

-- GET /account/profile
local function profile(ctx)
  local account = ctx.account
  return 200, json.object({ id = account.id, name = account.name, email = account.email,
    interface_language = "en-US", timezone = "UTC" })
end

-- GET /apps?page=&limit=&mode=&name=
local function list_apps(ctx)
  local page = util.int_arg(ctx.args, "page", 1, 1, 99999)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local items, more = util.page(ctx.st.app_list, page, limit)
  return 200, json.object({ data = items, has_more = more, limit = limit, page = page, total = #ctx.st.app_list })
end

local function find_app(ctx)
  local app = ctx.st.apps[ctx.params.app_id]
  if not app then fail(404, "not_found", "App not found.") end
  return app
end

-- GET /apps/{app_id}
local function get_app(ctx)
  return 200, find_app(ctx)
end

function routes.register(router)
  router:add("GET", "/account/profile", profile)
  router:add("POST", "/logout", function() end) -- answered by dify.mock.console_auth
  router:add("GET", "/apps", list_apps)
  router:add("GET", "/apps/:app_id", get_app)
end

return routes
