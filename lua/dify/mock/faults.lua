--- Misbehaviour on demand, driven by the request header
--   X-Mock-Fault: name[:arg], name[:arg], ...
-- Faults only ever apply to the request that carries the header.
--
--   split1               body bytes one per write (one per chunk when chunked)
--   crlf | cr            SSE lines end in CRLF / CR only
--   ping:N               N `event: ping` frames before the first event
--   comment              a `: keep-alive` comment line before each frame
--   bom                  a UTF-8 BOM before the first byte of the stream
--   stall:S              after the first event, nothing for S seconds (for whole
--                        responses: wait S seconds before answering)
--   drip:MS              MS milliseconds between frames / chunks
--   close_mid            after the first event, half of the next frame, then hang up
--   cut_frame            after the first event, half of the next frame, then a clean end
--   no_terminal          leave out the terminal event, end the body cleanly
--   error_event          after the first message event, an `error` event, end
--   bad_json             one extra frame `data: {not json` after the first event
--   status:CODE[:code]   answer CODE with a Dify error body
--   html:CODE            answer CODE with an HTML page (proxy error)
--   retry_after:N        add `Retry-After: N` (implies status 429 if none given)
--   big:N                the answer is N bytes (one message event when streaming)
--   indexing:STATUS      indexing-status reports every document in STATUS
--   redirect:CODE        answer CODE with a Location header (a client must not follow a POST)
--   gzip                 a canned chat answer, gzip-encoded (Content-Encoding: gzip)
--   close_delimited      bodies have neither Content-Length nor chunking: they end at close
--   empty200             answer 200 with an empty body
--   hangup               read the request, then close without answering
--   times:N              the other faults apply to the first N requests carrying this same
--                        header value only; later ones are served normally
--   old_server           the hyphenated create-by/update-by routes are unknown (404)
--   no_index             an older-style server: /v1/ is unknown (Flask's HTML 404) and
--                        the host root / answers 200 {"version": ...} with X-Version
--   parallel_branches    workflow streams also carry parallel_branch_started/finished
--                        around their iteration, as Dify up to 1.8 sent them
--   no_message_end       a chatflow stream ends at workflow_finished without message_end
--                        (what Dify 1.13.0 sent)
--   version:X.Y.Z        a server of that Dify version: X-Version and the index say so,
--                        and the routes Dify added later are unknown (Flask's 404 page,
--                        or 405 where the path has other methods)

local http = require("dify.mock.http")
local json = require("dify.mock.json")
local util = require("dify.mock.util")

local faults = {}

local NUMERIC = { ping = true, stall = true, drip = true, big = true, html = true, redirect = true,
  times = true }
local FLAGS = {
  split1 = true, crlf = true, cr = true, comment = true, bom = true,
  close_mid = true, cut_frame = true, no_terminal = true, error_event = true, bad_json = true,
  old_server = true, gzip = true, close_delimited = true, empty200 = true, hangup = true,
  no_index = true, parallel_branches = true, no_message_end = true,
}
local DEFAULTS = { ping = 1, stall = 1, drip = 50, html = 502, redirect = 302, times = 1 }

--- Parses the header value into a table of faults (empty when absent).
function faults.parse(header)
  local active = {}
  for item in (header or ""):gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    local name, arg = item:match("^([%w_]+):?(.*)$")
    if not name then
      goto continue
    end
    name = name:lower()
    if FLAGS[name] then
      active[name] = true
    elseif NUMERIC[name] then
      active[name] = tonumber(arg) or DEFAULTS[name]
    elseif name == "status" then
      local code, dify_code = arg:match("^(%d%d%d):?(.*)$")
      active.status = tonumber(code) or 500
      active.status_code = dify_code ~= "" and dify_code or nil
    elseif name == "indexing" then
      active.indexing = arg ~= "" and arg or "waiting"
    elseif name == "version" then
      active.version = arg:match("^%d+%.%d+%.%d+$")
    elseif name == "retry_after" then
      active.retry_after = arg ~= "" and arg or "1"
    end
    ::continue::
  end
  return active
end

--- True when the faults replace the answer with an error page/body.
function faults.replaces_answer(active)
  return active.status ~= nil or active.html ~= nil or active.retry_after ~= nil
    or active.redirect ~= nil or active.gzip or active.empty200 or active.hangup
end

-- {"event":"message","answer":"compressed hello",...} gzipped with mtime 0, so that a
-- client's decoding is tested against bytes no Lua code here produced.
-- luacheck: push no max line length
local GZIPPED_ANSWER = "\31\139\8\0\0\0\0\0\2\255\77\140\65\10\128\48\12\4\191\34\57\235\7\252\140\132\54\212\162\77\164\41\21\20\255\110\4\169\30\119\118\152\19\168\18\23\24\33\145\42\6\130\30\144\117\167\108\200\73\218\178\97\242\221\76\235\42\246\57\225\74\89\177\68\225\41\122\147\194\49\252\161\57\111\169\221\95\185\160\46\13\63\3\174\27\125\164\228\130\129\0\0\0"
-- luacheck: pop

local DIFY_CODES = {
  [400] = "invalid_param", [401] = "unauthorized", [403] = "forbidden",
  [404] = "not_found", [413] = "file_too_large", [415] = "unsupported_file_type",
  [429] = "too_many_requests", [500] = "internal_server_error",
  [502] = "bad_gateway", [503] = "service_unavailable", [504] = "gateway_timeout",
}

local MESSAGES = {
  [400] = "Invalid parameter (simulated).",
  [401] = "Access token is invalid",
  [403] = "Forbidden (simulated).",
  [404] = "The requested URL was not found on the server (simulated).",
  [429] = "Too many requests, please try again later (simulated).",
  [500] = "Internal Server Error (simulated).",
  [503] = "Service Unavailable (simulated).",
}

local function html_page(status)
  local title = ("%d %s"):format(status, http.REASONS[status] or "Error")
  -- padded well past any "short excerpt" a client would keep
  local filler = ("<!-- a padding comment to make the page long -->\n"):rep(60)
  return table.concat({
    "<!DOCTYPE html>\n<html>\n<head><title>", title, "</title></head>\n",
    "<body>\n<center><h1>", title, "</h1></center>\n<hr><center>nginx</center>\n",
    filler, "</body>\n</html>\n",
  })
end

--- Sends the error answer the faults ask for (see replaces_answer).
function faults.respond(res, active)
  if active.hangup then
    return res:abort()
  elseif active.gzip then
    return res:send(200, { { "Content-Type", "application/json" }, { "Content-Encoding", "gzip" } },
      GZIPPED_ANSWER)
  elseif active.empty200 then
    return res:send(200, { { "Content-Type", "application/json" } }, "")
  elseif active.redirect then
    return res:send(active.redirect, { { "Location", "/v1/elsewhere" }, { "Content-Type", "text/html" } },
      "<html><body>Moved</body></html>")
  end
  local status = active.html or active.status or 429
  local headers = {}
  if active.retry_after and status == 429 then
    headers[#headers + 1] = { "Retry-After", active.retry_after }
  end
  if active.html then
    headers[#headers + 1] = { "Content-Type", "text/html; charset=utf-8" }
    res:send(status, headers, html_page(status))
    return
  end
  local code = active.status_code or DIFY_CODES[status] or ("http_" .. status)
  local message = MESSAGES[status] or ("Simulated HTTP %d."):format(status)
  headers[#headers + 1] = { "Content-Type", "application/json" }
  res:send(status, headers, json.encode(util.error_body(status, code, message)))
end

return faults
