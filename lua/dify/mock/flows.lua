--- Workflow and chatflow runs, node by node, as Dify 1.14 streams them.
--
-- A Flow collects a run's events in order and keeps the run's counters
-- (steps, tokens, status, outputs).  A run that pauses on a Human Input node
-- keeps its Flow: resuming it (form submitted or timed out) starts a new list
-- of events that goes on from the paused node.
--
-- The scenarios (chosen by the request: see bin/dify-mock and docs/mock.md):
--   workflow app   start, iteration, LLM (text_chunk), end, workflow_finished
--   chatflow       start, LLM (message deltas), answer, message_end, workflow_finished
--   "pause"        ... start, Human Input node_started, human_input_required,
--                  workflow_paused; resumed: human_input_form_filled or
--                  human_input_form_timeout, the Human Input node_finished, the rest
--   "fail"         the LLM node fails: workflow_finished status failed (a chatflow
--                  then sends an error event)
--   "reasoning"    the LLM node streams reasoning_chunk events before its answer

local events = require("dify.mock.events")
local json = require("dify.mock.json")
local util = require("dify.mock.util")

local flows = {}

local Flow = {}
Flow.__index = Flow

local NODES = {
  start = { id = "start", type = "start", title = "Start" },
  human_input = { id = "human_input", type = "human-input", title = "Approval" },
  iteration = { id = "iteration", type = "iteration", title = "Iteration" },
  llm = { id = "llm", type = "llm", title = "LLM", tokens = 10 },
  answer = { id = "answer", type = "answer", title = "Answer" },
  ["end"] = { id = "end", type = "end", title = "End" },
}

local FAILURE = "LLM node failed: the model provider answered 500 (simulated)"

--- A new flow for the run `ids` names.  app: "workflow" or "chatflow".
-- options: {scenario = nil | "pause" | "fail" | "reasoning",
-- parallel_branches = bool, no_message_end = bool,
-- new_form = fn(node) -> form (for "pause")}.
function flows.new(ids, app, options)
  return setmetatable({
    ids = ids, app = app, options = options or {}, list = {}, index = 0,
    result = { status = "running", outputs = json.object(), total_steps = 0, total_tokens = 0 },
  }, Flow)
end

