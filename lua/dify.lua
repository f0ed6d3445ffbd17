--- lua-dify: a client for the Dify Service API.
--
--     local dify = require("dify")
--     local client = dify.new{ api_key = os.getenv("DIFY_API_KEY"), user = "alice" }
--     local answer = assert(client:chat{ query = "Hello" })
--     print(answer.answer)
--
-- Every call returns its result, or `nil, err` (see `dify.errors`). Mistakes
-- in the arguments raise at once, before any request is sent.
-- @module dify
local core = require("dify.core")
local errors = require("dify.errors")
local json = require("dify.json")
local pager = require("dify.pager")
local request = require("dify.request")
local routes = require("dify.routes")
local Stream = require("dify.stream")
local multiplex = require("dify.multiplex")

local dify = {
  _VERSION = "0.1.0",
  errors = errors,
  json = json,
  routes = routes,
  null = json.null,
  multiplex = multiplex,
}

local DEFAULT_BASE_URL = "https://api.dify.ai/v1"

local Client = {}
Client.__index = Client
Client.__name = "dify.client"

-- Keys live outside the client table so that dumping a client never shows them.
local secrets = setmetatable({}, { __mode = "k" })

local function mask(key)
  if type(key) ~= "string" or #key < 8 then return "****" end
  local prefix = key:match("^(%a+%-)") or ""
  return prefix .. "****" .. key:sub(-4)
end

local function check_header_text(what, text, level)
  if type(text) ~= "string" or text:find("[\r\n%z]") then
    error(what .. " must be a string without CR, LF or NUL", level + 1)
  end
end

local function check_headers(headers, level)
  if headers == nil then return end
  if type(headers) ~= "table" then error("headers must be a table", level + 1) end
  for name, value in pairs(headers) do
    check_header_text("header name", name, level + 1)
    if name:find("[:%s]") then error("header name must not contain ':' or spaces", level + 1) end
    check_header_text("header " .. name, value, level + 1)
  end
end

local function check_number(opts, key, level)
  local v = opts[key]
  if v ~= nil and (type(v) ~= "number" or v < 0) then
    error(key .. " must be a number of seconds >= 0", level + 1)
  end
end

