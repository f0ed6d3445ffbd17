--- A small cooperative scheduler over coroutines and socket.select.
--
-- Every connection is served by its own coroutine.  A coroutine never blocks
-- the process: when a socket has nothing to read, cannot take more bytes, or
-- the handler wants to pause (stall/drip faults), it yields to the loop, which
-- waits on all sockets and timers at once.  That is what lets one stream sit
-- stalled while another connection asks to stop it.  (copas would do this,
-- but Debian packages it only for Lua 5.1/5.2.)

local socket = require("socket")

local loop = {}
loop.__index = loop

-- Upper bound on one select() wait.  The Lua interpreter turns ctrl-c into an
-- error only when Lua code runs, so the loop must wake up now and then.
local MAX_WAIT = 0.5

local READY = { kind = "ready" }

--- Creates an empty scheduler.
function loop.new()
  return setmetatable({ tasks = {}, running = false }, loop)
end

--- Starts `fn(...)` as a new task; it first runs on the next turn of the loop.
function loop:spawn(fn, ...)
  self.tasks[#self.tasks + 1] = {
    co = coroutine.create(fn),
    wait = READY,
    start_args = table.pack(...),
  }
end

-- The three ways a task waits.  They may only be called from inside a task.

--- Suspends the calling task until `sock` has bytes (or EOF) to read.
function loop.wait_readable(sock)
  coroutine.yield("read", sock)
end

--- Suspends the calling task until `sock` can take more bytes.
function loop.wait_writable(sock)
  coroutine.yield("write", sock)
end

--- Suspends the calling task for `seconds` (0 just lets the others run).
function loop.sleep(seconds)
  coroutine.yield("sleep", socket.gettime() + seconds)
end

-- Runs a task until it waits again (or ends), and notes what it waits for.
local function resume(task)
  local ok, kind, arg
  if task.start_args then
    local args = task.start_args
    task.start_args = nil
    ok, kind, arg = coroutine.resume(task.co, table.unpack(args, 1, args.n))
  else
    ok, kind, arg = coroutine.resume(task.co)
  end
  if not ok then
    io.stderr:write("dify-mock: task failed: ", tostring(kind), "\n")
    task.done = true
  elseif coroutine.status(task.co) == "dead" then
    task.done = true
  elseif kind == "read" or kind == "write" then
    task.wait = { kind = kind, sock = arg }
  elseif kind == "sleep" then
    task.wait = { kind = "sleep", deadline = arg }
  else
    task.wait = READY
  end
end

--- Runs one turn: waits until some task can proceed, then resumes those tasks.
function loop:step()
  local now = socket.gettime()
  local timeout = MAX_WAIT
  local runnable = {}
  local readers, writers = {}, {}
  local task_of = {}

  for _, task in ipairs(self.tasks) do
    local wait = task.wait
    if wait.kind == "ready" then
      runnable[#runnable + 1] = task
    elseif wait.kind == "sleep" then
      if wait.deadline <= now then
        runnable[#runnable + 1] = task
      else
        timeout = math.min(timeout, wait.deadline - now)
      end
    elseif wait.kind == "read" and wait.sock:dirty() then
      -- LuaSocket already buffered bytes that select() cannot see
      runnable[#runnable + 1] = task
    else
      local list = wait.kind == "read" and readers or writers
      list[#list + 1] = wait.sock
      task_of[wait.sock] = task
    end
  end

  if #runnable > 0 then
    timeout = 0
  end
  if #readers > 0 or #writers > 0 then
    local readable, writable = socket.select(readers, writers, timeout)
    for _, sock in ipairs(readable) do
      runnable[#runnable + 1] = task_of[sock]
    end
    for _, sock in ipairs(writable) do
      runnable[#runnable + 1] = task_of[sock]
    end
  elseif timeout > 0 then
    socket.sleep(timeout)
  end

  for _, task in ipairs(runnable) do
    resume(task)
  end

  local alive = {}
  for _, task in ipairs(self.tasks) do
    if not task.done then
      alive[#alive + 1] = task
    end
  end
  self.tasks = alive
end

--- Runs until stop() is called or no task is left.
function loop:run()
  self.running = true
  while self.running and #self.tasks > 0 do
    self:step()
  end
end

--- Makes run() return after the current turn.
function loop:stop()
  self.running = false
end

return loop
