-- Specs of the fake Dify server itself (bin/dify-mock), driven with plain
-- LuaSocket so that they check exactly what goes over the wire.

local socket = require("socket")
local mock = require("spec.mock")

local json = mock.json

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local APP_KEY = mock.APP_KEY

local call = mock.call

-- Sends raw bytes on a new connection and reads until the server closes it.
local function raw_exchange(srv, request_text)
  local sock = assert(socket.connect("127.0.0.1", srv.port))
  sock:settimeout(5)
  assert(sock:send(request_text))
  local data, _, partial = sock:receive("*a")
  sock:close()
  return data or partial
end

-- A POST with a JSON body and `Connection: close`; extra_header is one header line.
local function raw_post(path, body, extra_header)
  local lines = {
    "POST /v1" .. path .. " HTTP/1.1",
    "Host: 127.0.0.1",
    "Authorization: Bearer " .. APP_KEY,
    "Content-Type: application/json",
    "Content-Length: " .. #body,
    "Connection: close",
  }
  lines[#lines + 1] = extra_header
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

-- Splits a raw response into status, headers (lowercased names), body bytes.
local function parse_response(raw)
  local head_end = assert(raw:find("\r\n\r\n", 1, true), "no end of headers")
  local head = raw:sub(1, head_end - 1)
  local status = tonumber(head:match("^HTTP/1%.1 (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
    headers[name:lower()] = value
  end
  return status, headers, raw:sub(head_end + 4)
end

-- Decodes a chunked body.  Returns the data, the list of chunk sizes and
-- whether the terminating zero-size chunk was there.
local function dechunk(raw)
  local pieces, sizes, pos = {}, {}, 1
  while true do
    local line_end = raw:find("\r\n", pos, true)
    if not line_end then
      return table.concat(pieces), sizes, false
    end
    local size = tonumber(raw:sub(pos, line_end - 1), 16)
    if size == 0 then
      return table.concat(pieces), sizes, true
    end
    pieces[#pieces + 1] = raw:sub(line_end + 2, line_end + 1 + size)
    sizes[#sizes + 1] = size
    pos = line_end + 2 + size + 2
  end
end

-- The JSON payloads of the `data:` frames of an SSE body with the given line end.
local function sse_events(body, eol)
  local events = {}
  for frame in body:gmatch("(.-)" .. eol .. eol) do
    local payload = frame:match("^data: (.*)$")
    if payload then
      events[#events + 1] = assert(json.decode(payload))
    end
  end
  return events
end

local build_multipart = mock.multipart

---------------------------------------------------------------------------
-- Specs
---------------------------------------------------------------------------

describe("dify-mock", function()
  local srv

  setup(function()
    srv = mock.start()
  end)

  teardown(function()
    srv.stop()
  end)

  before_each(function()
    srv.reset()
  end)

  it("prints its address on one line and answers its version on the API index", function()
    assert.matches("^http://127%.0%.0%.1:%d+/v1$", srv.url)
    local status, body, headers = mock.request("GET", srv.url .. "/")
    assert.equal(200, status)
    assert.same({ welcome = "Dify OpenAPI", api_version = "v1", server_version = "1.14.2" }, json.decode(body))
    assert.equal("1.14.2", headers["x-version"])
  end)

  it("prints usage with --help", function()
    local pipe = io.popen("lua5.4 " .. mock.script .. " --help")
    local text = pipe:read("*a")
    assert.is_true(pipe:close())
    assert.matches("Usage: dify%-mock", text)
    assert.matches("X%-Mock%-Fault", text)
  end)

  describe("authorization", function()
    local unauthorized = { code = "unauthorized", message = "Access token is invalid", status = 401 }

    it("refuses a missing key", function()
      local status, body = mock.request("GET", srv.url .. "/parameters")
      assert.equal(401, status)
      assert.same(unauthorized, json.decode(body))
    end)

    it("refuses bad keys and keys of the wrong kind", function()
      for _, case in ipairs({
        { "/parameters", "Bearer app-bad" },
        { "/parameters", "Bearer dataset-abc" },
        { "/parameters", "Bearer sk-abc" },
        { "/parameters", "app-abc" },
        { "/datasets", "Bearer app-abc" },
        { "/datasets", "Bearer dataset-bad" },
      }) do
        local status, body = call(srv, "GET", case[1], nil, { authorization = case[2] })
        assert.equal(401, status, case[1] .. " with " .. case[2])
        assert.same(unauthorized, body)
      end
    end)

    it("accepts the right kind of key", function()
      assert.equal(200, (call(srv, "GET", "/parameters")))
      assert.equal(200, (call(srv, "GET", "/datasets", nil, { authorization = "Bearer dataset-abc" })))
    end)
  end)

  describe("blocking chat", function()
    it("answers with the echo and records the request", function()
      local status, body = call(srv, "POST", "/chat-messages",
        { query = "hello there", inputs = json.object(), user = "u1", response_mode = "blocking" })
      assert.equal(200, status)
      assert.equal("message", body.event)
      assert.equal("chat", body.mode)
      assert.equal("Echo: hello there", body.answer)
      assert.equal(body.id, body.message_id)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", body.conversation_id)
      assert.is_string(body.task_id)
      assert.is_number(body.created_at)
      assert.is_number(body.metadata.usage.total_tokens)
      assert.is_true(json.is_array(body.metadata.retriever_resources))

      local request = srv.last("/chat%-messages$")
      assert.equal("POST", request.method)
      assert.equal("/v1/chat-messages", request.path)
      assert.equal("Bearer " .. APP_KEY, request.headers.authorization)
      assert.equal("hello there", request.json.query)
      assert.is_true(json.is_object(request.json.inputs) and not json.is_array(request.json.inputs))
      assert.matches('"inputs":{}', request.body)
    end)

    it("continues a conversation and lists its messages", function()
      local _, first = call(srv, "POST", "/chat-messages", { query = "one", user = "u1" })
      local _, second = call(srv, "POST", "/chat-messages",
        { query = "two", user = "u1", conversation_id = first.conversation_id })
      assert.equal(first.conversation_id, second.conversation_id)
      local status, history = call(srv, "GET",
        "/messages?user=u1&conversation_id=" .. first.conversation_id)
      assert.equal(200, status)
      assert.equal(2, #history.data)
      assert.equal("one", history.data[1].query)
      assert.equal("Echo: two", history.data[2].answer)
    end)

    it("wants user, query and an object for inputs", function()
      local cases = {
        { query = "x" },
        { user = "u1" },
        { query = "x", user = "u1", inputs = json.array() },
      }
      for _, request in ipairs(cases) do
        local status, body = call(srv, "POST", "/chat-messages", request)
        assert.equal(400, status)
        assert.equal("invalid_param", body.code)
      end
    end)
  end)

  describe("streaming chat", function()
    it("sends one message event per word and a terminal message_end", function()
      local raw = raw_exchange(srv, raw_post("/chat-messages",
        json.encode({ query = "stream me please", user = "u1", response_mode = "streaming" })))
      local status, headers, chunked = parse_response(raw)
      assert.equal(200, status)
      assert.matches("^text/event%-stream", headers["content-type"])
      assert.equal("chunked", headers["transfer-encoding"])
      local body, _, terminated = dechunk(chunked)
      assert.is_true(terminated)
      assert.matches("^data: {", body)
      assert.equal("\n\n", body:sub(-2))

      local events = sse_events(body, "\n")
      local answer = {}
      for i, event in ipairs(events) do
        for _, field in ipairs({ "event", "task_id", "message_id", "conversation_id", "created_at" }) do
          assert.is_not_nil(event[field], field .. " of event " .. i)
        end
        if event.event == "message" then
          answer[#answer + 1] = event.answer
        end
      end
      assert.same({ "Echo: ", "stream ", "me ", "please" }, answer)
      assert.equal("message_end", events[#events].event)
      assert.is_number(events[#events].metadata.usage.total_tokens)
    end)

    it("writes one byte per chunk with split1 and ends lines in CRLF with crlf", function()
      local raw = raw_exchange(srv, raw_post("/chat-messages",
        json.encode({ query = "hi", user = "u1", response_mode = "streaming" }),
        "X-Mock-Fault: split1, crlf"))
      local status, _, chunked = parse_response(raw)
      assert.equal(200, status)
      local body, sizes, terminated = dechunk(chunked)
      assert.is_true(terminated)
      assert.equal(#body, #sizes)
      for _, size in ipairs(sizes) do
        assert.equal(1, size)
      end
      assert.is_nil(body:find("[^\r]\n"))
      local events = sse_events(body, "\r\n")
      assert.equal(3, #events)
      assert.equal("message_end", events[3].event)
    end)

    it("stops a stalled stream early on a stop call", function()
      local sock = assert(socket.connect("127.0.0.1", srv.port))
      sock:settimeout(5)
      local started = socket.gettime()
      sock:send(raw_post("/chat-messages",
        json.encode({ query = "a b c d", user = "u1", response_mode = "streaming" }),
        "X-Mock-Fault: stall:10"))
      local task_id
      repeat
        local line = assert(sock:receive("*l"))
        task_id = line:match('"task_id":"([^"]+)"')
      until task_id
      local status, body = call(srv, "POST", "/chat-messages/" .. task_id .. "/stop", { user = "u1" })
      assert.equal(200, status)
      assert.same({ result = "success" }, body)
      local rest = sock:receive("*a")
      sock:close()
      assert.is_true(socket.gettime() - started < 5)
      assert.is_nil(rest:find("message_end", 1, true))
      assert.same({ kind = "chat", task_id = task_id, user = "u1" }, srv.state().stops[1])
    end)
  end)

  it("records raw paths and decoded query arguments", function()
    call(srv, "GET", "/files/a%2Fb/preview?user=u%201&as_attachment=true&tag=x&tag=y")
    local request = srv.last()
    assert.equal("/v1/files/a%2Fb/preview", request.path)
    assert.equal("user=u%201&as_attachment=true&tag=x&tag=y", request.query)
    assert.equal("u 1", request.args.user)
    assert.same({ "x", "y" }, request.args.tag)
    assert.is_nil(request.json)
  end)

  describe("stream faults", function()
    local function stream_with(fault, query)
      local raw = raw_exchange(srv, raw_post("/chat-messages",
        json.encode({ query = query or "a b", user = "u1", response_mode = "streaming" }),
        "X-Mock-Fault: " .. fault))
      local _, _, chunked = parse_response(raw)
      return dechunk(chunked)
    end

    it("cuts the stream mid-frame with close_mid", function()
      local body, _, terminated = stream_with("close_mid")
      assert.is_false(terminated)
      assert.equal(1, #sse_events(body, "\n"))
      assert.is_nil(body:find("\n\n$"))
    end)

    it("puts a BOM, pings and comments before the events", function()
      local body, _, terminated = stream_with("bom,ping:2,comment")
      assert.is_true(terminated)
      assert.equal("\239\187\191event: ping\n\nevent: ping\n\n: keep-alive\ndata: {", body:sub(1, 49))
    end)

    it("ends with an error event, or without the terminal event", function()
      local events = sse_events((stream_with("error_event")), "\n")
      assert.equal("message", events[1].event)
      assert.equal("error", events[2].event)
      assert.equal("completion_request_error", events[2].code)
      assert.equal(2, #events)

      local body, _, terminated = stream_with("no_terminal")
      assert.is_true(terminated)
      assert.is_nil(body:find("message_end", 1, true))
    end)

    it("streams a chatflow with message_end before workflow_finished", function()
      local names = {}
      for _, event in ipairs(sse_events((stream_with("", "workflow")), "\n")) do
        names[#names + 1] = event.event
      end
      assert.equal("workflow_started", names[1])
      assert.equal("message_end", names[#names - 1])
      assert.equal("workflow_finished", names[#names])
    end)
  end)

  it("round-trips an upload through preview", function()
    local data = "\0\1binary\255\254 data\r\n--not-a-boundary\r\n"
    local boundary = "----spec-boundary"
    local status, file = call(srv, "POST", "/files/upload",
      build_multipart(boundary, { user = "u1" }, { name = "photo.png", type = "image/png", data = data }),
      { ["content-type"] = "multipart/form-data; boundary=" .. boundary })
    assert.equal(201, status)
    assert.equal("photo.png", file.name)
    assert.equal(#data, file.size)
    assert.equal("png", file.extension)
    assert.equal("image/png", file.mime_type)

    local request = srv.last("/files/upload$")
    assert.equal("file", request.parts[2].name)
    assert.equal(data, request.parts[2].data)

    -- previewed once a message of the app carries it
    assert.equal(200, (call(srv, "POST", "/chat-messages", { query = "look", user = "u1", files = {
      { type = "image", transfer_method = "local_file", upload_file_id = file.id } } })))
    local preview_status, bytes, headers = mock.request("GET",
      srv.url .. "/files/" .. file.id .. "/preview?as_attachment=true&user=u1",
      nil, { authorization = "Bearer " .. APP_KEY })
    assert.equal(200, preview_status)
    assert.equal(data, bytes)
    assert.equal("application/octet-stream", headers["content-type"])
    assert.equal("attachment; filename*=UTF-8''photo.png", headers["content-disposition"])

    local no_file_status, no_file = call(srv, "POST", "/files/upload",
      build_multipart(boundary, { user = "u1" }),
      { ["content-type"] = "multipart/form-data; boundary=" .. boundary })
    assert.equal(400, no_file_status)
    assert.equal("no_file_uploaded", no_file.code)
  end)

  it("answers 404 with Dify's codes", function()
    local nobody = "00000000-0000-4000-8000-000000000000" -- a UUID no record has
    local cases = {
      { "GET", "/messages?user=u1&conversation_id=" .. nobody, nil, "not_found" },
      { "POST", "/messages/" .. nobody .. "/feedbacks", { rating = "like", user = "u1" }, "not_found" },
      { "GET", "/files/" .. nobody .. "/preview", nil, "file_not_found" },
    }
    for _, case in ipairs(cases) do
      local status, body = call(srv, case[1], case[2], case[3])
      assert.equal(404, status, case[2])
      assert.equal(case[4], body.code, case[2])
      assert.equal(404, body.status)
      assert.is_string(body.message)
    end
  end)

  it("pages seeded annotations", function()
    srv.seed("annotations", 45)
    local _, page3 = call(srv, "GET", "/apps/annotations?page=3&limit=20")
    assert.equal(5, #page3.data)
    assert.equal(45, page3.total)
    assert.is_false(page3.has_more)
    assert.equal("Question 5", page3.data[1].question) -- newest first
  end)

  it("serves several requests on one kept-alive connection", function()
    local before = srv.connections()
    local request = "GET /v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer app-x\r\n\r\n"
    local raw = raw_exchange(srv, request .. request:gsub("\r\n\r\n$", "\r\nConnection: close\r\n\r\n"))
    local _, count = raw:gsub("HTTP/1%.1 200 OK", "")
    assert.equal(2, count)
    assert.equal(before + 2, srv.connections()) -- this one and the connections() call
  end)

  it("reads chunked request bodies after Expect: 100-continue", function()
    local body = json.encode({ query = "chunky", user = "u1" })
    local sock = assert(socket.connect("127.0.0.1", srv.port))
    sock:settimeout(5)
    sock:send("POST /v1/chat-messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer app-x\r\n"
      .. "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
      .. "Expect: 100-continue\r\nConnection: close\r\n\r\n")
    assert.equal("HTTP/1.1 100 Continue", sock:receive("*l"))
    assert.equal("", sock:receive("*l"))
    local half = math.floor(#body / 2)
    sock:send(("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"):format(half, body:sub(1, half), #body - half, body:sub(half + 1)))
    local raw = sock:receive("*a")
    sock:close()
    local status, _, response = parse_response(raw)
    assert.equal(200, status)
    assert.equal("Echo: chunky", json.decode(response).answer)
  end)

  it("forgets requests and state on reset", function()
    local _, answer = call(srv, "POST", "/chat-messages", { query = "remember me", user = "u1" })
    assert.equal(1, #srv.requests())
    srv.reset()
    assert.equal(0, #srv.requests())
    local status, body = call(srv, "GET", "/messages?user=u1&conversation_id=" .. answer.conversation_id)
    assert.equal(404, status)
    assert.equal("not_found", body.code)
  end)

  it("applies faults to one request only", function()
    local status, body, headers = call(srv, "GET", "/info", nil, { ["x-mock-fault"] = "status:429,retry_after:3" })
    assert.equal(429, status)
    assert.equal("too_many_requests", body.code)
    assert.equal("3", headers["retry-after"])
    assert.equal(200, (call(srv, "GET", "/info")))
  end)
end)

describe("dify-mock shutdown", function()
  it("exits on POST /__mock/shutdown", function()
    local srv = mock.start()
    local status = mock.request("POST", srv.root .. "/__mock/shutdown", "")
    assert.equal(200, status)
    local refused = false
    for _ = 1, 100 do
      local sock = socket.connect("127.0.0.1", srv.port)
      if not sock then
        refused = true
        break
      end
      sock:close()
      socket.sleep(0.02)
    end
    assert.is_true(refused)
    srv.stop()
  end)
end)
