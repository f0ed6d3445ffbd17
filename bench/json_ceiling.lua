-- The JSON ceiling: lua-cjson decoding the very event text the server streams,
-- in a plain loop; what delivering decoded tables can at best reach.
--   lua5.4 bench/json_ceiling.lua BASE_URL SIZE N   -> "rate decodes/s"
local cjson = require("cjson")
local socket = require("socket")

local base_url, size, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local host, port = base_url:match("^http://([^:/]+):(%d+)")
local conn = assert(socket.connect(host, tonumber(port)))
conn:send(("GET /__sample?size=%d HTTP/1.1\r\nHost: bench\r\n\r\n"):format(size))
local length
repeat
  local line = assert(conn:receive("*l"))
  length = length or tonumber(line:lower():match("^content%-length:%s*(%d+)"))
until line == ""
local event = assert(conn:receive(length))
conn:close()
assert(cjson.decode(event).event == "message")

local decode = cjson.decode
local t0 = socket.gettime()
for _ = 1, n do decode(event) end
print(("rate %.1f"):format(n / (socket.gettime() - t0)))
