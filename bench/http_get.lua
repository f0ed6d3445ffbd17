-- A plain GET to the bench server's own routes (/__stats, /__sample), which
-- every bench script reads outside the contestants' timed work.
--   local http_get = require("bench.http_get")
--   local body = http_get("127.0.0.1", port, "/__stats")
local socket = require("socket")

return function(host, port, path)
  local conn = assert(socket.connect(host, tonumber(port)))
  conn:send(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n"):format(path))
  local length
  repeat
    local line = assert(conn:receive("*l"))
    length = length or tonumber(line:lower():match("^content%-length:%s*(%d+)"))
  until line == ""
  local body = assert(conn:receive(length))
  conn:close()
  return body
end
