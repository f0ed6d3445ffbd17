--- Every console API call of `dify.console`, as data: one line a route, under
-- `{host}/console/api`. The fields are those of `dify.routes`, plus:
--  * `dates`: fields given as a date string ("YYYY-MM-DD[ HH:MM[:SS]]") or an
--    `os.time()` number, sent as Dify's "YYYY-MM-DD HH:MM".
-- Every route is sent with the console's session (never an API key) and
-- takes no end user.
-- @module dify.console.routes
local prepare = require("dify.routes").prepare

local routes = {
  -- The account that is logged in.
  { name = "profile", method = "GET", path = "/account/profile" },
  -- Used by console:logout(), which also forgets the session.
  { name = "logout", method = "POST", path = "/logout" },

  -- Apps. mode: chat, agent-chat, completion, advanced-chat, workflow (newer: agent, channel).
  { name = "apps", method = "GET", path = "/apps", paging = "page" },
  { name = "app", method = "GET", path = "/apps/{app_id}", params = { "app_id" } },
  { name = "create_app", method = "POST", path = "/apps", required = { name = "string", mode = "string" } },
  { name = "update_app", method = "PUT", path = "/apps/{app_id}", params = { "app_id" },
    required = { name = "string" } },
  { name = "delete_app", method = "DELETE", path = "/apps/{app_id}", params = { "app_id" }, result = "ok" },

  -- API keys: an app's (app-…, at most 10 an app) and the workspace's knowledge keys (dataset-…).
  { name = "app_api_keys", method = "GET", path = "/apps/{app_id}/api-keys", params = { "app_id" },
    result = "data" },
  { name = "create_app_api_key", method = "POST", path = "/apps/{app_id}/api-keys", params = { "app_id" } },
  { name = "delete_app_api_key", method = "DELETE", path = "/apps/{app_id}/api-keys/{key_id}",
    params = { "app_id", "key_id" }, result = "ok" },
  { name = "dataset_api_keys", method = "GET", path = "/datasets/api-keys", result = "data" },
  { name = "create_dataset_api_key", method = "POST", path = "/datasets/api-keys" },
  { name = "delete_dataset_api_key", method = "DELETE", path = "/datasets/api-keys/{key_id}",
    params = { "key_id" }, result = "ok" },

  -- Statistics: `{data = {{date = ..., ...}, ...}}`, the list returned; `start`
  -- and `end` (or `from` and `to`) in the account's time zone.
  { name = "daily_conversations", method = "GET", path = "/apps/{app_id}/statistics/daily-conversations",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "daily_end_users", method = "GET", path = "/apps/{app_id}/statistics/daily-end-users",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "daily_messages", method = "GET", path = "/apps/{app_id}/statistics/daily-messages",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "average_session_interactions", method = "GET",
    path = "/apps/{app_id}/statistics/average-session-interactions", params = { "app_id" },
    dates = { "start", "end" }, result = "data" },
  { name = "tokens_per_second", method = "GET", path = "/apps/{app_id}/statistics/tokens-per-second",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "user_satisfaction_rate", method = "GET", path = "/apps/{app_id}/statistics/user-satisfaction-rate",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "token_costs", method = "GET", path = "/apps/{app_id}/statistics/token-costs",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "average_response_time", method = "GET", path = "/apps/{app_id}/statistics/average-response-time",
    params = { "app_id" }, dates = { "start", "end" }, result = "data" },
  { name = "workflow_daily_conversations", method = "GET",
    path = "/apps/{app_id}/workflow/statistics/daily-conversations", params = { "app_id" },
    dates = { "start", "end" }, result = "data" },
}

local by_name = {}
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate console route " .. route.name)
  route.no_auth = true -- the console adds its session's lines itself
  route.user = false
  by_name[route.name] = prepare(route)
end

return { list = routes, by_name = by_name }
