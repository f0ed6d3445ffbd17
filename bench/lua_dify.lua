-- lua-dify's side of the bench (Lua 5.4). One mode per figure:
--   blocking BASE N              sequential client:chat calls        -> rate calls/s
--   stream BASE QUERY            one chat_stream, events as tables   -> rate events/s
--   latency BASE N PACE_US       paced events: server flush -> ev    -> p50_ms, p99_ms
--   connections BASE N           TCP connections for N calls         -> connections
--   multiplex BASE K N PACE_US   K paced streams via dify.multiplex  -> single_s, multi_s
--   rss-stream BASE EVENTS SIZE  a long stream, read to the end      (run under time -v)
--   rss-upload BASE PATH         upload_file{path=}                  (run under time -v)
--   rss-audio BASE BYTES PATH    text_to_audio{output=}              (run under time -v)
local dify = require("dify")
local socket = require("socket")
local http_get = require("bench.http_get")

local mode, base_url = arg[1], arg[2]
local client = dify.new{ base_url = base_url, api_key = "app-bench", user = "bench", timeout = 600 }

local function stats()
  local host, port = base_url:match("^http://([^:/]+):(%d+)")
  return tonumber(http_get(host, port, "/__stats"):match('"accepted":(%d+)'))
end

if mode == "blocking" then
  local n = tonumber(arg[3])
  local t0 = socket.gettime()
  for _ = 1, n do
    assert(assert(client:chat{ query = "answer=1024" }).answer)
  end
  print(("rate %.1f"):format(n / (socket.gettime() - t0)))
elseif mode == "connections" then
  local n = tonumber(arg[3])
  local before = stats()
  for _ = 1, n do assert(client:chat{ query = "answer=1024" }) end
  -- The second stats call's own connection is not the client's.
  print(("connections %d"):format(stats() - before - 1))
elseif mode == "stream" then
  local events = 0
  local t0 = socket.gettime()
  for ev in assert(client:chat_stream{ query = arg[3] }) do
    if ev.event == "message" or ev.event == "message_end" then events = events + 1 end
  end
  print(("rate %.1f\nevents %d"):format(events / (socket.gettime() - t0), events))
elseif mode == "latency" then
  local n, pace = tonumber(arg[3]), tonumber(arg[4])
  local delays = {}
  for ev in assert(client:chat_stream{ query = ("events=%d size=300 pace_us=%d"):format(n, pace) }) do
    if ev.event == "message" then delays[#delays + 1] = (socket.gettime() * 1e6 - ev.t) / 1000 end
  end
  table.sort(delays)
  local function pct(p) return delays[math.max(1, math.ceil(#delays * p))] end
  print(("p50_ms %.3f\np99_ms %.3f\nmax_ms %.3f"):format(pct(0.5), pct(0.99), delays[#delays]))
elseif mode == "multiplex" then
  local k, n, pace = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
  local query = ("events=%d size=300 pace_us=%d"):format(n, pace)
  local t0 = socket.gettime()
  for _ in assert(client:chat_stream{ query = query }) do end
  local single = socket.gettime() - t0
  t0 = socket.gettime()
  local streams = {}
  for i = 1, k do streams[i] = assert(client:chat_stream{ query = query }) end
  local ends = 0
  for _, ev, err in dify.multiplex(streams) do
    assert(not err, err)
    if ev.event == "message_end" then ends = ends + 1 end
  end
  assert(ends == k, "every stream ends")
  print(("single_s %.4f\nmulti_s %.4f"):format(single, socket.gettime() - t0))
elseif mode == "rss-stream" then
  local bytes = 0
  for ev in assert(client:chat_stream{ query = ("events=%s size=%s"):format(arg[3], arg[4]) }) do
    bytes = bytes + #(ev.answer or "")
  end
  print(("bytes %d"):format(bytes))
elseif mode == "rss-upload" then
  local file = assert(client:upload_file{ path = arg[3], filename = "big.bin", mime_type = "application/octet-stream" })
  print(("bytes %d"):format(file.size))
elseif mode == "rss-audio" then
  assert(client:text_to_audio{ text = "bytes=" .. arg[3], output = arg[4] })
  local f = assert(io.open(arg[4], "rb"))
  print(("bytes %d"):format(f:seek("end")))
  f:close()
  os.remove(arg[4])
else
  error("unknown mode " .. tostring(mode))
end
