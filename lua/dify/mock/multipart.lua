--- multipart/form-data parsing (RFC 7578), enough for what clients upload:
-- named fields, file parts with filename and Content-Type.

local multipart = {}

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- Parses `; key=value; key="quoted \"value\""` parameters into a table.
local function parse_params(text)
  local params = {}
  local pos = 1
  while true do
    local key_start, key_end, key = text:find("^%s*;%s*([^=;%s]+)%s*=%s*", pos)
    if not key_start then
      break
    end
    pos = key_end + 1
    local value
    if text:sub(pos, pos) == '"' then
      local pieces = {}
      pos = pos + 1
      while pos <= #text do
        local c = text:sub(pos, pos)
        if c == "\\" then
          pieces[#pieces + 1] = text:sub(pos + 1, pos + 1)
          pos = pos + 2
        elseif c == '"' then
          pos = pos + 1
          break
        else
          pieces[#pieces + 1] = c
          pos = pos + 1
        end
      end
      value = table.concat(pieces)
    else
      value = text:match("^[^;]*", pos)
      pos = pos + #value
      value = value:gsub("%s+$", "")
    end
    params[key:lower()] = value
  end
  return params
end

--- Returns the boundary of a multipart/form-data Content-Type, or nil.
function multipart.boundary(content_type)
  if not content_type or not content_type:lower():find("^%s*multipart/form%-data") then
    return nil
  end
  local params = parse_params(content_type:match(";.*$") or "")
  return params.boundary
end

local function parse_part(raw)
  local head, data
  if raw:sub(1, 2) == "\r\n" then
    head, data = "", raw:sub(3) -- a part without any header
  else
    local head_end = raw:find("\r\n\r\n", 1, true)
    if not head_end then
      return nil
    end
    head, data = raw:sub(1, head_end - 1), raw:sub(head_end + 4)
  end
  local headers = {}
  for line in (head .. "\r\n"):gmatch("(.-)\r\n") do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      headers[name:lower()] = value
    end
  end
  local disposition = headers["content-disposition"] or ""
  local params = parse_params(disposition:match(";.*$") or "")
  local filename = params.filename
  local extended = params["filename*"] -- RFC 5987: charset'lang'percent-encoded
  if extended then
    filename = percent_decode(extended:match("^[^']*'[^']*'(.*)$") or extended)
  end
  return {
    name = params.name,
    filename = filename,
    content_type = headers["content-type"],
    size = #data,
    data = data,
  }
end

--- Splits a multipart body into parts: {name, filename, content_type, size, data}.
-- Returns the list, or nil and an error text.
function multipart.parse(body, boundary)
  local delimiter = "--" .. boundary
  local start = body:sub(1, #delimiter) == delimiter and 1
    or select(2, body:find("\r\n" .. delimiter, 1, true))
  if not start then
    return nil, "no multipart boundary found"
  end
  if start ~= 1 then
    start = start - #delimiter + 1 -- position of the delimiter after the preamble CRLF
  end
  local parts = {}
  local pos = start + #delimiter
  while true do
    if body:sub(pos, pos + 1) == "--" then
      return parts -- closing delimiter
    end
    local next_delim = body:find("\r\n" .. delimiter, pos, true)
    if not next_delim then
      return nil, "multipart body is not terminated"
    end
    -- the raw part runs from after the delimiter line's CRLF to just before "\r\n--boundary"
    local raw = body:sub(pos, next_delim - 1)
    raw = raw:gsub("^[ \t]*\r\n", "", 1)
    local part = parse_part(raw)
    if not part then
      return nil, "malformed multipart part"
    end
    parts[#parts + 1] = part
    pos = next_delim + 2 + #delimiter
  end
end

return multipart
