--- Event streams: what `*_stream` calls return.
--
--     for ev in assert(client:chat_stream{query = "hi"}) do
--       io.write(ev.answer or "")
--     end
--
-- A stream is its own iterator and, in Lua 5.4, its own to-be-closed value:
-- leaving the loop by `break`, `return` or an error closes the connection at
-- once (elsewhere, call `stream:close()` or let the collector do it).
-- @classmod dify.stream
local json = require("dify.json")
local errors = require("dify.errors")

local Stream = {}
Stream.__index = Stream
Stream.__name = "dify.stream"

-- The user and key a stream was opened with: its stop call must use the same
-- (Dify only stops a run for the user who started it). Kept off the stream
-- table so that dumping a stream never shows a key.
local opened_as = setmetatable({}, { __mode = "k" })

--- Wraps a core stream (used by the client).
-- `skip`: events to pass over first, when a run's stream is re-opened.
-- `as`: the call's {user, api_key}, for stop().
function Stream.new(client, core_stream, route, skip, as)
  local stream = setmetatable({
    _client = client,
    _core = core_stream,
    _route = route,
    -- Read once per event: kept at hand rather than looked up through others.
    _terminal = route.terminal,
    _on_event = client.hooks.on_event,
    _core_next = core_stream.next,
    _terminal_seen = false,
    _done = false,
    _skip = tonumber(skip) or 0,
    delivered = 0,
  }, Stream)
  opened_as[stream] = as
  return stream
end

function Stream:_fail(err)
  self:close()
  self._error = err
  error(err, 0)
end

local null = json.null
local decode_json = json.decode_text
local type = type

-- Keeps the ids an event names (the latest of each).
local function note_ids(self, ev)
  local v = ev.task_id
  if v ~= nil and v ~= null then self.task_id = v end
  v = ev.message_id
  if v ~= nil and v ~= null then self.message_id = v end
  v = ev.conversation_id
  if v ~= nil and v ~= null then self.conversation_id = v end
  v = ev.workflow_run_id
  if v ~= nil and v ~= null then self.workflow_run_id = v end
end

-- What an event other than a plain `message` means for the stream: ids that
-- changed, an error, or its end. Returns its name, or nil for a ping.
local function note_event(self, ev, name, event_type)
  if name == nil then
    name = event_type ~= "" and event_type or "message"
    ev.event = name
  end
  if name == "ping" then return nil end
  note_ids(self, ev)
  if name == "error" then
    self:_fail(errors.new{
      kind = "api",
      status = tonumber(ev.status),
      code = ev.code ~= null and ev.code or nil,
      message = ev.message ~= null and tostring(ev.message or "error event") or "error event",
    })
  end
  if name == self._terminal then self._terminal_seen = true end
  return name
end

local function bad_event(self, data, why)
  self:_fail(errors.new{ kind = "decode", message = "event data is not a JSON object: " ..
    tostring(why or data):sub(1, 120) })
end

local function ended(self, data, kind, which, sent)
  self._done = true
  if data then self:_fail(errors.transport(data, kind, which, sent)) end
  if not self._terminal_seen then
    self:_fail(errors.new{ kind = "protocol",
      message = "stream ended before its " .. self._route.terminal .. " event" })
  end
  return nil
end

