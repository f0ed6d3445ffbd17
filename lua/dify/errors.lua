--- Error values returned as the second result of every failing call.
-- An error is a table with `kind`, `status`, `code`, `message` (and, where it
-- applies, `which` for timeouts, `retry_after` for 429, `details` for what a
-- Dify error body holds beside its code and message, `server_version` and
-- `trace_id` from the answer's X-Version and X-Trace-Id) whose `tostring`
-- reads well in a log.
-- @module dify.errors
local json = require("dify.json")

local errors = {}

local Error = {}
Error.__index = Error
Error.__name = "dify.error"

function Error.__tostring(e)
  local where = e.status and (" (HTTP " .. tostring(e.status) .. ")") or ""
  local code = e.code and (" [" .. tostring(e.code) .. "]") or ""
  return ("dify %s error%s%s: %s"):format(e.kind, where, code, tostring(e.message))
end

--- Kinds an error can have.
errors.kinds = {
  api = true, -- Dify answered with its own error body or an `error` event
  http = true, -- a non-2xx answer that is not Dify's (a proxy's HTML page)
  network = true, timeout = true, tls = true,
  decode = true, -- a body or event that is not the JSON it should be
  protocol = true, -- the server broke the protocol (limits, missing terminal event)
  io = true, -- a local file could not be written
  cancelled = true, -- task:cancel() ended the task (dify.spawn)
}

--- Makes an error value.
-- @tparam table fields kind, message and optional status, code, which, retry_after
-- @treturn table the error
function errors.new(fields)
  assert(errors.kinds[fields.kind], "unknown error kind")
  -- A status decoded from JSON is a float on Lua 5.3+; keep "HTTP 404", not "HTTP 404.0".
  if math.tointeger and type(fields.status) == "number" then
    fields.status = math.tointeger(fields.status) or fields.status
  end
  return setmetatable(fields, Error)
end

--- True when v is an error made by this module.
function errors.is(v)
  return getmetatable(v) == Error
end

