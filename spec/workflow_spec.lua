-- Workflow apps: runs blocking and streamed, run details, stop, logs, re-opened streams.
local support = require("spec.support")

describe("workflow apps", function()
  local srv, client
  support.serve(function(s, c) srv, client = s, c end)

  it("run_workflow runs the published workflow and returns the run", function()
    local run = assert(client:run_workflow{ inputs = { query = "go" } })
    assert.is_string(run.workflow_run_id)
    assert.is_string(run.task_id)
    assert.equal("succeeded", run.data.status)
    local req = srv.last("/workflows/run$")
    assert.equal("/v1/workflows/run", req.path)
    assert.same({ inputs = { query = "go" }, user = "alice", response_mode = "blocking" }, req.json)
  end)

  it("run_workflow with workflow_id runs that version", function()
    assert(client:run_workflow{ inputs = {}, workflow_id = "wf-v2" })
    local req = srv.last("/run$")
    assert.equal("/v1/workflows/wf-v2/run", req.path)
    assert.is_nil(req.json.workflow_id)
  end)

  it("run_workflow_stream yields every event type, ids set after the first event", function()
    local stream = assert(client:run_workflow_stream{ inputs = { query = "many steps" } })
    local seen, order = {}, {}
    for ev in stream do
      seen[ev.event] = (seen[ev.event] or 0) + 1
      order[#order + 1] = ev.event
      assert.is_string(stream.workflow_run_id)
      assert.is_string(stream.task_id)
    end
    for _, kind in ipairs{ "workflow_started", "node_started", "node_finished", "text_chunk",
      "iteration_started", "iteration_next", "iteration_completed", "workflow_finished" } do
      assert.truthy(seen[kind], kind)
    end
    assert.equal("workflow_finished", order[#order])
  end)

  it("stream:result() returns the workflow_finished data", function()
    local stream = assert(client:run_workflow_stream{ inputs = { query = "result please" } })
    local result = assert(stream:result())
    assert.equal("succeeded", result.status)
    assert.equal("Echo: result please", result.outputs.text)
  end)

  it("raises a protocol error when the stream ends without workflow_finished", function()
    local stream = assert(support.faulty(srv, "no_terminal"):run_workflow_stream{ inputs = { query = "x" } })
    local err = support.raised(support.collect, stream)
    assert.equal("protocol", err.kind)
    assert.matches("workflow_finished", err.message)
    local result, err2 = assert(support.faulty(srv, "no_terminal"):run_workflow_stream{ inputs = {} }):result()
    assert.is_nil(result)
    assert.equal("protocol", err2.kind)
  end)

  it("raises the api error of an error event mid-run", function()
    local stream = assert(support.faulty(srv, "error_event"):run_workflow_stream{ inputs = { query = "x y" } })
    local err = support.raised(support.collect, stream)
    assert.equal("api", err.kind)
  end)

  it("workflow_run reads a run's detail", function()
    local run = assert(client:run_workflow{ inputs = { query = "detail" } })
    local detail = assert(client:workflow_run(run.workflow_run_id))
    assert.equal(run.workflow_run_id, detail.id)
    assert.equal("succeeded", detail.status)
    local missing, err = client:workflow_run("nope")
    assert.is_nil(missing)
    assert.equal(404, err.status)
  end)

  it("stop_workflow posts to the task stop route; stream:stop uses it", function()
    assert(client:stop_workflow("t-9"))
    assert.equal("/v1/workflows/tasks/t-9/stop", srv.last("/stop$").path)
    local stream = assert(support.faulty(srv, "drip:100"):run_workflow_stream{ inputs = { query = "slow" } })
    stream()
    assert(stream:stop())
    assert.equal("/v1/workflows/tasks/" .. stream.task_id .. "/stop", srv.last("/stop$").path)
  end)

  it("workflow_logs lists runs with filters, and each() walks the pages", function()
    for i = 1, 5 do assert(client:run_workflow{ inputs = { query = "log " .. i } }) end
    local logs = assert(client:workflow_logs{ status = "succeeded", page = 1, limit = 2 })
    assert.equal(2, #logs.data)
    assert.equal("succeeded", srv.last("/workflows/logs").args.status)
    local n = 0
    for _ in client:each("workflow_logs", { limit = 2 }) do n = n + 1 end
    assert.equal(5, n)
  end)

  it("resumes a dropped stream as Dify 1.14 does: from now on, for the run's own user", function()
    local flaky = support.faulty(srv, "close_mid")
    local stream = assert(flaky:run_workflow_stream{ inputs = { query = "resume me" }, user = "bob" })
    local got = {}
    local ok, err = pcall(function()
      for ev in stream do got[#got + 1] = ev.event end
    end)
    assert.is_false(ok)
    assert.equal("network", err.kind)
    flaky.headers["X-Mock-Fault"] = nil -- the network recovers
    local resumed = assert(stream:resume{ include_state_snapshot = true })
    local after = support.collect(resumed)
    -- The run finished while we were away: Dify answers its workflow_finished
    -- alone, and nothing of it is skipped by count.
    assert.equal("workflow_finished", after[#after].event)
    assert.equal("succeeded", assert(resumed:result()).status)
    local req = srv.last("/events$")
    assert.matches("^/v1/workflow/[^/]+/events$", req.path)
    assert.equal("bob", req.args.user)
    assert.equal("true", req.args.include_state_snapshot)
  end)

  it("workflow_events of a finished run yields its workflow_finished alone", function()
    local run = support.collect(assert(client:run_workflow_stream{ inputs = { query = "done" } }))
    local run_id = run[#run].workflow_run_id
    local events = support.collect(assert(client:workflow_events(run_id, { continue_on_pause = false })))
    assert.equal(1, #events)
    assert.equal("workflow_finished", events[1].event)
    assert.equal("alice", srv.last("/events$").args.user)
    assert.equal("false", srv.last("/events$").args.continue_on_pause)
    -- Dify checks that the run is the user's own.
    local other, err = client:workflow_events(run_id, { user = "mallory" })
    assert.is_nil(other)
    assert.equal(404, err.status)
  end)

  it("workflow_events answers the server's 404 as an error where it cannot replay", function()
    local stream, err = client:workflow_events("unknown-run")
    assert.is_nil(stream)
    assert.equal(404, err.status)
  end)
end)

describe("client:probe", function()
  local srv

  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  it("reads the server's version from the API index (GET /v1/), without a key", function()
    local dify = require("dify")
    local info = assert(dify.new{ base_url = srv.url }:probe())
    assert.equal(200, info.status)
    assert.equal("1.14.2", info.version)
    local req = srv.last()
    assert.equal("/v1/", req.path)
    assert.is_nil(req.headers.authorization)
  end)

  it("falls back to the server's root where the API has no index", function()
    local info = assert(support.faulty(srv, "no_index"):probe())
    assert.equal("1.14.2", info.version)
    assert.equal("/", srv.last().path)
    assert.equal("/v1/", srv.requests()[#srv.requests() - 1].path)
  end)

  it("reads server_version, then version, from the body of an answer without X-Version", function()
    local dify = require("dify")
    for body, expected in pairs{
      ['{"welcome":"Dify OpenAPI","api_version":"v1","server_version":"1.14.9"}'] = "1.14.9",
      ['{"version":"1.8.1"}'] = "1.8.1",
      ['{"welcome":"no version here"}'] = false,
    } do
      local canned = support.canned(support.canned_answer({ "X-Other: 1" }, body))
      local ok, info = pcall(function() return assert(dify.new{ base_url = canned.url }:probe()) end)
      canned.stop()
      assert(ok, info)
      assert.equal(200, info.status)
      assert.equal(expected or nil, info.version, body)
    end
  end)

  it("returns a network error when the server is down", function()
    local dify = require("dify")
    local info, err = dify.new{ base_url = support.dead_url(), api_key = "app-x", retries = 0 }:probe()
    assert.is_nil(info)
    assert.equal("network", err.kind)
  end)
end)
