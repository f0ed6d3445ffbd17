-- Runs a workflow app, streaming its progress, then reads the run back.
--   DIFY_API_KEY=app-... (a workflow app's key) lua5.4 examples/workflow.lua "input text"
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local stream = assert(client:run_workflow_stream{ inputs = { query = arg[1] or "Hello workflow" } })
for ev in stream do
  if ev.event == "node_started" then
    print(("node %s (%s) started"):format(ev.data.title, ev.data.node_type))
  elseif ev.event == "text_chunk" then
    io.write(ev.data.text)
  elseif ev.event == "workflow_finished" then
    print(("\nworkflow %s in %.2f s"):format(ev.data.status, ev.data.elapsed_time))
  end
end

local run = assert(client:workflow_run(stream.workflow_run_id))
print("outputs: " .. dify.json.encode(run.outputs))

-- The blocking form returns the finished run at once.
local result = assert(client:run_workflow{ inputs = { query = "again" } })
print("blocking run " .. result.data.status)
