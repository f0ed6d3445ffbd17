-- The C core (and dify.ngx.http inside nginx, spec/openresty) hands every
-- Set-Cookie line of an answer to Lua as a list: a cookie's Expires date
-- holds a comma, so joining the lines by ", " as other repeated headers are
-- would lose where one cookie ends. The console session reads its tokens from them.
local core = require("dify.core")

local support = require("spec.support")
local start_canned, answer_with = support.canned, support.canned_answer

local COOKIES = {
  "access_token=a.b.c; Expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly; Path=/; SameSite=Lax",
  "__Host-refresh_token=r-1; Max-Age=2592000; Secure; HttpOnly; Path=/",
  "csrf_token=c%2C1; Path=/",
}

describe("Set-Cookie lines from the C core", function()
  local srv
  setup(function()
    local lines = {}
    for i, cookie in ipairs(COOKIES) do
      lines[#lines + 1] = "Set-Cookie: " .. cookie
      if i == 2 then lines[#lines + 1] = "X-Dup: one" end
    end
    lines[#lines + 1] = "X-Dup: two"
    lines[#lines + 1] = "SET-COOKIE: shouting=1"
    srv = start_canned(answer_with(lines, '{"result":"success"}'))
  end)
  teardown(function() srv.stop() end)

  local function session()
    return assert(core.session{ timeout = 5, connect_timeout = 5 })
  end

  it("come as a list of every line, in order, whatever the case of the name", function()
    local status, headers, body = session():request{ method = "POST", url = srv.url, body = "{}" }
    assert.equal(200, status)
    assert.equal('{"result":"success"}', body)
    local expected = { COOKIES[1], COOKIES[2], COOKIES[3], "shouting=1" }
    assert.same(expected, headers["set-cookie"])
  end)

  it("leave other repeated headers joined by a comma", function()
    local _, headers = session():request{ method = "GET", url = srv.url }
    assert.equal("one, two", headers["x-dup"])
    assert.equal("application/json", headers["content-type"])
  end)

  it("come the same way with an answer to a stream request that is not an event stream", function()
    local status, headers, body = session():stream{ method = "POST", url = srv.url, body = "{}" }
    assert.equal(200, status)
    assert.equal("string", type(body))
    assert.equal(4, #headers["set-cookie"])
    assert.equal(COOKIES[2], headers["set-cookie"][2])
  end)

  it("come the same way from a started call (dify.all)", function()
    local call = assert(session():start{ method = "GET", url = srv.url })
    assert.equal(1, core.wait_any{ call })
    local status, headers = call:result()
    assert.equal(200, status)
    assert.same(COOKIES[1], headers["set-cookie"][1])
  end)

  it("are nil when the answer sets none", function()
    local plain = start_canned(answer_with({ "X-Other: 1" }, "{}"))
    finally(plain.stop)
    local _, headers = session():request{ method = "GET", url = plain.url }
    assert.is_nil(headers["set-cookie"])
    assert.equal("1", headers["x-other"])
  end)
end)

describe("Set-Cookie lines on an event stream", function()
  it("reach Lua before the first event", function()
    local srv = start_canned(answer_with({ "Set-Cookie: " .. COOKIES[1], "Set-Cookie: " .. COOKIES[3] },
      'data: {"event":"message_end"}\n\n', "text/event-stream"))
    finally(srv.stop)
    local session = assert(core.session{ timeout = 5 })
    local status, headers, stream = session:stream{ method = "POST", url = srv.url, body = "{}" }
    assert.equal(200, status)
    assert.same({ COOKIES[1], COOKIES[3] }, headers["set-cookie"])
    assert.equal("userdata", type(stream))
    stream:close()
  end)
end)
