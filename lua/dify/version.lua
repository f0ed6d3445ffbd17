--- Dify version strings ("1.14.2", "1.13.0-rc1"), compared by their numbers.
-- @module dify.version

local version = {}

-- The numbers of a version string, or nil when it names none.
local function numbers(text)
  local digits = type(text) == "string" and text:match("^v?(%d[%d.]*)")
  if not digits then return nil end
  local list = {}
  for n in digits:gmatch("%d+") do list[#list + 1] = tonumber(n) end
  return list
end

--- Whether version `a` comes before version `b`; nil when either is not a
-- version string.
function version.older(a, b)
  local x, y = numbers(a), numbers(b)
  if not (x and y) then return nil end
  for i = 1, math.max(#x, #y) do
    local p, q = x[i] or 0, y[i] or 0
    if p ~= q then return p < q end
  end
  return false
end

return version
