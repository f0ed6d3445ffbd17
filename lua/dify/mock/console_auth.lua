--- The fake console's accounts and sessions: login (tokens in the body, or in
-- cookies with or without the `__Host-` prefix), refresh, logout, expiring
-- tokens and the CSRF check, as Dify's console does them.
--
-- How strict it is: in the body shape only the Bearer header is read; in the
-- cookie shapes only the cookies (so a client is seen to send each). The
-- CSRF check (when on) wants the X-CSRF-Token header on every request, equal
-- to the csrf cookie in the cookie shapes.

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local fail = util.fail

local auth = {}

--- The accounts the fake console knows (see bin/dify-mock --help).
auth.ACCOUNTS = {
  { email = "admin@example.com", password = "dify-mock-password", name = "Admin", workspace = true },
  { email = "editor@example.com", password = "editor-password", name = "Editor", workspace = true },
  { email = "lonely@example.com", password = "lonely-password", name = "Lonely", workspace = false },
}

local NO_WORKSPACE = "workspace not found, please contact system admin to invite you to join in a workspace"

--- A fresh auth state: the accounts, no session, the default configuration.
function auth.new_state()
  local accounts = {}
  for _, account in ipairs(auth.ACCOUNTS) do
    accounts[account.email] = { id = util.uuid(), email = account.email, password = account.password,
      name = account.name, workspace = account.workspace }
  end
  return {
    accounts = accounts,
    tokens = {}, -- token -> {kind = "access"|"refresh"|"csrf", account, expires_at}
    config = {
      login = "cookies", -- "body", "cookies" or "host_cookies"
      csrf = true,
      password = "base64", -- how the login's password comes: "base64" (Dify 1.11.2+) or "plain"
      access_ttl = 3600,
      refresh_ttl = 30 * 86400,
    },
    counts = { logins = 0, failed_logins = 0, refreshes = 0, failed_refreshes = 0, refused = 0,
      csrf_refused = 0, logouts = 0 },
  }
end

local SHAPES = { body = true, cookies = true, host_cookies = true }

--- Changes the configuration (POST /console/api/__mock/config).
function auth.configure(st, changes)
  local config = st.config
  if changes.login ~= nil then
    if not SHAPES[changes.login] then fail(400, "invalid_param", "login must be body, cookies or host_cookies") end
    config.login = changes.login
  end
  if changes.csrf ~= nil then config.csrf = changes.csrf == true end
  if changes.password ~= nil then
    if changes.password ~= "base64" and changes.password ~= "plain" then
      fail(400, "invalid_param", "password must be base64 or plain")
    end
    config.password = changes.password
  end
  for _, key in ipairs({ "access_ttl", "refresh_ttl" }) do
    if changes[key] ~= nil then config[key] = tonumber(changes[key]) or config[key] end
  end
  return config
end

--- Expires tokens now (POST /console/api/__mock/expire): `which` is
-- "access" (default; CSRF tokens go with them), "refresh" or "all".
function auth.expire(st, which)
  which = which or "access"
  for _, token in pairs(st.tokens) do
    if which == "all" or token.kind == which or (which == "access" and token.kind == "csrf") then
      token.expires_at = 0
    end
  end
end

local function cookie_name(st, base)
  return st.config.login == "host_cookies" and "__Host-" .. base or base
end

local function new_token(st, kind, account, ttl)
  local token = ("mock-%s-%s"):format(kind, util.uuid():gsub("-", ""))
  st.tokens[token] = { kind = kind, account = account, expires_at = os.time() + ttl }
  return token
end

local function live(st, token, kind)
  local record = token and st.tokens[token]
  if not record or record.kind ~= kind then return nil, "invalid" end
  if record.expires_at <= os.time() then return nil, "expired" end
  return record
end

local function cookie_line(st, base, value, max_age, http_only)
  local secure = st.config.login == "host_cookies"
  -- Expires as werkzeug writes it (its comma is what makes Set-Cookie lines unjoinable).
  local expires = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + max_age)
  return ("%s=%s; Expires=%s; Max-Age=%d;%s%s Path=/; SameSite=Lax"):format(cookie_name(st, base), value,
    expires, max_age, secure and " Secure;" or "", http_only and " HttpOnly;" or "")
end

local function clear_line(st, base)
  return ("%s=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"):format(cookie_name(st, base))
end

