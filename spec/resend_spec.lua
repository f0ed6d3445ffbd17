-- A request whose keep-alive connection dies before any answer is not sent
-- again behind the caller's back: a chat may already have reached Dify.
local support = require("spec.support")

-- Answers one request on a connection, then reads the next one and hangs up
-- without a word; reports whether the request came again on a new connection.
local SERVER = [[
local socket = require("socket")
local server = assert(socket.bind("127.0.0.1", 0))
print((select(2, server:getsockname())))
io.stdout:flush()
local function read_request(conn)
  local length = 0
  while true do
    local line = conn:receive("*l")
    if not line then return nil end
    if line == "" then break end
    length = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or length
  end
  return length > 0 and conn:receive(length) or ""
end
server:settimeout(5)
local conn = assert(server:accept())
conn:settimeout(5)
read_request(conn)
local body = '{"answer":"first","conversation_id":"c","message_id":"m"}'
conn:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
read_request(conn)
conn:close()
server:settimeout(1.5)
-- libcurl may open a new connection; what matters is whether the request comes on it.
local again, resent = server:accept(), nil
if again then
  again:settimeout(2)
  resent = read_request(again)
  if resent then
    again:send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
  end
  again:close()
end
print(resent and "resent" or "not resent")
]]

describe("a keep-alive connection that dies under a request", function()
  it("fails the call as a network error and does not send it again", function()
    local script = support.temp_file(SERVER)
    finally(function() os.remove(script) end)
    local pipe = assert(io.popen("lua5.4 " .. script, "r"))
    local port = assert(tonumber(pipe:read("*l")), "server started")
    local client = support.client({ url = ("http://127.0.0.1:%d/v1"):format(port) })
    assert.equal("first", assert(client:chat{ query = "one" }).answer)
    local answer, err = client:chat{ query = "two" }
    local verdict = pipe:read("*l")
    pipe:close()
    assert.is_nil(answer)
    assert.equal("network", err.kind)
    assert.matches("not resent", err.message)
    assert.equal("not resent", verdict)
  end)
end)
