-- Leaving a stream early frees its connection on every Lua: by to-be-closed on
-- Lua 5.4, by close() or the collector on 5.1, 5.2, 5.3 and LuaJIT.
--
-- "Open" is what the kernel says: a client socket to the fake server that is
-- ESTABLISHED or CLOSE_WAIT has not been closed by this process.
local support = require("spec.support")

local TO_BE_CLOSED = _VERSION >= "Lua 5.4" and not rawget(_G, "jit")

local OPEN_STATES = { ["01"] = true, ["08"] = true } -- ESTABLISHED, CLOSE_WAIT

-- Client sockets of this machine whose remote end is the fake server's port.
local function open_connections(port)
  local count = 0
  for _, table_path in ipairs{ "/proc/net/tcp", "/proc/net/tcp6" } do
    local f = io.open(table_path, "r")
    if f then
      for line in f:lines() do
        local remote_port, state = line:match("^%s*%d+: %x+:%x+ %x+:(%x+) (%x%x)")
        if remote_port and tonumber(remote_port, 16) == port and OPEN_STATES[state] then
          count = count + 1
        end
      end
      f:close()
    end
  end
  return count
end

describe("leaving a stream early", function()
  local srv

  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  -- A fresh client per test, streaming slowly so that the run is still going
  -- when the test leaves it.
  local client
  before_each(function() client = support.faulty(srv, "drip:50") end)
  after_each(function() client:close() end)

  local function open_stream()
    local stream = assert(client:chat_stream{ query = "a b c d e f g h i j" })
    assert.is_table(stream())
    local during = open_connections(srv.port)
    assert.is_true(during >= 1, "the stream's connection is open")
    return stream, during
  end

  it("close() after break frees the connection", function()
    local stream, during = open_stream()
    local seen = 0
    for _ in stream.next, stream do
      seen = seen + 1
      if seen == 2 then break end
    end
    stream:close()
    assert.equal(2, seen)
    assert.is_false(stream._core:is_open())
    assert.is_true(open_connections(srv.port) < during)
  end)

  it("close() after an error inside the loop frees the connection", function()
    local stream, during = open_stream()
    local ok, err = pcall(function()
      for _ in stream.next, stream do error("caller gave up") end
    end)
    stream:close()
    assert.is_false(ok)
    assert.matches("caller gave up", err)
    assert.is_true(open_connections(srv.port) < during)
  end)

  it("the collector frees a stream dropped without close()", function()
    local collected = setmetatable({}, { __mode = "v" })
    local during
    do
      local stream
      stream, during = open_stream()
      collected.core = stream._core
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(collected.core)
    assert.is_true(open_connections(srv.port) < during)
  end)

  it("close() is idempotent and a closed stream yields nothing", function()
    local stream = open_stream()
    stream:close()
    stream:close()
    assert.is_nil(stream())
  end)

  -- The generic for's fourth value, to-be-closed, exists from Lua 5.4 on.
  local function capture_stream(into)
    return function(...)
      into.stream = ...
      return ...
    end
  end

  if TO_BE_CLOSED then
    it("break alone frees the connection (Lua 5.4 to-be-closed)", function()
      local before = open_connections(srv.port)
      local got, seen = {}, 0
      for _ in capture_stream(got)(client:chat_stream{ query = "a b c d e f g" }) do
        seen = seen + 1
        if seen == 2 then break end
      end
      assert.equal(2, seen)
      assert.is_false(got.stream._core:is_open())
      assert.is_true(open_connections(srv.port) <= before)
    end)

    it("an error inside the loop alone frees the connection (Lua 5.4 to-be-closed)", function()
      local got = {}
      local ok = pcall(function()
        for _ in capture_stream(got)(client:chat_stream{ query = "a b c d e f g" }) do
          error("caller gave up")
        end
      end)
      assert.is_false(ok)
      assert.is_false(got.stream._core:is_open())
    end)
  end
end)
