--- `dify.relay`: hands a Dify event stream on to the browser from an nginx
-- content handler, as server-sent events, one flush per event. The API key
-- stays in nginx; the browser only ever sees the events.
--
--     content_by_lua_block {
--       local dify = require("dify")
--       dify.relay(function(user)
--         return client:chat_stream{ query = ngx.var.arg_q, user = user }
--       end, { user = "web-" .. ngx.var.cookie_session })
--     }
--
-- When the browser goes away, the run is stopped at Dify (`stream:stop()`):
-- at once with `lua_check_client_abort on;`, else at the next event written.
-- @module dify.relay
-- luacheck: globals ngx
local ngx = ngx
local errors = require("dify.errors")
local json = require("dify.json")

local relay = {}

-- What the browser is told when the stream could not be opened: Dify's own
-- status where it concerns the browser's request, a gateway error otherwise
-- (a 401 from Dify means nginx's key is wrong, not the browser's).
local PASSED_ON = { [400] = true, [404] = true, [413] = true, [415] = true, [429] = true }

local function browser_status(err)
  if err.kind == "api" and PASSED_ON[err.status] then return err.status end
  if err.kind == "timeout" then return 504 end
  return 502
end

local function frame(ev)
  local text = json.encode(ev)
  if not text then return nil end
  return "data: " .. text .. "\n\n"
end

local function error_frame(err)
  return frame({
    event = "error",
    status = err.status or browser_status(err),
    code = err.code or err.kind,
    message = tostring(err.message or "error"),
  })
end

local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("dify.relay: opts must be a table", 4) end
  local user = opts.user
  if user ~= nil and type(user) ~= "string" and type(user) ~= "function" then
    error("dify.relay: opts.user must be a string or a function", 4)
  end
  if opts.filter ~= nil and type(opts.filter) ~= "function" then
    error("dify.relay: opts.filter must be a function", 4)
  end
  if opts.headers ~= nil and type(opts.headers) ~= "table" then
    error("dify.relay: opts.headers must be a table", 4)
  end
  return opts
end

local function resolve_user(opts)
  local user = opts.user
  if type(user) == "function" then user = user() end
  if user ~= nil and (type(user) ~= "string" or user == "") then
    error("dify.relay: opts.user gave no user id (a non-empty string)", 4)
  end
  return user
end

local function start_response(status, extra_headers)
  ngx.status = status
  ngx.header["Content-Type"] = "text/event-stream; charset=utf-8"
  ngx.header["Cache-Control"] = "no-cache"
  -- Tells a proxy in front of this nginx (and nginx's own proxy_pass) not to hold events back.
  ngx.header["X-Accel-Buffering"] = "no"
  for name, value in pairs(extra_headers or {}) do ngx.header[name] = value end
  ngx.send_headers()
  return ngx.flush(true)
end

local function write(text)
  local ok, err = ngx.print(text)
  if not ok then return nil, err end
  return ngx.flush(true)
end

--- Relays `stream` to the browser; see the module comment.
-- @param stream a stream from a `*_stream` call; or a function(user) that
--  opens one (so that opts.user maps the caller, and an opening failure is
--  told to the browser); or nil followed by the error of a failed call
-- @tparam[opt] table opts `user` (string or function returning one: Dify's
--  `user` for this caller), `filter` (function(ev) returning the event to
--  send, or nil to drop it), `headers` (extra response headers),
--  `stop_on_abort` (default true)
-- @treturn table `{events, task_id, conversation_id, message_id, aborted, stopped}`,
--  or nil and the error (after telling the browser with an `error` event)
function relay.relay(stream, opts)
  if type(ngx) ~= "table" or type(ngx.on_abort) ~= "function" then
    error("dify.relay: runs inside nginx (a content handler)", 3)
  end
  local open_error
  if stream == nil and errors.is(opts) then
    open_error, opts = opts, nil
  end
  opts = check_options(opts)
  if type(stream) == "function" then
    stream, open_error = stream(resolve_user(opts))
  elseif stream ~= nil and (type(stream) ~= "table" or type(stream.next) ~= "function") then
    error("dify.relay: expected a stream, a function that opens one, or nil and an error", 3)
  end
  if stream == nil then
    open_error = errors.is(open_error) and open_error
      or errors.new{ kind = "protocol", message = "no stream to relay" }
    start_response(browser_status(open_error), opts.headers)
    write(error_frame(open_error))
    return nil, open_error
  end

  local summary = { events = 0, aborted = false, stopped = false }
  local stop_on_abort = opts.stop_on_abort ~= false
  local function stop()
    if summary.stopped or not stop_on_abort then return end
    summary.stopped = true
    stream:stop()
  end
  -- With `lua_check_client_abort on` nginx calls this as soon as the browser
  -- leaves, even while Dify is silent; without it, a failed write tells.
  ngx.on_abort(function()
    summary.aborted = true
    if stream.task_id or not stop_on_abort then
      stop()
      ngx.exit(499)
    end
    -- No task id yet: the loop below stops the run when the first event names it.
  end)

  if not start_response(200, opts.headers) then
    summary.aborted = true
  end
  local filter = opts.filter
  local ok, err = pcall(function()
    while not summary.aborted do
      local ev = stream:next()
      if ev == nil then break end
      summary.events = summary.events + 1
      if summary.aborted then break end
      local text
      if filter then
        ev = filter(ev)
        text = ev ~= nil and frame(ev)
      else
        -- Dify's own JSON, byte for byte: re-encoding could turn [] into {}.
        local raw = stream._raw_data
        text = raw and ("data: " .. raw:gsub("\n", "\ndata: ") .. "\n\n") or frame(ev)
      end
      if text and not write(text) then summary.aborted = true end
    end
  end)
  summary.task_id = stream.task_id
  summary.conversation_id = stream.conversation_id
  summary.message_id = stream.message_id
  if summary.aborted then
    stop()
    stream:close()
    return summary
  end
  if not ok then
    if not errors.is(err) then error(err, 0) end
    write(error_frame(err))
    return nil, err
  end
  return summary
end

return relay
