--- All Dify routes, relative to /v1.

local routes = {}

--- Adds every route to `router`.  Order matters where patterns overlap
-- (see dify.mock.router), so each module adds its own routes in order.
function routes.register(router)
  require("dify.mock.chat_routes").register(router)
  require("dify.mock.app_routes").register(router)
  require("dify.mock.human_input").register(router)
  require("dify.mock.workflow_routes").register(router)
  require("dify.mock.pipeline_routes").register(router)
  require("dify.mock.dataset_routes").register(router)
end

return routes
