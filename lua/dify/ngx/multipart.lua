--- multipart/form-data bodies for the nginx transport, sent in pieces: a
-- part given by `path` is read from disk a block at a time, never whole.
-- @module dify.ngx.multipart
local multipart = {}

local BLOCK = 65536

-- Quotes and line breaks would end the header value early (HTML's form rules).
local function quoted(text)
  return '"' .. text:gsub('[\r\n"]', { ["\r"] = "%0D", ["\n"] = "%0A", ['"'] = "%22" }) .. '"'
end

local function file_size(path)
  local file, why = io.open(path, "rb")
  if not file then return nil, why end
  local size, seek_err = file:seek("end")
  file:close()
  if not size then return nil, seek_err end
  return size
end

--- Lays out the parts ({name, path|data, filename, content_type}).
-- Returns the body plan {content_type, length, pieces}, or nil and a message.
function multipart.plan(parts, boundary)
  local pieces, length = {}, 0
  local function add(piece, size)
    pieces[#pieces + 1] = piece
    length = length + size
  end
  for _, part in ipairs(parts) do
    local filename = part.filename or (part.path and part.path:match("[^/]+$"))
    local head = { "--", boundary, "\r\nContent-Disposition: form-data; name=", quoted(part.name) }
    if filename then head[#head + 1] = "; filename=" .. quoted(filename) end
    if part.content_type then head[#head + 1] = "\r\nContent-Type: " .. part.content_type end
    head[#head + 1] = "\r\n\r\n"
    local text = table.concat(head)
    add(text, #text)
    if part.path then
      local size, why = file_size(part.path)
      if not size then return nil, "cannot read " .. part.path .. ": " .. tostring(why) end
      add({ path = part.path, size = size }, size)
    else
      local data = part.data or ""
      add(data, #data)
    end
    add("\r\n", 2)
  end
  local tail = "--" .. boundary .. "--\r\n"
  add(tail, #tail)
  return {
    content_type = "multipart/form-data; boundary=" .. boundary,
    length = length,
    pieces = pieces,
  }
end

--- Calls send(bytes) for each piece in order, reading files a block at a time.
-- Returns true, or nil and what send returned after its nil (or an io error).
function multipart.each_block(plan, send)
  for _, piece in ipairs(plan.pieces) do
    if type(piece) == "string" then
      local ok, kind, message, which = send(piece)
      if not ok then return nil, kind, message, which end
    else
      local file, why = io.open(piece.path, "rb")
      if not file then return nil, "io", "cannot read " .. piece.path .. ": " .. tostring(why) end
      local left = piece.size
      while left > 0 do
        local block = file:read(math.min(left, BLOCK))
        if not block or block == "" then
          file:close()
          return nil, "io", piece.path .. " became shorter while it was being sent"
        end
        left = left - #block
        -- send may raise (a progress callback's error): the file must not stay open.
        local called, ok, kind, message, which = pcall(send, block)
        if not called or not ok then file:close() end
        if not called then error(ok, 0) end
        if not ok then return nil, kind, message, which end
      end
      file:close()
    end
  end
  return true
end

return multipart
