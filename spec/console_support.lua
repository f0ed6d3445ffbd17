-- Shared set-up for the console specs: the fake server's console control
-- routes and a console client for it. dify is loaded only by cs.console: the
-- OpenResty specs use the rest without dify.core built for the test's Lua.
local mock = require("spec.mock")

local cs = {}

cs.EMAIL = "admin@example.com"
cs.PASSWORD = "dify-mock-password"

local function control(srv, method, name, body)
  local status, text = mock.request(method, srv.root .. "/console/api/__mock/" .. name,
    body and mock.json.encode(body) or nil, body and { ["content-type"] = "application/json" } or nil)
  assert(status == 200, "console control " .. name .. " answered " .. tostring(status) .. ": " .. tostring(text))
  return mock.json.decode(text)
end

--- Changes the fake console's configuration (login shape, csrf, password encoding, ttls).
function cs.configure(srv, changes) return control(srv, "POST", "config", changes) end

--- Expires the fake console's tokens: "access" (default), "refresh" or "all".
function cs.expire(srv, which) return control(srv, "POST", "expire", { tokens = which or "access" }) end

--- The fake console's counts (logins, refreshes, refusals...) and summary.
function cs.state(srv) return control(srv, "GET", "state") end

--- Marks a knowledge document of the fake server as failed to index.
function cs.fail_document(srv, dataset_id, document_id, why)
  return control(srv, "POST", "fail_document", { dataset_id = dataset_id, document_id = document_id, error = why })
end

--- A console client for the fake server; opts override the defaults.
function cs.console(srv, opts)
  local o = { base_url = srv.root, email = cs.EMAIL, password = cs.PASSWORD, timeout = 10,
    connect_timeout = 5, retry_base_delay = 0.001 }
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.email == false then o.email = nil end
  if o.password == false then o.password = nil end
  return require("dify").console(o)
end

--- Gives the enclosing describe block one fake server, started once, reset
-- before each test and stopped at the end, and a fresh console client for
-- it before each test: `each(srv, console)` receives both.
function cs.serve(each)
  -- Spec files see busted's functions as globals; a module reaches them here.
  local busted = require("busted")
  local srv
  busted.setup(function() srv = mock.start() end)
  busted.teardown(function() srv.stop() end)
  busted.before_each(function()
    srv.reset()
    each(srv, cs.console(srv))
  end)
end

--- The recorded console API requests (not the control ones), oldest first,
-- whose path (after /console/api) matches the pattern.
function cs.requests(srv, pattern)
  local found = {}
  for _, r in ipairs(srv.requests()) do
    local path = r.path:match("^/console/api(/.*)$")
    if path and not path:find("^/__mock/") and (not pattern or path:find(pattern)) then
      found[#found + 1] = r
    end
  end
  return found
end

--- A Cookie request header as a table.
function cs.cookies(header)
  local cookies = {}
  for pair in (header or ""):gmatch("[^;]+") do
    local name, value = pair:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if name then cookies[name] = value end
  end
  return cookies
end

return cs
