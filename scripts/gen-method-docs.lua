-- Writes LDoc comments for the client methods generated from lua/dify/routes.lua,
-- so that `make docs` documents every route, including ones added later.
--   lua scripts/gen-method-docs.lua OUT.luadoc   (with ./lua on package.path)
local routes = require("dify.routes")

local RETURNS = {
  json = "table the decoded JSON answer",
  data = "table the answer's `data` list",
  ok = "boolean true",
  bytes = "string the body's bytes (or true when `output` is given)",
  file = "string the bytes and their content type (or true when `output` is given)",
  version = "table `{status, version}`",
}

local out = assert(io.open(assert(arg[1], "usage: gen-method-docs.lua OUT"), "w"))
out:write("--- The client's API calls, one for each route in `dify.routes`.\n",
  "-- Each returns its result, or `nil, err` (a `dify.errors` value); each also takes\n",
  "-- `api_key=`, `user=`, `timeout=` and `headers=` for that call only.\n",
  "-- @classmod dify.client\n\n")
for _, route in ipairs(routes.list) do
  local params = {}
  for _, name in ipairs(route.params) do params[#params + 1] = name end
  local what = route.stream and "Opens the event stream of" or "Calls"
  out:write(("--- %s `%s %s`.\n"):format(what, route.method, route.path))
  if route.mode then out:write(("-- Sends `response_mode = \"%s\"`.\n"):format(route.mode)) end
  if route.send == "multipart" then
    out:write("-- Uploads `path=` (streamed from disk) or `data=`, with `filename=` and `mime_type=`.\n")
  end
  if route.paging then
    out:write(("-- A list call: `client:each(\"%s\", fields)` walks every page (cursor: `%s`).\n")
      :format(route.name, route.paging))
  end
  out:write(("-- @function client:%s\n"):format(route.name))
  for _, name in ipairs(params) do out:write(("-- @tparam string %s\n"):format(name)) end
  local required = {}
  for name, kind in pairs(route.required or {}) do required[#required + 1] = ("`%s` (%s)"):format(name, kind) end
  table.sort(required)
  local fields_doc = #required > 0 and ("the request's fields; required: " .. table.concat(required, ", "))
    or "the request's fields (Dify's own names)"
  out:write(("-- @tparam%s table fields %s\n"):format(#required > 0 and "" or "[opt]", fields_doc))
  if route.user == true then
    out:write("-- Sends the end user (`user=`, else the client's): Dify requires it here.\n")
  elseif route.user == "optional" then
    out:write("-- Sends the end user when one is known (`user=` or the client's).\n")
  end
  if route.stream and not route.terminal then
    out:write("-- @treturn dify.stream a stream that may end after any event\n")
  elseif route.stream then
    local ends = { "`" .. route.terminal .. "`" }
    for _, name in ipairs(route.also_ends or {}) do ends[#ends + 1] = "`" .. name .. "`" end
    out:write(("-- @treturn dify.stream a stream whose last event is %s\n"):format(table.concat(ends, " or ")))
  else
    out:write(("-- @treturn %s\n"):format(RETURNS[route.result] or "table the answer"))
  end
  out:write("\n")
end
out:close()
