--- The mock's in-memory world: conversations, messages, files, annotations,
-- workflow runs, datasets...  Routes shape answers from these records;
-- records keep internal fields (user, seq, ...) that views leave out.
--
-- Lists are kept in creation order.  `seq` (from tick) orders records made in
-- the same second, which happens all the time in tests.

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local State = {}
State.__index = State

function State.new()
  local state = setmetatable({}, State)
  state:reset()
  return state
end

-- Ends what still follows or waits on the runs about to be forgotten.
local function close_channels(runs)
  for _, run in ipairs(runs or {}) do
    if run.channel then
      run.channel:close()
    end
  end
end

--- Forgets everything.
function State:reset()
  close_channels(self.workflow_run_list)
  self.clock = 0
  self.workflow_id = util.uuid() -- the app's published workflow
  self.tenant_id = util.uuid()
  self.app_id = util.uuid()
  self.end_users = {} -- user string -> {id, session_id, created_at}
  self.end_users_by_id = {}
  self.forms = {} -- human input form token -> form (dify.mock.human_input)
  self.pipeline_files = {} -- knowledge pipeline uploads, by id
  self.conversations, self.conversation_list = {}, {}
  self.messages = {} -- id -> message; each conversation lists its own
  self.feedbacks = {} -- app feedbacks, oldest first
  self.annotations, self.annotation_list = {}, {}
  self.annotation_jobs = {}
  self.files = {}
  self.tasks = {} -- task_id -> {kind, stopped, streaming}
  self.stops = {} -- every stop call: {kind, task_id, user}
  self.workflow_runs, self.workflow_run_list = {}, {}
  self.datasets, self.dataset_list = {}, {}
  self.tags, self.tag_list = {}, {}
  self.batches = {} -- batch -> list of {dataset_id, document_id}
end

function State:tick()
  self.clock = self.clock + 1
  return self.clock
end

--- The end user Dify creates for a `user` string the first time it sees it.
function State:end_user(user)
  local end_user = self.end_users[user]
  if not end_user then
    end_user = { id = util.uuid(), session_id = user, created_at = util.now() }
    self.end_users[user] = end_user
    self.end_users_by_id[end_user.id] = end_user
  end
  return end_user
end

--- The end-user id Dify would create for a `user` string.
function State:end_user_id(user)
  return self:end_user(user).id
end

---------------------------------------------------------------------------
-- Running tasks (streams) and stop requests
---------------------------------------------------------------------------

function State:start_task(task_id, kind)
  local task = { id = task_id, kind = kind, stopped = false, streaming = true }
  self.tasks[task_id] = task
  return task
end

