-- Knowledge base (dataset key): datasets, documents, indexing, segments, child
-- chunks, metadata, tags, retrieval and embedding models, checked on the wire.
local dify = require("dify")
local mock = require("spec.mock")
local support = require("spec.support")

describe("knowledge base", function()
  local srv, kb
  support.serve(function(s)
    srv = s
    kb = dify.new{ base_url = srv.url, api_key = "dataset-test-key-5555", timeout = 10 }
  end)

  local function new_dataset(name)
    return assert(kb:create_dataset{ name = name or "Docs", indexing_technique = "economy" })
  end

  local function new_document(dataset_id, text)
    return assert(kb:create_document_by_text(dataset_id, {
      name = "guide.txt", text = text or "Lua is a small language.", indexing_technique = "economy",
      process_rule = { mode = "automatic" } }))
  end

  describe("datasets", function()
    it("creates, lists, reads, updates and deletes a dataset, with no user anywhere", function()
      local ds = new_dataset("Manuals")
      assert.equal("Manuals", ds.name)
      local req = srv.last("/datasets$")
      assert.equal("Bearer dataset-test-key-5555", req.headers.authorization)
      assert.same({ name = "Manuals", indexing_technique = "economy" }, req.json)
      local list = assert(kb:list_datasets{ page = 1, limit = 20, keyword = "Man" })
      assert.equal(ds.id, list.data[1].id)
      assert.is_nil(srv.last("/datasets").args.user)
      assert.equal(ds.id, assert(kb:get_dataset(ds.id)).id)
      local updated = assert(kb:update_dataset(ds.id, { name = "Manuals v2" }))
      assert.equal("Manuals v2", updated.name)
      assert.equal("PATCH", srv.last("/datasets/").method)
      assert.is_true(kb:delete_dataset(ds.id))
      local gone, err = kb:get_dataset(ds.id)
      assert.is_nil(gone)
      assert.equal(404, err.status)
    end)

    it("walks every page of datasets", function()
      for i = 1, 7 do new_dataset("ds" .. i) end
      local n = 0
      for _ in kb:each("list_datasets", { limit = 3 }) do n = n + 1 end
      assert.equal(7, n)
    end)

    it("rejects an app key with 401", function()
      local app = dify.new{ base_url = srv.url, api_key = "app-not-for-datasets" }
      local list, err = app:list_datasets()
      assert.is_nil(list)
      assert.equal(401, err.status)
    end)
  end)

  describe("documents", function()
    it("creates a document from text and waits until it is indexed", function()
      local ds = new_dataset()
      local created = new_document(ds.id)
      assert.is_string(created.document.id)
      assert.is_string(created.batch)
      local req = srv.last("/create%-by%-text$")
      assert.equal("/v1/datasets/" .. ds.id .. "/document/create-by-text", req.path)
      assert.equal("automatic", req.json.process_rule.mode)
      local status = assert(kb:indexing_status(ds.id, created.batch))
      assert.equal(created.document.id, status.data[1].id)
      local documents = assert(kb:wait_indexed(ds.id, created.batch, { timeout = 5, interval = 0.05 }))
      assert.equal("completed", documents[1].indexing_status)
    end)

    it("creates a document from a file, the options as one JSON form field", function()
      local ds = new_dataset()
      local path = support.temp_file("# Title\n\nSome markdown.\n")
      finally(function() os.remove(path) end)
      local created = assert(kb:create_document_by_file(ds.id, {
        path = path, filename = "notes.md", indexing_technique = "economy",
        process_rule = { mode = "automatic" } }))
      assert.is_string(created.document.id)
      local parts = mock.parts_by_name(srv.last("/create%-by%-file$"))
      assert.equal("notes.md", parts.file.filename)
      assert.equal("text/markdown", parts.file.content_type)
      local options = require("cjson").decode(parts.data.data)
      assert.equal("economy", options.indexing_technique)
      assert.equal("automatic", options.process_rule.mode)
      assert.is_nil(parts.user)
    end)

    it("updates a document from text and from a file", function()
      local ds = new_dataset()
      local doc = new_document(ds.id).document
      local by_text = assert(kb:update_document_by_text(ds.id, doc.id, { name = "v2.txt", text = "New text." }))
      assert.is_string(by_text.batch)
      assert.equal("/v1/datasets/" .. ds.id .. "/documents/" .. doc.id .. "/update-by-text",
        srv.last("/update%-by%-text$").path)
      local by_file = assert(kb:update_document_by_file(ds.id, doc.id, { data = "fresh bytes", filename = "v3.txt" }))
      assert.is_string(by_file.batch)
    end)

    it("lists, reads, changes status of, finds the upload of, and deletes documents", function()
      local ds = new_dataset()
      local doc = new_document(ds.id).document
      local list = assert(kb:list_documents(ds.id, { keyword = "guide", page = 1, limit = 10 }))
      assert.equal(doc.id, list.data[1].id)
      assert.equal(doc.id, assert(kb:get_document(ds.id, doc.id)).id)
      assert(kb:update_document_status(ds.id, "disable", { document_ids = { doc.id } }))
      local req = srv.last("/documents/status/disable$")
      assert.equal("PATCH", req.method)
      assert.same({ document_ids = { doc.id } }, req.json)
      assert.is_table(assert(kb:download_document(ds.id, doc.id)))
      assert.is_true(kb:delete_document(ds.id, doc.id))
      local n = 0
      for _ in kb:each("list_documents", { dataset_id = ds.id }) do n = n + 1 end
      assert.equal(0, n)
    end)

    it("falls back to the underscore spelling of older servers", function()
      local ds = new_dataset()
      local created = assert(kb:create_document_by_text(ds.id, {
        name = "old.txt", text = "x", headers = { ["X-Mock-Fault"] = "old_server" } }))
      assert.is_string(created.batch)
      local requests = srv.requests()
      assert.matches("/document/create%-by%-text$", requests[#requests - 1].path)
      assert.matches("/document/create_by_text$", requests[#requests].path)
    end)

    it("wait_indexed times out with kind timeout", function()
      local ds = new_dataset()
      local created = new_document(ds.id)
      local waits = 0
      local stuck = dify.new{ base_url = srv.url, api_key = "dataset-test-key-5555",
        headers = { ["X-Mock-Fault"] = "indexing:waiting" } }
      local result, err = stuck:wait_indexed(ds.id, created.batch, { timeout = 0.2, interval = 0.05,
        sleep = function(s) waits = waits + 1; require("dify.core").sleep(s) end })
      assert.is_nil(result)
      assert.equal("timeout", err.kind)
      assert.equal("indexing", err.which)
      assert.is_true(waits >= 1)
    end)

    it("wait_indexed reports a failed document", function()
      local ds = new_dataset()
      local created = new_document(ds.id)
      local broken = dify.new{ base_url = srv.url, api_key = "dataset-test-key-5555",
        headers = { ["X-Mock-Fault"] = "indexing:error" } }
      local result, err = broken:wait_indexed(ds.id, created.batch, { timeout = 2, interval = 0.01 })
      assert.is_nil(result)
      assert.equal("indexing_error", err.code)
    end)
  end)

  describe("segments and child chunks", function()
    it("creates, lists, reads, updates and deletes segments and their child chunks", function()
      local ds = new_dataset()
      local doc = new_document(ds.id).document
      local created = assert(kb:create_segments(ds.id, doc.id, {
        segments = { { content = "Lua tables", answer = "are everything", keywords = { "lua" } } } }))
      local segment = created.data[1]
      assert.equal("Lua tables", segment.content)
      local list = assert(kb:list_segments(ds.id, doc.id, { keyword = "Lua", status = "completed" }))
      assert.is_true(#list.data >= 1)
      assert.equal(segment.id, assert(kb:get_segment(ds.id, doc.id, segment.id)).data.id)
      local updated = assert(kb:update_segment(ds.id, doc.id, segment.id, { segment = { content = "Lua tables!" } }))
      assert.equal("Lua tables!", updated.data.content)
      assert.equal("POST", srv.last("/segments/").method)

      local chunk = assert(kb:create_child_chunk(ds.id, doc.id, segment.id, { content = "child" })).data
      assert.equal("child", chunk.content)
      local chunks = assert(kb:list_child_chunks(ds.id, doc.id, segment.id, { page = 1, limit = 20 }))
      assert.equal(chunk.id, chunks.data[1].id)
      local changed = assert(kb:update_child_chunk(ds.id, doc.id, segment.id, chunk.id, { content = "kid" })).data
      assert.equal("kid", changed.content)
      assert.equal("PATCH", srv.last("/child_chunks/").method)
      assert.is_true(kb:delete_child_chunk(ds.id, doc.id, segment.id, chunk.id))
      assert.is_true(kb:delete_segment(ds.id, doc.id, segment.id))
    end)

    it("raises when create_segments has no segments", function()
      assert.matches("segments", support.raised(kb.create_segments, kb, "d", "doc", {}))
    end)
  end)

  describe("metadata and tags", function()
    it("manages metadata fields and document metadata", function()
      local ds = new_dataset()
      local doc = new_document(ds.id).document
      local field = assert(kb:create_metadata(ds.id, { type = "string", name = "author" }))
      assert.equal("author", field.name)
      local fields = assert(kb:list_metadata(ds.id))
      assert.equal(field.id, fields.doc_metadata[1].id)
      assert.equal("writer", assert(kb:update_metadata(ds.id, field.id, { name = "writer" })).name)
      assert(kb:built_in_metadata(ds.id, "enable"))
      assert.matches("/metadata/built%-in/enable$", srv.last("/built%-in/").path)
      assert(kb:update_document_metadata(ds.id, { operation_data = {
        { document_id = doc.id, metadata_list = { { id = field.id, name = "writer", value = "Ann" } } } } }))
      assert.equal(doc.id, srv.last("/documents/metadata$").json.operation_data[1].document_id)
      assert.is_true(kb:delete_metadata(ds.id, field.id))
    end)

    it("manages knowledge tags and their bindings", function()
      local ds = new_dataset()
      local tag = assert(kb:create_tag{ name = "faq" })
      assert.equal("faq", tag.name)
      local tags = assert(kb:list_tags())
      assert.equal(tag.id, tags[1].id)
      assert.equal("help", assert(kb:update_tag{ tag_id = tag.id, name = "help" }).name)
      assert.is_true(kb:bind_tags{ tag_ids = { tag.id }, target_id = ds.id })
      local bound = assert(kb:get_dataset_tags(ds.id))
      assert.equal(tag.id, bound.data[1].id)
      assert.is_true(kb:unbind_tag{ tag_id = tag.id, target_id = ds.id })
      assert.is_true(kb:delete_tag{ tag_id = tag.id })
      assert.same({ tag_id = tag.id }, srv.last("/datasets/tags$").json)
    end)
  end)

  describe("retrieval and models", function()
    it("retrieves records for a query with a retrieval model", function()
      local ds = new_dataset()
      new_document(ds.id, "Coroutines are cooperative threads.")
      local found = assert(kb:retrieve(ds.id, { query = "coroutines",
        retrieval_model = { search_method = "keyword_search", top_k = 3 } }))
      assert.equal("coroutines", found.query.content)
      assert.is_table(found.records)
      assert.equal(3, srv.last("/retrieve$").json.retrieval_model.top_k)
    end)

    it("lists embedding models", function()
      local models = assert(kb:list_embedding_models())
      assert.is_table(models.data)
    end)
  end)
end)
