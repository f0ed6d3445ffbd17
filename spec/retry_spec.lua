-- Retries: what is sent again, what never is, and how long between.
local dify = require("dify")
local errors = require("dify.errors")
local support = require("spec.support")

describe("retries", function()
  local srv
  support.serve(function(s) srv = s end)

  -- A client that records its retries and waits without sleeping.
  local function recording(opts, faults)
    local log = { waits = {}, retries = {} }
    local o = {
      sleep = function(seconds) log.waits[#log.waits + 1] = seconds end,
      on_retry = function(info) log.retries[#log.retries + 1] = info end,
      retry_base_delay = 1,
    }
    for k, v in pairs(opts or {}) do o[k] = v end
    local client = faults and support.faulty(srv, faults, o) or support.client(srv, o)
    return client, log
  end

  local function count(path_pattern)
    local n = 0
    for _, req in ipairs(srv.requests()) do
      if req.path:match(path_pattern) then n = n + 1 end
    end
    return n
  end

  it("retries a request that was never sent, twice by default, backing off with jitter", function()
    local client, log = recording{ base_url = support.dead_url() }
    local _, err = client:chat{ query = "q" }
    assert.equal("network", err.kind)
    assert.equal(2, #log.retries)
    assert.is_true(log.waits[1] >= 0.5 and log.waits[1] <= 1)
    assert.is_true(log.waits[2] >= 1 and log.waits[2] <= 2)
    assert.equal(1, log.retries[1].attempt)
    assert.equal("POST", log.retries[1].method)
    assert.equal("/chat-messages", log.retries[1].path)
  end)

  it("does not retry with retries = 0", function()
    local client, log = recording{ base_url = support.dead_url(), retries = 0 }
    assert.is_nil(client:chat{ query = "q" })
    assert.equal(0, #log.retries)
  end)

  it("never sends a POST twice once it reached the server", function()
    local client, log = recording({}, "hangup")
    local _, err = client:chat{ query = "q" }
    assert.equal("network", err.kind)
    assert.equal(0, #log.retries)
    assert.equal(1, count("/chat%-messages$"))
  end)

  it("retries an idempotent GET that failed with a network error", function()
    local client, log = recording({}, "hangup")
    assert.is_nil(client:conversations())
    assert.equal(2, #log.retries)
    assert.equal(3, count("/conversations$"))
  end)

  it("retries a GET on 502, 503 and 504, and succeeds when the server recovers", function()
    for _, status in ipairs{ 502, 503, 504 } do
      srv.reset()
      local client, log = recording({}, "status:" .. status .. ",times:1")
      local list = assert(client:conversations())
      assert.is_table(list.data)
      assert.equal(1, #log.retries)
      assert.equal(status, log.retries[1].error.status)
      assert.equal(2, count("/conversations$"))
    end
  end)

  it("does not retry a POST on 503", function()
    local client, log = recording({}, "status:503")
    assert.is_nil(client:chat{ query = "q" })
    assert.equal(0, #log.retries)
    assert.equal(1, count("/chat%-messages$"))
  end)

  it("does not retry a 500 or a 4xx", function()
    for _, faults in ipairs{ "status:500", "status:400", "status:404" } do
      local client, log = recording({}, faults)
      assert.is_nil(client:conversations())
      assert.equal(0, #log.retries, faults)
    end
  end)

  it("retries 429 after Retry-After, even a POST, which was refused rather than done", function()
    local client, log = recording({}, "status:429,retry_after:3,times:1")
    local answer = assert(client:chat{ query = "again" })
    assert.equal("Echo: again", answer.answer)
    assert.same({ 3 }, log.waits)
    assert.equal(2, count("/chat%-messages$"))
  end)

  it("caps the wait at max_retry_wait", function()
    local client, log = recording({ max_retry_wait = 5 }, "status:429,retry_after:120,times:1")
    assert(client:chat{ query = "q" })
    assert.same({ 5 }, log.waits)
  end)

  it("reads Retry-After as seconds or as an HTTP date", function()
    assert.equal(7, errors.retry_after_seconds("7"))
    local soon = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    local seconds = errors.retry_after_seconds(soon)
    assert.is_true(seconds >= 28 and seconds <= 31, tostring(seconds))
    assert.equal(0, errors.retry_after_seconds("Thu, 01 Jan 1970 00:00:00 GMT"))
    assert.is_nil(errors.retry_after_seconds("soon"))
  end)

  it("retries opening a stream that was refused with 429", function()
    local client, log = recording({}, "status:429,retry_after:1,times:1")
    local text = assert(assert(client:chat_stream{ query = "stream" }):text())
    assert.equal("Echo: stream", text)
    assert.equal(1, #log.retries)
  end)

  it("never retries a stream once an event was delivered", function()
    local client, log = recording({}, "close_mid")
    local stream = assert(client:chat_stream{ query = "a b c" })
    assert.equal("network", support.raised(support.collect, stream).kind)
    assert.equal(0, #log.retries)
    assert.equal(1, count("/chat%-messages$"))
  end)

  it("takes retries per call", function()
    local client, log = recording{ base_url = support.dead_url() }
    assert.is_nil(client:chat{ query = "q", retries = 0 })
    assert.equal(0, #log.retries)
  end)

  it("raises for bad retry options", function()
    assert.matches("retries", support.raised(dify.new, { retries = -1 }))
    assert.matches("max_retry_wait", support.raised(dify.new, { max_retry_wait = "1m" }))
    assert.matches("on_retry", support.raised(dify.new, { on_retry = "print" }))
  end)
end)
