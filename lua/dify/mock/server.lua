--- The fake Dify server: request recording, control routes, faults, auth,
-- body decoding and dispatch to the Dify routes.

local faults = require("dify.mock.faults")
local flask = require("dify.mock.flask")
local http = require("dify.mock.http")
local human_input = require("dify.mock.human_input")
local json = require("dify.mock.json")
local loop = require("dify.mock.loop")
local multipart = require("dify.mock.multipart")
local process = require("dify.mock.process")
local router = require("dify.mock.router")
local routes = require("dify.mock.routes")
local State = require("dify.mock.state")
local util = require("dify.mock.util")
local versions = require("dify.version")

local fail = util.fail

local Server = {}
Server.__index = Server

--- The Dify version the mock claims to be.
Server.VERSION = "1.14.2"

--- The deployment Dify names in X-Env (DEPLOY_ENV).
Server.ENV = "PRODUCTION"


local send_json = util.send_json

local function send_error(res, status, code, message, extra_headers)
  send_json(res, status, util.error_body(status, code, message), extra_headers)
end

-- Dify's 401s also name the scheme they want (libs/external_api.py).
local CHALLENGE = { { "WWW-Authenticate", 'Bearer realm="api"' } }

local function send_not_found_page(res)
  res:send(404, { { "Content-Type", flask.HTML } }, flask.NOT_FOUND_PAGE)
end

local METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."

-- What a handler's error value becomes on the wire.
local function send_api_error(res, err)
  if err.unrouted then
    send_not_found_page(res)
  elseif err.body then
    send_json(res, err.status, err.body)
  else
    send_error(res, err.status, err.code, err.message, err.status == 401 and CHALLENGE or nil)
  end
end

---------------------------------------------------------------------------
-- Request decoding and recording
---------------------------------------------------------------------------

local function form_decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

