-- dify.console's app life cycle beyond create and delete: the model config,
-- publishing, DSL export and import (with its confirm step), the admin's
-- conversation log and draft runs (streams).
local dify = require("dify")
local cs = require("spec.console_support")
local support = require("spec.support")

describe("dify.console", function()
  local srv, console
  cs.serve(function(s, c) srv, console = s, c end)

  local function new_app(mode, name)
    return assert(console:create_app{ name = name or "App", mode = mode or "chat" })
  end

  describe("app_model_config", function()
    it("sends the whole config object of a chat app", function()
      local app = new_app("chat")
      local config = { pre_prompt = "Be brief.", model = { provider = "openai", name = "gpt-4o", mode = "chat",
        completion_params = { temperature = 0.2 } }, opening_statement = "Hi" }
      assert.same({ result = "success" }, assert(console:app_model_config(app.id, config)))
      local sent = cs.requests(srv, "/model%-config$")[1]
      assert.same(config, sent.json)
      assert.equal("Be brief.", assert(console:app(app.id)).model_config.pre_prompt)
    end)

    it("is refused for a workflow app, as Dify refuses it", function()
      local result, err = console:app_model_config(new_app("workflow").id, {})
      assert.is_nil(result)
      assert.equal(404, err.status)
      assert.equal("app_not_found", err.code)
      assert.matches("App mode is not in the supported list", err.message)
    end)
  end)

  describe("publish_workflow", function()
    it("publishes a workflow or chatflow app", function()
      local app = new_app("workflow")
      local result = assert(console:publish_workflow(app.id, { marked_name = "v1", marked_comment = "first" }))
      assert.equal("success", result.result)
      assert.is_number(result.created_at)
      assert.equal("v1", assert(console:app(app.id)).workflow.marked_name)
      assert(console:publish_workflow(new_app("advanced-chat").id))
      local _, err = console:publish_workflow(new_app("chat").id)
      assert.equal("app_not_found", err.code)
    end)
  end)

  describe("DSL", function()
    it("exports an app as YAML text and imports it back as a new app", function()
      local app = new_app("chat", "Exported")
      local yaml = assert(console:export_app(app.id, { include_secret = false }))
      assert.equal("string", type(yaml))
      assert.matches("mode: chat", yaml)
      assert.equal("include_secret=false", cs.requests(srv, "/export$")[1].query)
      local imported = assert(console:import_app{ yaml_content = yaml, name = "Copy" })
      assert.equal("completed", imported.status)
      assert.equal("yaml-content", cs.requests(srv, "^/apps/imports$")[1].json.mode)
      local copy = assert(console:app(imported.app_id))
      assert.equal("Copy", copy.name)
      assert.equal("chat", copy.mode)
    end)

    it("leaves an import of a newer DSL pending until it is confirmed", function()
      local yaml = 'app:\n  mode: workflow\n  name: "From the future"\nkind: app\nversion: 0.7.0\n'
      local pending = assert(console:import_app{ yaml_content = yaml })
      assert.equal("pending", pending.status)
      assert.equal(dify.null, pending.app_id)
      assert.equal(0, assert(console:apps()).total)
      local done = assert(console:confirm_app_import(pending.id))
      assert.equal("completed", done.status)
      assert.equal("From the future", assert(console:app(done.app_id)).name)
      local _, err = console:confirm_app_import(pending.id) -- once only
      assert.equal(400, err.status)
      assert.equal("failed", err.details.status)
    end)

    it("completes an import of an older minor version with warnings", function()
      local function dsl(version) return "app:\n  mode: chat\n  name: Old\nkind: app\nversion: " .. version .. "\n" end
      assert.equal("completed-with-warnings", assert(console:import_app{ yaml_content = dsl("0.5.0") }).status)
      assert.equal("completed", assert(console:import_app{ yaml_content = dsl("0.6.0") }).status)
      assert.equal("pending", assert(console:import_app{ yaml_content = dsl("0.6.1") }).status)
    end)

    it("returns a failed import as an error that keeps the import", function()
      local result, err = console:import_app{ yaml_content = "kind: app\nversion: 0.6.0\n" }
      assert.is_nil(result)
      assert.equal("api", err.kind)
      assert.equal(400, err.status)
      assert.equal("Missing app data in YAML content", err.message)
      assert.equal("failed", err.details.status)
      local _, url_err = console:import_app{ yaml_url = "https://example.com/app.yml" }
      assert.equal("yaml-url", cs.requests(srv, "^/apps/imports$")[2].json.mode)
      assert.equal("failed", url_err.details.status)
      assert.matches("import_app: one of", support.raised(console.import_app, console, {}))
    end)
  end)

  describe("chat_conversations", function()
    it("lists an app's conversations with their message counts, page by page", function()
      local app = new_app("chat")
      local client = dify.new{ base_url = srv.url, user = "ann",
        api_key = assert(console:create_app_api_key(app.id)).token }
      local first = assert(client:chat{ query = "first" })
      assert(client:chat{ query = "more", conversation_id = first.conversation_id })
      assert(client:chat{ query = "second" })
      local page = assert(console:chat_conversations(app.id, { limit = 1, sort_by = "created_at" }))
      assert.equal(2, page.total)
      assert.is_true(page.has_more)
      assert.equal(first.conversation_id, page.data[1].id)
      assert.equal(2, page.data[1].message_count)
      assert.equal("ann", page.data[1].from_end_user_session_id)
      local ids = {}
      for conversation in console:each("chat_conversations", { app_id = app.id, limit = 1 }) do
        ids[#ids + 1] = conversation.id
      end
      assert.equal(2, #ids)
      assert.same({}, assert(console:chat_conversations(app.id, { start = os.time() + 86400 })).data)
      local sent = cs.requests(srv, "chat%-conversations$")
      assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d$", sent[#sent].args.start)
    end)
  end)

  describe("draft runs", function()
    it("stream a workflow's events, as the Service API's streams do", function()
      local app = new_app("workflow")
      local stream = assert(console:run_draft_workflow(app.id, { inputs = { topic = "tea" } }))
      local events = support.collect(stream)
      assert.equal("workflow_started", events[1].event)
      assert.equal("workflow_finished", events[#events].event)
      assert.equal("succeeded", events[#events].data.status)
      assert.is_string(stream.workflow_run_id)
      local sent = cs.requests(srv, "/workflows/draft/run$")[1]
      assert.same({ inputs = { topic = "tea" } }, sent.json)
      assert.equal("text/event-stream", sent.headers["accept"])
      assert.is_string(sent.headers["x-csrf-token"])
    end)

    it("stream a chatflow's answer", function()
      local app = new_app("advanced-chat")
      local stream = assert(console:run_draft_chatflow(app.id, { query = "ping" }))
      assert.equal("You said: ping", assert(stream:text()))
      assert.same({}, cs.requests(srv, "/advanced%-chat/workflows/draft/run$")[1].json.inputs)
    end)

    it("are stopped with the app's stop route", function()
      local app = new_app("workflow")
      local stream = assert(console:run_draft_workflow(app.id, { headers = { ["X-Mock-Fault"] = "stall:2" } }))
      local stopped = assert(stream:stop())
      assert.equal("success", stopped.result)
      local stops = cs.state(srv).stops
      assert.equal(1, #stops)
      assert.equal(app.id, stops[1].app_id)
      assert.equal(stream.task_id, stops[1].task_id)
      local _, err = stream:resume()
      assert.matches("cannot be re%-opened", err.message)
      assert(console:stop_workflow_task(app.id, "no-such-task"))
    end)

    it("renew an expired session before the stream opens", function()
      local app = new_app("workflow")
      cs.expire(srv, "access")
      local stream = assert(console:run_draft_workflow(app.id))
      assert(stream:result())
      assert.equal(1, cs.state(srv).counts.refreshes)
      assert.equal(2, #cs.requests(srv, "/workflows/draft/run$"))
    end)
  end)
end)
