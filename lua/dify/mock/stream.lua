--- Writing streamed answers: Server-Sent Events and chunked binary bodies,
-- with the faults of dify.mock.faults applied on the way out.

local socket = require("socket")
local json = require("dify.mock.json")
local loop = require("dify.mock.loop")

local stream = {}

local BOM = "\239\187\191"

-- Events that carry answer text; error_event fires after the first of them.
local TEXT_EVENTS = { message = true, agent_message = true, text_chunk = true }

--- Waits `seconds`, in short steps so that stopping the task cuts the wait short.
local function pause(seconds, task)
  local deadline = socket.gettime() + seconds
  while not (task and task.stopped) do
    local left = deadline - socket.gettime()
    if left <= 0 then
      return
    end
    loop.sleep(math.min(left, 0.05))
  end
end

local function error_event_for(event)
  return json.object({
    event = "error",
    task_id = event.task_id,
    message_id = event.message_id,
    status = 400,
    code = "completion_request_error",
    message = "model failed",
  })
end

--- Streams `events` (a list of event tables; the last one is the terminal
-- event) as `data: {json}` frames, one chunk per frame.
-- `task` is the running-task record: when a stop request sets task.stopped,
-- nothing more is sent and the connection is closed after the body ends.
function stream.sse(res, events, active, task)
  local eol = active.crlf and "\r\n" or (active.cr and "\r" or "\n")
  res:begin_chunked(200, {
    { "Content-Type", "text/event-stream; charset=utf-8" },
    { "Cache-Control", "no-cache" },
    { "X-Accel-Buffering", "no" },
  })

  local prefix = active.bom and BOM or ""
  local frames_sent = 0
  local function emit(bytes)
    if frames_sent > 0 and active.drip then
      pause(active.drip / 1000, task)
    end
    res:chunk(prefix .. bytes)
    prefix = ""
    frames_sent = frames_sent + 1
  end
  local function data_frame(payload)
    local frame = "data: " .. payload .. eol .. eol
    if active.comment then
      frame = ": keep-alive" .. eol .. frame
    end
    return frame
  end

  for _ = 1, active.ping or 0 do
    emit("event: ping" .. eol .. eol)
  end

  local error_after -- index of the event the error event follows
  if active.error_event then
    error_after = 1
    for i, event in ipairs(events) do
      if TEXT_EVENTS[event.event] then
        error_after = i
        break
      end
    end
  end

  for i, event in ipairs(events) do
    if task and task.stopped then
      break
    end
    if i == #events and active.no_terminal then
      break
    end
    local frame = data_frame(json.encode(event))
    if i == 2 and active.close_mid then
      res:chunk(frame:sub(1, #frame // 2))
      res:abort() -- no terminating chunk: the client sees a cut stream
      return
    end
    emit(frame)
    if i == 1 and active.bad_json then
      emit(data_frame("{not json"))
    end
    if i == error_after then
      emit(data_frame(json.encode(error_event_for(event))))
      break
    end
    if i == 1 and active.stall then
      pause(active.stall, task)
    end
  end

  res:finish()
  if task and task.stopped then
    res.keep_alive = false
  end
end

--- Streams a binary body (e.g. audio) in the given pieces, one chunk each.
-- Honours split1 (in the response), stall, drip and close_mid.
function stream.binary(res, content_type, pieces, active)
  res:begin_chunked(200, { { "Content-Type", content_type } })
  for i, piece in ipairs(pieces) do
    if i > 1 and active.drip then
      pause(active.drip / 1000)
    end
    if i == 2 and active.close_mid then
      res:chunk(piece:sub(1, #piece // 2))
      res:abort()
      return
    end
    res:chunk(piece)
    if i == 1 and active.stall then
      pause(active.stall)
    end
  end
  res:finish()
end

return stream
