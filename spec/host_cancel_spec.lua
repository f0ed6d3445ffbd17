-- 1 000 tasks cancelled in flight, under each host loop there is here
-- (dify.step polling, luv, cqueues): open descriptors, the Lua heap and RSS
-- stay flat. Half are cancelled after their first event, half while their
-- request is still going out.
local dify = require("dify")
local support = require("spec.support")

local TASKS, BATCH = 1000, 10

-- This process's open descriptors ($PPID of the shell is this Lua; its pipe counts each time).
local function open_fds()
  local pipe = io.popen("ls /proc/$PPID/fd | wc -l")
  local n = tonumber(pipe:read("*a"))
  pipe:close()
  return n
end

local function rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

local function heap_kb()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

-- Spawns, runs and cancels TASKS stream tasks through `host` (turn(): one
-- turn of its loop; settle(): let it finish closing what was cancelled);
-- returns the samples taken after the first tenth and at the end.
local function churn(client, host)
  local samples = {}
  for batch = 1, TASKS / BATCH do
    local tasks, events = {}, 0
    for i = 1, BATCH do
      tasks[i] = dify.spawn(function()
        local stream = assert(client:chat_stream{ query = "cancelled before its end" })
        while stream:next() do events = events + 1 end
      end)
    end
    if batch % 2 == 0 then
      local turns = 0
      while events < BATCH do
        host.turn()
        turns = turns + 1
        assert(turns < 10000, "no first events")
      end
    else
      host.turn()
    end
    for _, task in ipairs(tasks) do
      assert(task:cancel(), "the task had ended before its cancel")
    end
    host.settle()
    if batch == TASKS / BATCH / 10 or batch == TASKS / BATCH then
      samples[#samples + 1] = { fds = open_fds(), heap = heap_kb(), rss = rss_kb() }
    end
  end
  assert.is_nil(dify.step(0)) -- no task is left
  return samples
end

-- Half the batches waited for every task's first event: those requests all reached the server.
local function assert_sent(srv)
  local n = 0
  for _, r in ipairs(srv.requests()) do
    if r.path:find("/chat%-messages$") then n = n + 1 end
  end
  assert.is_true(n >= TASKS / 2, n .. " requests reached the server")
end

local function assert_flat(samples)
  local first, last = samples[1], samples[2]
  assert.is_true(last.fds - first.fds <= 2, ("descriptors %d -> %d"):format(first.fds, last.fds))
  assert.is_true(last.heap - first.heap < 512, ("Lua heap %.0f KB -> %.0f KB"):format(first.heap, last.heap))
  -- (Under AddressSanitizer or valgrind, both preloaded, RSS says nothing: they check leaks.)
  if not os.getenv("LD_PRELOAD") and not os.getenv("ASAN_OPTIONS") then
    assert.is_true(last.rss - first.rss < 4096, ("RSS %d KB -> %d KB"):format(first.rss, last.rss))
  end
end

describe("1 000 tasks cancelled in flight", function()
  local srv, dripping

  support.serve(function(s)
    srv = s
    dripping = support.faulty(srv, "drip:50")
  end)

  it("under dify.step: descriptors and memory stay flat", function()
    assert_flat(churn(dripping, {
      turn = function() dify.step(0.01) end,
      settle = function() end,
    }))
  end)

  local has_luv, uv = pcall(require, "luv")
  if has_luv then
    it("under luv: descriptors and memory stay flat", function()
      local adapter = require("dify.host.luv").start()
      finally(function() adapter.close() end)
      assert_flat(churn(dripping, {
        turn = function() uv.run("once") end,
        -- Closed poll handles are let go on the loop's next turn.
        settle = function() uv.run("nowait") end,
      }))
      assert_sent(srv)
    end)
  else
    pending("under luv: lua-luv is not installed for " .. _VERSION)
  end

  local has_cqueues, cqueues = pcall(require, "cqueues")
  if has_cqueues then
    it("under cqueues: descriptors and memory stay flat", function()
      local cq = cqueues.new()
      local adapter = require("dify.host.cqueues").start(cq)
      finally(function() adapter.close() end)
      assert_flat(churn(dripping, {
        turn = function() assert(cq:step(0.01)) end,
        settle = function() assert(cq:step(0)) end,
      }))
      assert_sent(srv)
    end)
  else
    pending("under cqueues: lua-cqueues is not installed for " .. _VERSION)
  end
end)
