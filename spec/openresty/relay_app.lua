--- Handlers of the nginx the OpenResty specs start (spec/openresty/nginx.conf).
-- `/relay` relays a chat stream; `/call?case=NAME` runs one client call inside
-- nginx and answers what it saw as JSON, for the spec to check.
-- luacheck: globals ngx
local ngx = ngx
local dify = require("dify")
local core = require("dify.core")
local json = require("dify.json")

local app = {}

local API_KEY = os.getenv("DIFY_API_KEY")

local function client(opts)
  local o = {
    base_url = os.getenv("DIFY_BASE_URL"), api_key = API_KEY, user = "nginx-user",
    timeout = 10, connect_timeout = 5, idle_timeout = 10,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  return dify.new(o)
end

-- One client per worker: its calls share nginx's keep-alive pool.
local shared = client()

local function faults()
  local value = ngx.var.http_x_mock_fault
  return value and { ["X-Mock-Fault"] = value } or nil
end

--- Relays a chat stream; the browser's caller id (X-User) becomes Dify's user.
function app.relay(options)
  options = options or {}
  local c = shared
  if options.blocking then
    -- The control case: libcurl inside nginx, which blocks the worker.
    c = client{ transport = assert(core.session{ timeout = 10, idle_timeout = 10 }) }
  end
  local query = ngx.unescape_uri(ngx.var.arg_q or "hello")
  local summary, err = dify.relay(function(user)
    return c:chat_stream{ query = query, user = user, headers = faults() }
  end, { user = function() return "web-" .. (ngx.var.http_x_user or "anonymous") end })
  ngx.log(ngx.INFO, "relay done: ", json.encode(summary or { error = tostring(err) }))
end

local function describe_error(err)
  if type(err) ~= "table" then return { raised = tostring(err) } end
  return { kind = err.kind, status = err.status, code = err.code, message = err.message, which = err.which }
end

local function temp_path(name)
  return ngx.config.prefix() .. "tmp/" .. name
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

local function collect(stream)
  local types, text = {}, {}
  local ok, err = pcall(function()
    for ev in stream.next, stream do
      types[#types + 1] = ev.event
      if ev.event == "message" then text[#text + 1] = ev.answer end
    end
  end)
  return { types = types, text = table.concat(text), task_id = stream.task_id,
           error = not ok and describe_error(err) or nil }
end

local cases = {}

function cases.chat()
  local answer, err = shared:chat{ query = "Hi from nginx", headers = faults() }
  if not answer then return { error = describe_error(err) } end
  return { answer = answer.answer, conversation_id = answer.conversation_id }
end

function cases.stream()
  local stream, err = shared:chat_stream{ query = ngx.unescape_uri(ngx.var.arg_q or "one two three"),
    headers = faults() }
  if not stream then return { error = describe_error(err) } end
  return collect(stream)
end

function cases.info_many()
  local names = {}
  for i = 1, tonumber(ngx.var.arg_n or 5) do
    local info, err = shared:info()
    if not info then return { error = describe_error(err), at = i } end
    names[#names + 1] = info.name
  end
  return { names = names }
end

function cases.upload_path()
  local path = temp_path("upload-" .. ngx.worker.pid() .. ".txt")
  local content = ("0123456789abcdef"):rep(tonumber(ngx.var.arg_blocks or 10000)) .. "end"
  write_file(path, content)
  local progress = { calls = 0 }
  local file, err = shared:upload_file{ path = path, filename = "report \"q\".txt", on_progress =
    function(sent, total)
      progress.calls = progress.calls + 1
      progress.sent, progress.total = sent, total
    end }
  os.remove(path)
  if not file then return { error = describe_error(err) } end
  return { id = file.id, name = file.name, size = file.size, length = #content, progress = progress }
end

-- Dify previews only files attached to one of the app's messages.
local function attached(file)
  assert(shared:chat{ query = "see the file", files = {
    { type = "document", transfer_method = "local_file", upload_file_id = file.id } } })
  return file
end

function cases.preview_output()
  local content = ("binary\0bytes\r\n"):rep(1000)
  local file = attached(assert(shared:upload_file{ data = content, filename = "b.bin" }))
  local path = temp_path("preview-" .. ngx.worker.pid() .. ".bin")
  local done, content_type = shared:file_preview(file.id, { output = path })
  local on_disk = read_file(path)
  os.remove(path)
  local pieces = {}
  local ok2 = shared:file_preview(file.id, { output = function(piece) pieces[#pieces + 1] = piece end })
  local bytes = shared:file_preview(file.id)
  return {
    path_ok = done == true and on_disk == content, content_type = content_type,
    function_ok = ok2 == true and table.concat(pieces) == content,
    bytes_ok = bytes == content, part_left = read_file(path .. ".part") ~= nil,
  }
end

function cases.output_raises()
  local file = attached(assert(shared:upload_file{ data = ("x"):rep(100000), filename = "c.bin" }))
  local ok, err = pcall(shared.file_preview, shared, file.id, { output = function() error("sink says no") end })
  local after = shared:info() -- the client still works afterwards
  return { raised_by_call = not ok and tostring(err) or nil, after = after and after.name }
end

function cases.error_api()
  local answer, err = shared:chat{ query = "x", headers = faults() }
  return { answer = answer, error = describe_error(err) }
end

function cases.dead()
  local c = client{ base_url = ngx.var.arg_base, retries = 0 }
  local answer, err = c:info()
  return { answer = answer, error = describe_error(err) }
end

function cases.idle_timeout()
  local c = client{ idle_timeout = 1 }
  local stream, err = c:chat_stream{ query = "wait for it", headers = faults() }
  if not stream then return { error = describe_error(err) } end
  return collect(stream)
end

function cases.total_timeout()
  local answer, err = shared:chat{ query = "slow", timeout = 1, headers = faults() }
  return { answer = answer, error = describe_error(err) }
end

function cases.stop()
  local stream = assert(shared:chat_stream{ query = "stop me please", headers = faults() })
  local first = stream:next()
  local result, err = stream:stop()
  return { first = first and first.event, result = result, error = err and describe_error(err) or nil,
           task_id = stream.task_id }
end

function cases.first_event()
  local c = client{ first_event_timeout = 1 }
  local stream, err = c:chat_stream{ query = "thinking", headers = faults() }
  if not stream then return { error = describe_error(err) } end
  return collect(stream)
end

--- A 429 with Retry-After: the retry waits with ngx.sleep, the worker serving on.
function cases.retry()
  local attempts = {}
  local c = client{ retries = 1, on_request = function(i) attempts[#attempts + 1] = i.attempt end }
  local info, err = c:info{ headers = faults() }
  return { answer = info, error = err and describe_error(err) or nil, attempts = attempts }
end

function cases.tls()
  local c = client{ base_url = ngx.var.arg_base, verify_tls = ngx.var.arg_verify == "1" }
  local results = {}
  for i = 1, 2 do -- the second call takes the pooled TLS connection
    local info, err = c:info()
    results[i] = info and info.name or describe_error(err)
  end
  return results
end

--- Calls Dify from init_by_lua (nginx's master, before any worker exists).
function app.at_init()
  local c = client()
  local info, err = c:info()
  app.init_seen = { phase = ngx.get_phase(), name = info and info.name, error = err and describe_error(err) }
  c:close()
end

function app.init_result()
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(app.init_seen or {}))
end

--- The log phase has no cosockets: the call must refuse, not block.
function app.in_log_phase()
  local ok, err = pcall(shared.info, shared)
  ngx.log(ngx.WARN, "log phase call: ", ok and "went through" or tostring(err))
end

--- Runs ?case=NAME and answers its result as JSON.
function app.call()
  local case = cases[ngx.var.arg_case or ""]
  if not case then
    ngx.status = 404
    ngx.say("no such case")
    return
  end
  local ok, result = pcall(case)
  if not ok then result = { raised = tostring(result) } end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(json.encode(result))
end

return app
