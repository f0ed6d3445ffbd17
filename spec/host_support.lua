-- Shared by the host-loop specs (step, watch, luv, cqueues): reading a stream
-- inside a task, and counting what the host loop did meanwhile.
local host = {}

--- Plain Lua 5.1 cannot yield from a for loop's iterator or across pcall.
host.plain_51 = _VERSION == "Lua 5.1" and rawget(_G, "jit") == nil

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

return host
