-- Hooks see every request, response and event, and never the API key.
local dify = require("dify")
local support = require("spec.support")

local KEY = "app-hook-secret-key-4321"

local function dump(value, seen)
  seen = seen or {}
  if type(value) ~= "table" then return tostring(value) end
  if seen[value] then return "" end
  seen[value] = true
  local parts = { tostring(value) }
  for k, v in pairs(value) do parts[#parts + 1] = dump(k, seen) .. "=" .. dump(v, seen) end
  return table.concat(parts, " ")
end

describe("hooks", function()
  local srv, seen, client

  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  before_each(function()
    srv.reset()
    seen = { on_request = {}, on_response = {}, on_event = {}, on_retry = {} }
    local opts = { api_key = KEY, retry_base_delay = 0.001 }
    for name in pairs(seen) do
      opts[name] = function(info) table.insert(seen[name], info) end
    end
    client = support.client(srv, opts)
  end)

  it("on_request and on_response see method, path, status, duration and sizes", function()
    assert(client:chat{ query = "hooked" })
    local req, res = seen.on_request[1], seen.on_response[1]
    assert.equal("POST", req.method)
    assert.equal("/chat-messages", req.path)
    assert.equal(1, req.attempt)
    assert.is_true(req.bytes > 0)
    assert.equal(200, res.status)
    assert.is_true(res.duration >= 0)
    assert.is_true(res.bytes > 0)
    assert.is_nil(res.error)
  end)

  it("on_response names the error kind of a failed call", function()
    client:chat{ query = "q", conversation_id = "00000000-0000-4000-8000-000000000000" } -- a UUID no conversation has
    assert.equal(404, seen.on_response[1].status)
    assert.equal("api", seen.on_response[1].error)
  end)

  it("on_event sees each delivered event with its size, pings excluded", function()
    local stream = assert(support.faulty(srv, "ping:3", { on_event = function(info)
      table.insert(seen.on_event, info)
    end }):chat_stream{ query = "a b" })
    local n = #support.collect(stream)
    assert.equal(n, #seen.on_event)
    assert.equal("message", seen.on_event[1].event)
    assert.is_true(seen.on_event[1].bytes > 0)
    assert.equal("message_end", seen.on_event[n].event)
  end)

  it("never hands the API key to any hook, in success or failure", function()
    assert(client:chat{ query = "ok" })
    support.collect(assert(client:chat_stream{ query = "stream" }))
    client:chat{ query = "q", conversation_id = "missing" }
    local flaky = support.faulty(srv, "status:503", { api_key = KEY, retry_base_delay = 0.001,
      on_retry = function(info) table.insert(seen.on_retry, info) end })
    flaky:conversations()
    assert.is_true(#seen.on_retry > 0)
    local everything = dump(seen)
    assert.not_matches("hook%-secret", everything)
    assert.not_matches("hook%-secret", tostring(client))
  end)

  it("raises for a hook that is not a function", function()
    assert.matches("on_event", support.raised(dify.new, { on_event = true }))
  end)
end)
