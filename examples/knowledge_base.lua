-- Builds a knowledge base: a dataset, a document from text, then a retrieval.
--   DIFY_API_KEY=dataset-... lua5.4 examples/knowledge_base.lua
local dify = require("dify")

local kb = dify.new{}

local dataset = assert(kb:create_dataset{ name = "Lua notes", indexing_technique = "economy" })
print("dataset " .. dataset.id)

local created = assert(kb:create_document_by_text(dataset.id, {
  name = "coroutines.txt",
  text = "Coroutines in Lua are cooperative: a coroutine runs until it yields.",
  indexing_technique = "economy",
  process_rule = { mode = "automatic" },
}))
assert(kb:wait_indexed(dataset.id, created.batch, { timeout = 60, interval = 0.5 }))
print("indexed " .. created.document.name)

local found = assert(kb:retrieve(dataset.id, { query = "coroutine" }))
print(("retrieved %d record(s) for %q"):format(#found.records, found.query.content))

for document in kb:each("list_documents", { dataset_id = dataset.id }) do
  print("  document: " .. document.name)
end
assert(kb:delete_dataset(dataset.id))
print("deleted dataset")
