-- Every route in the route table is called by some spec: adding a route
-- without a spec fails here.
local routes = require("dify.routes")
local support = require("spec.support")

describe("the route table", function()
  local source = support.spec_sources("spec/*_spec.lua", "routes_spec%.lua$")

  it("has a spec calling every route", function()
    local missing = {}
    for _, route in ipairs(routes.list) do
      local name = route.name
      local called = source:find(":" .. name .. "[%({]")
        or source:find("[%.:]" .. name .. ",")
        or source:find('each%("' .. name .. '"')
      if not called then missing[#missing + 1] = name end
    end
    assert.same({}, missing)
  end)

  it("describes each route completely", function()
    local names = {}
    for _, route in ipairs(routes.list) do
      assert.is_nil(names[route.name], route.name)
      names[route.name] = true
      assert.matches("^[A-Z]+$", route.method)
      assert.matches("^/", route.path)
      for field in route.path:gmatch("{([%w_]+)}") do
        local positional = false
        for _, p in ipairs(route.params) do positional = positional or p == field end
        assert.is_true(positional or field == "workflow_id", route.name .. " path field " .. field)
      end
      if route.stream then
        -- false: a stream whose every clean end is its end (no terminal event)
        assert.is_true(type(route.terminal) == "string" or route.terminal == false, route.name)
        -- Knowledge pipeline runs have no stop route in the Service API.
        assert.is_true(route.stop == nil or routes.by_name[route.stop] ~= nil, route.name .. " stop route")
      end
    end
  end)
end)
