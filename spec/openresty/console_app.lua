--- Cases the console specs run inside nginx's workers (spec/openresty/console.conf):
-- GET /case?case=NAME answers JSON, with the worker's pid.
-- luacheck: globals ngx
local ngx = ngx
local dify = require("dify")
local session = require("dify.console.session")

local app = {}

-- One console a worker, on the shared dict; every hook payload is kept.
local console
local seen = {}

local function the_console()
  if not console then
    local function keep(kind) return function(info) seen[#seen + 1] = { kind, info } end end
    console = dify.console{
      base_url = os.getenv("DIFY_CONSOLE_URL"),
      email = os.getenv("DIFY_EMAIL"),
      password = os.getenv("DIFY_PASSWORD"),
      session_store = session.shared_dict_store(ngx.shared.dify_console, "session"),
      on_request = keep("on_request"), on_response = keep("on_response"), on_retry = keep("on_retry"),
      retry_base_delay = 0.001,
    }
  end
  return console
end

local cases = {}

-- A call made from this content handler (cosockets).
function cases.profile()
  local profile, err = the_console():profile()
  return { email = profile and profile.email, error = err and tostring(err) }
end

-- Create an app and a key, then chat with the key: all from nginx.
function cases.newcomer()
  local c = the_console()
  local created = assert(c:create_app{ name = "From nginx", mode = "chat" })
  local key = assert(c:create_app_api_key(created.id))
  local client = dify.new{ base_url = created.api_base_url, api_key = key.token, user = "nginx" }
  local answer = assert(client:chat{ query = "hello from a worker" })
  return { answer = answer.answer, app_id = created.id }
end

-- A draft run streamed through the cosocket transport.
function cases.draft()
  local c = the_console()
  local flow = assert(c:create_app{ name = "Flow", mode = "workflow" })
  local stream = assert(c:run_draft_workflow(flow.id, { inputs = { x = "1" } }))
  local result = assert(stream:result())
  return { status = result.status }
end

-- What the hooks and tostring saw in this worker (for the secret search).
function cases.seen()
  local texts = { tostring(console) }
  local function walk(v, depth)
    if depth > 6 then return end
    if type(v) == "table" then
      local mt = getmetatable(v)
      if mt and mt.__tostring then texts[#texts + 1] = tostring(v) end
      for k, value in pairs(v) do
        walk(k, depth + 1)
        walk(value, depth + 1)
      end
    elseif v ~= nil then
      texts[#texts + 1] = tostring(v)
    end
  end
  walk(seen, 0)
  return { texts = texts }
end

function app.run()
  local name = ngx.var.arg_case
  local case = cases[name]
  local result
  if not case then
    result = { raised = "no case " .. tostring(name) }
  else
    local ok, value = pcall(case)
    result = ok and value or { raised = tostring(value) }
  end
  result.pid = ngx.worker.pid()
  ngx.header["Content-Type"] = "application/json"
  ngx.say(dify.json.encode(result))
end

return app
