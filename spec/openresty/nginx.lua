--- Starts and stops a real nginx (Debian's, with the Lua module) for the
-- OpenResty specs: its own prefix in a temporary folder, 127.0.0.1 on a free
-- port, error_log in that folder, the fake Dify's address in its environment.
--
--   local nginx = require("spec.openresty.nginx")
--   local srv = nginx.start{ conf = "spec/openresty/nginx.conf", env = { DIFY_BASE_URL = url } }
--   ... srv.url .. "/relay" ...
--   srv.stop()
local socket = require("socket")
local mock = require("spec.mock")

local this_file = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/openresty/nginx.lua"
local root_dir = this_file:match("^(.*)/spec/openresty/[^/]*$") or "."
if root_dir:sub(1, 1) ~= "/" then root_dir = os.getenv("PWD") .. "/" .. root_dir end

local nginx = {}

nginx.root = root_dir
nginx.binary = os.getenv("NGINX") or "/usr/sbin/nginx"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function run(command)
  local ok = os.execute(command)
  return ok == true or ok == 0
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function free_port()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return tonumber(port)
end

local function children(pid)
  local list = read("/proc/" .. pid .. "/task/" .. pid .. "/children") or ""
  local pids = {}
  for child in list:gmatch("%d+") do pids[#pids + 1] = child end
  return pids
end

local function accepts(port)
  local c = socket.tcp()
  c:settimeout(0.2)
  local ok = c:connect("127.0.0.1", port)
  c:close()
  return ok ~= nil
end

-- Self-signed certificates for the TLS listeners of a config: `good` names
-- 127.0.0.1, `other` names another host; trusted.pem holds both, so that
-- `other` fails on its host name alone.
local function make_certificates(dir)
  assert(run("mkdir -p " .. shell_quote(dir)))
  for name, subject in pairs{ good = "/CN=127.0.0.1", other = "/CN=other.invalid" } do
    local san = name == "good" and "IP:127.0.0.1" or "DNS:other.invalid"
    local command = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
      .. " -subj %s -addext %s -keyout %s -out %s >/dev/null 2>&1"):format(shell_quote(subject),
      shell_quote("subjectAltName=" .. san), shell_quote(dir .. "/" .. name .. ".key"),
      shell_quote(dir .. "/" .. name .. ".crt"))
    assert(run(command), "openssl could not make a certificate")
  end
  assert(run(("cat %s/good.crt %s/other.crt > %s/trusted.pem"):format(shell_quote(dir), shell_quote(dir),
    shell_quote(dir))))
end

--- Makes the prefix: links to the repository's lua/, build/, spec/ and
-- examples/, and the config with its ports (8080 becomes `port`; 8443 and
-- 8444, when the config has them, become further free ports in `extra_ports`).
local function make_prefix(conf_path, port, extra_ports)
  local pipe = assert(io.popen("mktemp -d /tmp/lua-dify-nginx.XXXXXX"))
  local prefix = pipe:read("l")
  pipe:close()
  assert(prefix and prefix ~= "", "mktemp failed")
  assert(run(("mkdir -p %s/logs %s/tmp"):format(shell_quote(prefix), shell_quote(prefix))))
  for _, dir in ipairs{ "lua", "build", "spec", "examples" } do
    assert(run(("ln -s %s %s"):format(shell_quote(root_dir .. "/" .. dir), shell_quote(prefix .. "/" .. dir))))
  end
  local conf = assert(read(conf_path:sub(1, 1) == "/" and conf_path or root_dir .. "/" .. conf_path),
    "cannot read " .. conf_path)
  local replaced
  conf, replaced = conf:gsub("127%.0%.0%.1:8080", "127.0.0.1:" .. port)
  assert(replaced > 0, conf_path .. " has no 'listen 127.0.0.1:8080'")
  for _, placeholder in ipairs{ 8443, 8444 } do
    if conf:find("127.0.0.1:" .. placeholder, 1, true) then
      extra_ports[placeholder] = free_port()
      conf = conf:gsub("127%.0%.0%.1:" .. placeholder, "127.0.0.1:" .. extra_ports[placeholder])
    end
  end
  if conf:find("tls/good.crt", 1, true) then make_certificates(prefix .. "/tls") end
  local f = assert(io.open(prefix .. "/nginx.conf", "wb"))
  f:write(conf)
  f:close()
  return prefix
end

--- Starts nginx. options: conf (path, from the repository root), env (table).
function nginx.start(options)
  local port = free_port()
  local extra_ports = {}
  local prefix = make_prefix(options.conf, port, extra_ports)
  local env = {}
  for name, value in pairs(options.env or {}) do
    env[#env + 1] = name .. "=" .. shell_quote(value)
  end
  -- Started as root, nginx would run its worker as nobody, who cannot read
  -- the repository through the prefix's links.
  local globals = "daemon off;" .. (run('test "$(id -u)" = 0') and " user root;" or "")
  local command = ("echo $$; exec env %s %s -p %s/ -c nginx.conf -e logs/error.log -g %s"
    .. " </dev/null >%s/logs/stdout 2>&1"):format(table.concat(env, " "), shell_quote(nginx.binary),
      shell_quote(prefix), shell_quote(globals), shell_quote(prefix))
  local pipe = assert(io.popen(command, "r"))
  local pid = tonumber(pipe:read("l"))
  local srv = { port = port, prefix = prefix, url = "http://127.0.0.1:" .. port, pid = pid, ports = extra_ports }

  function srv.error_log()
    return (read(prefix .. "/logs/error.log") or "") .. (read(prefix .. "/logs/stdout") or "")
  end

  local stopped = false
  function srv.stop()
    if stopped then return end
    stopped = true
    local workers = children(pid)
    run("kill -TERM " .. pid .. " 2>/dev/null")
    if not mock.wait_for_exit(pid, 5) then
      run("kill -KILL " .. pid .. " 2>/dev/null")
      for _, worker in ipairs(workers) do run("kill -KILL " .. worker .. " 2>/dev/null") end
    end
    pipe:close()
    if not os.getenv("KEEP_NGINX_PREFIX") then run("rm -rf " .. shell_quote(prefix)) end
  end

  local deadline = socket.gettime() + 10
  while not accepts(port) do
    if not mock.alive(pid) or socket.gettime() > deadline then
      local log = srv.error_log()
      srv.stop()
      error("nginx did not start:\n" .. log, 2)
    end
    socket.sleep(0.05)
  end
  return setmetatable(srv, { __gc = srv.stop, __close = srv.stop })
end

--- Gives the enclosing describe block a fake Dify and an nginx (conf) in
-- front of it, with the Dify address and api_key in nginx's environment:
-- `ready(dify_srv, web)` receives both once started; both stop at the end.
function nginx.serve(conf, api_key, ready)
  local busted = require("busted")
  local dify_srv, web
  busted.setup(function()
    dify_srv = mock.start()
    web = nginx.start{ conf = conf,
      env = { DIFY_BASE_URL = dify_srv.url, DIFY_API_KEY = api_key, DIFY_ROOT = dify_srv.root } }
    ready(dify_srv, web)
  end)
  busted.teardown(function()
    if web then web.stop() end
    if dify_srv then dify_srv.stop() end
  end)
end

--- The nginx worker's pids (for the one-worker proofs). The master accepts
-- on its port before it has forked its workers: wait (up to 5 s) for one.
function nginx.workers(srv)
  local deadline = socket.gettime() + 5
  local workers = children(srv.pid)
  while #workers == 0 and socket.gettime() < deadline do
    socket.sleep(0.05)
    workers = children(srv.pid)
  end
  return workers
end

return nginx
