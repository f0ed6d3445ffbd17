--- Whether a process still runs: the fake server ends with the process that
-- started it, and the specs wait for the servers they stop. The specs load
-- this file by path and run on every Lua (5.1-5.4, LuaJIT), so it keeps to
-- what all of them have.

local process = {}

--- Whether process `pid` runs. Linux keeps an exited process as a zombie
-- (state Z) until its parent reaps it, and `kill -0` still succeeds on a
-- zombie, so /proc decides wherever there is one.
function process.alive(pid)
  local stat = io.open("/proc/" .. pid .. "/stat")
  if stat then
    local line = stat:read("*l") or ""
    stat:close()
    return not line:match("^%d+ %b() Z")
  end
  local own_stat = io.open("/proc/self/stat")
  if own_stat then
    own_stat:close()
    return false -- /proc works, so the process is gone
  end
  local ok = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return ok == true or ok == 0 -- Lua 5.1 answers with the exit status
end

return process
