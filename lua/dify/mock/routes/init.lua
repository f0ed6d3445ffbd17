--- All Dify routes, relative to /v1.

local routes = {}

--- Adds every route to `router`.  Order matters where patterns overlap
-- (see dify.mock.router), so each module adds its own routes in order.
function routes.register(router)
  require("dify.mock.routes.chat").register(router)
  require("dify.mock.routes.app").register(router)
  require("dify.mock.routes.workflow").register(router)
  require("dify.mock.routes.datasets").register(router)
end

return routes
