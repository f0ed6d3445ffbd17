-- The console's secrets (email, password, its base64, every token, CSRF
-- token and cookie the fake console issued or was sent) appear in no hook
-- payload, no error, no tostring. Every auth path is driven with hooks
-- recording everything they are given; then the records are searched.
-- Nothing here prints a secret: matches are reported by kind only.
local mock = require("spec.mock")
local cs = require("spec.console_support")
local session = require("dify.console.session")
local support = require("spec.support")

-- Every string inside v (keys and values, through tables and metatables' __tostring).
local function strings_of(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "number" or type(v) == "boolean" then
    out[#out + 1] = tostring(v)
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    local mt = getmetatable(v)
    if mt and mt.__tostring then out[#out + 1] = tostring(v) end
    for key, value in pairs(v) do
      strings_of(key, out, seen)
      strings_of(value, out, seen)
    end
  end
  return out
end

describe("the console's secrets", function()
  local srv
  setup(function() srv = mock.start() end)
  teardown(function() srv.stop() end)

  it("appear in no hook payload, error or tostring on any auth path", function()
    local seen = {} -- everything the hooks, errors and tostring gave
    local function keep(kind) return function(info) seen[#seen + 1] = { kind, info } end end
    local hooks = { on_request = keep("on_request"), on_response = keep("on_response"),
      on_retry = keep("on_retry"), on_event = keep("on_event") }
    local function console(opts)
      local o = {}
      for k, v in pairs(hooks) do o[k] = v end
      for k, v in pairs(opts or {}) do o[k] = v end
      local c = cs.console(srv, o)
      seen[#seen + 1] = { "tostring", tostring(c) }
      return c
    end
    local function run(c, method, ...)
      -- Results are Dify's data (a profile holds the email; console:session()
      -- is the one way to read the tokens): errors are searched, results not.
      local ok, result, err = pcall(c[method], c, ...)
      if not ok then seen[#seen + 1] = { method .. " raised", result } end
      seen[#seen + 1] = { method, err }
      if err then seen[#seen + 1] = { "tostring(err)", tostring(err) } end
      seen[#seen + 1] = { "tostring", tostring(c) }
      return result
    end
    local secrets = { email = { cs.EMAIL, "lonely@example.com" },
      password = { cs.PASSWORD, "wrong-password-77", "lonely-password" } }
    for _, p in ipairs({ cs.PASSWORD, "wrong-password-77", "lonely-password" }) do
      table.insert(secrets.password, session.base64(p))
    end

    for _, shape in ipairs({ "body", "cookies", "host_cookies" }) do
      srv.reset()
      cs.configure(srv, { login = shape })
      local c = console()
      run(c, "profile")
      run(c, "apps", { headers = { ["X-Mock-Fault"] = "status:503,times:1" } }) -- a retry
      cs.expire(srv, "access")
      run(c, "profile") -- refresh
      cs.expire(srv, "all")
      run(c, "profile") -- refresh fails, login again
      run(c, "logout")
      run(console({ password = "wrong-password-77" }), "profile")
      run(console({ email = "lonely@example.com", password = "lonely-password" }), "profile")
      local s = run(console(), "session")
      local bare = console({ email = false, password = false,
        session = { access_token = s.access_token, cookies = s.cookies } })
      run(bare, "profile") -- refused for CSRF, nothing to renew with
      cs.expire(srv, "all")
      run(console({ email = false, password = false, session = s }), "profile") -- refresh refused
      -- Every token the fake console saw, from the recorded requests.
      secrets.token = secrets.token or {}
      for _, r in ipairs(srv.requests()) do
        local bearer = (r.headers["authorization"] or ""):match("^Bearer (%S+)$")
        if bearer then table.insert(secrets.token, bearer) end
        if r.headers["x-csrf-token"] then table.insert(secrets.token, r.headers["x-csrf-token"]) end
        for _, value in pairs(cs.cookies(r.headers["cookie"])) do table.insert(secrets.token, value) end
        if type(r.json) == "table" and type(r.json.refresh_token) == "string" then
          table.insert(secrets.token, r.json.refresh_token)
        end
      end
      for _, name in ipairs(session.TOKENS) do table.insert(secrets.token, s[name]) end
    end
    run(console({ base_url = support.dead_url():gsub("/v1$", ""), retries = 0 }), "profile")

    assert.is_true(#secrets.token > 20) -- the search is over real tokens
    local texts = {}
    for _, entry in ipairs(seen) do
      for _, text in ipairs(strings_of(entry[2])) do texts[#texts + 1] = { entry[1], text } end
    end
    assert.is_true(#texts > 100)
    local leaks = {}
    for kind, list in pairs(secrets) do
      for _, secret in ipairs(list) do
        for _, t in ipairs(texts) do
          if t[2]:find(secret, 1, true) then leaks[#leaks + 1] = kind .. " in " .. t[1] end
        end
      end
    end
    assert.same({}, leaks)
  end)

  it("are redacted from an error whose body echoes them", function()
    -- A proxy or a server bug may echo a request back: the client's own
    -- secrets are replaced by **** in the error it returns.
    local errors = require("dify.errors")
    local err = errors.new{ kind = "api", status = 400, message = "bad pass hunter2-long for a@b.example",
      details = { echoed = "hunter2-long" } }
    errors.redact(err, { "hunter2-long", "a@b.example" })
    assert.equal("bad pass **** for ****", err.message)
    assert.equal("****", err.details.echoed)
  end)
end)
