-- bin/dify, run as a user would (with the Lua running the specs) against the
-- fake server: output, exit codes, what went over the wire.
local socket = require("socket")
local support = require("spec.support")
local mock = require("spec.mock")

local LUA = os.getenv("DIFY_LUA") or "lua5.4"
local API_KEY = "app-cli-secret-4242"

local shell_quote, shell_ok = support.shell_quote, support.shell_ok

local function command_line(srv, words, env)
  local parts = {
    "DIFY_BASE_URL=" .. shell_quote(srv and srv.url or "http://127.0.0.1:9/v1"),
    "DIFY_API_KEY=" .. shell_quote(env and env.api_key or API_KEY),
    LUA, "bin/dify",
  }
  for _, word in ipairs(words) do parts[#parts + 1] = shell_quote(word) end
  return table.concat(parts, " ")
end

-- Runs bin/dify to the end; returns exit code, stdout, stderr.
local function run(srv, words, opts)
  opts = opts or {}
  local code, stdout, stderr = support.run_command(command_line(srv, words, opts), opts.stdin)
  assert.not_matches(API_KEY, stdout, 1, true)
  assert.not_matches(API_KEY, stderr, 1, true)
  return code, stdout, stderr
end

-- Polls until check() is true, for at most `seconds`.
local function eventually(seconds, check)
  local deadline = socket.gettime() + seconds
  while not check() do
    if socket.gettime() > deadline then return false end
    socket.sleep(0.05)
  end
  return true
end

describe("bin/dify", function()
  local srv
  support.serve(function(s) srv = s end)

  describe("chat", function()
    it("streams the answer to stdout and names the conversation on stderr", function()
      local code, out, err = run(srv, { "chat", "--user", "bob", "hello", "there" })
      assert.equal(0, code, err)
      assert.equal("Echo: hello there\n", out)
      local conversation = err:match("conversation: (%S+)")
      assert.is_string(conversation)
      local req = srv.last("/chat%-messages$")
      assert.equal("hello there", req.json.query)
      assert.equal("streaming", req.json.response_mode)
      assert.equal("bob", req.json.user)
      assert.equal("Bearer " .. API_KEY, req.headers.authorization)

      code, out = run(srv, { "chat", "-c", conversation, "--user", "bob", "again" })
      assert.equal(0, code)
      assert.equal("Echo: again\n", out)
      req = srv.last("/chat%-messages$")
      assert.equal(conversation, req.json.conversation_id)
      assert.equal("bob", req.json.user)
    end)

    it("reads the question from stdin and sends inputs", function()
      local code, out = run(srv, { "chat", "-i", "name=Ann", "-i", "n:=3" }, { stdin = "from stdin\n" })
      assert.equal(0, code)
      assert.equal("Echo: from stdin\n", out)
      local req = srv.last("/chat%-messages$")
      assert.same({ name = "Ann", n = 3 }, req.json.inputs)
      assert.equal("dify-cli", req.json.user)
    end)

    it("prints every event as one JSON line with --json", function()
      local code, out = run(srv, { "chat", "--json", "a b" })
      assert.equal(0, code)
      local events = {}
      for line in out:gmatch("[^\n]+") do events[#events + 1] = assert(mock.json.decode(line)) end
      assert.is_true(#events >= 2)
      assert.equal("message_end", events[#events].event)
      for _, ev in ipairs(events) do assert.is_string(ev.event) end
    end)

    it("exits 1 with Dify's error on stderr", function()
      local code, out, err = run(srv, { "chat", "-c", "00000000-0000-4000-8000-000000000000", "hi" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("Conversation Not Exists", err, 1, true)
    end)

    it("ends the answer's line before an error in mid-stream", function()
      local code, out, err = run(srv, { "chat", "-H", "X-Mock-Fault: error_event", "a b c" })
      assert.equal(1, code)
      assert.matches("\n$", out)
      assert.matches("^dify: dify api error", err)
    end)

    it("on Ctrl-C hangs up, or with --stop-on-interrupt asks Dify to stop", function()
      for _, stop in ipairs{ false, true } do
        srv.reset()
        local out, code_file = os.tmpname(), os.tmpname()
        local words = { "chat", "-H", "X-Mock-Fault: drip:200", "a b c d e f g h i j k l m n o p" }
        if stop then table.insert(words, 2, "--stop-on-interrupt") end
        -- The shell waits for bin/dify and keeps its exit code; we signal bin/dify itself.
        local pipe = assert(io.popen(("sh -c '%s >%s 2>&1 & echo $!; wait $!; echo $? >%s' &"):format(
          command_line(srv, words):gsub("'", [['\'']]), out, code_file)))
        local pid = tonumber(pipe:read("*l"))
        pipe:close()
        assert.is_true(eventually(10, function() return (support.read_file(out) or ""):find("Echo: a", 1, true) end))
        os.execute("kill -INT " .. pid)
        assert.is_true(eventually(10, function() return (support.read_file(code_file) or "") ~= "" end))
        local code = tonumber(support.read_file(code_file))
        local text = support.read_file(out)
        os.remove(out)
        os.remove(code_file)
        assert.equal(130, code, text)
        assert.matches("interrupted", text)
        local stops = srv.state().stops
        if stop then
          assert.equal(1, #stops, text)
          assert.equal("dify-cli", stops[1].user)
        else
          assert.equal(0, #stops)
        end
      end
    end)
  end)

  describe("upload", function()
    it("prints the new file's id and streams the file", function()
      local path = support.temp_file(("x"):rep(70000))
      local code, out, err = run(srv, { "upload", "--mime-type", "text/plain", path })
      os.remove(path)
      assert.equal(0, code, err)
      local id = out:match("^(%S+)\n$")
      assert.is_string(id)
      local parts = mock.parts_by_name(srv.last("/files/upload$"))
      assert.equal(70000, parts.file.size)
      assert.equal("text/plain", parts.file.content_type)
      assert.not_matches("\r", err, 1, true) -- no progress bar when stderr is not a terminal
    end)

    it("draws a progress bar when stderr is a terminal (tmux)", function()
      if not shell_ok("command -v tmux >/dev/null 2>&1") then
        pending("tmux is not installed")
        return
      end
      local path = support.temp_file(("y"):rep(3 * 2 ^ 20))
      local server_name = "dify-spec-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e6))
      local tmux = "tmux -L " .. server_name
      local script = command_line(srv, { "upload", path }) .. "; echo EXIT=$?; sleep 60"
      assert.is_true(shell_ok(("%s new-session -d -x 150 -y 10 %s"):format(tmux, shell_quote(script))))
      local screen = ""
      local done = eventually(20, function()
        local pipe = assert(io.popen(tmux .. " capture-pane -p 2>/dev/null"))
        screen = pipe:read("*a")
        pipe:close()
        return screen:find("EXIT=", 1, true) ~= nil
      end)
      os.execute(tmux .. " kill-server 2>/dev/null")
      os.remove(path)
      assert.is_true(done, screen)
      assert.matches("EXIT=0", screen, 1, true)
      local name = path:match("[^/]+$")
      assert.matches(name .. " [" .. ("#"):rep(30) .. "] 100% 3.0 MiB / 3.0 MiB", screen, 1, true)
    end)

    it("prints the file object with --json", function()
      local path = support.temp_file("hello")
      local code, out = run(srv, { "upload", "--json", path })
      os.remove(path)
      assert.equal(0, code)
      assert.equal(5, mock.json.decode(out).size)
    end)

    it("exits 4 when the file cannot be read", function()
      local code, _, err = run(srv, { "upload", "/nonexistent/file.txt" })
      assert.equal(4, code)
      assert.matches("cannot read", err)
    end)
  end)

  describe("conversations", function()
    it("lists conversations, one a line, and every page with --all", function()
      srv.seed("conversations", 5, { user = "dify-cli" })
      local code, out = run(srv, { "conversations", "--limit", "2" })
      assert.equal(0, code)
      local _, lines = out:gsub("\n", "")
      assert.equal(2, lines)
      assert.matches("^%S+\t%d%d%d%d%-%d%d%-%d%dT[%d:]+Z\t", out)

      code, out = run(srv, { "conversations", "--all", "--limit", "2", "--json" })
      assert.equal(0, code)
      _, lines = out:gsub("\n", "")
      assert.equal(5, lines)
    end)
  end)

  describe("tts", function()
    it("writes the audio to the -o file", function()
      local path = os.tmpname()
      os.remove(path)
      local code, _, err = run(srv, { "tts", "-o", path, "hello", "world" })
      assert.equal(0, code, err)
      local audio = support.read_file(path)
      os.remove(path)
      assert.is_true(#audio > 0)
      assert.matches("wrote", err)
      assert.equal("hello world", srv.last("/text%-to%-audio$").json.text)
    end)

    it("needs -o", function()
      local code, _, err = run(srv, { "tts", "hello" })
      assert.equal(2, code)
      assert.matches("%-o FILE", err)
    end)
  end)

  describe("run-workflow", function()
    it("streams the workflow's text and fails when the run fails", function()
      local client = support.client(srv)
      if type(client.run_workflow_stream) ~= "function" then
        pending("client:run_workflow_stream is not in this lua-dify yet (workflow routes)")
        return
      end
      local code, out, err = run(srv, { "run-workflow", "-i", "query=hello" })
      assert.equal(0, code, err)
      assert.equal("Echo: hello\n", out)
      assert.same({ query = "hello" }, srv.last("/workflows/run$").json.inputs)
      code = run(srv, { "run-workflow", "-i", "query=x", "-H", "X-Mock-Fault: error_event" })
      assert.equal(1, code)
    end)

    it("says that a run paused, prints its form, and exits 6", function()
      local code, _, err = run(srv, { "run-workflow", "-i", "scenario=pause" })
      assert.equal(6, code, err)
      assert.matches("paused for a person", err)
      local token = err:match("form_token (%S+)%)")
      assert.is_string(token)
      assert.matches("actions: approve", err)
      -- The printed token is the form's: Dify answers it.
      assert.is_table(assert(support.client(srv):human_input_form(token)).user_actions)
    end)
  end)

  describe("chat on current Dify apps", function()
    it("exits 6 with the form when a chatflow pauses", function()
      local code, _, err = run(srv, { "chat", "pause" })
      assert.equal(6, code, err)
      assert.matches("form_token", err)
    end)

    it("prints a New Agent app's answer once", function()
      local code, out, err = run(srv, { "chat", "new_agent" })
      assert.equal(0, code, err)
      assert.equal("Echo: new_agent\n", out)
    end)
  end)

  describe("the command line", function()
    it("has --help for every command and a usage", function()
      for _, command in ipairs{ "chat", "upload", "run-workflow", "conversations", "tts" } do
        local code, out = run(nil, { command, "--help" })
        assert.equal(0, code)
        assert.matches("Usage: dify " .. command, out, 1, true)
        assert.matches("DIFY_API_KEY", out, 1, true)
      end
      local code, out = run(nil, { "--help" })
      assert.equal(0, code)
      assert.matches("Exit codes", out)
      code = run(nil, {})
      assert.equal(2, code)
    end)

    it("exits 2 on a bad command line, 3 without an API key, 5 when Dify is unreachable", function()
      assert.equal(2, (run(srv, { "frobnicate" })))
      assert.equal(2, (run(srv, { "chat", "--bogus", "x" })))
      assert.equal(2, (run(srv, { "conversations", "--limit", "zero" })))
      assert.equal(3, (run(srv, { "chat", "hi" }, { api_key = "" })))
      local code, _, err = run({ url = support.dead_url() }, { "chat", "hi" })
      assert.equal(5, code)
      assert.matches("network", err)
    end)
  end)
end)
