--- The console's login session, without the network: the tokens a login or
-- refresh answer gives (in its JSON body or its Set-Cookie lines, under plain
-- or `__Host-` names), the header lines that carry them, the hand-over form
-- (`console:session()`), and session stores for sharing one login.
--
-- Dify has moved its console auth around: older servers answer the login with
-- `data = {access_token, refresh_token[, csrf_token]}` and read a Bearer
-- header; newer ones set cookies (`access_token`, `refresh_token`,
-- `csrf_token`, named `__Host-…` when the console runs on https) and want the
-- CSRF token back in `X-CSRF-Token` as well as in its cookie. Every form is
-- accepted and every request carries all of them.
-- @module dify.console.session
local session = {}

--- The three tokens, by the base name of their cookies.
session.TOKENS = { "access_token", "refresh_token", "csrf_token" }
local IS_TOKEN = { access_token = true, refresh_token = true, csrf_token = true }
local PREFIXES = { "__Host-", "__Secure-" }

-- What a token may hold: it goes into header lines, so never CR, LF, NUL,
-- and, inside a Cookie line, never ";" or spaces. JWTs and Dify's opaque
-- tokens are far narrower.
local TOKEN_SHAPE = "^[%w%-%._~+/=%%:]+$"

--- True when v is usable as a token.
function session.valid_token(v)
  return type(v) == "string" and #v <= 16384 and v:find(TOKEN_SHAPE) ~= nil
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (with padding), as Dify 1.11.2+ wants the login password.
-- Arithmetic only, so that it runs on every Lua (5.1 has no bit operators).
function session.base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=") .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

