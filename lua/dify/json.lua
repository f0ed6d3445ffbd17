--- JSON through lua-cjson, with settings private to lua-dify.
-- @module dify.json
local cjson_module = require("cjson")

-- A private instance: our settings must not change the application's cjson.
local cjson = cjson_module.new and cjson_module.new() or cjson_module
if cjson.encode_empty_table_as_object then cjson.encode_empty_table_as_object(true) end
if cjson.decode_array_with_array_mt then cjson.decode_array_with_array_mt(true) end
-- Dify ids and counters are integers; keep full precision for the rest.
pcall(cjson.encode_number_precision, 16)

local json = {}

--- The value JSON `null` decodes to (and that encodes as `null`).
json.null = cjson.null

--- Encodes a Lua value; returns the text, or nil and a message.
function json.encode(value)
  local ok, text = pcall(cjson.encode, value)
  if not ok then return nil, text end
  return text
end

--- Decodes text; returns the value, or nil and a message.
function json.decode(text)
  if type(text) ~= "string" or text == "" then return nil, "empty body" end
  local ok, value = pcall(cjson.decode, text)
  if not ok then return nil, value end
  return value
end

--- Decodes text and raises on malformed JSON (for loops that pcall it themselves).
json.decode_text = cjson.decode

--- Marks a table so that it encodes as a JSON array even when empty.
function json.array(t)
  t = t or {}
  if cjson.empty_array_mt then setmetatable(t, cjson.empty_array_mt) end
  return t
end

return json
