-- Starts a conversation, continues it, then walks the history and the list.
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local first = assert(client:chat{ query = "Remember the number 7." })
local conversation_id = first.conversation_id
assert(client:chat{ query = "Which number was it?", conversation_id = conversation_id })
assert(client:rename_conversation(conversation_id, { name = "Numbers" }))

print("history:")
for message in client:each("messages", { conversation_id = conversation_id }) do
  print("  you: " .. message.query)
  print("  app: " .. message.answer)
end

print("conversations:")
for conversation in client:each("conversations", { limit = 20 }) do
  print("  " .. conversation.id .. "  " .. tostring(conversation.name))
end

assert(client:feedback(first.message_id, { rating = "like" }))
local suggestions = client:suggested(first.message_id)
if suggestions then print("suggested: " .. table.concat(suggestions, " | ")) end
assert(client:delete_conversation(conversation_id))
print("deleted " .. conversation_id)
