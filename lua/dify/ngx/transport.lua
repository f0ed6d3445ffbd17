--- The transport `dify.new` uses inside nginx: requests go through cosockets
-- (`ngx.socket.tcp`), so a call waits without blocking the worker, and
-- connections are kept in nginx's keep-alive pool. It has the two methods of
-- the C core's session, with the same results:
--
--   transport:request(req) -> status, headers, body | nil, kind, message, which, sent
--   transport:stream(req)  -> status, headers, stream_or_body | nil, kind, message, which, sent
--
-- In phases without cosockets it falls back to libcurl where blocking is
-- harmless (init, init_worker) and refuses elsewhere.
-- @module dify.ngx.transport
-- luacheck: read globals ngx
local ngx = ngx
local http = require("dify.ngx.http")
local multipart = require("dify.ngx.multipart")
local NgxStream = require("dify.ngx.stream")

local transport = {}

local DEFAULT_MAX_BODY = 64 * 1024 * 1024
local DEFAULT_MAX_EVENT = 16 * 1024 * 1024
local MAX_ATTEMPTS = 3 -- pooled connections that turn out dead before answering

-- Phases where cosockets work (lua-nginx-module's documentation).
local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}
-- Phases that run before the worker serves anyone: a blocking call is harmless there.
local BLOCKING_PHASES = { init = true, init_worker = true }

--- True inside nginx's Lua module.
function transport.in_nginx()
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
    and type(ngx.socket) == "table" and type(ngx.socket.tcp) == "function"
end

local Transport = {}
Transport.__index = Transport

local function ms(seconds, default_seconds)
  seconds = seconds or default_seconds
  if seconds == 0 then return http.NO_LIMIT_MS end
  return math.max(1, math.floor(seconds * 1000 + 0.5))
end

--- Makes the transport from `dify.new`'s options.
-- @tparam table opts the client's options (timeouts, verify_tls, limits, and
--  `keepalive_timeout` (60 s) and `keepalive_pool` (32) for the pool)
-- @tparam string user_agent
-- @tparam function make_curl_session returns a libcurl session (for init phases)
function transport.new(opts, user_agent, make_curl_session)
  if opts.proxy ~= nil then
    error("dify.new: proxy is not supported inside nginx (cosockets connect directly)", 3)
  end
  for _, key in ipairs{ "keepalive_timeout", "keepalive_pool" } do
    if opts[key] ~= nil and (type(opts[key]) ~= "number" or opts[key] < 0) then
      error("dify.new: " .. key .. " must be a number >= 0", 3)
    end
  end
  local timeout = opts.timeout or 60
  return setmetatable({
    settings = {
      connect_ms = ms(opts.connect_timeout, 10),
      verify_tls = opts.verify_tls ~= false,
      pool_size = opts.keepalive_pool or 32,
    },
    timeout = timeout ~= 0 and timeout or nil,
    idle_ms = ms(opts.idle_timeout, 300),
    keepalive_ms = ms(opts.keepalive_timeout, 60),
    max_body_size = opts.max_body_size or DEFAULT_MAX_BODY,
    max_event_size = opts.max_event_size or DEFAULT_MAX_EVENT,
    user_agent = user_agent,
    make_curl_session = make_curl_session,
  }, Transport)
end

-- Decides how this call travels: true for cosockets, else the libcurl session.
function Transport:_route()
  local phase = ngx.get_phase()
  if COSOCKET_PHASES[phase] then return true end
  if BLOCKING_PHASES[phase] then
    if not self.curl_session then self.curl_session = self.make_curl_session() end
    return false, self.curl_session
  end
  error(("dify: cannot call Dify in nginx's %s phase (no cosockets there); "
    .. "do it in a content/access/rewrite handler or an ngx.timer"):format(tostring(phase)), 3)
end