local function redact(text, secret)
  if type(text) ~= "string" or not secret or secret == "" then return text end
  local from = 1
  local out = {}
  while true do
    local s, e = text:find(secret, from, true)
    if not s then break end
    out[#out + 1] = text:sub(from, s - 1) .. "****"
    from = e + 1
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

--- Replaces every occurrence of a secret (or of each of a list of secrets,
-- longest first) in an error's text fields.
function errors.redact(err, secret)
  if type(secret) == "table" then
    for _, one in ipairs(secret) do errors.redact(err, one) end
    return err
  end
  err.message = redact(err.message, secret)
  err.code = redact(err.code, secret)
  for key, value in pairs(err.details or {}) do
    if type(value) == "string" then err.details[key] = redact(value, secret) end
  end
  return err
end

local transport_kinds = { memory = "network", callback = "network" }

--- An error from the C core's transport (no HTTP answer, or a broken one).
function errors.transport(kind, message, which, request_sent)
  return errors.new{
    kind = transport_kinds[kind] or kind,
    message = message,
    which = which,
    request_sent = request_sent or nil,
  }
end

-- HTML error pages are long; keep a short, tag-free, one-line excerpt. Every
-- step is one pass over the text: a hostile body (a megabyte of "<") must not
-- cost quadratic time, as Lua patterns such as "<[^>]*>" would.
local EXCERPT_SCAN = 256 * 1024 -- bytes looked at: more than any error page's head
local EXCERPT_LEN = 200

-- Removes every open...close block (such as a <script> element).
local function drop_blocks(text, open, close)
  local out, from = {}, 1
  while true do
    local first = text:find(open, from, true)
    if not first then break end
    local _, last = text:find(close, first + #open, true)
    if not last then break end
    out[#out + 1] = text:sub(from, first - 1)
    from = last + 1
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out, " ")
end

-- Removes tags. A "<" with no ">" after it is text ("a < b"), unless the
-- body was cut short: then it opened a tag that was cut off.
local function drop_tags(text, cut)
  local out, from = {}, 1
  while true do
    local lt = text:find("<", from, true)
    local gt = lt and text:find(">", lt + 1, true)
    if not gt then
      out[#out + 1] = text:sub(from, cut and lt and lt - 1 or nil)
      return table.concat(out, " ")
    end
    out[#out + 1] = text:sub(from, lt - 1)
    from = gt + 1
  end
end

local function excerpt(body)
  local cut = #body > EXCERPT_SCAN
  local text = cut and body:sub(1, EXCERPT_SCAN) or body
  text = drop_tags(drop_blocks(drop_blocks(text, "<script", "</script>"), "<style", "</style>"), cut)
  text = text:gsub("&nbsp;", " "):gsub("[%s%c]+", " ")
  text = text:gsub("^ ", ""):gsub(" $", "")
  if #text > EXCERPT_LEN then
    local stop = EXCERPT_LEN
    -- Never split a UTF-8 character: back up over continuation bytes.
    while stop > 0 and text:byte(stop + 1) >= 0x80 and text:byte(stop + 1) < 0xC0 do stop = stop - 1 end
    text = text:sub(1, stop) .. "..."
  end
  if text == "" then return "empty body" end
  return text
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Retry-After is delay seconds or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT").
local function retry_after_seconds(value)
  if not value then return nil end
  local seconds = tonumber(value)
  if seconds then
    -- A negative, infinite or NaN delay is no delay a retry policy can keep.
    if seconds >= 0 and seconds < math.huge then return seconds end
    return nil
  end
  local day, month, year, hour, min, sec = value:match("^%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT$")
  if not day or not MONTHS[month] then return nil end
  local now = os.time()
  -- os.time reads a table as local time; the offset turns the GMT date into the same clock.
  local utc_offset = os.difftime(now, os.time(os.date("!*t", now)))
  local at = os.time{ year = tonumber(year), month = MONTHS[month], day = tonumber(day),
    hour = tonumber(hour), min = tonumber(min), sec = tonumber(sec), isdst = false }
  return math.max(0, os.difftime(at + utc_offset, now))
end
errors.retry_after_seconds = retry_after_seconds

-- What a Dify error body holds beside code, message and status: `params`
-- (the field at fault), `errors` (per-field messages of servers before 1.11),
-- `error` (segment validation's whole body); nil when there is nothing.
local function details_of(decoded)
  local details
  for key, value in pairs(decoded) do
    -- A numeric status repeats the HTTP one; a string status (a failed
    -- import's "failed") is the body's own.
    if key ~= "code" and key ~= "message" and not (key == "status" and type(value) == "number")
      and value ~= json.null then
      details = details or {}
      details[key] = value
    end
  end
  return details
end

-- The message of a body, with the per-field errors of older servers named:
-- "Input payload validation failed" alone says nothing of which field.
local function message_of(decoded)
  local message = decoded.message
  if message == nil or message == json.null then message = decoded.error end
  message = (message ~= nil and message ~= json.null) and tostring(message) or ""
  if type(decoded.errors) == "table" then
    local fields = {}
    for field, why in pairs(decoded.errors) do fields[#fields + 1] = tostring(field) .. ": " .. tostring(why) end
    table.sort(fields)
    if #fields > 0 then message = message .. " (" .. table.concat(fields, "; ") .. ")" end
  end
  return message
end

--- An error for a non-2xx HTTP answer.
-- @tparam number status the HTTP status
-- @tparam table headers response headers, lower-case names
-- @tparam string body the response body
function errors.from_response(status, headers, body)
  local decoded = json.decode(body)
  local retry_after = headers and headers["retry-after"]
  if type(decoded) == "table" and (decoded.code or decoded.message or type(decoded.error) == "string") then
    return errors.new{
      kind = "api",
      status = status,
      -- A code is a string (a number at most); a proxy's JSON may hold anything.
      code = (type(decoded.code) == "string" or type(decoded.code) == "number") and decoded.code or nil,
      message = message_of(decoded),
      details = details_of(decoded),
      retry_after = retry_after_seconds(retry_after),
      retry_after_raw = retry_after,
    }
  end
  return errors.new{
    kind = "http",
    status = status,
    message = excerpt(body or ""),
    retry_after = retry_after_seconds(retry_after),
    retry_after_raw = retry_after,
  }
end

return errors