-- The answer of a login or refresh that succeeded, in the configured shape.
local function issue(st, account)
  local config = st.config
  local access = new_token(st, "access", account, config.access_ttl)
  local refresh = new_token(st, "refresh", account, config.refresh_ttl)
  local csrf = config.csrf and new_token(st, "csrf", account, config.access_ttl) or nil
  if config.login == "body" then
    return 200, json.object({ result = "success", data = json.object({
      access_token = access, refresh_token = refresh, csrf_token = csrf }) })
  end
  local headers = {
    { "Set-Cookie", cookie_line(st, "access_token", access, config.access_ttl, true) },
    { "Set-Cookie", cookie_line(st, "refresh_token", refresh, config.refresh_ttl, true) },
  }
  if csrf then
    headers[#headers + 1] = { "Set-Cookie", cookie_line(st, "csrf_token", csrf, config.access_ttl, false) }
  end
  return 200, json.object({ result = "success" }), headers
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Strict base64: nil unless text is well formed (length a multiple of 4).
local function base64_decode(text)
  if #text % 4 ~= 0 or text:find("[^%w+/=]") or text:find("=[^=]") then return nil end
  local out = {}
  for i = 1, #text, 4 do
    local n, pad = 0, 0
    for j = i, i + 3 do
      local c = text:sub(j, j)
      local v
      if c == "=" then
        pad, v = pad + 1, 0
      else
        v = B64:find(c, 1, true) - 1
      end
      n = n * 64 + v
    end
    local bytes = string.char(n >> 16 & 255, n >> 8 & 255, n & 255)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end

--- POST /console/api/login
function auth.login(st, body)
  local email = type(body.email) == "string" and body.email or nil
  local password = type(body.password) == "string" and body.password or nil
  if not email or not password then fail(400, "invalid_param", "email and password are required") end
  if st.config.password == "base64" then password = base64_decode(password) end
  local account = st.accounts[email:lower()]
  if not account or password ~= account.password then
    st.counts.failed_logins = st.counts.failed_logins + 1
    fail(401, "authentication_failed", "Invalid email or password.")
  end
  if not account.workspace then
    st.counts.failed_logins = st.counts.failed_logins + 1
    return 200, json.object({ result = "fail", data = NO_WORKSPACE })
  end
  st.counts.logins = st.counts.logins + 1
  return issue(st, account)
end

--- Parses a Cookie request header into a table.
function auth.cookies(req)
  local cookies = {}
  for pair in (req.headers["cookie"] or ""):gmatch("[^;]+") do
    local name, value = pair:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if name then cookies[name] = value end
  end
  return cookies
end

--- POST /console/api/refresh-token: newer servers read the cookie, older the body.
function auth.refresh(st, req, body)
  local token
  if st.config.login == "body" then
    token = type(body.refresh_token) == "string" and body.refresh_token or nil
  else
    token = auth.cookies(req)[cookie_name(st, "refresh_token")]
  end
  if not token then
    st.counts.failed_refreshes = st.counts.failed_refreshes + 1
    return 401, json.object({ result = "fail", message = "No refresh token provided" })
  end
  local record = live(st, token, "refresh")
  if not record then
    st.counts.failed_refreshes = st.counts.failed_refreshes + 1
    return 401, json.object({ result = "fail", message = "Invalid refresh token" })
  end
  st.tokens[token] = nil -- refresh tokens are used once
  st.counts.refreshes = st.counts.refreshes + 1
  return issue(st, record.account)
end

--- The account of a console request, or a 401 as Dify answers it.
function auth.account_of(st, req)
  local token
  if st.config.login == "body" then
    token = util.bearer(req.headers)
  else
    token = auth.cookies(req)[cookie_name(st, "access_token")]
  end
  local record, why = live(st, token, "access")
  if not record then
    st.counts.refused = st.counts.refused + 1
    fail(401, "unauthorized", why == "expired" and "Token has expired." or "Invalid Authorization token.")
  end
  if st.config.csrf then
    local header = req.headers["x-csrf-token"]
    local ok = header ~= nil and live(st, header, "csrf") ~= nil
      and live(st, header, "csrf").account == record.account
    if ok and st.config.login ~= "body" then
      ok = auth.cookies(req)[cookie_name(st, "csrf_token")] == header
    end
    if not ok then
      st.counts.csrf_refused = st.counts.csrf_refused + 1
      fail(401, "unauthorized", "CSRF token is missing or invalid.")
    end
  end
  return record.account, token
end

--- POST /console/api/logout: ends the session's tokens and clears the cookies.
function auth.logout(st, account)
  for token, record in pairs(st.tokens) do
    if record.account == account then st.tokens[token] = nil end
  end
  st.counts.logouts = st.counts.logouts + 1
  local headers
  if st.config.login ~= "body" then
    headers = {}
    for _, base in ipairs({ "access_token", "refresh_token", "csrf_token" }) do
      headers[#headers + 1] = { "Set-Cookie", clear_line(st, base) }
    end
  end
  return 200, json.object({ result = "success" }), headers
end

return auth
