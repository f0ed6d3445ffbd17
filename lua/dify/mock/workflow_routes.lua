--- Workflow apps: runs (blocking and streaming), run details, stop, logs.

local chat = require("dify.mock.chat_routes")
local events = require("dify.mock.events")
local json = require("dify.mock.json")
local util = require("dify.mock.util")

local fail = util.fail

local workflow = {}

local TOTAL_STEPS, TOTAL_TOKENS = 5, 10

local function run_detail(run)
  return json.object({
    id = run.id, workflow_id = run.workflow_id, status = run.status, inputs = run.inputs,
    outputs = run.outputs, error = run.error, total_steps = run.total_steps,
    total_tokens = run.total_tokens, created_at = run.created_at,
    finished_at = run.finished_at, elapsed_time = run.elapsed_time,
  })
end

-- POST /workflows/run and /workflows/{workflow_id}/run
local function run_workflow(ctx)
  local state = ctx.state
  local inputs = util.inputs(ctx.body, true)
  local mode = util.response_mode(ctx.body)
  chat.message_files(ctx)
  local subject = type(inputs.query) == "string" and inputs.query or json.encode(inputs)
  local answer = ctx.faults.big and util.filler(ctx.faults.big) or ("Echo: " .. subject)
  local now = util.now()
  local ids = {
    task_id = util.uuid(),
    workflow_run_id = util.uuid(),
    workflow_id = ctx.params.workflow_id or state.workflow_id,
    created_at = now,
  }
  local outputs = json.object({ text = answer })
  local run = state:add_workflow_run({
    id = ids.workflow_run_id, workflow_id = ids.workflow_id, status = "running",
    inputs = inputs, outputs = outputs, error = json.null,
    total_steps = TOTAL_STEPS, total_tokens = TOTAL_TOKENS,
    created_at = now, finished_at = now, elapsed_time = 0.42,
    user = ctx.user, task_id = ids.task_id, log_id = util.uuid(),
  })

  if mode == "blocking" then
    run.status = "succeeded"
    return 200, json.object({
      workflow_run_id = ids.workflow_run_id,
      task_id = ids.task_id,
      data = events.workflow_result(ids, outputs, run.status, TOTAL_STEPS, TOTAL_TOKENS),
    })
  end
  run.status = "succeeded" -- as seen by anyone asking while it streams
  -- Kept so that the run's event stream can be re-opened (GET /workflow/{id}/events).
  run.events = events.workflow(ids, inputs, answer)
  local task = chat.run_stream(ctx, "workflow", ids.task_id, run.events)
  if task.stopped then
    run.status = "stopped"
  end
end

-- GET /workflow/{workflow_run_id}/events: newer servers replay a run's events from the start.
local function replay_events(ctx)
  local run = ctx.state.workflow_runs[ctx.params.workflow_run_id]
  if not run or not run.events then
    fail(404, "not_found", "Workflow run not found.")
  end
  chat.run_stream(ctx, "workflow", run.task_id, run.events)
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
      finished_at = run.finished_at, exceptions_count = 0,
    }),
    created_from = "service-api",
    created_by_role = "end_user",
    created_by_account = json.null,
    created_by_end_user = json.object({
      id = state:end_user_id(run.user), type = "service_api",
      is_anonymous = false, session_id = run.user,
    }),
    created_at = run.created_at,
  })
end

-- GET /workflows/logs?keyword=&status=&page=&limit=&created_by_end_user_session_id=
local function list_logs(ctx)
  local args = ctx.args
  local page = util.int_arg(args, "page", 1, 1, 99999)
  local limit = util.int_arg(args, "limit", 20, 1, 100)
  local status = util.first(args.status)
  local keyword = util.first(args.keyword)
  local session = util.first(args.created_by_end_user_session_id)
  local matching = {}
  local runs = ctx.state.workflow_run_list
  for i = #runs, 1, -1 do -- newest first
    local run = runs[i]
    local text = json.encode(run.inputs) .. json.encode(run.outputs)
    if (not status or status == "" or run.status == status)
      and (not keyword or keyword == "" or text:find(keyword, 1, true))
      and (not session or session == "" or run.user == session) then
      matching[#matching + 1] = log_entry(ctx.state, run)
    end
  end
  local data, has_more = util.page(matching, page, limit)
  return 200, json.object({ page = page, limit = limit, total = #matching, has_more = has_more, data = data })
end

function workflow.register(router)
  local user = { user = true }
  router:add("POST", "/workflows/run", run_workflow, user)
  router:add("GET", "/workflows/run/:workflow_run_id", get_run)
  router:add("GET", "/workflow/:workflow_run_id/events", replay_events)
  router:add("POST", "/workflows/tasks/:task_id/stop", chat.stop_route("workflow"), user)
  router:add("GET", "/workflows/logs", list_logs)
  router:add("POST", "/workflows/:workflow_id/run", run_workflow, user)
end

return workflow
