--- Chat and completion apps: sending messages (blocking and streaming),
-- stopping, feedback, history, conversations and their variables.

local events = require("dify.mock.events")
local flows = require("dify.mock.flows")
local human_input = require("dify.mock.human_input")
local is_uuid = require("dify.mock.router").is_uuid
local json = require("dify.mock.json")
local runs = require("dify.mock.runs")
local stream = require("dify.mock.stream")
local util = require("dify.mock.util")

local fail = util.fail

local chat = {}

local SUCCESS = json.object({ result = "success" })

---------------------------------------------------------------------------
-- Views: the public shape of the state records
---------------------------------------------------------------------------

local function conversation_view(c)
  return json.object({
    id = c.id, name = c.name, inputs = c.inputs, status = c.status,
    introduction = c.introduction, created_at = c.created_at, updated_at = c.updated_at,
  })
end

-- A chatflow message that paused on a Human Input node lists the form.
local function extra_contents(m)
  if m.form then
    return json.array({ human_input.message_content(m.form) })
  end
  return json.array()
end

local function message_view(m)
  return json.object({
    id = m.id, conversation_id = m.conversation_id, parent_message_id = m.parent_message_id,
    inputs = m.inputs, query = m.query, answer = m.answer, status = m.status, error = m.error,
    message_files = m.message_files, feedback = m.feedback,
    retriever_resources = m.retriever_resources, agent_thoughts = m.agent_thoughts,
    extra_contents = extra_contents(m), created_at = m.created_at,
  })
end

-- Dify sends a variable's value as str(value) (None stays null).
local function value_text(value)
  if value == nil or value == json.null or type(value) == "string" then
    return value
  end
  return util.python_str(value)
end

local function variable_view(v)
  return json.object({
    id = v.id, name = v.name, value_type = v.value_type, value = value_text(v.value),
    description = v.description, created_at = v.created_at, updated_at = v.updated_at,
  })
end

local map = util.map

---------------------------------------------------------------------------
-- Shared by chat, completion and workflow runs
---------------------------------------------------------------------------

local TRANSFER_METHODS = { remote_url = true, local_file = true }

