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
--  * `path_when`: another path to use when the named field is given.
--  * `legacy_path`: the spelling older servers use, tried when the path is not found.
--  * `form_json`: for multipart calls, the form field that carries every other
--    field as one JSON object.
--  * `root`: the path is relative to the server's root rather than the API base.
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

  -- Completion apps
  { name = "complete", method = "POST", path = "/completion-messages", mode = "blocking" },
  { name = "complete_stream", method = "POST", path = "/completion-messages", mode = "streaming",
    stream = true, stop = "stop_completion", terminal = "message_end" },
  { name = "stop_completion", method = "POST", path = "/completion-messages/{task_id}/stop",
    params = { "task_id" } },

  -- Workflow apps
  { name = "run_workflow", method = "POST", path = "/workflows/run", mode = "blocking",
    path_when = { workflow_id = "/workflows/{workflow_id}/run" } },
  { name = "run_workflow_stream", method = "POST", path = "/workflows/run", mode = "streaming",
    path_when = { workflow_id = "/workflows/{workflow_id}/run" },
    stream = true, stop = "stop_workflow", terminal = "workflow_finished" },
  { name = "workflow_events", method = "GET", path = "/workflow/{workflow_run_id}/events",
    params = { "workflow_run_id" }, stream = true, stop = "stop_workflow", terminal = "workflow_finished" },
  { name = "workflow_run", method = "GET", path = "/workflows/run/{workflow_run_id}",
    params = { "workflow_run_id" }, user = false },
  { name = "stop_workflow", method = "POST", path = "/workflows/tasks/{task_id}/stop", params = { "task_id" } },
  { name = "workflow_logs", method = "GET", path = "/workflows/logs", user = false, paging = "page" },

  -- Knowledge base (dataset key; no end user)
  { name = "create_dataset", method = "POST", path = "/datasets", user = false,
    required = { name = "string" } },
  { name = "list_datasets", method = "GET", path = "/datasets", user = false, paging = "page" },
  { name = "get_dataset", method = "GET", path = "/datasets/{dataset_id}", params = { "dataset_id" },
    user = false },
  { name = "update_dataset", method = "PATCH", path = "/datasets/{dataset_id}", params = { "dataset_id" },
    user = false },
  { name = "delete_dataset", method = "DELETE", path = "/datasets/{dataset_id}", params = { "dataset_id" },
    user = false, result = "ok" },

  { name = "create_document_by_text", method = "POST", path = "/datasets/{dataset_id}/document/create-by-text",
    legacy_path = "/datasets/{dataset_id}/document/create_by_text",
    params = { "dataset_id" }, user = false, required = { name = "string", text = "string" } },
  { name = "create_document_by_file", method = "POST", path = "/datasets/{dataset_id}/document/create-by-file",
    legacy_path = "/datasets/{dataset_id}/document/create_by_file",
    params = { "dataset_id" }, user = false, send = "multipart", form_json = "data" },
  { name = "update_document_by_text", method = "POST",
    path = "/datasets/{dataset_id}/documents/{document_id}/update-by-text",
    legacy_path = "/datasets/{dataset_id}/documents/{document_id}/update_by_text",
    params = { "dataset_id", "document_id" }, user = false },
  { name = "update_document_by_file", method = "POST",
    path = "/datasets/{dataset_id}/documents/{document_id}/update-by-file",
    legacy_path = "/datasets/{dataset_id}/documents/{document_id}/update_by_file",
    params = { "dataset_id", "document_id" }, user = false, send = "multipart", form_json = "data" },
  { name = "list_documents", method = "GET", path = "/datasets/{dataset_id}/documents",
    params = { "dataset_id" }, user = false, paging = "page" },
  { name = "get_document", method = "GET", path = "/datasets/{dataset_id}/documents/{document_id}",
    params = { "dataset_id", "document_id" }, user = false },
  { name = "delete_document", method = "DELETE", path = "/datasets/{dataset_id}/documents/{document_id}",
    params = { "dataset_id", "document_id" }, user = false, result = "ok" },
  { name = "get_document_upload_file", method = "GET",
    path = "/datasets/{dataset_id}/documents/{document_id}/upload-file",
    params = { "dataset_id", "document_id" }, user = false },
  { name = "update_document_status", method = "PATCH", path = "/datasets/{dataset_id}/documents/status/{action}",
    params = { "dataset_id", "action" }, user = false },
  { name = "indexing_status", method = "GET", path = "/datasets/{dataset_id}/documents/{batch}/indexing-status",
    params = { "dataset_id", "batch" }, user = false },

  { name = "create_segments", method = "POST", path = "/datasets/{dataset_id}/documents/{document_id}/segments",
    params = { "dataset_id", "document_id" }, user = false, required = { segments = "table" } },
  { name = "list_segments", method = "GET", path = "/datasets/{dataset_id}/documents/{document_id}/segments",
    params = { "dataset_id", "document_id" }, user = false, paging = "page" },
  { name = "get_segment", method = "GET",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    params = { "dataset_id", "document_id", "segment_id" }, user = false },
  { name = "update_segment", method = "POST",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, required = { segment = "table" } },
  { name = "delete_segment", method = "DELETE",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, result = "ok" },
  { name = "create_child_chunk", method = "POST",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, required = { content = "string" } },
  { name = "list_child_chunks", method = "GET",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, paging = "page" },
  { name = "update_child_chunk", method = "PATCH",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    params = { "dataset_id", "document_id", "segment_id", "child_chunk_id" }, user = false },
  { name = "delete_child_chunk", method = "DELETE",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    params = { "dataset_id", "document_id", "segment_id", "child_chunk_id" }, user = false, result = "ok" },

  { name = "create_metadata", method = "POST", path = "/datasets/{dataset_id}/metadata",
    params = { "dataset_id" }, user = false, required = { type = "string", name = "string" } },
  { name = "list_metadata", method = "GET", path = "/datasets/{dataset_id}/metadata",
    params = { "dataset_id" }, user = false },
  { name = "update_metadata", method = "PATCH", path = "/datasets/{dataset_id}/metadata/{metadata_id}",
    params = { "dataset_id", "metadata_id" }, user = false },
  { name = "delete_metadata", method = "DELETE", path = "/datasets/{dataset_id}/metadata/{metadata_id}",
    params = { "dataset_id", "metadata_id" }, user = false, result = "ok" },
  { name = "built_in_metadata", method = "POST", path = "/datasets/{dataset_id}/metadata/built-in/{action}",
    params = { "dataset_id", "action" }, user = false },
  { name = "update_document_metadata", method = "POST", path = "/datasets/{dataset_id}/documents/metadata",
    params = { "dataset_id" }, user = false, required = { operation_data = "table" } },

  { name = "create_tag", method = "POST", path = "/datasets/tags", user = false, required = { name = "string" } },
  { name = "list_tags", method = "GET", path = "/datasets/tags", user = false },
  { name = "update_tag", method = "PATCH", path = "/datasets/tags", user = false,
    required = { tag_id = "string", name = "string" } },
  { name = "delete_tag", method = "DELETE", path = "/datasets/tags", user = false,
    required = { tag_id = "string" }, result = "ok" },
  { name = "bind_tags", method = "POST", path = "/datasets/tags/binding", user = false,
    required = { tag_ids = "table", target_id = "string" }, result = "ok" },
  { name = "unbind_tag", method = "POST", path = "/datasets/tags/unbinding", user = false,
    required = { tag_id = "string", target_id = "string" }, result = "ok" },
  { name = "get_dataset_tags", method = "GET", path = "/datasets/{dataset_id}/tags",
    params = { "dataset_id" }, user = false },

  { name = "retrieve", method = "POST", path = "/datasets/{dataset_id}/retrieve", params = { "dataset_id" },
    user = false, required = { query = "string" } },
  { name = "list_embedding_models", method = "GET", path = "/workspaces/current/models/model-types/text-embedding",
    user = false },

  -- Health: GET on the server's root, outside the API prefix.
  { name = "probe", method = "GET", path = "/", root = true, user = false, result = "version" },
}

local by_name = {}
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate route " .. route.name)
  route.params = route.params or {}
  route.fixed_path = not route.path:find("{", 1, true) and route.path_when == nil
  route.required_list = {}
  for name, kind in pairs(route.required or {}) do
    table.insert(route.required_list, name)
    table.insert(route.required_list, kind)
  end
  route.send = route.send or (route.method == "GET" and "query" or "json")
  route.result = route.result or "json"
  route.user = route.user ~= false
  by_name[route.name] = route
end

return { list = routes, by_name = by_name }