-- The next event table, nil at the end, or (with no_wait) false when the
-- core stream has nothing ready without waiting. This runs once per event:
-- the common one (a `message` naming the same ids as the stream already
-- holds) takes the shortest way, with plain field reads.
local function advance(self, no_wait)
  if self._done then
    if self._error then error(self._error, 0) end
    return nil
  end
  local core, core_next = self._core, self._core_next
  while true do
    local event_type, data, kind, which, sent = core_next(core, no_wait)
    if event_type == false then return false end
    if event_type == nil then return ended(self, data, kind, which, sent) end
    -- Frames without data (Dify's `event: ping`) only keep the connection alive.
    if data ~= nil then
      local ok, ev = pcall(decode_json, data)
      if not ok or type(ev) ~= "table" then bad_event(self, data, not ok and ev or nil) end
      local name = ev.event
      if name ~= "message" or event_type ~= "" or ev.task_id ~= self.task_id
        or ev.message_id ~= self.message_id or ev.conversation_id ~= self.conversation_id
        or ev.workflow_run_id ~= nil then
        name = note_event(self, ev, name, event_type)
      end
      if name then
        -- The event's JSON as Dify sent it, for dify.relay to pass on unchanged.
        self._raw_data = data
        local delivered = self.delivered + 1
        self.delivered = delivered
        local hook = self._on_event
        if hook then hook{ event = name, bytes = #data, index = delivered } end
        if delivered > self._skip then return ev end
      end
    end
  end
end

--- Returns the next event table, or nil at the end; raises the error object
-- when Dify sends an `error` event, the connection fails, or the stream ends
-- before its terminal event.
function Stream:next()
  return advance(self, false)
end

-- Like next, but returns false at once when no event has arrived yet
-- (dify.multiplex calls it for a stream the driver found ready).
function Stream:_poll()
  return advance(self, true)
end

-- `for ev in stream` calls stream(nil, previous event): no_wait is nil.
Stream.__call = advance

-- Reads to the end, handing each event to visit. Returns true, or nil and the
-- stream's error; an error that is not the stream's (the caller's bug) goes on up.
local function drain(self, visit)
  local ok, err = pcall(function()
    for ev in self.next, self do visit(ev) end
  end)
  if ok then return true end
  if errors.is(err) then return nil, err end
  error(err, 0)
end

--- Reads to the end; returns the whole answer text and the terminal event,
-- or nil and the error.
function Stream:text()
  local parts, last = {}, nil
  local ok, err = drain(self, function(ev)
    if ev.event == "message" or ev.event == "agent_message" then
      parts[#parts + 1] = ev.answer or ""
    elseif ev.event == "message_replace" then
      parts = { ev.answer or "" }
    end
    if ev.event == self._route.terminal then last = ev end
  end)
  if not ok then return nil, err end
  return table.concat(parts), last
end

--- Reads to the end; returns the `data` of the `workflow_finished` event
-- (status, outputs, error, elapsed_time, ...), or nil and the error.
function Stream:result()
  local finished
  local ok, err = drain(self, function(ev)
    if ev.event == "workflow_finished" then finished = ev end
  end)
  if not ok then return nil, err end
  if not finished then
    return nil, errors.new{ kind = "protocol", message = "the stream had no workflow_finished event" }
  end
  return finished.data
end

--- Re-opens a workflow run's event stream after a drop, passing over the
-- events this stream already delivered. Needs a server that can replay a
-- run's events (GET /workflow/{id}/events); older ones answer 404.
-- Returns the new stream, or nil and an error.
function Stream:resume()
  if not self.workflow_run_id then
    return nil, errors.new{ kind = "protocol", message = "no workflow_run_id to resume" }
  end
  self:close()
  return self._client:workflow_events(self.workflow_run_id, { after = self.delivered })
end

--- Closes the connection now. Safe to call more than once.
function Stream:close()
  self._done = true
  if self._core then self._core:close() end
end

Stream.__close = Stream.close
Stream.__gc = Stream.close

--- Asks Dify to stop this run, then closes the stream.
-- Returns Dify's answer, or nil and an error.
function Stream:stop()
  local task_id = self.task_id
  if not task_id then
    -- The task id comes with the first event.
    local ok, ev = pcall(self.next, self)
    if not ok then return nil, ev end
    task_id = ev and self.task_id
  end
  self:close()
  if not task_id then
    return nil, errors.new{ kind = "protocol", message = "the stream never named its task_id" }
  end
  local as = opened_as[self] or {}
  return self._client[self._route.stop](self._client, task_id, { user = as.user, api_key = as.api_key })
end

return Stream
