--- The events of streamed answers, shaped as Dify 1.14 sends them (the
-- Service API OpenAPI's StreamEvent* schemas), and the event lists of the
-- apps without a workflow (chat, completion, agent chat, New Agent).
-- Workflow and chatflow runs are put together in dify.mock.flows.
--
-- `ids` carries what every event repeats: task_id, message_id,
-- conversation_id, created_at and, for workflows, workflow_run_id and
-- workflow_id.  A workflow app's ids have no message or conversation, so
-- its events carry neither.

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local events = {}

local function merge(target, fields)
  for k, v in pairs(fields or {}) do
    target[k] = v
  end
  return target
end
events.merge = merge

--- Chat-style events: event, task_id, message_id, conversation_id, created_at.
function events.message_event(ids, name, fields)
  return merge(json.object({
    event = name,
    task_id = ids.task_id,
    message_id = ids.message_id,
    conversation_id = ids.conversation_id,
    created_at = ids.created_at,
  }), fields)
end
local message_event = events.message_event

--- Workflow-style events: event, task_id, workflow_run_id, data (and, in a
-- chatflow, the message and conversation ids and created_at too).
function events.workflow_event(ids, name, data)
  return json.object({
    event = name,
    task_id = ids.task_id,
    workflow_run_id = ids.workflow_run_id,
    message_id = ids.message_id,
    conversation_id = ids.conversation_id,
    created_at = ids.message_id and ids.created_at or nil,
    data = json.object(data),
  })
end
local workflow_event = events.workflow_event

--- One `name` event (message, agent_message) per word of the answer.
function events.answer_deltas(list, ids, name, answer)
  for _, word in ipairs(util.words(answer)) do
    list[#list + 1] = message_event(ids, name, { id = ids.message_id, answer = word })
  end
end

--- The message_end of an answer; `options.no_resources` leaves out
-- retriever_resources (New Agent apps never send them).
function events.message_end(ids, prompt, answer, options)
  local metadata = json.object({ usage = util.usage(prompt, answer) })
  if not (options and options.no_resources) then
    metadata.retriever_resources = json.array()
  end
  return message_event(ids, "message_end", {
    id = ids.message_id,
    metadata = metadata,
    files = json.null, -- the files the answer produced; none here
  })
end

--- chat / completion: one `message` per word, then `message_end`.
function events.chat(ids, prompt, answer)
  local list = {}
  events.answer_deltas(list, ids, "message", answer)
  list[#list + 1] = events.message_end(ids, prompt, answer)
  return list
end

local function agent_thought(ids, thought_id, text)
  return message_event(ids, "agent_thought", {
    id = thought_id,
    position = 1,
    thought = text,
    observation = "",
    tool = "",
    tool_labels = json.object(),
    tool_input = "",
    message_files = json.array(),
  })
end

--- agent chat: a thought, `agent_message` deltas, the finished thought, `message_end`.
function events.agent(ids, prompt, answer)
  local thought_id = util.uuid()
  local list = { agent_thought(ids, thought_id, "") }
  events.answer_deltas(list, ids, "agent_message", answer)
  list[#list + 1] = agent_thought(ids, thought_id, answer)
  list[#list + 1] = events.message_end(ids, prompt, answer)
  return list
end

--- New Agent app (mode "agent"): a thought, `agent_message` deltas, then one
-- closing `message` that carries the complete answer, then `message_end`
-- (usage only, never retriever_resources).
function events.new_agent(ids, prompt, answer)
  local list = { agent_thought(ids, util.uuid(), "") }
  events.answer_deltas(list, ids, "agent_message", answer)
  list[#list + 1] = message_event(ids, "message", { id = ids.message_id, answer = answer })
  list[#list + 1] = events.message_end(ids, prompt, answer, { no_resources = true })
  return list
end

---------------------------------------------------------------------------
-- Workflow pieces
---------------------------------------------------------------------------

function events.execution_metadata(tokens)
  return json.object({ total_tokens = tokens, total_price = 0.00001, currency = "USD" })
end

--- workflow_started; `reason` is "initial" (a run's first start).
function events.workflow_started(ids, inputs)
  return workflow_event(ids, "workflow_started", {
    id = ids.workflow_run_id,
    workflow_id = ids.workflow_id,
    inputs = inputs,
    created_at = ids.created_at,
    reason = "initial",
  })
end

--- The `data` of node_started for an execution {id, node} (see flows).
function events.node_started_data(ids, execution)
  local node = execution.node
  return {
    id = execution.id,
    node_id = node.id,
    node_type = node.type,
    title = node.title,
    index = node.index,
    predecessor_node_id = node.predecessor or json.null,
    inputs = node.inputs or json.object(),
    created_at = ids.created_at,
    extras = json.object(),
  }
end

--- The `data` of node_finished for an execution that ended in `status`.
function events.node_finished_data(ids, execution)
  local node = execution.node
  return merge(events.node_started_data(ids, execution), {
    process_data = json.null,
    outputs = node.outputs or json.object(),
    status = execution.status,
    error = execution.error or json.null,
    elapsed_time = 0.01,
    execution_metadata = events.execution_metadata(node.tokens or 0),
    finished_at = ids.created_at,
  })
end

--- One reasoning_chunk: `data` {reasoning, node_id, is_final} (and, in a
-- chatflow, the message_id; chat apps carry no workflow_run_id on it).
function events.reasoning_chunk(ids, node_id, text, is_final)
  local data = json.object({ reasoning = text, node_id = node_id, is_final = is_final })
  if ids.message_id then
    data.message_id = ids.message_id
    return message_event(ids, "reasoning_chunk", { data = data })
  end
  return workflow_event(ids, "reasoning_chunk", data)
end

--- The `data` of a workflow's result: the blocking answer's `data`.
-- `run` holds status, outputs, error, total_tokens, total_steps,
-- created_at, finished_at (null while paused or running).
function events.workflow_result(ids, run)
  return json.object({
    id = ids.workflow_run_id,
    workflow_id = ids.workflow_id,
    status = run.status,
    outputs = run.outputs,
    error = run.error or json.null,
    elapsed_time = 0.42,
    total_tokens = run.total_tokens,
    total_steps = run.total_steps,
    created_at = ids.created_at,
    finished_at = run.finished_at or json.null,
  })
end

--- workflow_finished: the result plus what only the stream carries.
function events.workflow_finished(ids, run, creator)
  return workflow_event(ids, "workflow_finished", merge(events.workflow_result(ids, run), {
    created_by = creator,
    exceptions_count = 0,
    files = json.array(),
  }))
end

---------------------------------------------------------------------------
-- Human input (a paused run)
---------------------------------------------------------------------------

-- What human_input_required and a pause reason both say of a form.
local function form_fields(form)
  return {
    form_id = form.id,
    node_id = form.node_id,
    node_title = form.node_title,
    form_content = form.form_content,
    inputs = form.inputs,
    actions = form.actions,
    display_in_ui = false,
    form_token = form.token,
    resolved_default_values = form.resolved_default_values,
    expiration_time = form.expiration_time,
  }
end

--- human_input_required for a form (see dify.mock.human_input).
function events.human_input_required(ids, form)
  return workflow_event(ids, "human_input_required", form_fields(form))
end

--- The pause reason of a form, as workflow_paused and blocking answers list it.
function events.pause_reason(form)
  return json.object(merge(form_fields(form), { TYPE = "human_input_required" }))
end

--- The `data` of workflow_paused.
function events.paused_data(ids, run, form)
  return json.object({
    workflow_run_id = ids.workflow_run_id,
    paused_nodes = json.array({ form.node_id }),
    outputs = json.object(),
    reasons = json.array({ events.pause_reason(form) }),
    status = "paused",
    created_at = ids.created_at,
    elapsed_time = 0.42,
    total_tokens = run.total_tokens,
    total_steps = run.total_steps,
  })
end

function events.workflow_paused(ids, run, form)
  return workflow_event(ids, "workflow_paused", events.paused_data(ids, run, form))
end

--- human_input_form_filled: what the form's submission said.
function events.form_filled(ids, form)
  local submission = form.submission
  return workflow_event(ids, "human_input_form_filled", {
    node_id = form.node_id,
    node_title = form.node_title,
    rendered_content = submission.rendered_content,
    action_id = submission.action.id,
    action_text = submission.action.title,
    submitted_data = submission.inputs,
  })
end

--- human_input_form_timeout: nobody answered before the form expired.
function events.form_timeout(ids, form)
  return workflow_event(ids, "human_input_form_timeout", {
    node_id = form.node_id,
    node_title = form.node_title,
    expiration_time = form.expiration_time,
  })
end

return events
