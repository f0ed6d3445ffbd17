-- Progress of downloads to a path: text_to_audio and file_preview with output=.
local support = require("spec.support")

local function recorder()
  local seen = { calls = 0, received = 0, total = 0, monotonic = true }
  function seen.on_progress(_, _, received, total)
    seen.calls = seen.calls + 1
    if received < seen.received then seen.monotonic = false end
    seen.received, seen.total = received, total
  end
  return seen
end

describe("download progress", function()
  local client
  support.serve(function(_, c) client = c end)

  it("reports the bytes of text_to_audio written to a path", function()
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    local seen = recorder()
    local text = ("x"):rep(3000) -- 300 000 bytes of audio
    assert.is_true(client:text_to_audio{ text = text, output = path, on_progress = seen.on_progress })
    assert.equal(300000, #support.read_file(path))
    assert.is_true(seen.calls > 0)
    assert.is_true(seen.monotonic)
    assert.equal(300000, seen.received)
  end)

  it("reports the bytes of file_preview written to a path", function()
    local data = ("0123456789"):rep(50000)
    local file = assert(client:upload_file{ data = data, filename = "big.txt" })
    -- Dify previews only files attached to one of the app's messages
    assert(client:chat{ query = "see file", files = {
      { type = "document", transfer_method = "local_file", upload_file_id = file.id } } })
    local path = os.tmpname()
    finally(function() os.remove(path) end)
    local seen = recorder()
    assert.is_true((client:file_preview(file.id, { output = path, on_progress = seen.on_progress })))
    assert.equal(data, support.read_file(path))
    assert.is_true(seen.monotonic)
    assert.equal(#data, seen.received)
  end)

  it("aborts the download and leaves no file when on_progress raises", function()
    local path = os.tmpname()
    os.remove(path)
    local err = support.raised(client.text_to_audio, client, { text = ("y"):rep(3000), output = path,
      on_progress = function(_, _, received) if received > 0 then error("enough") end end })
    assert.matches("enough", tostring(err))
    assert.is_nil(support.read_file(path))
    assert.is_nil(support.read_file(path .. ".part"))
  end)
end)
