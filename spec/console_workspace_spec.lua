-- dify.console's workspace calls: member invites, knowledge indexing as the
-- console sees it, and the workspace's models, tools and plugins.
local dify = require("dify")
local cs = require("spec.console_support")
local support = require("spec.support")

describe("dify.console's workspace", function()
  local srv, console
  cs.serve(function(s, c) srv, console = s, c end)

  it("invites members by email", function()
    local result = assert(console:invite_members{ emails = { "new@example.com", "editor@example.com" },
      role = "editor", language = "en-US" })
    assert.equal("success", result.result)
    assert.equal(2, #result.invitation_results)
    assert.matches("activate%?email=new%%40example.com", result.invitation_results[1].url)
    assert.matches("signin", result.invitation_results[2].url) -- already a member
    assert.same({ { email = "new@example.com", role = "editor" } }, cs.state(srv).invitations)
    local _, err = console:invite_members{ emails = { "x@example.com" }, role = "king" }
    assert.equal(400, err.status)
    assert.equal("invalid-role", err.code)
    assert.matches("invite_members: emails is required", support.raised(console.invite_members, console,
      { role = "editor" }))
  end)

  describe("knowledge indexing", function()
    local ds, docs
    before_each(function()
      local key = assert(console:create_dataset_api_key())
      local kb = dify.new{ base_url = srv.url, api_key = key.token }
      ds = assert(kb:create_dataset{ name = "Manuals" })
      docs = {}
      for i = 1, 2 do
        docs[i] = assert(kb:create_document_by_text(ds.id, { name = "doc" .. i, text = "Some text.\n\nMore.",
          indexing_technique = "economy", process_rule = { mode = "automatic" } })).document
      end
    end)

    it("shows every document's status", function()
      local statuses = assert(console:dataset_indexing_status(ds.id))
      assert.equal(2, #statuses)
      assert.equal("completed", statuses[1].indexing_status)
      local one = assert(console:document_indexing_status(ds.id, docs[2].id))
      assert.equal(docs[2].id, one.id)
      assert.equal("completed", one.indexing_status)
    end)

    it("lists the documents that failed and retries them", function()
      assert.same({ data = {}, total = 0 }, assert(console:dataset_error_docs(ds.id)))
      cs.fail_document(srv, ds.id, docs[1].id, "embedding quota exceeded")
      local failed = assert(console:dataset_error_docs(ds.id))
      assert.equal(1, failed.total)
      assert.equal("embedding quota exceeded", failed.data[1].error)
      assert.equal("error", assert(console:document_indexing_status(ds.id, docs[1].id)).indexing_status)
      assert.is_true(console:retry_documents(ds.id, { document_ids = { docs[1].id } }))
      assert.same({ document_ids = { docs[1].id } }, cs.requests(srv, "/retry$")[1].json)
      assert.equal(0, assert(console:dataset_error_docs(ds.id)).total)
    end)

    it("answers 404 for a dataset that is not there", function()
      local _, err = console:dataset_indexing_status("00000000-0000-4000-8000-000000000000")
      assert.equal(404, err.status)
    end)
  end)

  it("lists model providers and models by type", function()
    local providers = assert(console:model_providers())
    assert.is_true(#providers >= 2)
    assert.is_table(providers[1].supported_model_types)
    local rerankers = assert(console:model_providers{ model_type = "rerank" })
    assert.equal(1, #rerankers)
    assert.equal("model_type=rerank", cs.requests(srv, "/model%-providers$")[2].query)
    local embeddings = assert(console:models_by_type("text-embedding"))
    assert.equal("text-embedding-3-small", embeddings[1].models[1].model)
    assert.matches("is not a valid value", support.raised(console.models_by_type, console, "../x"))
  end)

  it("lists tool providers and plugins", function()
    local tools = assert(console:tool_providers())
    assert.equal("builtin", tools[1].type)
    local plugins = assert(console:plugins{ page = 1, page_size = 1 })
    assert.equal(1, #plugins.plugins)
    assert.is_true(plugins.total >= 2)
  end)
end)
