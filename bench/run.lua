-- `make bench`: every figure of issue 6 measured side by side in one run,
-- against one local server, medians of several runs, as ratios to the baselines.
--
--   lua5.4 bench/run.lua [--smoke] [--runs N] [--out PATH] [--chart PATH]
--
-- --smoke: tiny sizes and one run (CI), written under build/bench/.
-- Each contestant prints "key value" lines; this script runs them in turn
-- (round-robin, so load from elsewhere spreads over all of them).
local socket = require("socket")
local http_get = require("bench.http_get")

local opts = { runs = 9, out = "bench/RESULTS.md", chart = "bench/throughput.png" }
do
  local i = 1
  while arg[i] do
    local a = arg[i]
    if a == "--smoke" then
      opts.smoke, opts.runs = true, 1
      opts.out, opts.chart = "build/bench/RESULTS.md", "build/bench/throughput.png"
    elseif a == "--runs" then
      i = i + 1
      opts.runs = tonumber(arg[i])
    elseif a == "--out" then
      i = i + 1
      opts.out = arg[i]
    elseif a == "--chart" then
      i = i + 1
      opts.chart = arg[i]
    else
      error("bench/run.lua: unknown argument " .. a)
    end
    i = i + 1
  end
end

local BIN = "build/bench"
local S = opts.smoke and {
  calls = 200, events = 2000, event_size = 300, sse_mib = 8, latency_events = 50, pace_us = 2000, host_events = 50,
  connections = 50, mux_streams = 10, mux_events = 5, mux_pace_us = 20000,
  rss_stream_events = 64, rss_event_size = 16384, rss_upload = 2 ^ 20, rss_audio = 2 ^ 20,
} or {
  calls = 20000, events = 100000, event_size = 300, sse_mib = 256, latency_events = 1000, pace_us = 2000,
  host_events = 500,
  connections = 1000, mux_streams = 100, mux_events = 20, mux_pace_us = 50000,
  rss_stream_events = 65536, rss_event_size = 16384, rss_upload = 2 ^ 30, rss_audio = 2 ^ 28,
}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function capture(cmd)
  local pipe = assert(io.popen(cmd .. " 2>&1"))
  local text = pipe:read("a")
  local ok, _, code = pipe:close()
  return text, ok, code
end

-- Runs a contestant; returns its "key value" lines as a table (numbers).
local function run(cmd)
  local text, ok = capture(cmd)
  if not ok then error("bench: failed: " .. cmd .. "\n" .. text) end
  local out = {}
  for key, value in text:gmatch("(%S+) (%-?[%d%.]+)\n") do out[key] = tonumber(value) end
  return out, text
end

