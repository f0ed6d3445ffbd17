--- A Neovim plugin on lua-dify: the answer streams into a buffer while the
-- editor stays responsive. The stream is read in a dify.spawn task; the luv
-- adapter wakes it only when its socket or timer is ready, and runs it
-- outside luv's fast callbacks, so the task may write to buffers.
local dify = require("dify")

local M = {
  config = {
    base_url = os.getenv("DIFY_BASE_URL"),
    api_key = os.getenv("DIFY_API_KEY"),
    user = "neovim",
    headers = nil, -- extra request headers
  },
  task = nil, -- the answer being streamed
  buffer = nil, -- where it goes
  conversation_id = nil, -- so that the next question follows on
}

local client

--- Changes the settings (base_url, api_key, user, headers); the next question uses them.
function M.setup(opts)
  for k, v in pairs(opts or {}) do M.config[k] = v end
  client = nil
end

-- Appends text (which may hold newlines) at the end of buf.
local function append(buf, text)
  if not vim.api.nvim_buf_is_valid(buf) then return end
  local last = vim.api.nvim_buf_line_count(buf) - 1
  local line = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1] or ""
  local lines = vim.split(line .. text, "\n", { plain = true })
  vim.api.nvim_buf_set_lines(buf, last, last + 1, false, lines)
end

local function answer_window()
  vim.cmd("botright 12new")
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "markdown"
  vim.cmd("wincmd p") -- back where the user was typing
  return buf
end

--- Asks Dify; the answer streams into a new scratch window.
function M.ask(question)
  if not client then
    client = dify.new{ base_url = M.config.base_url, api_key = M.config.api_key, user = M.config.user,
      headers = M.config.headers }
  end
  require("dify.host.luv").start() -- once per Neovim; later calls return the same adapter
  M.stop()
  local buf = answer_window()
  M.buffer = buf
  local task
  task = dify.spawn(function()
    local stream = assert(client:chat_stream{ query = question, conversation_id = M.conversation_id })
    for ev in stream do
      if ev.event == "message" or ev.event == "agent_message" then append(buf, ev.answer) end
    end
    M.conversation_id = stream.conversation_id
  end, {
    on_done = function(ok, err)
      if M.task == task then M.task = nil end
      if not ok and not (type(err) == "table" and err.kind == "cancelled") then
        append(buf, "\n\n[error] " .. tostring(err))
        vim.notify("DifyChat: " .. tostring(err), vim.log.levels.ERROR)
      end
    end,
  })
  M.task = task
  -- Closing the window stops the stream.
  vim.api.nvim_create_autocmd("BufWipeout", { buffer = buf, once = true, callback = function()
    if M.task == task then M.stop() end
  end })
  return task
end

--- Stops the answer being streamed (its connection closes at once).
function M.stop()
  local task = M.task
  M.task = nil
  if task then task:cancel() end
end

return M
