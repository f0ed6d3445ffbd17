-- Baseline: what a Lua user writes today with Debian's lua-curl (lua5.2) and
-- lua-cjson, splitting the event stream in plain Lua.
--   lua5.2 bench/lua_curl.lua blocking BASE_URL N    -> "rate calls/s"
--   lua5.2 bench/lua_curl.lua stream BASE_URL QUERY  -> "rate events/s"
local curl = require("curl")
local cjson = require("cjson")
local socket = require("socket")

local mode, base_url, arg3 = arg[1], arg[2], arg[3]
local easy = curl.easy_init()
easy:setopt(curl.OPT_URL, base_url .. "/chat-messages")
easy:setopt(curl.OPT_NOSIGNAL, 1)

local function headers(accept)
  return { "Authorization: Bearer app-bench", "Content-Type: application/json", "Accept: " .. accept }
end

if mode == "blocking" then
  local n = tonumber(arg3)
  local parts
  easy:setopt(curl.OPT_HTTPHEADER, headers("application/json"))
  easy:setopt(curl.OPT_WRITEFUNCTION, function(chunk, size)
    parts[#parts + 1] = chunk
    return size
  end)
  local t0 = socket.gettime()
  for _ = 1, n do
    parts = {}
    easy:setopt(curl.OPT_POSTFIELDS, cjson.encode{ inputs = {}, query = "answer=1024",
      response_mode = "blocking", user = "bench" })
    assert(easy:perform() == 0)
    local answer = cjson.decode(table.concat(parts))
    assert(answer.answer)
  end
  print(("rate %.1f"):format(n / (socket.gettime() - t0)))
else
  local events, pending = 0, ""
  easy:setopt(curl.OPT_HTTPHEADER, headers("text/event-stream"))
  easy:setopt(curl.OPT_POSTFIELDS, cjson.encode{ inputs = {}, query = arg3,
    response_mode = "streaming", user = "bench" })
  easy:setopt(curl.OPT_WRITEFUNCTION, function(chunk, size)
    pending = pending .. chunk
    local start = 1
    while true do
      local stop = pending:find("\n\n", start, true)
      if not stop then break end
      local frame = pending:sub(start, stop - 1)
      local data = frame:match("^data: (.*)$")
      if data then
        local ev = cjson.decode(data)
        if ev.event == "message" or ev.event == "message_end" then events = events + 1 end
      end
      start = stop + 2
    end
    pending = pending:sub(start)
    return size
  end)
  local t0 = socket.gettime()
  assert(easy:perform() == 0)
  print(("rate %.1f\nevents %d"):format(events / (socket.gettime() - t0), events))
end
