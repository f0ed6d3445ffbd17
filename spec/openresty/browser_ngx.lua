-- The chat page of examples/openresty in headless Chromium, through a real
-- nginx running the example's own config, with the fake Dify behind it.
local mock = require("spec.mock")
local nginx = require("spec.openresty.nginx")

local API_KEY = "app-browser-secret-5555"

local function run_browser(url, first, second, screenshot)
  local script = nginx.root .. "/spec/openresty/browser/chat.mjs"
  local command = ("node %q %q %q %q %q 2>&1"):format(script, url, first, second, screenshot or "")
  local pipe = assert(io.popen(command))
  local output = pipe:read("a")
  pipe:close()
  local line = output:match("(%b{})%s*$")
  local result = line and mock.json.decode(line)
  assert(result, "the browser script failed:\n" .. output)
  return result
end

describe("the OpenResty chat example in Chromium", function()
  local dify_srv, web
  nginx.serve("examples/openresty/nginx.conf", API_KEY, function(d, w) dify_srv, web = d, w end)

  it("shows the streamed answers, the second in the same conversation", function()
    local shot = os.getenv("BROWSER_SCREENSHOT")
    local result = run_browser(web.url .. "/", "Hello from Chromium", "And a second question", shot)
    assert.are.same({ text = "Echo: Hello from Chromium", state = "done" }, result.answers[1])
    assert.are.same({ text = "Echo: And a second question", state = "done" }, result.answers[2])
    assert.matches("^text/event%-stream", result.eventStreams[1])

    local chats = {}
    for _, req in ipairs(dify_srv.requests()) do
      if req.path == "/v1/chat-messages" then chats[#chats + 1] = req end
    end
    assert.are.equal(2, #chats)
    -- The browser's cookie id became Dify's user, the same for both turns.
    assert.matches("^web%-%x+$", chats[1].json.user)
    assert.are.equal(chats[1].json.user, chats[2].json.user)
    assert.is_nil(chats[1].json.conversation_id)
    assert.is_string(chats[2].json.conversation_id)
    assert.are.same({ "dify_uid" }, result.cookies)
    -- The key went to Dify and nowhere near the page.
    assert.are.equal("Bearer " .. API_KEY, chats[1].headers["authorization"])
    assert.is_nil(result.html:find(API_KEY, 1, true))
  end)
end)
