-- dify.new: defaults, validation, and keeping the API key secret.
local dify = require("dify")
local support = require("spec.support")

describe("dify.new", function()
  it("defaults to the cloud base URL without DIFY_BASE_URL", function()
    if os.getenv("DIFY_BASE_URL") then return end
    local client = dify.new{ api_key = "app-x" }
    assert.equal("https://api.dify.ai/v1", client.base_url)
  end)

  it("drops a trailing slash from base_url", function()
    assert.equal("http://127.0.0.1:9/v1", dify.new{ base_url = "http://127.0.0.1:9/v1/" }.base_url)
  end)

  it("raises for bad options", function()
    assert.matches("base_url", support.raised(dify.new, { base_url = "ftp://x" }))
    assert.matches("api_key", support.raised(dify.new, { api_key = "app-x\r\nX: y" }))
    assert.matches("timeout", support.raised(dify.new, { timeout = -1 }))
    assert.matches("timeout", support.raised(dify.new, { idle_timeout = "soon" }))
    assert.matches("user", support.raised(dify.new, { user = 42 }))
    assert.matches("verify_tls", support.raised(dify.new, { verify_tls = "no" }))
    assert.matches("compression", support.raised(dify.new, { compression = 1 }))
    assert.matches("header", support.raised(dify.new, { headers = { ["X-A"] = "1\n2" } }))
    assert.matches("opts", support.raised(dify.new, "http://x"))
  end)

  it("raises when a call has no api key", function()
    local client = dify.new{ base_url = "http://127.0.0.1:9/v1", user = "u" }
    if os.getenv("DIFY_API_KEY") then return end
    assert.matches("api_key", support.raised(client.info, client))
  end)

  it("masks the key in tostring and keeps it out of the client table", function()
    local client = dify.new{ base_url = "http://127.0.0.1:9/v1", api_key = "app-supersecret-4321" }
    local text = tostring(client)
    assert.matches("app%-%*%*%*%*4321", text)
    assert.not_matches("supersecret", text)
    for _, v in pairs(client) do assert.not_equal("app-supersecret-4321", v) end
  end)
end)

describe("the API key", function()
  local srv

  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  it("never appears in an error, whatever fails", function()
    local key = "app-never-show-this-1234"
    local results = {}
    local function try(client, ...)
      local _, err = client:chat(...)
      results[#results + 1] = tostring(err)
      for _, v in pairs(err or {}) do results[#results + 1] = tostring(v) end
    end
    try(support.client(srv, { api_key = key, headers = { ["X-Mock-Fault"] = "status:500" } }), { query = "q" })
    try(support.client(srv, { api_key = key, headers = { ["X-Mock-Fault"] = "html:502" } }), { query = "q" })
    try(dify.new{ base_url = support.dead_url(), api_key = key, user = "u", retries = 0 }, { query = "q" })
    try(support.client(srv, { api_key = key }), { query = "q", conversation_id = "missing" })
    local stream = assert(support.client(srv, { api_key = key, headers = { ["X-Mock-Fault"] = "error_event" } })
      :chat_stream{ query = "a b" })
    local ok, err = pcall(support.collect, stream)
    assert.is_false(ok)
    results[#results + 1] = tostring(err)
    assert.is_true(#results > 5)
    for _, text in ipairs(results) do assert.not_matches("never%-show%-this", text) end
  end)
end)
