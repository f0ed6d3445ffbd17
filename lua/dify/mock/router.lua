--- Matching request paths against route patterns like
-- "/conversations/:conversation_id/variables/:variable_id".
--
-- Paths are split on "/" *before* percent-decoding, so an encoded slash
-- (%2F) stays inside its segment, as it does on a real server.

local router = {}
router.__index = router

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function split(path)
  local segments = {}
  for segment in path:gmatch("[^/]+") do
    segments[#segments + 1] = segment
  end
  return segments
end

function router.new()
  return setmetatable({ routes = {} }, router)
end

--- Adds a route.  When two patterns can match the same path, the one added
-- first wins, so literal routes (/datasets/tags) go before parameter ones.
-- `options` is kept on the route for the dispatcher (e.g. {user = true}).
function router:add(method, pattern, handler, options)
  self.routes[#self.routes + 1] = {
    method = method,
    pattern = pattern,
    segments = split(pattern),
    handler = handler,
    options = options or {},
  }
end

local function match_segments(pattern_segments, path_segments)
  if #pattern_segments ~= #path_segments then
    return nil
  end
  local params = {}
  for i, expected in ipairs(pattern_segments) do
    local actual = path_segments[i]
    local name = expected:match("^:(.+)$")
    if name then
      params[name] = percent_decode(actual)
    elseif expected ~= actual then
      return nil
    end
  end
  return params
end

--- Finds the route for a method and raw path.  Returns route, params; or
-- nil, true when the path exists but not for this method; or nil, false.
function router:match(method, raw_path)
  local segments = split(raw_path)
  local path_known = false
  for _, route in ipairs(self.routes) do
    local params = match_segments(route.segments, segments)
    if params then
      if route.method == method then
        return route, params
      end
      path_known = true
    end
  end
  return nil, path_known
end

return router
