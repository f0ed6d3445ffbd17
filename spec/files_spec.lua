-- Uploads, previews and audio: multipart bodies streamed from paths, downloads to paths.
local mock = require("spec.mock")
local dify = require("dify")
local support = require("spec.support")

describe("files and audio", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  describe("client:upload_file", function()
    it("uploads a file from a path as multipart with the user", function()
      local path = support.temp_file(("0123456789"):rep(1000))
      finally(function() os.remove(path) end)
      local file = assert(client:upload_file{ path = path, filename = "notes.txt" })
      assert.is_string(file.id)
      assert.equal(10000, file.size)
      assert.equal("notes.txt", file.name)
      local req = srv.last("/files/upload$")
      assert.matches("^multipart/form%-data", req.headers["content-type"])
      local parts = mock.parts_by_name(req)
      assert.equal("notes.txt", parts.file.filename)
      assert.equal("text/plain", parts.file.content_type)
      assert.equal(10000, parts.file.size)
      assert.equal("alice", parts.user.data)
    end)

    it("uploads bytes given as data, with a mime type", function()
      local file = assert(client:upload_file{ data = "\137PNG fake", filename = "a.png", mime_type = "image/png" })
      assert.equal("a.png", file.name)
      local parts = mock.parts_by_name(srv.last("/files/upload$"))
      assert.equal("\137PNG fake", parts.file.data)
      assert.equal("image/png", parts.file.content_type)
    end)

    it("reports progress", function()
      local path = support.temp_file(("x"):rep(200000))
      finally(function() os.remove(path) end)
      local last_sent, last_total = 0, 0
      assert(client:upload_file{ path = path, on_progress = function(sent, total)
        assert.is_true(sent >= last_sent)
        last_sent, last_total = sent, total
      end })
      assert.is_true(last_sent >= 200000)
      assert.is_true(last_total >= 200000)
    end)

    it("raises the callback's own error when on_progress fails, and stays usable", function()
      local err = support.raised(client.upload_file, client, { data = "abc", filename = "a.txt",
        on_progress = function() error("stop right there") end })
      assert.matches("stop right there", tostring(err))
      assert(client:chat{ query = "still works" })
    end)

    it("raises for a missing file or a missing source, sending nothing", function()
      assert.matches("cannot read", support.raised(client.upload_file, client, { path = "/no/such/file" }))
      assert.matches("exactly one", support.raised(client.upload_file, client, {}))
      assert.matches("exactly one", support.raised(client.upload_file, client, { path = "a", data = "b" }))
      assert.same({}, srv.requests())
    end)
  end)

  describe("client:file_preview", function()
    -- Dify previews only files attached to one of the app's messages.
    local function attach(file)
      assert(client:chat{ query = "see file", files = {
        { type = "document", transfer_method = "local_file", upload_file_id = file.id } } })
      return file
    end

    it("returns the uploaded bytes and their content type", function()
      local file = attach(assert(client:upload_file{ data = "hello preview", filename = "p.txt" }))
      local bytes, content_type = client:file_preview(file.id)
      assert.equal("hello preview", bytes)
      assert.matches("^text/plain", content_type)
      assert.equal("alice", srv.last("/preview").args.user)
    end)

    it("writes to an output path and asks for an attachment", function()
      local file = attach(assert(client:upload_file{ data = ("z"):rep(50000), filename = "z.txt" }))
      local out = os.tmpname()
      finally(function() os.remove(out) end)
      local ok, content_type = client:file_preview(file.id, { as_attachment = true, output = out })
      assert.is_true(ok)
      assert.equal("application/octet-stream", content_type) -- what Dify sends an attachment as
      assert.equal(("z"):rep(50000), support.read_file(out))
      assert.equal("true", srv.last("/preview").args.as_attachment)
      assert.is_nil(support.read_file(out .. ".part"))
    end)

    it("returns not_found and leaves no output file for an unknown id", function()
      local out = os.tmpname()
      os.remove(out)
      local bytes, err = client:file_preview("nope", { output = out })
      assert.is_nil(bytes)
      assert.equal(404, err.status)
      assert.is_nil(support.read_file(out))
      assert.is_nil(support.read_file(out .. ".part"))
    end)
  end)

  describe("client:text_to_audio", function()
    it("returns the audio bytes", function()
      local audio = assert(client:text_to_audio{ text = "hello" })
      assert.equal(500, #audio)
      assert.equal("ID3", audio:sub(1, 3))
      assert.same({ text = "hello", user = "alice" }, srv.last("/text%-to%-audio$").json)
    end)

    it("writes to a path, or hands chunks to a function", function()
      local out = os.tmpname()
      finally(function() os.remove(out) end)
      assert.is_true(client:text_to_audio{ text = "abcdefghij", output = out })
      assert.equal(1000, #support.read_file(out))
      local chunks = {}
      assert.is_true(client:text_to_audio{ text = "abcdefghij", output = function(chunk)
        chunks[#chunks + 1] = chunk
      end })
      assert.equal(support.read_file(out), table.concat(chunks))
    end)

    it("reports an output path it cannot open as an io error, alone and inside dify.all", function()
      local path = "/nonexistent-dir-of-lua-dify/audio.mp3"
      local ok, err = client:text_to_audio{ text = "abc", output = path, retries = 0 }
      assert.is_nil(ok)
      assert.equal("io", err.kind)
      assert.matches("cannot open", err.message)
      local results = dify.all{
        function() return client:text_to_audio{ text = "abc", output = path, retries = 0 } end,
      }
      assert.is_nil(results[1][1])
      assert.equal("io", results[1][2].kind)
      assert.matches("cannot open", results[1][2].message)
    end)

    it("accepts a message_id instead of text", function()
      local c = assert(client:chat{ query = "say it" })
      local audio = assert(client:text_to_audio{ message_id = c.message_id })
      assert.is_true(#audio > 0)
    end)
  end)

  describe("client:audio_to_text", function()
    it("uploads audio from a path and returns the text", function()
      local path = support.temp_file(("a"):rep(1234))
      finally(function() os.remove(path) end)
      local result = assert(client:audio_to_text{ path = path, filename = "voice.mp3" })
      assert.equal("transcribed voice.mp3 (1234 bytes)", result.text)
      local parts = mock.parts_by_name(srv.last("/audio%-to%-text$"))
      assert.equal("audio/mpeg", parts.file.content_type)
      assert.equal("alice", parts.user.data)
    end)

    it("uploads audio given as data", function()
      local result = assert(client:audio_to_text{ data = "RIFFxxxx", filename = "a.wav" })
      assert.equal("transcribed a.wav (8 bytes)", result.text)
    end)

    it("returns Dify's error for an upload it refuses", function()
      local result, err = support.faulty(srv, "status:413:file_too_large"):audio_to_text{
        data = "x", filename = "a.wav" }
      assert.is_nil(result)
      assert.equal(413, err.status)
      assert.equal("file_too_large", err.code)
    end)
  end)
end)
