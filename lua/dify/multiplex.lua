--- Many streams in one Lua state, read together.
--
--     for stream, ev, err in dify.multiplex{ s1, s2, s3 } do
--       if err then print("failed:", err) else io.write(ev.answer or "") end
--     end
--
-- Every libcurl stream of a Lua state runs on one multi handle (the core's
-- driver), so the streams already progress together; multiplex waits until
-- any of them has an event and hands that stream to `Stream` for decoding.
-- @module dify.multiplex
local all = require("dify.all")
local errors = require("dify.errors")
local Stream = require("dify.stream")

local function check(streams)
  if type(streams) ~= "table" then error("dify.multiplex: expected a list of streams", 3) end
  local live, cores = {}, {}
  for i, stream in ipairs(streams) do
    if getmetatable(stream) ~= Stream then
      error(("dify.multiplex: item #%d is not a stream"):format(i), 3)
    end
    if type(stream._core) ~= "userdata" then
      error(("dify.multiplex: stream #%d does not run on libcurl; only libcurl streams can be multiplexed")
        :format(i), 3)
    end
    live[i], cores[i] = stream, stream._core
  end
  return live, cores
end

--- Iterates `stream, ev` as events arrive from whichever stream is ready.
-- A stream that ends leaves the set; one that fails leaves it too, yielded
-- once as `stream, nil, err`. The others go on. In Lua 5.4 leaving the loop
-- early closes the streams still open.
-- @tparam {dify.stream,...} streams what `*_stream` calls returned
-- @return iterator, nil, nil, closing value
local function multiplex(streams)
  local live, cores = check(streams)
  local first = 1

  local function leave(i)
    table.remove(live, i)
    table.remove(cores, i)
    first = i
  end

  local function next_event()
    while #live > 0 do
      -- Inside a task (dify.spawn, dify.all) the task pauses instead.
      local i = all.wait_any(cores, first)
      local stream = live[i]
      local ok, ev = pcall(stream._poll, stream)
      if not ok then
        leave(i)
        if not errors.is(ev) then error(ev, 0) end
        return stream, nil, ev
      end
      if ev == nil then
        leave(i)
      elseif ev then
        -- The next search starts after this stream, so a busy one cannot starve the rest.
        first = i % #live + 1
        return stream, ev
      end
      -- false: only keep-alive frames were ready.
    end
    return nil
  end

  local closer = setmetatable({}, {
    __close = function()
      for _, stream in ipairs(live) do stream:close() end
    end,
  })
  return next_event, nil, nil, closer
end

return multiplex
