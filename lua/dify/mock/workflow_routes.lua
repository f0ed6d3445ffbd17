--- Workflow apps: runs (blocking and streaming), run details, stop, logs,
-- and following a run's events (GET /workflow/{id}/events, Dify 1.14).
--
-- `inputs.scenario` chooses what a run does (see dify.mock.flows):
-- "pause" (waits on a Human Input form), "fail", "reasoning"; anything
-- else runs to success.

local chat = require("dify.mock.chat_routes")
local events = require("dify.mock.events")
local flows = require("dify.mock.flows")
local human_input = require("dify.mock.human_input")
local json = require("dify.mock.json")
local runs = require("dify.mock.runs")
local util = require("dify.mock.util")

local workflow = {}

local SCENARIOS = { pause = true, fail = true, reasoning = true }

local function run_detail(run)
  return json.object({
    id = run.id, workflow_id = run.workflow_id, status = run.status,
    -- Dify hands out the stored JSON text of the inputs, not an object
    inputs = json.encode(run.inputs),
    outputs = run.outputs, error = run.error, total_steps = run.total_steps,
    total_tokens = run.total_tokens, created_at = run.created_at,
    finished_at = run.finished_at or json.null, elapsed_time = run.elapsed_time,
  })
end

-- The blocking answer: the run's result; a paused run's also names the
-- paused nodes and why they wait (Dify 1.14).
local function blocking_answer(run)
  local data = events.workflow_result(run.flow.ids, run)
  if run.status == "paused" then
    local paused = run.paused_event.data
    data.paused_nodes, data.reasons = paused.paused_nodes, paused.reasons
  end
  return json.object({ task_id = run.task_id, workflow_run_id = run.id, data = data })
end

-- A new run of the app's workflow (or of `workflow_id`), its events ready.
local function new_run(ctx, inputs)
  local state = ctx.state
  local subject = type(inputs.query) == "string" and inputs.query or json.encode(inputs)
  local answer = ctx.faults.big and util.filler(ctx.faults.big) or ("Echo: " .. subject)
  local ids = {
    task_id = util.uuid(),
    workflow_run_id = util.uuid(),
    workflow_id = ctx.params.workflow_id or state.workflow_id,
    created_at = util.now(),
  }
  local run
  run = runs.create(state, ids, {
    app = "workflow", workflow_id = ids.workflow_id, inputs = inputs, user = ctx.user, task_id = ids.task_id,
  }, {
    scenario = SCENARIOS[inputs.scenario] and inputs.scenario or nil,
    parallel_branches = ctx.faults.parallel_branches,
    new_form = function(node) return human_input.new_form(state, run, node, subject) end,
  })
  flows.workflow(run.flow, inputs, subject, answer)
  return run
end

-- POST /workflows/run and /workflows/{workflow_id}/run
local function run_workflow(ctx)
  local inputs = util.inputs(ctx.body, true)
  local mode = util.response_mode(ctx.body)
  chat.message_files(ctx)
  local run = new_run(ctx, inputs)
  if mode == "blocking" then
    runs.complete(run, run.flow.list)
    runs.task(ctx.state, run, "workflow").streaming = false
    return 200, blocking_answer(run)
  end
  runs.stream(ctx, run, run.flow.list, "workflow")
end

local function flag(ctx, name)
  return (util.first(ctx.args[name]) or "false"):lower() == "true"
end

-- GET /workflow/{workflow_run_id}/events?user=&include_state_snapshot=&continue_on_pause=
-- Only the run's own end user may follow it; a finished run answers its
-- workflow_finished alone, a running or paused one what happens from now on.
local function follow_run(ctx)
  local run = ctx.state.workflow_runs[ctx.params.workflow_run_id]
  if not run or run.user ~= ctx.user then
    util.fail(404, "not_found", "Workflow run not found")
  end
  if run.finished_at then
    ctx.res:send(200, {
      { "Content-Type", "text/event-stream; charset=utf-8" }, { "Cache-Control", "no-cache" },
    }, "data: " .. json.encode(runs.finished_event(ctx.state, run)) .. "\n\n")
    return
  end
  runs.follow(ctx.res, run, ctx.faults, {
    snapshot = flag(ctx, "include_state_snapshot"),
    continue_on_pause = flag(ctx, "continue_on_pause"),
  })
end

-- GET /workflows/run/{workflow_run_id}
local function get_run(ctx)
  local run = util.found(ctx.state.workflow_runs[ctx.params.workflow_run_id], "Workflow run not found.")
  return 200, run_detail(run)
end

local function log_entry(state, run)
  return json.object({
    id = run.log_id or run.id,
    workflow_run = json.object({
      id = run.id, version = "v1", status = run.status, error = run.error,
      elapsed_time = run.elapsed_time, total_tokens = run.total_tokens,
      total_steps = run.total_steps, created_at = run.created_at,
      finished_at = run.finished_at or json.null, exceptions_count = 0,
      triggered_from = "app-run",
    }),
    created_from = "service-api",
    created_by_role = "end_user",
    created_by_account = json.null,
    created_by_end_user = json.object({
      id = state:end_user_id(run.user), type = "service-api",
      is_anonymous = false, session_id = run.user,
    }),
    created_at = run.created_at,
    details = json.null,
  })
end

local function log_matches(run, status, keyword, session)
  local text = json.encode(run.inputs) .. json.encode(run.outputs)
  return run.app == "workflow"
    and (not status or status == "" or run.status == status)
    and (not keyword or keyword == "" or text:find(keyword, 1, true) ~= nil)
    and (not session or session == "" or run.user == session)
end

-- GET /workflows/logs?keyword=&status=&page=&limit=&created_by_end_user_session_id=
-- (a chatflow's runs are not a workflow app's logs)
local function list_logs(ctx)
  local args = ctx.args
  local page = util.int_arg(args, "page", 1, 1, 99999)
  local limit = util.int_arg(args, "limit", 20, 1, 100)
  local status, keyword = util.first(args.status), util.first(args.keyword)
  local session = util.first(args.created_by_end_user_session_id)
  local matching = {}
  local all = ctx.state.workflow_run_list
  for i = #all, 1, -1 do -- newest first
    if log_matches(all[i], status, keyword, session) then
      matching[#matching + 1] = log_entry(ctx.state, all[i])
    end
  end
  local data, has_more = util.page(matching, page, limit)
  return 200, json.object({ page = page, limit = limit, total = #matching, has_more = has_more, data = data })
end

function workflow.register(router)
  local user = { user = true }
  router:add("POST", "/workflows/run", run_workflow, user)
  router:add("GET", "/workflows/run/:workflow_run_id", get_run)
  router:add("GET", "/workflow/:workflow_run_id/events", follow_run, { user = true, since = "1.14.0" })
  router:add("POST", "/workflows/tasks/:task_id/stop", chat.stop_route("workflow"), user)
  router:add("GET", "/workflows/logs", list_logs)
  router:add("POST", "/workflows/:workflow_id/run", run_workflow, user)
end

return workflow
