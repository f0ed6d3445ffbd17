-- A workflow that pauses for a person (a Human Input node, Dify 1.14+): read
-- its form, answer it, and follow the resumed run to its end.
--   DIFY_API_KEY=app-... (a workflow app's key) lua5.4 examples/human_input.lua
-- Against the bundled mock, the input `scenario = "pause"` makes the run pause.
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local stream = assert(client:run_workflow_stream{ inputs = { scenario = "pause", query = "the draft" } })
local result = assert(stream:result())
while stream.paused do
  print(("run %s paused at %s"):format(stream.workflow_run_id, table.concat(stream.paused.paused_nodes or {}, ", ")))
  local form = stream.forms[#stream.forms]
  local details = assert(client:human_input_form(form.form_token))
  print("form: " .. tostring(details.form_content))
  -- A real program asks a person; this one picks the first option of a select.
  local answers = {}
  for _, input in ipairs(details.inputs or {}) do
    local source = input.option_source
    local options = type(source) == "table" and type(source.value) == "table" and source.value or nil
    answers[input.output_variable_name] = options and options[1] or "looks good"
  end
  assert(client:submit_human_input_form(form.form_token, { inputs = answers, action = details.user_actions[1].id }))
  print("answered with action " .. details.user_actions[1].id)
  -- Dify streams the resumed run from now on (it does not replay what came before).
  stream = assert(client:workflow_events(stream.workflow_run_id))
  result = assert(stream:result())
end
print("workflow " .. result.status)
