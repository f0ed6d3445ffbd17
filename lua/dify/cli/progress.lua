--- A one-line progress bar for a terminal, redrawn in place with `\r`.
-- @module dify.cli.progress

local progress = {}

local WIDTH = 30

local function human(bytes)
  if bytes >= 2 ^ 20 then return ("%.1f MiB"):format(bytes / 2 ^ 20) end
  if bytes >= 2 ^ 10 then return ("%.1f KiB"):format(bytes / 2 ^ 10) end
  return ("%d B"):format(bytes)
end

--- The bar's text for `done` of `total` bytes (total 0: unknown).
-- @tparam string label what moves, e.g. a file name
-- @tparam number done bytes so far
-- @tparam number total bytes in all, or 0
-- @treturn string one line, without `\r` or newline
function progress.line(label, done, total)
  if total <= 0 then return ("%s %s"):format(label, human(done)) end
  local fraction = math.min(done / total, 1)
  local filled = math.floor(fraction * WIDTH + 0.5)
  return ("%s [%s%s] %3d%% %s / %s"):format(label, ("#"):rep(filled), ("."):rep(WIDTH - filled),
    math.floor(fraction * 100 + 0.5), human(done), human(total))
end

--- Returns an `on_progress` callback drawing the upload's bar on `out`, and a
-- function that ends the line.
-- @tparam file out where to draw (a terminal)
-- @tparam string label what moves
function progress.bar(out, label)
  local last = nil
  local function draw(sent, total)
    local text = progress.line(label, sent, total)
    if text ~= last then
      out:write("\r", text)
      out:flush()
      last = text
    end
  end
  local function finish()
    if last then out:write("\n") end
  end
  return draw, finish
end

return progress
