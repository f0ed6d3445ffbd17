-- One spec per fault the fake server injects: each asserts the exact error
-- kind, or the exact events delivered.
local dify = require("dify")
local support = require("spec.support")

local function strip(events)
  local out = {}
  for i, ev in ipairs(events) do out[i] = { event = ev.event, answer = ev.answer } end
  return out
end

describe("faults", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end, { retries = 0 })

  local function stream_with(faults, query, opts)
    local o = { retries = 0 }
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(support.faulty(srv, faults, o):chat_stream{ query = query or "one two three" })
  end

  local function expect_same_events(faults, query)
    local expected = strip(support.collect(assert(client:chat_stream{ query = query })))
    local events = strip(support.collect(stream_with(faults, query)))
    assert.same(expected, events, faults)
    return events
  end

  describe("in streams", function()
    it("close mid-event: network error after the events before it", function()
      local stream = stream_with("close_mid", "a b c d")
      assert.equal("message", stream().event)
      local err = support.raised(support.collect, stream)
      assert.equal("network", err.kind)
    end)

    it("close between events without the terminal event: protocol error", function()
      local stream = stream_with("no_terminal", "a b c")
      local got = {}
      local err = support.raised(function() for ev in stream do got[#got + 1] = ev.event end end)
      assert.equal("protocol", err.kind)
      assert.same({ "message", "message", "message", "message" }, got)
    end)

    it("split into 1-byte writes: the same events", function()
      expect_same_events("split1", "one byte at a time")
    end)

    it("CRLF line ends: the same events", function()
      expect_same_events("crlf", "carriage return line feed")
    end)

    it("CR-only line ends: the same events", function()
      expect_same_events("cr", "carriage return only")
    end)

    it("a UTF-8 character split across writes arrives whole", function()
      local events = expect_same_events("split1", "h\195\169llo w\195\182rld \230\151\165\230\156\172")
      local text = {}
      for _, ev in ipairs(events) do text[#text + 1] = ev.answer or "" end
      assert.equal("Echo: h\195\169llo w\195\182rld \230\151\165\230\156\172", table.concat(text))
    end)

    it("a BOM and comment lines: the same events", function()
      expect_same_events("bom,comment", "with a bom")
    end)

    it("a 10 MB single event within max_event_size is delivered whole", function()
      local stream = stream_with("big:10485760", "x")
      local first = stream()
      assert.equal("message", first.event)
      assert.equal(10485760, #first.answer)
      support.collect(stream)
    end)

    it("a 10 MB single event over max_event_size: protocol error", function()
      local stream = stream_with("big:10485760", "x", { max_event_size = 1048576 })
      local err = support.raised(support.collect, stream)
      assert.equal("protocol", err.kind)
      assert.matches("max_event_size", err.message)
    end)

    it("10 000 pings, then the answer", function()
      local text = assert(stream_with("ping:10000", "finally"):text())
      assert.equal("Echo: finally", text)
    end)

    it("a stall longer than idle_timeout: timeout (idle)", function()
      local stream = stream_with("stall:3", "a b", { idle_timeout = 0.3 })
      assert.equal("message", stream().event)
      local err = support.raised(support.collect, stream)
      assert.equal("timeout", err.kind)
      assert.equal("idle", err.which)
    end)

    it("a slow drip that never stalls does not time out", function()
      local text = assert(stream_with("drip:150", "d r i p", { idle_timeout = 0.5 }):text())
      assert.equal("Echo: d r i p", text)
    end)

    it("pings but no event within first_event_timeout: timeout (first_event)", function()
      local stream = stream_with("ping:40,drip:100", "late", { first_event_timeout = 0.5, idle_timeout = 5 })
      local err = support.raised(support.collect, stream)
      assert.equal("timeout", err.kind)
      assert.equal("first_event", err.which)
    end)

    it("`event: error` mid-stream: api error with Dify's code", function()
      local stream = stream_with("error_event", "a b")
      assert.equal("message", stream().event)
      local err = support.raised(support.collect, stream)
      assert.equal("api", err.kind)
      assert.equal("completion_request_error", err.code)
    end)

    it("invalid JSON in data: decode error", function()
      local err = support.raised(support.collect, stream_with("bad_json", "a b"))
      assert.equal("decode", err.kind)
    end)

    it("a close-delimited stream (no length, no chunking) ends cleanly", function()
      expect_same_events("close_delimited", "until the close")
    end)
  end)

  describe("in answers", function()
    local function chat_with(faults, opts)
      local o = { retries = 0 }
      for k, v in pairs(opts or {}) do o[k] = v end
      return support.faulty(srv, faults, o):chat{ query = "q" }
    end

    it("an HTML error page with 502: http error, short tag-free excerpt", function()
      local result, err = chat_with("html:502")
      assert.is_nil(result)
      assert.equal("http", err.kind)
      assert.equal(502, err.status)
      assert.not_matches("[<>]", err.message)
      assert.is_true(#err.message <= 203)
    end)

    it("500 with a Dify error body: api error", function()
      local _, err = chat_with("status:500")
      assert.equal("api", err.kind)
      assert.equal(500, err.status)
      assert.equal("internal_server_error", err.code)
    end)

    it("429 with Retry-After: api error carrying retry_after", function()
      local _, err = chat_with("status:429,retry_after:7")
      assert.equal("api", err.kind)
      assert.equal(429, err.status)
      assert.equal(7, err.retry_after)
    end)

    it("401: api error unauthorized", function()
      local _, err = support.client(srv, { api_key = "app-bad", retries = 0 }):chat{ query = "q" }
      assert.equal("api", err.kind)
      assert.equal(401, err.status)
      assert.equal("unauthorized", err.code)
    end)

    it("404 Conversation Not Exists: api error", function()
      local nobody = "00000000-0000-4000-8000-000000000000" -- a UUID no conversation has
      local _, err = client:chat{ query = "q", conversation_id = nobody }
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
      assert.equal("not_found", err.code)
    end)

    it("413 on upload: api error file_too_large", function()
      local _, err = support.faulty(srv, "status:413", { retries = 0 }):upload_file{ data = "x", filename = "a.txt" }
      assert.equal("api", err.kind)
      assert.equal(413, err.status)
      assert.equal("file_too_large", err.code)
    end)

    it("415 on upload: api error unsupported_file_type", function()
      local _, err = support.faulty(srv, "status:415", { retries = 0 }):upload_file{ data = "x", filename = "a.exe" }
      assert.equal("api", err.kind)
      assert.equal(415, err.status)
      assert.equal("unsupported_file_type", err.code)
    end)

    it("a redirect is not followed for POST", function()
      local _, err = chat_with("redirect:302")
      assert.equal("http", err.kind)
      assert.equal(302, err.status)
      assert.equal(1, #srv.requests())
    end)

    it("a gzip-encoded body is decoded, though none was asked for by default", function()
      local answer = assert(chat_with("gzip"))
      assert.equal("compressed hello", answer.answer)
      assert.is_nil(srv.last().headers["accept-encoding"])
    end)

    it("compression = true asks for compressed answers", function()
      local answer = assert(chat_with("gzip", { compression = true }))
      assert.equal("compressed hello", answer.answer)
      assert.matches("gzip", srv.last().headers["accept-encoding"])
    end)

    it("a close-delimited body (no length, no chunking) is read whole", function()
      local answer = assert(chat_with("close_delimited"))
      assert.equal("Echo: q", answer.answer)
    end)

    it("an empty 200: decode error", function()
      local _, err = chat_with("empty200")
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
    end)

    it("a server that never answers headers: timeout (total)", function()
      local _, err = chat_with("stall:3", { timeout = 0.4 })
      assert.equal("timeout", err.kind)
      assert.equal("total", err.which)
    end)

    it("a blocking body over max_body_size: protocol error", function()
      local _, err = chat_with("big:100000", { max_body_size = 10000 })
      assert.equal("protocol", err.kind)
      assert.matches("max_body_size", err.message)
    end)

    it("a hang-up after the request: network error", function()
      local _, err = chat_with("hangup")
      assert.equal("network", err.kind)
      assert.is_true(err.request_sent)
    end)
  end)

  describe("in connections", function()
    it("connection refused: network error, never sent", function()
      local dead = dify.new{ base_url = support.dead_url(), api_key = "app-x", user = "u", retries = 0 }
      local _, err = dead:chat{ query = "q" }
      assert.equal("network", err.kind)
      assert.is_nil(err.request_sent)
    end)

    it("an unresolvable host: network error, never sent", function()
      -- A 64-character label cannot be asked of any resolver: no packet leaves the machine.
      local host = ("a"):rep(64) .. ".invalid"
      local unknown = dify.new{ base_url = "http://" .. host .. "/v1", api_key = "app-x", user = "u", retries = 0 }
      local _, err = unknown:chat{ query = "q" }
      assert.equal("network", err.kind)
      assert.is_nil(err.request_sent)
    end)
  end)
end)

describe("TLS", function()
  local srv, dir, proxy_pid, url

  local function sh(command)
    local pipe = assert(io.popen(command))
    local out = pipe:read("*a")
    pipe:close()
    return out
  end

  setup(function()
    srv = support.start()
    dir = sh("mktemp -d"):gsub("%s+$", "")
    sh(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 " ..
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s/key.pem -out %s/cert.pem 2>/dev/null")
      :format(dir, dir))
    local port = tonumber(support.dead_url():match(":(%d+)/"))
    local mock_port = srv.url:match(":(%d+)/")
    proxy_pid = tonumber(sh(("socat OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s/cert.pem," ..
      "key=%s/key.pem,verify=0 TCP:127.0.0.1:%s >/dev/null 2>&1 & echo $!"):format(port, dir, dir, mock_port)))
    url = ("https://127.0.0.1:%d/v1"):format(port)
    local socket = require("socket")
    for _ = 1, 100 do
      local c = socket.connect("127.0.0.1", port)
      if c then c:close() break end
      socket.sleep(0.05)
    end
  end)

  teardown(function()
    if proxy_pid then os.execute("kill " .. proxy_pid .. " 2>/dev/null") end
    if dir then os.execute("rm -rf " .. dir) end
    srv.stop()
  end)

  it("a self-signed certificate fails by default with kind tls", function()
    local _, err = dify.new{ base_url = url, api_key = "app-x", user = "u", retries = 0 }:chat{ query = "q" }
    assert.equal("tls", err.kind)
  end)

  it("passes with ca_file naming the certificate", function()
    local c = dify.new{ base_url = url, api_key = "app-x", user = "u", retries = 0, ca_file = dir .. "/cert.pem" }
    assert.equal("Echo: q", assert(c:chat{ query = "q" }).answer)
  end)

  it("passes with verification turned off explicitly", function()
    local c = dify.new{ base_url = url, api_key = "app-x", user = "u", retries = 0, verify_tls = false }
    assert.equal("Echo: q", assert(c:chat{ query = "q" }).answer)
  end)
end)
