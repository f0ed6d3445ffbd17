-- bin/dify's console commands, run as a user would against the fake server:
-- login (in tmux: the prompt, no echo), the 0600 session file, apps, keys,
-- stats, logout, and no secret in any output.
local socket = require("socket")
local mock = require("spec.mock")
local cs = require("spec.console_support")
local support = require("spec.support")

local LUA = os.getenv("DIFY_LUA") or "lua5.4"

local shell_quote, shell_ok = support.shell_quote, support.shell_ok

local function mode_of(path)
  local pipe = assert(io.popen("stat -c %a " .. shell_quote(path) .. " 2>/dev/null"))
  local mode = pipe:read("*l")
  pipe:close()
  return mode
end

describe("bin/dify's console commands", function()
  local srv, home, outputs
  setup(function() srv = mock.start() end)
  teardown(function() srv.stop() end)
  before_each(function()
    srv.reset()
    home = os.tmpname()
    os.remove(home)
    assert(shell_ok("mkdir -p " .. shell_quote(home)))
    outputs = {}
  end)
  after_each(function() os.execute("rm -rf " .. shell_quote(home)) end)

  local function session_file() return home .. "/dify/console-session.json" end

  local function command_line(words, env)
    local parts = { "env", "-u", "DIFY_EMAIL", "-u", "DIFY_PASSWORD", "-u", "DIFY_CONSOLE_URL",
      "-u", "DIFY_CONSOLE_TOKEN", "XDG_CONFIG_HOME=" .. shell_quote(home),
      "DIFY_BASE_URL=" .. shell_quote(srv.url) }
    for name, value in pairs(env or {}) do parts[#parts + 1] = name .. "=" .. shell_quote(value) end
    parts[#parts + 1] = LUA
    parts[#parts + 1] = "bin/dify"
    for _, word in ipairs(words) do parts[#parts + 1] = shell_quote(word) end
    return table.concat(parts, " ")
  end

  -- Runs bin/dify to the end; returns exit code, stdout, stderr (all kept for the secret search).
  local function run(words, opts)
    opts = opts or {}
    local code, stdout, stderr = support.run_command(command_line(words, opts.env), opts.stdin)
    outputs[#outputs + 1] = stdout
    outputs[#outputs + 1] = stderr
    return code, stdout, stderr
  end

  local function login()
    local code, _, err = run({ "login", "--email", cs.EMAIL, "--password-stdin" }, { stdin = cs.PASSWORD .. "\n" })
    assert.equal(0, code, err)
    return err
  end

  -- No output of the test may show a console secret (a created app key is the output of keys create).
  local function assert_no_secrets()
    local secrets = { cs.EMAIL, cs.PASSWORD, require("dify.console.session").base64(cs.PASSWORD) }
    local saved = support.read_file(session_file())
    if saved then
      local session = mock.json.decode(saved).session
      for _, name in ipairs({ "access_token", "refresh_token", "csrf_token" }) do
        if type(session[name]) == "string" then secrets[#secrets + 1] = session[name] end
      end
    end
    local leaks = 0
    for _, text in ipairs(outputs) do
      for _, secret in ipairs(secrets) do
        if text:find(secret, 1, true) then leaks = leaks + 1 end
      end
    end
    assert.equal(0, leaks)
  end

  describe("login", function()
    it("asks for the password on a terminal without echoing it (tmux)", function()
      if not shell_ok("command -v tmux >/dev/null 2>&1") then
        pending("tmux is not installed")
        return
      end
      local tmux = "tmux -L dify-console-spec-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e6))
      local script = command_line({ "login" }) .. "; echo EXIT=$?; sleep 60"
      assert.is_true(shell_ok(("%s new-session -d -x 160 -y 20 %s"):format(tmux, shell_quote(script))))
      finally(function() os.execute(tmux .. " kill-server 2>/dev/null") end)
      local function screen()
        local pipe = assert(io.popen(tmux .. " capture-pane -p 2>/dev/null"))
        local text = pipe:read("*a")
        pipe:close()
        return text
      end
      local function wait_for(text)
        local deadline = socket.gettime() + 20
        while not screen():find(text, 1, true) do
          if socket.gettime() > deadline then return false end
          socket.sleep(0.05)
        end
        return true
      end
      assert.is_true(wait_for("Email:"), screen())
      os.execute(tmux .. " send-keys " .. shell_quote(cs.EMAIL) .. " Enter")
      assert.is_true(wait_for("Password:"))
      os.execute(tmux .. " send-keys " .. shell_quote(cs.PASSWORD) .. " Enter")
      assert.is_true(wait_for("EXIT="))
      local shown = screen()
      assert.matches("EXIT=0", shown, 1, true)
      assert.matches("Logged in to " .. srv.root, shown, 1, true)
      assert.is_nil(shown:find(cs.PASSWORD, 1, true)) -- not echoed, not printed
      assert.equal("600", mode_of(session_file()))
      assert.equal("700", mode_of(home .. "/dify"))
      local saved = mock.json.decode(support.read_file(session_file()))
      assert.equal(srv.root, saved.base_url)
      assert.is_string(saved.session.access_token)
      assert.equal(1, cs.state(srv).counts.logins)
    end)

    it("reads the password from stdin with --password-stdin, and says why a login fails", function()
      local err = login()
      assert.matches("Logged in to " .. srv.root, err, 1, true)
      assert.equal("600", mode_of(session_file()))
      local code, out, why = run({ "login", "--email", cs.EMAIL, "--password-stdin" },
        { stdin = "not-the-password-9\n" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("Invalid email or password", why)
      assert.is_nil(why:find("not-the-password-9", 1, true))
      code, out, why = run({ "login", "--email", "lonely@example.com" },
        { env = { DIFY_PASSWORD = "lonely-password" } })
      assert.equal("", out)
      assert.equal(1, code)
      assert.matches("workspace not found", why)
      assert_no_secrets()
    end)

    it("takes no password on the command line and needs one", function()
      local code, _, err = run({ "login", "--email", cs.EMAIL, "--password", cs.PASSWORD })
      assert.equal(2, code)
      assert.matches("unknown option %-%-password", err)
      code, _, err = run({ "login", "--email", cs.EMAIL }) -- stdin is no terminal
      assert.equal(3, code)
      assert.matches("no password", err)
    end)
  end)

  describe("with a saved session", function()
    local app
    before_each(function()
      login()
      local console = cs.console(srv)
      app = assert(console:create_app{ name = "Helpdesk", mode = "chat" })
      assert(console:create_app{ name = "Flow", mode = "workflow" })
      local key = assert(console:create_app_api_key(app.id))
      local client = require("dify").new{ base_url = srv.url, api_key = key.token, user = "ann" }
      assert(client:chat{ query = "hello there" })
      assert(client:chat{ query = "bye", user = "bob" })
    end)

    it("lists the apps", function()
      local code, out = run({ "apps" })
      assert.equal(0, code)
      assert.equal(("%s\tworkflow\tFlow\n%s\tchat\tHelpdesk\n"):format(assert(cs.console(srv):apps()).data[1].id,
        app.id), out)
      code, out = run({ "apps", "--mode", "chat", "--json" })
      assert.equal(0, code)
      assert.equal("Helpdesk", mock.json.decode(out).name)
      assert_no_secrets()
    end)

    it("lists (masked), creates and deletes an app's keys, by app name or id", function()
      local code, out = run({ "keys", "create", "Helpdesk" })
      assert.equal(0, code)
      local token = out:match("^(app%-%w+)\n$")
      assert.is_string(token)
      code, out = run({ "keys", "list", app.id })
      assert.equal(0, code)
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equal(2, #lines)
      assert.is_nil(out:find(token, 1, true))
      assert.matches("app%-%*%*%*%*" .. token:sub(-4), out)
      local _, revealed = run({ "keys", "list", "Helpdesk", "--reveal" })
      assert.is_truthy(revealed:find(token, 1, true))
      local key_id = lines[2]:match("^(%S+)\t")
      code = run({ "keys", "delete", "Helpdesk", key_id })
      assert.equal(0, code)
      assert.equal(1, #assert(cs.console(srv):app_api_keys(app.id)))
      code = run({ "keys", "list", "Nope" })
      assert.equal(1, code)
      code = run({ "keys", "rotate", "Helpdesk" })
      assert.equal(2, code)
      assert_no_secrets()
    end)

    it("prints an app's statistics as a table, or JSON", function()
      local today = os.date("%Y-%m-%d")
      local code, out = run({ "stats", "Helpdesk", "--from", today, "--to", today })
      assert.equal(0, code)
      local header, row = out:match("^([^\n]+)\n([^\n]+)\n$")
      assert.matches("^date%s+messages%s+conversations%s+end users%s+tokens%s+cost$", header)
      local day = os.date("!%Y-%m-%d"):gsub("%-", "%%-")
      assert.matches("^" .. day .. "%s+2%s+2%s+2%s+%d+%s+[%d%.]+ USD$", row)
      local sent = cs.requests(srv, "daily%-messages$")
      assert.equal(today .. " 00:00", sent[1].args.start)
      assert.equal(os.date("%Y-%m-%d", os.time() + 86400) .. " 00:00", sent[1].args["end"])
      code, out = run({ "stats", app.id, "--json" })
      assert.equal(0, code)
      local rows = mock.json.decode(out)
      assert.equal(2, rows[1].messages)
      assert.equal("USD", rows[1].currency)
      code, out = run({ "stats", "Flow" })
      assert.equal(0, code)
      assert.equal("", out)
      code = run({ "stats", "Helpdesk", "--from", "last week" })
      assert.equal(2, code)
      assert_no_secrets()
    end)

    it("saves a renewed session back to the file, still 0600", function()
      local before = support.read_file(session_file())
      cs.expire(srv, "access")
      assert.equal(0, (run({ "apps" })))
      assert.equal(1, cs.state(srv).counts.refreshes)
      assert.is_false(before == support.read_file(session_file()))
      assert.equal("600", mode_of(session_file()))
      assert.equal(0, (run({ "apps" })))
      assert.equal(1, cs.state(srv).counts.refreshes) -- the saved one works
      assert_no_secrets()
    end)

    it("refuses a session file others can read", function()
      assert(shell_ok("chmod 644 " .. shell_quote(session_file())))
      local code, out, err = run({ "apps" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("can be read by others %(mode 644%)", err)
      for _, r in ipairs(cs.requests(srv, "^/apps$")) do assert.equal("POST", r.method) end -- no GET
    end)

    it("logs out at Dify and removes the file", function()
      local code, _, err = run({ "logout" })
      assert.equal(0, code)
      assert.matches("Logged out", err)
      assert.equal(1, cs.state(srv).counts.logouts)
      assert.is_nil(support.read_file(session_file()))
      code, _, err = run({ "apps" })
      assert.equal(3, code)
      assert.matches("not logged in", err)
      assert_no_secrets()
    end)
  end)
end)
