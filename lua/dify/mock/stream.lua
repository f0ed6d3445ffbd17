--- Writing streamed answers: Server-Sent Events and chunked binary bodies,
-- with the faults of dify.mock.faults applied on the way out.
--
-- A stream has two sides.  The run produces its events, one after another,
-- at the pace the faults set (drip, stall), and hands each to `publish` so
-- that other connections (GET /workflow/{id}/events) can follow it live.
-- The connection that started the run writes them.  When that connection
-- fails (a close_mid fault, or the client hanging up) the run goes on to its
-- end, as a Dify run does once it has started.

local socket = require("socket")
local http = require("dify.mock.http")
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
stream.pause = pause

---------------------------------------------------------------------------
-- The writer: SSE framing of one connection
---------------------------------------------------------------------------

local Writer = {}
Writer.__index = Writer

--- Starts an event-stream answer.  `extra_headers` (optional) follow the
-- Content-Type.  Compact Dify streams carry no Cache-Control; the re-opened
-- workflow stream (GET /workflow/{id}/events) passes its own.
function stream.writer(res, active, extra_headers)
  local headers = { { "Content-Type", "text/event-stream; charset=utf-8" } }
  for _, header in ipairs(extra_headers or {}) do
    headers[#headers + 1] = header
  end
  res:begin_chunked(200, headers)
  return setmetatable({
    res = res,
    active = active,
    eol = active.crlf and "\r\n" or (active.cr and "\r" or "\n"),
    prefix = active.bom and BOM or "",
    alive = true, -- false once the peer is gone or the body was cut
    hung_up = false, -- the peer went away (not a fault of ours)
  }, Writer)
end

-- Writes one chunk; a peer that has gone away makes the writer dead.
function Writer:write(bytes)
  if not self.alive then
    return
  end
  local ok, err = pcall(self.res.chunk, self.res, self.prefix .. bytes)
  self.prefix = ""
  if not ok then
    if err ~= http.CLOSED then
      error(err, 0)
    end
    self.alive, self.hung_up = false, true
  end
end

function Writer:data_frame(payload)
  local frame = "data: " .. payload .. self.eol .. self.eol
  if self.active.comment then
    frame = ": keep-alive" .. self.eol .. frame
  end
  return frame
end

--- A keep-alive: `event: ping` and no data line, as Dify sends it.
function Writer:ping()
  self:write("event: ping" .. self.eol .. self.eol)
end

--- One event as a `data: {json}` frame.
function Writer:event(event)
  self:write(self:data_frame(json.encode(event)))
end

--- Writes half of the frame of `event`, then cuts the body (close_mid).
function Writer:cut(event)
  local frame = self:data_frame(json.encode(event))
  self:write(frame:sub(1, #frame // 2))
  if self.alive then
    self.res:abort() -- no terminating chunk: the client sees a cut stream
  end
  self.alive = false
end

--- Ends the body (unless it was cut).  Raises http.CLOSED when the peer
-- hung up, so that the connection ends quietly.
function Writer:finish(close)
  if self.hung_up then
    error(http.CLOSED, 0)
  elseif self.alive then
    self.alive = false
    self.res:finish()
    if close then
      self.res.keep_alive = false
    end
  end
end

---------------------------------------------------------------------------
-- Running a list of events
---------------------------------------------------------------------------

-- The `error` event Dify sends when a run fails: no task_id, and the ids of
-- the event's kind of app (message and conversation, or the workflow run).
function stream.error_event(like, code, message, status)
  local event = json.object({
    event = "error",
    status = status or 400,
    code = code or "completion_request_error",
    message = message or "model failed",
  })
  if like.conversation_id or not like.workflow_run_id then
    event.conversation_id = like.conversation_id
    event.message_id = like.message_id
    event.created_at = like.created_at
  else
    event.workflow_run_id = like.workflow_run_id
  end
  return event
end

-- Index of the event the error_event fault's error follows.
local function error_position(events, active)
  if not active.error_event then
    return nil
  end
  for i, event in ipairs(events) do
    if TEXT_EVENTS[event.event] then
      return i
    end
  end
  return 1
end

-- Produces one event: published for other listeners, written to this connection.
local function emit(writer, event, publish, written)
  if publish then
    publish(event)
  end
  if written ~= false then
    writer:event(event)
  end
end

--- Streams `events` (a list of event tables; the last one is the terminal
-- event) as `data: {json}` frames, one chunk per frame.
-- `task` is the running-task record: when a stop request sets task.stopped,
-- nothing more is produced (but `options.on_stop()`'s events, if it gives
-- any) and the connection is closed after the body ends.
-- options: {publish = fn(event) (every event produced), ping_first = bool
-- (Dify 1.13+ pub/sub streams begin with a ping), on_stop = fn() -> events}.
function stream.sse(res, events, active, task, options)
  options = options or {}
  local writer = stream.writer(res, active)
  local publish = options.publish
  local frames = 0
  local function next_frame() -- drip: a pause between any two frames, pings too
    if frames > 0 and active.drip then
      pause(active.drip / 1000, task)
    end
    frames = frames + 1
  end
  if options.ping_first then
    next_frame()
    writer:ping()
  end
  for _ = 1, active.ping or 0 do
    next_frame()
    writer:ping()
  end

  local error_after = error_position(events, active)
  for i, event in ipairs(events) do
    next_frame()
    if task and task.stopped then
      for _, stopped_event in ipairs(options.on_stop and options.on_stop() or {}) do
        emit(writer, stopped_event, publish)
      end
      break
    end
    if i == 2 and active.close_mid then
      writer:cut(event)
    end
    emit(writer, event, publish, not (i == #events and active.no_terminal))
    if i == 1 and active.bad_json then
      writer:write(writer:data_frame("{not json"))
    end
    if i == error_after then
      emit(writer, stream.error_event(event), publish)
      break
    end
    if not writer.alive and not publish then
      break -- nobody else follows this run: it can end with its connection
    end
    if i == 1 and active.stall then
      pause(active.stall, task)
    end
  end
  writer:finish(task and task.stopped)
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