--- Records a stop request; a task that is still streaming ends early, and
-- a task that says what stopping means (a paused run) is told.
function State:stop_task(kind, task_id, user)
  self.stops[#self.stops + 1] = json.object({ kind = kind, task_id = task_id, user = user })
  local task = self.tasks[task_id]
  if task then
    task.stopped = true
    if task.on_stop then
      task.on_stop()
    end
  end
end

---------------------------------------------------------------------------
-- Conversations, messages, variables
---------------------------------------------------------------------------

function State:create_conversation(user, inputs, name)
  local now = util.now()
  local conversation = {
    id = util.uuid(),
    name = name or "New conversation",
    inputs = inputs or json.object(),
    status = "normal",
    introduction = "",
    created_at = now,
    updated_at = now,
    user = user,
    seq = self:tick(),
    updated_seq = self.clock,
    messages = {},
  }
  -- every conversation starts with two variables, one per common value type
  conversation.variables = {
    { id = util.uuid(), name = "topic", value_type = "string", value = "weather",
      description = "what the conversation is about", created_at = now, updated_at = now },
    { id = util.uuid(), name = "turns", value_type = "number", value = 0,
      description = "how many turns so far", created_at = now, updated_at = now },
  }
  self.conversations[conversation.id] = conversation
  self.conversation_list[#self.conversation_list + 1] = conversation
  return conversation
end

--- The user's conversation with that id, or Dify's 404 (a NotFound: code not_found).
function State:conversation_of(user, id)
  local conversation = self.conversations[id]
  if not conversation or conversation.user ~= user then
    util.fail(404, "not_found", "Conversation Not Exists.")
  end
  return conversation
end

function State:delete_conversation(conversation)
  self.conversations[conversation.id] = nil
  util.remove(self.conversation_list, conversation)
  for _, message in ipairs(conversation.messages) do
    self.messages[message.id] = nil
  end
end

--- Adds a message (query and answer) to a conversation.
function State:add_message(conversation, fields)
  local previous = conversation.messages[#conversation.messages]
  local message = {
    id = fields.id or util.uuid(),
    conversation_id = conversation.id,
    parent_message_id = previous and previous.id or json.null,
    status = fields.status or "normal",
    error = json.null,
    extra_contents = json.array(),
    inputs = fields.inputs or conversation.inputs,
    query = fields.query or "",
    answer = fields.answer or "",
    message_files = fields.message_files or json.array(),
    feedback = json.null,
    retriever_resources = json.array(),
    agent_thoughts = json.array(),
    created_at = util.now(),
    user = conversation.user,
    seq = self:tick(),
  }
  self.messages[message.id] = message
  conversation.messages[#conversation.messages + 1] = message
  conversation.updated_at = message.created_at
  conversation.updated_seq = message.seq
  return message
end

--- The user's message with that id, or Dify's 404 (a NotFound: code not_found).
function State:message_of(user, id)
  local message = self.messages[id]
  if not message or (user and message.user ~= user) then
    util.fail(404, "not_found", "Message Not Exists.")
  end
  return message
end

--- Sets (or with rating null clears) the feedback on a message.
function State:set_feedback(message, rating, content)
  if rating == nil or rating == json.null then
    message.feedback = json.null
    for i = #self.feedbacks, 1, -1 do
      if self.feedbacks[i].message_id == message.id then
        table.remove(self.feedbacks, i)
      end
    end
    return
  end
  message.feedback = json.object({ rating = rating })
  local stamp = util.iso(util.now()) .. "Z"
  self.feedbacks[#self.feedbacks + 1] = json.object({
    id = util.uuid(),
    app_id = self.app_id,
    conversation_id = message.conversation_id,
    message_id = message.id,
    rating = rating,
    content = content or json.null,
    from_source = "api",
    from_end_user_id = self:end_user_id(message.user),
    from_account_id = json.null,
    created_at = stamp,
    updated_at = stamp,
  })
end

---------------------------------------------------------------------------
-- Annotations
---------------------------------------------------------------------------

function State:create_annotation(question, answer)
  local annotation = json.object({
    id = util.uuid(),
    question = question,
    answer = answer,
    hit_count = 0,
    created_at = util.now(),
  })
  self.annotations[annotation.id] = annotation
  self.annotation_list[#self.annotation_list + 1] = annotation
  return annotation
end

function State:delete_annotation(annotation)
  self.annotations[annotation.id] = nil
  util.remove(self.annotation_list, annotation)
end

---------------------------------------------------------------------------
-- Workflow runs
---------------------------------------------------------------------------

--- Stores a run: {id, workflow_id, status, inputs, outputs, error,
-- total_steps, total_tokens, created_at, finished_at, elapsed_time} plus user.
function State:add_workflow_run(run)
  run.seq = self:tick()
  self.workflow_runs[run.id] = run
  self.workflow_run_list[#self.workflow_run_list + 1] = run
  return run
end

---------------------------------------------------------------------------
-- Datasets, documents, segments, child chunks
---------------------------------------------------------------------------

local DEFAULT_RETRIEVAL = {
  search_method = "semantic_search",
  reranking_enable = false,
  reranking_mode = json.null,
  top_k = 3,
  score_threshold_enabled = false,
  score_threshold = 0.5,
}

function State:create_dataset(fields)
  local now = util.now()
  local dataset = {
    id = util.uuid(),
    name = fields.name,
    description = fields.description or json.null,
    provider = fields.provider or "vendor",
    permission = fields.permission or "only_me",
    data_source_type = json.null,
    indexing_technique = fields.indexing_technique or json.null,
    app_count = 0,
    created_by = "mock-account",
    created_at = now,
    updated_by = "mock-account",
    updated_at = now,
    embedding_model = fields.embedding_model or "text-embedding-3-small",
    embedding_model_provider = fields.embedding_model_provider or "openai",
    embedding_available = true,
    retrieval_model_dict = fields.retrieval_model or json.object(DEFAULT_RETRIEVAL),
    tags = {}, -- tag ids
    doc_form = "text_model",
    documents = {}, -- id -> document
    document_list = {},
    metadata = {}, -- list of {id, type, name}
    built_in_field_enabled = false,
    seq = self:tick(),
  }
  self.datasets[dataset.id] = dataset
  self.dataset_list[#self.dataset_list + 1] = dataset
  return dataset
end

function State:dataset(id)
  return util.found(self.datasets[id], "Dataset not found.")
end

function State:delete_dataset(dataset)
  self.datasets[dataset.id] = nil
  util.remove(self.dataset_list, dataset)
end

local function word_count(text)
  local count = 0
  for _ in text:gmatch("%S+") do
    count = count + 1
  end
  return count
end

--- Splits a document's text into segments at blank lines.
local function split_paragraphs(text)
  local paragraphs = {}
  for paragraph in (text .. "\n\n"):gmatch("(.-)\n%s*\n") do
    paragraph = paragraph:match("^%s*(.-)%s*$")
    if paragraph ~= "" then
      paragraphs[#paragraphs + 1] = paragraph
    end
  end
  return paragraphs
end

function State:add_segment(document, fields)
  local now = util.now()
  local segment = {
    id = util.uuid(),
    position = #document.segment_list + 1,
    document_id = document.id,
    content = fields.content,
    answer = fields.answer or "",
    word_count = word_count(fields.content),
    tokens = #fields.content // 4 + 1,
    keywords = fields.keywords or json.array(),
    index_node_id = util.uuid(),
    index_node_hash = ("%08x"):format(#fields.content),
    hit_count = 0,
    enabled = true,
    disabled_at = json.null,
    disabled_by = json.null,
    status = "completed",
    created_by = "mock-account",
    created_at = now,
    indexing_at = now,
    completed_at = now,
    error = json.null,
    stopped_at = json.null,
    child_chunks = {},
    seq = self:tick(),
  }
  document.segments[segment.id] = segment
  document.segment_list[#document.segment_list + 1] = segment
  document.word_count = document.word_count + segment.word_count
  return segment
end

--- Creates a document from text; it is indexed at once ("completed").
-- Returns the document and its batch id.
function State:create_document(dataset, fields)
  local now = util.now()
  local batch = os.date("!%Y%m%d%H%M%S") .. ("%06d"):format(self:tick())
  local document = {
    id = util.uuid(),
    position = #dataset.document_list + 1,
    data_source_type = "upload_file",
    data_source_info = json.object({ upload_file_id = fields.upload_file_id or util.uuid() }),
    dataset_process_rule_id = util.uuid(),
    name = fields.name,
    created_from = "api",
    created_by = "mock-account",
    created_at = now,
    tokens = #fields.text // 4 + 1,
    indexing_status = "completed",
    error = json.null,
    enabled = true,
    disabled_at = json.null,
    disabled_by = json.null,
    archived = false,
    display_status = "available",
    word_count = 0,
    hit_count = 0,
    doc_form = fields.doc_form or "text_model",
    doc_metadata = json.array(),
    batch = batch,
    text = fields.text,
    file = fields.file, -- {name, size, extension, mime_type} when uploaded
    segments = {},
    segment_list = {},
    seq = self:tick(),
  }
  for _, paragraph in ipairs(split_paragraphs(fields.text)) do
    self:add_segment(document, { content = paragraph })
  end
  -- a dataset with a document has a processing rule: Dify's automatic one
  -- unless the document came with its own
  dataset.process_rule = dataset.process_rule or json.object({ mode = "automatic", rules = json.object() })
  dataset.documents[document.id] = document
  dataset.document_list[#dataset.document_list + 1] = document
  self.batches[batch] = { { dataset_id = dataset.id, document_id = document.id } }
  return document, batch
end

---------------------------------------------------------------------------
-- Seeding: many records at once, for pagination specs (POST /__mock/seed)
---------------------------------------------------------------------------

--- Creates `count` records of `kind`.  Returns {ids = [...], ...}.
-- kinds: annotations; conversations (user); messages (user, conversation_id?);
-- feedbacks (user); workflow_runs (user); datasets; documents (dataset_id);
-- segments (dataset_id, document_id).
function State:seed(kind, count, opts)
  local ids = json.array()
  local result = json.object({ ids = ids })
  local user = opts.user or "seed-user"
  if kind == "annotations" then
    for i = 1, count do
      ids[i] = self:create_annotation("Question " .. i, "Answer " .. i).id
    end
  elseif kind == "conversations" then
    for i = 1, count do
      local conversation = self:create_conversation(user, json.object(), "Conversation " .. i)
      self:add_message(conversation, { query = "Hello " .. i, answer = "Echo: Hello " .. i })
      ids[i] = conversation.id
    end
  elseif kind == "messages" or kind == "feedbacks" then
    local conversation = opts.conversation_id and self:conversation_of(user, opts.conversation_id)
      or self:create_conversation(user, json.object(), "Seeded conversation")
    result.conversation_id = conversation.id
    for i = 1, count do
      local message = self:add_message(conversation, { query = "Question " .. i, answer = "Echo: Question " .. i })
      if kind == "feedbacks" then
        self:set_feedback(message, i % 2 == 0 and "dislike" or "like", "feedback " .. i)
      end
      ids[i] = message.id
    end
  elseif kind == "workflow_runs" then
    for i = 1, count do
      local now = util.now()
      ids[i] = self:add_workflow_run({
        id = util.uuid(), workflow_id = self.workflow_id, status = "succeeded", app = "workflow",
        inputs = json.object({ query = "run " .. i }), outputs = json.object({ text = "Echo: run " .. i }),
        error = json.null, total_steps = 4, total_tokens = 10, created_at = now, finished_at = now,
        elapsed_time = 0.42, user = user, task_id = util.uuid(), executions = {},
      }).id
    end
  elseif kind == "datasets" then
    for i = 1, count do
      ids[i] = self:create_dataset({ name = ("Dataset %03d"):format(i) }).id
    end
  elseif kind == "documents" then
    local dataset = self:dataset(opts.dataset_id)
    for i = 1, count do
      ids[i] = self:create_document(dataset, { name = "Document " .. i .. ".txt", text = "Text of document " .. i }).id
    end
  elseif kind == "segments" then
    local document = util.found(self:dataset(opts.dataset_id).documents[opts.document_id], "Document not found.")
    for i = 1, count do
      ids[i] = self:add_segment(document, { content = "Segment " .. i }).id
    end
  else
    util.fail(400, "invalid_param", "unknown seed kind: " .. tostring(kind))
  end
  return result
end

return State
