-- The JSON ceiling: lua-cjson decoding the very event text the server streams,
-- in a plain loop; what delivering decoded tables can at best reach.
--   lua5.4 bench/json_ceiling.lua BASE_URL SIZE N   -> "rate decodes/s"
local cjson = require("cjson")
local socket = require("socket")
local http_get = require("bench.http_get")

local base_url, size, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local host, port = base_url:match("^http://([^:/]+):(%d+)")
local event = http_get(host, port, ("/__sample?size=%d"):format(size))
assert(cjson.decode(event).event == "message")

local decode = cjson.decode
local t0 = socket.gettime()
for _ = 1, n do decode(event) end
print(("rate %.1f"):format(n / (socket.gettime() - t0)))
