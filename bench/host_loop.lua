-- lua-dify inside a host's event loop (issue 14), Lua 5.4 + lua-luv:
--   latency BASE N PACE_US HOST   paced events, server flush -> ev in Lua -> p50_ms, p99_ms, cpu_us
-- HOST is how the stream is read:
--   blocking  the plain iterator, no task (the baseline)
--   luv       a dify.spawn task under uv.run() (dify.host.luv: dify.watch, socket-action mode)
--   step      a dify.spawn task in a frame loop: dify.step(0), then a 1 ms sleep, frame after frame
-- cpu_us is the process's CPU time (user + system) per event over the whole stream.
local dify = require("dify")
local core = require("dify.core")
local socket = require("socket")

local mode, base_url, n, pace, how = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5]
assert(mode == "latency", "unknown mode " .. tostring(mode))
local client = dify.new{ base_url = base_url, api_key = "app-bench", user = "bench", timeout = 600 }
local query = ("events=%d size=300 pace_us=%d"):format(n, pace)

local delays = {}
local function read(stream)
  while true do
    local ev = stream:next()
    if not ev then break end
    if ev.event == "message" then delays[#delays + 1] = (socket.gettime() * 1e6 - ev.t) / 1000 end
  end
end

local cpu0 = os.clock()
if how == "blocking" then
  read(assert(client:chat_stream{ query = query }))
elseif how == "luv" then
  local uv = require("luv")
  local adapter = require("dify.host.luv").start()
  local task = dify.spawn(function() read(assert(client:chat_stream{ query = query })) end)
  uv.run()
  assert(task:result())
  adapter.close()
elseif how == "step" then
  local task = dify.spawn(function() read(assert(client:chat_stream{ query = query })) end)
  while not task:done() do
    dify.step(0)
    core.sleep(0.001)
  end
  assert(task:result())
else
  error("unknown host " .. tostring(how))
end
local cpu = os.clock() - cpu0

assert(#delays == n, ("%d of %d events"):format(#delays, n))
table.sort(delays)
local function pct(p) return delays[math.max(1, math.ceil(#delays * p))] end
print(("p50_ms %.3f\np99_ms %.3f\nmax_ms %.3f\ncpu_us %.2f"):format(pct(0.5), pct(0.99), delays[#delays],
  cpu / n * 1e6))
