-- The Neovim proof (issue 14): `nvim --headless` streams a slow answer from
-- the fake server (events 50 ms apart) while a 10 ms vim.loop timer ticks and
-- keys are typed. In a dify.spawn task the timer and the keys go on between
-- events; on the blocking API they stop for the whole stream. Counted, not
-- timed. Then the example plugin's :DifyChat streams into a buffer.
-- Neovim runs its own LuaJIT: dify/core.so comes from `make LUA=luajit`.
local support = require("spec.support")

local function succeeds(command)
  local ok, _, code = os.execute(command)
  if type(ok) == "number" then return ok == 0 end -- Lua 5.1
  return ok == true and (code == nil or code == 0)
end

local function shell(command)
  local pipe = assert(io.popen(command .. " 2>&1"))
  local out = pipe:read("*a")
  pipe:close()
  return out
end

local has_nvim = succeeds("command -v nvim >/dev/null 2>&1")
local why_not
if not has_nvim then
  why_not = "neovim is not installed (apt-get install luajit2 neovim; scripts/ci-hostloops does)"
elseif not succeeds("make --no-print-directory LUA=luajit >/dev/null 2>&1") then
  why_not = "dify/core.so cannot be built for LuaJIT (apt-get install luajit2 libluajit2-5.1-dev)"
end

if why_not then
  describe("Neovim", function() pending(why_not) end)
  return
end

local LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;"
local LUA_CPATH = "./build/luajit/?.so;;"

-- Runs nvim headless with the env, init file (NONE: with LUA_PATH and
-- LUA_CPATH set for it) and commands given; returns its output.
local function nvim(env, init, commands)
  -- Neither a sanitizer's preloaded runtime nor valgrind follows into nvim: its LuaJIT is not under test.
  local words = { "env", "-u", "LD_PRELOAD", "-u", "LUA_PATH", "-u", "LUA_CPATH" }
  for k, v in pairs(env) do words[#words + 1] = ("%s='%s'"):format(k, v) end
  if init == "NONE" then words[#words + 1] = ("LUA_PATH='%s' LUA_CPATH='%s'"):format(LUA_PATH, LUA_CPATH) end
  words[#words + 1] = ("timeout 30 nvim --headless -u '%s' -i NONE -n"):format(init)
  for _, c in ipairs(commands) do words[#words + 1] = ("-c '%s'"):format(c) end
  return shell(table.concat(words, " ") .. " </dev/null")
end

-- The README's init.lua for the plugin, pointed at this checkout and the fake server.
local function readme_init(base_url)
  local readme = assert(support.read_file("README.md"))
  local block = readme:match("then in your `init%.lua`:%s*```lua\n(.-)```")
  assert(block, "README.md has no init.lua block for the Neovim plugin")
  local pwd = shell("pwd"):gsub("%s+$", "")
  block = block:gsub('"/path/to/lua%-dify"', ("%q"):format(pwd))
    :gsub('"https://api%.dify%.ai/v1"', ("%q"):format(base_url))
  local path = os.tmpname()
  os.remove(path)
  path = path .. ".lua" -- nvim -u sources any other name as Vim script
  local f = assert(io.open(path, "w"))
  f:write(block)
  f:close()
  return path
end

local function read_result(path)
  local text = support.read_file(path)
  assert(text, "nvim wrote no result")
  local r = {}
  for key, value in text:gmatch("([%w_]+)=([^\n]*)") do r[key] = value end
  local function numbers(s)
    local list = {}
    for n in s:gmatch("%d+") do list[#list + 1] = tonumber(n) end
    return list
  end
  r.ticks, r.typed, r.events = numbers(r.ticks or ""), numbers(r.typed or ""), tonumber(r.events)
  return r
end

local QUERY = "explain this function to me in twelve short words please now"

describe("Neovim (nvim --headless, LuaJIT)", function()
  local srv
  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  local function proof(mode)
    local out = os.tmpname()
    local output = nvim({ DIFY_BASE_URL = srv.url, DIFY_PROOF_MODE = mode, DIFY_PROOF_OUT = out }, "NONE",
      { "luafile spec/neovim/proof.lua" })
    local r = read_result(out)
    os.remove(out)
    assert.equal("true", r.ok, tostring(r.error) .. output)
    -- The answer arrived whole, into the buffer too.
    assert.equal("Echo: " .. QUERY, r.answer)
    assert.equal(r.answer, r.buffer)
    assert.equal(12, r.events)
    return r
  end

  it("streams in a dify.spawn task while the loop's timer ticks and typed keys land between events", function()
    local r = proof("task")
    -- The timer kept firing between the first and the last event: the events fell in
    -- many ticks (on the blocking API, all in one).
    local seen, distinct = {}, 0
    for _, t in ipairs(r.ticks) do
      if not seen[t] then seen[t], distinct = true, distinct + 1 end
    end
    assert.is_true(r.ticks[#r.ticks] > r.ticks[1])
    assert.is_true(distinct >= #r.ticks / 2, distinct .. " ticks")
    assert.is_true(r.typed[#r.typed] > r.typed[1])
  end)

  it("on the blocking API, the same timer fires not once during the stream, and no key lands", function()
    local r = proof("blocking")
    assert.equal(r.ticks[1], r.ticks[#r.ticks])
    assert.equal(r.typed[1], r.typed[#r.typed])
  end)

  it("the example plugin, set up as the README says, streams :DifyChat's answer into a buffer while typing goes on",
    function()
    local out, init = os.tmpname(), readme_init(srv.url)
    local output = nvim({ DIFY_API_KEY = "app-neovim-plugin", DIFY_PROOF_OUT = out }, init,
      { "luafile spec/neovim/plugin_check.lua" })
    local r = read_result(out)
    os.remove(out)
    os.remove(init)
    assert.equal("Bearer app-neovim-plugin", srv.last("/chat%-messages$").headers.authorization)
    assert.equal("true", r.ok, tostring(r.error) .. output)
    assert.equal("Echo: what does this plugin do", r.buffer)
    assert.is_true(tonumber(r.typed_during) > 0)
  end)
end)
