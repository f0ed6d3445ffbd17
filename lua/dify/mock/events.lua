--- The event sequences of streamed answers, built as lists of tables (the
-- last one is the terminal event).  Shapes follow the wire reference.
--
-- `ids` carries what every event repeats: task_id, message_id,
-- conversation_id, created_at and, for workflows, workflow_run_id and
-- workflow_id.

local json = require("dify.mock.json")
local util = require("dify.mock.util")

local events = {}

local function merge(target, fields)
  for k, v in pairs(fields or {}) do
    target[k] = v
  end
  return target
end

-- Chat-style events: event, task_id, message_id, conversation_id, created_at.
local function message_event(ids, name, fields)
  return merge(json.object({
    event = name,
    task_id = ids.task_id,
    message_id = ids.message_id,
    conversation_id = ids.conversation_id,
    created_at = ids.created_at,
  }), fields)
end

-- Workflow-style events: event, task_id, workflow_run_id, data (and, in a
-- chatflow, the message and conversation ids too).
local function workflow_event(ids, name, data)
  return json.object({
    event = name,
    task_id = ids.task_id,
    workflow_run_id = ids.workflow_run_id,
    message_id = ids.message_id,
    conversation_id = ids.conversation_id,
    created_at = ids.created_at,
    data = json.object(data),
  })
end