--- Decodes a query string.  A repeated key becomes a list of its values.
local function decode_query(query)
  local args = json.object()
  for pair in query:gmatch("[^&]+") do
    local key, value = pair:match("^([^=]*)=?(.*)$")
    key, value = form_decode(key), form_decode(value)
    local existing = args[key]
    if existing == nil then
      args[key] = value
    elseif json.is_array(existing) then
      existing[#existing + 1] = value
    else
      args[key] = json.array({ existing, value })
    end
  end
  return args
end

-- Adds args, json (or json_error) and parts (or multipart_error) to a request.
local function decode_request(req)
  req.args = decode_query(req.query)
  local content_type = req.headers["content-type"] or ""
  if content_type:lower():find("json", 1, true) and req.body ~= "" then
    req.json, req.json_error = json.decode(req.body)
  end
  local boundary = multipart.boundary(content_type)
  if boundary then
    req.parts, req.multipart_error = multipart.parse(req.body, boundary)
  end
end

local function record_of(req, seq)
  local headers = json.object()
  for name, value in pairs(req.headers) do
    headers[name] = value
  end
  local record = json.object({
    seq = seq,
    method = req.method,
    path = req.path,
    query = req.query,
    args = req.args,
    headers = headers,
    body = req.body,
    json = req.json,
  })
  if req.parts then
    record.parts = json.array()
    for i, part in ipairs(req.parts) do
      record.parts[i] = json.object({
        name = part.name, filename = part.filename, content_type = part.content_type,
        size = part.size, data = part.data,
      })
    end
  end
  return record
end

---------------------------------------------------------------------------
-- Dify routes
---------------------------------------------------------------------------

-- Knowledge routes take a dataset key, everything else an app key.
local function key_prefix_for(api_path)
  if api_path:find("^/datasets") or api_path:find("^/workspaces") then
    return "dataset-"
  end
  return "app-"
end

local function check_auth(req, api_path)
  local key = util.bearer(req.headers)
  local prefix = key_prefix_for(api_path)
  if not key or key == "app-bad" or key == "dataset-bad" or key:sub(1, #prefix) ~= prefix then
    fail(401, "unauthorized", "Access token is invalid")
  end
end

-- The JSON body (an object), and the form fields of a multipart body.
local function body_and_form(req)
  local form = {}
  if req.multipart_error then
    fail(400, "invalid_param", "Malformed multipart body: " .. req.multipart_error)
  elseif req.parts then
    for _, part in ipairs(req.parts) do
      if not part.filename and part.name then
        form[part.name] = part.data
      end
    end
    return json.object(), form
  elseif req.json_error then
    fail(400, "invalid_param", "Failed to decode JSON object: " .. req.json_error)
  elseif req.json ~= nil then
    if not json.is_object(req.json) or json.is_array(req.json) then
      fail(400, "invalid_param", "The request body must be a JSON object.")
    end
    return req.json, form
  elseif req.body ~= "" and req.method ~= "GET" then
    -- what Flask answers when get_json() meets another Content-Type
    fail(415, "unsupported_media_type",
      "Did not attempt to load JSON data because the request Content-Type was not 'application/json'.")
  end
  return json.object(), form
end

-- `user`: query string for GET, form field for multipart, JSON body otherwise.
local function user_of(req, body, form)
  if req.method == "GET" then
    return util.first(req.args.user)
  elseif req.parts then
    return form.user
  end
  return body.user
end

-- The end user a request acts for. Routes declare `user`: true (Dify
-- requires it), "optional" (Dify stands in DEFAULT-USER) or nothing (Dify
-- does not read it, so neither do we).
local function end_user_of(route, req, body, form)
  local wanted = route.options.user
  if not wanted then
    return nil
  end
  local user = user_of(req, body, form)
  if type(user) == "number" then
    user = tostring(user) -- Dify takes str(user)
  end
  if type(user) == "string" and user ~= "" then
    return user
  elseif wanted == "optional" then
    return util.DEFAULT_USER
  end
  fail(400, "invalid_param", "Arg user must be provided.")
end

function Server:dispatch(route, params, req, res, active, api_path)
  check_auth(req, api_path)
  local body, form = body_and_form(req)
  local ctx = {
    req = req, res = res, state = self.state, faults = active, params = params,
    args = req.args, body = body, form = form, parts = req.parts,
    user = end_user_of(route, req, body, form),
    spawn = function(fn, ...) self.loop:spawn(fn, ...) end,
  }
  local status, payload, headers = route.handler(ctx)
  if status then
    send_json(res, status, payload, headers)
  end
end

-- GET /v1/: Dify's index (IndexApi), which needs no key.
local function serve_index(req, res, active)
  if active.no_index then
    return send_not_found_page(res)
  elseif req.method ~= "GET" and req.method ~= "HEAD" then
    return send_error(res, 405, "method_not_allowed", METHOD_NOT_ALLOWED)
  end
  send_json(res, 200, json.object({
    welcome = "Dify OpenAPI", api_version = "v1", server_version = active.version or Server.VERSION,
  }))
end

-- GET /: Dify's API process has no route there; a server of the older
-- style (the no_index fault) answered a version probe.
local function serve_root(req, res, active)
  if active.no_index and (req.method == "GET" or req.method == "HEAD") then
    return send_json(res, 200, json.object({ version = active.version or Server.VERSION }))
  end
  send_not_found_page(res)
end

-- Flask's strict slashes: the blueprint root without its slash is a redirect.
local function redirect_to_index(req, res)
  local location = "/v1/" .. (req.query ~= "" and ("?" .. req.query) or "")
  res:send(308, { { "Content-Type", flask.HTML }, { "Location", location } }, flask.redirect_page(location))
end

function Server:serve_api(req, res, active)
  if req.path:find("^/console/api/") then -- Dify's console API: dify.mock.console
    return require("dify.mock.console").serve(self, req, res, active)
  end
  if req.path == "/" then
    return serve_root(req, res, active)
  elseif req.path == "/v1" then
    return redirect_to_index(req, res)
  elseif req.path == "/v1/" then
    return serve_index(req, res, active)
  end
  local api_path = req.path:match("^/v1(/.*)$")
  if not api_path then
    return send_not_found_page(res)
  end
  local route, params = self.router:match(req.method, api_path, active.version and function(candidate)
    -- the version fault: a route Dify added later is not there at all
    return not versions.older(active.version, candidate.options.since or "0")
  end)
  if not route then
    if params then
      return send_error(res, 405, "method_not_allowed", METHOD_NOT_ALLOWED)
    end
    return send_not_found_page(res)
  end
  local ok, err = pcall(self.dispatch, self, route, params, req, res, active, api_path)
  if not ok then
    if util.is_api_error(err) and not res.headers_sent then
      return send_api_error(res, err)
    end
    error(err, 0)
  end
end

-- The headers Flask's after_request puts on every answer of the API
-- process (X-Version, X-Env), and the trace id of Dify's request logging.
local function dify_headers(active)
  return {
    { "X-Version", active.version or Server.VERSION },
    { "X-Env", Server.ENV },
    { "X-Trace-Id", util.uuid() },
  }
end

---------------------------------------------------------------------------
-- Control routes (/__mock/...): not recorded, no auth, no faults
---------------------------------------------------------------------------

function Server:control(req, res)
  local name = req.path:match("^/__mock/([%w_]+)/?$")
  local action = req.method .. " " .. tostring(name)
  if action == "GET requests" then
    send_json(res, 200, json.array(self.requests))
  elseif action == "POST reset" then
    self.requests = {}
    self.answered = 0
    self.fault_counts = {}
    self.state:reset()
    send_json(res, 200, json.object({ result = "success" }))
  elseif action == "POST shutdown" then
    res.keep_alive = false
    send_json(res, 200, json.object({ result = "success" }))
    self.loop:stop()
  elseif action == "GET connections" then
    send_json(res, 200, json.object({ accepted = self.listener.accepted }))
  elseif action == "GET state" then
    send_json(res, 200, self:summary())
  elseif action == "POST expire_form" then
    local options = json.decode(req.body ~= "" and req.body or "{}")
    if not json.is_object(options) or type(options.form_token) ~= "string" then
      return send_error(res, 400, "invalid_param", "expire_form takes {\"form_token\": …}")
    end
    local status, body = human_input.expire(self.state, function(fn, ...) self.loop:spawn(fn, ...) end,
      options.form_token)
    send_json(res, status, body)
  elseif action == "POST seed" then
    local options = json.decode(req.body ~= "" and req.body or "{}")
    if not json.is_object(options) then
      return send_error(res, 400, "invalid_param", "seed takes a JSON object")
    end
    local count = math.tointeger(options.count) or 1
    local ok, result = pcall(self.state.seed, self.state, options.kind, count, options)
    if not ok then
      if not util.is_api_error(result) then
        error(result, 0)
      end
      return send_error(res, result.status, result.code, result.message)
    end
    send_json(res, 200, result)
  else
    send_error(res, 404, "not_found", "Unknown control route " .. req.method .. " " .. req.path)
  end
end

--- Counts of what the state holds, and the stop calls seen (GET /__mock/state).
function Server:summary()
  local state = self.state
  local function count(t)
    local n = 0
    for _ in pairs(t) do
      n = n + 1
    end
    return n
  end
  local running = json.array()
  for id, task in pairs(state.tasks) do
    if task.streaming then
      running[#running + 1] = id
    end
  end
  return json.object({
    conversations = #state.conversation_list,
    messages = count(state.messages),
    feedbacks = #state.feedbacks,
    annotations = #state.annotation_list,
    files = count(state.files),
    workflow_runs = #state.workflow_run_list,
    datasets = #state.dataset_list,
    streaming_tasks = running,
    stops = json.array(state.stops),
  })
end

---------------------------------------------------------------------------
-- Life cycle
---------------------------------------------------------------------------

--- Called for every request (inside its connection's task).
function Server:handle(req, res)
  if req.path:find("^/__mock/") then
    return self:control(req, res)
  end
  decode_request(req)
  local record = record_of(req, #self.requests + 1)
  -- API answers already sent when this request arrived: specs of concurrent
  -- calls see from it that every request arrived before the first answer left.
  record.answered_before = self.answered or 0
  self.requests[#self.requests + 1] = record

  local active = faults.parse(req.headers["x-mock-fault"])
  if active.times then
    local key = req.headers["x-mock-fault"]
    self.fault_counts[key] = (self.fault_counts[key] or 0) + 1
    if self.fault_counts[key] > active.times then active = {} end
  end
  res.split1 = active.split1
  res.close_delimited = active.close_delimited
  res.delay = active.stall -- for whole responses; streams stall after their first event
  if not active.html then -- a proxy's error page never reached Dify
    res.base_headers = dify_headers(active)
  end
  if faults.replaces_answer(active) then
    faults.respond(res, active)
  else
    self:serve_api(req, res, active)
  end
  self.answered = (self.answered or 0) + 1
  if self.verbose then
    io.stderr:write(("dify-mock: %s %s -> %s\n"):format(req.method, req.target, tostring(res.status)))
  end
end

--- Creates a server; options: {verbose = bool, parent = pid}; with a parent,
-- the server stops once that process has ended.
function Server.new(options)
  options = options or {}
  local server = setmetatable({
    loop = loop.new(),
    state = State.new(),
    router = router.new(),
    requests = {},
    fault_counts = {},
    verbose = options.verbose,
  }, Server)
  routes.register(server.router)
  if options.parent then
    server.loop:spawn(function()
      while process.alive(options.parent) do
        loop.sleep(1)
      end
      server.loop:stop()
    end)
  end
  return server
end

--- Binds host:port (port 0 picks a free one).  Returns the port, or nil and an error.
function Server:listen(host, port)
  local listener, err = http.listen(self.loop, host, port, function(req, res)
    return self:handle(req, res)
  end)
  if not listener then
    return nil, err
  end
  self.listener = listener
  return listener.port
end

--- Serves until POST /__mock/shutdown.
function Server:run()
  self.loop:run()
end

return Server
