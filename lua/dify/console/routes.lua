--- Every console API call of `dify.console`, as data: one line a route, under
-- `{host}/console/api`. The fields are those of `dify.routes`, plus:
--  * `dates`: fields given as a date string ("YYYY-MM-DD[ HH:MM[:SS]]") or an
--    `os.time()` number, sent as Dify's "YYYY-MM-DD HH:MM".
-- Every route is sent with the console's session (never an API key) and
-- takes no end user.
-- @module dify.console.routes
local prepare = require("dify.routes").prepare

local routes = {
  -- The account that is logged in.
  { name = "profile", method = "GET", path = "/account/profile" },
  -- Used by console:logout(), which also forgets the session.
  { name = "logout", method = "POST", path = "/logout" },

  -- Apps
  -- mode: chat, agent-chat, completion, advanced-chat, workflow (newer: agent, channel), all
  { name = "apps", method = "GET", path = "/apps", paging = "page" },
  { name = "app", method = "GET", path = "/apps/{app_id}", params = { "app_id" } },
}

local by_name = {}
for _, route in ipairs(routes) do
  assert(not by_name[route.name], "duplicate console route " .. route.name)
  route.no_auth = true -- the console adds its session's lines itself
  route.user = false
  by_name[route.name] = prepare(route)
end

return { list = routes, by_name = by_name }
