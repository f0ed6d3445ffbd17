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
local wait_stream = require("dify.all").wait_stream

local Stream = {}
Stream.__index = Stream
Stream.__name = "dify.stream"

-- The user and key a stream was opened with: its stop call must use the same
-- (Dify only stops a run for the user who started it). Kept off the stream
-- table so that dumping a stream never shows a key.
local opened_as = setmetatable({}, { __mode = "k" })

--- Wraps a core stream (used by the client).
-- `as`: the call's {user, api_key}, for stop() and resume().
-- `headers`: the answer's headers (their X-Version and X-Trace-Id go on errors).
function Stream.new(client, core_stream, route, as, headers)
  local stream = setmetatable({
    _client = client,
    _core = core_stream,
    _route = route,
    -- Read once per event: kept at hand rather than looked up through others.
    _ends = route.ends,
    _on_event = client.hooks.on_event,
    _core_next = core_stream.next,
    -- A route without a terminal event ends well at any clean end.
    _terminal_seen = route.terminal == false,
    _done = false,
    _headers = headers,
    _reasoning = {}, -- the reasoning_chunk pieces seen
    delivered = 0,
    --- The `data` of every `human_input_required` event (each has a `form_token`).
    forms = {},
    --- The `data` of the `workflow_paused` event that ended a paused run, or nil.
    paused = nil,
  }, Stream)
  opened_as[stream] = as
  return stream
end

function Stream:_fail(err)
  self:close()
  local headers = self._headers
  if headers then
    err.server_version = err.server_version or headers["x-version"]
    err.trace_id = err.trace_id or headers["x-trace-id"]
  end
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
  if name == "workflow_finished" then
    self._finished = ev
    self.paused = nil -- a run followed with continue_on_pause went on after its pause
  end
  if self._ends[name] then
    self._terminal_seen = true
    if name == "workflow_paused" then self.paused = type(ev.data) == "table" and ev.data or ev end
  elseif name == "human_input_required" then
    local forms = self.forms
    forms[#forms + 1] = type(ev.data) == "table" and ev.data or ev
  elseif name == "reasoning_chunk" then
    -- Kept as events pass, so reasoning() answers after a plain loop too.
    local piece = type(ev.data) == "table" and ev.data.reasoning
    if type(piece) == "string" then
      local reasoning = self._reasoning
      reasoning[#reasoning + 1] = piece
    end
  elseif name == self._route.error_event then
    self:_fail(errors.new{ kind = "api", code = name,
      message = tostring(ev.error ~= nil and ev.error ~= null and ev.error or ev.message or name) })
  end
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
    local route = self._route
    local names = { route.terminal }
    for _, name in ipairs(route.also_ends or {}) do names[#names + 1] = name end
    self:_fail(errors.new{ kind = "protocol",
      message = "stream ended before its " .. table.concat(names, " or ") .. " event" })
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
    if event_type == false then
      if no_wait then return false end
      -- Inside a task (dify.spawn, dify.all) the core answers false rather than wait.
      wait_stream(core)
    end
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
        return ev
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

-- Folds one event into the answer text and reasoning read so far.
local function gather(self, ev)
  local name = ev.event
  local parts = self._parts
  if name == "message" then
    if self._agent_chunks then
      -- A New Agent app closes its agent_message chunks with one `message`
      -- holding the whole answer: it replaces them rather than adding to them.
      self._agent_chunks = false
      parts = { ev.answer or "" }
      self._parts = parts
    else
      parts[#parts + 1] = ev.answer or ""
    end
  elseif name == "agent_message" then
    self._agent_chunks = true
    parts[#parts + 1] = ev.answer or ""
  elseif name == "message_replace" then
    self._parts = { ev.answer or "" }
  end
  -- The route's own terminal event, once seen, stays the one returned.
  local last = self._last
  if self._ends[name] and not (last and last.event == self._route.terminal) then self._last = ev end
end

-- next(), folding each event into what text() and reasoning() answer as it
-- passes (the callback form of a stream reads it so, see Client:_spawn_stream).
function Stream:_next_gathered()
  if not self._parts then self._parts = {} end
  local ev = self:next()
  if ev then
    gather(self, ev)
  else
    self._gathered_ok = true
  end
  return ev
end

-- Reads to the end gathering text and reasoning (once: later calls reuse them).
function Stream:_gather()
  if not self._parts then
    self._parts = {}
    self._gathered_ok, self._gathered_err = drain(self, function(ev) gather(self, ev) end)
  end
  return self._gathered_ok, self._gathered_err
end

--- Reads to the end; returns the whole answer text, the event that ended the
-- stream (`message_end`, or `workflow_paused` for a paused run: see
-- `stream.paused`) and the joined reasoning (`reasoning_chunk` events), or
-- nil and the error.
function Stream:text()
  local ok, err = self:_gather()
  if not ok then return nil, err end
  return table.concat(self._parts), self._last, table.concat(self._reasoning)
end

--- Reads to the end; returns the joined reasoning of the `reasoning_chunk`
-- events (the answer itself never holds it), or nil and the error. After a
-- loop over the stream it returns what the loop saw.
function Stream:reasoning()
  local ok, err = self:_gather()
  if not ok then return nil, err end
  return table.concat(self._reasoning)
end

--- Reads to the end; returns the `data` of the `workflow_finished` event
-- (status, outputs, error, elapsed_time, ...), or, for a run that paused for
-- a person, the `data` of its `workflow_paused` event (`status` "paused";
-- the forms are in `stream.forms`). Returns nil and the error otherwise.
function Stream:result()
  local ok, err = drain(self, function() end)
  if not ok then return nil, err end
  local finished = self._finished
  if finished then return finished.data end
  if self.paused then return self.paused end
  return nil, errors.new{ kind = "protocol", message = "the stream had no workflow_finished event" }
end

--- Re-opens the run's event stream (GET /workflow/{id}/events, Dify 1.14+;
-- older servers answer 404). Dify sends what happens from now on: events
-- sent while disconnected are lost unless `include_state_snapshot` is asked
-- for, and a finished run answers its `workflow_finished` alone.
-- @tparam[opt] table opts `include_state_snapshot`, `continue_on_pause`
-- Returns the new stream, or nil and an error.
function Stream:resume(opts)
  if opts ~= nil and type(opts) ~= "table" then error("resume: opts must be a table", 2) end
  if not self.workflow_run_id then
    return nil, errors.new{ kind = "protocol", message = "no workflow_run_id to resume" }
  end
  self:close()
  local as = opened_as[self] or {}
  local fields = { user = as.user, api_key = as.api_key }
  for k, v in pairs(opts or {}) do fields[k] = v end
  local resumed, err = self._client:workflow_events(self.workflow_run_id, fields)
  -- A chatflow's run is stopped through the chat route, whichever stream follows it.
  if resumed then resumed._stop_route = self._stop_route or self._route.stop end
  return resumed, err
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
  local who = { user = as.user, api_key = as.api_key }
  local route = self._stop_route or self._route.stop
  local answer, err = self._client[route](self._client, task_id, who)
  if not answer and route == "stop_workflow" and err.code == "not_workflow_app" then
    -- workflow_events follows chatflow runs too, and Dify stops those only through the chat route.
    return self._client:stop(task_id, who)
  end
  return answer, err
end

return Stream
