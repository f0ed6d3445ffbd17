-- :DifyChat {question}   streams Dify's answer into a scratch window; with a
--                        range (:'<,'>DifyChat ...) the selected lines go along
-- :DifyChatStop          stops the answer being streamed
-- The work is in lua/dify_chat/init.lua; configure it with
-- require("dify_chat").setup{ base_url = ..., api_key = ..., user = ... }.
if vim.g.loaded_dify_chat then return end
vim.g.loaded_dify_chat = true

vim.api.nvim_create_user_command("DifyChat", function(cmd)
  local question = cmd.args
  if cmd.range > 0 then
    local lines = vim.api.nvim_buf_get_lines(0, cmd.line1 - 1, cmd.line2, false)
    question = question .. "\n\n" .. table.concat(lines, "\n")
  end
  require("dify_chat").ask(question)
end, { nargs = "+", range = true, desc = "Ask Dify; the answer streams into a scratch window" })

vim.api.nvim_create_user_command("DifyChatStop", function()
  require("dify_chat").stop()
end, { desc = "Stop the Dify answer being streamed" })
