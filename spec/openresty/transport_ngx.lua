-- The cosocket transport: client calls made inside a real nginx worker
-- (spec/openresty/relay_app.lua runs them; this file checks what they saw).
local mock = require("spec.mock")
local nginx = require("spec.openresty.nginx")
local browser = require("spec.openresty.browser_client")

local API_KEY = "app-test-secret-9876"

describe("the nginx transport", function()
  local dify_srv, web
  nginx.serve("spec/openresty/nginx.conf", API_KEY, function(d, w) dify_srv, web = d, w end)

  -- Runs a case of relay_app.lua; returns its decoded answer.
  local function call(case, fault, query)
    local status, body = browser.fetch(web.port, "/call?case=" .. case .. (query or ""),
      fault and { ["X-Mock-Fault"] = fault } or nil)
    assert.are.equal(200, status, body)
    local result = assert(mock.json.decode(body))
    assert.is_nil(result.raised, result.raised)
    return result
  end

  it("sends a blocking call and decodes the answer", function()
    local result = call("chat")
    assert.are.equal("Echo: Hi from nginx", result.answer)
    local sent = dify_srv.last("/chat%-messages$")
    assert.are.equal("blocking", sent.json.response_mode)
    assert.are.equal("nginx-user", sent.json.user)
    assert.matches("^lua%-dify/", sent.headers["user-agent"])
    -- No compression: the transport reads bodies as they are.
    assert.is_nil(sent.headers["accept-encoding"])
  end)

  it("reads a stream through the C SSE parser, whatever the framing", function()
    for _, fault in ipairs{ "", "split1", "crlf", "cr", "split1,crlf,comment,bom,ping:2" } do
      local result = call("stream", fault)
      assert.is_nil(result.error, fault)
      assert.are.equal("Echo: one two three", result.text, fault)
      assert.are.equal("message_end", result.types[#result.types], fault)
    end
  end)

  it("keeps connections in nginx's keep-alive pool", function()
    call("info_many", nil, "&n=1") -- fills the pool
    local before = dify_srv.connections()
    local result = call("info_many", nil, "&n=10")
    assert.are.equal(10, #result.names)
    -- Only the counting call itself connected: the ten calls reused one pooled connection.
    assert.are.equal(before + 1, dify_srv.connections())
  end)

  it("streams a multipart upload from a path, with progress", function()
    local result = call("upload_path")
    assert.is_nil(result.error)
    assert.are.equal(result.length, result.size)
    assert.are.equal('report %22q%22.txt', result.name)
    assert.is_true(result.progress.calls > 1)
    assert.are.equal(result.progress.total, result.progress.sent)
    assert.is_true(result.progress.total > result.length)
    local parts = mock.parts_by_name(dify_srv.last("/files/upload$"))
    assert.are.equal(result.length, parts.file.size)
    assert.are.equal("text/plain", parts.file.content_type)
    assert.are.equal("nginx-user", parts.user.data)
  end)

  it("writes a body to a path or a function, or returns it", function()
    local result = call("preview_output")
    assert.is_true(result.path_ok)
    assert.is_true(result.function_ok)
    assert.is_true(result.bytes_ok)
    assert.is_false(result.part_left)
  end)

  it("raises an output function's error, and the client still works after", function()
    local result = call("output_raises")
    assert.matches("sink says no", result.raised_by_call)
    assert.are.equal("dify-mock", result.after)
  end)

  it("maps Dify's error body and a proxy's HTML page", function()
    local api = call("error_api", "status:404:conversation_not_exists").error
    assert.are.same({ "api", 404, "conversation_not_exists" }, { api.kind, api.status, api.code })
    local html = call("error_api", "html:502").error
    assert.are.same({ "http", 502 }, { html.kind, html.status })
    assert.is_nil(html.message:find("<", 1, true))
  end)

  it("reports a refused connection as a network error", function()
    local probe = assert(require("socket").bind("127.0.0.1", 0))
    local _, port = probe:getsockname()
    probe:close()
    local dead = ("http://127.0.0.1:%d/v1"):format(port)
    local err = call("dead", nil, "&base=" .. dead).error
    assert.are.equal("network", err.kind)
    assert.matches("connection refused", err.message)
  end)

  it("ends a silent stream after idle_timeout", function()
    local result = call("idle_timeout", "stall:3")
    assert.are.equal("Echo: ", result.text)
    assert.are.same({ "timeout", "idle" }, { result.error.kind, result.error.which })
  end)

  it("ends a stream that brings only pings after first_event_timeout", function()
    local result = call("first_event", "ping:8,drip:300")
    assert.are.same({}, result.types)
    assert.are.same({ "timeout", "first_event" }, { result.error.kind, result.error.which })
  end)

  it("waits between retries with ngx.sleep: the worker serves others meanwhile", function()
    local function info_calls()
      local n = 0
      for _, req in ipairs(dify_srv.requests()) do
        if req.path == "/v1/info" then n = n + 1 end
      end
      return n
    end
    local before = info_calls()
    local pending = browser.send(web.port, "/call?case=retry", { ["X-Mock-Fault"] = "retry_after:2" })
    for _ = 1, 100 do
      if info_calls() > before then break end
      require("socket").sleep(0.02)
    end
    assert.are.equal(before + 1, info_calls())
    assert.are.same({ 200, "pong\n" }, { browser.fetch(web.port, "/ping") })
    assert.are.equal(before + 1, info_calls()) -- still waiting to retry
    local result = mock.json.decode(pending:read_head():read_body())
    pending:close()
    assert.are.same({ "api", 429 }, { result.error.kind, result.error.status })
    assert.are.same({ 1, 2 }, result.attempts)
    assert.are.equal(before + 2, info_calls())
  end)

  it("ends a blocking call after timeout", function()
    local err = call("total_timeout", "stall:3").error
    assert.are.same({ "timeout", "total" }, { err.kind, err.which })
  end)

  it("reports a stream cut in the middle, after the events before it", function()
    local result = call("stream", "close_mid")
    assert.are.equal("Echo: ", result.text)
    assert.are.equal("network", result.error.kind)
  end)

  it("raises Dify's error event from the stream", function()
    local result = call("stream", "error_event")
    assert.are.same({ "api", "completion_request_error" }, { result.error.kind, result.error.code })
  end)

  it("stops a run from inside nginx", function()
    local result = call("stop", "drip:200")
    assert.are.equal("message", result.first)
    assert.are.equal("success", result.result.result)
    local stops = dify_srv.state().stops
    assert.are.equal(result.task_id, stops[#stops].task_id)
  end)

  it("speaks TLS, verifying the certificate and host by default", function()
    local good = ("https://127.0.0.1:%d/v1"):format(web.ports[8443])
    local other = ("https://127.0.0.1:%d/v1"):format(web.ports[8444])
    assert.are.same({ "dify-mock", "dify-mock" }, call("tls", nil, "&verify=1&base=" .. good))
    local refused = call("tls", nil, "&verify=1&base=" .. other)
    assert.are.equal("tls", refused[1].kind)
    assert.matches("host", refused[1].message)
    assert.are.equal("tls", refused[2].kind)
    assert.are.same({ "dify-mock", "dify-mock" }, call("tls", nil, "&verify=0&base=" .. other))
  end)

  it("uses libcurl in init_by_lua, where blocking is harmless", function()
    local status, body = browser.fetch(web.port, "/init-result")
    assert.are.equal(200, status)
    assert.are.same({ phase = "init", name = "dify-mock" }, mock.json.decode(body))
  end)

  it("refuses to call Dify in the log phase instead of blocking", function()
    assert.are.equal(200, (browser.fetch(web.port, "/log-phase")))
    local line
    for _ = 1, 100 do
      line = web.error_log():match("log phase call: ([^\n]*)")
      if line then break end
      require("socket").sleep(0.05)
    end
    assert.matches("cannot call Dify in nginx's log phase", line, 1, true)
  end)

  it("never shows the API key in errors", function()
    local result = call("error_api", "status:401")
    assert.is_nil(mock.json.encode(result):find(API_KEY, 1, true))
  end)
end)
