--- HTTP/1.1 over nginx cosockets: one request and its response on one
-- connection, taken from and given back to nginx's keep-alive pool.
--
-- Failures come back as `nil, kind, message, which` with the kinds of the C
-- core ("network", "timeout", "tls", "protocol"), so the transport can hand
-- them on unchanged. No `lua_error` ever leaves a half-used socket behind:
-- the transport closes `conn` whatever happens.
-- @module dify.ngx.http
-- luacheck: read globals ngx
local ngx = ngx

local http = {}

local READ_PIECE = 16384 -- bytes asked of the socket per read
local MAX_HEAD = 65536 -- bytes of status line and headers accepted
local NO_LIMIT_MS = 86400000 -- "no timeout" for cosockets, which need a number

--- Splits an http(s) URL; returns scheme, host, port, target and the Host
-- header's value, or nil and a message.
function http.parse_url(url)
  local scheme, authority, target = url:match("^(https?)://([^/?#]+)([^#]*)")
  if not scheme then return nil, "not an http(s) URL" end
  if authority:find("@", 1, true) then return nil, "user:password@ in URLs is not supported" end
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$") -- [IPv6]:port
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host then return nil, "malformed host in URL" end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if target == "" then target = "/" end
  return scheme, host, port, target, authority
end

local function now()
  ngx.update_time()
  return ngx.now()
end

local Conn = {}
Conn.__index = Conn

--- Milliseconds left before the deadline (seconds since the epoch), at most `cap`.
local function left_ms(deadline, cap)
  if not deadline then return cap end
  local ms = math.floor((deadline - now()) * 1000)
  if ms < 1 then return 0 end
  return math.min(ms, cap)
end

--- Opens (or takes from the pool) a connection for the URL.
-- `settings`: connect_ms, verify_tls, pool_size. `deadline`: nil or seconds.
-- Returns the connection, or nil, kind, message, which.
function http.connect(url, settings, deadline)
  local scheme, host, port, target, authority = http.parse_url(url)
  if not scheme then return nil, "network", host end
  local sock, why = ngx.socket.tcp()
  if not sock then return nil, "network", "cannot make a socket: " .. tostring(why) end
  local conn = setmetatable({
    sock = sock, scheme = scheme, host = host, port = port, target = target,
    authority = authority, sent = false, deadline = deadline,
  }, Conn)
  local connect_ms = left_ms(deadline, settings.connect_ms)
  if connect_ms == 0 then return nil, "timeout", "the deadline passed before connecting", "total" end
  sock:settimeouts(connect_ms, connect_ms, connect_ms)
  -- Verified and unverified TLS connections never share a pool.
  local pool = ("lua-dify:%s:%s:%d:%s"):format(scheme, host, port, settings.verify_tls and "v" or "nv")
  local ok, err = sock:connect(host, port, { pool = pool, pool_size = settings.pool_size })
  if not ok then
    if err == "timeout" then
      return nil, "timeout", ("connecting to %s:%d timed out"):format(host, port), "connect"
    end
    return nil, "network", ("cannot connect to %s:%d: %s"):format(host, port, tostring(err))
  end
  conn.reused = (sock:getreusedtimes() or 0) > 0
  if scheme == "https" and not conn.reused then
    local session, tls_err = sock:sslhandshake(nil, host, settings.verify_tls)
    if not session then
      sock:close()
      if tls_err == "timeout" then return nil, "timeout", "TLS handshake timed out", "connect" end
      return nil, "tls", ("TLS handshake with %s failed: %s"):format(host, tostring(tls_err))
    end
  end
  return conn
end

--- Sets the socket's send/read timeout for the next operation: the smaller of
-- `cap_ms` and the time left; remembers which limit a timeout would mean.
function Conn:arm(cap_ms, which)
  local ms = cap_ms
  self.which = which
  if self.deadline then
    local left = left_ms(self.deadline, NO_LIMIT_MS)
    if left < ms then ms, self.which = left, "total" end
  end
  -- Streams: until the first event with data, first_event_timeout also counts.
  if self.first_event_deadline then
    local left = left_ms(self.first_event_deadline, NO_LIMIT_MS)
    if left < ms then ms, self.which = left, "first_event" end
  end
  if ms < 1 then return false end
  self.sock:settimeouts(ms, ms, ms)
  return true
end

function Conn:timed_out(what)
  if self.which == "first_event" then
    return nil, "timeout", "no event within first_event_timeout", "first_event"
  end
  return nil, "timeout", ("%s timed out (%s timeout)"):format(what, self.which), self.which
end

--- Sends bytes (a string or an array of strings).
function Conn:send(data, cap_ms)
  if not self:arm(cap_ms, "total") then return self:timed_out("sending the request") end
  local n, err = self.sock:send(data)
  if not n then
    if err == "timeout" then return self:timed_out("sending the request") end
    return nil, "network", "sending the request failed: " .. tostring(err)
  end
  self.sent = true
  return true
end

-- Reads one header line (CR stripped by the socket); counts toward MAX_HEAD.
function Conn:_line(cap_ms, which)
  if not self:arm(cap_ms, which) then return self:timed_out("waiting for the response") end
  local line, err = self.sock:receive("*l")
  if not line then
    if err == "timeout" then
      if self.which == "idle" then
        return nil, "timeout", ("no data received for %d ms (idle_timeout)"):format(cap_ms), "idle"
      end
      return self:timed_out("waiting for the response")
    end
    if err == "closed" and not self.got_bytes then
      return nil, "network", "the server closed the connection without answering"
    end
    return nil, "network", "reading the response failed: " .. tostring(err)
  end
  self.got_bytes = true
  self.head_bytes = (self.head_bytes or 0) + #line + 2
  if self.head_bytes > MAX_HEAD then return nil, "protocol", "response headers larger than 64 KiB" end
  return line
