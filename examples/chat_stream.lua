-- Streams a chat answer to the terminal as it is written.
--   DIFY_BASE_URL=... DIFY_API_KEY=app-... lua5.4 examples/chat_stream.lua "your question"
local dify = require("dify")

local client = dify.new{ user = "example-user" }
local question = arg[1] or "What can you do?"

local stream = assert(client:chat_stream{ query = question })
for ev in stream do
  if ev.event == "message" or ev.event == "agent_message" then
    io.write(ev.answer)
    io.flush()
  elseif ev.event == "message_end" then
    local usage = ev.metadata and ev.metadata.usage
    io.write("\n")
    if usage then print(("[%d tokens, conversation %s]"):format(usage.total_tokens, ev.conversation_id)) end
  end
end
