--- A client for Dify's console API: the calls the Dify web console makes to
-- manage apps, their API keys and statistics.
--
--     local console = dify.console{ base_url = "http://your-host",
--       email = os.getenv("DIFY_EMAIL"), password = os.getenv("DIFY_PASSWORD") }
--     for app in console:each("apps", { mode = "workflow" }) do print(app.id, app.name) end
--
-- The conventions are those of `dify.new`: every call returns its result or
-- `nil, err`, argument mistakes raise, retries, hooks, timeouts, TLS options
-- and the cosocket transport inside nginx work the same. The login is lazy
-- (the first call makes it); on a 401 answer the session is refreshed (or,
-- failing that, made again by logging in) and the call is sent once more,
-- the one time a POST that reached Dify is sent twice.
--
-- Email, password, tokens and cookies never appear in errors, hooks or
-- `tostring(console)`; `console:session()` is the one way to read them.
-- @module dify.console
local dify = require("dify")
local errors = require("dify.errors")
local json = require("dify.json")
local pager = require("dify.pager")
local console_routes = require("dify.console.routes")
local session = require("dify.console.session")

local Client = dify._internal.Client
local fields_from_args = dify._internal.fields_from_args

local console = { routes = console_routes, session = session }

local DEFAULT_BASE_URL = "https://cloud.dify.ai"

local Console = {}
Console.__index = Console
Console.__name = "dify.console"

-- The call machinery is the Service API client's; only the exchange differs
-- (it adds the session and renews it on a 401).
for _, name in ipairs{ "_call", "_send", "_prepare", "_start_stream", "_hook", "_headers", "close" } do
  Console[name] = Client[name]
end

-- Per console: the credentials, the session and the store, kept off the
-- console table so that dumping it never shows them.
local auth = setmetatable({}, { __mode = "k" })

-- Options of dify.console that dify.new does not take.
local CONSOLE_ONLY = { email = true, password = true, encode_password = true, session = true,
  session_store = true, language = true, base_url = true, api_key = true, user = true }

