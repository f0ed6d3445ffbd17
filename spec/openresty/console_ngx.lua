-- The console inside nginx: calls from a content handler (cosockets, the
-- Set-Cookie lines read by dify.ngx.http), and one login shared by two
-- workers through a lua_shared_dict (examples/openresty/console.lua).
local mock = require("spec.mock")
local nginx = require("spec.openresty.nginx")
local browser = require("spec.openresty.browser_client")
local cs = require("spec.console_support")

describe("dify.console inside nginx", function()
  local dify_srv, web

  setup(function()
    dify_srv = mock.start()
    web = nginx.start{ conf = "spec/openresty/console.conf", env = { DIFY_CONSOLE_URL = dify_srv.root,
      DIFY_EMAIL = cs.EMAIL, DIFY_PASSWORD = cs.PASSWORD } }
  end)
  teardown(function()
    if web then web.stop() end
    if dify_srv then dify_srv.stop() end
  end)

  local function get(path)
    local status, body = browser.fetch(web.port, path)
    assert.are.equal(200, status, body)
    return assert(mock.json.decode(body))
  end

  local function case(name)
    local result = get("/case?case=" .. name)
    assert.is_nil(result.raised, result.raised)
    return result
  end

  -- Runs a case until both workers have answered it; returns their answers by pid.
  local function on_both_workers(name)
    local by_pid, n = {}, 0
    for _ = 1, 200 do
      local result = case(name)
      if not by_pid[result.pid] then
        by_pid[result.pid] = result
        n = n + 1
      end
      if n == 2 then return by_pid end
    end
    error("only one worker answered")
  end

  before_each(function() dify_srv.reset() end)

  for _, shape in ipairs({ "cookies", "host_cookies", "body" }) do
    it("calls the console from a content handler (" .. shape .. " login)", function()
      cs.configure(dify_srv, { login = shape })
      local result = case("profile")
      assert.is_nil(result.error, result.error)
      assert.are.equal(cs.EMAIL, result.email)
    end)
  end

  it("creates an app and a key and chats with it, from nginx", function()
    local result = case("newcomer")
    assert.are.equal("Echo: hello from a worker", result.answer)
  end)

  it("streams a draft run through cosockets", function()
    assert.are.equal("succeeded", case("draft").status)
  end)

  it("shares one login between two workers, and one refresh", function()
    -- The workers may hold sessions of earlier tests (the fake was reset
    -- since): the first calls renew them, and leave one session in the dict.
    local both = on_both_workers("profile")
    for _, result in pairs(both) do assert.are.equal(cs.EMAIL, result.email) end
    local before = cs.state(dify_srv).counts
    assert.is_true(before.logins <= 1)
    on_both_workers("profile")
    assert.are.same(before, cs.state(dify_srv).counts) -- both use it: nothing renewed
    cs.expire(dify_srv, "access")
    both = on_both_workers("profile")
    for _, result in pairs(both) do assert.is_nil(result.error, result.error) end
    local after = cs.state(dify_srv).counts
    assert.are.equal(before.logins, after.logins)
    -- The first worker to meet the 401 refreshes; the other finds its session in the dict.
    assert.are.equal(before.refreshes + 1, after.refreshes)
    assert.are.equal(before.failed_refreshes, after.failed_refreshes)
  end)

  it("serves the example handler, examples/openresty/console.lua", function()
    local created = case("newcomer")
    local apps = get("/apps")
    assert.are.equal(1, #apps)
    assert.are.equal(created.app_id, apps[1].id)
    assert.are.equal("From nginx", apps[1].name)
  end)

  it("shows no secret in the workers' hooks or tostring", function()
    on_both_workers("profile")
    cs.expire(dify_srv, "access")
    on_both_workers("profile") -- a refresh too
    local secrets = { cs.EMAIL, cs.PASSWORD, require("dify.console.session").base64(cs.PASSWORD) }
    for _, r in ipairs(dify_srv.requests()) do
      for _, value in pairs(cs.cookies(r.headers["cookie"])) do secrets[#secrets + 1] = value end
      if r.headers["x-csrf-token"] then secrets[#secrets + 1] = r.headers["x-csrf-token"] end
    end
    assert.is_true(#secrets > 6)
    local leaks, texts = 0, 0
    for _, result in pairs(on_both_workers("seen")) do
      for _, text in ipairs(result.texts) do
        texts = texts + 1
        for _, secret in ipairs(secrets) do
          if text:find(secret, 1, true) then leaks = leaks + 1 end
        end
      end
    end
    assert.is_true(texts > 10)
    assert.are.equal(0, leaks)
  end)
end)
