--- Knowledge base routes (dataset key): datasets, documents, indexing status,
-- segments and child chunks, metadata, tags, retrieval, embedding models.
-- Indexing is instantaneous: every document is "completed" when created.

local json = require("dify.mock.json")
local is_uuid = require("dify.mock.router").is_uuid
local util = require("dify.mock.util")
local zip = require("dify.mock.zip")

local fail = util.fail

local datasets = {}

local SUCCESS = json.object({ result = "success" })

local map = util.map

local function newest_first(list, keep)
  local result = {}
  for i = #list, 1, -1 do
    if not keep or keep(list[i]) then
      result[#result + 1] = list[i]
    end
  end
  return result
end

local function contains(text, keyword)
  return keyword == nil or keyword == "" or text:lower():find(keyword:lower(), 1, true) ~= nil
end

local function page_args(ctx)
  return util.int_arg(ctx.args, "page", 1, 1, 99999), util.int_arg(ctx.args, "limit", 20, 1, 100)
end

-- {data, has_more, limit, total, page} over `items` (already filtered and ordered)
local function paged(ctx, items, view, extra)
  local page, limit = page_args(ctx)
  local slice, has_more = util.page(items, page, limit)
  local body = json.object({
    data = map(slice, view), has_more = has_more, limit = limit, total = #items, page = page,
  })
  for k, v in pairs(extra or {}) do
    body[k] = v
  end
  return 200, body
end

local function find_document(dataset, id)
  return util.found(dataset.documents[id], "Document not found.")
end

local function remove_document(dataset, document)
  dataset.documents[document.id] = nil
  util.remove(dataset.document_list, document)
end

local function find_segment(document, id)
  return util.found(document.segments[id], "Segment not found.")
end

---------------------------------------------------------------------------
-- Views
---------------------------------------------------------------------------

local function tag_view(tag)
  -- Dify's field is a string ("0"), counted in SQL
  return json.object({ id = tag.id, name = tag.name, type = tag.type, binding_count = tostring(tag.binding_count) })
end

local function dataset_view(state, d)
  local words, tags = 0, json.array()
  for _, document in ipairs(d.document_list) do
    words = words + document.word_count
  end
  for _, tag_id in ipairs(d.tags) do
    local tag = state.tags[tag_id]
    if tag then
      tags[#tags + 1] = json.object({ id = tag.id, name = tag.name, type = tag.type })
    end
  end
  return json.object({
    id = d.id, name = d.name, description = d.description, provider = d.provider,
    permission = d.permission, data_source_type = d.data_source_type,
    indexing_technique = d.indexing_technique, app_count = d.app_count,
    document_count = #d.document_list, word_count = words, created_by = d.created_by,
    created_at = d.created_at, updated_by = d.updated_by, updated_at = d.updated_at,
    embedding_model = d.embedding_model, embedding_model_provider = d.embedding_model_provider,
    embedding_available = d.embedding_available, retrieval_model_dict = d.retrieval_model_dict,
    tags = tags, doc_form = d.doc_form,
  })
end

local DOCUMENT_FIELDS = {
  "id", "position", "data_source_type", "data_source_info", "dataset_process_rule_id",
  "name", "created_from", "created_by", "created_at", "tokens", "indexing_status", "error",
  "enabled", "disabled_at", "disabled_by", "archived", "display_status", "word_count",
  "hit_count", "doc_form", "doc_metadata",
}

local function document_view(document)
  return util.pick(document, DOCUMENT_FIELDS)
end

local CHUNK_FIELDS = {
  "id", "segment_id", "content", "position", "word_count", "type", "created_at", "updated_at",
}

local function child_chunk_view(chunk)
  return util.pick(chunk, CHUNK_FIELDS)
end

local SEGMENT_FIELDS = {
  "id", "position", "document_id", "content", "answer", "word_count", "tokens", "keywords",
  "index_node_id", "index_node_hash", "hit_count", "enabled", "disabled_at", "disabled_by",
  "status", "created_by", "created_at", "indexing_at", "completed_at", "error", "stopped_at",
}

local function segment_view(segment)
  local view = util.pick(segment, SEGMENT_FIELDS)
  view.child_chunks = map(segment.child_chunks, child_chunk_view)
  return view
end

---------------------------------------------------------------------------
-- Datasets
---------------------------------------------------------------------------

local INDEXING_TECHNIQUES = { high_quality = true, economy = true }

local function check_indexing_technique(value)
  if value ~= nil and value ~= json.null and not INDEXING_TECHNIQUES[value] then
    fail(400, "invalid_param", "indexing_technique must be high_quality or economy")
  end
end

local function check_name_free(state, name, except)
  for _, dataset in ipairs(state.dataset_list) do
    if dataset.name == name and dataset ~= except then
      fail(409, "dataset_name_duplicate", "The dataset name already exists. Please modify your dataset name.")
    end
  end
end

-- POST /datasets
local function create_dataset(ctx)
  local body = ctx.body
  local name = util.string_field(body, "name", true)
  if name == "" or #name > 40 then
    fail(400, "invalid_param", "Name must be between 1 to 40 characters.")
  end
  check_indexing_technique(body.indexing_technique)
  check_name_free(ctx.state, name)
  local dataset = ctx.state:create_dataset({
    name = name,
    description = util.string_field(body, "description", false),
    indexing_technique = body.indexing_technique,
    permission = util.string_field(body, "permission", false),
    provider = util.string_field(body, "provider", false),
    embedding_model = util.string_field(body, "embedding_model", false),
    embedding_model_provider = util.string_field(body, "embedding_model_provider", false),
    retrieval_model = json.is_object(body.retrieval_model) and body.retrieval_model or nil,
  })
  return 200, dataset_view(ctx.state, dataset)
end

-- GET /datasets?page=&limit=&keyword=&tag_ids=&include_all=
local function list_datasets(ctx)
  local keyword = util.first(ctx.args.keyword)
  local tag_ids = ctx.args.tag_ids
  if type(tag_ids) == "string" then
    tag_ids = { tag_ids }
  end
  local items = newest_first(ctx.state.dataset_list, function(dataset)
    if not contains(dataset.name, keyword) then
      return false
    end
    for _, wanted in ipairs(tag_ids or {}) do
      local tagged = false
      for _, tag_id in ipairs(dataset.tags) do
        tagged = tagged or tag_id == wanted
      end
      if not tagged then
        return false
      end
    end
    return true
  end)
  return paged(ctx, items, function(dataset) return dataset_view(ctx.state, dataset) end)
end

local function dataset_of(ctx)
  return ctx.state:dataset(ctx.params.dataset_id)
end

-- GET /datasets/{dataset_id}
local function get_dataset(ctx)
  return 200, dataset_view(ctx.state, dataset_of(ctx))
end

local UPDATABLE = { "description", "permission", "embedding_model", "embedding_model_provider" }

-- PATCH /datasets/{dataset_id}
local function update_dataset(ctx)
  local dataset = dataset_of(ctx)
  local body = ctx.body
  local name = util.string_field(body, "name", false)
  if name then
    if name == "" or #name > 40 then
      fail(400, "invalid_param", "Name must be between 1 to 40 characters.")
    end
    check_name_free(ctx.state, name, dataset)
    dataset.name = name
  end
  check_indexing_technique(body.indexing_technique)
  if body.indexing_technique ~= nil then
    dataset.indexing_technique = body.indexing_technique
  end
  for _, field in ipairs(UPDATABLE) do
    if body[field] ~= nil then
      dataset[field] = body[field]
    end
  end
  if json.is_object(body.retrieval_model) then
    dataset.retrieval_model_dict = body.retrieval_model
  end
  dataset.updated_at = util.now()
  return 200, dataset_view(ctx.state, dataset)
end

-- DELETE /datasets/{dataset_id}
local function delete_dataset(ctx)
  ctx.state:delete_dataset(dataset_of(ctx))
  return 204
end

---------------------------------------------------------------------------
-- Documents
---------------------------------------------------------------------------

local function created_answer(document, batch)
  return 200, json.object({ document = document_view(document), batch = batch })
end

local function check_document_options(dataset, options)
  check_indexing_technique(options.indexing_technique)
  if dataset.indexing_technique == json.null and options.indexing_technique == nil then
    fail(400, "invalid_param", "indexing_technique is required.")
  end
  if options.indexing_technique ~= nil then
    dataset.indexing_technique = options.indexing_technique
  end
end

-- The dataset keeps the latest processing rule a document came with (and
-- State:create_document gives it Dify's automatic one otherwise).
local function keep_process_rule(dataset, options)
  if json.is_object(options.process_rule) then
    dataset.process_rule = options.process_rule
  end
end

-- POST /datasets/{id}/document/create-by-text (and create_by_text)
local function create_by_text(ctx)
  local dataset = dataset_of(ctx)
  local name = util.string_field(ctx.body, "name", true)
  local text = util.string_field(ctx.body, "text", true)
  check_document_options(dataset, ctx.body)
  keep_process_rule(dataset, ctx.body)
  return created_answer(ctx.state:create_document(dataset, {
    name = name, text = text, doc_form = util.string_field(ctx.body, "doc_form", false),
  }))
end

-- The multipart `file` part and decoded `data` options of a *-by-file call;
-- `file_optional` (PATCH …/documents/{id}) lets the file be left out.
local function file_and_options(ctx, file_optional)
  local file, data
  local files = 0
  for _, part in ipairs(ctx.parts or {}) do
    if part.name == "file" then
      file, files = part, files + 1
    elseif part.name == "data" then
      data = part.data
    end
  end
  if files > 1 then
    fail(400, "too_many_files", "Only one file is allowed.")
  elseif not file and not file_optional then
    fail(400, "no_file_uploaded", "Please upload your file.")
  end
  local options = json.object()
  if data and data ~= "" then
    local decoded = json.decode(data)
    if not json.is_object(decoded) then
      fail(400, "invalid_param", "data must be a JSON object")
    end
    options = decoded
  end
  if not file then
    return nil, options
  end
  local name = file.filename or "upload"
  return {
    name = name,
    text = file.data,
    file = {
      name = name, size = file.size, mime_type = file.content_type or "application/octet-stream",
      extension = (name:match("%.([^./]+)$") or ""):lower(),
    },
  }, options
end

-- POST /datasets/{id}/document/create-by-file (and create_by_file)
local function create_by_file(ctx)
  local dataset = dataset_of(ctx)
  local fields, options = file_and_options(ctx)
  check_document_options(dataset, options)
  if not dataset.process_rule and options.process_rule == nil then
    fail(400, "invalid_param", "process_rule is required.")
  end
  keep_process_rule(dataset, options)
  fields.doc_form = type(options.doc_form) == "string" and options.doc_form or nil
  return created_answer(ctx.state:create_document(dataset, fields))
end

local function document_of(ctx, dataset)
  return find_document(dataset or dataset_of(ctx), ctx.params.document_id)
end

-- Replaces a document's text and segments; returns a fresh batch id.
local function replace_content(ctx, dataset, document, fields)
  local replacement, batch = ctx.state:create_document(dataset, fields)
  remove_document(dataset, replacement)
  for _, key in ipairs({ "name", "text", "file", "tokens", "word_count", "segments", "segment_list" }) do
    document[key] = replacement[key]
  end
  for _, segment in ipairs(document.segment_list) do
    segment.document_id = document.id
  end
  document.batch = batch
  ctx.state.batches[batch] = { { dataset_id = dataset.id, document_id = document.id } }
  return batch
end

-- POST /datasets/{id}/documents/{document_id}/update-by-text (and update_by_text)
local function update_by_text(ctx)
  local dataset = dataset_of(ctx)
  local document = document_of(ctx, dataset)
  local name = util.string_field(ctx.body, "name", false) or document.name
  local text = util.string_field(ctx.body, "text", false)
  local batch
  if text then
    batch = replace_content(ctx, dataset, document, { name = name, text = text })
  else
    document.name = name
    batch = document.batch
  end
  return created_answer(document, batch)
end

-- POST /datasets/{id}/documents/{document_id}/update-by-file (and update_by_file)
local function update_by_file(ctx)
  local dataset = dataset_of(ctx)
  local document = document_of(ctx, dataset)
  local fields = file_and_options(ctx)
  return created_answer(document, replace_content(ctx, dataset, document, fields))
end

-- PATCH /datasets/{id}/documents/{document_id} (multipart: file?, data):
-- Dify 1.14's update by file; without a file only the options change.
local function update_document(ctx)
  local dataset = dataset_of(ctx)
  local document = document_of(ctx, dataset)
  local fields, options = file_and_options(ctx, true)
  if type(options.doc_form) == "string" then
    document.doc_form = options.doc_form
  end
  if not fields then
    return created_answer(document, document.batch)
  end
  return created_answer(document, replace_content(ctx, dataset, document, fields))
end

-- GET /datasets/{id}/documents?keyword=&page=&limit=
local function list_documents(ctx)
  local dataset = dataset_of(ctx)
  local keyword = util.first(ctx.args.keyword)
  local items = newest_first(dataset.document_list, function(document)
    return contains(document.name, keyword)
  end)
  return paged(ctx, items, document_view)
end

-- GET /datasets/{id}/documents/{document_id}
local function get_document(ctx)
  local document = document_of(ctx)
  local view = document_view(document)
  view.segment_count = #document.segment_list
  view.average_segment_length = #document.segment_list > 0 and #document.text // #document.segment_list or 0
  view.indexing_latency = 0.1
  view.dataset_process_rule = json.object({ mode = "automatic", rules = json.object() })
  view.completed_at = document.created_at
  return 200, view
end

-- DELETE /datasets/{id}/documents/{document_id}
local function delete_document(ctx)
  local dataset = dataset_of(ctx)
  remove_document(dataset, document_of(ctx, dataset))
  return 204
end

local STATUS_ACTIONS = {
  enable = function(d) d.enabled = true end,
  disable = function(d) d.enabled = false end,
  archive = function(d) d.archived = true end,
  un_archive = function(d) d.archived = false end,
}

-- PATCH /datasets/{id}/documents/status/{action}  {document_ids}
local function set_document_status(ctx)
  local dataset = dataset_of(ctx)
  local apply = STATUS_ACTIONS[ctx.params.action]
  if not apply then
    fail(400, "invalid_action", "Invalid action.")
  end
  local ids = ctx.body.document_ids
  if not json.is_array(ids) then
    fail(400, "invalid_param", "document_ids must be a list")
  end
  for _, id in ipairs(ids) do
    apply(find_document(dataset, id))
  end
  return 200, SUCCESS
end

-- GET /datasets/{id}/documents/{document_id}/download: a signed link to the
-- document's original file (Dify 1.13.1+; the old …/upload-file is gone).
local function download_document(ctx)
  local document = document_of(ctx)
  local file_id = document.data_source_info.upload_file_id
  return 200, json.object({
    url = util.signed_url(ctx.req, "/files/" .. file_id .. "/file-preview", "&as_attachment=true"),
  })
end

-- A document's original bytes and file name (a text document was saved as .txt).
local function original_file(document)
  local name = document.file and document.file.name or document.name
  if not document.file and not name:find("%.[%w]+$") then
    name = name .. ".txt"
  end
  return name, document.text
end

-- POST /datasets/{id}/documents/download-zip {document_ids}: the originals in one ZIP.
local function download_zip(ctx)
  local dataset = dataset_of(ctx)
  local ids = ctx.body.document_ids
  if not json.is_array(ids) or #ids == 0 or #ids > 100 then
    fail(400, "invalid_param", "document_ids: List should have at least 1 item and at most 100 items")
  end
  local entries = {}
  for i, id in ipairs(ids) do
    if not is_uuid(id) then
      fail(400, "invalid_param", ("document_ids.%d: Input should be a valid UUID"):format(i - 1))
    end
    local name, data = original_file(find_document(dataset, id))
    entries[i] = { name = name, data = data }
  end
  ctx.res:send(200, {
    { "Content-Type", "application/zip" },
    { "Content-Disposition", util.attachment_disposition(dataset.name .. ".zip") },
  }, zip.archive(entries))
end

-- GET /datasets/{id}/documents/{batch}/indexing-status
local function indexing_status(ctx)
  local dataset = dataset_of(ctx)
  local entries = util.found(ctx.state.batches[ctx.params.batch], "Documents not found.")
  local data = json.array()
  for _, entry in ipairs(entries) do
    local document = dataset.documents[entry.document_id]
    if document then
      local at = document.created_at
      data[#data + 1] = json.object({
        id = document.id, indexing_status = ctx.faults.indexing or "completed",
        processing_started_at = at, parsing_completed_at = at, cleaning_completed_at = at,
        splitting_completed_at = at, completed_at = at, paused_at = json.null,
        error = ctx.faults.indexing == "error" and "simulated indexing failure" or json.null,
        stopped_at = json.null,
        completed_segments = #document.segment_list, total_segments = #document.segment_list,
      })
    end
  end
  return 200, json.object({ data = data })
end

---------------------------------------------------------------------------
-- Segments and child chunks
---------------------------------------------------------------------------

local function segment_answer(document, data)
  return json.object({ data = data, doc_form = document.doc_form })
end

-- POST /datasets/{id}/documents/{document_id}/segments  {segments: [...]}
-- Dify answers a create_segments body it cannot validate with {"error": …}.
local function segments_error(text)
  util.fail_body(400, json.object({ error = text }))
end

local function check_segments(segments)
  if not json.is_array(segments) or #segments == 0 then
    segments_error("1 validation error for SegmentCreatePayload\nsegments\n  List should have at least 1 item")
  end
  for i, fields in ipairs(segments) do
    if not json.is_object(fields) or type(fields.content) ~= "string" or not fields.content:find("%S") then
      segments_error(("1 validation error for SegmentCreatePayload\nsegments.%d.content\n"
        .. "  Value error, content must not be blank"):format(i - 1))
    end
  end
end

local function create_segments(ctx)
  local document = document_of(ctx)
  local segments = ctx.body.segments
  check_segments(segments)
  local created = json.array()
  for _, fields in ipairs(segments) do
    created[#created + 1] = segment_view(ctx.state:add_segment(document, fields))
  end
  return 200, segment_answer(document, created)
end

-- GET /datasets/{id}/documents/{document_id}/segments?keyword=&status=&page=&limit=
local function list_segments(ctx)
  local document = document_of(ctx)
  local keyword = util.first(ctx.args.keyword)
  local statuses = ctx.args.status
  if type(statuses) == "string" then
    statuses = { statuses }
  end
  local wanted = nil -- every status given counts (status=a&status=b)
  for _, status in ipairs(statuses or {}) do
    if status ~= "" then
      wanted = wanted or {}
      wanted[status] = true
    end
  end
  local items = {}
  for _, segment in ipairs(document.segment_list) do
    if contains(segment.content, keyword) and (not wanted or wanted[segment.status]) then
      items[#items + 1] = segment
    end
  end
  return paged(ctx, items, segment_view, { doc_form = document.doc_form })
end

local function segment_of(ctx, document)
  return find_segment(document or document_of(ctx), ctx.params.segment_id)
end

-- GET /datasets/{id}/documents/{document_id}/segments/{segment_id}
local function get_segment(ctx)
  local document = document_of(ctx)
  return 200, segment_answer(document, segment_view(segment_of(ctx, document)))
end

-- POST /datasets/{id}/documents/{document_id}/segments/{segment_id}  {segment: {...}}
local function update_segment(ctx)
  local document = document_of(ctx)
  local segment = segment_of(ctx, document)
  local changes = ctx.body.segment
  if not json.is_object(changes) then
    fail(400, "invalid_param", "segment is required")
  end
  if changes.content ~= nil then
    if type(changes.content) ~= "string" or changes.content == "" then
      fail(400, "invalid_param", "content must be a non-empty string")
    end
    segment.content = changes.content
    segment.tokens = #changes.content // 4 + 1
  end
  for _, field in ipairs({ "answer", "keywords", "enabled" }) do
    if changes[field] ~= nil then
      segment[field] = changes[field]
    end
  end
  return 200, segment_answer(document, segment_view(segment))
end

-- DELETE /datasets/{id}/documents/{document_id}/segments/{segment_id}
local function delete_segment(ctx)
  local document = document_of(ctx)
  local segment = segment_of(ctx, document)
  document.segments[segment.id] = nil
  util.remove(document.segment_list, segment)
  return 204
end

local function content_field(ctx)
  local content = util.string_field(ctx.body, "content", true)
  if content == "" then
    fail(400, "invalid_param", "content must not be empty")
  end
  return content
end

-- POST …/segments/{segment_id}/child_chunks  {content}
local function create_child_chunk(ctx)
  local segment = segment_of(ctx)
  local now = util.now()
  local chunk = {
    id = util.uuid(), segment_id = segment.id, content = content_field(ctx),
    position = #segment.child_chunks + 1, type = "customized", created_at = now, updated_at = now,
  }
  chunk.word_count = #chunk.content
  segment.child_chunks[#segment.child_chunks + 1] = chunk
  return 200, json.object({ data = child_chunk_view(chunk) })
end

-- GET …/segments/{segment_id}/child_chunks?keyword=&page=&limit=
local function list_child_chunks(ctx)
  local segment = segment_of(ctx)
  local keyword = util.first(ctx.args.keyword)
  local items = {}
  for _, chunk in ipairs(segment.child_chunks) do
    if contains(chunk.content, keyword) then
      items[#items + 1] = chunk
    end
  end
  local page, limit = page_args(ctx)
  local slice = util.page(items, page, limit)
  return 200, json.object({
    data = map(slice, child_chunk_view), total = #items,
    total_pages = math.max(1, -(-#items // limit)), page = page, limit = limit,
  })
end

local function child_chunk_of(ctx)
  local segment = segment_of(ctx)
  for i, chunk in ipairs(segment.child_chunks) do
    if chunk.id == ctx.params.child_chunk_id then
      return chunk, segment, i
    end
  end
  fail(404, "not_found", "Child chunk not found.")
end

-- PATCH …/child_chunks/{child_chunk_id}  {content}
local function update_child_chunk(ctx)
  local chunk = child_chunk_of(ctx)
  chunk.content = content_field(ctx)
  chunk.word_count = #chunk.content
  chunk.updated_at = util.now()
  return 200, json.object({ data = child_chunk_view(chunk) })
end

-- DELETE …/child_chunks/{child_chunk_id}
local function delete_child_chunk(ctx)
  local _, segment, index = child_chunk_of(ctx)
  table.remove(segment.child_chunks, index)
  return 204
end

---------------------------------------------------------------------------
-- Metadata
---------------------------------------------------------------------------

local METADATA_TYPES = { string = true, number = true, time = true }

local function metadata_view(field)
  return json.object({ id = field.id, type = field.type, name = field.name })
end

-- POST /datasets/{id}/metadata  {type, name} -> 201
local function create_metadata(ctx)
  local dataset = dataset_of(ctx)
  local kind = util.string_field(ctx.body, "type", true)
  local name = util.string_field(ctx.body, "name", true)
  if not METADATA_TYPES[kind] then
    fail(400, "invalid_param", "type must be string, number or time")
  end
  local field = { id = util.uuid(), type = kind, name = name }
  dataset.metadata[#dataset.metadata + 1] = field
  return 201, metadata_view(field)
end

-- GET /datasets/{id}/metadata
local function list_metadata(ctx)
  local dataset = dataset_of(ctx)
  local fields = json.array()
  for _, field in ipairs(dataset.metadata) do
    local view = metadata_view(field)
    view.use_count = 0
    for _, document in ipairs(dataset.document_list) do
      for _, value in ipairs(document.doc_metadata) do
        if value.id == field.id then
          view.use_count = view.use_count + 1
        end
      end
    end
    fields[#fields + 1] = view
  end
  return 200, json.object({ doc_metadata = fields, built_in_field_enabled = dataset.built_in_field_enabled })
end

local function metadata_of(ctx, dataset)
  for i, field in ipairs(dataset.metadata) do
    if field.id == ctx.params.metadata_id then
      return field, i
    end
  end
  fail(404, "not_found", "Metadata not found.")
end

-- PATCH /datasets/{id}/metadata/{metadata_id}  {name}
local function rename_metadata(ctx)
  local field = metadata_of(ctx, dataset_of(ctx))
  field.name = util.string_field(ctx.body, "name", true)
  return 200, metadata_view(field)
end

-- DELETE /datasets/{id}/metadata/{metadata_id}
local function delete_metadata(ctx)
  local dataset = dataset_of(ctx)
  local _, index = metadata_of(ctx, dataset)
  table.remove(dataset.metadata, index)
  return 204
end

-- POST /datasets/{id}/metadata/built-in/{action}; Dify ignores an action
-- it does not know and answers success all the same.
local function built_in_metadata(ctx)
  local dataset = dataset_of(ctx)
  local action = ctx.params.action
  if action == "enable" or action == "disable" then
    dataset.built_in_field_enabled = action == "enable"
  end
  return 200, SUCCESS
end

local BUILT_IN_FIELDS = json.object({
  fields = json.array({
    json.object({ name = "document_name", type = "string" }),
    json.object({ name = "uploader", type = "string" }),
    json.object({ name = "upload_date", type = "time" }),
    json.object({ name = "last_update_date", type = "time" }),
    json.object({ name = "source", type = "string" }),
  }),
})

-- GET /datasets/{id}/metadata/built-in
local function list_built_in_metadata(ctx)
  dataset_of(ctx)
  return 200, BUILT_IN_FIELDS
end

-- POST /datasets/{id}/documents/metadata  {operation_data: [{document_id, metadata_list}]}
local function set_document_metadata(ctx)
  local dataset = dataset_of(ctx)
  local operations = ctx.body.operation_data
  if not json.is_array(operations) then
    fail(400, "invalid_param", "operation_data must be a list")
  end
  for _, operation in ipairs(operations) do
    if not json.is_object(operation) or not json.is_array(operation.metadata_list) then
      fail(400, "invalid_param", "each operation needs a document_id and a metadata_list")
    end
    find_document(dataset, operation.document_id).doc_metadata = operation.metadata_list
  end
  return 200, SUCCESS
end

---------------------------------------------------------------------------
-- Tags
---------------------------------------------------------------------------

-- POST /datasets/tags  {name}
local function create_tag(ctx)
  local name = util.string_field(ctx.body, "name", true)
  if name == "" or #name > 50 then
    fail(400, "invalid_param", "Tag name must be between 1 to 50 characters.")
  end
  local tag = { id = util.uuid(), name = name, type = "knowledge", binding_count = 0 }
  ctx.state.tags[tag.id] = tag
  ctx.state.tag_list[#ctx.state.tag_list + 1] = tag
  return 200, tag_view(tag)
end

-- GET /datasets/tags  (a bare list)
local function list_tags(ctx)
  return 200, map(ctx.state.tag_list, tag_view)
end

local function tag_of(ctx, field)
  return util.found(ctx.state.tags[util.string_field(ctx.body, field, true)], "Tag not found.")
end

-- PATCH /datasets/tags  {name, tag_id}
local function rename_tag(ctx)
  local tag = tag_of(ctx, "tag_id")
  tag.name = util.string_field(ctx.body, "name", true)
  return 200, tag_view(tag)
end

-- DELETE /datasets/tags  {tag_id}
local function delete_tag(ctx)
  local tag = tag_of(ctx, "tag_id")
  ctx.state.tags[tag.id] = nil
  for i, candidate in ipairs(ctx.state.tag_list) do
    if candidate == tag then
      table.remove(ctx.state.tag_list, i)
      break
    end
  end
  for _, dataset in ipairs(ctx.state.dataset_list) do
    for i = #dataset.tags, 1, -1 do
      if dataset.tags[i] == tag.id then
        table.remove(dataset.tags, i)
      end
    end
  end
  return 204
end

local function unbind(dataset, tag)
  for i = #dataset.tags, 1, -1 do
    if dataset.tags[i] == tag.id then
      table.remove(dataset.tags, i)
      tag.binding_count = tag.binding_count - 1
    end
  end
end

-- POST /datasets/tags/binding  {tag_ids, target_id}
local function bind_tags(ctx)
  local ids = ctx.body.tag_ids
  if not json.is_array(ids) then
    fail(400, "invalid_param", "tag_ids must be a list")
  end
  local dataset = ctx.state:dataset(util.string_field(ctx.body, "target_id", true))
  for _, id in ipairs(ids) do
    local tag = util.found(ctx.state.tags[id], "Tag not found.")
    unbind(dataset, tag) -- binding twice keeps one binding
    dataset.tags[#dataset.tags + 1] = tag.id
    tag.binding_count = tag.binding_count + 1
  end
  return 204
end

-- The tags an unbinding names: tag_ids (Dify 1.11+) or the older tag_id.
local function tags_to_unbind(ctx)
  local ids = ctx.body.tag_ids
  if ids == nil or ids == json.null then
    return { tag_of(ctx, "tag_id") }
  elseif not json.is_array(ids) or #ids == 0 then
    fail(400, "invalid_param", "tag_ids must be a non-empty list")
  end
  local tags = {}
  for i, id in ipairs(ids) do
    tags[i] = util.found(ctx.state.tags[id], "Tag not found.")
  end
  return tags
end

-- POST /datasets/tags/unbinding  {tag_ids | tag_id, target_id}
local function unbind_tag(ctx)
  local tags = tags_to_unbind(ctx)
  local dataset = ctx.state:dataset(util.string_field(ctx.body, "target_id", true))
  for _, tag in ipairs(tags) do
    unbind(dataset, tag)
  end
  return 204
end

-- GET /datasets/{id}/tags
local function dataset_tags(ctx)
  local dataset = dataset_of(ctx)
  local data = json.array()
  for _, tag_id in ipairs(dataset.tags) do
    local tag = ctx.state.tags[tag_id]
    if tag then
      data[#data + 1] = json.object({ id = tag.id, name = tag.name })
    end
  end
  return 200, json.object({ data = data, total = #data })
end

---------------------------------------------------------------------------
-- Retrieval and models
---------------------------------------------------------------------------

-- POST /datasets/{id}/retrieve  {query, retrieval_model?}
-- Scores segments by the share of query words they contain.
local function retrieve(ctx)
  local dataset = dataset_of(ctx)
  local query = util.string_field(ctx.body, "query", true)
  local words = {}
  for word in query:lower():gmatch("%w+") do
    words[#words + 1] = word
  end
  local model = json.is_object(ctx.body.retrieval_model) and ctx.body.retrieval_model or dataset.retrieval_model_dict
  local top_k = math.tointeger(model.top_k) or 3

  local hits = {}
  for _, document in ipairs(dataset.document_list) do
    for _, segment in ipairs(document.segment_list) do
      local content, found = segment.content:lower(), 0
      for _, word in ipairs(words) do
        if content:find(word, 1, true) then
          found = found + 1
        end
      end
      if found > 0 then
        hits[#hits + 1] = { segment = segment, document = document, score = found / #words }
      end
    end
  end
  table.sort(hits, function(a, b) return a.score > b.score end)

  local records = json.array()
  for i = 1, math.min(top_k, #hits) do
    local hit = hits[i]
    local segment = segment_view(hit.segment)
    segment.document = json.object({
      id = hit.document.id, data_source_type = hit.document.data_source_type,
      name = hit.document.name, doc_type = json.null,
    })
    records[#records + 1] = json.object({
      segment = segment, child_chunks = json.array(), score = hit.score, tsne_position = json.null,
    })
  end
  return 200, json.object({ query = json.object({ content = query }), records = records })
end

-- The models of each type the workspace offers (one provider, one model each).
local MODELS = {
  ["text-embedding"] = { "text-embedding-3-small", { context_size = 8191 } },
  rerank = { "rerank-english-v3.0", { context_size = 4096 } },
  llm = { "gpt-4o-mini", { mode = "chat", context_size = 128000 } },
  tts = { "tts-1", { default_voice = "alloy" } },
  speech2text = { "whisper-1", { file_upload_limit = 25 } },
  moderation = { "omni-moderation-latest", { max_chunks = 32 } },
}

local label = util.label

local function models_of_type(state, model_type)
  local model, properties = MODELS[model_type][1], MODELS[model_type][2]
  return json.object({
    data = json.array({
      json.object({
        tenant_id = state.tenant_id,
        provider = "langgenius/openai/openai",
        label = label("OpenAI"),
        icon_small = label("/icons/openai-small.svg"),
        icon_small_dark = json.null,
        icon_large = label("/icons/openai-large.svg"),
        status = "active",
        models = json.array({
          json.object({
            model = model,
            label = label(model),
            model_type = model_type,
            features = json.null,
            fetch_from = "predefined-model",
            model_properties = json.object(properties),
            deprecated = false,
            status = "active",
            load_balancing_enabled = false,
            has_invalid_load_balancing_configs = false,
          }),
        }),
      }),
    }),
  })
end

-- GET /workspaces/current/models/model-types/{model_type}
local function list_models(ctx)
  local model_type = ctx.params.model_type
  if not MODELS[model_type] then -- Dify's ModelType.value_of raises ValueError
    fail(400, "invalid_param", "invalid origin model type " .. model_type)
  end
  return 200, models_of_type(ctx.state, model_type)
end

function datasets.register(router)
  local dataset = "/datasets/:dataset_id:uuid"
  local doc = dataset .. "/documents/:document_id:uuid"
  local segment = doc .. "/segments/:segment_id:uuid"
  -- literal paths before the parameter paths they overlap
  router:add("POST", "/datasets/tags/binding", bind_tags)
  router:add("POST", "/datasets/tags/unbinding", unbind_tag)
  router:add("POST", "/datasets/tags", create_tag)
  router:add("GET", "/datasets/tags", list_tags)
  router:add("PATCH", "/datasets/tags", rename_tag)
  router:add("DELETE", "/datasets/tags", delete_tag)
  router:add("POST", "/datasets", create_dataset)
  router:add("GET", "/datasets", list_datasets)
  router:add("GET", dataset, get_dataset)
  router:add("PATCH", dataset, update_dataset)
  router:add("DELETE", dataset, delete_dataset)
  for _, sep in ipairs({ "-", "_" }) do -- newer and older spellings
    local function spelled(handler)
      if sep == "_" then return handler end
      return function(ctx)
        if ctx.faults.old_server then util.fail_unrouted() end -- before 0.11: no such route
        return handler(ctx)
      end
    end
    router:add("POST", dataset .. "/document/create" .. sep .. "by" .. sep .. "text", spelled(create_by_text))
    router:add("POST", dataset .. "/document/create" .. sep .. "by" .. sep .. "file", spelled(create_by_file))
    router:add("POST", doc .. "/update" .. sep .. "by" .. sep .. "text", spelled(update_by_text))
    router:add("POST", doc .. "/update" .. sep .. "by" .. sep .. "file", spelled(update_by_file))
  end
  router:add("POST", dataset .. "/documents/metadata", set_document_metadata)
  router:add("POST", dataset .. "/documents/download-zip", download_zip, { since = "1.13.1" })
  router:add("PATCH", dataset .. "/documents/status/:action", set_document_status)
  router:add("GET", dataset .. "/documents", list_documents)
  router:add("GET", doc, get_document)
  router:add("PATCH", doc, update_document, { since = "1.14.0" })
  router:add("DELETE", doc, delete_document)
  router:add("GET", doc .. "/download", download_document, { since = "1.13.1" })
  router:add("GET", dataset .. "/documents/:batch/indexing-status", indexing_status)
  router:add("POST", doc .. "/segments", create_segments)
  router:add("GET", doc .. "/segments", list_segments)
  router:add("GET", segment, get_segment)
  router:add("POST", segment, update_segment)
  router:add("DELETE", segment, delete_segment)
  router:add("POST", segment .. "/child_chunks", create_child_chunk)
  router:add("GET", segment .. "/child_chunks", list_child_chunks)
  router:add("PATCH", segment .. "/child_chunks/:child_chunk_id:uuid", update_child_chunk)
  router:add("DELETE", segment .. "/child_chunks/:child_chunk_id:uuid", delete_child_chunk)
  router:add("POST", dataset .. "/metadata", create_metadata)
  router:add("GET", dataset .. "/metadata", list_metadata)
  router:add("GET", dataset .. "/metadata/built-in", list_built_in_metadata)
  router:add("PATCH", dataset .. "/metadata/:metadata_id:uuid", rename_metadata)
  router:add("DELETE", dataset .. "/metadata/:metadata_id:uuid", delete_metadata)
  router:add("POST", dataset .. "/metadata/built-in/:action", built_in_metadata)
  router:add("GET", dataset .. "/tags", dataset_tags)
  router:add("POST", dataset .. "/retrieve", retrieve)
  router:add("GET", "/workspaces/current/models/model-types/:model_type", list_models)
end

return datasets
