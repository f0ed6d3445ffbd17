--- JSON for the mock server.
--
-- lua-cjson 2.1.0 (the Debian package) cannot tell `[]` from `{}`: both decode
-- to an empty table and an empty table always encodes as `{}`.  The Dify wire
-- format cares (`inputs` must be an object, `data` lists must be arrays), and
-- specs want to check what a client really sent, so this module decodes into
-- tables tagged with their JSON type and encodes those tags back faithfully.
-- `null` is cjson's sentinel, so values mix freely with cjson's.
-- The server runs on Lua 5.4, but specs decode with this module on every Lua
-- (5.1-5.4, LuaJIT), so it keeps to what all of them have.

local cjson = require("cjson")

local json = {}

--- The value JSON `null` decodes to (the same sentinel cjson uses).
json.null = cjson.null

local ARRAY = { __jsontype = "array" }
local OBJECT = { __jsontype = "object" }

--- Marks `t` (or a new table) as a JSON array, so that it encodes as `[]` even when empty.
function json.array(t)
  return setmetatable(t or {}, ARRAY)
end

--- Marks `t` (or a new table) as a JSON object, so that it encodes as `{}` even when empty.
function json.object(t)
  return setmetatable(t or {}, OBJECT)
end

function json.is_array(value)
  return type(value) == "table" and getmetatable(value) == ARRAY
end

function json.is_object(value)
  return type(value) == "table" and getmetatable(value) ~= ARRAY
end

---------------------------------------------------------------------------
-- Encoding
---------------------------------------------------------------------------

-- An untagged table is an array when its keys are exactly 1..n (n >= 1).
local function looks_like_array(t)
  local count = 0
  for _ in pairs(t) do
    count = count + 1
  end
  return count > 0 and count == #t
end

-- Keys are sorted so output is stable, but "event" goes first: Dify puts it
-- first in stream frames and it makes recorded streams easier to read.
local function key_order(a, b)
  if a == "event" then
    return b ~= "event"
  elseif b == "event" then
    return false
  end
  return a < b
end

-- Only what JSON requires is escaped (cjson would also turn "/" into "\/").
local STRING_ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s)
  local escaped = s:gsub('[%c"\\]', function(c)
    return STRING_ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end)
  return '"' .. escaped .. '"'
end

local encode_value

local function encode_number(n)
  if math.type and math.type(n) == "integer" then
    return string.format("%d", n)
  elseif n ~= n or n == math.huge or n == -math.huge then
    return "null" -- JSON has no NaN or infinities
  elseif n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    return string.format("%.0f", n)
  end
  return string.format("%.14g", n)
end

