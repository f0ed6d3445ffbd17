-- Text to speech into a file, then speech to text from that file.
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local out = os.tmpname() .. ".mp3"
assert(client:text_to_audio{ text = "Hello from Lua", output = out })
local f = assert(io.open(out, "rb"))
print(("wrote %d bytes of audio to %s"):format(f:seek("end"), out))
f:close()

local result = assert(client:audio_to_text{ path = out, mime_type = "audio/mpeg" })
print("transcript: " .. result.text)
os.remove(out)
