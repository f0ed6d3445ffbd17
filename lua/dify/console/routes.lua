--- Every console API call of `dify.console`, as data: one line a route, under
-- `{host}/console/api`. The fields are those of `dify.routes`, plus:
--  * `dates`: fields given as a date string ("YYYY-MM-DD[ HH:MM[:SS]]") or an
--    `os.time()` number, sent as Dify's "YYYY-MM-DD HH:MM".
--  * `pick`: the field of the answer that is returned (an export's YAML text).
--  * `default_mode`: the import `mode` that a given field implies.
-- Every route is sent with the console's session (never an API key) and
-- takes no end user.
-- @module dify.console.routes
local prepare = require("dify.routes").prepare

-- An app's statistic: GET /apps/{app_id}<path>, dates `start` and `end`, the `data` list.
local function statistic(name, path)
  return { name = name, method = "GET", path = "/apps/{app_id}" .. path, params = { "app_id" },
    dates = { "start", "end" }, result = "data" }
end

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
  -- Publishes a chat, agent or completion app's prompt, model and features (the whole object).
  { name = "app_model_config", method = "POST", path = "/apps/{app_id}/model-config", params = { "app_id" } },
  -- Workflow and chatflow apps.
  { name = "publish_workflow", method = "POST", path = "/apps/{app_id}/workflows/publish", params = { "app_id" } },
  -- DSL: an import answers its `status` (completed, completed-with-warnings, or pending: confirm it);
  -- a failed one is `nil, err` with the import in err.details.
  { name = "import_app", method = "POST", path = "/apps/imports",
    default_mode = { yaml_content = "yaml-content", yaml_url = "yaml-url" },
    required_one = { yaml_content = "string", yaml_url = "string" } },
  { name = "confirm_app_import", method = "POST", path = "/apps/imports/{import_id}/confirm",
    params = { "import_id" } },
  { name = "export_app", method = "GET", path = "/apps/{app_id}/export", params = { "app_id" }, pick = "data" },
  -- The admin's view of an app's conversations (sort_by, annotation_status, start, end, page, limit).
  { name = "chat_conversations", method = "GET", path = "/apps/{app_id}/chat-conversations",
    params = { "app_id" }, paging = "page", dates = { "start", "end" } },

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
  statistic("daily_conversations", "/statistics/daily-conversations"),
  statistic("daily_end_users", "/statistics/daily-end-users"),
  statistic("daily_messages", "/statistics/daily-messages"),
  statistic("average_session_interactions", "/statistics/average-session-interactions"),
  statistic("tokens_per_second", "/statistics/tokens-per-second"),
  statistic("user_satisfaction_rate", "/statistics/user-satisfaction-rate"),
  statistic("token_costs", "/statistics/token-costs"),
  statistic("average_response_time", "/statistics/average-response-time"),
  statistic("workflow_daily_conversations", "/workflow/statistics/daily-conversations"),

  -- Members
  { name = "invite_members", method = "POST", path = "/workspaces/current/members/invite-email",
    required = { emails = "table", role = "string" } },

  -- Knowledge indexing, as the console sees it
  { name = "dataset_indexing_status", method = "GET", path = "/datasets/{dataset_id}/indexing-status",
    params = { "dataset_id" }, result = "data" },
  { name = "document_indexing_status", method = "GET",
    path = "/datasets/{dataset_id}/documents/{document_id}/indexing-status",
    params = { "dataset_id", "document_id" } },
  { name = "dataset_error_docs", method = "GET", path = "/datasets/{dataset_id}/error-docs",
    params = { "dataset_id" } },
  { name = "retry_documents", method = "POST", path = "/datasets/{dataset_id}/retry", params = { "dataset_id" },
    required = { document_ids = "table" }, result = "ok" },

  -- Models, tools, plugins
  { name = "model_providers", method = "GET", path = "/workspaces/current/model-providers", result = "data" },
  { name = "models_by_type", method = "GET", path = "/workspaces/current/models/model-types/{model_type}",
    params = { "model_type" }, pattern = { model_type = "^[%w_%-]+$" }, result = "data" },
  { name = "tool_providers", method = "GET", path = "/workspaces/current/tool-providers" },
  { name = "plugins", method = "GET", path = "/workspaces/current/plugin/list" },

  -- Draft runs (the console's "Run" button): streams, as the Service API's.
  { name = "run_draft_workflow", method = "POST", path = "/apps/{app_id}/workflows/draft/run",
    params = { "app_id" }, stream = true, inputs = true, terminal = "workflow_finished",
    stop = "stop_workflow_task" },
  { name = "run_draft_chatflow", method = "POST", path = "/apps/{app_id}/advanced-chat/workflows/draft/run",
    params = { "app_id" }, stream = true, inputs = true, terminal = "message_end",
    also_ends = { "workflow_finished" }, stop = "stop_workflow_task" },
  { name = "stop_workflow_task", method = "POST", path = "/apps/{app_id}/workflow-runs/tasks/{task_id}/stop",
    params = { "app_id", "task_id" } },
}

local by_name = {}
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate console route " .. route.name)
  route.no_auth = true -- the console adds its session's lines itself
  route.user = false
  by_name[route.name] = prepare(route)
end

return { list = routes, by_name = by_name }
