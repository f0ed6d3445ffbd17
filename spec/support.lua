-- Shared set-up for the client specs: one fake Dify server per spec file.
local dify = require("dify")
local mock = require("spec.mock")

local support = {}

support.API_KEY = "app-test-secret-9876"

--- Starts the fake server; returns it. Call support.stop(srv) in teardown.
function support.start()
  return mock.start()
end

--- Gives the enclosing describe block one fake server, started once, reset
-- before each test and stopped at the end, and a client for it (client_opts
-- override the defaults): `ready(srv, client)` receives both once started.
function support.serve(ready, client_opts)
  -- Spec files see busted's functions as globals; a module reaches them here.
  local busted = require("busted")
  local srv
  busted.setup(function()
    srv = mock.start()
    ready(srv, support.client(srv, client_opts))
  end)
  busted.teardown(function() srv.stop() end)
  busted.before_each(function() srv.reset() end)
end

--- A client for the fake server; opts override the defaults.
function support.client(srv, opts)
  -- Retries stay on, as for users, but without real waiting.
  local o = { base_url = srv.url, api_key = support.API_KEY, user = "alice", timeout = 10,
              connect_timeout = 5, idle_timeout = 10, retry_base_delay = 0.001 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return dify.new(o)
end

--- A client whose requests carry the fake server's fault header.
function support.faulty(srv, faults, opts)
  local o = { headers = { ["X-Mock-Fault"] = faults } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return support.client(srv, o)
end

--- Collects a stream's events into a list (raises what the stream raises).
function support.collect(stream)
  local events = {}
  for ev in stream.next, stream do events[#events + 1] = ev end
  return events
end

--- Calls f and returns the error it raised.
function support.raised(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return err
end

--- A local URL where nothing listens (a port just bound and released).
function support.dead_url()
  local socket = require("socket")
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return ("http://127.0.0.1:%d/v1"):format(port)
end

--- Writes text to a fresh temporary file; returns its path.
function support.temp_file(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text or "")
  f:close()
  return path
end

function support.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

--- A word quoted for the shell.
function support.shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

--- Whether a shell command succeeded (os.execute's result differs: a
-- number on Lua 5.1 and LuaJIT, true/nil later).
function support.shell_ok(command)
  local result = os.execute(command)
  if type(result) == "number" then return result == 0 end
  return result == true
end

--- Runs a shell command line to its end with `stdin` (a string) as its
-- standard input; returns its exit code, stdout and stderr.
function support.run_command(command, stdin)
  local out, err = os.tmpname(), os.tmpname()
  local input = support.temp_file(stdin or "")
  local pipe = assert(io.popen(("%s <%s >%s 2>%s; echo $?"):format(command, input, out, err)))
  local code = tonumber(pipe:read("*a"):match("(%d+)%s*$"))
  pipe:close()
  local stdout, stderr = support.read_file(out), support.read_file(err)
  os.remove(out)
  os.remove(err)
  os.remove(input)
  return code, stdout, stderr
end

--- The text of every file `ls` names for `listing` (its arguments: globs),
-- but those whose path matches the Lua pattern `skip`, joined by newlines:
-- what the route specs search for calls.
function support.spec_sources(listing, skip)
  local pipe = assert(io.popen("ls " .. listing))
  local text = {}
  for path in pipe:lines() do
    if not path:match(skip) then text[#text + 1] = assert(support.read_file(path)) end
  end
  pipe:close()
  return table.concat(text, "\n")
end

local this_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"

--- Starts a server (spec/fixtures/canned_server.lua) that answers every
-- request with the raw bytes `answer`, for answers no Dify route gives;
-- returns {url = ".../x", stop = function}.
function support.canned(answer)
  local path = support.temp_file(answer)
  -- The shell prints its pid, then becomes the server (exec): the pid comes first.
  local pipe = assert(io.popen(("echo $$; exec lua5.4 %s/fixtures/canned_server.lua %s $PPID"):format(
    this_dir, path)))
  local pid = tonumber(pipe:read("*l"))
  local port = tonumber((pipe:read("*l") or ""):match("^port (%d+)$"))
  assert(pid and port, "the canned server did not start")
  return {
    url = ("http://127.0.0.1:%d/x"):format(port),
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      pipe:close()
      os.remove(path)
    end,
  }
end

--- A 200 answer with the given extra header lines, body and content type.
function support.canned_answer(head_lines, body, content_type)
  local head = {}
  for i, line in ipairs(head_lines) do head[i] = line .. "\r\n" end
  return table.concat{
    "HTTP/1.1 200 OK\r\n",
    "Content-Type: ", content_type or "application/json", "\r\n",
    table.concat(head),
    "Content-Length: ", #body, "\r\n",
    "Connection: close\r\n\r\n", body,
  }
end

return support
