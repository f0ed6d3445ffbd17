--- Helpers shared by the route modules: ids, times, Dify errors, JSON
-- answers, query arguments, pagination and deterministic fake content.

local json = require("dify.mock.json")

local util = {}

--- The end user Dify stands in when a route takes an optional `user` and
-- gets none (its session id; the end user is anonymous).
util.DEFAULT_USER = "DEFAULT-USER"

---------------------------------------------------------------------------
-- Ids and times
---------------------------------------------------------------------------

--- A random version-4 UUID, the shape of every Dify id.
function util.uuid()
  local r = math.random
  return ("%08x-%04x-4%03x-%04x-%012x"):format(
    r(0, 0xffffffff), r(0, 0xffff), r(0, 0xfff), 0x8000 | r(0, 0x3fff), r(0, 0xffffffffffff))
end

--- Unix seconds, as Dify's timestamps.
function util.now()
  return os.time()
end

--- The ISO form some newer list routes use ("2025-04-24T09:24:38").
function util.iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", t)
end

--- A random lowercase hex string of n digits (tokens, nonces, signatures).
function util.hex(n)
  local digits = {}
  for i = 1, n do
    digits[i] = ("%x"):format(math.random(0, 15))
  end
  return table.concat(digits)
end

--- A signed-looking file URL on the host the request named, as Dify signs
-- its FILES_URL links (timestamp, nonce, sign).
function util.signed_url(req, path, extra)
  local host = req.headers["host"] or "localhost"
  return ("http://%s%s?timestamp=%d&nonce=%s&sign=%s%s"):format(
    host, path, util.now(), util.hex(32), util.hex(43), extra or "")
end

--- `attachment; filename*=UTF-8''…`, the only form Dify sends (RFC 5987).
function util.attachment_disposition(name)
  local encoded = name:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)
  return "attachment; filename*=UTF-8''" .. encoded
end

---------------------------------------------------------------------------
-- Errors: handlers raise them, the server turns them into Dify's error body
---------------------------------------------------------------------------

local ApiError = {}

--- Aborts the current handler with a Dify error `{code, message, status}`.
function util.fail(status, code, message)
  error(setmetatable({ status = status, code = code, message = message }, ApiError), 0)
end

function util.is_api_error(value)
  return getmetatable(value) == ApiError
end

function util.error_body(status, code, message)
  return json.object({ code = code, message = message, status = status })
end

