-- The callback form of a stream method: `client:chat_stream{..., on_event=,
-- on_done=}` returns a task (dify.spawn) that reads the stream; driven here by
-- dify.step frames, as a host's loop would. Frames are counted, never timed.
local dify = require("dify")
local support = require("spec.support")

local frames_until = require("spec.host_support").frames_until

describe("stream methods with on_event and on_done", function()
  local srv, client

  support.serve(function(s, c) srv, client = s, c end)

  after_each(function()
    -- No test leaves a task behind for the next.
    assert.is_nil(dify.step(0))
  end)

  it("read the stream in a task: each event to on_event, the finished stream to on_done", function()
    local names, ended = {}, nil
    local task = support.faulty(srv, "drip:20"):chat_stream{ query = "callbacks are sugar",
      on_event = function(ev) names[#names + 1] = ev.event end,
      on_done = function(stream, err) ended = { stream = stream, err = err } end }
    assert.is_false(task:done()) -- returned at once, while the answer drips
    local frames = frames_until(function() return task:done() end)
    assert.is_true(frames > 1)
    assert.is_nil(ended.err)
    assert.equal("message_end", names[#names])
    local text, last = ended.stream:text()
    assert.equal("Echo: callbacks are sugar", text)
    assert.equal("message_end", last.event)
    assert.is_string(ended.stream.task_id)
    local ok, stream = task:result()
    assert.is_true(ok)
    assert.equal(ended.stream, stream)
  end)

  it("hand on_done nil and the error when Dify's stream fails; events before it reached on_event", function()
    local names, got_stream, got_err = {}, false, nil
    local task = client:chat_stream{ query = "fail",
      on_event = function(ev) names[#names + 1] = ev.event end,
      on_done = function(stream, err) got_stream, got_err = stream, err end }
    frames_until(function() return task:done() end)
    assert.is_nil(got_stream)
    assert.equal("api", got_err.kind)
    assert.is_true(#names > 0)
  end)

  it("hand on_done the error of an answer that never became a stream", function()
    local got_err
    local task = support.faulty(srv, "status:503"):chat_stream{ query = "x", retries = 0,
      on_done = function(_, err) got_err = err end }
    frames_until(function() return task:done() end)
    assert.equal(503, got_err.status)
  end)

  it("give a paused run's stream to on_done with its pause and forms", function()
    local done_with
    local task = client:run_workflow_stream{ inputs = { scenario = "pause" },
      on_done = function(stream) done_with = stream end }
    frames_until(function() return task:done() end)
    assert.equal("paused", done_with.paused.status)
    assert.is_string(done_with.forms[1].form_token)
    assert.equal("paused", assert(done_with:result()).status)
  end)

  it("end the task with on_event's own error, handed to on_done", function()
    local got_err
    local task = client:chat_stream{ query = "boom",
      on_event = function() error("the plugin's bug", 0) end,
      on_done = function(_, err) got_err = err end }
    frames_until(function() return task:done() end)
    assert.equal("the plugin's bug", got_err)
    assert.same({ false, "the plugin's bug" }, { task:result() })
  end)

  it("cancel like any task: on_done gets the cancelled error", function()
    local got_err
    local task = support.faulty(srv, "drip:200"):chat_stream{ query = "one two three four five",
      on_done = function(_, err) got_err = err end }
    dify.step(0)
    assert.is_true(task:cancel())
    assert.equal("cancelled", got_err.kind)
  end)

  it("raise argument mistakes at the call, before any task or request", function()
    local before = #srv.requests()
    assert.has_error(function() client:chat_stream{ query = "x", on_event = 42 } end,
      "chat_stream: on_event must be a function")
    assert.has_error(function() client:chat_stream{ query = "x", on_done = "later" } end,
      "chat_stream: on_done must be a function")
    assert.has_error(function() client:chat_stream{ on_done = function() end } end)
    assert.equal(before, #srv.requests())
    assert.is_nil(dify.step(0))
  end)

  it("send neither callback to Dify", function()
    local task = client:chat_stream{ query = "quiet", on_done = function() end }
    frames_until(function() return task:done() end)
    local sent = srv.last("/chat%-messages$").json
    assert.equal("quiet", sent.query)
    assert.is_nil(sent.on_done)
    assert.is_nil(sent.on_event)
  end)
end)
