--- A console handler for nginx whose workers share one Dify console login,
-- kept in a lua_shared_dict: whichever worker logs in or renews the session
-- saves it there, and the others use it (a 401 makes a worker look there
-- before refreshing). Configure, for instance:
--
--   env DIFY_CONSOLE_URL; env DIFY_EMAIL; env DIFY_PASSWORD;
--   http {
--     lua_shared_dict dify_console 1m;
--     server { location = /apps { content_by_lua_block { require("console").apps() } } }
--   }
--
-- GET /apps answers the workspace's apps as JSON: [{id, mode, name}, ...].
-- luacheck: globals ngx
local ngx = ngx
local dify = require("dify")
local session = require("dify.console.session")

local handler = {}

-- One console a worker; the session itself lives in the shared dict.
local console

local function the_console()
  console = console or dify.console{
    base_url = os.getenv("DIFY_CONSOLE_URL"),
    email = os.getenv("DIFY_EMAIL"),
    password = os.getenv("DIFY_PASSWORD"),
    session_store = session.shared_dict_store(ngx.shared.dify_console, "session"),
  }
  return console
end

--- GET /apps: every app of the workspace.
function handler.apps()
  local list = {}
  local ok, err = pcall(function()
    for app in the_console():each("apps", { limit = 100 }) do
      list[#list + 1] = { id = app.id, mode = app.mode, name = app.name }
    end
  end)
  if not ok then
    ngx.status = 502
    ngx.header["Content-Type"] = "application/json"
    -- The error never holds the email, password or tokens.
    ngx.say(dify.json.encode({ error = tostring(err) }))
    return
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(dify.json.encode(dify.json.array(list)))
end

return handler
