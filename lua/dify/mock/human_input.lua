--- Human Input forms (Dify 1.14): the form a paused run waits on, read with
-- GET /form/human_input/{form_token} and answered with POST on the same
-- path, after which the run resumes.  POST /__mock/expire_form makes a form
-- time out instead.
--
-- Every form of the mock is the same: a paragraph `comment` and a select
-- `priority` (low, medium, high), both required, and two actions,
-- `approve` and `reject`.  Forms are one-shot: once submitted or timed out,
-- reading or submitting it again answers 412.

local json = require("dify.mock.json")
local runs = require("dify.mock.runs")
local util = require("dify.mock.util")

local fail = util.fail

local human_input = {}

--- How long a form stays open (Dify's default timeout is a day).
human_input.LIFETIME = 24 * 3600

local PRIORITIES = { "low", "medium", "high" }

local function form_inputs()
  return json.array({
    json.object({
      type = "paragraph", output_variable_name = "comment",
      default = json.object({ type = "constant", selector = json.array(), value = "" }),
    }),
    json.object({
      type = "select", output_variable_name = "priority",
      option_source = json.object({ type = "constant", selector = json.array(), value = json.array(PRIORITIES) }),
    }),
  })
end

local function form_actions()
  return json.array({
    json.object({ id = "approve", title = "Approve", button_style = "primary" }),
    json.object({ id = "reject", title = "Request changes", button_style = "default" }),
  })
end

--- Creates the form a run pauses on at `node` and makes its token known.
function human_input.new_form(state, run, node, subject)
  local form = {
    id = util.uuid(),
    token = util.hex(32),
    run = run,
    node_id = node.id,
    node_title = node.title,
    form_content = ("Please review the draft for %q.\n\nComment: {{#$output.comment#}}\n"
      .. "Priority: {{#$output.priority#}}"):format(subject),
    inputs = form_inputs(),
    actions = form_actions(),
    resolved_default_values = json.object({ comment = "" }),
    expiration_time = util.now() + human_input.LIFETIME,
    status = "waiting", -- then "submitted" or "timeout"
  }
  state.forms[form.token] = form
  return form
end

local function form_of(ctx)
  return util.found(ctx.state.forms[ctx.params.form_token], "Form not found")
end

-- 412 for a form that is no longer waiting for an answer.
local function ensure_active(form)
  if form.status == "submitted" then
    fail(412, "human_input_form_submitted",
      "This form has already been submitted by another user, form_id=" .. form.id)
  elseif form.status == "timeout" or form.expiration_time <= util.now() then
    fail(412, "human_input_form_expired", "This form has expired, form_id=" .. form.id)
  end
end

-- GET /form/human_input/{form_token}
local function get_form(ctx)
  local form = form_of(ctx)
  ensure_active(form)
  return 200, json.object({
    form_content = form.form_content,
    inputs = form.inputs,
    resolved_default_values = form.resolved_default_values,
    user_actions = form.actions,
    expiration_time = form.expiration_time,
  })
end

local function invalid(message)
  fail(400, "invalid_form_data", message)
end

local function action_of(form, action_id)
  for _, action in ipairs(form.actions) do
    if action.id == action_id then
      return action
    end
  end
  invalid("Invalid action: " .. action_id)
end

-- Checks the submitted values against the form's inputs.
local function check_inputs(form, inputs)
  local missing = {}
  for _, input in ipairs(form.inputs) do
    local name = input.output_variable_name
    local value = inputs[name]
    if value == nil or value == json.null then
      missing[#missing + 1] = name
    elseif type(value) ~= "string" then
      invalid(("Invalid value for %s input '%s': expected string"):format(input.type, name))
    elseif input.option_source then
      local allowed = false
      for _, option in ipairs(input.option_source.value) do
        allowed = allowed or option == value
      end
      if not allowed then
        invalid(("Invalid value for select input '%s': %s"):format(name, value))
      end
    end
  end
  if #missing > 0 then
    invalid("Missing required inputs: " .. table.concat(missing, ", "))
  end
end

-- The form body with the submitted values in place of its placeholders.
local function rendered(form, inputs)
  return (form.form_content:gsub("{{#%$output%.([%w_]+)#}}", function(name)
    return tostring(inputs[name] or "")
  end))
end

-- POST /form/human_input/{form_token}  {inputs, action, user}
local function submit_form(ctx)
  local inputs = ctx.body.inputs
  if not json.is_object(inputs) or json.is_array(inputs) then
    fail(400, "invalid_param", "inputs: Input should be a valid dictionary")
  end
  local action_id = util.string_field(ctx.body, "action", true)
  local form = form_of(ctx)
  ensure_active(form)
  local action = action_of(form, action_id)
  check_inputs(form, inputs)
  form.status = "submitted"
  form.submission = {
    inputs = inputs, action = action, rendered_content = rendered(form, inputs),
    end_user_id = ctx.state:end_user_id(ctx.user),
  }
  runs.resume(ctx.spawn, ctx.state, form.run)
  return 200, json.object()
end

--- POST /__mock/expire_form {"form_token": …}: the form times out now and
-- its run resumes with human_input_form_timeout.  Returns status, body.
function human_input.expire(state, spawn, token)
  local form = state.forms[token]
  if not form then
    return 404, util.error_body(404, "not_found", "Form not found")
  elseif form.status ~= "waiting" then
    return 409, util.error_body(409, "conflict", "The form is already " .. form.status)
  end
  form.status = "timeout"
  form.expiration_time = math.min(form.expiration_time, util.now())
  runs.resume(spawn, state, form.run)
  return 200, json.object({ result = "success", workflow_run_id = form.run.id })
end

--- The extra_contents entry a paused chatflow's message carries.
function human_input.message_content(form)
  return json.object({
    workflow_run_id = form.run.id,
    submitted = form.status == "submitted",
    type = "human_input",
    form_definition = json.object({
      form_id = form.id, node_id = form.node_id, node_title = form.node_title,
      form_content = form.form_content, inputs = form.inputs, actions = form.actions,
      display_in_ui = false, form_token = form.token,
      resolved_default_values = form.resolved_default_values, expiration_time = form.expiration_time,
    }),
    form_submission_data = form.submission and json.object({
      node_id = form.node_id, node_title = form.node_title,
      rendered_content = form.submission.rendered_content,
      action_id = form.submission.action.id, action_text = form.submission.action.title,
    }) or json.null,
  })
end

function human_input.register(router)
  router:add("GET", "/form/human_input/:form_token", get_form, { since = "1.14.0" })
  router:add("POST", "/form/human_input/:form_token", submit_form, { user = true, since = "1.14.0" })
end

return human_input
