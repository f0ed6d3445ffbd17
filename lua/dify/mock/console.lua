--- The fake Dify console API (`/console/api/...`): reached from the one hook
-- in dify.mock.server's serve_api, after the request was recorded and its
-- faults applied (X-Mock-Fault works here too).
--
-- Its state lives as long as the server's request log: POST /__mock/reset,
-- which starts a new log, starts the console afresh too. Its control routes
-- are under /console/api/__mock/ (recorded like any request, no auth):
--   POST /console/api/__mock/config  {login = "body"|"cookies"|"host_cookies",
--        csrf = bool, password = "base64"|"plain", access_ttl = s, refresh_ttl = s}
--   POST /console/api/__mock/expire  {tokens = "access"|"refresh"|"all"}
--   POST /console/api/__mock/fail_document {dataset_id, document_id, error}
--        a knowledge document (of the Service API side) that failed to index
--   GET  /console/api/__mock/state   counts of logins, refreshes, refusals; apps, keys,
--        draft-run stops, invitations
-- @module dify.mock.console

local json = require("dify.mock.json")
local router = require("dify.mock.router")
local util = require("dify.mock.util")
local auth = require("dify.mock.console_auth")

local console = {}

-- Console states by the server's request log (a new log after each reset).
local states = setmetatable({}, { __mode = "k" })

local the_router = router.new()
require("dify.mock.console_routes").register(the_router)

--- The console state of a server (made on first use).
function console.state_of(server)
  local key = server.requests
  local st = states[key]
  if not st then
    st = auth.new_state()
    require("dify.mock.console_routes").init(st)
    states[key] = st
  end
  st.server = server
  return st
end

local send_json = util.send_json

local function body_of(req)
  if req.json_error then
    util.fail(400, "invalid_param", "Invalid JSON payload received or JSON payload is empty.")
  end
  if req.json ~= nil and json.is_object(req.json) and not json.is_array(req.json) then return req.json end
  return json.object()
end

local function control(st, req, name)
  local body = body_of(req)
  if req.method == "POST" and name == "config" then
    return 200, auth.configure(st, body)
  elseif req.method == "POST" and name == "expire" then
    auth.expire(st, body.tokens)
    return 200, json.object({ result = "success" })
  elseif req.method == "POST" and name == "fail_document" then
    return 200, require("dify.mock.console_workspace_routes").fail_document(st.server, body)
  elseif req.method == "GET" and name == "state" then
    return 200, require("dify.mock.console_routes").summary(st)
  end
  util.fail(404, "not_found", "Unknown console control route " .. req.method .. " " .. req.path)
end

local function serve(server, req, res, active)
  local st = console.state_of(server)
  local path = req.path:match("^/console/api(/.*)$")
  local name = path:match("^/__mock/([%w_]+)/?$")
  if name then return control(st, req, name) end
  if path == "/login" and req.method == "POST" then return auth.login(st, body_of(req)) end
  if path == "/refresh-token" and req.method == "POST" then return auth.refresh(st, req, body_of(req)) end
  local route, params = the_router:match(req.method, path)
  if not route then
    if params then util.fail(405, "method_not_allowed", "The method is not allowed for the requested URL.") end
    util.fail(404, "not_found", "The requested URL was not found on the server.")
  end
  local account = auth.account_of(st, req)
  if path == "/logout" then return auth.logout(st, account) end
  return route.handler({ st = st, server = server, req = req, res = res, faults = active, params = params,
    args = req.args, body = body_of(req), account = account })
end

--- Serves one /console/api request.
function console.serve(server, req, res, active)
  local ok, status, payload, headers = pcall(serve, server, req, res, active)
  if not ok then
    local err = status
    if util.is_api_error(err) and not res.headers_sent then
      return send_json(res, err.status, util.error_body(err.status, err.code, err.message))
    end
    error(err, 0)
  end
  if status then send_json(res, status, payload, headers) end
end

return console
