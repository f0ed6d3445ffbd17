-- Shared by the host-loop specs (step, watch, luv, cqueues): reading a stream
-- inside a task, and counting what the host loop did meanwhile.
local luassert = require("luassert")

local host = {}

--- Plain Lua 5.1 cannot yield from a for loop's iterator or across pcall.
host.plain_51 = _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil

--- The most frames a frame-loop spec runs before it gives up.
host.MAX_FRAMES = 20000
local MAX_FRAMES = host.MAX_FRAMES

--- Runs frames (dify.step(0) each, 1 ms apart) until `done()` holds, telling
-- `on_frame` each frame's number; returns how many ran. Frames are counted, never timed.
function host.frames_until(done, on_frame)
  local dify, core = require("dify"), require("dify.core")
  local frames = 0
  while not done() do
    dify.step(0)
    frames = frames + 1
    if on_frame then on_frame(frames) end
    assert(frames < MAX_FRAMES, "the tasks did not end within " .. MAX_FRAMES .. " frames")
    core.sleep(0.001)
  end
  return frames
end

--- How many different values a list holds.
function host.distinct(list)
  local seen, n = {}, 0
  for _, v in ipairs(list) do
    if not seen[v] then seen[v], n = true, n + 1 end
  end
  return n
end

--- Reads a stream to its end with next() (which yields inside a task);
-- returns the joined `message` answers. `seen(ev)` is told of every event.
function host.read_all(stream, seen)
  local parts = {}
  while true do
    local ev = stream:next()
    if not ev then break end
    if seen then seen(ev) end
    if ev.event == "message" then parts[#parts + 1] = ev.answer end
  end
  return table.concat(parts)
end

--- Checks the three-streams-and-a-chat scenario of a host loop: tasks 1–3
-- streamed "Echo: <query> i", their events' timer ticks in `at[i]`; task 4
-- made a blocking chat that ended at tick `chat_tick`.
function host.assert_interleaved(tasks, at, query, chat_tick)
  for i = 1, 3 do
    luassert.same({ true, "Echo: " .. query .. " " .. i }, { tasks[i]:result() })
    luassert.is_true(#at[i] >= 9)
    -- The timer ticked while the stream was in progress: its events fell in many ticks
    -- (all in one, had the stream blocked the loop).
    luassert.is_true(host.distinct(at[i]) >= #at[i] / 2, ("stream %d: %d ticks"):format(i, host.distinct(at[i])))
    luassert.is_true(at[i][#at[i]] > at[i][1])
    for j = 1, 3 do luassert.is_true(at[i][1] < at[j][#at[j]]) end
    luassert.is_true(chat_tick < at[i][#at[i]])
  end
  luassert.same({ true, "Echo: beside" }, { tasks[4]:result() })
end

return host
