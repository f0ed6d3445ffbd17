--- An event stream read through a cosocket, with the same face as the C
-- core's stream: `next()` returns `type, data, id` per event, nothing at a
-- clean end, or `nil, kind, message, which`; `close()`; `is_open()`.
-- The bytes go through the C core's own SSE parser.
-- @module dify.ngx.stream
local core = require("dify.core")

local Stream = {}
Stream.__index = Stream

--- Wraps a connection whose head (a 2xx event stream) has been read.
-- `limits`: idle_ms, max_event_size, keepalive_ms, pool_size.
function Stream.new(conn, limits)
  return setmetatable({
    _conn = conn,
    _limits = limits,
    _parser = core.sse_parser(limits.max_event_size),
    _queue = {},
    _at = 1,
  }, Stream)
end

function Stream:_take(events)
  self._queue, self._at = events, 1
end

-- Reads until an event is queued, the body ends, or the read fails.
function Stream:_fill()
  local conn, limits = self._conn, self._limits
  self._reading = true
  local piece, kind, message, which = conn:read_piece(limits.idle_ms, "idle")
  self._reading = false
  if self._abandoned then
    -- Closed from another light thread while this one waited on the socket.
    self:close()
    return
  end
  if piece then
    local events, parse_kind, parse_message = self._parser:feed(piece)
    if not events then return self:_fail(parse_kind, parse_message) end
    self:_take(events)
  elseif piece == false then
    local events, parse_kind, parse_message = self._parser:finish()
    if not events then return self:_fail(parse_kind, parse_message) end
    self:_take(events)
    self._ended = true
    conn:release(limits.keepalive_ms, limits.pool_size)
  else
    self:_fail(kind, message, which)
  end
end

function Stream:_fail(kind, message, which)
  self._failure = { kind, message, which }
  self:close()
end

function Stream:next()
  while true do
    local ev = self._queue[self._at]
    if ev then
      self._at = self._at + 1
      if ev.data ~= nil and self._conn then self._conn.first_event_deadline = nil end
      return ev.event or "", ev.data, ev.id
    end
    local failure = self._failure
    if failure then
      self._failure = nil
      return nil, failure[1], failure[2], failure[3]
    end
    if self._ended or not self._conn then
      self:close()
      return
    end
    self:_fill()
  end
end

--- Closes the connection now; a half-read stream never goes back to the pool.
-- From another light thread (nginx's on_abort handler) while `next` waits on
-- the socket, it only marks the stream: that read returns, then the socket closes.
function Stream:close()
  if self._reading then
    self._abandoned = true
    return
  end
  local conn = self._conn
  self._conn = nil
  self._queue, self._at = {}, 1
  if conn then
    if self._ended then
      conn:release(self._limits.keepalive_ms, self._limits.pool_size)
    else
      -- The collector may run this from another request's context, where the
      -- socket refuses to be touched; nginx closes it with its own request.
      pcall(conn.close, conn)
    end
  end
end

function Stream:is_open()
  return self._conn ~= nil
end

return Stream
