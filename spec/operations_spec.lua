-- The route table (lua/dify/routes.lua) against the operation list of Dify's
-- OpenAPI document (spec/data/operations.lua, made by scripts/gen-operations
-- from ../shared/dify-openapi.json). Routes and operations are matched by
-- method and path, with parameter names left out (`{x}` -> `{}`): every
-- operation needs a route, and every route path (and `path_when` alternative)
-- an operation, unless it is one of the exceptions listed below.
local routes = require("dify.routes")

local this_file = debug.getinfo(1, "S").source:match("^@(.*)$") or "spec/operations_spec.lua"
local root_dir = this_file:match("^(.*)/spec/[^/]*$") or "."

local operations = dofile(root_dir .. "/spec/data/operations.lua")

-- Paths the route table has on purpose though the OpenAPI has no such
-- operation. Each entry names the route and the field that holds the path.
local LEGACY = {
  -- Older servers' underscore spellings, tried after a 404 (Dify keeps them as deprecated aliases).
  { route = "create_document_by_text", field = "legacy_path", reason = "underscore alias of create-by-text" },
  { route = "create_document_by_file", field = "legacy_path", reason = "underscore alias of create-by-file" },
  { route = "update_document_by_text", field = "legacy_path", reason = "underscore alias of update-by-text" },
  { route = "update_document_by_file", field = "legacy_path", reason = "underscore alias of update-by-file" },
}
local NOT_IN_SPEC = {
  { route = "probe", field = "path", reason = "GET on the API index /: served without a key, not in the spec" },
}

local function normalise(method, path)
  return method .. " " .. path:gsub("{[^}]*}", "{}")
end

-- Every (method, path) a route sends, with where it comes from.
local function route_paths()
  local list = {}
  for _, route in ipairs(routes.list) do
    list[#list + 1] = { route = route.name, field = "path", method = route.method, path = route.path }
    for name, alt in pairs(route.path_when or {}) do
      list[#list + 1] = { route = route.name, field = "path_when." .. name, method = route.method, path = alt }
    end
    if route.legacy_path then
      list[#list + 1] = { route = route.name, field = "legacy_path", method = route.method, path = route.legacy_path }
    end
  end
  return list
end

local function exception_key(e)
  return e.route .. " " .. e.field
end

local exceptions = {}
for _, list in ipairs{ LEGACY, NOT_IN_SPEC } do
  for _, e in ipairs(list) do exceptions[exception_key(e)] = e end
end

describe("the route table against the OpenAPI operations", function()
  local by_key = {}
  for _, op in ipairs(operations) do by_key[normalise(op.method, op.path)] = op end

  it("reads the generated operation list", function()
    assert.is_true(#operations > 0)
    for _, op in ipairs(operations) do
      assert.matches("^[A-Z]+$", op.method)
      assert.matches("^/", op.path)
      assert.is_string(op.operation)
    end
  end)

  it("has a route for every operation", function()
    local routed = {}
    for _, rp in ipairs(route_paths()) do
      if rp.field ~= "legacy_path" then routed[normalise(rp.method, rp.path)] = true end
    end
    local missing = {}
    for _, op in ipairs(operations) do
      if not routed[normalise(op.method, op.path)] then
        missing[#missing + 1] = ("%s %s (%s)"):format(op.method, op.path, op.operation)
      end
    end
    assert.same({}, missing)
  end)

  it("has an operation for every route path, except the listed ones", function()
    local unknown = {}
    for _, rp in ipairs(route_paths()) do
      local key = normalise(rp.method, rp.path)
      local excused = exceptions[exception_key(rp)]
      if not by_key[key] and not excused then
        unknown[#unknown + 1] = ("%s: %s %s %s"):format(rp.route, rp.field, rp.method, rp.path)
      end
    end
    assert.same({}, unknown)
  end)

  it("lists only exceptions that are still in the route table and still needed", function()
    local stale = {}
    for _, list in ipairs{ LEGACY, NOT_IN_SPEC } do
      for _, e in ipairs(list) do
        local route = routes.by_name[e.route]
        if not route or not route[e.field] then
          stale[#stale + 1] = exception_key(e) .. ": no such route or field"
        elseif by_key[normalise(route.method, route[e.field])] then
          stale[#stale + 1] = exception_key(e) .. ": the OpenAPI has it now"
        end
      end
    end
    assert.same({}, stale)
  end)

  it("is generated from the current OpenAPI document", function()
    local openapi = os.getenv("DIFY_OPENAPI") or (root_dir .. "/../shared/dify-openapi.json")
    local f = io.open(openapi, "rb")
    if not f then
      pending(openapi .. " not found: the operation list is not compared with it")
      return
    end
    f:close()
    -- The generator runs on lua5.4 with lua-cjson, as the fake server does, whatever Lua runs the specs.
    local quoted = "'" .. openapi:gsub("'", [['\'']]) .. "'"
    local pipe = assert(io.popen(("lua5.4 %s/scripts/gen-operations %s -o - 2>&1"):format(root_dir, quoted)))
    local fresh = pipe:read("*a")
    pipe:close()
    local g = assert(io.open(root_dir .. "/spec/data/operations.lua", "rb"))
    local kept = g:read("*a")
    g:close()
    -- The first line names the source as given; the rest must be the same.
    local function body(text) return (text:gsub("^[^\n]*\n", "")) end
    assert.are.equal(body(fresh), body(kept), "spec/data/operations.lua is stale: run scripts/gen-operations")
  end)
end)