local function encode_table(t, out)
  local mt = getmetatable(t)
  if mt == ARRAY or (mt ~= OBJECT and looks_like_array(t)) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then
        out[#out + 1] = ","
      end
      encode_value(t[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys, key_order)
  out[#out + 1] = "{"
  for i, key in ipairs(keys) do
    if i > 1 then
      out[#out + 1] = ","
    end
    out[#out + 1] = encode_string(key)
    out[#out + 1] = ":"
    local value = t[key]
    if value == nil then
      value = t[tonumber(key)]
    end
    encode_value(value, out)
  end
  out[#out + 1] = "}"
end

encode_value = function(value, out)
  local kind = type(value)
  if value == nil or value == json.null then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(value)
  elseif kind == "number" then
    out[#out + 1] = encode_number(value)
  elseif kind == "string" then
    out[#out + 1] = encode_string(value)
  elseif kind == "table" then
    encode_table(value, out)
  else
    error("cannot encode a " .. kind .. " as JSON")
  end
end

--- Encodes a Lua value as JSON text.
function json.encode(value)
  local out = {}
  encode_value(value, out)
  return table.concat(out)
end

---------------------------------------------------------------------------
-- Decoding (recursive descent; arrays and objects come back tagged)
---------------------------------------------------------------------------

local ESCAPES = {
  ['"'] = '"', ["\\"] = "\\", ["/"] = "/",
  b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

local function decode_error(pos, what)
  error({ json_error = ("%s at byte %d"):format(what, pos) }, 0)
end

local function skip_space(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local decode_value

-- utf8.char is Lua 5.3+.
local function utf8_char(code)
  if code < 0x80 then
    return string.char(code)
  elseif code < 0x800 then
    return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  elseif code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return string.char(0xF0 + math.floor(code / 0x40000), 0x80 + math.floor(code / 0x1000) % 0x40,
    0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local function decode_string(text, pos)
  -- pos is just after the opening quote
  local pieces = {}
  while true do
    local stop = text:find('["\\%c]', pos)
    if not stop then
      decode_error(pos, "unterminated string")
    end
    pieces[#pieces + 1] = text:sub(pos, stop - 1)
    local c = text:sub(stop, stop)
    if c == '"' then
      return table.concat(pieces), stop + 1
    elseif c ~= "\\" then
      decode_error(stop, "control character in string")
    end
    local esc = text:sub(stop + 1, stop + 1)
    if ESCAPES[esc] then
      pieces[#pieces + 1] = ESCAPES[esc]
      pos = stop + 2
    elseif esc == "u" then
      local hex = text:match("^%x%x%x%x", stop + 2)
      if not hex then
        decode_error(stop, "bad \\u escape")
      end
      local code = tonumber(hex, 16)
      pos = stop + 6
      -- a UTF-16 surrogate pair spells one code point above U+FFFF
      local low = code >= 0xD800 and code <= 0xDBFF and text:match("^\\u(%x%x%x%x)", pos)
      if low and tonumber(low, 16) >= 0xDC00 and tonumber(low, 16) <= 0xDFFF then
        code = 0x10000 + (code - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
        pos = pos + 6
      end
      pieces[#pieces + 1] = utf8_char(code)
    else
      decode_error(stop, "bad escape")
    end
  end
end

local function decode_number(text, pos)
  local int, frac, exp = text:match("^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)", pos)
  if not int or frac == "." or exp:match("^[eE][-+]?$") then
    decode_error(pos, "bad number")
  end
  local literal = int .. frac .. exp
  local n = tonumber(literal)
  if frac == "" and exp == "" then
    n = math.tointeger and math.tointeger(n) or n
  end
  return n, pos + #literal
end

local function decode_array(text, pos)
  local result = json.array()
  pos = skip_space(text, pos)
  if text:sub(pos, pos) == "]" then
    return result, pos + 1
  end
  while true do
    local value
    value, pos = decode_value(text, pos)
    result[#result + 1] = value
    pos = skip_space(text, pos)
    local c = text:sub(pos, pos)
    if c == "]" then
      return result, pos + 1
    elseif c ~= "," then
      decode_error(pos, "expected ',' or ']'")
    end
    pos = pos + 1
  end
end

local function decode_object(text, pos)
  local result = json.object()
  pos = skip_space(text, pos)
  if text:sub(pos, pos) == "}" then
    return result, pos + 1
  end
  while true do
    if text:sub(pos, pos) ~= '"' then
      decode_error(pos, "expected a string key")
    end
    local key
    key, pos = decode_string(text, pos + 1)
    pos = skip_space(text, pos)
    if text:sub(pos, pos) ~= ":" then
      decode_error(pos, "expected ':'")
    end
    local value
    value, pos = decode_value(text, pos + 1)
    result[key] = value
    pos = skip_space(text, pos)
    local c = text:sub(pos, pos)
    if c == "}" then
      return result, pos + 1
    elseif c ~= "," then
      decode_error(pos, "expected ',' or '}'")
    end
    pos = skip_space(text, pos + 1)
  end
end

local LITERALS = { ["true"] = true, ["false"] = false, null = json.null }

decode_value = function(text, pos)
  pos = skip_space(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    return decode_object(text, pos + 1)
  elseif c == "[" then
    return decode_array(text, pos + 1)
  elseif c == '"' then
    return decode_string(text, pos + 1)
  elseif c == "-" or c:match("%d") then
    return decode_number(text, pos)
  end
  local word = text:match("^%a+", pos)
  if word and LITERALS[word] ~= nil then
    return LITERALS[word], pos + #word
  end
  decode_error(pos, "unexpected character")
end

--- Decodes JSON text. Returns the value, or nil and an error message.
-- Arrays come back marked (json.is_array), objects too; `null` is json.null.
function json.decode(text)
  local ok, value, pos = pcall(decode_value, text, 1)
  if not ok then
    if type(value) == "table" and value.json_error then
      return nil, value.json_error
    end
    error(value, 0)
  end
  pos = skip_space(text, pos)
  if pos <= #text then
    return nil, ("trailing characters at byte %d"):format(pos)
  end
  return value
end

return json