--- Aborts the current handler with an answer whose body is `body` as it is:
-- the few Dify answers that are not `{code, message, status}` (e.g.
-- create_segments' `{"error": ...}`).
function util.fail_body(status, body)
  error(setmetatable({ status = status, body = body }, ApiError), 0)
end

--- Aborts the current handler as if no route had matched: Flask's HTML 404
-- page (what an older server answers for a route it does not have).
function util.fail_unrouted()
  error(setmetatable({ status = 404, unrouted = true }, ApiError), 0)
end

--- The 500 Dify answers for an exception no handler knows.
function util.fail_unknown()
  error(setmetatable({ status = 500, body = json.object({
    message = "Internal Server Error", code = "unknown", status = 500,
  }) }, ApiError), 0)
end

--- Sends `value` as a JSON answer (204: no body), with `extra_headers`
-- ({name, value} pairs) after the Content-Type.
function util.send_json(res, status, value, extra_headers)
  if status == 204 then
    res:send(204, extra_headers or {}, "")
    return
  end
  local headers = { { "Content-Type", "application/json" } }
  for _, header in ipairs(extra_headers or {}) do
    headers[#headers + 1] = header
  end
  res:send(status, headers, json.encode(value))
end

---------------------------------------------------------------------------
-- Request values
---------------------------------------------------------------------------

--- The token of the `Authorization: Bearer …` header in `headers` (lower-case
-- names), or nil.
function util.bearer(headers)
  return (headers["authorization"] or ""):match("^[Bb]earer%s+(%S+)%s*$")
end

--- A query argument may repeat (then it is a list); most routes want the first.
function util.first(value)
  if type(value) == "table" then
    return value[1]
  end
  return value
end

--- `value`, or a 404 not_found with `message` when it is nil (a record
-- looked up by an id the request named).
function util.found(value, message)
  if value == nil then
    util.fail(404, "not_found", message)
  end
  return value
end

--- An integer query argument within [min, max], or `default` when absent.
function util.int_arg(args, name, default, min, max)
  local raw = util.first(args[name])
  if raw == nil or raw == "" then
    return default
  end
  local n = math.tointeger(tonumber(raw))
  if not n or n < min or n > max then
    util.fail(400, "invalid_param", ("%s must be an integer between %d and %d"):format(name, min, max))
  end
  return n
end

--- A string field of the JSON body; `required` makes a missing one a 400.
function util.string_field(body, name, required)
  local value = body[name]
  if value == nil or value == json.null then
    if required then
      util.fail(400, "invalid_param", name .. " is required")
    end
    return nil
  end
  if type(value) ~= "string" then
    util.fail(400, "invalid_param", name .. " must be a string")
  end
  return value
end

--- The `inputs` object of a body (Dify rejects anything but a JSON object).
function util.inputs(body, required)
  local inputs = body.inputs
  if inputs == nil or inputs == json.null then
    if required then
      util.fail(400, "invalid_param", "inputs is required")
    end
    return json.object()
  end
  if type(inputs) ~= "table" or json.is_array(inputs) then
    util.fail(400, "invalid_param", "inputs must be a JSON object")
  end
  return inputs
end

--- `response_mode`: "blocking" (the default) or "streaming".
function util.response_mode(body)
  local mode = body.response_mode
  if mode == nil or mode == json.null then
    return "blocking"
  end
  if mode ~= "blocking" and mode ~= "streaming" then
    util.fail(400, "invalid_param", "response_mode must be blocking or streaming")
  end
  return mode
end

---------------------------------------------------------------------------
-- Pagination
---------------------------------------------------------------------------

--- Page-numbered slice (page is 1-based). Returns the page and has_more.
function util.page(items, page, limit)
  local first = (page - 1) * limit + 1
  local result = json.array()
  for i = first, math.min(#items, first + limit - 1) do
    result[#result + 1] = items[i]
  end
  return result, #items > page * limit
end

--- Cursor slice: the `limit` items after the one whose id is `cursor`
-- (from the start when cursor is nil). Returns the page and has_more, or
-- raises 404 `missing_code` when the cursor id is unknown.
function util.after_cursor(items, cursor, limit, missing_code, missing_message)
  local first = 1
  if cursor and cursor ~= "" then
    first = nil
    for i, item in ipairs(items) do
      if item.id == cursor then
        first = i + 1
        break
      end
    end
    if not first then
      util.fail(404, missing_code, missing_message)
    end
  end
  local result = json.array()
  for i = first, math.min(#items, first + limit - 1) do
    result[#result + 1] = items[i]
  end
  return result, #items >= first + limit
end

--- Removes `item` from the list `list` (compared by identity).
function util.remove(list, item)
  for i, candidate in ipairs(list) do
    if candidate == item then
      table.remove(list, i)
      return
    end
  end
end

--- A shallow copy of `t` without the given keys (for hiding internal fields).
function util.public(t, hidden)
  local copy = json.object()
  for k, v in pairs(t) do
    if not hidden[k] then
      copy[k] = v
    end
  end
  return copy
end

--- A JSON object of the listed fields of `t`: the public view of a state
-- record that also keeps internal fields.
function util.pick(t, fields)
  local view = json.object()
  for _, field in ipairs(fields) do
    view[field] = t[field]
  end
  return view
end

---------------------------------------------------------------------------
-- Deterministic content
---------------------------------------------------------------------------

--- Splits text into words that keep their trailing whitespace, so that the
-- pieces concatenate back to the text (the deltas of a stream).
function util.words(text)
  local words = {}
  local leading = text:match("^%s*")
  for word in text:gmatch("%S+%s*") do
    words[#words + 1] = word
  end
  if #words == 0 then
    words[1] = text
  elseif leading ~= "" then
    words[1] = leading .. words[1]
  end
  return words
end

--- n bytes of printable filler without spaces (one "word"), for big answers.
function util.filler(n)
  local pattern = "0123456789abcdefghijklmnopqrstuvwxyz"
  return pattern:rep(n // #pattern + 1):sub(1, n)
end

local BYTE_CYCLE
--- Fake MP3 bytes: "ID3" and then, at 1-based position p, the byte (p - 1) % 256.
function util.fake_audio(n)
  if not BYTE_CYCLE then
    local bytes = {}
    for i = 0, 255 do
      bytes[#bytes + 1] = string.char(i)
    end
    BYTE_CYCLE = table.concat(bytes)
  end
  local body = BYTE_CYCLE:rep(n // 256 + 1):sub(1, n)
  return ("ID3"):sub(1, n) .. body:sub(4)
end

--- Token usage block of message_end / blocking answers, from text lengths.
function util.usage(prompt, answer)
  local prompt_tokens = #prompt // 4 + 1
  local completion_tokens = #answer // 4 + 1
  local total = prompt_tokens + completion_tokens
  return json.object({
    prompt_tokens = prompt_tokens,
    prompt_unit_price = "0.001",
    prompt_price_unit = "0.001",
    prompt_price = ("%.7f"):format(prompt_tokens * 0.000001),
    completion_tokens = completion_tokens,
    completion_unit_price = "0.002",
    completion_price_unit = "0.001",
    completion_price = ("%.7f"):format(completion_tokens * 0.000002),
    total_tokens = total,
    total_price = ("%.7f"):format(prompt_tokens * 0.000001 + completion_tokens * 0.000002),
    currency = "USD",
    latency = 0.42,
  })
end

local python_str

local function python_repr(value)
  if type(value) == "string" then
    return "'" .. value:gsub("\\", "\\\\"):gsub("'", "\\'") .. "'"
  end
  return python_str(value)
end

--- What Python's str() makes of a JSON value: Dify sends a conversation
-- variable's value as `str(value)`, so 3 is "3", true is "True" and an
-- object is "{'a': 1}".
function python_str(value)
  if value == json.null or value == nil then
    return "None"
  elseif type(value) == "boolean" then
    return value and "True" or "False"
  elseif type(value) == "number" then
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then
      return ("%d"):format(value)
    end
    for digits = 15, 17 do -- the shortest text that reads back the same, as Python's repr
      local text = ("%." .. digits .. "g"):format(value)
      if tonumber(text) == value then
        return text
      end
    end
  elseif type(value) ~= "table" then
    return tostring(value)
  end
  local items = {}
  if json.is_array(value) then
    for i, item in ipairs(value) do
      items[i] = python_repr(item)
    end
    return "[" .. table.concat(items, ", ") .. "]"
  end
  local keys = {}
  for key in pairs(value) do
    keys[#keys + 1] = key
  end
  table.sort(keys)
  for i, key in ipairs(keys) do
    items[i] = python_repr(key) .. ": " .. python_repr(value[key])
  end
  return "{" .. table.concat(items, ", ") .. "}"
end
util.python_str = python_str

--- An I18nObject: the same text in each language Dify labels with.
function util.label(text)
  return json.object({ en_US = text, zh_Hans = text })
end

--- A JSON array of view(item) for each item of list.
function util.map(list, view)
  local result = json.array()
  for i, item in ipairs(list) do
    result[i] = view(item)
  end
  return result
end

return util
