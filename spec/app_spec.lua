-- App information and annotations.
local support = require("spec.support")

describe("app information", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("reads parameters, info, meta and site without sending a user (Dify takes none)", function()
    local params = assert(client:parameters())
    assert.is_table(params.user_input_form)
    assert.is_table(params.system_parameters)
    assert.is_nil(srv.last("/parameters").args.user)
    local bare = require("dify").new{ base_url = srv.url, api_key = support.API_KEY } -- no user at all
    assert.is_table(assert(bare:info()))
    assert.is_nil(srv.last("/info").args.user)
    assert.is_string(assert(client:info()).name)
    assert.is_table(assert(client:meta()).tool_icons)
    assert.is_string(assert(client:site()).title)
  end)

  describe("annotations", function()
    it("creates, lists, updates and deletes annotations, without a user", function()
      local created = assert(client:create_annotation{ question = "Q?", answer = "A." })
      assert.equal("Q?", created.question)
      assert.same({ question = "Q?", answer = "A." }, srv.last("/apps/annotations$").json)
      local list = assert(client:annotations{ page = 1, limit = 10, keyword = "Q" })
      assert.equal(created.id, list.data[1].id)
      assert.is_nil(srv.last("/apps/annotations").args.user)
      local updated = assert(client:update_annotation(created.id, { question = "Q2?", answer = "A2." }))
      assert.equal("Q2?", updated.question)
      assert.equal("PUT", srv.last("/apps/annotations/").method)
      assert.is_true(client:delete_annotation(created.id))
      assert.equal("DELETE", srv.last("/apps/annotations/").method)
      assert.equal(0, #assert(client:annotations()).data)
    end)

    it("requires question and answer", function()
      assert.matches("answer", support.raised(client.create_annotation, client, { question = "q" }))
    end)

    it("walks every page of annotations by page number", function()
      for i = 1, 12 do assert(client:create_annotation{ question = "q" .. i, answer = "a" }) end
      local n = 0
      for _ in client:each("annotations", { limit = 5 }) do n = n + 1 end
      assert.equal(12, n)
    end)

    it("enables annotation reply and reads the job status", function()
      local job = assert(client:annotation_reply("enable", {
        embedding_provider_name = "openai", embedding_model_name = "text-embedding-3-small",
        score_threshold = 0.9 }))
      assert.is_string(job.job_id)
      assert.equal(0.9, srv.last("/annotation%-reply/enable$").json.score_threshold)
      local status = assert(client:annotation_reply_status("enable", job.job_id))
      assert.equal(job.job_id, status.job_id)
      assert.is_string(status.job_status)
    end)
  end)
end)
