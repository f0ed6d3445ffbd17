--- Every Service API call, as data: one line a route.
--
-- Fields of a route:
--  * `name`: the client method; `method`, `path` (with `{field}` segments).
--  * `params`: names of the positional arguments, in order; a further table
--    argument holds the other fields. Fields named in `path` fill it.
--  * `send`: where the remaining fields go: "json" (default for POST, PUT,
--    PATCH, DELETE), "query" (default for GET), "multipart".
--  * `stream`: "blocking" or "streaming" fills `response_mode`; `stream = true`
--    makes the call return an event stream.
--  * `required`: fields that must be present, with their Lua type.
--  * `user`: false when the route takes no end-user id.
--  * `nulls`: fields sent as JSON null when absent.
--  * `result`: "json" (default), "data" (the `data` list), "ok" (true),
--    "bytes" (the raw body, or written to `output`), "file" (bytes or
--    `output`, and the content type).
--  * `paging`: how `client:each` walks it: "last_id", "first_id" or "page".
--  * `stop`: for streams, the route that stops the run; `terminal`: the event
--    that ends it.
-- @module dify.routes

local routes = {
  -- Chat apps (chat, agent, chatflow)
  { name = "chat", method = "POST", path = "/chat-messages", mode = "blocking",
    required = { query = "string" } },
  { name = "chat_stream", method = "POST", path = "/chat-messages", mode = "streaming",
    stream = true, required = { query = "string" }, stop = "stop", terminal = "message_end" },
  { name = "stop", method = "POST", path = "/chat-messages/{task_id}/stop", params = { "task_id" } },
  { name = "feedback", method = "POST", path = "/messages/{message_id}/feedbacks",
    params = { "message_id" }, nulls = { "rating" } },
  { name = "messages", method = "GET", path = "/messages",
    required = { conversation_id = "string" }, paging = "first_id" },
  { name = "suggested", method = "GET", path = "/messages/{message_id}/suggested",
    params = { "message_id" }, result = "data" },
  { name = "app_feedbacks", method = "GET", path = "/app/feedbacks", paging = "page" },
  { name = "conversation_variables", method = "GET", path = "/conversations/{conversation_id}/variables",
    params = { "conversation_id" }, paging = "last_id" },
  { name = "update_conversation_variable", method = "PUT",
    path = "/conversations/{conversation_id}/variables/{variable_id}",
    params = { "conversation_id", "variable_id", "value" } },
  { name = "conversations", method = "GET", path = "/conversations", paging = "last_id" },
  { name = "delete_conversation", method = "DELETE", path = "/conversations/{conversation_id}",
    params = { "conversation_id" }, result = "ok" },
  { name = "rename_conversation", method = "POST", path = "/conversations/{conversation_id}/name",
    params = { "conversation_id" } },
  { name = "text_to_audio", method = "POST", path = "/text-to-audio", result = "bytes" },
  { name = "audio_to_text", method = "POST", path = "/audio-to-text", send = "multipart" },
  { name = "parameters", method = "GET", path = "/parameters" },
  { name = "info", method = "GET", path = "/info" },
  { name = "meta", method = "GET", path = "/meta" },
  { name = "site", method = "GET", path = "/site" },
  { name = "upload_file", method = "POST", path = "/files/upload", send = "multipart" },
  { name = "file_preview", method = "GET", path = "/files/{file_id}/preview",
    params = { "file_id" }, result = "file" },

  -- Annotations (app key, no end user)
  { name = "annotations", method = "GET", path = "/apps/annotations", user = false, paging = "page" },
  { name = "create_annotation", method = "POST", path = "/apps/annotations", user = false,
    required = { question = "string", answer = "string" } },
  { name = "update_annotation", method = "PUT", path = "/apps/annotations/{annotation_id}",
    params = { "annotation_id" }, user = false },
  { name = "delete_annotation", method = "DELETE", path = "/apps/annotations/{annotation_id}",
    params = { "annotation_id" }, user = false, result = "ok" },
  { name = "annotation_reply", method = "POST", path = "/apps/annotation-reply/{action}",
    params = { "action" }, user = false },
  { name = "annotation_reply_status", method = "GET",
    path = "/apps/annotation-reply/{action}/status/{job_id}", params = { "action", "job_id" },
    user = false },
}

local by_name = {}
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate route " .. route.name)
  route.params = route.params or {}
  route.send = route.send or (route.method == "GET" and "query" or "json")
  route.result = route.result or "json"
  route.user = route.user ~= false
  by_name[route.name] = route
end

return { list = routes, by_name = by_name }
