-- Every route of the console's table is called by some console spec, and
-- described completely: adding a route without a spec fails here.
local console_routes = require("dify.console.routes")
local service_routes = require("dify.routes")
local support = require("spec.support")

describe("the console's route table", function()
  local source = support.spec_sources("spec/console_*_spec.lua spec/openresty/*console*.lua 2>/dev/null",
    "console_routes_spec%.lua$")

  it("has a spec calling every route", function()
    local missing = {}
    for _, route in ipairs(console_routes.list) do
      local name = route.name
      local called = source:find(":" .. name .. "[%({]") or source:find('each%("' .. name .. '"')
      if not called then missing[#missing + 1] = name end
    end
    assert.same({}, missing)
  end)

  it("describes each route completely", function()
    for _, route in ipairs(console_routes.list) do
      assert.matches("^[A-Z]+$", route.method)
      assert.matches("^/", route.path)
      assert.is_true(route.no_auth and route.user == false, route.name)
      for field in route.path:gmatch("{([%w_]+)}") do
        local positional = false
        for _, p in ipairs(route.params) do positional = positional or p == field end
        assert.is_true(positional, route.name .. " path field " .. field)
      end
      if route.stream then
        assert.is_true(type(route.terminal) == "string", route.name)
        assert.is_true(route.stop == nil or console_routes.by_name[route.stop] ~= nil, route.name .. " stop route")
      end
    end
  end)

  it("shares no method name with the Service API client", function()
    -- The Service API's route spec finds its calls by name in every spec:
    -- a console method of the same name would count as one of them.
    for _, route in ipairs(console_routes.list) do
      assert.is_nil(service_routes.by_name[route.name], route.name)
    end
  end)
end)
