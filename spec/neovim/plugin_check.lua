-- Run inside `nvim --headless` by spec/host_neovim_spec.lua, after
-- examples/neovim is put on the runtimepath: asks :DifyChat a question whose
-- answer drips (50 ms between events) while keys are typed into the buffer
-- the user was in, and writes what it saw to $DIFY_PROOF_OUT.
local uv = vim.loop
local out_path = assert(os.getenv("DIFY_PROOF_OUT"))
local chat = require("dify_chat")
chat.setup{ headers = { ["X-Mock-Fault"] = "drip:50" } }

local typing_buf = vim.api.nvim_get_current_buf()
local function typed() return #(vim.api.nvim_buf_get_lines(typing_buf, 0, 1, false)[1] or "") end

vim.cmd("DifyChat what does this plugin do")
local task, answer_buf = chat.task, chat.buffer

vim.api.nvim_input("i")
local typist = uv.new_timer()
typist:start(20, 20, function() vim.api.nvim_input("a") end)

local typed_first
local function finish(ok, why)
  typist:close()
  local f = assert(io.open(out_path, "w"))
  f:write("ok=", tostring(ok), "\n", "error=", tostring(why or ""):gsub("\n", " "), "\n")
  f:write("buffer=", table.concat(vim.api.nvim_buf_get_lines(answer_buf, 0, -1, false), ""), "\n")
  f:write("typed_during=", tostring(typed() - (typed_first or typed())), "\n")
  f:close()
  vim.cmd("qa!")
end

local checker = uv.new_timer()
local started = uv.now()
checker:start(5, 5, vim.schedule_wrap(function()
  if checker:is_closing() then return end
  if not typed_first and (vim.api.nvim_buf_get_lines(answer_buf, 0, 1, false)[1] or "") ~= "" then
    typed_first = typed()
  end
  if task:done() or uv.now() - started > 20000 then
    checker:close()
    if task:done() then
      finish(task:result())
    else
      finish(false, "no end within 20 s")
    end
  end
end))
