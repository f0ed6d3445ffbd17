-- dify.all: blocking calls that run together, results in order.
local dify = require("dify")
local core = require("dify.core")
local support = require("spec.support")

-- Lua 5.1 cannot yield across pcall: there dify.all runs the functions in turn.
local together = _VERSION ~= "Lua 5.1" or rawget(_G, "jit") ~= nil

local function chat_requests(srv)
  local found = {}
  for _, r in ipairs(srv.requests()) do
    if r.path:find("/chat%-messages$") then found[#found + 1] = r end
  end
  return found
end

describe("dify.all", function()
  local srv, client, stalling

  support.serve(function(s, c)
    srv, client = s, c
    stalling = support.faulty(srv, "stall:0.5")
  end)

  it("runs the calls together and returns each function's results in order", function()
    local fns = {}
    for i = 1, 4 do
      fns[i] = function() return stalling:chat{ query = "q" .. i } end
    end
    local results = dify.all(fns)
    assert.equal(4, #results)
    for i = 1, 4 do
      assert.equal("Echo: q" .. i, results[i][1].answer)
    end
    local requests = chat_requests(srv)
    assert.equal(4, #requests)
    if together then
      -- Every request reached the server before it sent its first answer.
      for _, r in ipairs(requests) do assert.equal(0, r.answered_before) end
    end
  end)

  it("keeps every return value of a function, nil included", function()
    local results = dify.all{
      function() return 1, nil, 3 end,
      function() end,
      function() return client:info() end,
    }
    assert.same({ 1, nil, 3, n = 3 }, results[1])
    assert.same({ n = 0 }, results[2])
    assert.equal("table", type(results[3][1]))
  end)

  it("lets a function make several calls, one after another", function()
    local results = dify.all{
      function()
        local first = assert(stalling:chat{ query = "first" })
        return assert(client:chat{ query = "then", conversation_id = first.conversation_id })
      end,
      function() return stalling:chat{ query = "beside" } end,
    }
    assert.equal("Echo: then", results[1][1].answer)
    assert.equal("Echo: beside", results[2][1].answer)
  end)

  it("returns a failing call's error as usual and leaves the others alone", function()
    local failing = support.faulty(srv, "stall:0.5, status:400:invalid_param")
    local results = dify.all{
      function() return stalling:chat{ query = "a" } end,
      function() return failing:chat{ query = "b" } end,
      function() return stalling:chat{ query = "c" } end,
    }
    assert.equal("Echo: a", results[1][1].answer)
    assert.equal("Echo: c", results[3][1].answer)
    local err = results[2][2]
    assert.is_nil(results[2][1])
    assert.equal("api", err.kind)
    assert.equal(400, err.status)
    assert.equal("invalid_param", err.code)
    assert.not_matches(support.API_KEY, tostring(err))
  end)

  it("reports a network failure as usual", function()
    local dead = support.client(srv, { base_url = support.dead_url(), retries = 0 })
    local results = dify.all{
      function() return dead:chat{ query = "x" } end,
      function() return client:chat{ query = "y" } end,
    }
    assert.equal("network", results[1][2].kind)
    assert.equal("Echo: y", results[2][1].answer)
  end)

  it("retries and tells the hooks exactly as a plain call does", function()
    local seen = {}
    local hooked = support.faulty(srv, "status:503, times:1", {
      on_request = function(info) seen[#seen + 1] = "request " .. info.attempt end,
      on_retry = function(info) seen[#seen + 1] = "retry " .. info.attempt end,
      on_response = function(info) seen[#seen + 1] = "response " .. tostring(info.status) end,
    })
    local results = dify.all{ function() return hooked:parameters() end }
    assert.equal("table", type(results[1][1]))
    assert.same({ "request 1", "response 503", "retry 1", "request 2", "response 200" }, seen)
  end)

  it("writes an output path", function()
    local path = os.tmpname()
    local results = dify.all{
      function() return client:text_to_audio{ text = "hello", output = path } end,
      function() return stalling:chat{ query = "z" } end,
    }
    assert.is_true(results[1][1])
    assert.is_true(#support.read_file(path) > 0)
    os.remove(path)
  end)

  it("raises a function's error, closing the calls still on the wire", function()
    local err = support.raised(dify.all, {
      function() return stalling:chat{ query = "never read" } end,
      function() error({ mine = true }) end,
      function() return stalling:chat{ query = "never read either" } end,
    })
    assert.same({ mine = true }, err)
    collectgarbage()
    -- The client and the driver are fine afterwards.
    assert.equal("Echo: after", assert(client:chat{ query = "after" }).answer)
    local results = dify.all{ function() return client:chat{ query = "again" } end }
    assert.equal("Echo: again", results[1][1].answer)
  end)

  if together then
    it("refuses Lua callbacks of a call, which would run on another coroutine", function()
      local err = support.raised(dify.all, {
        function() return client:upload_file{ data = "abc", filename = "a.txt", on_progress = print } end,
      })
      assert.matches("on_progress", err)
      err = support.raised(dify.all, {
        function() return client:text_to_audio{ text = "hi", output = function() end } end,
      })
      assert.matches("output functions", err)
    end)

    it("refuses a function that yields for its own reasons", function()
      assert.matches("yielded", support.raised(dify.all, { function() coroutine.yield(1) end }))
    end)

    it("raises clearly for a transport that cannot start calls", function()
      local plain = support.client(srv)
      local transport = plain._session
      local other = support.client(srv, { transport = {
        request = function(_, req) return transport:request(req) end,
        stream = function(_, req) return transport:stream(req) end,
      } })
      assert.matches("cannot run calls together", support.raised(dify.all, {
        function() return other:info() end,
      }))
      -- Outside dify.all the same client works.
      assert.equal("table", type(assert(other:info())))
    end)
  end

  it("leaves calls outside dify.all as they are, also from a coroutine", function()
    local co = coroutine.wrap(function() return client:chat{ query = "co" } end)
    assert.equal("Echo: co", co().answer)
  end)

  it("raises on a caller's mistake", function()
    assert.matches("list of functions", support.raised(dify.all, "nope"))
    assert.matches("#2 is not a function", support.raised(dify.all, { print, 42 }))
  end)

  it("waits on started calls and streams together in the core", function()
    local session = client._session
    local req = { method = "GET", url = srv.url .. "/parameters",
      headers = { "Authorization: Bearer " .. support.API_KEY } }
    local call = assert(session:start(req))
    local stream = assert(client:chat_stream{ query = "s" })
    local pending = { call, stream._core }
    local got_call = false
    while not got_call do
      local i = core.wait_any(pending)
      if i == 1 then
        got_call = true
      else
        assert(stream._core:next() ~= nil or true)
      end
    end
    local status, headers, body = call:result()
    assert.equal(200, status)
    assert.equal("table", type(headers))
    assert.matches("{", body)
    stream:close()
    assert.matches("closed", support.raised(call.result, call))
    call:close()
  end)
end)