--- The server root of a URL: a trailing slash, `/console/api` or `/v1` dropped
-- (bin/dify's console commands compare their saved root by it too).
function console.root_of(url)
  url = url:gsub("/+$", "")
  url = url:gsub("/console/api$", ""):gsub("/v1$", "")
  return url
end
local root_of = console.root_of

local function check_string(opts, key, level)
  if opts[key] ~= nil and type(opts[key]) ~= "string" then
    error("dify.console: " .. key .. " must be a string", level + 1)
  end
end

local function check_store(store, level)
  if store == nil then return end
  local ok = (type(store) == "table" or type(store) == "userdata")
    and type(store.load) == "function" and type(store.save) == "function"
  if not ok then error("dify.console: session_store must have load and save functions", level + 1) end
end

--- Makes a console client (also `dify.console(opts)`).
-- @tparam[opt] table opts
--  `base_url` (the server root, e.g. "http://your-host"; default env
--  `DIFY_CONSOLE_URL`, else https://cloud.dify.ai; a trailing `/v1` or
--  `/console/api` is dropped), `email` and `password` (default env
--  `DIFY_EMAIL`, `DIFY_PASSWORD`), `encode_password` (true: send the password
--  base64-encoded, as Dify 1.11.2+ wants; false for older servers),
--  `language` ("en-US"), `session` (a table from `console:session()`, to
--  resume a login; default env `DIFY_CONSOLE_TOKEN` and
--  `DIFY_CONSOLE_CSRF_TOKEN`), `session_store` (an object with `load()` and
--  `save(session)`, shared by several consoles: each login and refresh is
--  saved to it, and a console that meets an expired session first looks
--  there), and every option of `dify.new` but `api_key` and `user`.
-- @tparam[opt] number level the error level for argument mistakes
-- @treturn table the console
function console.new(opts, level)
  level = level or 2
  if opts ~= nil and type(opts) ~= "table" then error("dify.console: opts must be a table", level) end
  opts = opts or {}
  local base_url = opts.base_url or os.getenv("DIFY_CONSOLE_URL") or DEFAULT_BASE_URL
  if type(base_url) ~= "string" or not base_url:match("^https?://[^/]") then
    error("dify.console: base_url must be an http:// or https:// URL (the server root)", level)
  end
  for _, key in ipairs{ "email", "password", "language" } do check_string(opts, key, level) end
  if opts.encode_password ~= nil and type(opts.encode_password) ~= "boolean" then
    error("dify.console: encode_password must be a boolean", level)
  end
  check_store(opts.session_store, level)
  local email = opts.email or os.getenv("DIFY_EMAIL")
  local password = opts.password or os.getenv("DIFY_PASSWORD")
  local resumed
  if opts.session ~= nil then
    resumed = session.import(opts.session, "dify.console: session", level)
  elseif os.getenv("DIFY_CONSOLE_TOKEN") and os.getenv("DIFY_CONSOLE_TOKEN") ~= "" then
    resumed = session.import({ access_token = os.getenv("DIFY_CONSOLE_TOKEN"),
      csrf_token = os.getenv("DIFY_CONSOLE_CSRF_TOKEN") }, "DIFY_CONSOLE_TOKEN", level)
  end
  if not resumed and not opts.session_store and not (email and password) then
    error("dify.console: give email and password (or env DIFY_EMAIL and DIFY_PASSWORD), a session,"
      .. " a session_store, or env DIFY_CONSOLE_TOKEN", level)
  end

  local root = root_of(base_url)
  local client_opts = {}
  for key, value in pairs(opts) do
    if not CONSOLE_ONLY[key] then client_opts[key] = value end
  end
  client_opts.base_url = root .. "/console/api"
  -- No API key: the console's routes are sent without one (they carry the session).
  client_opts.api_key = ""
  local made, client = pcall(dify.new, client_opts)
  if not made then
    local message = tostring(client):gsub("^[^:]*:%d+: ", ""):gsub("^dify%.new: ", "")
    error("dify.console: " .. message, level)
  end
  client.root = root
  auth[client] = {
    email = email, password = password,
    encode_password = opts.encode_password ~= false,
    language = opts.language or "en-US",
    session = resumed,
    store = opts.session_store,
  }
  return setmetatable(client, Console)
end

function Console:__tostring()
  local state = auth[self]
  return ("dify.console(%s, %s)"):format(self.root, state.session and "logged in" or "not logged in")
end

-- Every secret a message could hold, longest first (a password's base64 is
-- longer than the password), for errors.redact; `extra` is a session about
-- to be sent that the console does not hold yet.
function Console:_secrets(extra)
  local state, list, seen = auth[self], {}, {}
  local function add(value)
    if type(value) == "string" and #value >= 3 and not seen[value] then
      seen[value] = true
      list[#list + 1] = value
    end
  end
  add(state.email)
  add(state.password)
  if state.password then add(session.base64(state.password)) end
  for _, s in ipairs{ state.session or {}, state.previous or {}, extra or {} } do
    for _, name in ipairs(session.TOKENS) do add(s[name]) end
  end
  table.sort(list, function(a, b) return #a > #b end)
  return list
end

-- Takes s as the console's session; `save` also hands it to the store.
function Console:_adopt(s, save)
  local state = auth[self]
  state.previous = state.session
  state.session = s
  if save and state.store then state.store:save(session.export(s)) end
end

-- The store's session, or nil (a store that holds something else counts as empty).
function Console:_stored()
  local store = auth[self].store
  if not store then return nil end
  local stored = store:load()
  if stored == nil then return nil end
  local ok, s = pcall(session.import, stored, "stored session")
  return ok and s or nil
end

-- The session held, else the store's (then held): nil when neither has one.
function Console:_held()
  local state = auth[self]
  if not state.session then
    local stored = self:_stored()
    if stored then self:_adopt(stored, false) end
  end
  return state.session
end

local function prefixed(err, prefix)
  err.message = prefix .. tostring(err.message)
  return err
end

-- POSTs a login or refresh request (no session lines, but `lines`).
function Console:_post_auth(path, payload, lines)
  local headers = { "Content-Type: application/json" }
  for _, line in ipairs(lines or {}) do headers[#headers + 1] = line end
  for name, value in pairs(self.headers) do headers[#headers + 1] = name .. ": " .. value end
  local req = { method = "POST", url = self.base_url .. path, headers = headers,
    body = assert(json.encode(payload)) }
  return Client._exchange(self, "request", req, self:_secrets(), path)
end

-- Reads a login or refresh answer into the console's session.
function Console:_take_answer(what, status, headers, body, previous)
  local decoded = json.decode(body)
  if type(decoded) ~= "table" or decoded.result ~= "success" then
    local why = type(decoded) == "table" and (type(decoded.data) == "string" and decoded.data
      or type(decoded.message) == "string" and decoded.message) or nil
    local code = why and why:lower():find("workspace", 1, true) and "no_workspace" or what .. "_failed"
    return nil, errors.redact(errors.new{ kind = "api", status = status, code = code,
      message = what .. " failed: " .. (why or "Dify did not answer success"),
      server_version = headers["x-version"] }, self:_secrets())
  end
  local s, why = session.from_answer(headers, decoded, previous)
  if not s then return nil, errors.new{ kind = "protocol", status = status, message = what .. ": " .. why } end
  self:_adopt(s, true)
  return true
end

--- Logs in now with the console's email and password (a call logs in by
-- itself when it needs to). Returns true, or nil and an error whose message
-- says why (`code` "authentication_failed" for a wrong email or password,
-- "no_workspace" for an account without a workspace).
function Console:login()
  local state = auth[self]
  if not (state.email and state.password) then
    return nil, errors.new{ kind = "api", code = "not_logged_in",
      message = "no email and password to log in with" }
  end
  local password = state.encode_password and session.base64(state.password) or state.password
  local status, headers, body = self:_post_auth("/login", { email = state.email, password = password,
    language = state.language, remember_me = true })
  if not status then return nil, prefixed(headers, "login failed: ") end
  return self:_take_answer("login", status, headers, body, nil)
end

-- Renews the session with its refresh token. Returns true, or nil and an
-- error (nil alone when there is no refresh token).
function Console:_refresh()
  local s = auth[self].session
  if not (s and s.refresh_token) then return nil end
  -- Older servers read the body, newer ones the cookie: both are sent.
  local status, headers, body = self:_post_auth("/refresh-token", { refresh_token = s.refresh_token },
    { session.refresh_line(s) })
  if not status then return nil, prefixed(headers, "refresh failed: ") end
  return self:_take_answer("refresh", status, headers, body, s)
end

-- Makes sure there is a session to send: the one held, the store's, a
-- refreshed one, or a new login.
function Console:_ensure()
  local state = auth[self]
  local s = self:_held()
  if s and s.access_token then return true end
  if s and s.refresh_token then
    local refreshed, err = self:_refresh()
    if refreshed then return true end
    if not (state.email and state.password) then return nil, err end
  end
  return self:login()
end

-- Whether Dify takes session s: a GET of the profile with it (never the
-- caller's request, which is sent once more at most). Anything but a 401
-- counts as yes: the call itself will say what is wrong.
function Console:_accepted(s)
  local headers = session.header_lines(s)
  for name, value in pairs(self.headers) do headers[#headers + 1] = name .. ": " .. value end
  local req = { method = "GET", url = self.base_url .. "/account/profile", headers = headers }
  local status, err = Client._exchange(self, "request", req, self:_secrets(s), "/account/profile")
  return status ~= nil or err.status ~= 401
end

-- After a 401 sent with `stale`: the store's session when another process
-- renewed it (checked first: the whole workspace may have been logged out),
-- else a refresh, else a new login. Returns true, or nil and the error of
-- the renewal that failed (nil alone when none could be tried).
function Console:_renew(stale)
  local state = auth[self]
  local adopted, refused = self:_adopt_stored(stale)
  if adopted then return true end
  local refreshed, refresh_err = self:_refresh()
  if refreshed then return true end
  -- Two processes that met the 401 at once refresh with one single-use token:
  -- the one that lost finds the winner's session in the store.
  if refresh_err and self:_adopt_stored(stale, refused) then return true end
  if state.email and state.password then return self:login() end
  return nil, refresh_err
end

-- Takes the store's session unless it is `stale`, one Dify has `refused`
-- already, or Dify refuses it now. Returns whether it did, and the session
-- Dify refused.
function Console:_adopt_stored(stale, refused)
  local stored = self:_stored()
  if not stored or session.same(stored, stale) or (refused and session.same(stored, refused)) then
    return false
  end
  if not self:_accepted(stored) then return false, stored end
  self:_adopt(stored, false)
  return true
end

local function with_lines(lines, extra)
  local all = {}
  for i = 1, #lines do all[i] = lines[i] end
  for i = 1, #extra do all[#all + 1] = extra[i] end
  return all
end

-- Client:_exchange with the session's lines added; on a 401, renews the
-- session and sends the request once more.
function Console:_exchange(send, req, _, path, may_retry)
  local ok, err = self:_ensure()
  if not ok then return nil, err end
  local state = auth[self]
  local plain, used = req.headers or {}, state.session
  req.headers = with_lines(plain, session.header_lines(used))
  local status, headers, body = Client._exchange(self, send, req, self:_secrets(), path, may_retry)
  if not status and headers.status == 401 then
    ok, err = self:_renew(used)
    if not ok then
      -- Nothing could renew it: Dify's own 401 says why (an expired token, CSRF).
      req.headers = plain
      return nil, err or headers
    end
    req.headers = with_lines(plain, session.header_lines(state.session))
    status, headers, body = Client._exchange(self, send, req, self:_secrets(), path, may_retry)
  end
  req.headers = plain
  return status, headers, body
end

-- A stream's stop and resume go through this (a draft run's stop route also
-- needs the app id the stream was opened with).
local function stream_owner(self, route, fields)
  local owner = {
    workflow_events = function()
      return nil, errors.new{ kind = "protocol", message = "a console draft run cannot be re-opened" }
    end,
  }
  if route.stop then
    owner[route.stop] = function(_, task_id) return self[route.stop](self, fields.app_id, task_id) end
  end
  return owner
end

function Console:_open_stream(route, fields, level)
  local stream, err = Client._open_stream(self, route, fields, (level or 1) + 1)
  if not stream then return nil, err end
  stream._client = stream_owner(self, route, fields)
  return stream, nil, nil, stream
end

--- Returns the session (logging in first if there is none yet): a plain
-- table with `access_token`, `refresh_token`, `csrf_token` and `cookies` (the
-- cookie name the server used for each), for `dify.console{ session = s }`
-- in another process. It holds secrets: store it as you would a password.
-- @treturn table the session, or nil and an error
function Console:session()
  local ok, err = self:_ensure()
  if not ok then return nil, err end
  return session.export(auth[self].session)
end

--- Logs out at Dify (POST /logout) and forgets the session, here and in
-- the session store. Returns true, or nil and an error (the session is
-- forgotten either way).
function Console:logout()
  local state = auth[self]
  local result, err = true, nil
  if self:_held() then result, err = self:_call(console_routes.by_name.logout, {}, 2) end
  state.previous, state.session = state.session, nil
  if state.store then state.store:save(nil) end
  if not result then return nil, err end
  return true
end

--- Iterates the items of every page of a console list call.
-- @tparam string method e.g. "apps", "chat_conversations"
-- @tparam[opt] table params the call's fields, plus `max_pages`
function Console:each(method, params)
  return pager.each(self, method, params, console_routes)
end

local DATE = "^(%d%d%d%d)%-(%d%d)%-(%d%d)$"
local DATE_TIME = "^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d)"

-- A date as Dify's statistics and logs read it: "YYYY-MM-DD HH:MM".
local function dify_date(route, name, value, level)
  if type(value) == "number" then return os.date("%Y-%m-%d %H:%M", math.floor(value)) end
  if type(value) == "string" then
    local y, m, d = value:match(DATE)
    if y then return ("%s-%s-%s 00:00"):format(y, m, d) end
    local hh, mm
    y, m, d, hh, mm = value:match(DATE_TIME)
    if y then return ("%s-%s-%s %s:%s"):format(y, m, d, hh, mm) end
  end
  error(("%s: %s must be a date (\"YYYY-MM-DD[ HH:MM]\") or an os.time() number"):format(route.name, name),
    level + 1)
end

-- `end` is a Lua keyword: `from` and `to` may stand for `start` and `end`.
local ALIASES = { start = "from", ["end"] = "to" }

-- The fields with their dates in Dify's form (a copy: the caller's table is only read).
local function with_dates(route, fields, level)
  local out, aliases = nil, {}
  for _, name in ipairs(route.dates) do
    local alias = ALIASES[name]
    local value = fields[name]
    if value == nil and alias then value = fields[alias] end
    if alias then aliases[alias] = true end
    if value ~= nil then
      out = out or {}
      out[name] = dify_date(route, name, value, level + 1)
    end
  end
  if not out then return fields end
  for key, value in pairs(fields) do
    if out[key] == nil and not aliases[key] then out[key] = value end
  end
  return out
end

-- The fields a route implies (an import's mode), in a copy.
local function with_defaults(route, fields)
  local out
  for field, mode in pairs(route.default_mode) do
    if fields.mode == nil and fields[field] ~= nil then
      out = {}
      for key, value in pairs(fields) do out[key] = value end
      out.mode = mode
      break
    end
  end
  return out or fields
end

for _, route in ipairs(console_routes.list) do
  if route.stream then
    Console[route.name] = function(self, ...)
      local fields = fields_from_args(route, ...)
      if route.dates then fields = with_dates(route, fields, 2) end
      return self:_open_stream(route, fields, 2)
    end
  elseif not Console[route.name] then
    local pick = route.pick
    Console[route.name] = function(self, ...)
      local fields = fields_from_args(route, ...)
      if route.dates then fields = with_dates(route, fields, 2) end
      if route.default_mode then fields = with_defaults(route, fields) end
      local result, err = self:_call(route, fields, 2)
      if pick and result ~= nil then
        if type(result) ~= "table" or result[pick] == nil then
          return nil, errors.new{ kind = "decode", message = "the answer has no " .. pick }
        end
        return result[pick]
      end
      return result, err
    end
  end
end

return console