-- One Set-Cookie line: its name, its value, and whether it clears the cookie
-- (an empty value, Max-Age <= 0, or Dify's `expires=0`, the epoch).
local function parse_cookie(line)
  local name, value, attributes = line:match("^%s*([^=;%s]+)%s*=%s*([^;]*)(.*)$")
  if not name then return nil end
  value = value:gsub("%s+$", "")
  if #value >= 2 and value:sub(1, 1) == '"' and value:sub(-1) == '"' then value = value:sub(2, -2) end
  local lower = attributes:lower()
  local max_age = tonumber(lower:match(";%s*max%-age%s*=%s*(%-?%d+)") or "")
  local cleared = value == "" or (max_age ~= nil and max_age <= 0)
    or lower:find(";%s*expires%s*=%s*%a+,%s*0?1[%s%-]jan[%s%-]1970") ~= nil
  return name, value, cleared
end

-- A cookie name's prefix (`__Host-`, `__Secure-` or "") and base name.
local function split_name(name)
  for _, prefix in ipairs(PREFIXES) do
    if name:sub(1, #prefix) == prefix then return prefix, name:sub(#prefix + 1) end
  end
  return "", name
end

local function cookie_lines(headers)
  local lines = headers and headers["set-cookie"]
  if type(lines) == "string" then return { lines } end -- a transport that joins them
  return type(lines) == "table" and lines or {}
end

--- Reads the tokens of a login or refresh answer: the JSON body's `data`
-- first, then the Set-Cookie lines. Tokens the answer leaves out are kept
-- from `previous` (a refresh may renew the access token alone).
-- @tparam table headers the answer's headers (`set-cookie` a list of lines)
-- @param decoded the decoded JSON body (any value)
-- @tparam[opt] table previous the session being renewed
-- @treturn table the new session, or nil and a message when the answer has
--  no access token (or one that cannot be sent back)
function session.from_answer(headers, decoded, previous)
  local found, names = {}, {}
  local data = type(decoded) == "table" and decoded.data or nil
  if type(data) == "table" then
    for name in pairs(IS_TOKEN) do
      if data[name] ~= nil and data[name] ~= "" and type(data[name]) == "string" then found[name] = data[name] end
    end
  end
  local from_body = found.access_token ~= nil
  for _, line in ipairs(cookie_lines(headers)) do
    local name, value, cleared = parse_cookie(line)
    if name then
      local _, base = split_name(name)
      if IS_TOKEN[base] and not cleared then
        if found[base] == nil then found[base] = value end
        names[base] = name
      end
    end
  end
  for name in pairs(IS_TOKEN) do
    if found[name] ~= nil and not session.valid_token(found[name]) then
      return nil, "the server sent a " .. name .. " that cannot be sent back in a header"
    end
  end
  if not found.access_token then return nil, "the answer holds no access token (in its body or a cookie)" end
  local s = { access_token = found.access_token, refresh_token = found.refresh_token,
    csrf_token = found.csrf_token, cookies = {} }
  if previous then
    s.refresh_token = s.refresh_token or previous.refresh_token
    s.csrf_token = s.csrf_token or previous.csrf_token
  end
  -- The cookie names the server used; a server that set none (tokens in the
  -- body) keeps whatever names were known before.
  for name in pairs(IS_TOKEN) do
    s.cookies[name] = names[name] or (previous and previous.cookies and previous.cookies[name])
  end
  if not next(names) and previous and previous.cookies then
    for name, cookie in pairs(previous.cookies) do s.cookies[name] = cookie end
  end
  s.from = from_body and "body" or "cookies"
  return s
end

-- The cookie names to send a token under: the server's own, or, when it never
-- set one, both the plain and the `__Host-` name (Dify reads the latter when
-- its console runs on https), since only one of them is read.
local function names_for(s, base)
  local known = s.cookies and s.cookies[base]
  if known then return { known } end
  return { base, "__Host-" .. base }
end

local function cookie_pairs(s, bases)
  local cookies = {}
  for _, base in ipairs(bases) do
    local value = s[base]
    if value then
      for _, name in ipairs(names_for(s, base)) do cookies[#cookies + 1] = name .. "=" .. value end
    end
  end
  return cookies
end

--- The header lines that carry a session on every console request:
-- `Authorization: Bearer` (older servers read it), `X-CSRF-Token`, and one
-- `Cookie` line with the access and CSRF tokens.
-- @tparam table s a session
-- @treturn table the lines
function session.header_lines(s)
  local lines = {}
  if s.access_token then lines[#lines + 1] = "Authorization: Bearer " .. s.access_token end
  if s.csrf_token then lines[#lines + 1] = "X-CSRF-Token: " .. s.csrf_token end
  local cookies = cookie_pairs(s, { "access_token", "csrf_token" })
  if #cookies > 0 then lines[#lines + 1] = "Cookie: " .. table.concat(cookies, "; ") end
  return lines
end

--- The Cookie line of a refresh request: the refresh token alone (newer
-- servers read it there; older ones read the body, which carries it too).
function session.refresh_line(s)
  return "Cookie: " .. table.concat(cookie_pairs(s, { "refresh_token" }), "; ")
end

--- The hand-over form of a session: a plain table of strings (JSON-ready)
-- with `access_token`, `refresh_token`, `csrf_token` and `cookies` (the
-- cookie name the server used for each, when it set cookies).
function session.export(s)
  local out = { access_token = s.access_token, refresh_token = s.refresh_token,
    csrf_token = s.csrf_token, cookies = {} }
  for name, cookie in pairs(s.cookies or {}) do out.cookies[name] = cookie end
  return out
end

--- Checks and copies a handed-over session (from `console:session()`, a
-- store, or the environment). Raises with `what` in the message when it is
-- not one; the message never holds a token.
-- @tparam table t the session
-- @tparam string what where it came from, for the message
-- @tparam number level the error level
function session.import(t, what, level)
  level = (level or 1) + 1
  if type(t) ~= "table" then error(what .. " must be a table (from console:session())", level) end
  local s = { cookies = {} }
  for name in pairs(IS_TOKEN) do
    local value = t[name]
    if value ~= nil and value ~= "" then
      if not session.valid_token(value) then
        error(what .. ": " .. name .. " must be a string that can go in a header", level)
      end
      s[name] = value
    end
  end
  if not s.access_token and not s.refresh_token then
    error(what .. " has neither an access_token nor a refresh_token", level)
  end
  if t.cookies ~= nil and type(t.cookies) ~= "table" then error(what .. ": cookies must be a table", level) end
  for name, cookie in pairs(t.cookies or {}) do
    if IS_TOKEN[name] then
      local _, base = split_name(tostring(cookie))
      if type(cookie) ~= "string" or base ~= name then
        error(what .. ": cookies." .. name .. " must name that cookie", level)
      end
      s.cookies[name] = cookie
    end
  end
  return s
end

--- Whether two sessions hold the same tokens.
function session.same(a, b)
  if a == nil or b == nil then return a == b end
  for name in pairs(IS_TOKEN) do
    if a[name] ~= b[name] then return false end
  end
  return true
end

--- A session store on an nginx `lua_shared_dict`, so that every worker uses
-- one login: `dify.console{ session_store = session.shared_dict_store(ngx.shared.dify, "console") }`.
-- @param dict the shared dict
-- @tparam string key its key
-- @tparam[opt] function encode JSON encoder (default `dify.json.encode`)
-- @tparam[opt] function decode JSON decoder (default `dify.json.decode`)
function session.shared_dict_store(dict, key, encode, decode)
  local json = require("dify.json")
  encode, decode = encode or json.encode, decode or json.decode
  return {
    load = function()
      local text = dict:get(key)
      return text and decode(text) or nil
    end,
    save = function(_, s)
      if s == nil then return dict:delete(key) end
      return dict:set(key, assert(encode(s)))
    end,
  }
end

return session