function Flow:add(event)
  self.list[#self.list + 1] = event
end

-- node_started for the next node; returns its execution {id, node, status}.
function Flow:start_node(template, fields)
  self.index = self.index + 1
  local node = events.merge(events.merge({}, template), fields)
  node.index = self.index
  node.predecessor = self.last_node_id
  self.last_node_id = node.id
  local execution = { id = util.uuid(), node = node, status = "running" }
  self:add(events.workflow_event(self.ids, "node_started", events.node_started_data(self.ids, execution)))
  return execution
end

-- node_finished for an execution; it counts as a step of the run.
function Flow:finish_node(execution, status, error_text)
  execution.status, execution.error = status or "succeeded", error_text
  self.result.total_steps = self.result.total_steps + 1
  self.result.total_tokens = self.result.total_tokens + (execution.node.tokens or 0)
  self:add(events.workflow_event(self.ids, "node_finished", events.node_finished_data(self.ids, execution)))
end

-- A node that runs to success; `between(flow)` adds what it streams meanwhile.
function Flow:run_node(template, fields, between)
  local execution = self:start_node(template, fields)
  if between then
    between(self)
  end
  self:finish_node(execution)
end

function Flow:finish(status, outputs, error_text)
  local result = self.result
  result.status, result.outputs, result.error = status, outputs, error_text
  result.finished_at = util.now()
  self:add(events.workflow_finished(self.ids, result, self.ids.creator))
end

---------------------------------------------------------------------------
-- Pieces of the LLM node
---------------------------------------------------------------------------

-- reasoning_chunk deltas of the LLM node's reasoning, then the final one.
function Flow:reasoning(prompt)
  local text = ("The user wrote %q. I will echo it back."):format(prompt)
  for _, word in ipairs(util.words(text)) do
    self:add(events.reasoning_chunk(self.ids, NODES.llm.id, word, false))
  end
  self:add(events.reasoning_chunk(self.ids, NODES.llm.id, "", true))
end

function Flow:text_chunks(answer)
  for _, word in ipairs(util.words(answer)) do
    self:add(events.workflow_event(self.ids, "text_chunk", {
      text = word,
      from_variable_selector = json.array({ NODES.llm.id, "text" }),
    }))
  end
end

-- The LLM node of the "fail" scenario: it fails, and so does the run.
function Flow:fail_llm()
  local execution = self:start_node(NODES.llm, { outputs = json.object() })
  self:finish_node(execution, "failed", FAILURE)
  self:finish("failed", json.object(), FAILURE)
end

---------------------------------------------------------------------------
-- Pausing and resuming
---------------------------------------------------------------------------

--- Pauses on a Human Input node: node_started, human_input_required,
-- workflow_paused (the stream's last event).
function Flow:pause()
  local execution = self:start_node(NODES.human_input)
  local form = self.options.new_form(execution.node)
  self.paused_execution, self.form = execution, form
  local result = self.result
  result.status, result.outputs, result.finished_at = "paused", json.object(), nil
  self:add(events.human_input_required(self.ids, form))
  self:add(events.workflow_paused(self.ids, result, form))
end

-- Starts the events of the resumed run: what became of the form, and the
-- Human Input node's end.
function Flow:resume_from_form()
  self.list = {}
  self.result.status = "running"
  local form = self.form
  if form.status == "timeout" then
    self:add(events.form_timeout(self.ids, form))
    self.paused_execution.node.outputs = json.object({ __timeout = true })
  else
    self:add(events.form_filled(self.ids, form))
    local outputs = events.merge(json.object(), form.submission.inputs)
    outputs.__action_id = form.submission.action.id
    self.paused_execution.node.outputs = outputs
  end
  self:finish_node(self.paused_execution)
end

---------------------------------------------------------------------------
-- Workflow apps
---------------------------------------------------------------------------

local function iteration_events(flow)
  local ids = flow.ids
  local branch = { parallel_id = "parallel-1", parallel_branch_id = "iteration",
    parent_parallel_id = json.null, parent_parallel_start_node_id = json.null, created_at = ids.created_at }
  if flow.options.parallel_branches then -- Dify up to 1.8
    flow:add(events.workflow_event(ids, "parallel_branch_started", branch))
  end
  local iteration = { id = util.uuid(), node_id = "iteration", node_type = "iteration",
    title = "Iteration", created_at = ids.created_at, extras = json.object() }
  local function with(fields) return events.merge(events.merge({}, iteration), fields) end
  flow:add(events.workflow_event(ids, "iteration_started",
    with({ metadata = json.object({ iterator_length = 2 }), inputs = json.object() })))
  for round = 0, 1 do
    flow:add(events.workflow_event(ids, "iteration_next", with({
      index = round, pre_iteration_output = round == 0 and json.null or "item 1" })))
  end
  flow:add(events.workflow_event(ids, "iteration_completed", with({
    inputs = json.object(),
    outputs = json.object({ output = json.array({ "item 1", "item 2" }) }),
    status = "succeeded", error = json.null, elapsed_time = 0.02, total_tokens = 0,
    execution_metadata = events.execution_metadata(0), finished_at = ids.created_at, steps = 2,
  })))
  flow.result.total_steps = flow.result.total_steps + 1
  if flow.options.parallel_branches then
    flow:add(events.workflow_event(ids, "parallel_branch_finished",
      events.merge(events.merge({}, branch), { status = "succeeded", error = json.null })))
  end
end

-- Everything after the start (or the Human Input) node of a workflow app.
local function workflow_rest(flow, prompt, answer)
  iteration_events(flow)
  if flow.options.scenario == "fail" then
    return flow:fail_llm()
  end
  flow:run_node(NODES.llm, { outputs = json.object({ text = answer }) }, function()
    if flow.options.scenario == "reasoning" then
      flow:reasoning(prompt)
    end
    flow:text_chunks(answer)
  end)
  flow:run_node(NODES["end"], { outputs = json.object({ text = answer }) })
  flow:finish("succeeded", json.object({ text = answer }))
end

-- A run up to its end or its pause: the start node, then the Human Input
-- node's pause or `rest`, the nodes after it.
local function run_from_start(rest)
  return function(flow, inputs, prompt, answer)
    flow.prompt, flow.answer = prompt, answer
    flow:add(events.workflow_started(flow.ids, inputs))
    flow:run_node(NODES.start, { inputs = inputs, outputs = inputs })
    if flow.options.scenario == "pause" then
      return flow:pause()
    end
    rest(flow, prompt, answer)
  end
end

--- A workflow app's run, up to its end or its pause: flows.workflow(flow, inputs, prompt, answer).
flows.workflow = run_from_start(workflow_rest)

---------------------------------------------------------------------------
-- Chatflows (advanced chat)
---------------------------------------------------------------------------

-- Dify ≥ 1.13.1: message_end, then workflow_finished, which closes the stream.
local function chatflow_end(flow, prompt, answer)
  if not flow.options.no_message_end then
    flow:add(events.message_end(flow.ids, prompt, answer))
  end
  flow:finish("succeeded", json.object({ answer = answer }))
end

-- Everything after the start (or the Human Input) node of a chatflow.
local function chatflow_rest(flow, prompt, answer)
  if flow.options.scenario == "fail" then
    flow:fail_llm()
    -- a failed chatflow's workflow_finished is followed by the error it failed with
    local event = events.message_event(flow.ids, "error", {
      status = 400, code = "invalid_param", message = "Run failed: " .. FAILURE,
    })
    event.task_id = nil
    return flow:add(event)
  end
  flow:run_node(NODES.llm, { outputs = json.object({ text = answer }) }, function()
    if flow.options.scenario == "reasoning" then
      flow:reasoning(prompt)
    end
    events.answer_deltas(flow.list, flow.ids, "message", answer)
  end)
  flow:run_node(NODES.answer, { outputs = json.object({ answer = answer }) })
  chatflow_end(flow, prompt, answer)
end

--- A chatflow's run, up to its end or its pause: flows.chatflow(flow, inputs, prompt, answer).
flows.chatflow = run_from_start(chatflow_rest)

--- The events of a paused run once its form was submitted or timed out;
-- they go on to the run's end.
function flows.resumed(flow)
  flow:resume_from_form()
  if flow.app == "chatflow" then
    chatflow_rest(flow, flow.prompt, flow.answer)
  else
    workflow_rest(flow, flow.prompt, flow.answer)
  end
  return flow.list
end

return flows
