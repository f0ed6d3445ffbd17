--- Starts and drives bin/dify-mock from busted specs.
--
--   local mock = require("spec.mock")
--   local srv = mock.start()          -- a fresh server process on a free port
--   ... point the client at srv.url ("http://127.0.0.1:PORT/v1") ...
--   local req = srv.last("/chat%-messages$")   -- newest matching request
--   srv.stop()
--
-- Recorded requests look like {seq, method, path, query, args, headers, body,
-- answered_before (API answers already sent when it arrived),
-- json?, parts?}; `json` keeps the JSON types: mock.json.is_array(t) tells
-- `[]` from `{}`.

local socket = require("socket")
local socket_http = require("socket.http")
local ltn12 = require("ltn12")

-- The repository root, from this file's own path, so any cwd works.
local this_file = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/mock.lua"
local root_dir = this_file:match("^(.*)/spec/[^/]*$") or "."

-- Loaded by path so that requiring spec.mock leaves package.path alone.
local json = dofile(root_dir .. "/lua/dify/mock/json.lua")
local process = dofile(root_dir .. "/lua/dify/mock/process.lua")

local mock = {}

--- The mock's JSON module (decode keeps arrays and objects apart).
mock.json = json

--- Path of the server script.
mock.script = root_dir .. "/bin/dify-mock"

local CONTROL_TIMEOUT = 5 -- seconds; a control call never waits behind a stalled stream

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

--- One HTTP request with socket.http.  Returns status, body, headers.
function mock.request(method, url, body, headers)
  local chunks = {}
  headers = headers or {}
  if body then
    headers["content-length"] = tostring(#body)
  end
  local _, status, response_headers = socket_http.request({
    method = method,
    url = url,
    headers = headers,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(chunks),
    create = function()
      local sock = socket.tcp()
      sock:settimeout(CONTROL_TIMEOUT)
      return sock
    end,
  })
  return status, table.concat(chunks), response_headers
end

--- The app key the mock specs send (the server takes any app-… key).
mock.APP_KEY = "app-test"

--- A JSON call to the server's API (`srv.url .. path`), with mock.APP_KEY
-- unless `headers` name another authorization; a string body is
-- sent as it is. Returns status, decoded body (or the raw text), headers.
function mock.call(srv, method, path, body, headers)
  headers = headers or {}
  headers.authorization = headers.authorization or ("Bearer " .. mock.APP_KEY)
  local text
  if body ~= nil then
    text = type(body) == "string" and body or json.encode(body)
    headers["content-type"] = headers["content-type"] or "application/json"
  end
  local status, response, response_headers = mock.request(method, srv.url .. path, text, headers)
  local decoded = json.decode(response)
  return status, decoded == nil and response or decoded, response_headers
end

--- A multipart/form-data body: `fields` are text parts, `file` = {name, type, data} (optional).
function mock.multipart(boundary, fields, file)
  local parts = {}
  for name, value in pairs(fields or {}) do
    parts[#parts + 1] = ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'):format(
      boundary, name, value)
  end
  if file then
    -- The data is concatenated, not formatted: %s stops at a NUL byte before Lua 5.3.
    parts[#parts + 1] = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
      .. "Content-Type: %s\r\n\r\n"):format(boundary, file.name, file.type) .. file.data .. "\r\n"
  end
  parts[#parts + 1] = "--" .. boundary .. "--\r\n"
  return table.concat(parts)
end

--- A recorded multipart request's parts by field name (a repeated name keeps its last part).
function mock.parts_by_name(req)
  local parts = {}
  for _, part in ipairs(req.parts) do
    parts[part.name] = part
  end
  return parts
end

--- Whether process pid runs (a zombie, exited but not reaped, does not).
mock.alive = process.alive

--- Waits up to `seconds` for process pid to end; returns whether it did.
function mock.wait_for_exit(pid, seconds)
  local deadline = socket.gettime() + seconds
  while process.alive(pid) do
    if socket.gettime() > deadline then
      return false
    end
    socket.sleep(0.02)
  end
  return true
end

--- Starts a server process.  options: {host = "127.0.0.1", verbose = false}.
-- Returns the handle described at the top of this file.
function mock.start(options)
  options = options or {}
  local host = options.host or "127.0.0.1"
  -- The shell prints its pid and then becomes the server (exec), so the pid
  -- is the server's own and stop() can always make sure it is gone.  $PPID
  -- is this Lua process: the server also exits if the test run is killed.
  local command = ("echo $$; exec lua5.4 %s --host %s --port 0 --parent $PPID%s </dev/null"):format(
    shell_quote(mock.script), shell_quote(host), options.verbose and " --verbose" or "")
  local pipe = assert(io.popen(command, "r"))
  local pid = tonumber(pipe:read("*l"))
  local banner = pipe:read("*l")
  local base = banner and banner:match("^dify%-mock listening on (http://%S+)/v1$")
  if not pid or not base then
    if pid then
      os.execute("kill " .. pid .. " 2>/dev/null")
    end
    pipe:close()
    error("dify-mock did not start (got " .. tostring(banner) .. ")", 2)
  end

  local srv = { root = base, url = base .. "/v1", pid = pid, port = tonumber(base:match(":(%d+)$")) }
  local stopped = false

  local function control(method, path, body)
    local status, text = mock.request(method, base .. path, body,
      body and { ["content-type"] = "application/json" } or nil)
    if status ~= 200 then
      error(("dify-mock %s %s answered %s: %s"):format(method, path, tostring(status), tostring(text)), 3)
    end
    return json.decode(text)
  end

  --- Every recorded request, oldest first.
  function srv.requests()
    return control("GET", "/__mock/requests")
  end

  --- The newest request whose path matches the Lua pattern (any when nil).
  function srv.last(path_pattern)
    local all = srv.requests()
    for i = #all, 1, -1 do
      if not path_pattern or all[i].path:find(path_pattern) then
        return all[i]
      end
    end
    return nil
  end

  --- Forgets recorded requests and all state (not the connection count).
  function srv.reset()
    control("POST", "/__mock/reset")
  end

  --- TCP connections accepted so far (control calls count too).
  function srv.connections()
    return control("GET", "/__mock/connections").accepted
  end

  --- Counts, streaming task ids and stop calls seen.
  function srv.state()
    return control("GET", "/__mock/state")
  end

  --- Creates `count` records of `kind` (see bin/dify-mock --help);
  -- returns {ids = {...}, conversation_id = ...}.
  function srv.seed(kind, count, seed_options)
    local request = { kind = kind, count = count }
    for k, v in pairs(seed_options or {}) do
      request[k] = v
    end
    return control("POST", "/__mock/seed", json.encode(request))
  end

  --- Stops the server and reaps the process; safe to call twice.
  function srv.stop()
    if stopped then
      return
    end
    stopped = true
    pcall(mock.request, "POST", base .. "/__mock/shutdown", "")
    -- Until pipe:close() reaps it, the ended server stays a zombie, which
    -- mock.wait_for_exit already counts as gone.
    if not mock.wait_for_exit(pid, 3) then
      os.execute("kill " .. pid .. " 2>/dev/null")
      if not mock.wait_for_exit(pid, 2) then
        os.execute("kill -9 " .. pid .. " 2>/dev/null")
      end
    end
    pipe:close()
  end

  -- A forgotten stop() still ends the process (when collected, or at the
  -- end of a `local srv <close> = mock.start()` scope).
  return setmetatable(srv, { __gc = srv.stop, __close = srv.stop })
end

return mock
