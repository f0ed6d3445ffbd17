--- The life of a workflow (or chatflow) run: created, streamed or answered
-- at once, paused on a Human Input node, resumed in the background once its
-- form is answered, stopped.  Every event a run produces goes through
-- runs.publish, which keeps the run's record (status, outputs, the nodes it
-- executed) up to date and broadcasts the event on the run's channel, where
-- GET /workflow/{id}/events follows it live.

local Channel = require("dify.mock.channel")
local events = require("dify.mock.events")
local flows = require("dify.mock.flows")
local json = require("dify.mock.json")
local loop = require("dify.mock.loop")
local stream = require("dify.mock.stream")
local util = require("dify.mock.util")

local runs = {}

-- How long a resumed run waits for somebody to follow it (GET …/events)
-- before it runs anyway: long enough for a client to ask for the events
-- right after submitting the form, short enough that nobody waits long
-- for a run nobody follows.
runs.RESUME_GRACE = 0.5

--- Stores a new run: `fields` are the record's own (user, inputs, app,
-- task_id, workflow_id, conversation_id, message_id); `ids` the ids its
-- events carry.  The run starts "running", with a channel and a flow.
function runs.create(state, ids, fields, flow_options)
  local run = state:add_workflow_run(events.merge({
    id = ids.workflow_run_id,
    status = "running",
    outputs = json.object(),
    error = json.null,
    total_steps = 0,
    total_tokens = 0,
    created_at = ids.created_at,
    finished_at = nil,
    elapsed_time = 0.42,
    log_id = util.uuid(),
    executions = {}, -- {started = event, finished = event?} per node, in order
    channel = Channel.new(),
  }, fields))
  ids.creator = json.object({ id = state:end_user_id(run.user), user = run.user })
  run.flow = flows.new(ids, run.app, flow_options)
  return run
end

-- What a published event changes in the run's record.
local RECORD = {
  node_started = function(run, event)
    run.executions[#run.executions + 1] = { id = event.data.id, started = event }
  end,
  node_finished = function(run, event)
    for _, execution in ipairs(run.executions) do
      if execution.id == event.data.id then
        execution.finished = event
      end
    end
  end,
  workflow_paused = function(run, event)
    run.status, run.outputs, run.finished_at = "paused", json.object(), nil
    run.total_steps, run.total_tokens = event.data.total_steps, event.data.total_tokens
    run.paused_event = event
  end,
  workflow_finished = function(run, event)
    local data = event.data
    run.status, run.outputs, run.error = data.status, data.outputs, data.error
    run.total_steps, run.total_tokens, run.finished_at = data.total_steps, data.total_tokens, data.finished_at
    run.paused_event = nil
    run.channel:close()
  end,
  -- an error event that ends a run before its workflow_finished (the
  -- error_event fault) fails it; after a chatflow's failed workflow_finished
  -- it changes nothing
  error = function(run, event)
    if not run.finished_at then
      run.status, run.error, run.finished_at = "failed", event.message, util.now()
      run.channel:close()
    end
  end,
}

-- What a run's end means for its chatflow message.
local function settle_message(run, message)
  if run.status == "paused" then
    message.status = "paused"
  elseif run.status == "failed" then
    message.status, message.error, message.answer = "error", run.error, ""
  elseif run.status == "succeeded" then
    message.status, message.answer = "normal", run.flow.answer
  end
end

--- Applies an event to the run's record and broadcasts it.
function runs.publish(run, event)
  local record = RECORD[event.event]
  if record then
    record(run, event)
  end
  if run.message then
    settle_message(run, run.message)
  end
  run.channel:publish(event)
end

--- The events that end a run stopped by a stop request.
function runs.stopped_events(run)
  local flow = run.flow
  flow.list = {}
  flow:finish("stopped", run.outputs, "Stopped by user.")
  return flow.list
end

-- A stop request reaching a paused run (nobody produces its events): the
-- run ends, and its form can no longer be answered.
local function stop_when_paused(run)
  return function()
    if run.status == "paused" then
      run.flow.form.status = "timeout"
      for _, event in ipairs(runs.stopped_events(run)) do
        runs.publish(run, event)
      end
    end
  end
end

--- Produces `list` at once: a blocking call's run.
function runs.complete(run, list)
  for _, event in ipairs(list) do
    runs.publish(run, event)
  end
end

--- Registers the run's task, so stop requests reach it.
function runs.task(state, run, kind)
  local task = state:start_task(run.task_id, kind)
  task.run = run
  task.on_stop = stop_when_paused(run)
  return task
end

--- Streams `list` on the request's connection, publishing each event as it
-- is produced; Dify 1.13+ begins such streams with a ping.
function runs.stream(ctx, run, list, kind)
  local task = runs.task(ctx.state, run, kind)
  local ok, err = pcall(stream.sse, ctx.res, list, ctx.faults, task, {
    ping_first = true,
    publish = function(event) runs.publish(run, event) end,
    on_stop = function() return runs.stopped_events(run) end,
  })
  task.streaming = false
  if not ok then
    error(err, 0)
  end
  return task
end

-- Waits until somebody follows the run, or the grace time is over.
local function wait_for_listener(run)
  local waited = 0
  while not run.channel:has_listeners() and waited < runs.RESUME_GRACE do
    loop.sleep(0.01)
    waited = waited + 0.01
  end
end

--- Resumes a paused run whose form was answered (or timed out): its
-- remaining events are produced in the background, as Dify's Celery worker
-- does, so GET /workflow/{id}/events is where they can be seen.
function runs.resume(spawn, state, run)
  if run.status ~= "paused" then
    return -- stopped meanwhile: nothing to resume
  end
  run.status = "running"
  spawn(function()
    wait_for_listener(run)
    local task = state.tasks[run.task_id] or runs.task(state, run, run.app == "chatflow" and "chat" or "workflow")
    task.streaming = true
    for _, event in ipairs(flows.resumed(run.flow)) do
      if task.stopped then
        for _, stopped_event in ipairs(runs.stopped_events(run)) do
          runs.publish(run, stopped_event)
        end
        break
      end
      runs.publish(run, event)
      loop.sleep(0) -- one event a turn: followers read them as they come
    end
    task.streaming = false
  end)
end

---------------------------------------------------------------------------
-- Following a run: GET /workflow/{id}/events
---------------------------------------------------------------------------

-- Dify pings an idle follower every 10 s and gives up after 300 s of silence.
local PING_INTERVAL, IDLE_TIMEOUT = 10, 300

--- The one frame a finished run answers: its workflow_finished, whose
-- task_id is the run's id (the run's own task is long gone).
function runs.finished_event(state, run)
  local ids = { task_id = run.id, workflow_run_id = run.id, workflow_id = run.workflow_id,
    created_at = run.created_at }
  local creator = json.object({ id = state:end_user_id(run.user), user = run.user })
  return events.workflow_finished(ids, run, creator)
