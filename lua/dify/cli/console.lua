--- The console commands of `bin/dify`: login, apps, keys, stats, logout.
--
-- `dify login` asks for the password on the terminal (never on the command
-- line; `--password-stdin` for scripts) and keeps the session in
-- `$XDG_CONFIG_HOME/dify/console-session.json` (default `~/.config`),
-- created 0600; a session file that others can read is refused. The other
-- commands use that session (saving it again when it is renewed), or
-- `DIFY_EMAIL` and `DIFY_PASSWORD` when there is none.
-- @module dify.cli.console
local dify = require("dify")
local args = require("dify.cli.args")

local console_cli = {}

local SESSION_FILE = "console-session.json"

local function quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function read_command(command)
  local pipe = io.popen(command)
  if not pipe then return nil end
  local out = pipe:read("*a")
  pipe:close()
  return out
end

--- Where the session is kept: $XDG_CONFIG_HOME/dify/console-session.json.
function console_cli.session_path()
  local config = os.getenv("XDG_CONFIG_HOME")
  if not config or config == "" then config = (os.getenv("HOME") or ".") .. "/.config" end
  return config .. "/dify/" .. SESSION_FILE
end

-- "644"-style permission bits and owner of a file, or nil when it does not exist.
local function file_mode(path)
  local out = read_command("stat -c '%a %u' " .. quote(path) .. " 2>/dev/null") or ""
  local mode, owner = out:match("^(%d+) (%d+)")
  if not mode then return nil end
  return tonumber(mode, 8), tonumber(owner)
end

local function my_uid()
  return tonumber((read_command("id -u") or ""):match("%d+"))
end

--- The session file as a store for dify.console (load, save), plus `read`
-- (the whole file: {base_url, session}) and `remove`. `h`: cli.lua's helpers
-- (`h.fail(code, message)` ends the command).
function console_cli.file_store(path, h)
  local fail, exit_codes = h.fail, h.EXIT
  local store = { path = path }

  function store.read()
    local mode, owner = file_mode(path)
    if not mode then return nil end
    if mode % 64 ~= 0 or (owner and my_uid() and owner ~= my_uid()) then
      fail(exit_codes.config, ("%s can be read by others (mode %o): it holds a login. "
        .. "Run \"chmod 600 %s\", or \"dify logout\" and log in again"):format(path, mode, path))
    end
    local file = io.open(path, "rb")
    if not file then return nil end
    local text = file:read("*a")
    file:close()
    local data = dify.json.decode(text)
    if type(data) ~= "table" or type(data.session) ~= "table" then return nil end
    return data
  end

  function store.write(data)
    local dir = path:match("^(.*)/[^/]*$") or "."
    local tmp = path .. ".tmp"
    -- Made 0600 before a byte of the session goes in, then renamed over the old one.
    local made = h.shell_ok(("mkdir -p %s && chmod 700 %s && (umask 077 && : > %s) && chmod 600 %s"):format(
      quote(dir), quote(dir), quote(tmp), quote(tmp)))
    local file = made and io.open(tmp, "wb")
    if not file then fail(exit_codes.io, "cannot write " .. path) end
    file:write(assert(dify.json.encode(data)), "\n")
    file:close()
    local renamed, why = os.rename(tmp, path)
    if not renamed then
      os.remove(tmp)
      fail(exit_codes.io, "cannot write " .. path .. ": " .. tostring(why))
    end
  end

  function store.remove() return os.remove(path) ~= nil end

  -- dify.console's session_store: only the session part of the file.
  function store:load()
    local data = self.read()
    return data and data.session or nil
  end

  function store:save(session)
    local data = self.read() or { base_url = self.base_url }
    if session == nil then
      self.remove()
      return
    end
    data.session = session
    data.base_url = data.base_url or self.base_url
    self.write(data)
  end

  return store
end

local function mask(token)
  if type(token) ~= "string" or #token < 8 then return "****" end
  return (token:match("^(%a+%-)") or "") .. "****" .. token:sub(-4)
end

local function date_of(seconds)
  if type(seconds) ~= "number" then return "-" end
  return os.date("!%Y-%m-%d %H:%M", math.floor(seconds))
end