--- Checks the `files` list of a request; returns the message_files to store.
function chat.message_files(ctx)
  local files = ctx.body.files
  local result = json.array()
  if files == nil or files == json.null then
    return result
  end
  if not json.is_array(files) then
    fail(400, "invalid_param", "files must be a list")
  end
  for _, file in ipairs(files) do
    if not json.is_object(file) or type(file.type) ~= "string" or not TRANSFER_METHODS[file.transfer_method] then
      fail(400, "invalid_param", "each file needs a type and a transfer_method of remote_url or local_file")
    end
    local url = file.url
    if file.transfer_method == "local_file" then
      local upload = ctx.state.files[file.upload_file_id]
      if not upload then
        fail(400, "invalid_param", "upload_file_id does not name an uploaded file")
      end
      upload.in_message = true -- from now on its preview is served
      url = util.signed_url(ctx.req, "/files/" .. file.upload_file_id .. "/file-preview")
    elseif type(url) ~= "string" or url == "" then
      fail(400, "invalid_param", "a remote_url file needs a url")
    end
    result[#result + 1] = json.object({ id = util.uuid(), type = file.type, url = url, belongs_to = "user" })
  end
  return result
end

--- Streams `list` (an app without a workflow) for a task that stop
-- requests can reach; returns the task.
function chat.run_stream(ctx, kind, task_id, list)
  local task = ctx.state:start_task(task_id, kind)
  local ok, err = pcall(stream.sse, ctx.res, list, ctx.faults, task)
  task.streaming = false
  if not ok then
    error(err, 0)
  end
  return task
end

-- The workflow stop route is a workflow app's only: Dify answers a
-- chatflow's task there with not_workflow_app (its stop is the chat one).
local function stop_route(kind)
  return function(ctx)
    local task = ctx.state.tasks[ctx.params.task_id]
    if kind == "workflow" and task and task.run and task.run.app == "chatflow" then
      fail(400, "not_workflow_app", "Please check if your app mode matches the right API route.")
    end
    ctx.state:stop_task(kind, ctx.params.task_id, ctx.user)
    return 200, SUCCESS
  end
end
chat.stop_route = stop_route

-- A readable conversation name from the first query (cut at a character boundary).
local function name_from(query)
  local cut = utf8.offset(query, 41)
  if cut and cut <= #query then
    return query:sub(1, cut - 1) .. "..."
  end
  return query
end

local function blocking_answer(ids, mode, prompt, answer, with_conversation)
  return json.object({
    event = "message",
    task_id = ids.task_id,
    id = ids.message_id,
    message_id = ids.message_id,
    conversation_id = with_conversation and ids.conversation_id or nil,
    mode = mode,
    answer = answer,
    metadata = json.object({
      usage = util.usage(prompt, answer),
      retriever_resources = json.array(),
    }),
    created_at = ids.created_at,
  })
end

---------------------------------------------------------------------------
-- Handlers
---------------------------------------------------------------------------

-- Stores a message in its conversation; returns it and the ids its answer carries.
local function record_message(state, conversation, query, answer, inputs, message_files)
  local message = state:add_message(conversation, {
    query = query, answer = answer, inputs = inputs, message_files = message_files,
  })
  return message, {
    task_id = util.uuid(),
    message_id = message.id,
    conversation_id = conversation.id,
    created_at = message.created_at,
  }
end

-- The query names the kind of app the mock plays (docs/mock.md):
-- a chatflow (with its scenario), an Agent Chat app, a New Agent app.
local CHATFLOW_SCENARIOS = { workflow = "success", pause = "pause", fail = "fail", reasoning = "reasoning" }

-- Agent apps only stream, each saying so in its own words.
local function refuse_blocking_agent(query, mode)
  if mode ~= "blocking" then
    return
  elseif query == "agent" then
    fail(400, "invalid_param", "Agent Chat App does not support blocking mode")
  elseif query == "new_agent" then
    fail(400, "bad_request", "Agent App only supports streaming response mode.")
  end
end

-- The blocking answer of a chatflow paused on a Human Input node (Dify 1.14).
local function paused_answer(ids, run)
  local paused = run.paused_event.data
  local data = json.object({
    id = ids.message_id, mode = "advanced-chat", conversation_id = ids.conversation_id,
    message_id = ids.message_id, workflow_run_id = run.id, answer = "", metadata = json.object(),
    created_at = ids.created_at, paused_nodes = paused.paused_nodes, reasons = paused.reasons,
    status = "paused", elapsed_time = paused.elapsed_time, total_tokens = paused.total_tokens,
    total_steps = paused.total_steps,
  })
  return json.object({
    event = "workflow_paused", task_id = ids.task_id, id = ids.message_id, message_id = ids.message_id,
    conversation_id = ids.conversation_id, mode = "advanced-chat", answer = "", metadata = json.object(),
    created_at = ids.created_at, workflow_run_id = run.id, data = data,
  })
end

-- A chatflow's answer: its workflow run, blocking or streamed.
local function chatflow_message(ctx, message, ids, scenario, answer)
  local state = ctx.state
  ids.workflow_run_id, ids.workflow_id = util.uuid(), state.workflow_id
  local run
  run = runs.create(state, ids, {
    app = "chatflow", workflow_id = ids.workflow_id, inputs = message.inputs, user = ctx.user,
    task_id = ids.task_id, message = message,
  }, {
    scenario = scenario ~= "success" and scenario or nil,
    no_message_end = ctx.faults.no_message_end,
    new_form = function(node)
      message.form = human_input.new_form(state, run, node, message.query)
      return message.form
    end,
  })
  flows.chatflow(run.flow, message.inputs, message.query, answer)
  if util.response_mode(ctx.body) == "streaming" then
    runs.stream(ctx, run, run.flow.list, "chat")
    return
  end
  runs.complete(run, run.flow.list)
  runs.task(state, run, "chat").streaming = false
  if run.status == "paused" then
    return 200, paused_answer(ids, run)
  elseif run.status == "failed" then
    fail(400, "invalid_param", "Run failed: " .. tostring(run.error))
  end
  return 200, blocking_answer(ids, "advanced-chat", message.query, answer, true)
end

-- Dify's UUIDStrOrEmpty fields: empty, or a UUID (else a pydantic 400).
local function uuid_or_empty(value, name)
  value = value and value:match("^%s*(.-)%s*$")
  if value and value ~= "" and not is_uuid(value) then
    fail(400, "invalid_param", name .. " must be a valid UUID")
  end
  return value ~= "" and value or nil
end

local function conversation_for(ctx, query, inputs)
  local conversation_id = uuid_or_empty(util.string_field(ctx.body, "conversation_id", false), "conversation_id")
  if conversation_id then
    return ctx.state:conversation_of(ctx.user, conversation_id)
  end
  local name = ctx.body.auto_generate_name == false and "New conversation" or name_from(query)
  return ctx.state:create_conversation(ctx.user, inputs, name)
end

-- POST /chat-messages
local function send_chat_message(ctx)
  local body, state = ctx.body, ctx.state
  local query = util.string_field(body, "query", true)
  local inputs = util.inputs(body, false)
  local mode = util.response_mode(body)
  local message_files = chat.message_files(ctx)
  refuse_blocking_agent(query, mode)
  local conversation = conversation_for(ctx, query, inputs)

  local answer = ctx.faults.big and util.filler(ctx.faults.big) or ("Echo: " .. query)
  local scenario = CHATFLOW_SCENARIOS[query]
  -- a chatflow's message gets its answer when its run succeeds
  local message, ids = record_message(state, conversation, query, scenario and "" or answer, inputs, message_files)
  if scenario then
    return chatflow_message(ctx, message, ids, scenario, answer)
  elseif mode == "blocking" then
    return 200, blocking_answer(ids, "chat", query, answer, true)
  end
  local list
  if query == "agent" then -- an Agent Chat app
    list = events.agent(ids, query, answer)
  elseif query == "new_agent" then -- a New Agent app
    list = events.new_agent(ids, query, answer)
  else
    list = events.chat(ids, query, answer)
  end
  chat.run_stream(ctx, "chat", ids.task_id, list)
end

-- POST /completion-messages
local function send_completion_message(ctx)
  local body, state = ctx.body, ctx.state
  local inputs = util.inputs(body, true)
  local mode = util.response_mode(body)
  local message_files = chat.message_files(ctx)
  local prompt = type(inputs.query) == "string" and inputs.query
    or (type(body.query) == "string" and body.query) or ""
  local answer = ctx.faults.big and util.filler(ctx.faults.big) or ("Echo: " .. prompt)

  -- Dify keeps completion messages in a conversation of their own
  local conversation = state:create_conversation(ctx.user, inputs, name_from(prompt))
  local _, ids = record_message(state, conversation, prompt, answer, inputs, message_files)
  if mode == "blocking" then
    return 200, blocking_answer(ids, "completion", prompt, answer, false)
  end
  chat.run_stream(ctx, "completion", ids.task_id, events.chat(ids, prompt, answer))
end

-- POST /messages/{message_id}/feedbacks
local function post_feedback(ctx)
  local message = ctx.state:message_of(ctx.user, ctx.params.message_id)
  local rating = ctx.body.rating
  if rating ~= nil and rating ~= json.null and rating ~= "like" and rating ~= "dislike" then
    fail(400, "invalid_param", "rating must be like, dislike or null")
  end
  local content = util.string_field(ctx.body, "content", false)
  ctx.state:set_feedback(message, rating, content)
  return 200, SUCCESS
end

-- GET /app/feedbacks?page=&limit=  (newest first)
local function list_app_feedbacks(ctx)
  local page = util.int_arg(ctx.args, "page", 1, 1, math.maxinteger)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 101)
  local newest_first = {}
  for i = #ctx.state.feedbacks, 1, -1 do
    newest_first[#newest_first + 1] = ctx.state.feedbacks[i]
  end
  local data = util.page(newest_first, page, limit)
  return 200, json.object({ data = data })
end

-- GET /messages/{message_id}/suggested
local function suggested_questions(ctx)
  local message = ctx.state:message_of(ctx.user, ctx.params.message_id)
  return 200, json.object({
    result = "success",
    data = json.array({
      "Can you tell me more about " .. message.query .. "?",
      "Why is that?",
      "What should I do next?",
    }),
  })
end

-- GET /messages?conversation_id=&user=&first_id=&limit=
-- The newest `limit` messages, oldest first within the page; passing the
-- oldest id held as first_id gets the page before it.
local function list_messages(ctx)
  local conversation_id = util.first(ctx.args.conversation_id)
  if not conversation_id then
    fail(400, "invalid_param", "conversation_id is required")
  end
  local conversation = ctx.state:conversation_of(ctx.user, uuid_or_empty(conversation_id, "conversation_id"))
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local messages = conversation.messages
  local last = #messages -- last index of the page
  local first_id = uuid_or_empty(util.first(ctx.args.first_id), "first_id")
  if first_id then
    last = nil
    for i, message in ipairs(messages) do
      if message.id == first_id then
        last = i - 1
        break
      end
    end
    if not last then
      fail(404, "not_found", "First Message Not Exists.")
    end
  end
  local first = math.max(1, last - limit + 1)
  local data = json.array()
  for i = first, last do
    data[#data + 1] = message_view(messages[i])
  end
  return 200, json.object({ limit = limit, has_more = first > 1, data = data })
end

local SORT_FIELDS = {
  ["created_at"] = { key = "seq", descending = false },
  ["-created_at"] = { key = "seq", descending = true },
  ["updated_at"] = { key = "updated_seq", descending = false },
  ["-updated_at"] = { key = "updated_seq", descending = true },
}

-- GET /conversations?user=&last_id=&limit=&sort_by=
local function list_conversations(ctx)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local sort_by = util.first(ctx.args.sort_by) or "-updated_at"
  local order = SORT_FIELDS[sort_by]
  if not order then
    fail(400, "invalid_param", "sort_by must be one of created_at, -created_at, updated_at, -updated_at")
  end
  local mine = {}
  for _, conversation in ipairs(ctx.state.conversation_list) do
    if conversation.user == ctx.user then
      mine[#mine + 1] = conversation
    end
  end
  table.sort(mine, function(a, b)
    if order.descending then
      return a[order.key] > b[order.key]
    end
    return a[order.key] < b[order.key]
  end)
  local page, has_more = util.after_cursor(mine, util.first(ctx.args.last_id), limit,
    "not_found", "Last Conversation Not Exists.")
  return 200, json.object({ limit = limit, has_more = has_more, data = map(page, conversation_view) })
end

-- DELETE /conversations/{conversation_id}
local function delete_conversation(ctx)
  local conversation = ctx.state:conversation_of(ctx.user, ctx.params.conversation_id)
  ctx.state:delete_conversation(conversation)
  return 204
end

-- POST /conversations/{conversation_id}/name
local function rename_conversation(ctx)
  local conversation = ctx.state:conversation_of(ctx.user, ctx.params.conversation_id)
  if ctx.body.auto_generate == true then
    local first = conversation.messages[1]
    conversation.name = first and name_from(first.query) or "New conversation"
  else
    local name = util.string_field(ctx.body, "name", false)
    if not name or name == "" then
      fail(400, "invalid_param", "name is required when auto_generate is false")
    end
    conversation.name = name
  end
  conversation.updated_at = util.now()
  conversation.updated_seq = ctx.state:tick()
  return 200, conversation_view(conversation)
end

-- GET /conversations/{conversation_id}/variables?user=&last_id=&limit=&variable_name=
local function list_variables(ctx)
  local conversation = ctx.state:conversation_of(ctx.user, ctx.params.conversation_id)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local wanted = util.first(ctx.args.variable_name)
  local variables = {}
  for _, variable in ipairs(conversation.variables) do
    if not wanted or wanted == "" or variable.name == wanted then
      variables[#variables + 1] = variable
    end
  end
  local page, has_more = util.after_cursor(variables, util.first(ctx.args.last_id), limit,
    "not_found", "Last Variable Not Exists.")
  return 200, json.object({ limit = limit, has_more = has_more, data = map(page, variable_view) })
end

local VALUE_CHECKS = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  object = json.is_object,
  array = json.is_array,
}

-- PUT /conversations/{conversation_id}/variables/{variable_id}
local function update_variable(ctx)
  local conversation = ctx.state:conversation_of(ctx.user, ctx.params.conversation_id)
  local variable
  for _, candidate in ipairs(conversation.variables) do
    if candidate.id == ctx.params.variable_id then
      variable = candidate
    end
  end
  if not variable then
    fail(404, "not_found", "Conversation Variable Not Exists.")
  end
  local value = ctx.body.value
  if value == nil then
    fail(400, "invalid_param", "value is required")
  end
  local check = VALUE_CHECKS[variable.value_type]
  if check and not check(value) then
    fail(400, "invalid_param", ("value must be of type %s"):format(variable.value_type))
  end
  variable.value = value
  variable.updated_at = util.now()
  return 200, variable_view(variable)
end

function chat.register(router)
  local user = { user = true }
  local optional_user = { user = "optional" } -- Dify stands in DEFAULT-USER
  router:add("POST", "/chat-messages", send_chat_message, user)
  router:add("POST", "/chat-messages/:task_id/stop", stop_route("chat"), user)
  router:add("POST", "/completion-messages", send_completion_message, user)
  router:add("POST", "/completion-messages/:task_id/stop", stop_route("completion"), user)
  router:add("POST", "/messages/:message_id:uuid/feedbacks", post_feedback, user)
  router:add("GET", "/app/feedbacks", list_app_feedbacks)
  router:add("GET", "/messages/:message_id:uuid/suggested", suggested_questions, user)
  router:add("GET", "/messages", list_messages, optional_user)
  router:add("GET", "/conversations", list_conversations, optional_user)
  router:add("DELETE", "/conversations/:conversation_id:uuid", delete_conversation, optional_user)
  router:add("POST", "/conversations/:conversation_id:uuid/name", rename_conversation, optional_user)
  router:add("GET", "/conversations/:conversation_id:uuid/variables", list_variables, optional_user)
  router:add("PUT", "/conversations/:conversation_id:uuid/variables/:variable_id:uuid", update_variable,
    optional_user)
end

return chat
