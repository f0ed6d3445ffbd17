-- The soak (#soak, run by `make soak`, skipped by the ordinary suite): many
-- streams left early, by `break` and by an error, on one client. Open file
-- descriptors and resident memory are sampled as it goes and must stay flat:
-- a leaked connection, handle or buffer per stream would show within a few
-- thousand streams.
--
--   DIFY_SOAK_STREAMS=n   streams of each kind (default 10000)
local support = require("spec.support")

local STREAMS = tonumber(os.getenv("DIFY_SOAK_STREAMS")) or 10000
local SAMPLES = 10
-- Allowances for what a healthy process still does: libcurl may keep one
-- connection cached, and the allocator settles during the first stretch.
local FD_SLACK = 4
local RSS_SLACK_KB = 4096

local function pid()
  local stat = assert(io.open("/proc/self/stat"))
  local line = stat:read("l")
  stat:close()
  return line:match("^(%d+)")
end

local function open_fds(self_pid)
  -- ls runs in a child: the pipe it writes to is ours, the same at every sample.
  local ls = assert(io.popen("ls /proc/" .. self_pid .. "/fd | wc -l"))
  local n = tonumber(ls:read("l"))
  ls:close()
  return n
end

local function rss_kb()
  local status = assert(io.open("/proc/self/status"))
  local text = status:read("a")
  status:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end

describe("soak #soak", function()
  local srv, client, faulty
  local self_pid = pid()
  local FAULTS = { "error_event", "close_mid", "bad_json" }

  setup(function()
    srv = support.start()
    client = support.client(srv)
    faulty = {}
    for i, fault in ipairs(FAULTS) do faulty[i] = support.faulty(srv, fault) end
  end)

  teardown(function()
    client:close()
    for _, c in ipairs(faulty) do c:close() end
    srv.stop()
  end)

  -- Runs one_stream(i) n times; returns the samples {done, fds, rss_kb, lua_kb}.
  local function sampled(n, one_stream)
    local samples = {}
    local function sample(done)
      collectgarbage("collect")
      samples[#samples + 1] = { done = done, fds = open_fds(self_pid), rss = rss_kb(),
        lua_kb = math.floor(collectgarbage("count")) }
    end
    sample(0)
    local every = math.max(1, math.floor(n / SAMPLES))
    for i = 1, n do
      one_stream(i)
      if i % every == 0 or i == n then sample(i) end
    end
    return samples
  end

  local function report(name, samples)
    local first, settled, last = samples[1], samples[math.min(2, #samples)], samples[#samples]
    io.stderr:write(("soak %s: %d streams; fds %d -> %d; RSS %d kB -> %d kB (%d kB after the first %d); " ..
      "Lua heap %d kB -> %d kB\n"):format(name, last.done, first.fds, last.fds, first.rss, last.rss,
      settled.rss, settled.done, first.lua_kb, last.lua_kb))
    assert.is_true(last.fds <= first.fds + FD_SLACK, "file descriptors grew: " .. first.fds .. " -> " .. last.fds)
    assert.is_true(last.rss <= settled.rss + RSS_SLACK_KB,
      "resident memory grew: " .. settled.rss .. " kB -> " .. last.rss .. " kB")
    assert.is_true(last.lua_kb <= settled.lua_kb + 256, "the Lua heap grew")
  end

  it("leaves flat fds and memory after streams left by break", function()
    local samples = sampled(STREAMS, function(i)
      local stream = assert(client:chat_stream{ query = "soak " .. i })
      for ev in stream.next, stream, nil, stream do -- luacheck: ignore 512 (leaving at once is the point)
        assert.equal("message", ev.event)
        break
      end
      assert.is_false(stream._core:is_open())
    end)
    report("break", samples)
  end)

  it("leaves flat fds and memory after streams left by an error", function()
    local kinds = {}
    local samples = sampled(STREAMS, function(i)
      local stream = assert(faulty[i % #faulty + 1]:chat_stream{ query = "soak " .. i })
      local ok, err = pcall(function()
        for _ in stream.next, stream, nil, stream do end
      end)
      assert.is_false(ok)
      kinds[err.kind] = true
      assert.is_false(stream._core:is_open())
    end)
    assert.same({ api = true, network = true, decode = true }, kinds)
    report("error", samples)
  end)
end)