end

-- What a follower with include_state_snapshot sees first: how the run
-- started, what its message says so far, each node it has executed and, for
-- a paused run, its pause.
local function snapshot(run)
  local list = { events.workflow_started(run.flow.ids, run.inputs) }
  if run.message then
    list[#list + 1] = events.message_event(run.flow.ids, "message_replace",
      { answer = run.message.answer, reason = "" })
  end
  for _, execution in ipairs(run.executions) do
    list[#list + 1] = execution.started
    if execution.finished then -- a node still running has only started
      list[#list + 1] = execution.finished
    end
  end
  if run.status == "paused" and run.paused_event then
    list[#list + 1] = events.human_input_required(run.flow.ids, run.flow.form)
    list[#list + 1] = run.paused_event
  end
  return list
end

-- Whether a follower's stream ends after `event`.
local function ends_stream(event, continue_on_pause)
  return event.event == "workflow_finished" or (event.event == "workflow_paused" and not continue_on_pause)
end

local function follow_live(writer, subscription, options)
  local silent = 0
  while writer.alive do
    local event, why = subscription:next(PING_INTERVAL)
    if event then
      silent = 0
      writer:event(event)
      if ends_stream(event, options.continue_on_pause) then
        return
      end
      if options.drip then
        stream.pause(options.drip / 1000)
      end
    elseif why == "idle" and silent + PING_INTERVAL < IDLE_TIMEOUT then
      silent = silent + PING_INTERVAL
      writer:ping()
    else
      return -- the run has nothing more to say, or nobody asked for so long
    end
  end
end

local function follow(writer, run, subscription, options)
  writer:ping()
  if options.snapshot then
    for _, event in ipairs(snapshot(run)) do
      writer:event(event)
      if ends_stream(event, options.continue_on_pause) then
        return
      end
    end
  end
  follow_live(writer, subscription, options)
end

--- Streams a run that has not finished: a ping, the snapshot when asked
-- for, then the events published from now on, until workflow_finished or
-- (unless continue_on_pause) workflow_paused.
function runs.follow(res, run, active, options)
  local subscription = run.channel:subscribe()
  options.drip = active.drip
  local ok, err = pcall(function()
    local writer = stream.writer(res, active, { { "Cache-Control", "no-cache" } })
    follow(writer, run, subscription, options)
    writer:finish()
  end)
  subscription:cancel()
  if not ok then
    error(err, 0)
  end
end

return runs
