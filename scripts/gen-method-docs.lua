-- Writes LDoc comments for the methods generated from route tables: the
-- client's (lua/dify/routes.lua) and the console's (lua/dify/console/routes.lua),
-- so that `make docs` documents every route, including ones added later.
--   lua scripts/gen-method-docs.lua CLIENT.luadoc CONSOLE.luadoc   (with ./lua on package.path)

local RETURNS = {
  json = "table the decoded JSON answer",
  data = "table the answer's `data` list",
  ok = "boolean true",
  bytes = "string the body's bytes (or true when `output` is given)",
  file = "string the bytes and their content type (or true when `output` is given)",
  version = "table `{status, version}`",
}

-- The comment block of one route's method on `object` ("client", "console").
local function write_method(out, route, object)
  local what = route.stream and "Opens the event stream of" or "Calls"
  out:write(("--- %s `%s %s`.\n"):format(what, route.method, route.path))
  if route.since then out:write(("-- Dify %s and later.\n"):format(route.since)) end
  if route.mode then out:write(("-- Sends `response_mode = \"%s\"`.\n"):format(route.mode)) end
  if route.send == "multipart" then
    out:write("-- Uploads `path=` (streamed from disk) or `data=`, with `filename=` and `mime_type=`.\n")
  end
  if route.dates then
    out:write(("-- Dates (%s): \"YYYY-MM-DD[ HH:MM]\" strings or `os.time()` numbers.\n")
      :format(table.concat(route.dates, ", ")))
  end
  if route.paging then
    out:write(("-- A list call: `%s:each(\"%s\", fields)` walks every page (cursor: `%s`).\n")
      :format(object, route.name, route.paging))
  end
  if route.stream and object == "client" then
    out:write("-- With `on_event=` or `on_done=` among the fields it returns a `dify.task` that reads\n",
      "-- the stream instead: `on_event(ev)` for each event, then `on_done(stream)` or `on_done(nil, err)`.\n")
  end
  out:write(("-- @function %s:%s\n"):format(object, route.name))
  for _, name in ipairs(route.params or {}) do out:write(("-- @tparam string %s\n"):format(name)) end
  local required = {}
  for name, kind in pairs(route.required or {}) do required[#required + 1] = ("`%s` (%s)"):format(name, kind) end
  table.sort(required)
  local fields_doc = #required > 0 and ("the request's fields; required: " .. table.concat(required, ", "))
    or "the request's fields (Dify's own names)"
  out:write(("-- @tparam%s table fields %s\n"):format(#required > 0 and "" or "[opt]", fields_doc))
  if object == "client" and route.user == true then
    out:write("-- Sends the end user (`user=`, else the client's): Dify requires it here.\n")
  elseif object == "client" and route.user == "optional" then
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

local function write_file(path, header, list, object)
  local out = assert(io.open(path, "w"))
  out:write(header)
  for _, route in ipairs(list) do write_method(out, route, object) end
  out:close()
end

write_file(assert(arg[1], "usage: gen-method-docs.lua CLIENT_OUT CONSOLE_OUT"),
  "--- The client's API calls, one for each route in `dify.routes`.\n"
    .. "-- Each returns its result, or `nil, err` (a `dify.errors` value); each also takes\n"
    .. "-- `api_key=`, `user=`, `timeout=` and `headers=` for that call only.\n"
    .. "-- @classmod dify.client\n\n",
  require("dify.routes").list, "client")
write_file(assert(arg[2], "usage: gen-method-docs.lua CLIENT_OUT CONSOLE_OUT"),
  "--- The console's API calls (`dify.console`), one for each route in `dify.console.routes`,\n"
    .. "-- under `{host}/console/api`, sent with the console's session. Each returns its\n"
    .. "-- result, or `nil, err` (a `dify.errors` value).\n"
    .. "-- @classmod dify.console_calls\n\n",
  require("dify.console.routes").list, "console")