local function request_head(conn, req, user_agent, body_length, content_type)
  local out = { req.method, " ", conn.target, " HTTP/1.1\r\n" }
  local has = {}
  for _, line in ipairs(req.headers or {}) do
    if type(line) ~= "string" or line:find("[\r\n%z]") then
      error("headers must be strings without CR, LF or NUL", 4)
    end
    local name = line:match("^([^:]+):")
    if name then has[name:lower()] = true end
    out[#out + 1] = line
    out[#out + 1] = "\r\n"
  end
  if not has.host then out[#out + 1] = "Host: " .. conn.authority .. "\r\n" end
  if not has["user-agent"] and user_agent then out[#out + 1] = "User-Agent: " .. user_agent .. "\r\n" end
  if content_type then out[#out + 1] = "Content-Type: " .. content_type .. "\r\n" end
  if body_length then out[#out + 1] = "Content-Length: " .. body_length .. "\r\n" end
  out[#out + 1] = "\r\n"
  return out
end

local function boundary()
  return ("------------------------luadify%x%x%06x"):format(
    math.floor(ngx.now() * 1000), ngx.worker.pid(), math.random(0, 0xffffff))
end

-- Sends the head and body; returns true or nil, kind, message, which.
function Transport:_send(conn, req, plan, progress)
  local body = req.body
  if plan then
    local head = request_head(conn, req, self.user_agent, plan.length, plan.content_type)
    local ok, kind, message, which = conn:send(head, http.NO_LIMIT_MS)
    if not ok then return nil, kind, message, which end
    return multipart.each_block(plan, function(block)
      local sent, k, m, w = conn:send(block, http.NO_LIMIT_MS)
      if sent then progress.up(#block) end
      return sent, k, m, w
    end)
  end
  local length = (body or req.method == "POST" or req.method == "PUT" or req.method == "PATCH")
    and #(body or "") or nil
  local head = request_head(conn, req, self.user_agent, length)
  if body and body ~= "" then head[#head + 1] = body end
  local ok, kind, message, which = conn:send(head, http.NO_LIMIT_MS)
  if ok and body then progress.up(#body) end
  return ok, kind, message, which
end

-- on_progress(sent, total, received, total_received), called when a count moves.
local function progress_reporter(callback, upload_total)
  local counts = { 0, upload_total, 0, 0 }
  local function report()
    if callback then callback(counts[1], counts[2], counts[3], counts[4]) end
  end
  return {
    up_total = function(n) counts[2] = n end,
    up = function(n) counts[1] = counts[1] + n; report() end,
    down_total = function(n) counts[4] = n end,
    down = function(n) counts[3] = counts[3] + n; report() end,
  }
end

-- Connects, sends, reads the head; retries when a pooled connection turns
-- out dead before answering, as long as nothing can have been done twice.
-- Returns conn, status, headers, or nil, kind, message, which, sent.
function Transport:_exchange(req, deadline, progress, head_ms, head_which, first_event_deadline)
  local plan
  if req.parts and #req.parts > 0 then
    local why
    plan, why = multipart.plan(req.parts, boundary())
    if not plan then return nil, "io", why end
    progress.up_total(plan.length)
  end
  local has_body = plan or (req.body and req.body ~= "")
  for attempt = 1, MAX_ATTEMPTS do
    local conn, kind, message, which = http.connect(req.url, self.settings, deadline)
    if not conn then return nil, kind, message, which, false end
    conn.first_event_deadline = first_event_deadline
    local sent_ok
    sent_ok, kind, message, which = self:_send(conn, req, plan, progress)
    local status, headers
    if sent_ok then
      status, kind, message, which = conn:read_head(head_ms, head_which, req.method)
      headers = kind
    end
    if status then return conn, status, headers end
    conn:close()
    -- A dead pooled connection fails the send, or answers nothing at all. A
    -- body that left whole may have reached Dify: never send it twice.
    local stale = conn.reused and not conn.got_bytes and kind == "network"
    if not (stale and (not sent_ok or not has_body) and attempt < MAX_ATTEMPTS) then
      if stale and has_body then
        message = "connection lost after the request was sent; not resent"
      end
      return nil, kind, message, which, conn.sent
    end
  end
end

local function deadline_for(seconds)
  if not seconds or seconds == 0 then return nil end
  ngx.update_time()
  return ngx.now() + seconds
end

-- Reads the whole body of a non-streamed answer into memory or `output`.
-- Returns the body (or true when sunk), or nil, kind, message, which.
function Transport:_read_body(conn, status, req, progress)
  local sink, file
  local success = status >= 200 and status <= 299
  if success and type(req.output) == "string" then
    local why
    file, why = io.open(req.output, "wb")
    if not file then return nil, "io", "cannot open " .. req.output .. ": " .. tostring(why) end
    sink = function(piece)
      local ok, write_err = file:write(piece)
      if not ok then return nil, "cannot write output: " .. tostring(write_err) end
      return true
    end
  elseif success and type(req.output) == "function" then
    local output = req.output
    sink = function(piece) output(piece); return true end
  end
  local parts, size = {}, 0
  local function finish(...)
    if file then file:close() end
    return ...
  end
  if conn.framing == "length" then progress.down_total(conn.left) end
  while true do
    local called, piece, kind, message, which = pcall(conn.read_piece, conn, http.NO_LIMIT_MS, "total")
    if not called then
      if file then file:close() end
      error(piece, 0)
    end
    if piece == false then break end
    if not piece then return finish(nil, kind, message, which) end
    if sink then
      local sunk, ok, why = pcall(sink, piece)
      if not sunk then
        if file then file:close() end
        error(ok, 0)
      end
      if not ok then return finish(nil, "io", why) end
    else
      size = size + #piece
      if size > self.max_body_size then
        return finish(nil, "protocol", ("response body larger than max_body_size (%d bytes)"):format(
          self.max_body_size))
      end
      parts[#parts + 1] = piece
    end
    local reported, report_err = pcall(progress.down, #piece)
    if not reported then
      if file then file:close() end
      error(report_err, 0)
    end
  end
  if file then
    local closed, why = file:close()
    file = nil
    if not closed then return nil, "io", "cannot write output: " .. tostring(why) end
  end
  if sink then return true end
  return table.concat(parts)
end

--- Sends one request and reads its whole answer (see the module comment).
function Transport:request(req)
  local use_cosocket, curl = self:_route()
  if not use_cosocket then return curl:request(req) end
  local upload_total = 0
  if req.body then upload_total = #req.body end
  local progress = progress_reporter(req.on_progress, upload_total)
  local deadline = deadline_for(req.timeout or self.timeout)
  local conn_holder = {}
  -- A callback's error (on_progress, output) is raised again once the socket is closed.
  local ok, status, headers, body, which, sent = pcall(function()
    local conn, st, hd, w, s = self:_exchange(req, deadline, progress, http.NO_LIMIT_MS, "total")
    if not conn then return nil, st, hd, w, s end
    conn_holder.conn = conn
    local result, kind, message, why = self:_read_body(conn, st, req, progress)
    if result == nil then
      conn:close()
      return nil, kind, message, why, true
    end
    conn:release(self.keepalive_ms, self.settings.pool_size)
    return st, hd, result
  end)
  if not ok then
    if conn_holder.conn then conn_holder.conn:close() end
    error(status, 0)
  end
  return status, headers, body, which, sent
end

--- Opens an event stream (see the module comment). A 2xx event stream comes
-- back as a stream object; any other answer as its whole body.
function Transport:stream(req)
  local use_cosocket, curl = self:_route()
  if not use_cosocket then return curl:stream(req) end
  if req.output or (req.parts and #req.parts > 0) then
    error("a stream takes neither output nor parts", 2)
  end
  -- Streams run for minutes: only silence (idle_timeout) ends them, unless the call sets timeout.
  local deadline = deadline_for(req.timeout)
  -- Counted from now, as libcurl's: pings and headers do not bring the answer closer.
  local conn, status, headers, which, sent = self:_exchange(req, deadline, progress_reporter(nil, 0),
    self.idle_ms, "idle", deadline_for(req.first_event_timeout))
  if not conn then return nil, status, headers, which, sent end
  local content_type = (headers["content-type"] or ""):lower()
  if status >= 200 and status <= 299 and content_type:find("^%s*text/event%-stream") then
    return status, headers, NgxStream.new(conn, {
      idle_ms = self.idle_ms, max_event_size = self.max_event_size,
      keepalive_ms = self.keepalive_ms, pool_size = self.settings.pool_size,
    })
  end
  conn.first_event_deadline = nil -- not an event stream: read the answer on the usual limits
  local body, kind, message, why = self:_read_body(conn, status, {}, progress_reporter(nil, 0))
  if body == nil then
    conn:close()
    return nil, kind, message, why, true
  end
  conn:release(self.keepalive_ms, self.settings.pool_size)
  return status, headers, body
end

--- Waits between retries: ngx.sleep where cosockets work (the worker goes on
-- serving), a plain sleep in init phases.
function Transport.sleep(_, seconds)
  if COSOCKET_PHASES[ngx.get_phase()] then return ngx.sleep(seconds) end
  return require("dify.core").sleep(seconds)
end

--- Drops the libcurl fallback session, if one was made; pooled cosockets
-- belong to nginx and close on their keep-alive timeout.
function Transport:close()
  if self.curl_session then
    self.curl_session:close()
    self.curl_session = nil
  end
end

return transport
