--- A minimal HTTP/1.1 server on top of the cooperative loop.
--
-- Supports what Dify clients (libcurl) send: keep-alive with several requests
-- per connection, `Connection: close`, Content-Length and chunked request
-- bodies, and `Expect: 100-continue`.  Responses are either whole bodies with
-- Content-Length or chunked bodies written piece by piece (streams).

local socket = require("socket")
local loop = require("dify.mock.loop")

local http = {}

local READ_BLOCK = 65536
local MAX_LINE = 65536

--- Raised (as an error value) when the peer has gone away; it ends the
--- connection quietly instead of being reported as a server bug.
http.CLOSED = setmetatable({}, { __tostring = function() return "connection closed" end })

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [307] = "Temporary Redirect",
  [308] = "Permanent Redirect", [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict", [412] = "Precondition Failed",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type",
  [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}
http.REASONS = REASONS

---------------------------------------------------------------------------
-- Connection: buffered reads and complete writes on a non-blocking socket
---------------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

local function new_conn(sock)
  return setmetatable({ sock = sock, buf = "", pos = 1 }, Conn)
end

-- Appends whatever the socket has to the buffer, waiting if it has nothing.
-- Returns false at end of stream.
function Conn:fill()
  while true do
    local data, err, partial = self.sock:receive(READ_BLOCK)
    local got = data or partial
    if got and got ~= "" then
      self.buf = self.buf:sub(self.pos) .. got
      self.pos = 1
      return true
    end
    if err ~= "timeout" then
      return false
    end
    loop.wait_readable(self.sock)
  end
end

--- Reads one line (LF or CRLF terminated, terminator removed); nil at EOF.
function Conn:read_line()
  while true do
    local lf = self.buf:find("\n", self.pos, true)
    if lf then
      local line = self.buf:sub(self.pos, lf - 1)
      self.pos = lf + 1
      return (line:gsub("\r$", ""))
    end
    if #self.buf - self.pos > MAX_LINE then
      return nil
    end
    if not self:fill() then
      return nil
    end
  end
end

--- Reads exactly n bytes; raises http.CLOSED if the peer hangs up first.
-- Large bodies are collected piecewise to avoid quadratic concatenation.
function Conn:read_exact(n)
  local buffered = #self.buf - self.pos + 1
  if buffered >= n then
    local data = self.buf:sub(self.pos, self.pos + n - 1)
    self.pos = self.pos + n
    return data
  end
  local pieces = { self.buf:sub(self.pos) }
  local remaining = n - buffered
  self.buf, self.pos = "", 1
  while remaining > 0 do
    local data, err, partial = self.sock:receive(math.min(remaining, READ_BLOCK))
    local got = data or partial
    if got and got ~= "" then
      pieces[#pieces + 1] = got
      remaining = remaining - #got
    elseif err == "timeout" then
      loop.wait_readable(self.sock)
    else
      error(http.CLOSED)
    end
  end
  return table.concat(pieces)
end

--- Writes all of `data`, waiting for the socket as needed.
function Conn:write(data)
  local next_byte = 1
  while next_byte <= #data do
    local last, err, last_partial = self.sock:send(data, next_byte)
    if last then
      next_byte = last + 1
    elseif err == "timeout" then
      next_byte = last_partial + 1
      loop.wait_writable(self.sock)
    else
      error(http.CLOSED)
    end
  end
end

---------------------------------------------------------------------------
-- Requests
---------------------------------------------------------------------------

local function read_chunked_body(conn)
  local pieces = {}
  while true do
    local size_line = conn:read_line()
    if not size_line then
      error(http.CLOSED)
    end
    local size = tonumber(size_line:match("^%s*(%x+)"), 16)
    if not size then
      return nil, "bad chunk size line"
    end
    if size == 0 then
      repeat -- trailer fields, up to the blank line
        local trailer = conn:read_line()
        if not trailer then
          error(http.CLOSED)
        end
      until trailer == ""
      return table.concat(pieces)
    end
    pieces[#pieces + 1] = conn:read_exact(size)
    conn:read_line() -- the CRLF closing the chunk data
  end
end

local function wants_keep_alive(version, connection_header)
  local tokens = (connection_header or ""):lower()
  if version == "1.0" then
    return tokens:find("keep%-alive") ~= nil
  end
  return tokens:find("close") == nil
end

--- Reads one request.  Returns the request table, or nil at a clean EOF, or
-- nil and an error text for a malformed request.
-- The request: {method, target, path (raw), query (raw), version, headers
-- (lowercased names), keep_alive, body}.
function http.read_request(conn)
  local line
  repeat -- tolerate stray blank lines between requests (RFC 9112 2.2)
    line = conn:read_line()
    if not line then
      return nil
    end
  until line ~= ""

  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then
    return nil, "malformed request line"
  end

  local headers = {}
  while true do
    local header = conn:read_line()
    if not header then
      return nil
    end
    if header == "" then
      break
    end
    local name, value = header:match("^([^:%s]+)%s*:%s*(.-)%s*$")
    if not name then
      return nil, "malformed header line"
    end
    name = name:lower()
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end

  -- absolute-form targets (through a proxy) carry scheme and host
  local origin_form = target:gsub("^%a[%w+.-]*://[^/]*", "")
  local path, query = origin_form:match("^([^?]*)%??(.*)$")

  local chunked = (headers["transfer-encoding"] or ""):lower():find("chunked") ~= nil
  local length = tonumber(headers["content-length"] or "0")
  if not length or length < 0 or math.type(length) ~= "integer" then
    return nil, "bad Content-Length"
  end
  local has_body = chunked or length > 0

  -- A client that asked to wait must be told to go ahead before it sends.
  if has_body and (headers["expect"] or ""):lower() == "100-continue" then
    conn:write("HTTP/1.1 100 Continue\r\n\r\n")
  end

  local body = ""
  if chunked then
    local err
    body, err = read_chunked_body(conn)
    if not body then
      return nil, err
    end
  elseif length > 0 then
    body = conn:read_exact(length)
  end

  return {
    method = method,
    target = target,
    path = path ~= "" and path or "/",
    query = query,
    version = version,
    headers = headers,
    keep_alive = wants_keep_alive(version, headers["connection"]),
    body = body,
    chunked = chunked,
  }
end

---------------------------------------------------------------------------
-- Responses
---------------------------------------------------------------------------

local Response = {}
Response.__index = Response

--- Options a handler may set before writing:
--   base_headers  {name, value} pairs every answer to this request carries
--   split1     write the body one byte per write (one byte per chunk)
--   delay      seconds to wait before sending a whole (non-chunked) response
--   keep_alive false to close the connection after this response
local function new_response(conn, req)
  return setmetatable({
    conn = conn,
    req = req,
    keep_alive = req.keep_alive,
    split1 = false,
    delay = nil,
    headers_sent = false,
    finished = false,
  }, Response)
end

-- headers: list of {name, value} pairs, kept in order
function Response:write_head(status, headers)
  local lines = { ("HTTP/1.1 %d %s"):format(status, REASONS[status] or "Status") }
  for _, header in ipairs(headers) do
    lines[#lines + 1] = header[1] .. ": " .. header[2]
  end
  for _, header in ipairs(self.base_headers or {}) do
    lines[#lines + 1] = header[1] .. ": " .. header[2]
  end
  lines[#lines + 1] = "Server: dify-mock"
  lines[#lines + 1] = "Connection: " .. (self.keep_alive and "keep-alive" or "close")
  self.headers_sent = true
  self.status = status
  self.conn:write(table.concat(lines, "\r\n") .. "\r\n\r\n")
end

-- One write per byte when split1 is on, yielding in between so the bytes
-- leave as separate segments and other connections keep being served.
function Response:write_raw(data)
  if not self.split1 then
    self.conn:write(data)
    return
  end
  for i = 1, #data do
    self.conn:write(data:sub(i, i))
    loop.sleep(0)
  end
end

--- Sends a complete response with a Content-Length body.
function Response:send(status, headers, body)
  body = body or ""
  if self.delay and self.delay > 0 then
    loop.sleep(self.delay)
  end
  local all = {}
  for _, header in ipairs(headers or {}) do
    all[#all + 1] = header
  end
  if self.close_delimited then
    self.keep_alive = false -- the end of the connection ends the body
  elseif status ~= 204 and status ~= 304 then
    all[#all + 1] = { "Content-Length", tostring(#body) }
  else
    body = ""
  end
  self:write_head(status, all)
  if self.req.method ~= "HEAD" then
    self:write_raw(body)
  end
  self.finished = true
end

--- Starts a chunked response; follow with chunk() calls and finish() or abort().
function Response:begin_chunked(status, headers)
  local all = {}
  for _, header in ipairs(headers or {}) do
    all[#all + 1] = header
  end
  if self.close_delimited then
    self.keep_alive = false
  else
    all[#all + 1] = { "Transfer-Encoding", "chunked" }
  end
  self:write_head(status, all)
end

--- Writes `data` as one chunk (as one chunk per byte with split1).
function Response:chunk(data)
  if data == "" then
    return -- an empty chunk would end the body
  end
  if self.close_delimited then
    return self:write_raw(data)
  end
  if self.split1 then
    for i = 1, #data do
      self.conn:write("1\r\n" .. data:sub(i, i) .. "\r\n")
      loop.sleep(0)
    end
  else
    self.conn:write(("%x\r\n"):format(#data) .. data .. "\r\n")
  end
end

--- Ends a chunked body properly.
function Response:finish()
  if not self.close_delimited then self.conn:write("0\r\n\r\n") end
  self.finished = true
end

--- Ends the response without the terminating chunk: the connection is closed
-- right away, so the client sees a truncated body.
function Response:abort()
  self.keep_alive = false
  self.finished = true
  self.aborted = true
end

---------------------------------------------------------------------------
-- Server
---------------------------------------------------------------------------

-- Keeps a Lua error value intact when it is our disconnect marker, otherwise
-- adds a traceback for the log.
local function error_handler(err)
  if err == http.CLOSED then
    return err
  end
  return debug.traceback(tostring(err), 2)
end

local function serve_connection(sock, handler)
  local conn = new_conn(sock)
  while true do
    local ok_read, req, parse_error = pcall(http.read_request, conn)
    if not ok_read then
      if req ~= http.CLOSED then
        io.stderr:write("dify-mock: reading a request failed: ", tostring(req), "\n")
      end
      break
    end
    if not req then
      if parse_error then
        pcall(conn.write, conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      end
      break
    end

    local res = new_response(conn, req)
    local ok, err = xpcall(handler, error_handler, req, res)
    if not ok then
      if err == http.CLOSED then
        break
      end
      io.stderr:write("dify-mock: handler failed: ", tostring(err), "\n")
      if res.headers_sent then
        break -- too late for a clean error; cut the response
      end
      res.keep_alive = false
      pcall(res.send, res, 500, { { "Content-Type", "application/json" } },
        '{"code":"internal_server_error","message":"mock server bug","status":500}')
    elseif not res.finished then
      if res.headers_sent then
        break
      end
      res:send(500, {}, "")
    end
    if not res.keep_alive then
      break
    end
  end
  sock:close()
end

--- Binds a listening socket.  Returns a server object {port, host, ...} or
-- nil and an error.
-- `handler(req, res)` is called for each request, inside the connection's task.
function http.listen(sched, host, port, handler)
  local listener, err = socket.bind(host, port, 64)
  if not listener then
    return nil, err
  end
  listener:settimeout(0)
  local _, bound_port = listener:getsockname()
  local server = { host = host, port = tonumber(bound_port), accepted = 0, listener = listener }

  sched:spawn(function()
    while true do
      local client = listener:accept()
      if client then
        server.accepted = server.accepted + 1
        client:settimeout(0)
        client:setoption("tcp-nodelay", true)
        sched:spawn(serve_connection, client, handler)
      else
        loop.wait_readable(listener)
      end
    end
  end)
  return server
end

return http
