-- The console API: log in, create a chat app and an API key for it, and chat
-- with that key. Against the bundled fake Dify (bin/dify-mock --port 5001):
--   lua5.4 examples/console.lua
-- Against your own Dify:
--   DIFY_CONSOLE_URL=http://your-host DIFY_EMAIL=you@example.com DIFY_PASSWORD=... lua5.4 examples/console.lua
local dify = require("dify")

-- The fake Dify's account is the default only for the fake Dify: a real server
-- is never sent the mock's password.
local FAKE_DIFY = "http://127.0.0.1:5001"
local base_url = os.getenv("DIFY_CONSOLE_URL") or FAKE_DIFY -- the server root
local at_fake = base_url == FAKE_DIFY
local console = dify.console{
  base_url = base_url,
  email = os.getenv("DIFY_EMAIL") or (at_fake and "admin@example.com" or nil),
  password = os.getenv("DIFY_PASSWORD") or (at_fake and "dify-mock-password" or nil),
}

local app = assert(console:create_app{ name = "Hello from Lua", mode = "chat" })
local key = assert(console:create_app_api_key(app.id))
print(("created app %s and a key for it"):format(app.id))

local client = dify.new{ base_url = app.api_base_url, api_key = key.token, user = "newcomer" }
for ev in assert(client:chat_stream{ query = "Hello!" }) do
  if ev.event == "message" then io.write(ev.answer) end
end
print()

for a in console:each("apps") do print(a.id, a.mode, a.name) end
