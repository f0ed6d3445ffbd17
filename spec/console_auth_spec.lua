-- How dify.console logs in and keeps its session, against the fake console in
-- each of Dify's auth shapes. Token comparisons use assert.is_true so that a
-- failing spec never prints a token.
local dify = require("dify")
local mock = require("spec.mock")
local cs = require("spec.console_support")
local support = require("spec.support")

describe("dify.console's session", function()
  local srv
  setup(function() srv = mock.start() end)
  teardown(function() srv.stop() end)
  before_each(function() srv.reset() end)

  local function only(list)
    assert.equal(1, #list)
    return list[1]
  end

  describe("with tokens in the login body (older Dify)", function()
    before_each(function() cs.configure(srv, { login = "body" }) end)

    it("logs in lazily, at the first call, and sends a Bearer and the CSRF header", function()
      local console = cs.console(srv)
      assert.equal(0, #cs.requests(srv))
      local profile = assert(console:profile())
      assert.equal(cs.EMAIL, profile.email)
      local login = only(cs.requests(srv, "^/login$"))
      assert.equal("POST", login.method)
      assert.equal(cs.EMAIL, login.json.email)
      assert.is_true(login.json.password == require("dify.console.session").base64(cs.PASSWORD))
      assert.equal("en-US", login.json.language)
      assert.is_true(login.json.remember_me)
      local s = assert(console:session())
      local call = only(cs.requests(srv, "^/account/profile$"))
      assert.is_true(call.headers["authorization"] == "Bearer " .. s.access_token)
      assert.is_true(call.headers["x-csrf-token"] == s.csrf_token)
      assert.same({}, s.cookies) -- the server named no cookie
      assert.equal(1, cs.state(srv).counts.logins)
    end)

    it("refreshes an expired access token with the refresh token in the body, then retries", function()
      local console = cs.console(srv)
      assert(console:profile())
      local before = assert(console:session())
      cs.expire(srv, "access")
      assert.equal(cs.EMAIL, assert(console:profile()).email)
      local refresh = only(cs.requests(srv, "^/refresh%-token$"))
      assert.is_true(refresh.json.refresh_token == before.refresh_token)
      local counts = cs.state(srv).counts
      assert.equal(1, counts.logins)
      assert.equal(1, counts.refreshes)
      assert.equal(1, counts.refused)
      local after = assert(console:session())
      assert.is_false(after.access_token == before.access_token)
    end)
  end)

  describe("with tokens in cookies (Dify 1.9.2+)", function()
    it("reads the Set-Cookie lines and sends the cookies back with the CSRF header", function()
      cs.configure(srv, { login = "cookies" })
      local console = cs.console(srv)
      assert(console:apps())
      local s = assert(console:session())
      assert.same({ access_token = "access_token", refresh_token = "refresh_token", csrf_token = "csrf_token" },
        s.cookies)
      local call = only(cs.requests(srv, "^/apps$"))
      local cookies = cs.cookies(call.headers["cookie"])
      assert.is_true(cookies.access_token == s.access_token)
      assert.is_true(cookies.csrf_token == s.csrf_token)
      assert.is_nil(cookies.refresh_token) -- only the refresh request carries it
      assert.is_nil(cookies["__Host-access_token"]) -- the server's own names only
      assert.is_true(call.headers["x-csrf-token"] == s.csrf_token)
    end)

    it("refreshes with the refresh cookie", function()
      local console = cs.console(srv)
      assert(console:profile())
      local before = assert(console:session())
      cs.expire(srv, "access")
      assert(console:profile())
      local refresh = only(cs.requests(srv, "^/refresh%-token$"))
      assert.is_true(cs.cookies(refresh.headers["cookie"]).refresh_token == before.refresh_token)
      assert.is_nil(refresh.headers["authorization"])
      assert.equal(1, cs.state(srv).counts.refreshes)
    end)

    it("logs in again when the refresh token has expired too", function()
      local console = cs.console(srv)
      assert(console:profile())
      cs.expire(srv, "all")
      assert.equal(cs.EMAIL, assert(console:profile()).email)
      local counts = cs.state(srv).counts
      assert.equal(2, counts.logins)
      assert.equal(1, counts.failed_refreshes)
      assert.equal(0, counts.refreshes)
    end)
  end)

  describe("with __Host- cookies (a console on https)", function()
    before_each(function() cs.configure(srv, { login = "host_cookies" }) end)

    it("remembers the names the server used and sends the cookies under them", function()
      local console = cs.console(srv)
      assert(console:profile())
      local s = assert(console:session())
      assert.equal("__Host-access_token", s.cookies.access_token)
      assert.equal("__Host-csrf_token", s.cookies.csrf_token)
      local cookies = cs.cookies(only(cs.requests(srv, "^/account/profile$")).headers["cookie"])
      assert.is_true(cookies["__Host-access_token"] == s.access_token)
      assert.is_true(cookies["__Host-csrf_token"] == s.csrf_token)
      assert.is_nil(cookies.access_token)
    end)

    it("refreshes and logs in again under those names", function()
      local console = cs.console(srv)
      assert(console:profile())
      cs.expire(srv, "access")
      assert(console:profile())
      cs.expire(srv, "all")
      assert(console:profile())
      local counts = cs.state(srv).counts
      assert.equal(1, counts.refreshes)
      assert.equal(2, counts.logins)
    end)
  end)

  describe("and CSRF", function()
    it("names CSRF when Dify refuses a session without the token and nothing can renew it", function()
      local first = cs.console(srv)
      local s = assert(first:session())
      local resumed = cs.console(srv, { email = false, password = false,
        session = { access_token = s.access_token, cookies = s.cookies } })
      local result, err = resumed:profile()
      assert.is_nil(result)
      assert.equal(401, err.status)
      assert.matches("CSRF token is missing or invalid", err.message)
      assert.equal(1, cs.state(srv).counts.csrf_refused)
    end)

    it("gets a CSRF token by refreshing when the handed-over session lacks one", function()
      local first = cs.console(srv)
      local s = assert(first:session())
      local resumed = cs.console(srv, { email = false, password = false,
        session = { access_token = s.access_token, refresh_token = s.refresh_token, cookies = s.cookies } })
      assert.equal(cs.EMAIL, assert(resumed:profile()).email)
      assert.equal(1, cs.state(srv).counts.refreshes)
      assert.is_string(assert(resumed:session()).csrf_token)
    end)

    it("works with a server that does not check it", function()
      cs.configure(srv, { csrf = false })
      local console = cs.console(srv)
      assert(console:profile())
      assert.is_nil(assert(console:session()).csrf_token)
      assert.is_nil(only(cs.requests(srv, "^/account/profile$")).headers["x-csrf-token"])
    end)
  end)

  describe("when the login fails", function()
    it("says the email or password is wrong, without echoing them", function()
      local console = cs.console(srv, { password = "wrong-password-1" })
      local result, err = console:profile()
      assert.is_nil(result)
      assert.equal("api", err.kind)
      assert.equal(401, err.status)
      assert.equal("authentication_failed", err.code)
      assert.matches("login failed: Invalid email or password", tostring(err))
      assert.is_nil(tostring(err):find("wrong-password-1", 1, true))
      assert.is_nil(tostring(err):find(cs.EMAIL, 1, true))
      -- one login, no retry of the call behind it
      assert.equal(1, #cs.requests(srv))
    end)

    it("says the account has no workspace", function()
      local console = cs.console(srv, { email = "lonely@example.com", password = "lonely-password" })
      local result, err = console:apps()
      assert.is_nil(result)
      assert.equal("no_workspace", err.code)
      assert.matches("workspace not found", err.message)
    end)

    it("sends the password as it is with encode_password = false (servers before 1.11.2)", function()
      cs.configure(srv, { password = "plain" })
      local _, err = cs.console(srv):profile()
      assert.equal("authentication_failed", err.code)
      assert(cs.console(srv, { encode_password = false }):profile())
      local logins = cs.requests(srv, "^/login$")
      assert.is_true(logins[2].json.password == cs.PASSWORD)
    end)

    it("is a network error when the server cannot be reached", function()
      local console = cs.console(srv, { base_url = support.dead_url():gsub("/v1$", ""), retries = 0 })
      local result, err = console:profile()
      assert.is_nil(result)
      assert.equal("network", err.kind)
      assert.matches("^login failed", err.message)
    end)
  end)

  describe("and POSTs", function()
    it("sends a POST refused with 401 once more after renewing, and only once", function()
      local console = cs.console(srv)
      assert(console:profile())
      cs.expire(srv, "access")
      assert.is_true(console:logout())
      local posts = cs.requests(srv, "^/logout$")
      assert.equal(2, #posts)
      assert.equal(1, cs.state(srv).counts.logouts)
    end)

    it("never sends a POST twice for any other failure", function()
      local console = cs.console(srv, { headers = { ["X-Mock-Fault"] = "status:500" } })
      local result, err = console:profile() -- the login itself fails with 500
      assert.is_nil(result)
      assert.equal(500, err.status)
      assert.equal(1, #cs.requests(srv, "^/login$"))
    end)

    it("never sends an ordinary POST twice once it reached Dify (a 503, a hang-up)", function()
      local console = cs.console(srv)
      assert(console:profile()) -- logged in: only the create_app calls below carry the faults
      for _, fault in ipairs{ "status:503", "hangup" } do
        local before = #cs.requests(srv, "^/apps$")
        local result, err = console:create_app{ name = "Once", mode = "chat",
          headers = { ["X-Mock-Fault"] = fault } }
        assert.is_nil(result, fault)
        assert.is_table(err, fault)
        assert.equal(before + 1, #cs.requests(srv, "^/apps$"), fault)
      end
      local result = assert(console:create_app{ name = "Once", mode = "chat" }) -- the session still serves
      assert.is_string(result.id)
    end)

    it("does not renew twice when the renewed session is refused too", function()
      local s = assert(cs.console(srv):session())
      cs.expire(srv, "all")
      local resumed = cs.console(srv, { email = false, password = false, session = s })
      local result, err = resumed:logout()
      assert.is_nil(result)
      assert.matches("^refresh failed", err.message)
      assert.equal(1, #cs.requests(srv, "^/logout$"))
    end)
  end)

  describe("handed over", function()
    it("is resumed by another console without a new login", function()
      local first = cs.console(srv)
      local s = assert(first:session())
      local second = cs.console(srv, { email = false, password = false, session = s })
      assert.equal(cs.EMAIL, assert(second:profile()).email)
      assert.equal(1, cs.state(srv).counts.logins)
      -- a copy: changing it changes neither console
      s.access_token = "changed"
      assert(first:profile())
    end)

    it("is read from DIFY_CONSOLE_TOKEN and DIFY_CONSOLE_CSRF_TOKEN", function()
      cs.configure(srv, { login = "body" })
      local s = assert(cs.console(srv):session())
      local script = support.temp_file([[
        local dify = require("dify")
        local console = dify.console{ base_url = arg[1] }
        local profile = assert(console:profile())
        io.write(profile.email)
      ]])
      finally(function() os.remove(script) end)
      -- The Lua running the specs, with the dify.core it loaded (build/asan/… under make asan).
      local lua = os.getenv("DIFY_LUA") or "lua5.4"
      local command = ("DIFY_EMAIL= DIFY_PASSWORD= DIFY_CONSOLE_TOKEN=%s DIFY_CONSOLE_CSRF_TOKEN=%s "
        .. "LUA_PATH='./lua/?.lua;;' LUA_CPATH='%s' %s %s %s 2>&1"):format(
        s.access_token, s.csrf_token, package.cpath, lua, script, srv.root)
      local pipe = assert(io.popen(command))
      local out = pipe:read("*a")
      pipe:close()
      assert.equal(cs.EMAIL, out)
      assert.equal(1, cs.state(srv).counts.logins)
    end)

    it("is shared through a session store, which a console reads before renewing", function()
      local kept
      local store = {
        load = function() return kept end,
        save = function(_, s) kept = s end,
      }
      local a = cs.console(srv, { session_store = store })
      local b = cs.console(srv, { email = false, password = false, session_store = store })
      assert(a:profile())
      assert.is_table(kept)
      assert(b:profile()) -- b needs no login of its own
      assert.equal(1, cs.state(srv).counts.logins)
      cs.expire(srv, "access")
      assert(b:profile()) -- b refreshes, and saves the new session
      assert(a:profile()) -- a meets a 401, finds b's session in the store: no second refresh
      local counts = cs.state(srv).counts
      assert.equal(1, counts.refreshes)
      assert.equal(1, counts.logins)
      assert.is_true(a:logout())
      assert.is_nil(kept)
    end)

    it("takes the session of the process that won a refresh race, not a second login", function()
      local kept
      local store = { load = function() return kept end, save = function(_, s) kept = s end }
      local a = cs.console(srv, { session_store = store })
      assert(a:profile())
      -- b reads the store a step late: when it meets the 401 it still sees the old session.
      local old_session
      local b = cs.console(srv, { email = false, password = false, session_store = {
        load = function()
          local seen = old_session or kept
          old_session = nil
          return seen
        end,
        save = function(_, s) kept = s end } })
      assert(b:profile())
      cs.expire(srv, "access")
      old_session = kept
      assert(a:profile()) -- a refreshes first and saves the new session
      assert(b:profile()) -- b's refresh with the spent token fails; the store has a's session
      local counts = cs.state(srv).counts
      assert.equal(1, counts.refreshes)
      assert.equal(1, counts.failed_refreshes)
      assert.equal(1, counts.logins)
    end)
  end)

  describe("with a refresh token alone", function()
    it("refreshes before the first call, and says why when it cannot", function()
      local s = assert(cs.console(srv):session())
      local resumed = cs.console(srv, { email = false, password = false,
        session = { refresh_token = s.refresh_token, cookies = s.cookies } })
      assert(resumed:profile())
      assert.equal(1, cs.state(srv).counts.refreshes)
      local dead = cs.console(srv, { email = false, password = false,
        session = { refresh_token = s.refresh_token, cookies = s.cookies } }) -- used once already
      local result, err = dead:profile()
      assert.is_nil(result)
      assert.equal(401, err.status)
      assert.matches("^refresh failed", err.message)
    end)
  end)

  describe("logging out", function()
    it("logs out the store's session even before any call", function()
      local kept
      local store = { load = function() return kept end, save = function(_, s) kept = s end }
      assert(cs.console(srv, { session_store = store }):profile())
      local other = cs.console(srv, { email = false, password = false, session_store = store })
      assert.is_true(other:logout())
      assert.equal(1, cs.state(srv).counts.logouts)
      assert.is_nil(kept)
      assert.matches("not logged in", tostring(other))
    end)
  end)

  describe("from a store holding a dead session", function()
    it("checks it with a GET before taking it, then renews, and sends the POST twice at most", function()
      local kept
      local store = { load = function() return kept end, save = function(_, s) kept = s end }
      local a = cs.console(srv, { session_store = store })
      assert(a:profile())
      local b = cs.console(srv, { session_store = {
        load = function() return nil end, save = function(_, s) kept = s end } })
      assert(b:profile()) -- the store now holds b's session, a still its own
      srv.reset() -- the fake forgets every session
      assert.is_true(a:logout())
      local posts = cs.requests(srv, "^/logout$")
      assert.equal(2, #posts)
      local checks = cs.requests(srv, "^/account/profile$")
      assert.equal(1, #checks) -- b's session, tried before it was taken: refused
      local counts = cs.state(srv).counts
      assert.equal(1, counts.logins)
      assert.equal(1, counts.failed_refreshes)
    end)
  end)

  describe("arguments", function()
    it("raise when there is no way to log in", function()
      local err = support.raised(dify.console, { base_url = srv.root })
      assert.matches("give email and password", err)
    end)

    it("raise for a session that is not one", function()
      assert.matches("session must be a table", support.raised(dify.console, { base_url = srv.root, session = "x" }))
      assert.matches("neither an access_token nor a refresh_token",
        support.raised(dify.console, { base_url = srv.root, session = {} }))
      local err = support.raised(dify.console, { base_url = srv.root, session = { access_token = "a\r\nb" } })
      assert.matches("access_token must be a string that can go in a header", err)
    end)

    it("raise for a store without load and save, and for dify.new's own mistakes", function()
      assert.matches("session_store must have load and save",
        support.raised(dify.console, { base_url = srv.root, session_store = {} }))
      -- Raised at the caller's line, as dify.new's are.
      local err = support.raised(function()
        local console = dify.console{ base_url = srv.root, email = "e", password = "p", timeout = -1 }
        return console
      end)
      assert.matches("console_auth_spec.lua:%d+: dify.console: timeout must be", err)
      assert.matches("base_url must be", support.raised(dify.console, { base_url = "ftp://x", email = "e",
        password = "p" }))
    end)

    it("take the server root, with or without /v1 or /console/api", function()
      for _, url in ipairs{ srv.root, srv.root .. "/", srv.url, srv.root .. "/console/api" } do
        local console = cs.console(srv, { base_url = url })
        assert.equal(srv.root, console.root)
        assert.equal(srv.root .. "/console/api", console.base_url)
      end
    end)
  end)
end)
