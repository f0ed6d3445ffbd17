--- The chat example's content handler (examples/openresty/nginx.conf):
-- POST /chat {query, conversation_id?} answers with the Dify events as
-- server-sent events. Each browser gets a random id in a cookie, which
-- becomes its Dify `user`, so conversations stay apart.
-- luacheck: globals ngx
local ngx = ngx
local dify = require("dify")

local chat = {}

-- One client per worker; its calls share nginx's keep-alive pool.
local client

local function dify_client()
  client = client or dify.new{
    base_url = os.getenv("DIFY_BASE_URL"),
    api_key = os.getenv("DIFY_API_KEY"),
  }
  return client
end

local function random_id()
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(16)
  f:close()
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- The browser's id from its cookie, or a new one set now.
local function browser_user()
  local id = ngx.var.cookie_dify_uid
  if not (id and id:match("^%x+$") and #id == 32) then
    id = random_id()
    ngx.header["Set-Cookie"] = "dify_uid=" .. id .. "; Path=/; HttpOnly; SameSite=Strict"
  end
  return "web-" .. id
end

local function refuse(status, message)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(dify.json.encode({ code = "bad_request", message = message }))
end

function chat.handle()
  if ngx.req.get_method() ~= "POST" then return refuse(405, "POST a JSON body") end
  ngx.req.read_body()
  local ask = dify.json.decode(ngx.req.get_body_data() or "")
  if type(ask) ~= "table" or type(ask.query) ~= "string" or ask.query == "" then
    return refuse(400, "query is required")
  end
  local conversation_id = type(ask.conversation_id) == "string" and ask.conversation_id ~= ""
    and ask.conversation_id or nil
  -- Only the fields the page may choose go to Dify; inputs and keys stay here.
  dify.relay(function(user)
    return dify_client():chat_stream{ query = ask.query, conversation_id = conversation_id, user = user }
  end, { user = browser_user })
end

return chat
