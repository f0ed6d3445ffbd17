-- dify.console's apps, API keys and statistics against the fake console,
-- and the newcomer's path: log in, create an app and a key, chat with it.
local dify = require("dify")
local cs = require("spec.console_support")
local support = require("spec.support")

describe("dify.console", function()
  local srv, console
  cs.serve(function(s, c) srv, console = s, c end)

  local function new_app(fields)
    local f = { name = "App", mode = "chat" }
    for k, v in pairs(fields or {}) do f[k] = v end
    return assert(console:create_app(f))
  end

  describe("apps", function()
    it("are created, read, updated and deleted", function()
      local app = new_app{ name = "Helpdesk", mode = "advanced-chat", description = "answers", icon = "🛟" }
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", app.id)
      assert.equal("advanced-chat", app.mode)
      local created = cs.requests(srv, "^/apps$")[1]
      assert.equal("POST", created.method)
      assert.same({ name = "Helpdesk", mode = "advanced-chat", description = "answers", icon = "🛟" }, created.json)
      local got = assert(console:app(app.id))
      assert.equal("Helpdesk", got.name)
      assert.equal(srv.url, got.api_base_url)
      local updated = assert(console:update_app(app.id, { name = "Help desk", description = "new" }))
      assert.equal("Help desk", updated.name)
      assert.equal("PUT", cs.requests(srv, "^/apps/")[2].method)
      assert.is_true(console:delete_app(app.id))
      local result, err = console:app(app.id)
      assert.is_nil(result)
      assert.equal(404, err.status)
    end)

    it("refuse mistakes before sending anything", function()
      assert.matches("create_app: name is required", support.raised(console.create_app, console, { mode = "chat" }))
      assert.matches("app: argument #1 %(app_id%) is required", support.raised(console.app, console))
      assert.matches("update_app: name is required", support.raised(console.update_app, console, "id", {}))
      assert.equal(0, #cs.requests(srv))
    end)

    it("are listed a page at a time, with Dify's filters", function()
      for i = 1, 3 do new_app{ name = "Chat " .. i } end
      new_app{ name = "Flow", mode = "workflow" }
      local page = assert(console:apps{ limit = 2 })
      assert.equal(2, #page.data)
      assert.is_true(page.has_more)
      assert.equal(4, page.total)
      assert.equal("Flow", page.data[1].name) -- newest first
      local flows = assert(console:apps{ mode = "workflow" })
      assert.equal(1, #flows.data)
      assert.equal("mode=workflow", cs.requests(srv, "^/apps$")[6].query)
      assert.equal(1, #assert(console:apps{ name = "chat 2" }).data)
    end)

    it("are walked page after page by each", function()
      for i = 1, 5 do new_app{ name = "A" .. i } end
      local names = {}
      for app in console:each("apps", { limit = 2 }) do names[#names + 1] = app.name end
      assert.same({ "A5", "A4", "A3", "A2", "A1" }, names)
      local pages = {}
      for _, r in ipairs(cs.requests(srv, "^/apps$")) do
        if r.method == "GET" then pages[#pages + 1] = r.args.page or "-" end
      end
      assert.same({ "-", "2", "3" }, pages)
      assert.matches("is not a list call", support.raised(console.each, console, "app"))
    end)
  end)

  describe("app API keys", function()
    it("are created (the token shown once), listed and deleted", function()
      local app = new_app()
      local key = assert(console:create_app_api_key(app.id))
      assert.matches("^app%-%w+$", key.token)
      local keys = assert(console:app_api_keys(app.id))
      assert.equal(1, #keys)
      assert.equal(key.id, keys[1].id)
      assert.is_true(console:delete_app_api_key(app.id, key.id))
      assert.same({}, assert(console:app_api_keys(app.id)))
      local result, err = console:delete_app_api_key(app.id, key.id)
      assert.is_nil(result)
      assert.equal(404, err.status)
    end)

    it("stop at 10 an app, as Dify's do", function()
      local app = new_app()
      for _ = 1, 10 do assert(console:create_app_api_key(app.id)) end
      local result, err = console:create_app_api_key(app.id)
      assert.is_nil(result)
      assert.equal(400, err.status)
      assert.matches("more than 10 API keys", err.message)
      assert.equal(10, #assert(console:app_api_keys(app.id)))
      -- another app has its own ten
      assert(console:create_app_api_key(new_app().id))
    end)

    it("of the knowledge base are the workspace's (dataset-…)", function()
      local key = assert(console:create_dataset_api_key())
      assert.matches("^dataset%-", key.token)
      assert.equal(1, #assert(console:dataset_api_keys()))
      -- the key works on the Service API's knowledge routes
      local kb = dify.new{ base_url = srv.url, api_key = key.token }
      assert(kb:list_datasets())
      assert.is_true(console:delete_dataset_api_key(key.id))
      assert.same({}, assert(console:dataset_api_keys()))
    end)
  end)

  describe("the newcomer's path", function()
    it("logs in, creates an app and a key, and chats with it", function()
      local app = assert(console:create_app{ name = "Hello", mode = "chat" })
      local key = assert(console:create_app_api_key(app.id))
      local client = dify.new{ base_url = app.api_base_url, api_key = key.token, user = "me" }
      local answer = assert(client:chat{ query = "Hello there" })
      assert.is_string(answer.answer)
      assert.is_true(srv.last("/v1/chat%-messages$").headers["authorization"] == "Bearer " .. key.token)
    end)
  end)

  describe("statistics", function()
    local app, other
    before_each(function()
      app = new_app()
      other = new_app{ name = "Other" }
      local client = dify.new{ base_url = srv.url, api_key = assert(console:create_app_api_key(app.id)).token,
        user = "ann" }
      local first = assert(client:chat{ query = "one two three four" })
      assert(client:chat{ query = "again", conversation_id = first.conversation_id })
      assert(client:chat{ query = "hi", user = "bob" })
      assert(client:feedback(first.message_id, { rating = "like" }))
      local elsewhere = dify.new{ base_url = srv.url, user = "zed",
        api_key = assert(console:create_app_api_key(other.id)).token }
      assert(elsewhere:chat{ query = "not this app's" })
    end)

    local today = os.date("!%Y-%m-%d")

    it("count the app's own messages, conversations and end users a day", function()
      assert.same({ { date = today, message_count = 3 } }, assert(console:daily_messages(app.id)))
      assert.same({ { date = today, conversation_count = 2 } }, assert(console:daily_conversations(app.id)))
      assert.same({ { date = today, terminal_count = 2 } }, assert(console:daily_end_users(app.id)))
      assert.same({ { date = today, message_count = 1 } }, assert(console:daily_messages(other.id)))
    end)

    it("give token costs, interactions, satisfaction, speed and latency", function()
      local costs = assert(console:token_costs(app.id))[1]
      assert.equal(today, costs.date)
      assert.is_true(costs.token_count > 0)
      assert.is_string(costs.total_price)
      assert.equal("USD", costs.currency)
      assert.equal(1.5, assert(console:average_session_interactions(app.id))[1].interactions)
      assert.equal(333.33, assert(console:user_satisfaction_rate(app.id))[1].rate)
      assert.is_true(assert(console:tokens_per_second(app.id))[1].tps > 0)
      assert.equal(420, assert(console:average_response_time(app.id))[1].latency)
    end)

    it("count a workflow app's runs", function()
      local flow = new_app{ name = "Flow", mode = "workflow" }
      local client = dify.new{ base_url = srv.url, user = "ann",
        api_key = assert(console:create_app_api_key(flow.id)).token }
      assert(client:run_workflow{ inputs = {} })
      assert(client:run_workflow{ inputs = {} })
      assert.same({ { date = today, runs = 2 } }, assert(console:workflow_daily_conversations(flow.id)))
      assert.same({}, assert(console:workflow_daily_conversations(app.id)))
    end)

    it("take start and end as date strings or os.time() numbers", function()
      local tomorrow = os.time() + 86400
      assert.same({}, assert(console:daily_messages(app.id, { start = tomorrow })))
      local sent = cs.requests(srv, "daily%-messages$")[1]
      assert.equal(os.date("%Y-%m-%d %H:%M", tomorrow), sent.args.start)
      assert(console:daily_messages(app.id, { start = "2024-01-02", ["end"] = "2030-12-31 23:59:59" }))
      sent = cs.requests(srv, "daily%-messages$")[2]
      assert.equal("2024-01-02 00:00", sent.args.start)
      assert.equal("2030-12-31 23:59", sent.args["end"])
      assert(console:token_costs(app.id, { from = "2024-01-02T08:30", to = "2024-01-03" }))
      sent = cs.requests(srv, "token%-costs$")[1]
      assert.equal("2024-01-02 08:30", sent.args.start)
      assert.equal("2024-01-03 00:00", sent.args["end"])
      assert.is_nil(sent.args.from)
      assert.same({}, assert(console:token_costs(app.id, { from = "2024-01-02", to = "2024-01-03" })))
    end)

    it("refuse a date that is not one, before sending", function()
      local before = #cs.requests(srv)
      assert.matches("daily_messages: start must be a date",
        support.raised(console.daily_messages, console, app.id, { start = "yesterday" }))
      assert.matches("token_costs: end must be a date",
        support.raised(console.token_costs, console, app.id, { to = {} }))
      assert.equal(before, #cs.requests(srv))
    end)
  end)
end)