local function median(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy)
  local n = #copy
  if n == 0 then return nil end
  if n % 2 == 1 then return copy[(n + 1) // 2] end
  return (copy[n // 2] + copy[n // 2 + 1]) / 2
end

---------------------------------------------------------------------------
-- The server
local server_pipe = assert(io.popen("echo $$; exec " .. BIN .. "/bench-server", "r"))
local server_pid = tonumber(server_pipe:read("l"))
local port = tonumber((server_pipe:read("l") or ""):match("^port (%d+)$"))
assert(server_pid and port, "bench-server did not start")
local BASE = ("http://127.0.0.1:%d/v1"):format(port)

local function stop_server()
  if server_pid then
    os.execute("kill " .. server_pid .. " 2>/dev/null")
    server_pipe:close()
    server_pid = nil
  end
end

local function server_stats()
  local body = http_get("127.0.0.1", port, "/__stats")
  return {
    requests = tonumber(body:match('"requests":(%d+)')),
    cpu_s = tonumber(body:match('"cpu_s":([%d%.]+)')),
  }
end

local LUA_ENV = "env LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/lua5.4/?.so;;' "
local DIFY = LUA_ENV .. "lua5.4 bench/lua_dify.lua "
local LUACURL = "lua5.2 bench/lua_curl.lua "
local NODE = "node bench/node_sdk.mjs "
local LIMIT = BIN .. "/bench-limit "
local HOST = LUA_ENV .. "lua5.4 bench/host_loop.lua latency "
local stream_query = ("events=%d size=%d"):format(S.events, S.event_size)

local samples = {}
local function record(name, value)
  samples[name] = samples[name] or {}
  table.insert(samples[name], value)
end

local ok, failure = pcall(function()
  for r = 1, opts.runs do
    io.stderr:write(("bench: run %d/%d\n"):format(r, opts.runs))
    -- Every other run takes the contestants in reverse order, so that a drift
    -- in the machine's speed favours none of them.
    local function in_turn(steps)
      local first, last, step = 1, #steps, 1
      if r % 2 == 0 then first, last, step = last, first, -1 end
      for i = first, last, step do steps[i]() end
    end

    -- Sequential blocking calls, and the server's own CPU per call during the limit's run.
    in_turn{
      function()
        local before = server_stats()
        local t0 = socket.gettime()
        record("blocking.limit", run(LIMIT .. "blocking " .. BASE .. " " .. S.calls).rate)
        local wall = socket.gettime() - t0
        local after = server_stats()
        local served = after.requests - before.requests - 1
        record("server.capacity", served / math.max(after.cpu_s - before.cpu_s, 1e-6))
        record("server.busy", (after.cpu_s - before.cpu_s) / wall)
      end,
      function() record("blocking.dify", run(DIFY .. "blocking " .. BASE .. " " .. S.calls).rate) end,
      function() record("blocking.luacurl", run(LUACURL .. "blocking " .. BASE .. " " .. S.calls).rate) end,
      function()
        record("blocking.node", run(NODE .. "blocking " .. BASE .. " " .. math.max(S.calls // 10, 100)).rate)
      end,
    }

    -- Streamed message events delivered as decoded tables.
    local q = sh_quote(stream_query)
    in_turn{
      function() record("stream.limit", run(LIMIT .. "stream " .. BASE .. " " .. q).rate) end,
      function() record("stream.dify", run(DIFY .. "stream " .. BASE .. " " .. q).rate) end,
      function() record("stream.luacurl", run(LUACURL .. "stream " .. BASE .. " " .. q).rate) end,
      function() record("stream.node", run(NODE .. "stream " .. BASE .. " " .. q).rate) end,
      function()
        record("stream.ceiling", run(LUA_ENV .. "lua5.4 bench/json_ceiling.lua " .. BASE .. " " ..
          S.event_size .. " " .. S.events).rate)
      end,
    }

    -- The SSE parser alone.
    local sse = run(BIN .. "/bench-sse " .. S.sse_mib)
    record("sse.parser", sse.parser_gbps)
    record("sse.memchr", sse.memchr_gbps)

    -- Delivery latency of paced events.
    local lat = run(DIFY .. "latency " .. BASE .. " " .. S.latency_events .. " " .. S.pace_us)
    record("latency.p50", lat.p50_ms)
    record("latency.p99", lat.p99_ms)

    -- The same paced events read in a task inside a host's loop (issue 14): under luv
    -- (dify.watch) and in dify.step(0) frames, beside the blocking iterator, one after another.
    local host_args = BASE .. " " .. S.host_events .. " " .. S.pace_us .. " "
    local hosts = {}
    for _, how in ipairs{ "blocking", "luv", "step" } do
      hosts[#hosts + 1] = function()
        local h = run(HOST .. host_args .. how)
        record("host." .. how .. ".p50", h.p50_ms)
        record("host." .. how .. ".p99", h.p99_ms)
        record("host." .. how .. ".cpu", h.cpu_us)
      end
    end
    in_turn(hosts)

    -- Connections for sequential calls on one client.
    record("connections", run(DIFY .. "connections " .. BASE .. " " .. S.connections).connections)

    -- Concurrent paced streams through dify.multiplex.
    local mux = run(DIFY .. "multiplex " .. BASE .. " " .. S.mux_streams .. " " .. S.mux_events ..
      " " .. S.mux_pace_us)
    record("mux.single", mux.single_s)
    record("mux.multi", mux.multi_s)
  end

  -- Peak RSS, once each (it does not vary with load): the long runs, and a tiny one for scale.
  local function peak_rss_mb(cmd)
    local text, done = capture("/usr/bin/time -v " .. cmd)
    if not done then error("bench: failed: " .. cmd .. "\n" .. text) end
    return tonumber(text:match("Maximum resident set size %(kbytes%): (%d+)")) / 1024
  end
  os.execute("mkdir -p " .. BIN)
  local upload_path = BIN .. "/upload.bin"
  os.execute(("truncate -s %d %s"):format(S.rss_upload, upload_path))
  samples["rss.small"] = { peak_rss_mb(DIFY .. "rss-stream " .. BASE .. " 1 300") }
  samples["rss.stream"] = { peak_rss_mb(DIFY .. "rss-stream " .. BASE .. " " .. S.rss_stream_events ..
    " " .. S.rss_event_size) }
  samples["rss.upload"] = { peak_rss_mb(DIFY .. "rss-upload " .. BASE .. " " .. upload_path) }
  samples["rss.audio"] = { peak_rss_mb(DIFY .. "rss-audio " .. BASE .. " " .. S.rss_audio .. " " ..
    BIN .. "/audio.mp3") }
  os.remove(upload_path)
end)
stop_server()
if not ok then
  io.stderr:write(tostring(failure), "\n")
  os.exit(1)
end

---------------------------------------------------------------------------
-- The table
local m = {}
for name, list in pairs(samples) do m[name] = median(list) end
local function spread(name)
  local list = samples[name]
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(list) do lo, hi = math.min(lo, v), math.max(hi, v) end
  return lo, hi
end

local rows, chart = {}, {}
local function row(figure, measured, ratio_text, target, met)
  if type(met) == "boolean" then met = met and "met" or "NOT met" end
  rows[#rows + 1] = { figure, measured, ratio_text, target, met or "—" }
end
-- A throughput ratio: the median of the runs' own ratios, each taken between
-- contestants that ran next to each other, so that the load of the moment
-- falls on both; and the lowest and highest of them.
local function run_ratios(a, b)
  local ratios = {}
  for i, v in ipairs(samples[a]) do ratios[i] = v / samples[b][i] end
  local lo, hi = math.huge, -math.huge
  for _, r in ipairs(ratios) do lo, hi = math.min(lo, r), math.max(hi, r) end
  return median(ratios), lo, hi
end
local function ratio(a, b)
  if #samples[a] == #samples[b] then return (run_ratios(a, b)) end
  return m[a] / m[b]
end
local function ratio_range(a, b)
  if opts.runs < 2 then return "" end
  local _, lo, hi = run_ratios(a, b)
  return (" (runs %.2f–%.2f)"):format(lo, hi)
end
local function fmt_rate(v) return ("%.0f"):format(v) end
local function add_chart(label, value, target) chart[#chart + 1] = { label, value, target } end

local b_limit, b_node, b_lc = ratio("blocking.dify", "blocking.limit"), ratio("blocking.dify", "blocking.node"),
  ratio("blocking.dify", "blocking.luacurl")
row("sequential blocking calls/s, 1 KB JSON, keep-alive",
  ("lua-dify %s; limit %s; Node SDK %s; lua-curl %s"):format(fmt_rate(m["blocking.dify"]),
    fmt_rate(m["blocking.limit"]), fmt_rate(m["blocking.node"]), fmt_rate(m["blocking.luacurl"])),
  ("%.2f× limit%s; %.1f× Node SDK; %.2f× lua-curl%s"):format(b_limit,
    ratio_range("blocking.dify", "blocking.limit"), b_node, b_lc, ratio_range("blocking.dify", "blocking.luacurl")),
  "≥ 0.9× limit; ≥ 4× Node; ≥ 1.0× lua-curl", ("limit %s; Node %s; lua-curl %s"):format(
    b_limit >= 0.9 and "met" or "NOT met", b_node >= 4 and "met" or "NOT met", b_lc >= 1.0 and "met" or "NOT met"))
add_chart("calls vs limit", b_limit, 0.9)
add_chart("calls vs Node", b_node, 4)
add_chart("calls vs lua-curl", b_lc, 1.0)

local s_ceil, s_node, s_lc, s_limit = ratio("stream.dify", "stream.ceiling"), ratio("stream.dify", "stream.node"),
  ratio("stream.dify", "stream.luacurl"), ratio("stream.dify", "stream.limit")
row(("%d streamed message events as tables, events/s"):format(S.events),
  ("lua-dify %s; JSON ceiling %s; Node SDK %s; lua-curl %s; limit %s"):format(fmt_rate(m["stream.dify"]),
    fmt_rate(m["stream.ceiling"]), fmt_rate(m["stream.node"]), fmt_rate(m["stream.luacurl"]),
    fmt_rate(m["stream.limit"])),
  ("%.2f× JSON ceiling%s; %.2f× Node SDK; %.2f× lua-curl; %.3f× limit"):format(s_ceil,
    ratio_range("stream.dify", "stream.ceiling"), s_node, s_lc, s_limit),
  "≥ 0.7× ceiling; ≥ 1.5× Node; ≥ 2× lua-curl", ("ceiling %s; Node %s; lua-curl %s"):format(
    s_ceil >= 0.7 and "met" or "NOT met", s_node >= 1.5 and "met" or "NOT met", s_lc >= 2 and "met" or "NOT met"))
add_chart("events vs JSON ceiling", s_ceil, 0.7)
add_chart("events vs Node", s_node, 1.5)
add_chart("events vs lua-curl", s_lc, 2)

local sse_ratio = ratio("sse.parser", "sse.memchr")
row("SSE parser alone, 200-byte events, GB/s",
  ("parser %.2f GB/s; memchr scan %.2f GB/s"):format(m["sse.parser"], m["sse.memchr"]),
  ("%.2f× memchr"):format(sse_ratio), "≥ 1 GB/s", m["sse.parser"] >= 1)
add_chart("SSE parser vs memchr", sse_ratio, nil)

row(("delivery latency, server flush → ev in Lua, %d events %d µs apart"):format(S.latency_events, S.pace_us),
  ("p50 %.3f ms; p99 %.3f ms (runs' p99 %.3f–%.3f)"):format(m["latency.p50"], m["latency.p99"],
    spread("latency.p99")), "", "p99 < 2 ms", m["latency.p99"] < 2)

local luv_p99, step_p99 = ratio("host.luv.p99", "host.blocking.p99"), ratio("host.step.p99", "host.blocking.p99")
row(("host-loop latency, server flush → ev in a task, %d events %d µs apart"):format(S.host_events, S.pace_us),
  ("luv (dify.watch) p50 %.3f ms, p99 %.3f ms; dify.step(0) frames 1 ms apart p50 %.3f, p99 %.3f;"
    .. " blocking iterator p50 %.3f, p99 %.3f"):format(m["host.luv.p50"], m["host.luv.p99"],
    m["host.step.p50"], m["host.step.p99"], m["host.blocking.p50"], m["host.blocking.p99"]),
  ("p99: luv %.2f× blocking%s; frames %.2f× blocking"):format(luv_p99, ratio_range("host.luv.p99",
    "host.blocking.p99"), step_p99),
  "luv p99 < 2 ms", m["host.luv.p99"] < 2)

local luv_cpu, step_cpu = ratio("host.luv.cpu", "host.blocking.cpu"), ratio("host.step.cpu", "host.blocking.cpu")
row(("CPU per paced event (user + system), the same %d events"):format(S.host_events),
  ("luv (dify.watch) %.1f µs; dify.step(0) frames %.1f µs (the idle frames' own included);"
    .. " blocking iterator %.1f µs"):format(m["host.luv.cpu"], m["host.step.cpu"], m["host.blocking.cpu"]),
  ("luv %.2f× blocking%s; frames %.2f× blocking"):format(luv_cpu, ratio_range("host.luv.cpu", "host.blocking.cpu"),
    step_cpu),
  "", nil)

for _, item in ipairs{
  { "rss.stream", ("%.0f MiB stream (%d events of %d B)"):format(S.rss_stream_events * S.rss_event_size / 2 ^ 20,
    S.rss_stream_events, S.rss_event_size) },
  { "rss.upload", ("%.0f MiB upload from a path"):format(S.rss_upload / 2 ^ 20) },
  { "rss.audio", ("%.0f MiB audio to a path"):format(S.rss_audio / 2 ^ 20) },
} do
  row("peak RSS: " .. item[2], ("%.1f MB (a 1-event stream: %.1f MB)"):format(m[item[1]], m["rss.small"]),
    "", "< 32 MB", m[item[1]] < 32)
end

row(("TCP connections for %d sequential calls on one client"):format(S.connections),
  ("%d"):format(m["connections"]), "", "1", m["connections"] == 1)

local mux_ratio = ratio("mux.multi", "mux.single")
row(("%d concurrent paced streams via dify.multiplex (%d events, %d ms apart)"):format(S.mux_streams,
  S.mux_events, S.mux_pace_us // 1000),
  ("all %.3f s; one alone %.3f s"):format(m["mux.multi"], m["mux.single"]),
  ("%.2f× the single stream"):format(mux_ratio), "≤ 1.5×", mux_ratio <= 1.5)

---------------------------------------------------------------------------
-- Output: the terminal, RESULTS.md, the chart
local function capture_line(cmd)
  return (capture(cmd):gsub("%s+$", ""))
end
local cpu = capture_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"):gsub("^%s+", "")
local lines = {
  "# Benchmark results",
  "",
  ("- date: %s"):format(os.date("!%Y-%m-%d %H:%M UTC")),
  ("- command: `make bench`%s (%d runs each, medians; a ratio is the median of the runs' own ratios)")
    :format(opts.smoke and " (smoke: tiny sizes)" or "",
    opts.runs),
  ("- machine: %s, %s cores, %s; load average at the end %s"):format(cpu, capture_line("nproc"),
    capture_line("uname -sr"), capture_line("cut -d' ' -f1-3 /proc/loadavg")),
  ("- software: %s; %s + lua-cjson (+ lua-luv for the host-loop rows); lua5.2 + Debian lua-curl;"
    .. " node %s + dify-client %s"):format(
    capture_line("curl-config --version 2>/dev/null || echo libcurl"), capture_line("lua5.4 -v"):match("Lua [%d.]+"),
    capture_line("node --version"),
    capture_line("node -p \"require('./bench/node_modules/dify-client/package.json').version\"")),
  ("- server: bench/server.c (one epoll thread) on 127.0.0.1; its own CPU allows %.0f calls/s"
    .. " (median), and it was busy %.0f%% of the limit's run: it is not the bottleneck"):format(
    m["server.capacity"], m["server.busy"] * 100),
  "",
  "| figure | measured | ratio | target | |",
  "|---|---|---|---|---|",
}
for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. table.concat(r, " | ") .. " |" end
lines[#lines + 1] = ""
lines[#lines + 1] = ("![throughput ratios](%s)"):format(opts.chart:match("[^/]+$"))
local text = table.concat(lines, "\n") .. "\n"
io.write(text)

os.execute("mkdir -p " .. sh_quote(opts.out:match("^(.*)/") or "."))
local notes_path = "bench/NOTES.md"
local notes = io.open(notes_path, "r")
local f = assert(io.open(opts.out, "w"))
f:write(text)
if notes and not opts.smoke then
  f:write("\n", notes:read("a"))
end
if notes then notes:close() end
f:close()

-- Chart: each ratio beside its target.
local data_path = BIN .. "/chart.dat"
local d = assert(io.open(data_path, "w"))
for _, c in ipairs(chart) do
  d:write(('"%s" %.4f %s\n'):format(c[1], c[2], c[3] and ("%.2f"):format(c[3]) or "NaN"))
end
d:close()
local gp = assert(io.open(BIN .. "/chart.gp", "w"))
gp:write(([[
set terminal pngcairo size 1000,520 font "sans,11"
set output '%s'
set title "lua-dify throughput as a ratio to each baseline (log scale; bar above its grey target = met)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "ratio (×)"
set logscale y
set yrange [0.1:100]
set grid ytics
set xtics rotate by -25 nomirror
set key top right
plot '%s' using 2:xtic(1) title "lua-dify (measured)" lc rgb "#2b7bba", \
     '' using 3 title "target" lc rgb "#bbbbbb", \
     '' using ($0-0.15):($2*1.25):(sprintf("%%.2f", $2)) with labels notitle
]]):format(opts.chart, data_path))
gp:close()
local out, plotted = capture("gnuplot " .. BIN .. "/chart.gp")
if not plotted then io.stderr:write("bench: gnuplot failed: ", out, "\n") os.exit(1) end
io.stderr:write(("bench: wrote %s and %s\n"):format(opts.out, opts.chart))
