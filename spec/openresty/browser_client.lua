--- A stand-in for a browser in the OpenResty specs: one HTTP/1.1 request on
-- a raw socket, whose server-sent events are read one at a time, so a spec
-- can look at the world between two events, or hang up in the middle.
local socket = require("socket")

local client = {}

local Conn = {}
Conn.__index = Conn

--- Sends GET `path` to 127.0.0.1:port with extra headers, and no more:
-- the answer is read later (conn:read_head(), then the body).
function client.send(port, path, headers, timeout)
  local sock = assert(socket.tcp())
  sock:settimeout(timeout or 10)
  assert(sock:connect("127.0.0.1", port))
  local lines = { "GET " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port }
  for name, value in pairs(headers or {}) do lines[#lines + 1] = name .. ": " .. value end
  assert(sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n"))
  return setmetatable({ sock = sock, headers = {}, buffer = "", chunk_left = 0 }, Conn)
end

--- Reads the status line and headers into .status and .headers.
function Conn:read_head()
  local status_line = assert(self.sock:receive("*l"))
  self.status = tonumber(status_line:match("^HTTP/%d%.%d (%d+)"))
  while true do
    local line = assert(self.sock:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then self.headers[name:lower()] = value end
  end
  self.chunked = (self.headers["transfer-encoding"] or ""):find("chunked") ~= nil
  return self
end

--- The rest of the body, dechunked.
function Conn:read_body()
  local parts = {}
  while true do
    local piece = self:_piece()
    if not piece then break end
    parts[#parts + 1] = piece
  end
  return table.concat(parts)
end

--- Sends GET `path` and reads the head; returns the connection.
function client.get(port, path, headers, timeout)
  return client.send(port, path, headers, timeout):read_head()
end

-- The next piece of the body (dechunked), or nil and "closed"/"timeout".
function Conn:_piece()
  if not self.chunked then
    local length = tonumber(self.headers["content-length"] or "")
    if length then
      if length == 0 then return nil, "closed" end
      local data, err = self.sock:receive(length)
      self.headers["content-length"] = "0"
      return data, err
    end
    local data, err, partial = self.sock:receive(4096) -- ends when the server closes
    data = data or (partial ~= "" and partial) or nil
    if data then return data end
    return nil, err
  end
  if self.chunk_left == 0 then
    local line, err = self.sock:receive("*l")
    if line == "" then line, err = self.sock:receive("*l") end -- the CRLF after a chunk
    if not line then return nil, err end
    self.chunk_left = tonumber(line:match("^(%x+)"), 16)
    if self.chunk_left == 0 then return nil, "closed" end
  end
  local data, err = self.sock:receive(self.chunk_left)
  if not data then return nil, err end
  self.chunk_left = 0
  return data
end

--- The next event's data (a string), or nil and "closed" or "timeout".
function Conn:next_data(timeout)
  self.sock:settimeout(timeout or 10)
  while true do
    local frame, rest = self.buffer:match("^(.-)\n\n(.*)$")
    if frame then
      self.buffer = rest
      local data = {}
      for line in frame:gmatch("[^\n]+") do
        local value = line:match("^data: ?(.*)$")
        if value then data[#data + 1] = value end
      end
      if #data > 0 then return table.concat(data, "\n") end
    else
      local piece, err = self:_piece()
      if not piece then return nil, err end
      self.buffer = self.buffer .. piece
    end
  end
end

--- Hangs up, as a browser tab that closes.
function Conn:close()
  self.sock:close()
end

--- One plain GET; returns status and body.
function client.fetch(port, path, headers)
  local conn = client.get(port, path, headers)
  local body = conn:read_body()
  conn:close()
  return conn.status, body
end

return client
