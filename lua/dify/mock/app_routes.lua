--- App routes besides chatting: audio, files, app information, annotations.

local json = require("dify.mock.json")
local stream = require("dify.mock.stream")
local util = require("dify.mock.util")

local fail = util.fail

local app = {}

local function file_parts(ctx)
  local found = {}
  for _, part in ipairs(ctx.parts or {}) do
    if part.name == "file" then
      found[#found + 1] = part
    end
  end
  return found
end

---------------------------------------------------------------------------
-- Audio
---------------------------------------------------------------------------

-- POST /audio-to-text (multipart: file, user)
local function audio_to_text(ctx)
  local part = file_parts(ctx)[1]
  if not part then -- Dify reads request.files["file"]: werkzeug's KeyError answer
    fail(400, "bad_request_key_error",
      "The browser (or proxy) sent a request that this server could not understand.")
  end
  return 200, json.object({
    text = ("transcribed %s (%d bytes)"):format(part.filename or "", part.size),
  })
end

-- The number of audio bytes a text_to_audio call answers, or nil where Dify
-- answers `null`: message_id wins over text, and a message_id that names no
-- message (or one without an answer) leaves Dify with nothing to read out.
local function audio_size(ctx, text, message_id)
  if message_id and message_id ~= "" then
    local message = ctx.state.messages[message_id]
    if not message or message.answer == "" then
      return nil
    end
    return 1000
  elseif text and text ~= "" then
    return #text * 100
  end
  fail(400, "invalid_param", "Text is required")
end

-- POST /text-to-audio: deterministic "MP3" bytes, #text * 100 long (1000 for
-- a message_id), streamed in four chunks.
local function text_to_audio(ctx)
  local text = util.string_field(ctx.body, "text", false)
  local message_id = util.string_field(ctx.body, "message_id", false)
  util.string_field(ctx.body, "voice", false)
  local size = audio_size(ctx, text, message_id)
  if not size then
    return ctx.res:send(200, { { "Content-Type", "application/json" } }, "null")
  end
  local audio = util.fake_audio(size)
  local piece_size = math.max(1, -(-size // 4)) -- ceiling division
  local pieces = {}
  for start = 1, size, piece_size do
    pieces[#pieces + 1] = audio:sub(start, start + piece_size - 1)
  end
  stream.binary(ctx.res, "audio/mpeg", pieces, ctx.faults)
end

---------------------------------------------------------------------------
-- Files
---------------------------------------------------------------------------

local function file_view(ctx, file)
  return json.object({
    id = file.id, reference = json.null, name = file.name, size = file.size, extension = file.extension,
    mime_type = file.mime_type, created_by = file.created_by, created_at = file.created_at,
    preview_url = util.signed_url(ctx.req, "/files/" .. file.id .. "/file-preview"),
    source_url = util.signed_url(ctx.req, "/files/" .. file.id .. "/file-preview"),
    original_url = json.null, user_id = json.null, tenant_id = ctx.state.tenant_id,
    conversation_id = json.null, file_key = json.null,
  })
end

-- POST /files/upload (multipart: file, user) -> 201
local function upload_file(ctx)
  local parts = file_parts(ctx)
  if #parts == 0 then
    fail(400, "no_file_uploaded", "Please upload your file.")
  elseif #parts > 1 then
    fail(400, "too_many_files", "Only one file is allowed.")
  end
  local part = parts[1]
  local name = part.filename
  if not name or name == "" then
    fail(400, "filename_not_exists_error", "The specified filename does not exist.")
  end
  local file = {
    id = util.uuid(),
    name = name,
    size = part.size,
    extension = (name:match("%.([^./]+)$") or ""):lower(),
    mime_type = part.content_type or "application/octet-stream",
    created_by = ctx.state:end_user_id(ctx.user),
    created_at = util.now(),
    data = part.data,
  }
  ctx.state.files[file.id] = file
  return 201, file_view(ctx, file)
end

-- Pydantic's reading of a boolean query argument (Dify 1.11+).
local TRUE = { ["true"] = true, ["1"] = true, yes = true, on = true, t = true, y = true }

-- GET /files/{file_id}/preview?as_attachment=&user=
-- Only a file attached to one of the app's messages is served.
local function preview_file(ctx)
  local file = ctx.state.files[ctx.params.file_id]
  if not file or not file.in_message then
    fail(404, "file_not_found", "File not found in message context")
  end
  local headers = { { "Content-Type", file.mime_type } }
  if TRUE[(util.first(ctx.args.as_attachment) or ""):lower()] then
    headers = {
      { "Content-Type", "application/octet-stream" },
      { "Content-Disposition", util.attachment_disposition(file.name) },
    }
  end
  ctx.res:send(200, headers, file.data)
end

---------------------------------------------------------------------------
-- App information
---------------------------------------------------------------------------

local PARAMETERS = json.object({
  opening_statement = "Hello! I am the dify-mock app.",
  suggested_questions = json.array({ "What can you do?", "Say something" }),
  suggested_questions_after_answer = json.object({ enabled = true }),
  speech_to_text = json.object({ enabled = true }),
  text_to_speech = json.object({ enabled = true, voice = "alloy", language = "en-US", autoPlay = "disabled" }),
  retriever_resource = json.object({ enabled = true }),
  annotation_reply = json.object({ enabled = false }),
  more_like_this = json.object({ enabled = false }),
  user_input_form = json.array({
    json.object({ ["text-input"] = json.object({
      label = "Name", variable = "name", required = false, max_length = 48, default = "" }) }),
    json.object({ paragraph = json.object({
      label = "Context", variable = "context", required = false, max_length = 2000, default = "" }) }),
    json.object({ select = json.object({
      label = "Tone", variable = "tone", required = false, default = "neutral",
      options = json.array({ "neutral", "friendly", "formal" }) }) }),
  }),
  sensitive_word_avoidance = json.object({ enabled = false, type = "", configs = json.array() }),
  file_upload = json.object({
    image = json.object({ enabled = true, number_limits = 3, detail = "high",
      transfer_methods = json.array({ "remote_url", "local_file" }) }),
  }),
  system_parameters = json.object({
    file_size_limit = 15,
    image_file_size_limit = 10,
    audio_file_size_limit = 50,
    video_file_size_limit = 100,
    workflow_file_upload_limit = 10,
  }),
})

local INFO = json.object({
  name = "dify-mock",
  description = "A fake Dify app for tests",
  tags = json.array({ "mock" }),
  mode = "advanced-chat",
  author_name = "lua-dify",
})

local META = json.object({
  tool_icons = json.object({
    dalle2 = "https://cloud.dify.ai/console/api/workspaces/current/tool-provider/builtin/dalle/icon",
    api_tool = json.object({ background = "#252525", content = "😁" }),
  }),
})

local SITE = json.object({
  title = "dify-mock",
  chat_color_theme = "#4F46E5",
  chat_color_theme_inverted = false,
  icon_type = "emoji",
  icon = "🤖",
  icon_background = "#FFEAD5",
  icon_url = json.null,
  description = "A fake Dify app for tests",
  copyright = "",
  privacy_policy = "",
  custom_disclaimer = "",
  default_language = "en-US",
  show_workflow_steps = true,
  use_icon_as_answer_icon = false,
})

local function constant(body)
  return function()
    return 200, body
  end
end

---------------------------------------------------------------------------
-- Annotations
---------------------------------------------------------------------------

-- GET /apps/annotations?page=&limit=&keyword=  (newest first)
local function list_annotations(ctx)
  local page = util.int_arg(ctx.args, "page", 1, 1, math.maxinteger)
  local limit = util.int_arg(ctx.args, "limit", 20, 1, 100)
  local keyword = (util.first(ctx.args.keyword) or ""):lower()
  local matching = {}
  local all = ctx.state.annotation_list
  for i = #all, 1, -1 do
    local annotation = all[i]
    if keyword == "" or annotation.question:lower():find(keyword, 1, true)
      or annotation.answer:lower():find(keyword, 1, true) then
      matching[#matching + 1] = annotation
    end
  end
  local data = util.page(matching, page, limit)
  -- Dify's has_more is "the page is full", so an exact last page says true
  return 200, json.object({ data = data, has_more = #data == limit, limit = limit, total = #matching, page = page })
end

local function question_and_answer(ctx)
  return util.string_field(ctx.body, "question", true), util.string_field(ctx.body, "answer", true)
end

-- POST /apps/annotations -> 201 (older servers answered 200)
local function create_annotation(ctx)
  local question, answer = question_and_answer(ctx)
  return 201, ctx.state:create_annotation(question, answer)
end

local function annotation_of(ctx)
  return util.found(ctx.state.annotations[ctx.params.annotation_id], "Annotation not found.")
end

-- PUT /apps/annotations/{annotation_id}
local function update_annotation(ctx)
  local annotation = annotation_of(ctx)
  annotation.question, annotation.answer = question_and_answer(ctx)
  return 200, annotation
end

-- DELETE /apps/annotations/{annotation_id}
local function delete_annotation(ctx)
  ctx.state:delete_annotation(annotation_of(ctx))
  return 204
end

local REPLY_ACTIONS = { enable = true, disable = true }

-- POST /apps/annotation-reply/{action}: the job is done at once.  Dify
-- checks the three settings before it looks at the action (so `disable`
-- needs them too), and an unknown action ends in an unbound variable: 500.
local function annotation_reply(ctx)
  local action = ctx.params.action
  util.string_field(ctx.body, "embedding_provider_name", true)
  util.string_field(ctx.body, "embedding_model_name", true)
  if type(ctx.body.score_threshold) ~= "number" then
    fail(400, "invalid_param", "score_threshold must be a number")
  end
  if not REPLY_ACTIONS[action] then
    util.fail_unknown()
  end
  local job_id = util.uuid()
  ctx.state.annotation_jobs[job_id] = { action = action, status = "completed" }
  return 200, json.object({ job_id = job_id, job_status = "waiting" })
end

-- GET /apps/annotation-reply/{action}/status/{job_id}
local function annotation_reply_status(ctx)
  local job = ctx.state.annotation_jobs[ctx.params.job_id]
  if not job or job.action ~= ctx.params.action then
    fail(400, "invalid_param", "The job does not exist.")
  end
  return 200, json.object({ job_id = ctx.params.job_id, job_status = job.status, error_msg = "" })
end

---------------------------------------------------------------------------
-- End users
---------------------------------------------------------------------------

-- GET /end-users/{end_user_id}: an end user of this app (EndUserDetail).
local function get_end_user(ctx)
  local end_user = ctx.state.end_users_by_id[ctx.params.end_user_id]
  if not end_user then
    fail(404, "end_user_not_found", "End user not found.")
  end
  local stamp = util.iso(end_user.created_at) .. "Z"
  return 200, json.object({
    id = end_user.id, tenant_id = ctx.state.tenant_id, app_id = ctx.state.app_id,
    type = "service-api", external_user_id = end_user.session_id, name = json.null,
    is_anonymous = end_user.session_id == util.DEFAULT_USER, session_id = end_user.session_id,
    created_at = stamp, updated_at = stamp,
  })
end

function app.register(router)
  local optional_user = { user = "optional" } -- Dify stands in DEFAULT-USER
  router:add("POST", "/audio-to-text", audio_to_text, optional_user)
  router:add("POST", "/text-to-audio", text_to_audio, optional_user)
  router:add("POST", "/files/upload", upload_file, optional_user)
  router:add("GET", "/files/:file_id:uuid/preview", preview_file, optional_user)
  router:add("GET", "/end-users/:end_user_id:uuid", get_end_user, { since = "1.13.0" })
  router:add("GET", "/parameters", constant(PARAMETERS))
  router:add("GET", "/info", constant(INFO))
  router:add("GET", "/meta", constant(META))
  router:add("GET", "/site", constant(SITE))
  router:add("GET", "/apps/annotations", list_annotations)
  router:add("POST", "/apps/annotations", create_annotation)
  router:add("PUT", "/apps/annotations/:annotation_id:uuid", update_annotation)
  router:add("DELETE", "/apps/annotations/:annotation_id:uuid", delete_annotation)
  router:add("POST", "/apps/annotation-reply/:action", annotation_reply)
  router:add("GET", "/apps/annotation-reply/:action/status/:job_id:uuid", annotation_reply_status)
end

return app
