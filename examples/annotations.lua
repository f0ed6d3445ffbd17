-- Manages annotations (canned answers) and turns annotation reply on.
local dify = require("dify")

local client = dify.new{ user = "example-user" }

local created = assert(client:create_annotation{ question = "What are your hours?", answer = "9 to 5." })
print("created annotation " .. created.id)
assert(client:update_annotation(created.id, { question = created.question, answer = "9 to 6." }))

for annotation in client:each("annotations", { limit = 50 }) do
  print(("  %s -> %s"):format(annotation.question, annotation.answer))
end

local job, err = client:annotation_reply("enable", {
  embedding_provider_name = "openai",
  embedding_model_name = "text-embedding-3-small",
  score_threshold = 0.9,
})
if job then
  local status = assert(client:annotation_reply_status("enable", job.job_id))
  print("annotation reply: " .. status.job_status)
else
  print("annotation reply failed: " .. tostring(err))
end
assert(client:delete_annotation(created.id))