local function answer_deltas(list, ids, name, answer)
  for _, word in ipairs(util.words(answer)) do
    list[#list + 1] = message_event(ids, name, { id = ids.message_id, answer = word })
  end
end

local function message_end(ids, prompt, answer)
  return message_event(ids, "message_end", {
    id = ids.message_id,
    metadata = json.object({
      usage = util.usage(prompt, answer),
      retriever_resources = json.array(),
    }),
  })
end

--- chat / completion: one `message` per word, then `message_end`.
function events.chat(ids, prompt, answer)
  local list = {}
  answer_deltas(list, ids, "message", answer)
  list[#list + 1] = message_end(ids, prompt, answer)
  return list
end

--- agent chat: a thought, `agent_message` deltas, the finished thought, `message_end`.
function events.agent(ids, prompt, answer)
  local thought_id = util.uuid()
  local function thought(text)
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
  local list = { thought("") }
  answer_deltas(list, ids, "agent_message", answer)
  list[#list + 1] = thought(answer)
  list[#list + 1] = message_end(ids, prompt, answer)
  return list
end

---------------------------------------------------------------------------
-- Workflow pieces
---------------------------------------------------------------------------

local function execution_metadata(tokens)
  return json.object({ total_tokens = tokens, total_price = "0.0000100", currency = "USD" })
end

-- node_started + node_finished for one node; `between` (optional) builds the
-- events emitted while the node runs.
local function run_node(list, ids, node, between)
  local execution_id = util.uuid()
  local started = {
    id = execution_id,
    node_id = node.id,
    node_type = node.type,
    title = node.title,
    index = node.index,
    predecessor_node_id = node.predecessor or json.null,
    inputs = node.inputs or json.object(),
    created_at = ids.created_at,
    extras = json.object(),
  }
  list[#list + 1] = workflow_event(ids, "node_started", started)
  if between then
    between(list)
  end
  local finished = merge({}, started)
  merge(finished, {
    process_data = json.null,
    outputs = node.outputs or json.object(),
    status = "succeeded",
    error = json.null,
    elapsed_time = 0.01,
    execution_metadata = execution_metadata(node.tokens or 0),
    finished_at = ids.created_at,
  })
  list[#list + 1] = workflow_event(ids, "node_finished", finished)
end

local function workflow_started(ids, inputs)
  return workflow_event(ids, "workflow_started", {
    id = ids.workflow_run_id,
    workflow_id = ids.workflow_id,
    sequence_number = 1,
    inputs = inputs,
    created_at = ids.created_at,
  })
end

--- The `data` of workflow_finished, also the blocking answer's `data`.
function events.workflow_result(ids, outputs, status, steps, tokens)
  return json.object({
    id = ids.workflow_run_id,
    workflow_id = ids.workflow_id,
    status = status,
    outputs = outputs,
    error = json.null,
    elapsed_time = 0.42,
    total_tokens = tokens,
    total_steps = steps,
    created_at = ids.created_at,
    finished_at = ids.created_at,
  })
end

--- chatflow (advanced chat): workflow and node events around the message
-- deltas, and `workflow_finished` before the terminal `message_end`.
function events.chatflow(ids, inputs, prompt, answer)
  local list = { workflow_started(ids, inputs) }
  run_node(list, ids, { id = "start", type = "start", title = "Start", index = 1, inputs = inputs, outputs = inputs })
  run_node(list, ids, {
    id = "llm", type = "llm", title = "LLM", index = 2, predecessor = "start",
    outputs = json.object({ text = answer }), tokens = 10,
  }, function(inner)
    answer_deltas(inner, ids, "message", answer)
  end)
  run_node(list, ids, {
    id = "answer", type = "answer", title = "Answer", index = 3, predecessor = "llm",
    outputs = json.object({ answer = answer }),
  })
  local result = events.workflow_result(ids, json.object({ answer = answer }), "succeeded", 3, 10)
  list[#list + 1] = workflow_event(ids, "workflow_finished", result)
  list[#list + 1] = message_end(ids, prompt, answer)
  return list
end

--- workflow app: start, a parallel branch holding a two-round iteration, an
-- LLM node streaming text_chunk events, an end node, `workflow_finished`.
function events.workflow(ids, inputs, answer)
  local list = { workflow_started(ids, inputs) }
  run_node(list, ids, { id = "start", type = "start", title = "Start", index = 1, inputs = inputs, outputs = inputs })

  local branch = { parallel_id = "parallel-1", parallel_branch_id = "iteration",
    parent_parallel_id = json.null, parent_parallel_start_node_id = json.null, created_at = ids.created_at }
  list[#list + 1] = workflow_event(ids, "parallel_branch_started", branch)

  local iteration = { id = util.uuid(), node_id = "iteration", node_type = "iteration",
    title = "Iteration", created_at = ids.created_at, extras = json.object() }
  list[#list + 1] = workflow_event(ids, "iteration_started",
    merge(merge({}, iteration), { metadata = json.object({ iterator_length = 2 }), inputs = json.object() }))
  for round = 0, 1 do
    list[#list + 1] = workflow_event(ids, "iteration_next", merge(merge({}, iteration), {
      index = round,
      pre_iteration_output = round == 0 and json.null or "item 1",
    }))
  end
  list[#list + 1] = workflow_event(ids, "iteration_completed", merge(merge({}, iteration), {
    inputs = json.object(),
    outputs = json.object({ output = json.array({ "item 1", "item 2" }) }),
    status = "succeeded",
    error = json.null,
    elapsed_time = 0.02,
    total_tokens = 0,
    execution_metadata = execution_metadata(0),
    finished_at = ids.created_at,
    steps = 2,
  }))
  list[#list + 1] = workflow_event(ids, "parallel_branch_finished",
    merge(merge({}, branch), { status = "succeeded", error = json.null }))

  run_node(list, ids, {
    id = "llm", type = "llm", title = "LLM", index = 3, predecessor = "start",
    outputs = json.object({ text = answer }), tokens = 10,
  }, function(inner)
    for _, word in ipairs(util.words(answer)) do
      inner[#inner + 1] = workflow_event(ids, "text_chunk", {
        text = word,
        from_variable_selector = json.array({ "llm", "text" }),
      })
    end
  end)
  run_node(list, ids, {
    id = "end", type = "end", title = "End", index = 4, predecessor = "llm",
    outputs = json.object({ text = answer }),
  })
  local result = events.workflow_result(ids, json.object({ text = answer }), "succeeded", 5, 10)
  list[#list + 1] = workflow_event(ids, "workflow_finished", result)
  return list
end

return events
