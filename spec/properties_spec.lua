-- Property checks of the Lua code that meets untrusted text: error bodies
-- (dify.errors) and URL paths and queries (dify.request). Random inputs from
-- a seeded generator; a failure names the seed and the run to replay it.
--
--   DIFY_PROPERTY_RUNS=n      runs per property (default 300)
--   DIFY_PROPERTY_SECONDS=s   or: keep going for s seconds of CPU per property
--   DIFY_PROPERTY_SEED=n      the first seed (default 1)
-- `make fuzz` runs them for longer.
local errors = require("dify.errors")
local json = require("dify.json")
local request = require("dify.request")

local RUNS = tonumber(os.getenv("DIFY_PROPERTY_RUNS")) or 300
local SECONDS = tonumber(os.getenv("DIFY_PROPERTY_SECONDS"))
local FIRST_SEED = tonumber(os.getenv("DIFY_PROPERTY_SEED")) or 1

-- Calls check(run) with the generator seeded per run; returns the runs made.
local function for_all(name, check)
  local started, run = os.clock(), 0
  while true do
    if SECONDS then
      if os.clock() - started >= SECONDS then break end
    elseif run >= RUNS then
      break
    end
    local seed = FIRST_SEED + run
    math.randomseed(seed)
    local ok, why = pcall(check)
    if not ok then
      error(("%s: failed with DIFY_PROPERTY_SEED=%d: %s"):format(name, seed, tostring(why)), 0)
    end
    run = run + 1
  end
  if os.getenv("DIFY_PROPERTY_REPORT") then
    io.stderr:write(("property %s: %d runs, 0 failures\n"):format(name, run))
  end
  return run
end

local TOKENS = { "<", ">", "</", "<script>", "</script>", "<script", "<style>", "</style>", "<b>",
  "&nbsp;", " ", "\n", "\r\n", "\t", "a", "Z", "0", "é", "\226\130\172", "{", "}", "[", "]", '"',
  ":", ",", "null", "true", "code", "message", "status", "\0", "\27[2J", "%", "/", "?", "#", ".",
  "..", "app-secret-1234", "\255" }

local function random_bytes(max_len)
  local n, out = math.random(0, max_len), {}
  for i = 1, n do out[i] = string.char(math.random(0, 255)) end
  return table.concat(out)
end

