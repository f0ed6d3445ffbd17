--- The `dify` command: chat, upload, run-workflow, conversations and tts
-- from a shell. `bin/dify` calls `main(arg)` and exits with its result.
--
-- Exit codes: 0 done; 1 Dify refused or failed the request; 2 bad command
-- line; 3 not configured (no `DIFY_API_KEY`, or the library lacks the call);
-- 4 a local file could not be read or written; 5 Dify could not be reached
-- (network, TLS, timeout); 6 the run paused for a person (a Human Input
-- node: its form is printed on stderr); 130 interrupted by Ctrl-C.
-- @module dify.cli
local dify = require("dify")
local args = require("dify.cli.args")
local progress = require("dify.cli.progress")

local cli = {}

--- Exit codes by name.
cli.EXIT = { ok = 0, failed = 1, usage = 2, config = 3, io = 4, unreachable = 5, paused = 6, interrupted = 130 }

local EXIT_BY_KIND = {
  api = cli.EXIT.failed, http = cli.EXIT.failed, decode = cli.EXIT.failed, protocol = cli.EXIT.failed,
  io = cli.EXIT.io, network = cli.EXIT.unreachable, timeout = cli.EXIT.unreachable,
  tls = cli.EXIT.unreachable,
}

local GLOBAL_OPTIONS = {
  ["--base-url"] = { key = "base_url", value = true },
  ["--user"] = { key = "user", value = true },
  ["--timeout"] = { key = "timeout", value = true },
  ["-H"] = { key = "header", value = true, list = true },
  ["--header"] = { key = "header", value = true, list = true },
  ["-h"] = { key = "help" },
  ["--help"] = { key = "help" },
}