end

--- Reads the status line and headers, skipping 1xx answers.
-- `which` names the limit a read timeout means ("total" or "idle").
-- Returns status, headers (lower-case names; repeats joined by ", ", but `set-cookie` is
-- the list of its lines), or nil, kind, message, which.
function Conn:read_head(cap_ms, which, method)
  while true do
    local line, kind, message, timeout_which = self:_line(cap_ms, which)
    if not line then return nil, kind, message, timeout_which end
    local version, status = line:match("^HTTP/(%d%.%d)%s+(%d%d%d)")
    if not version then return nil, "protocol", "not an HTTP response" end
    status = tonumber(status)
    local headers = {}
    while true do
      line, kind, message, timeout_which = self:_line(cap_ms, which)
      if not line then return nil, kind, message, timeout_which end
      if line == "" then break end
      local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = name:lower()
        if name == "set-cookie" then
          -- A cookie's Expires date holds a comma: its lines stay a list, as from the C core.
          local cookies = headers[name] or {}
          cookies[#cookies + 1] = value
          headers[name] = cookies
        else
          headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
        end
      end
    end
    if status >= 200 or status < 100 then
      self.status, self.headers, self.version = status, headers, version
      self:_frame_body(method)
      return status, headers
    end
  end
end

-- Decides how the body ends, and whether the connection can be reused after it.
function Conn:_frame_body(method)
  local h, status = self.headers, self.status
  local connection = (h["connection"] or ""):lower()
  self.keepalive = self.version == "1.1" and not connection:find("close", 1, true)
    or connection:find("keep-alive", 1, true) ~= nil
  if method == "HEAD" or status == 204 or status == 304 then
    self.framing, self.left = "length", 0
  elseif (h["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    self.framing, self.left = "chunked", 0
  elseif h["content-length"] and tonumber(h["content-length"]:match("^%d+")) then
    self.framing, self.left = "length", tonumber(h["content-length"]:match("^%d+"))
  else
    self.framing, self.keepalive = "close", false
  end
  self.body_done = self.framing == "length" and self.left == 0
end

-- Reads a line ("*l") or up to `size` bytes, whatever has arrived.
function Conn:_receive(what, cap_ms, which, size_or_pattern)
  if not self:arm(cap_ms, which) then return self:timed_out(what) end
  local data, err
  if type(size_or_pattern) == "number" then
    data, err = self.sock:receiveany(size_or_pattern)
  else
    data, err = self.sock:receive(size_or_pattern)
  end
  if not data then
    if err == "timeout" then
      if self.which == "idle" then
        return nil, "timeout", ("no data received for %d ms (idle_timeout)"):format(cap_ms), "idle"
      end
      return self:timed_out(what)
    end
    return nil, err == "closed" and "closed" or "network", tostring(err)
  end
  return data
end

local function cut_short(kind, message, which)
  if kind == "closed" then return nil, "network", "the connection closed before the body ended" end
  return nil, kind, message, which
end

--- Reads the next piece of the body.
-- `which` names the limit a read timeout means ("total" or "idle").
-- Returns a non-empty string, false at the body's clean end, or nil, kind, message, which.
function Conn:read_piece(cap_ms, which)
  while not self.body_done do
    if self.framing == "close" then
      local data, kind, message, timeout_which = self:_receive("reading the response", cap_ms, which, READ_PIECE)
      if data then return data end
      if kind ~= "closed" then return nil, kind, message, timeout_which end
      self.body_done = true
    elseif self.framing == "length" then
      local data, kind, message, timeout_which =
        self:_receive("reading the response", cap_ms, which, math.min(self.left, READ_PIECE))
      if not data then return cut_short(kind, message, timeout_which) end
      self.left = self.left - #data
      self.body_done = self.left == 0
      return data
    elseif self.left > 0 then -- inside a chunk
      local data, kind, message, timeout_which =
        self:_receive("reading the response", cap_ms, which, math.min(self.left, READ_PIECE))
      if not data then return cut_short(kind, message, timeout_which) end
      self.left = self.left - #data
      if self.left == 0 then
        local crlf, k, m, w = self:_receive("reading the response", cap_ms, which, "*l")
        if not crlf then return cut_short(k, m, w) end
        if crlf ~= "" then return nil, "protocol", "malformed chunked body" end
      end
      return data
    else -- a chunk-size line
      local line, kind, message, timeout_which = self:_receive("reading the response", cap_ms, which, "*l")
      if not line then return cut_short(kind, message, timeout_which) end
      local size = line:match("^%s*(%x+)")
      if not size then return nil, "protocol", "malformed chunk size" end
      self.left = tonumber(size, 16)
      if self.left == 0 then
        repeat -- trailers, up to the blank line
          line, kind, message, timeout_which = self:_receive("reading the response", cap_ms, which, "*l")
          if not line then return cut_short(kind, message, timeout_which) end
        until line == ""
        self.body_done = true
      end
    end
  end
  return false
end

--- Gives the connection back to the pool when its answer was read whole and
-- the server allows it; closes it otherwise. Safe to call more than once.
function Conn:release(keepalive_ms, pool_size)
  local sock = self.sock
  if not sock then return end
  self.sock = nil
  if self.body_done and self.keepalive then
    if sock:setkeepalive(keepalive_ms, pool_size) then return end
  end
  sock:close()
end

--- Closes the connection now (a half-read answer never goes back to the pool).
function Conn:close()
  local sock = self.sock
  self.sock = nil
  if sock then sock:close() end
end

http.NO_LIMIT_MS = NO_LIMIT_MS

return http