local function random_tokens(max_count)
  local out = {}
  for i = 1, math.random(0, max_count) do out[i] = TOKENS[math.random(#TOKENS)] end
  return table.concat(out)
end

local function random_text(max_len)
  local mode = math.random(3)
  if mode == 1 then return random_bytes(max_len) end
  if mode == 2 then return random_tokens(math.floor(max_len / 2)) end
  local s = random_tokens(8)
  return s .. ("<"):rep(math.random(0, max_len)) .. s
end

local function random_value(depth)
  local pick = math.random(depth > 2 and 5 or 7)
  if pick == 1 then return random_text(40) end
  if pick == 2 then return math.random(-1000, 1000) / (math.random(1, 3)) end
  if pick == 3 then return math.random(2) == 1 end
  if pick == 4 then return json.null end
  if pick == 5 then return random_tokens(6) end
  local t = {}
  for _ = 1, math.random(0, 4) do
    if pick == 6 then t[#t + 1] = random_value(depth + 1) else t[random_tokens(2)] = random_value(depth + 1) end
  end
  return t
end

local function random_body()
  local kind = math.random(4)
  if kind == 1 then
    local fields = {}
    for _, key in ipairs{ "code", "message", "status", "params" } do
      if math.random(3) > 1 then fields[key] = random_value(1) end
    end
    return json.encode(fields) or "{}"
  end
  if kind == 2 then return "<html><head><title>" .. random_text(30) .. "</title></head><body>" ..
    random_text(600) .. "</body></html>" end
  if kind == 3 then return random_tokens(300) end
  return random_text(1200)
end

local function is_valid_utf8(s)
  return utf8 == nil or utf8.len(s) ~= nil
end

describe("errors.from_response, on arbitrary bodies", function()
  it("never raises and always gives a readable error of a known kind", function()
    for_all("from_response", function()
      local status = math.random(100, 599)
      local headers = math.random(2) == 1 and { ["retry-after"] = random_tokens(3) } or {}
      local body = random_body()
      local ok, err = pcall(errors.from_response, status, headers, body)
      assert(ok, err)
      assert(errors.is(err), "not an error value")
      assert(err.kind == "api" or err.kind == "http", err.kind)
      assert(err.status == status)
      assert(type(err.message) == "string", "message is not a string")
      assert(err.code == nil or type(err.code) == "string" or type(err.code) == "number",
        "code is a " .. type(err.code))
      assert(err.retry_after == nil or (err.retry_after >= 0 and err.retry_after < math.huge),
        "retry_after " .. tostring(err.retry_after))
      assert(type(tostring(err)) == "string")
    end)
  end)

  it("keeps an excerpt of a non-Dify body short, tag-free, on one line and valid UTF-8", function()
    for_all("excerpt", function()
      local body = random_body()
      local err = errors.from_response(502, {}, body)
      if err.kind == "http" then
        local m = err.message
        assert(#m <= 203, "excerpt of " .. #m .. " bytes")
        assert(not m:find("<[^>]*>"), "a tag in the excerpt: " .. m)
        assert(not m:find("%c"), "a control character in the excerpt")
        assert(m ~= "" and not m:find("^ ") and not m:find(" $"))
        if is_valid_utf8(body) then assert(is_valid_utf8(m), "the excerpt split a character") end
      end
    end)
  end)

  it("reads a megabyte of '<' as text in linear time (no pattern backtracking)", function()
    -- Quadratic stripping took minutes here; the suite's own time limit is the check.
    local err = errors.from_response(502, {}, ("<"):rep(2 ^ 20))
    assert.equal("http", err.kind)
    assert.is_true(#err.message <= 203)
  end)

  it("redacts a key wherever it appears in the message or code", function()
    for_all("redact", function()
      local key = "app-" .. random_tokens(2):gsub("[^%w]", "") .. math.random(1000, 9999)
      local body = json.encode{ code = random_tokens(2) .. key .. random_tokens(2),
        message = random_tokens(3) .. key .. random_tokens(3) .. key }
      local err = errors.redact(errors.from_response(401, {}, body), key)
      assert(not tostring(err):find(key, 1, true), "the key is in the error")
    end)
  end)
end)

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function random_id()
  local pick = math.random(6)
  if pick == 1 then return random_bytes(24) end
  if pick == 2 then return ("."):rep(math.random(1, 3)) end
  if pick == 3 then return math.floor(math.random() * 2 ^ 40) end -- 5.1: no integer range that wide
  if pick == 4 then return random_tokens(5) end
  if pick == 5 then return "../" .. random_tokens(3) end
  return ("%08x-%04x"):format(math.random(0, 2 ^ 31 - 1), math.random(0, 65535))
end

describe("request.path, on arbitrary ids", function()
  local route = { name = "probe", path = "/conversations/{conversation_id}/variables/{variable_id}" }

  it("puts every id in exactly one segment that decodes back to it", function()
    for_all("path", function()
      local a, b = random_id(), random_id()
      if a == "" or b == "" then
        assert(not pcall(request.path, route, { conversation_id = a, variable_id = b }, 1))
        return
      end
      local path = request.path(route, { conversation_id = a, variable_id = b }, 1)
      local seg_a, seg_b = path:match("^/conversations/([^/]+)/variables/([^/]+)$")
      assert(seg_a and seg_b, "not two segments: " .. path)
      for _, pair in ipairs{ { seg_a, a }, { seg_b, b } } do
        local seg, id = pair[1], pair[2]
        assert(seg:match("^[%w%-%._~%%]+$"), "unsafe byte in " .. seg)
        assert(seg ~= "." and seg ~= "..", "a dot segment")
        assert(unescape(seg) == tostring(id), "does not decode back: " .. seg)
      end
    end)
  end)

  it("raises on an id that is not a non-empty string or number", function()
    for _, bad in ipairs{ "", true, {}, function() end } do
      assert.has_error(function() request.path(route, { conversation_id = bad, variable_id = "x" }, 1) end)
    end
  end)
end)

describe("request.query, on arbitrary fields", function()
  local function as_text(v)
    if type(v) == "boolean" then return v and "true" or "false" end
    return tostring(v)
  end

  it("round-trips every key and value, arrays repeating their key", function()
    for_all("query", function()
      local fields, expected = {}, {}
      for _ = 1, math.random(0, 6) do
        local key = random_tokens(3) .. random_bytes(3)
        local pick = math.random(4)
        local value = {}
        if pick == 1 then value = random_bytes(20)
        elseif pick == 2 then value = math.random(-100, 100)
        elseif pick == 3 then value = math.random(2) == 1
        else
          for i = 1, math.random(0, 3) do value[i] = random_tokens(3) end
        end
        fields[key] = value
      end
      for key, value in pairs(fields) do
        local list = {}
        for _, item in ipairs(type(value) == "table" and value or { value }) do list[#list + 1] = as_text(item) end
        if #list > 0 then expected[key] = list end
      end
      local query = request.query(fields)
      assert(query:match("^[%w%-%._~%%=&]*$"), "unsafe byte in the query")
      local got = {}
      for pair in query:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=([^=]*)$")
        assert(k, "not key=value: " .. pair)
        k = unescape(k)
        got[k] = got[k] or {}
        table.insert(got[k], unescape(v))
      end
      assert.same(expected, got)
    end)
  end)
end)