local GLOBAL_HELP = [[
Global options (any command):
  --base-url URL    Dify API base URL (default: $DIFY_BASE_URL, else https://api.dify.ai/v1)
  --user ID         end-user id sent to Dify (default: $DIFY_USER, else "dify-cli")
  --timeout S       seconds for a whole blocking call (default 60)
  -H, --header 'Name: value'   an extra request header (repeatable)
  -h, --help        this help
The API key is read from $DIFY_API_KEY only (never from the command line).]]

local USAGE = [[
Usage: dify <command> [options] [arguments]

Commands:
  chat TEXT              stream a chat app's answer to TEXT
  upload FILE            upload a file; prints its id
  run-workflow -i k=v    run a workflow app, stream its output
  conversations          list the user's conversations
  tts TEXT -o FILE       turn TEXT into speech, written to FILE
  login                  log in to the Dify console (asks for the password)
  apps                   list the workspace's apps
  keys list|create|delete APP   an app's API keys
  stats APP              an app's daily statistics (--from, --to, --json)
  logout                 log out of the console
  help [COMMAND]         this text, or a command's help

Run "dify COMMAND --help" for a command's options.

]] .. GLOBAL_HELP .. [[


Exit codes: 0 done, 1 Dify refused or failed the request, 2 bad command line,
3 not configured (no DIFY_API_KEY), 4 local file error, 5 Dify unreachable
(network, TLS, timeout), 6 the run paused for a person (a Human Input form,
printed on stderr; answer it with client:submit_human_input_form),
130 interrupted (Ctrl-C).
]]

local commands = {}

-- Output streams; tests of main() may replace them.
cli.stdout, cli.stderr = io.stdout, io.stderr

-- True while the answer's last line on stdout has no newline yet, so that a
-- message on stderr starts on a line of its own.
local line_open = false

local function write_text(text)
  cli.stdout:write(text)
  cli.stdout:flush()
  if text ~= "" then line_open = text:sub(-1) ~= "\n" end
end

local function end_line()
  if line_open then write_text("\n") end
end

local function say(...)
  end_line()
  cli.stderr:write(...)
end

local Failure = {}

-- Ends the command with an exit code (and a message on stderr).
local function fail(code, message)
  error(setmetatable({ code = code, message = message }, Failure), 0)
end

local function check(result, err)
  if result == nil and err ~= nil then
    fail(EXIT_BY_KIND[err.kind] or cli.EXIT.failed, tostring(err))
  end
  return result, err
end

local function shell_ok(command)
  local ok, _, code = os.execute(command)
  if type(ok) == "number" then return ok == 0 end -- Lua 5.1 and LuaJIT
  return ok == true and (code == nil or code == 0)
end

local function is_tty(fd)
  return shell_ok("test -t " .. fd)
end

local function timeout_of(options)
  local timeout = options.timeout and tonumber(options.timeout)
  if options.timeout and not timeout then args.usage_error("--timeout needs a number of seconds") end
  return timeout
end

-- Hands each item of every page of a list call to show; a failed page ends the command.
local function each_item(client, method, params, show)
  local ok, err = pcall(function()
    for item in client:each(method, params) do show(item) end
  end)
  if not ok then
    if dify.errors.is(err) then check(nil, err) end
    error(err, 0)
  end
end

local function make_client(options)
  local api_key = os.getenv("DIFY_API_KEY")
  if api_key == nil or api_key == "" then
    fail(cli.EXIT.config, "DIFY_API_KEY is not set (the app's API key, app-...)")
  end
  local headers = {}
  for _, line in ipairs(options.header or {}) do
    local name, value = line:match("^([^:%s]+):%s*(.*)$")
    if not name then args.usage_error("-H expects 'Name: value', got " .. line) end
    headers[name] = value
  end
  return dify.new{
    base_url = options.base_url,
    api_key = api_key,
    user = options.user or os.getenv("DIFY_USER") or "dify-cli",
    timeout = timeout_of(options),
    headers = headers,
  }
end

local function text_argument(options, what)
  if #options == 0 then
    if is_tty(0) then args.usage_error("give " .. what .. " as an argument or on standard input") end
    return (io.read("*a"):gsub("%s+$", ""))
  end
  return table.concat(options, " ")
end

local function write_json_line(value)
  cli.stdout:write(assert(dify.json.encode(value)), "\n")
  cli.stdout:flush()
end

-- A run that paused on a Human Input node: say so, show each form, and end
-- with the exit code kept for it.
local function report_pause(stream)
  local paused = stream.paused
  if not paused then return end
  say("dify: the run paused for a person (workflow run ", tostring(stream.workflow_run_id), ")\n")
  for _, form in ipairs(stream.forms) do
    say("form ", tostring(form.node_title or form.node_id or ""), " (form_token ", tostring(form.form_token), "):\n")
    if type(form.form_content) == "string" then say(form.form_content, "\n") end
    local actions = {}
    for _, action in ipairs(type(form.actions) == "table" and form.actions or form.user_actions or {}) do
      actions[#actions + 1] = tostring(action.id) .. (action.title and (" (" .. tostring(action.title) .. ")") or "")
    end
    if #actions > 0 then say("actions: ", table.concat(actions, ", "), "\n") end
  end
  fail(cli.EXIT.paused)
end

local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil
end

-- Runs each event of a stream through on_event. Ctrl-C closes the stream
-- (and with stop_on_interrupt first asks Dify to stop the run).
local function drive_stream(stream, options, on_event)
  local ok, err = pcall(function()
    for ev in stream.next, stream do on_event(ev) end
  end)
  if ok then return end
  if is_interrupt(err) then
    if options.stop_on_interrupt then
      local stopped, stop_err = stream:stop()
      say("dify: interrupted; ", stopped and "asked Dify to stop the run" or
        ("could not stop the run: " .. tostring(stop_err)), "\n")
    else
      stream:close()
      say("dify: interrupted\n")
    end
    fail(cli.EXIT.interrupted)
  end
  stream:close()
  if dify.errors.is(err) then check(nil, err) end
  error(err, 0)
end

-- The chat command.

commands.chat = {
  summary = "stream a chat app's answer",
  usage = [[
Usage: dify chat [options] TEXT...

Streams the answer of a chat, agent or chatflow app to standard output as it
is written; the conversation id goes to standard error ("conversation: ID"),
ready for -c. Without TEXT, the question is read from standard input.

Options:
  -c, --conversation ID   continue that conversation
  -i, --input key=value   an app input (repeatable; key:=JSON for a JSON value)
  --json                  print every event as one JSON line (NDJSON) instead
  --stop-on-interrupt     on Ctrl-C, ask Dify to stop the run (else only hang up)]],
  options = {
    ["-c"] = { key = "conversation", value = true },
    ["--conversation"] = { key = "conversation", value = true },
    ["-i"] = { key = "input", value = true, list = true },
    ["--input"] = { key = "input", value = true, list = true },
    ["--json"] = { key = "json" },
    ["--stop-on-interrupt"] = { key = "stop_on_interrupt" },
  },
  run = function(options)
    local query = text_argument(options, "the question")
    if query == "" then args.usage_error("the question is empty") end
    local inputs = args.inputs(options.input, dify.json.decode)
    local client = make_client(options)
    local stream = check(client:chat_stream{
      query = query, inputs = inputs, conversation_id = options.conversation,
    })
    local shown = {} -- the answer as printed so far
    drive_stream(stream, options, function(ev)
      if options.json then return write_json_line(ev) end
      if type(ev.answer) ~= "string" then return end
      if ev.event == "agent_message" then
        shown.agent = true
      elseif ev.event == "message" and shown.agent then
        -- A New Agent app's closing message is the whole answer, already shown in chunks.
        shown.agent = false
        if ev.answer == table.concat(shown) then return end
        shown = {}
        end_line()
      elseif ev.event == "message_replace" then
        shown = {}
        end_line()
      elseif ev.event ~= "message" then
        return
      end
      shown[#shown + 1] = ev.answer
      write_text(ev.answer)
    end)
    if not options.json then
      end_line()
      if stream.conversation_id then say("conversation: ", stream.conversation_id, "\n") end
    end
    report_pause(stream)
  end,
}

-- The upload command.

commands.upload = {
  summary = "upload a file",
  usage = [[
Usage: dify upload [options] FILE

Uploads FILE for use in a chat (files=...) and prints its id. On a terminal,
a progress bar is drawn on standard error.

Options:
  --mime-type TYPE   the file's media type (default: guessed from its name)
  --json             print the whole file object as JSON]],
  options = {
    ["--mime-type"] = { key = "mime_type", value = true },
    ["--json"] = { key = "json" },
  },
  run = function(options)
    if #options ~= 1 then args.usage_error("upload takes exactly one FILE") end
    local path = options[1]
    local file = io.open(path, "rb")
    if not file then fail(cli.EXIT.io, "cannot read " .. path) end
    file:close()
    local client = make_client(options)
    local on_progress, finish
    if is_tty(2) then
      on_progress, finish = progress.bar(cli.stderr, path:match("[^/]+$"))
    end
    local uploaded, err = client:upload_file{
      path = path, mime_type = options.mime_type,
      on_progress = on_progress and function(sent, total) on_progress(sent, total) end,
    }
    if finish then finish() end
    check(uploaded, err)
    if options.json then
      write_json_line(uploaded)
    else
      cli.stdout:write(tostring(uploaded.id), "\n")
    end
  end,
}

-- The run-workflow command.

commands["run-workflow"] = {
  summary = "run a workflow app",
  usage = [[
Usage: dify run-workflow [options]

Runs a workflow app with the given inputs and streams its text output
(text_chunk events) to standard output; when the workflow streams no text,
its outputs are printed as JSON at the end. Fails (exit 1) when the run does.

Options:
  -i, --input key=value   an input (repeatable; key:=JSON for a JSON value)
  --json                  print every event as one JSON line (NDJSON) instead
  --stop-on-interrupt     on Ctrl-C, ask Dify to stop the run (else only hang up)]],
  options = {
    ["-i"] = { key = "input", value = true, list = true },
    ["--input"] = { key = "input", value = true, list = true },
    ["--json"] = { key = "json" },
    ["--stop-on-interrupt"] = { key = "stop_on_interrupt" },
  },
  run = function(options)
    if #options > 0 then args.usage_error("run-workflow takes no arguments; give inputs with -i key=value") end
    local inputs = args.inputs(options.input, dify.json.decode)
    local client = make_client(options)
    if type(client.run_workflow_stream) ~= "function" then
      fail(cli.EXIT.config, "this lua-dify has no workflow calls (client:run_workflow_stream)")
    end
    local stream = check(client:run_workflow_stream{ inputs = inputs })
    local wrote_text, finished = false, nil
    drive_stream(stream, options, function(ev)
      if ev.event == "workflow_finished" then finished = ev end
      if options.json then return write_json_line(ev) end
      local data = type(ev.data) == "table" and ev.data or {}
      if ev.event == "text_chunk" and type(data.text) == "string" then
        write_text(data.text)
        wrote_text = true
      end
    end)
    report_pause(stream)
    local data = finished and type(finished.data) == "table" and finished.data or {}
    if not options.json then
      if wrote_text then
        end_line()
      elseif data.outputs ~= nil then
        write_json_line(data.outputs)
      end
    end
    if data.status ~= nil and data.status ~= "succeeded" then
      local why = data.error ~= nil and data.error ~= dify.null and (": " .. tostring(data.error)) or ""
      fail(cli.EXIT.failed, "the workflow run " .. tostring(data.status) .. why)
    end
  end,
}

-- The conversations command.

local function iso_time(seconds)
  if type(seconds) ~= "number" then return "-" end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(seconds))
end

commands.conversations = {
  summary = "list conversations",
  usage = [[
Usage: dify conversations [options]

Lists the user's conversations, newest first: id, last update (UTC) and
name, tab-separated.

Options:
  --limit N   at most N conversations (default 20)
  --all       every conversation, page after page
  --json      one JSON object a line (NDJSON)]],
  options = {
    ["--limit"] = { key = "limit", value = true },
    ["--all"] = { key = "all" },
    ["--json"] = { key = "json" },
  },
  run = function(options)
    if #options > 0 then args.usage_error("conversations takes no arguments") end
    local limit = tonumber(options.limit or 20)
    if not limit or limit < 1 or limit ~= math.floor(limit) then
      args.usage_error("--limit needs a whole number >= 1")
    end
    local client = make_client(options)
    local function show(conversation)
      if options.json then return write_json_line(conversation) end
      cli.stdout:write(("%s\t%s\t%s\n"):format(tostring(conversation.id),
        iso_time(conversation.updated_at or conversation.created_at), tostring(conversation.name or "")))
    end
    if options.all then
      each_item(client, "conversations", { limit = math.min(limit, 100) }, show)
    else
      local page = check(client:conversations{ limit = limit })
      for _, conversation in ipairs(page.data or {}) do show(conversation) end
    end
  end,
}

-- The tts command.

commands.tts = {
  summary = "text to speech",
  usage = [[
Usage: dify tts [options] -o FILE TEXT...

Turns TEXT into speech with the app's voice and writes the audio to FILE
(written beside it and renamed when complete). "-o -" writes to standard output.

Options:
  -o, --output FILE   where the audio goes (required)
  --voice NAME        the voice (default: the app's)
  --message-id ID     speak that message's answer instead of TEXT]],
  options = {
    ["-o"] = { key = "output", value = true },
    ["--output"] = { key = "output", value = true },
    ["--voice"] = { key = "voice", value = true },
    ["--message-id"] = { key = "message_id", value = true },
  },
  run = function(options)
    if not options.output then args.usage_error("tts needs -o FILE") end
    local text
    if not options.message_id then
      text = text_argument(options, "the text")
      if text == "" then args.usage_error("the text is empty") end
    end
    local client = make_client(options)
    local request = { text = text, message_id = options.message_id, voice = options.voice }
    if options.output == "-" then
      request.output = function(chunk) cli.stdout:write(chunk) end
      check(client:text_to_audio(request))
      cli.stdout:flush()
      return
    end
    request.output = options.output
    check(client:text_to_audio(request))
    local file = io.open(options.output, "rb")
    local size = file and file:seek("end") or 0
    if file then file:close() end
    say(("wrote %s (%d bytes)\n"):format(options.output, size))
  end,
}

-- The console commands (login, logout, apps, keys, stats): dify.cli.console.
require("dify.cli.console").register(commands, {
  fail = fail, check = check, say = say, write_json_line = write_json_line, is_tty = is_tty, EXIT = cli.EXIT,
  shell_ok = shell_ok, timeout_of = timeout_of, each_item = each_item,
  out = function(...) cli.stdout:write(...) end,
})

-- Dispatch.

local function merged_options(command)
  local spec = {}
  for k, v in pairs(GLOBAL_OPTIONS) do spec[k] = v end
  for k, v in pairs(command.options or {}) do spec[k] = v end
  return spec
end

local function help_text(name)
  local command = commands[name]
  if not command then return USAGE end
  return command.usage .. "\n\n" .. GLOBAL_HELP .. "\n"
end

--- Runs the command line; returns the exit code.
-- @tparam table argv the words after the script name
-- @treturn number the exit code (see `EXIT`)
function cli.main(argv)
  local name = argv[1]
  if name == nil or name == "-h" or name == "--help" then
    (name and cli.stdout or cli.stderr):write(USAGE)
    return name and cli.EXIT.ok or cli.EXIT.usage
  end
  if name == "--version" then
    cli.stdout:write("dify (lua-dify ", dify._VERSION, ")\n")
    return cli.EXIT.ok
  end
  if name == "help" then
    cli.stdout:write(help_text(argv[2]))
    return cli.EXIT.ok
  end
  local command = commands[name]
  if not command then
    say("dify: unknown command ", name, "\n\n", USAGE)
    return cli.EXIT.usage
  end

  local rest = {}
  for i = 2, #argv do rest[#rest + 1] = argv[i] end
  local ok, err = pcall(function()
    local options = args.parse(rest, merged_options(command))
    if options.help then
      cli.stdout:write(help_text(name))
      return
    end
    command.run(options)
  end)
  cli.stdout:flush()
  if ok then return cli.EXIT.ok end
  if getmetatable(err) == Failure then
    if err.message then say("dify: ", err.message, "\n") end
    return err.code
  end
  if args.is_usage_error(err) then
    say("dify ", name, ": ", err.message, "\n(see: dify ", name, " --help)\n")
    return cli.EXIT.usage
  end
  if is_interrupt(err) then
    say("dify: interrupted\n")
    return cli.EXIT.interrupted
  end
  -- The library raises on a caller mistake (an argument it cannot send).
  say("dify ", name, ": ", tostring(err), "\n")
  return cli.EXIT.usage
end

return cli
