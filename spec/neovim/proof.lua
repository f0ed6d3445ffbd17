-- Run inside `nvim --headless` by spec/host_neovim_spec.lua: streams a slow
-- answer (events 50 ms apart) from the fake server while a 10 ms vim.loop
-- timer counts ticks and keys are typed into the current buffer, then
-- writes what it saw to $DIFY_PROOF_OUT and quits.
--   DIFY_PROOF_MODE=task      the answer is read in a dify.spawn task (luv adapter)
--   DIFY_PROOF_MODE=blocking  the same loop on the plain blocking API
-- LUA_PATH / LUA_CPATH point at the repository and build/luajit.
local mode = os.getenv("DIFY_PROOF_MODE")
local out_path = assert(os.getenv("DIFY_PROOF_OUT"))
local uv = vim.loop
local dify = require("dify")

local client = dify.new{ base_url = os.getenv("DIFY_BASE_URL"), api_key = "app-neovim", user = "nvim",
  headers = { ["X-Mock-Fault"] = "drip:50" }, idle_timeout = 10 }
local QUERY = "explain this function to me in twelve short words please now"

local result = { mode = mode, events = 0, answer = {}, ticks = {}, typed = {} }
local ticks = 0
local ticker = uv.new_timer()
ticker:start(10, 10, function() ticks = ticks + 1 end)

-- The user types: one key every 20 ms, in insert mode, into the current buffer.
vim.api.nvim_input("i")
local typist = uv.new_timer()
typist:start(20, 20, function() vim.api.nvim_input("a") end)

local function typed()
  return #(vim.api.nvim_buf_get_lines(0, 0, 1, false)[1] or "")
end

local answer_buf = vim.api.nvim_create_buf(false, true)

local function finish(ok, err)
  ticker:close()
  typist:close()
  local f = assert(io.open(out_path, "w"))
  f:write("ok=", tostring(ok), "\n")
  f:write("error=", tostring(err or ""):gsub("\n", " "), "\n")
  f:write("events=", result.events, "\n")
  f:write("answer=", table.concat(result.answer), "\n")
  f:write("ticks=", table.concat(result.ticks, ","), "\n")
  f:write("typed=", table.concat(result.typed, ","), "\n")
  f:write("buffer=", table.concat(vim.api.nvim_buf_get_lines(answer_buf, 0, -1, false), ""), "\n")
  f:close()
  vim.schedule(function() vim.cmd("qa!") end)
end

local function on_event(ev)
  if ev.event ~= "message" then return end
  result.events = result.events + 1
  result.answer[#result.answer + 1] = ev.answer
  result.ticks[#result.ticks + 1] = ticks
  result.typed[#result.typed + 1] = typed()
  -- A task runs outside luv's fast callbacks: it may write to a buffer.
  local last = vim.api.nvim_buf_line_count(answer_buf) - 1
  local line = vim.api.nvim_buf_get_lines(answer_buf, last, last + 1, false)[1] or ""
  vim.api.nvim_buf_set_lines(answer_buf, last, last + 1, false, { line .. ev.answer })
end

-- Whatever happens, the editor quits.
local watchdog = uv.new_timer()
watchdog:start(20000, 0, function()
  vim.schedule(function() finish(false, "watchdog: no end within 20 s") end)
end)
watchdog:unref()

if mode == "task" then
  require("dify.host.luv").start()
  dify.spawn(function()
    for ev in assert(client:chat_stream{ query = QUERY }) do on_event(ev) end
  end, { on_done = function(ok, err) watchdog:close(); finish(ok, err) end })
  -- The script returns: Neovim's own loop runs the task, the timer and the keys.
else
  local ok, err = pcall(function()
    for ev in assert(client:chat_stream{ query = QUERY }) do on_event(ev) end
  end)
  watchdog:close()
  finish(ok, err)
end
