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
local retry = require("dify.retry")
local routes = require("dify.routes")
local Stream = require("dify.stream")
local versions = require("dify.version")
local multiplex = require("dify.multiplex")
local all = require("dify.all")
local host = require("dify.host")

local dify = {
  _VERSION = "0.1.0",
  errors = errors,
  json = json,
  routes = routes,
  null = json.null,
  multiplex = multiplex,
  all = all.run,
  -- Tasks inside a host's event loop (dify.host).
  spawn = host.spawn,
  step = host.step,
  watch = host.watch,
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

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
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
--  `first_event_timeout` (streams; none), `headers` (extra headers), `proxy`,
--  `ca_file`, `verify_tls` (true), `compression` (false: ask for gzip/br/zstd
--  answers; a compressed answer is decoded either way), `max_body_size`, `max_event_size` (bytes),
--  `retries` (2), `max_retry_wait` (60 s), `retry_base_delay` (0.5 s),
--  hooks `on_request`, `on_response`, `on_event`, `on_retry` (functions of one
--  info table; never given the API key), and `sleep` (how to wait between retries).
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
  for _, key in ipairs{ "verify_tls", "compression" } do
    if opts[key] ~= nil and type(opts[key]) ~= "boolean" then error("dify.new: " .. key .. " must be a boolean", 2) end
  end

  -- A transport sends the requests: libcurl by default. Another one (such as
  -- nginx cosockets) gives the same two methods with the same results:
  --   transport:request(req) -> status, headers, body | nil, kind, message, which, sent
  --   transport:stream(req)  -> status, headers, core_stream_or_body | nil, kind, ...
  -- where a core stream has next() -> type, data, id | nil[, kind, message, which],
  -- close() and is_open(). A transport only reads req: its headers list is shared
  -- by the client's calls.
  local function curl_session()
    local session, kind, message = core.session{
      timeout = opts.timeout, connect_timeout = opts.connect_timeout,
      idle_timeout = opts.idle_timeout, proxy = opts.proxy, ca_file = opts.ca_file,
      verify_tls = opts.verify_tls, max_body_size = opts.max_body_size,
      max_event_size = opts.max_event_size,
      user_agent = "lua-dify/" .. dify._VERSION, -- every byte of a header line costs libcurl time
      compression = opts.compression,
    }
    if not session then error("dify.new: " .. tostring(kind) .. ": " .. tostring(message), 3) end
    return session
  end
  local session = opts.transport
  -- Inside nginx, libcurl would block the worker: cosockets carry the calls there.
  if session == nil and rawget(_G, "ngx") ~= nil then
    local ngx_transport = require("dify.ngx.transport")
    if ngx_transport.in_nginx() then
      session = ngx_transport.new(opts, ("lua-dify/%s (%s; ngx_lua)"):format(dify._VERSION, _VERSION),
        curl_session)
    end
  end
  session = session or curl_session()

  local hooks = {}
  for _, name in ipairs{ "on_request", "on_response", "on_event", "on_retry" } do
    if opts[name] ~= nil and type(opts[name]) ~= "function" then
      error("dify.new: " .. name .. " must be a function", 2)
    end
    hooks[name] = opts[name]
  end
  for _, key in ipairs{ "retries", "max_retry_wait", "retry_base_delay", "first_event_timeout" } do
    check_number(opts, key, 2)
  end
  if opts.sleep ~= nil and type(opts.sleep) ~= "function" then error("dify.new: sleep must be a function", 2) end

  local client = setmetatable({
    base_url = (base_url:gsub("/+$", "")),
    user = opts.user,
    -- Read once: the header lines built from them are kept for every call.
    headers = copy(opts.headers),
    hooks = hooks,
    first_event_timeout = opts.first_event_timeout,
    _retry = retry.policy(opts),
    _sleep = opts.sleep or (session.sleep and function(s) session:sleep(s) end) or core.sleep,
    _session = session,
    _urls = {}, -- of routes without path fields
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

local EMPTY = setmetatable({}, { __newindex = function() error("read-only table", 2) end })
local ROOT = {} -- the template of a call sent to the server's root

-- Each client's header lines for its own key, built once (like the key, kept
-- off the client table; a per-call key is not kept).
local auth_lines = setmetatable({}, { __mode = "k" })

local function header_lines(route, auth_line, client_headers, call_headers)
  -- Blocking calls leave libcurl's "Accept: */*": Dify answers JSON whatever
  -- they accept, and each line costs libcurl time on every call.
  local lines, n = { auth_line }, auth_line and 1 or 0
  if route.stream then
    n = n + 1
    lines[n] = "Accept: text/event-stream"
  end
  if route.send == "json" then
    n = n + 1
    lines[n] = "Content-Type: application/json"
  end
  for name, value in pairs(client_headers) do
    n = n + 1
    lines[n] = name .. ": " .. value
  end
  for name, value in pairs(call_headers or EMPTY) do
    n = n + 1
    lines[n] = name .. ": " .. value
  end
  return lines
end

-- The header lines of a call. Those of the client's own key and headers are
-- built once per kind of route and shared (never written to once built).
function Client:_headers(route, fields, api_key)
  if api_key ~= secrets[self] or fields.headers then
    return header_lines(route, "Authorization: Bearer " .. api_key, self.headers, fields.headers)
  end
  local cache = auth_lines[self]
  if not cache then
    cache = { auth = "Authorization: Bearer " .. api_key }
    auth_lines[self] = cache
  end
  local kind = route.stream and route.send .. " stream" or route.send
  local lines = cache[kind]
  if not lines then
    lines = header_lines(route, cache.auth, self.headers)
    cache[kind] = lines
  end
  return lines
end

-- The rarer checks of a route: at least one of some fields, values from a
-- list, path segments of a given shape.
local function check_constraints(route, fields, level)
  local required_one = route.required_one
  if required_one then
    local found = false
    for name, kind in pairs(required_one) do
      if type(fields[name]) == kind then
        found = true
        break
      end
    end
    if not found then
      -- The names for the message only: a call that has one builds none.
      local names = {}
      for name, kind in pairs(required_one) do names[#names + 1] = name .. " (" .. kind .. ")" end
      table.sort(names)
      error(("%s: one of %s is required"):format(route.name, table.concat(names, ", ")), level + 1)
    end
  end
  for name, allowed in pairs(route.one_of or EMPTY) do
    local value, ok = fields[name], false
    for _, candidate in ipairs(allowed) do
      if value == candidate then
        ok = true
        break
      end
    end
    if not ok then
      error(("%s: %s must be one of %s"):format(route.name, name, table.concat(allowed, ", ")), level + 1)
    end
  end
  for name, shape in pairs(route.pattern or EMPTY) do
    local value = fields[name]
    if type(value) == "string" and not value:find(shape) then
      error(("%s: %s %q is not a valid value"):format(route.name, name, value), level + 1)
    end
  end
end

local function check_required(route, fields, level)
  -- A list, not the `required` map: pairs() costs more than the check itself.
  local required = route.required_list
  for i = 1, #required, 2 do
    local name, kind = required[i], required[i + 1]
    if type(fields[name]) ~= kind then
      error(("%s: %s is required (%s)"):format(route.name, name, kind), level + 1)
    end
  end
  if fields.inputs ~= nil and type(fields.inputs) ~= "table" then
    error(route.name .. ": inputs must be a table", level + 1)
  end
  if route.required_one or route.one_of or route.pattern then check_constraints(route, fields, level + 1) end
end

-- Builds the core request for a route; raises on the caller's mistakes.
function Client:_prepare(route, fields, level, template)
  level = level + 1
  local at_root = template == ROOT
  if at_root then template = "/" end
  check_required(route, fields, level)
  check_headers(fields.headers, level)
  local api_key = fields.api_key or secrets[self]
  if api_key == nil and not route.no_auth then
    error(route.name .. ": no api_key (dify.new{api_key=} or DIFY_API_KEY)", level)
  end
  -- The client's own key was checked by dify.new.
  if fields.api_key ~= nil then check_header_text("api_key", api_key, level) end
  local path, used = request.path(route, fields, level, template)
  local payload = request.payload(route, fields, used)
  if route.user then
    -- Sent whenever it is known; demanded only where Dify demands it.
    local user = fields.user or self.user
    if user ~= nil and type(user) ~= "string" then error(route.name .. ": user must be a string", level) end
    if route.user == true and (user == nil or user == "") then
      error(route.name .. ": user is required (dify.new{user=} or user=)", level)
    end
    payload.user = user
  end
  if route.mode then payload.response_mode = route.mode end

  if route.no_auth then api_key = nil end
  local fixed = route.fixed_path and template == nil
  local url = fixed and self._urls[route]
  if not url then
    url = (at_root and self.base_url:match("^(https?://[^/]+)") or self.base_url) .. path
    if fixed then self._urls[route] = url end
  end
  local req = {
    method = route.method,
    url = url,
    headers = api_key and self:_headers(route, fields, api_key)
      or header_lines(route, nil, self.headers, fields.headers),
    timeout = fields.timeout,
    on_progress = fields.on_progress,
  }
  if route.send == "query" or route.send == "none" then
    local query = request.query(payload)
    if query ~= "" then req.url = req.url .. "?" .. query end
  elseif route.send == "multipart" then
    req.parts = request.parts(route, fields, payload, level)
  else
    local body, why = json.encode(payload)
    if not body then error(route.name .. ": cannot encode the request as JSON: " .. why, level) end
    req.body = body
  end
  req.retries = fields.retries
  return req, api_key, path
end

-- The probe's answer: Dify's index names its version `server_version`; the
-- X-Version header is on every answer of its API process.
local function server_version(status, headers, body)
  local decoded = json.decode(body)
  local version = headers["x-version"]
  if not version and type(decoded) == "table" then
    for _, key in ipairs{ "server_version", "version" } do
      if type(decoded[key]) == "string" then
        version = decoded[key]
        break
      end
    end
  end
  return { status = status, version = version }
end

-- An error about an answer that came: it names the answer's server version
-- and trace id, as every error does when the answer had them.
local function answer_error(status, headers, kind, message, code)
  return nil, errors.new{ kind = kind, status = status, code = code, message = message,
    server_version = headers["x-version"], trace_id = headers["x-trace-id"] }
end

-- Dify answers 200 with a JSON null when it has nothing to give (text_to_audio
-- for an unknown message id): that is no content, whether kept or sent to an output.
local NULL_BODY = "null"

local function is_json(headers)
  return (headers["content-type"] or ""):find("json", 1, true) ~= nil
end

local function is_null_answer(headers, body)
  return body == NULL_BODY and is_json(headers)
end

local function no_result(status, headers)
  return answer_error(status, headers, "api", "Dify answered null: nothing was found for this request",
    "no_result")
end

local function decode_result(route, status, headers, body)
  if route.result == "ok" then return true end
  if route.result == "version" then return server_version(status, headers, body) end
  if route.result == "bytes" then
    if is_null_answer(headers, body) then return no_result(status, headers) end
    return body
  end
  if route.result == "file" then return body, headers["content-type"] end
  if body == "" then
    if status == 204 then return true end
    return answer_error(status, headers, "decode", "empty response body")
  end
  local value, why = json.decode(body)
  if value == nil then return answer_error(status, headers, "decode", "response is not JSON: " .. tostring(why)) end
  if type(value) == "table" and (value.event == "workflow_paused"
    or type(value.data) == "table" and value.data.status == "paused") then
    -- A run that waits for a person (a Human Input node): not a half answer.
    value.paused = true
  end
  if route.result == "data" then
    if type(value) ~= "table" or type(value.data) ~= "table" then
      return answer_error(status, headers, "decode", "response has no data list")
    end
    return value.data
  end
  return value
end

-- An output function behind the C core's sink. Chunks it has seen cannot be
-- taken back, so no retry follows the first; and with `hold_null`, bytes that
-- may yet be the whole of Dify's JSON null are held back until they are not.
local function output_guard(deliver, hold_null)
  local guard = { delivered = false }
  local held = hold_null and "" or nil
  function guard.write(chunk)
    if held then
      local joined = held .. chunk
      if NULL_BODY:sub(1, #joined) == joined then
        held = joined
        return
      end
      held, chunk = nil, joined
    end
    guard.delivered = true
    return deliver(chunk)
  end
  function guard.may_retry()
    if guard.delivered then return false end
    if held then held = "" end -- a new attempt's body starts afresh
    return true
  end
  -- After a 2xx body: true when it was Dify's null; else what was held is delivered.
  function guard.finish(headers)
    if is_null_answer(headers, held) then return true end
    if held and held ~= "" then
      guard.delivered = true
      deliver(held)
    end
    return false
  end
  return guard
end

-- A route that Dify added after the server's version answers as unknown
-- (Flask's 404 page, or a 405 for a path it has with other methods): the
-- error says which version has it. Returns err.
local function note_since(route, err)
  local since = route.since
  local unknown = err.status == 405 or (err.status == 404 and err.kind == "http")
  if not (since and unknown) or versions.older(err.server_version, since) == false then return err end
  err.since = since
  err.message = ("%s (%s %s is in Dify %s and later; this server is %s)"):format(err.message, route.method,
    route.path, since, err.server_version or "of an unknown version")
  return err
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
  local result, err = self:_send(route, fields, level)
  local fallback = route.legacy_path or (route.fallback_root and ROOT)
  if not result and fallback and err.status == 404 then
    -- Older servers spell some routes with underscores, or lack the API index.
    local legacy, legacy_err = self:_send(route, fields, level, fallback)
    if legacy or legacy_err.status ~= 404 then return legacy, legacy_err end
  end
  return result, err
end

-- Sends a request through the transport (`send` is "request" or "stream"),
-- retrying as the policy allows, with the hooks told of every attempt.
-- Returns status, headers, body on a 2xx answer, or nil and the error.
function Client:_exchange(send, req, api_key, path, may_retry)
  local policy = self._retry
  if req.retries ~= nil then policy = { retries = req.retries, base_delay = policy.base_delay,
    max_wait = policy.max_wait } end
  local hooks = self.hooks
  local attempt = 0
  while true do
    attempt = attempt + 1
    -- Info tables only when a hook listens: most clients have none.
    if hooks.on_request then
      hooks.on_request{ method = req.method, path = path, attempt = attempt,
        bytes = req.body and #req.body or nil }
    end
    local started = hooks.on_response and core.now()
    local status, headers, body, which, sent = all.send(self._session, send, req)
    local err
    if not status then
      err = errors.redact(errors.transport(headers, body, which, sent), api_key)
    elseif status < 200 or status > 299 then
      err = errors.redact(errors.from_response(status, headers, body), api_key)
    end
    if err and status then
      err.server_version = headers["x-version"]
      err.trace_id = headers["x-trace-id"]
    end
    if hooks.on_response then
      hooks.on_response{ method = req.method, path = path, attempt = attempt, status = status,
        duration = core.now() - started, bytes = type(body) == "string" and #body or nil,
        error = err and err.kind or nil }
    end
    if not err then return status, headers, body end
    local wait = (not may_retry or may_retry()) and retry.delay(policy, req.method, err, attempt)
    if not wait then return nil, err end
    self:_hook("on_retry", { method = req.method, path = path, attempt = attempt, wait = wait, error = err })
    all.sleep(self._sleep, wait)
  end
end

function Client:_hook(name, info)
  local hook = self.hooks[name]
  if hook then hook(info) end
end

function Client:_send(route, fields, level, template)
  level = level + 1
  check_output(route, fields, level)
  local req, api_key, path = self:_prepare(route, fields, level, template)
  -- Written beside the target and renamed on success: a failure leaves no half file.
  local final_path = type(fields.output) == "string" and fields.output or nil
  local guard
  if final_path then
    req.output = final_path .. ".part"
  elseif fields.output then
    guard = output_guard(fields.output, route.result == "bytes")
    req.output = guard.write
  end
  local status, headers, body
  if req.output then
    local returned
    returned, status, headers, body = pcall(self._exchange, self, "request", req, api_key, path,
      guard and guard.may_retry)
    if not returned then
      -- A callback raised: the call was aborted and its error goes on up, without the half file.
      if final_path then os.remove(req.output) end
      error(status, 0)
    end
  else
    -- Nothing to clean up if a hook raises: no pcall on the common path.
    status, headers, body = self:_exchange("request", req, api_key, path)
  end
  if not status then
    if final_path then os.remove(req.output) end
    return nil, note_since(route, headers)
  end
  if body == true and route.result == "bytes" then
    local was_null
    if guard then
      was_null = guard.finish(headers)
    elseif is_json(headers) then
      local file = io.open(req.output, "rb")
      was_null = is_null_answer(headers, file and file:read(#NULL_BODY + 1))
      if file then file:close() end
    end
    if was_null then
      if final_path then os.remove(req.output) end
      return no_result(status, headers)
    end
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
  local req, api_key, path = self:_prepare(route, fields, level)
  return self:_start_stream(route, fields, req, api_key, path)
end

-- Sends a prepared stream request; returns what _open_stream does.
function Client:_start_stream(route, fields, req, api_key, path)
  req.first_event_timeout = fields.first_event_timeout or self.first_event_timeout
  local status, headers, body = self:_exchange("stream", req, api_key, path)
  if not status then return nil, note_since(route, headers) end
  if type(body) == "string" then
    return nil, errors.new{ kind = "protocol", status = status,
      message = "expected an event stream, got " .. tostring(headers["content-type"]) }
  end
  local stream = Stream.new(self, body, route, { user = fields.user, api_key = fields.api_key }, headers)
  return stream, nil, nil, stream
end

-- The callback form of a stream method (`on_event`, `on_done` among its
-- fields): a task (dify.spawn) reads the stream, handing on_event each event,
-- then on_done the finished stream (its text(), result() and paused ready)
-- or nil and the error. Argument mistakes still raise here, not in the task.
function Client:_spawn_stream(route, fields, level)
  level = level + 1
  local on_event, on_done = fields.on_event, fields.on_done
  for name, fn in pairs{ on_event = on_event, on_done = on_done } do
    if type(fn) ~= "function" then error(("%s: %s must be a function"):format(route.name, name), level + 1) end
  end
  local request_fields = {}
  for k, v in pairs(fields) do
    if k ~= "on_event" and k ~= "on_done" then request_fields[k] = v end
  end
  local req, api_key, path = self:_prepare(route, request_fields, level)
  -- A while loop, not for ... in: plain Lua 5.1 cannot pause a task inside an iterator.
  local function read()
    local stream, err = self:_start_stream(route, request_fields, req, api_key, path)
    if not stream then return nil, err end
    while true do
      local ev = stream:_next_gathered() -- an error event or a failure raises: on_done gets it
      if ev == nil then return stream end
      if on_event then on_event(ev) end
    end
  end
  return host.spawn(read, { on_done = on_done and function(ok, stream, err)
    if ok then return on_done(stream, err) end
    return on_done(nil, stream)
  end })
end

-- Maps positional arguments to named fields, per the route's `params`.
-- The caller's table serves as it is when there are none: fields are only read.
local function fields_from_args(route, ...)
  local nparams = #route.params
  local extra = select(nparams + 1, ...)
  if extra ~= nil and type(extra) ~= "table" then
    error(("%s: expected a table of fields after %d argument(s)"):format(route.name, nparams), 3)
  end
  if nparams == 0 then return extra or {} end
  local fields = {}
  for k, v in pairs(extra or EMPTY) do fields[k] = v end
  for i, name in ipairs(route.params) do
    local value = select(i, ...)
    if value == nil then error(("%s: argument #%d (%s) is required"):format(route.name, i, name), 3) end
    fields[name] = value
  end
  return fields
end

-- For dify.console, whose calls share this machinery (not a public API).
dify._internal = { Client = Client, fields_from_args = fields_from_args }

for _, route in ipairs(routes.list) do
  if route.stream then
    Client[route.name] = function(self, ...)
      local fields = fields_from_args(route, ...)
      if fields.on_event ~= nil or fields.on_done ~= nil then return self:_spawn_stream(route, fields, 2) end
      return self:_open_stream(route, fields, 2)
    end
  else
    Client[route.name] = function(self, ...)
      return self:_call(route, fields_from_args(route, ...), 2)
    end
  end
end

--- The workspace's text-embedding models: `list_models("text-embedding")`.
function Client:list_embedding_models(fields)
  return self:list_models("text-embedding", fields)
end

--- Makes a client of Dify's console API (apps, API keys, statistics): see
-- `dify.console` (lua/dify/console.lua) for its options and methods.
function dify.console(opts)
  local console = require("dify.console").new(opts, 3)
  return console
end

--- Relays a stream to the browser as server-sent events, from an nginx
-- content handler (see `dify.relay` in docs/openresty.md).
function dify.relay(stream, opts)
  return require("dify.relay").relay(stream, opts)
end

--- Waits until every document of an indexing batch is indexed.
-- Polls `indexing_status` every `interval` seconds (default 1) for at most
-- `timeout` seconds (default 300).
-- @tparam string dataset_id
-- @tparam string batch the `batch` returned by a create or update call
-- @tparam[opt] table opts `timeout`, `interval`, and `sleep` (a function of seconds)
-- @treturn table the final statuses (`indexing_status` of each document), or nil and an error
-- (`kind = "api"`, `code = "indexing_error"` when a document failed; `kind = "timeout"`,
-- `which = "indexing"` when time ran out)
function Client:wait_indexed(dataset_id, batch, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("wait_indexed: opts must be a table", 2) end
  local timeout, interval = opts.timeout or 300, opts.interval or 1
  if type(timeout) ~= "number" or type(interval) ~= "number" or interval < 0 then
    error("wait_indexed: timeout and interval must be numbers of seconds", 2)
  end
  local sleep = opts.sleep or self._sleep -- the transport's (ngx.sleep inside nginx)
  local deadline = core.now() + timeout
  while true do
    local status, err = self:indexing_status(dataset_id, batch)
    if not status then return nil, err end
    local documents = status.data or {}
    local pending = #documents == 0
    for _, doc in ipairs(documents) do
      if doc.indexing_status == "error" then
        return nil, errors.new{ kind = "api", code = "indexing_error",
          message = ("document %s failed to index: %s"):format(tostring(doc.id), tostring(doc.error)) }
      elseif doc.indexing_status ~= "completed" then
        pending = true
      end
    end
    if not pending then return documents end
    if core.now() + interval > deadline then
      return nil, errors.new{ kind = "timeout", which = "indexing",
        message = ("batch %s not indexed after %g s"):format(tostring(batch), timeout) }
    end
    all.sleep(sleep, interval) -- inside a task, only the task waits
  end
end

--- Iterates the items of every page of a list call.
-- @tparam string method e.g. "conversations", "messages", "annotations"
-- @tparam[opt] table params the call's fields, plus `max_pages`
function Client:each(method, params)
  return pager.each(self, method, params)
end

return dify