--- Adds the commands to `commands`; `h` holds cli.lua's helpers
-- (`fail`, `check`, `say`, `write_json_line`, `is_tty`, `shell_ok`, `timeout_of`,
-- `each_item`, `EXIT`, `out`: stdout's writer).
function console_cli.register(commands, h)
  local EXIT = h.EXIT

  -- The server root: --base-url, DIFY_CONSOLE_URL, the saved session's, DIFY_BASE_URL.
  local function root_of(options, saved)
    local url = options.base_url or os.getenv("DIFY_CONSOLE_URL")
      or (saved and saved.base_url) or os.getenv("DIFY_BASE_URL") or "https://cloud.dify.ai"
    return require("dify.console").root_of(url)
  end

  local function store_for(root)
    local store = console_cli.file_store(console_cli.session_path(), h)
    store.base_url = root
    return store
  end

  local timeout_of = h.timeout_of

  -- A console on the saved session (renewals are saved), or on DIFY_EMAIL/DIFY_PASSWORD.
  local function open_console(options)
    local probe = store_for(nil)
    local saved = probe.read()
    local root = root_of(options, saved)
    local store = store_for(root)
    local use_saved = saved and root_of({}, saved) == root
    local email, password = os.getenv("DIFY_EMAIL"), os.getenv("DIFY_PASSWORD")
    if not use_saved and not (email and password) then
      h.fail(EXIT.config, "not logged in to " .. root .. ": run \"dify login\" (or set DIFY_EMAIL and DIFY_PASSWORD)")
    end
    local made, console = pcall(dify.console, {
      base_url = root, email = email, password = password,
      session_store = use_saved and store or nil,
      timeout = timeout_of(options),
    })
    if not made then h.fail(EXIT.config, tostring(console):gsub("^[^:]*:%d+: ", "")) end
    return console
  end

  -- An app by id, or by its exact name.
  local function app_of(console, word)
    if word:find("^%x+%-%x+%-%x+%-%x+%-%x+$") then return h.check(console:app(word)) end
    local page = h.check(console:apps{ name = word, limit = 100 })
    local found
    for _, app in ipairs(page.data or {}) do
      if app.name == word then
        if found then h.fail(EXIT.failed, "more than one app is named " .. word .. ": give its id") end
        found = app
      end
    end
    if not found then h.fail(EXIT.failed, "no app is named " .. word) end
    return found
  end

  local function prompt(label, hidden)
    h.say(label)
    if hidden then os.execute("stty -echo 2>/dev/null") end
    local ok, line = pcall(io.read, "*l")
    if hidden then
      os.execute("stty echo 2>/dev/null")
      h.say("\n")
    end
    if not ok then error(line, 0) end
    return line
  end

  commands.login = {
    summary = "log in to the Dify console",
    usage = [[
Usage: dify login [options]

Logs in to the Dify console (the server root of --base-url, $DIFY_CONSOLE_URL
or $DIFY_BASE_URL) and keeps the session, for "dify apps", "dify keys" and
"dify stats", in $XDG_CONFIG_HOME/dify/console-session.json (mode 0600).
The password is asked for on the terminal without echo, or read from
$DIFY_PASSWORD; it is never taken from the command line.

Options:
  --email EMAIL        the account (default: $DIFY_EMAIL, else asked for)
  --password-stdin     read the password from the first line of standard input
  --plain-password     send the password as it is (Dify before 1.11.2)]],
    options = {
      ["--email"] = { key = "email", value = true },
      ["--password-stdin"] = { key = "password_stdin" },
      ["--plain-password"] = { key = "plain_password" },
    },
    run = function(options)
      if #options > 0 then args.usage_error("login takes no arguments") end
      local root = root_of(options, nil)
      local email = options.email or os.getenv("DIFY_EMAIL")
      local password
      if options.password_stdin then
        password = io.read("*l")
      else
        password = os.getenv("DIFY_PASSWORD")
      end
      local terminal = h.is_tty(0)
      if (not email or email == "") and terminal then email = prompt("Email: ") end
      if (not password or password == "") and terminal and not options.password_stdin then
        password = prompt("Password: ", true)
      end
      if not email or email == "" then
        h.fail(EXIT.config, "no email: give --email or set DIFY_EMAIL")
      end
      if not password or password == "" then
        h.fail(EXIT.config, "no password: type it on a terminal, or use --password-stdin or DIFY_PASSWORD")
      end
      local console = dify.console{ base_url = root, email = email, password = password,
        encode_password = not options.plain_password, timeout = timeout_of(options) }
      h.check(console:login())
      local store = store_for(root)
      store.write({ base_url = root, session = h.check(console:session()) })
      h.say("Logged in to ", root, " (session saved in ", store.path, ")\n")
    end,
  }

  commands.logout = {
    summary = "log out of the Dify console",
    usage = [[
Usage: dify logout

Logs the saved session out at Dify and removes its file.]],
    run = function(options)
      if #options > 0 then args.usage_error("logout takes no arguments") end
      local store = store_for(nil)
      local saved = store.read()
      if not saved then
        h.say("not logged in\n")
        return
      end
      local root = root_of({ base_url = options.base_url }, saved)
      local ok, console = pcall(dify.console, { base_url = root, session = saved.session,
        timeout = timeout_of(options) })
      local logged_out, err = true, nil
      if ok then logged_out, err = console:logout() end
      store.remove()
      if not logged_out then
        h.say("dify: the session file is removed, but Dify did not confirm the logout: ", tostring(err), "\n")
        return
      end
      h.say("Logged out of ", root, "\n")
    end,
  }

  commands.apps = {
    summary = "list the workspace's apps",
    usage = [[
Usage: dify apps [options]

Lists the apps of the workspace you are logged in to: id, mode and name,
tab-separated (newest first).

Options:
  --mode MODE   only apps of that mode (chat, agent-chat, completion,
                advanced-chat, workflow)
  --name TEXT   only apps whose name holds TEXT
  --json        one JSON object a line (NDJSON)]],
    options = {
      ["--mode"] = { key = "mode", value = true },
      ["--name"] = { key = "name", value = true },
      ["--json"] = { key = "json" },
    },
    run = function(options)
      if #options > 0 then args.usage_error("apps takes no arguments") end
      local console = open_console(options)
      h.each_item(console, "apps", { mode = options.mode, name = options.name, limit = 100 }, function(app)
        if options.json then return h.write_json_line(app) end
        h.out(("%s\t%s\t%s\n"):format(tostring(app.id), tostring(app.mode), tostring(app.name)))
      end)
    end,
  }

  commands.keys = {
    summary = "list, create or delete an app's API keys",
    usage = [[
Usage: dify keys list APP [--reveal]
       dify keys create APP
       dify keys delete APP KEY_ID

APP is an app's id or its exact name. "list" prints each key's id, token
(masked unless --reveal) and creation time (UTC); "create" prints the new
token on standard output (Dify shows it in full only now; an app has at most
10 keys); "delete" revokes a key.

Options:
  --reveal   show whole tokens
  --json     one JSON object a line (NDJSON), tokens masked unless --reveal]],
    options = {
      ["--reveal"] = { key = "reveal" },
      ["--json"] = { key = "json" },
    },
    run = function(options)
      local action, app_word, key_id = options[1], options[2], options[3]
      if action ~= "list" and action ~= "create" and action ~= "delete" then
        args.usage_error("keys needs list, create or delete")
      end
      if not app_word then args.usage_error("keys " .. action .. " needs an APP (id or name)") end
      if action == "delete" and not key_id then args.usage_error("keys delete needs APP and KEY_ID") end
      if #options > (action == "delete" and 3 or 2) then args.usage_error("too many arguments") end
      local console = open_console(options)
      local app = app_of(console, app_word)
      if action == "list" then
        for _, key in ipairs(h.check(console:app_api_keys(app.id))) do
          local token = options.reveal and key.token or mask(key.token)
          if options.json then
            h.write_json_line({ id = key.id, token = token, created_at = key.created_at,
              last_used_at = key.last_used_at })
          else
            h.out(("%s\t%s\t%s\n"):format(tostring(key.id), token, date_of(key.created_at)))
          end
        end
      elseif action == "create" then
        local key = h.check(console:create_app_api_key(app.id))
        if options.json then
          h.write_json_line(key)
        else
          h.out(tostring(key.token), "\n")
          h.say("created key ", tostring(key.id), " for ", tostring(app.name), "\n")
        end
      else
        h.check(console:delete_app_api_key(app.id, key_id))
        h.say("deleted key ", key_id, "\n")
      end
    end,
  }

  -- YYYY-MM-DD for --to means the whole day: up to the next midnight.
  local function day_after(date)
    local y, m, d = date:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
    if not y then return date end
    local t = os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d) + 1, hour = 12 }
    return os.date("%Y-%m-%d", t)
  end

  local function check_date(name, value)
    if value and not (value:find("^%d%d%d%d%-%d%d%-%d%d$") or value:find("^%d%d%d%d%-%d%d%-%d%d[ T]%d%d:%d%d")) then
      args.usage_error(name .. " needs a date: YYYY-MM-DD or \"YYYY-MM-DD HH:MM\"")
    end
  end

  commands.stats = {
    summary = "an app's daily statistics",
    usage = [[
Usage: dify stats APP [--from DATE] [--to DATE] [--json]

Prints an app's statistics a day: messages, conversations, end users,
tokens and their cost (a workflow app: its runs). DATE is YYYY-MM-DD or
"YYYY-MM-DD HH:MM", in the account's time zone; --to a day includes it.
Default: the last 7 days.

Options:
  --from DATE   the first day
  --to DATE     the last day
  --json        the rows as one JSON array]],
    options = {
      ["--from"] = { key = "from", value = true },
      ["--to"] = { key = "to", value = true },
      ["--json"] = { key = "json" },
    },
    run = function(options)
      if #options ~= 1 then args.usage_error("stats needs one APP (id or name)") end
      check_date("--from", options.from)
      check_date("--to", options.to)
      local range = { start = options.from or os.date("%Y-%m-%d", os.time() - 6 * 86400),
        ["end"] = options.to and day_after(options.to) or nil }
      local console = open_console(options)
      local app = app_of(console, options[1])
      local rows, order = {}, {}
      local function merge(list, fields)
        for _, item in ipairs(list) do
          local row = rows[item.date]
          if not row then
            row = { date = item.date }
            rows[item.date] = row
            order[#order + 1] = item.date
          end
          for to, from in pairs(fields) do row[to] = item[from] end
        end
      end
      local columns
      if app.mode == "workflow" then
        merge(h.check(console:workflow_daily_conversations(app.id, range)), { runs = "runs" })
        columns = { { "date", "date" }, { "runs", "runs" } }
      else
        merge(h.check(console:daily_messages(app.id, range)), { messages = "message_count" })
        merge(h.check(console:daily_conversations(app.id, range)), { conversations = "conversation_count" })
        merge(h.check(console:daily_end_users(app.id, range)), { end_users = "terminal_count" })
        merge(h.check(console:token_costs(app.id, range)),
          { tokens = "token_count", cost = "total_price", currency = "currency" })
        columns = { { "date", "date" }, { "messages", "messages" }, { "conversations", "conversations" },
          { "end users", "end_users" }, { "tokens", "tokens" }, { "cost", "cost" } }
      end
      table.sort(order)
      if options.json then
        local list = {}
        for i, date in ipairs(order) do list[i] = rows[date] end
        h.out(assert(dify.json.encode(dify.json.array(list))), "\n")
        return
      end
      local widths, lines = {}, {}
      local header = {}
      for i, column in ipairs(columns) do
        header[i] = column[1]
        widths[i] = #column[1]
      end
      for _, date in ipairs(order) do
        local row, cells = rows[date], {}
        for i, column in ipairs(columns) do
          local value = row[column[2]]
          if column[2] == "cost" and value ~= nil then
            value = tostring(value) .. " " .. tostring(row.currency or "")
          end
          if type(value) == "number" and value == math.floor(value) then value = ("%d"):format(value) end
          cells[i] = value == nil and "0" or tostring(value)
          widths[i] = math.max(widths[i], #cells[i])
        end
        lines[#lines + 1] = cells
      end
      local function put(cells)
        local out = {}
        for i, cell in ipairs(cells) do
          out[i] = i == 1 and (cell .. (" "):rep(widths[i] - #cell)) or ((" "):rep(widths[i] - #cell) .. cell)
        end
        h.out(table.concat(out, "  "), "\n")
      end
      if #lines == 0 then
        h.say("no activity from ", range.start, range["end"] and (" to " .. range["end"]) or "", "\n")
        return
      end
      put(header)
      for _, cells in ipairs(lines) do put(cells) end
    end,
  }
end

return console_cli