--- Makes a client.
-- @tparam[opt] table opts
--  `base_url` (default env `DIFY_BASE_URL`, else https://api.dify.ai/v1),
--  `api_key` (default env `DIFY_API_KEY`), `user` (default end-user id),
--  `timeout` (60), `connect_timeout` (10), `idle_timeout` (300) in seconds,
--  `headers` (extra headers), `proxy`, `ca_file`, `verify_tls` (true),
--  `max_body_size`, `max_event_size` (bytes).
-- @treturn table the client
function dify.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("dify.new: opts must be a table", 2) end
  opts = opts or {}
  local base_url = opts.base_url or os.getenv("DIFY_BASE_URL") or DEFAULT_BASE_URL
  if type(base_url) ~= "string" or not base_url:match("^https?://[^/]") then
    error("dify.new: base_url must be an http:// or https:// URL", 2)
  end
  local api_key = opts.api_key or os.getenv("DIFY_API_KEY")
  if api_key ~= nil then check_header_text("dify.new: api_key", api_key, 2) end
  if opts.user ~= nil and type(opts.user) ~= "string" then error("dify.new: user must be a string", 2) end
  for _, key in ipairs{ "timeout", "connect_timeout", "idle_timeout" } do check_number(opts, key, 2) end
  check_headers(opts.headers, 2)
  if opts.verify_tls ~= nil and type(opts.verify_tls) ~= "boolean" then
    error("dify.new: verify_tls must be a boolean", 2)
  end

  -- A transport sends the requests: libcurl by default. Another one (such as
  -- nginx cosockets) gives the same two methods with the same results:
  --   transport:request(req) -> status, headers, body | nil, kind, message, which, sent
  --   transport:stream(req)  -> status, headers, core_stream_or_body | nil, kind, ...
  -- where a core stream has next() -> type, data, id | nil[, kind, message, which],
  -- close() and is_open().
  local session = opts.transport
  if session == nil then
    local kind, message
    session, kind, message = core.session{
      timeout = opts.timeout, connect_timeout = opts.connect_timeout,
      idle_timeout = opts.idle_timeout, proxy = opts.proxy, ca_file = opts.ca_file,
      verify_tls = opts.verify_tls, max_body_size = opts.max_body_size,
      max_event_size = opts.max_event_size,
      user_agent = ("lua-dify/%s (%s; %s)"):format(dify._VERSION, _VERSION, core.version()),
    }
    if not session then error("dify.new: " .. tostring(kind) .. ": " .. tostring(message), 2) end
  end

  local client = setmetatable({
    base_url = (base_url:gsub("/+$", "")),
    user = opts.user,
    headers = opts.headers or {},
    _session = session,
  }, Client)
  secrets[client] = api_key
  return client
end

function Client:__tostring()
  return ("dify.client(%s, key %s)"):format(self.base_url, mask(secrets[self]))
end

--- Closes the client's connections now (they also close when it is collected).
function Client:close()
  if self._session.close then self._session:close() end
end

function Client:_headers(route, fields, api_key, streaming)
  local lines = {
    "Authorization: Bearer " .. api_key,
    streaming and "Accept: text/event-stream" or "Accept: application/json",
  }
  if route.send == "json" then lines[#lines + 1] = "Content-Type: application/json" end
  for _, extra in ipairs{ self.headers, fields.headers } do
    for name, value in pairs(extra) do lines[#lines + 1] = name .. ": " .. value end
  end
  return lines
end

local function check_required(route, fields, level)
  for name, kind in pairs(route.required or {}) do
    if type(fields[name]) ~= kind then
      error(("%s: %s is required (%s)"):format(route.name, name, kind), level + 1)
    end
  end
  if fields.inputs ~= nil and type(fields.inputs) ~= "table" then
    error(route.name .. ": inputs must be a table", level + 1)
  end
end

-- Builds the core request for a route; raises on the caller's mistakes.
function Client:_prepare(route, fields, level)
  level = level + 1
  check_required(route, fields, level)
  check_headers(fields.headers, level)
  local api_key = fields.api_key or secrets[self]
  if api_key == nil then error(route.name .. ": no api_key (dify.new{api_key=} or DIFY_API_KEY)", level) end
  check_header_text("api_key", api_key, level)
  local path, used = request.path(route, fields, level)
  local payload = request.payload(route, fields, used)
  if route.user then
    local user = fields.user or self.user
    if type(user) ~= "string" or user == "" then
      error(route.name .. ": user is required (dify.new{user=} or user=)", level)
    end
    payload.user = user
  end
  if route.mode then payload.response_mode = route.mode end

  local req = {
    method = route.method,
    url = self.base_url .. path,
    headers = self:_headers(route, fields, api_key, route.stream),
    timeout = fields.timeout,
    on_progress = fields.on_progress,
  }
  if route.send == "query" then
    local query = request.query(payload)
    if query ~= "" then req.url = req.url .. "?" .. query end
  elseif route.send == "multipart" then
    req.parts = request.parts(route, fields, payload, level)
  else
    local body, why = json.encode(payload)
    if not body then error(route.name .. ": cannot encode the request as JSON: " .. why, level) end
    req.body = body
  end
  return req, api_key
end

local function decode_result(route, status, headers, body)
  if route.result == "ok" then return true end
  if route.result == "bytes" then return body end
  if route.result == "file" then return body, headers["content-type"] end
  if body == "" then return true end
  local value, why = json.decode(body)
  if value == nil then
    return nil, errors.new{ kind = "decode", status = status,
      message = "response is not JSON: " .. tostring(why) }
  end
  if route.result == "data" then
    if type(value) ~= "table" or type(value.data) ~= "table" then
      return nil, errors.new{ kind = "decode", status = status, message = "response has no data list" }
    end
    return value.data
  end
  return value
end

local function check_output(route, fields, level)
  local output = fields.output
  if output == nil then return end
  if route.result ~= "bytes" and route.result ~= "file" then
    error(route.name .. ": takes no output", level + 1)
  end
  if type(output) ~= "string" and type(output) ~= "function" then
    error(route.name .. ": output must be a path or a function", level + 1)
  end
end

-- Sends a blocking call; returns the result, or nil and an error.
function Client:_call(route, fields, level)
  level = (level or 1) + 1
  check_output(route, fields, level)
  local req, api_key = self:_prepare(route, fields, level)
  -- Written beside the target and renamed on success: a failure leaves no half file.
  local final_path = type(fields.output) == "string" and fields.output or nil
  if final_path then
    req.output = final_path .. ".part"
  else
    req.output = fields.output
  end
  local returned, status, headers, body, which, sent = pcall(self._session.request, self._session, req)
  if not returned then
    -- A callback raised: the call was aborted and its error goes on up, without the half file.
    if final_path then os.remove(req.output) end
    error(status, 0)
  end
  if not status then
    if final_path then os.remove(req.output) end
    return nil, errors.redact(errors.transport(headers, body, which, sent), api_key)
  end
  if status < 200 or status > 299 then
    if final_path then os.remove(req.output) end
    return nil, errors.redact(errors.from_response(status, headers, body), api_key)
  end
  if final_path then
    local ok, why = os.rename(req.output, final_path)
    if not ok then
      os.remove(req.output)
      return nil, errors.new{ kind = "io", message = "cannot write " .. final_path .. ": " .. tostring(why) }
    end
  end
  return decode_result(route, status, headers, body)
end

-- Opens a stream; returns the stream (as iterator and closing value), or nil and an error.
function Client:_open_stream(route, fields, level)
  level = (level or 1) + 1
  local req, api_key = self:_prepare(route, fields, level)
  local status, headers, body, which, sent = self._session:stream(req)
  if not status then
    return nil, errors.redact(errors.transport(headers, body, which, sent), api_key)
  end
  if type(body) == "string" then
    if status >= 200 and status <= 299 then
      return nil, errors.new{ kind = "protocol", status = status,
        message = "expected an event stream, got " .. tostring(headers["content-type"]) }
    end
    return nil, errors.redact(errors.from_response(status, headers, body), api_key)
  end
  local stream = Stream.new(self, body, route)
  return stream, nil, nil, stream
end

-- Maps positional arguments to named fields, per the route's `params`.
local function fields_from_args(route, ...)
  local nparams = #route.params
  local fields = {}
  local extra = select(nparams + 1, ...)
  if extra ~= nil then
    if type(extra) ~= "table" then
      error(("%s: expected a table of fields after %d argument(s)"):format(route.name, nparams), 3)
    end
    for k, v in pairs(extra) do fields[k] = v end
  end
  for i, name in ipairs(route.params) do
    local value = select(i, ...)
    if value == nil then error(("%s: argument #%d (%s) is required"):format(route.name, i, name), 3) end
    fields[name] = value
  end
  return fields
end

for _, route in ipairs(routes.list) do
  if route.stream then
    Client[route.name] = function(self, ...)
      return self:_open_stream(route, fields_from_args(route, ...), 2)
    end
  else
    Client[route.name] = function(self, ...)
      return self:_call(route, fields_from_args(route, ...), 2)
    end
  end
end

--- Iterates the items of every page of a list call.
-- @tparam string method e.g. "conversations", "messages", "annotations"
-- @tparam[opt] table params the call's fields, plus `max_pages`
function Client:each(method, params)
  return pager.each(self, method, params)
end

return dify
