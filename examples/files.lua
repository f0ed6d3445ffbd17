-- Uploads a file from a path, uses it in a chat, and downloads it back.
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local path = os.tmpname()
local f = assert(io.open(path, "wb"))
f:write("Quarterly report: revenue grew 12%.\n")
f:close()

local file = assert(client:upload_file{
  path = path,
  filename = "report.txt",
  on_progress = function(sent, total) io.write(("\ruploading %d/%d bytes"):format(sent, total)) end,
})
print(("\nuploaded %s (%d bytes, %s)"):format(file.id, file.size, file.mime_type))

local answer = assert(client:chat{
  query = "Summarise the report.",
  files = { { type = "document", transfer_method = "local_file", upload_file_id = file.id } },
})
print("answer: " .. answer.answer)

local copy = os.tmpname()
local ok, content_type = assert(client:file_preview(file.id, { output = copy }))
print(("downloaded to %s (%s, %s)"):format(copy, content_type, tostring(ok)))
os.remove(path)
os.remove(copy)
