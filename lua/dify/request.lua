--- Turns a route and a caller's fields into the request the C core sends.
-- @module dify.request
local json = require("dify.json")

local request = {}

-- Fields that steer the call and are never sent to Dify.
local CONTROL = {
  api_key = true, user = true, output = true, on_progress = true, timeout = true, headers = true,
  first_event_timeout = true, retries = true,
}
-- Fields that name the file of a multipart call.
local EMPTY = {} -- never written to (sent as `{}` where an empty object is due)
local FILE_SOURCE = { path = true, data = true, filename = true, mime_type = true }

local MIME_TYPES = {
  mp3 = "audio/mpeg", mpga = "audio/mpeg", mpeg = "audio/mpeg", m4a = "audio/mp4",
  wav = "audio/wav", webm = "audio/webm", amr = "audio/amr", mp4 = "video/mp4",
  mov = "video/quicktime", png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg",
  gif = "image/gif", webp = "image/webp", svg = "image/svg+xml", pdf = "application/pdf",
  txt = "text/plain", md = "text/markdown", markdown = "text/markdown", html = "text/html",
  csv = "text/csv", json = "application/json", xml = "application/xml",
  doc = "application/msword", xls = "application/vnd.ms-excel",
  docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  epub = "application/epub+zip", eml = "message/rfc822",
}

--- Guesses a media type from a file name's extension.
function request.mime_type(filename)
  local ext = filename and filename:match("%.([%w]+)$")
  return ext and MIME_TYPES[ext:lower()] or "application/octet-stream"
end

-- Numbers that hold an integer print without a fraction on every Lua: JSON
-- numbers decode to floats on 5.3+, where tostring(2.0) is "2.0", which Dify
-- rejects as a page number or id.
local function to_text(value)
  if type(value) == "number" and value == math.floor(value) and math.abs(value) < 2 ^ 53 then
    return ("%.0f"):format(value)
  end
  return tostring(value)
end

--- Percent-encodes a string for a query or a single path segment.
function request.escape(value)
  return (to_text(value):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

local function path_segment(value)
  local text = to_text(value)
  -- "." and ".." would be folded away by URL normalisation: keep them one segment.
  if text:match("^%.+$") then return (text:gsub("%.", "%%2E")) end
  return request.escape(text)
end

local function query_value(value)
  if type(value) == "boolean" then return value and "true" or "false" end
  return request.escape(value)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

--- Encodes fields as a query string (arrays repeat their key).
function request.query(fields)
  local out = {}
  for _, key in ipairs(sorted_keys(fields)) do
    local value = fields[key]
    if type(value) == "table" then
      for _, item in ipairs(value) do
        out[#out + 1] = request.escape(key) .. "=" .. query_value(item)
      end
    elseif value ~= nil and value ~= json.null then
      out[#out + 1] = request.escape(key) .. "=" .. query_value(value)
    end
  end
  return table.concat(out, "&")
end

--- Builds the path, raising a caller error when a path field is missing.
function request.path(route, fields, level, template)
  if template == nil and route.fixed_path then return route.path, EMPTY end
  template = template or route.path
  for field, alternative in pairs(route.path_when or EMPTY) do
    if fields[field] ~= nil and template == route.path then template = alternative end
  end
  if not template:find("{", 1, true) then return template, EMPTY end
  local used = {}
  local path = template:gsub("{([%w_]+)}", function(name)
    local value = fields[name]
    if value == nil or value == "" or (type(value) ~= "string" and type(value) ~= "number") then
      error(("%s: %s must be a non-empty string"):format(route.name, name), level + 1)
    end
    used[name] = true
    return path_segment(value)
  end)
  return path, used
end

--- The fields to send: the caller's, less control fields and path fields.
function request.payload(route, fields, used)
  -- Sized up front for the fields most calls send: growing a table rehashes it.
  local payload = { query = nil, inputs = nil, user = nil, response_mode = nil }
  local file_source = route.send == "multipart" and FILE_SOURCE or EMPTY
  for key, value in next, fields do
    if not CONTROL[key] and not used[key] and not file_source[key] then payload[key] = value end
  end
  -- Dify up to 1.10 read `as_attachment=false` as true: a false flag is left out.
  local omit_false = route.omit_false
  if omit_false then
    for i = 1, #omit_false do
      if payload[omit_false[i]] == false then payload[omit_false[i]] = nil end
    end
  end
  local nulls = route.nulls
  if nulls then
    for i = 1, #nulls do
      if payload[nulls[i]] == nil then payload[nulls[i]] = json.null end
    end
  end
  -- `inputs` is always a JSON object for Dify, even when empty.
  if route.send == "json" and route.inputs and payload.inputs == nil then payload.inputs = EMPTY end
  if type(payload.files) == "table" and next(payload.files) == nil then payload.files = nil end
  return payload
end

--- The multipart parts of an upload: the file, then every other field.
function request.parts(route, fields, payload, level)
  local path, data = fields.path, fields.data
  if path ~= nil and data ~= nil or (path == nil and data == nil and not route.file_optional) then
    error(route.name .. ": give exactly one of path= or data=", level + 1)
  end
  if path ~= nil then
    if type(path) ~= "string" then error(route.name .. ": path must be a string", level + 1) end
    local file, why = io.open(path, "rb")
    if not file then error(route.name .. ": cannot read " .. tostring(why), level + 1) end
    file:close()
  elseif data ~= nil and type(data) ~= "string" then
    error(route.name .. ": data must be a string", level + 1)
  end
  local filename = fields.filename or (path and path:match("[^/]+$")) or "upload"
  local parts = {}
  if path ~= nil or data ~= nil then
    parts[1] = { name = "file", path = path, data = data, filename = filename,
      content_type = fields.mime_type or request.mime_type(filename) }
  end
  if route.form_json then
    -- Dify's document uploads take their options as one JSON form field.
    if next(payload) ~= nil then
      parts[#parts + 1] = { name = route.form_json, data = assert(json.encode(payload)) }
    end
    return parts
  end
  for _, key in ipairs(sorted_keys(payload)) do
    local value = payload[key]
    if type(value) == "table" then value = assert(json.encode(value)) end
    parts[#parts + 1] = { name = tostring(key), data = tostring(value) }
  end
  return parts
end

return request
