--- Matching request paths against route patterns like
-- "/conversations/:conversation_id:uuid/variables/:variable_id:uuid".
--
-- A parameter segment is `:name` (any text, Flask's `<string:name>`) or
-- `:name:uuid` (Flask's `<uuid:name>`). A path whose uuid segment is not a
-- UUID matches no route, so it gets the HTML 404 page as on a real server,
-- before the view (and its auth) is ever reached.
--
-- Paths are split on "/" *before* percent-decoding, so an encoded slash
-- (%2F) stays inside its segment, as it does on a real server.

local router = {}
router.__index = router

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

--- Whether `s` is a UUID in the form werkzeug's uuid converter accepts.
function router.is_uuid(s)
  return type(s) == "string" and s:find(UUID) ~= nil
end

local CONVERTERS = {
  string = function() return true end,
  uuid = router.is_uuid,
}

-- Splits a path into segments; an empty segment (a doubled or trailing
-- slash) makes the path match nothing, as Flask's strict slashes do.
local function split(path)
  local segments = {}
  for segment in (path:sub(2) .. "/"):gmatch("([^/]*)/") do
    segments[#segments + 1] = segment
  end
  return segments
end

-- A pattern segment: {literal = "x"} or {name = "id", accepts = converter}.
local function compile_segment(text)
  local name, kind = text:match("^:([%w_]+):?(%a*)$")
  if not name then
    return { literal = text }
  end
  local accepts = CONVERTERS[kind ~= "" and kind or "string"]
  assert(accepts, "unknown path converter " .. kind)
  return { name = name, accepts = accepts }
end

function router.new()
  return setmetatable({ routes = {} }, router)
end

--- Adds a route.  When two patterns can match the same path, the one added
-- first wins, so literal routes (/datasets/tags) go before parameter ones.
-- `options` is kept on the route for the dispatcher (e.g. {user = true}).
function router:add(method, pattern, handler, options)
  local segments = {}
  for i, text in ipairs(split(pattern)) do
    segments[i] = compile_segment(text)
  end
  self.routes[#self.routes + 1] = {
    method = method,
    pattern = pattern,
    segments = segments,
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
    if actual == "" then
      return nil
    elseif expected.name then
      local value = percent_decode(actual)
      if not expected.accepts(value) then
        return nil
      end
      params[expected.name] = value
    elseif expected.literal ~= actual then
      return nil
    end
  end
  return params
end

--- Finds the route for a method and raw path.  Returns route, params; or
-- nil, true when the path exists but not for this method; or nil, false.
-- With `serves(route)`, the routes it refuses do not exist (an older server's).
function router:match(method, raw_path, serves)
  local segments = split(raw_path)
  local path_known = false
  for _, route in ipairs(self.routes) do
    local params = (not serves or serves(route)) and match_segments(route.segments, segments)
    if params then
      if route.method == method or (method == "HEAD" and route.method == "GET") then
        return route, params
      end
      path_known = true
    end
  end
  return nil, path_known
end

return router
