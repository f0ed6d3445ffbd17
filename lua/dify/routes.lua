--- Every Service API call, as data: one line a route.
--
-- Fields of a route:
--  * `name`: the client method; `method`, `path` (with `{field}` segments).
--  * `params`: names of the positional arguments, in order; a further table
--    argument holds the other fields. Fields named in `path` fill it.
--  * `send`: where the remaining fields go: "json" (default for POST, PUT,
--    PATCH, DELETE), "query" (default for GET), "multipart", or "none" (the
--    route takes no body: any further fields go in the query string).
--  * `mode`: "blocking" or "streaming" fills `response_mode`; `stream = true`
--    makes the call return an event stream.
--  * `inputs`: `inputs` is always sent (as `{}` when absent); implied by `mode`.
--  * `required`: fields that must be present, with their Lua type;
--    `required_one`: fields of which at least one must be present.
--  * `one_of`: fields whose value must be one of a list; `pattern`: fields
--    (path segments) that must match a Lua pattern.
--  * `user`: true (default) when Dify requires the end-user id, "optional"
--    when it is sent only if known, false when the route takes none.
--  * `nulls`: fields sent as JSON null when absent; `omit_false`: fields left
--    out when false (servers that read any value as true).
--  * `result`: "json" (default), "data" (the `data` list), "ok" (true),
--    "bytes" (the raw body, or written to `output`), "file" (bytes or
--    `output`, and the content type), "version" (the probe's answer).
--  * `paging`: how `client:each` walks it: "last_id", "first_id", "page"
--    (while `has_more`), "page_full" (while a page is full: no `has_more`)
--    or "total_pages" (while `page < total_pages`).
--  * `stop`: for streams, the route that stops the run; `terminal`: the event
--    that ends it (false: the stream may end after any event); `also_ends`:
--    other events that end it normally (a paused run's `workflow_paused`);
--    `error_event`: an event raised as an error, beside Dify's `error`.
--  * `path_when`: another path to use when the named field is given.
--  * `legacy_path`: the spelling older servers use, tried when the path is not found.
--  * `form_json`: for multipart calls, the form field that carries every other
--    field as one JSON object; `file_optional`: the file part may be left out.
--  * `no_auth`: sent without the API key; `fallback_root`: on a 404, asked
--    again at the server's root.
--  * `since`: the first Dify version with the route; when a server answers
--    that the route is unknown (404 page, 405), the error says so.
-- @module dify.routes

local routes = {
  -- Chat apps (chat, agent, chatflow)
  { name = "chat", method = "POST", path = "/chat-messages", mode = "blocking",
    required = { query = "string" } },
  { name = "chat_stream", method = "POST", path = "/chat-messages", mode = "streaming",
    stream = true, required = { query = "string" }, stop = "stop", terminal = "message_end",
    -- A chatflow's stream may end at its workflow_finished (Dify 1.13.0, stops,
    -- failures) or at workflow_paused (a Human Input node): both are its end.
    also_ends = { "workflow_finished", "workflow_paused" } },
  { name = "stop", method = "POST", path = "/chat-messages/{task_id}/stop", params = { "task_id" } },
  { name = "feedback", method = "POST", path = "/messages/{message_id}/feedbacks",
    params = { "message_id" }, nulls = { "rating" } },
  { name = "messages", method = "GET", path = "/messages", user = "optional",
    required = { conversation_id = "string" }, paging = "first_id" },
  { name = "suggested", method = "GET", path = "/messages/{message_id}/suggested",
    params = { "message_id" }, result = "data" },
  { name = "app_feedbacks", method = "GET", path = "/app/feedbacks", user = false, paging = "page_full" },
  { name = "conversation_variables", method = "GET", path = "/conversations/{conversation_id}/variables",
    params = { "conversation_id" }, user = "optional", paging = "last_id" },
  { name = "update_conversation_variable", method = "PUT",
    path = "/conversations/{conversation_id}/variables/{variable_id}",
    params = { "conversation_id", "variable_id", "value" }, user = "optional" },
  { name = "conversations", method = "GET", path = "/conversations", user = "optional", paging = "last_id" },
  { name = "delete_conversation", method = "DELETE", path = "/conversations/{conversation_id}",
    params = { "conversation_id" }, user = "optional", result = "ok" },
  { name = "rename_conversation", method = "POST", path = "/conversations/{conversation_id}/name",
    params = { "conversation_id" }, user = "optional",
    -- Dify needs a name unless it is to make one up itself.
    required_one = { name = "string", auto_generate = "boolean" } },
  { name = "text_to_audio", method = "POST", path = "/text-to-audio", user = "optional", result = "bytes" },
  { name = "audio_to_text", method = "POST", path = "/audio-to-text", user = "optional", send = "multipart" },
  { name = "parameters", method = "GET", path = "/parameters", user = false },
  { name = "info", method = "GET", path = "/info", user = false },
  { name = "meta", method = "GET", path = "/meta", user = false },
  { name = "site", method = "GET", path = "/site", user = false },
  { name = "upload_file", method = "POST", path = "/files/upload", user = "optional", send = "multipart" },
  { name = "file_preview", method = "GET", path = "/files/{file_id}/preview",
    params = { "file_id" }, user = "optional", result = "file", omit_false = { "as_attachment" } },
  { name = "end_user", since = "1.13.0", method = "GET", path = "/end-users/{end_user_id}", params = { "end_user_id" },
    user = false },
  { name = "human_input_form", since = "1.14.0", method = "GET", path = "/form/human_input/{form_token}",
    params = { "form_token" }, user = false },
  { name = "submit_human_input_form", since = "1.14.0", method = "POST", path = "/form/human_input/{form_token}",
    params = { "form_token" }, required = { inputs = "table", action = "string" } },

  -- Annotations (app key, no end user)
  { name = "annotations", method = "GET", path = "/apps/annotations", user = false, paging = "page" },
  { name = "create_annotation", method = "POST", path = "/apps/annotations", user = false,
    required = { question = "string", answer = "string" } },
  { name = "update_annotation", method = "PUT", path = "/apps/annotations/{annotation_id}",
    params = { "annotation_id" }, user = false, required = { question = "string", answer = "string" } },
  { name = "delete_annotation", send = "none", method = "DELETE", path = "/apps/annotations/{annotation_id}",
    params = { "annotation_id" }, user = false, result = "ok" },
  { name = "annotation_reply", method = "POST", path = "/apps/annotation-reply/{action}",
    params = { "action" }, user = false, one_of = { action = { "enable", "disable" } },
    -- Dify reads all three before it looks at the action, so `disable` needs them too.
    required = { score_threshold = "number", embedding_provider_name = "string",
      embedding_model_name = "string" } },
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
    stream = true, stop = "stop_workflow", terminal = "workflow_finished", also_ends = { "workflow_paused" } },
  -- Dify 1.14+: no replay; a finished run answers its workflow_finished alone.
  { name = "workflow_events", since = "1.14.0", method = "GET", path = "/workflow/{workflow_run_id}/events",
    params = { "workflow_run_id" }, stream = true, stop = "stop_workflow", terminal = "workflow_finished",
    also_ends = { "workflow_paused" } },
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
  { name = "delete_dataset", send = "none", method = "DELETE", path = "/datasets/{dataset_id}",
    params = { "dataset_id" },
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
  { name = "delete_document", send = "none", method = "DELETE", path = "/datasets/{dataset_id}/documents/{document_id}",
    params = { "dataset_id", "document_id" }, user = false, result = "ok" },
  -- Dify 1.14+: the update-by-file routes above stay for older servers.
  { name = "update_document", method = "PATCH", path = "/datasets/{dataset_id}/documents/{document_id}",
    since = "1.14.0",
    params = { "dataset_id", "document_id" }, user = false, send = "multipart", form_json = "data",
    file_optional = true },
  { name = "download_document", method = "GET", path = "/datasets/{dataset_id}/documents/{document_id}/download",
    since = "1.13.1",
    params = { "dataset_id", "document_id" }, user = false },
  { name = "download_documents_zip", method = "POST", path = "/datasets/{dataset_id}/documents/download-zip",
    since = "1.13.1",
    params = { "dataset_id" }, user = false, required = { document_ids = "table" }, result = "bytes" },
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
  { name = "delete_segment", send = "none", method = "DELETE",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, result = "ok" },
  { name = "create_child_chunk", method = "POST",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, required = { content = "string" } },
  { name = "list_child_chunks", method = "GET",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
    params = { "dataset_id", "document_id", "segment_id" }, user = false, paging = "total_pages" },
  { name = "update_child_chunk", method = "PATCH",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    params = { "dataset_id", "document_id", "segment_id", "child_chunk_id" }, user = false,
    required = { content = "string" } },
  { name = "delete_child_chunk", send = "none", method = "DELETE",
    path = "/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks/{child_chunk_id}",
    params = { "dataset_id", "document_id", "segment_id", "child_chunk_id" }, user = false, result = "ok" },

  { name = "create_metadata", method = "POST", path = "/datasets/{dataset_id}/metadata",
    params = { "dataset_id" }, user = false, required = { type = "string", name = "string" } },
  { name = "list_metadata", method = "GET", path = "/datasets/{dataset_id}/metadata",
    params = { "dataset_id" }, user = false },
  { name = "update_metadata", method = "PATCH", path = "/datasets/{dataset_id}/metadata/{metadata_id}",
    params = { "dataset_id", "metadata_id" }, user = false, required = { name = "string" } },
  { name = "delete_metadata", send = "none", method = "DELETE", path = "/datasets/{dataset_id}/metadata/{metadata_id}",
    params = { "dataset_id", "metadata_id" }, user = false, result = "ok" },
  { name = "list_built_in_metadata", method = "GET", path = "/datasets/{dataset_id}/metadata/built-in",
    params = { "dataset_id" }, user = false },
  { name = "built_in_metadata", send = "none", method = "POST",
    path = "/datasets/{dataset_id}/metadata/built-in/{action}",
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
  -- Dify 1.11+ takes tag_ids (a list); older servers only tag_id.
  { name = "unbind_tag", method = "POST", path = "/datasets/tags/unbinding", user = false,
    required = { target_id = "string" }, required_one = { tag_id = "string", tag_ids = "table" },
    result = "ok" },
  { name = "get_dataset_tags", method = "GET", path = "/datasets/{dataset_id}/tags",
    params = { "dataset_id" }, user = false },

  { name = "retrieve", method = "POST", path = "/datasets/{dataset_id}/retrieve", params = { "dataset_id" },
    user = false, required = { query = "string" } },
  { name = "list_models", method = "GET", path = "/workspaces/current/models/model-types/{model_type}",
    params = { "model_type" }, user = false, pattern = { model_type = "^[%w_%-]+$" } },

  -- The knowledge pipeline (Dify 1.13+)
  { name = "upload_pipeline_file", method = "POST", path = "/datasets/pipeline/file-upload", user = false,
    since = "1.13.0",
    send = "multipart" },
  { name = "list_datasource_plugins", method = "GET", path = "/datasets/{dataset_id}/pipeline/datasource-plugins",
    since = "1.13.0",
    params = { "dataset_id" }, user = false },
  { name = "run_datasource_node", since = "1.13.0", method = "POST",
    path = "/datasets/{dataset_id}/pipeline/datasource/nodes/{node_id}/run", params = { "dataset_id", "node_id" },
    user = false, stream = true, required = { datasource_type = "string", is_published = "boolean" },
    inputs = true, terminal = false, error_event = "datasource_error" },
  { name = "run_pipeline", method = "POST", path = "/datasets/{dataset_id}/pipeline/run", params = { "dataset_id" },
    since = "1.13.0",
    user = false, mode = "blocking", required = { datasource_type = "string", datasource_info_list = "table",
      start_node_id = "string", is_published = "boolean" } },
  { name = "run_pipeline_stream", since = "1.13.0", method = "POST", path = "/datasets/{dataset_id}/pipeline/run",
    params = { "dataset_id" }, user = false, mode = "streaming", stream = true,
    required = { datasource_type = "string", datasource_info_list = "table", start_node_id = "string",
      is_published = "boolean" }, terminal = "workflow_finished" },

  -- Health: GET on the API base (`/v1/`), which needs no key; servers without
  -- that index are asked at their root.
  { name = "probe", method = "GET", path = "/", user = false, result = "version", no_auth = true,
    fallback_root = true },
}

local by_name = {}
-- Fills in a route's defaults (dify.console's route table uses it too).
local function prepare(route)
  route.params = route.params or {}
  route.fixed_path = not route.path:find("{", 1, true) and route.path_when == nil
  route.required_list = {}
  for name, kind in pairs(route.required or {}) do
    table.insert(route.required_list, name)
    table.insert(route.required_list, kind)
  end
  route.send = route.send or (route.method == "GET" and "query" or "json")
  route.result = route.result or "json"
  if route.user == nil then route.user = true end
  route.inputs = route.inputs or route.mode ~= nil
  route.ends = {}
  if route.terminal then route.ends[route.terminal] = true end
  for _, name in ipairs(route.also_ends or {}) do route.ends[name] = true end
  return route
end
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate route " .. route.name)
  by_name[route.name] = prepare(route)
end

return { list = routes, by_name = by_name, prepare = prepare }
