-- dify.relay inside a real nginx, with the fake Dify behind it.
local mock = require("spec.mock")
local nginx = require("spec.openresty.nginx")
local browser = require("spec.openresty.browser_client")

local API_KEY = "app-test-secret-9876"

local function decode(data)
  return assert(mock.json.decode(data))
end

local function still_streaming(srv, task_id)
  for _, id in ipairs(srv.state().streaming_tasks) do
    if id == task_id then return true end
  end
  return false
end

local function read_rest(conn)
  local events = {}
  while true do
    local data = conn:next_data(15)
    if not data then break end
    events[#events + 1] = decode(data)
  end
  return events
end

describe("dify.relay in nginx", function()
  local dify_srv, web
  nginx.serve("spec/openresty/nginx.conf", API_KEY, function(d, w) dify_srv, web = d, w end)

  it("runs one worker", function()
    assert.are.equal(1, #nginx.workers(web))
  end)

  it("relays the stream event by event, as server-sent events", function()
    local conn = browser.get(web.port, "/relay?q=one%20two%20three",
      { ["X-User"] = "ann", ["X-Mock-Fault"] = "stall:3" })
    finally(function() conn:close() end)
    assert.are.equal(200, conn.status)
    assert.matches("^text/event%-stream", conn.headers["content-type"])
    assert.are.equal("no", conn.headers["x-accel-buffering"])
    assert.are.equal("no-cache", conn.headers["cache-control"])

    local first = decode(assert(conn:next_data()))
    assert.are.equal("message", first.event)
    -- The first event reached the browser while Dify still held back the rest:
    -- nothing waits for the end of the stream.
    assert.is_true(still_streaming(dify_srv, first.task_id))

    local rest = read_rest(conn)
    local types, text = { first.event }, { first.answer }
    for _, ev in ipairs(rest) do
      types[#types + 1] = ev.event
      if ev.event == "message" then text[#text + 1] = ev.answer end
    end
    assert.are.same({ "message", "message", "message", "message", "message_end" }, types)
    assert.are.equal("Echo: one two three", table.concat(text))
    assert.is_false(still_streaming(dify_srv, first.task_id))
  end)

  it("passes Dify's JSON on unchanged (an empty list stays a list)", function()
    local conn = browser.get(web.port, "/relay?q=raw")
    local last
    while true do
      local data = conn:next_data()
      if not data then break end
      last = data
    end
    conn:close()
    assert.matches('"event": ?"message_end"', last)
    assert.matches('"retriever_resources": ?%[%]', last)
  end)

  it("maps the caller to Dify's user and keeps the API key in nginx", function()
    local conn = browser.get(web.port, "/relay?q=who", { ["X-User"] = "bob" })
    local events = read_rest(conn)
    conn:close()
    assert.are.equal("message_end", events[#events].event)
    local sent = dify_srv.last("/chat%-messages$")
    assert.are.equal("web-bob", sent.json.user)
    assert.are.equal("Bearer " .. API_KEY, sent.headers["authorization"])
    local status, raw = browser.fetch(web.port, "/relay?q=who", { ["X-User"] = "bob" })
    assert.are.equal(200, status)
    assert.is_nil(raw:find(API_KEY, 1, true))
  end)

  it("tells the browser when the stream cannot be opened", function()
    local conn = browser.get(web.port, "/relay?q=x", { ["X-Mock-Fault"] = "status:404:conversation_not_exists" })
    local ev = decode(assert(conn:next_data()))
    conn:close()
    assert.are.equal(404, conn.status)
    assert.are.same({ "error", 404, "conversation_not_exists" }, { ev.event, ev.status, ev.code })
  end)

  it("does not pass on Dify's 401: nginx's key is at fault, not the browser", function()
    local conn = browser.get(web.port, "/relay?q=x", { ["X-Mock-Fault"] = "status:401" })
    local ev = decode(assert(conn:next_data()))
    conn:close()
    assert.are.equal(502, conn.status)
    assert.are.equal("error", ev.event)
  end)

  it("ends with an error event when Dify fails mid-stream", function()
    local conn = browser.get(web.port, "/relay?q=x", { ["X-Mock-Fault"] = "error_event" })
    local events = read_rest(conn)
    conn:close()
    assert.are.equal("message", events[1].event)
    assert.are.same({ "error", "completion_request_error" }, { events[#events].event, events[#events].code })
  end)

  it("answers other requests at once while a slow stream is open in the same worker", function()
    local slow = browser.get(web.port, "/relay?q=slow%20answer", { ["X-Mock-Fault"] = "stall:4" })
    finally(function() slow:close() end)
    local first = decode(assert(slow:next_data()))

    -- A static page, a blocking Dify call and another stream, all through the
    -- one worker that also waits on the slow stream.
    local status, body = browser.fetch(web.port, "/ping")
    assert.are.same({ 200, "pong\n" }, { status, body })
    status, body = browser.fetch(web.port, "/call?case=chat")
    assert.are.equal(200, status)
    assert.are.equal("Echo: Hi from nginx", decode(body).answer)
    status, body = browser.fetch(web.port, "/call?case=stream&q=quick")
    assert.are.same({ 200, "Echo: quick" }, { status, decode(body).text })

    -- All of that happened while the slow stream was still open.
    assert.is_true(still_streaming(dify_srv, first.task_id))
    local rest = read_rest(slow)
    assert.are.equal("message_end", rest[#rest].event)
  end)

  it("(control) libcurl inside nginx would block the worker: the same check catches it", function()
    local slow = browser.get(web.port, "/relay-blocking?q=slow%20answer", { ["X-Mock-Fault"] = "stall:3" })
    finally(function() slow:close() end)
    local first = decode(assert(slow:next_data()))
    local status = browser.fetch(web.port, "/ping")
    assert.are.equal(200, status)
    -- The ping was only answered once the blocked worker was free again.
    assert.is_false(still_streaming(dify_srv, first.task_id))
  end)

  it("stops the run at Dify when the browser disconnects", function()
    local stops_before = #dify_srv.state().stops
    local conn = browser.get(web.port, "/relay?q=stop%20me", { ["X-Mock-Fault"] = "stall:8" })
    local first = decode(assert(conn:next_data()))
    conn:close()
    local stops
    for _ = 1, 100 do -- up to 5 s for nginx to notice
      stops = dify_srv.state().stops
      if #stops > stops_before then break end
      require("socket").sleep(0.05)
    end
    assert.are.equal(stops_before + 1, #stops)
    assert.are.equal(first.task_id, stops[#stops].task_id)
    assert.are.equal("web-anonymous", stops[#stops].user)
  end)

  it("stops the run on disconnect without lua_check_client_abort, at the next event", function()
    local stops_before = #dify_srv.state().stops
    local conn = browser.get(web.port, "/relay-no-abort-check?q=a%20b%20c%20d%20e%20f%20g%20h",
      { ["X-Mock-Fault"] = "drip:300" })
    local first = decode(assert(conn:next_data()))
    conn:close()
    local stops
    for _ = 1, 100 do
      stops = dify_srv.state().stops
      if #stops > stops_before then break end
      require("socket").sleep(0.05)
    end
    assert.are.equal(stops_before + 1, #stops)
    assert.are.equal(first.task_id, stops[#stops].task_id)
  end)

  it("leaves no Lua error in nginx's error log", function()
    local log = web.error_log()
    assert.is_nil(log:find("lua entry thread aborted", 1, true), log)
    assert.is_nil(log:find("runtime error", 1, true), log)
  end)
end)
