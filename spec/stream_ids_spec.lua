-- A stream keeps the latest non-null ids its events name, whichever way an
-- event takes through the stream's loop (plain `message` events take a short one).
local dify = require("dify")
local Stream = require("dify.stream")

-- A core stream that hands out the given data strings, then ends.
local function fake_core(datas)
  local i = 0
  local core = {}
  function core.next()
    i = i + 1
    if datas[i] == nil then return nil end
    return "", datas[i]
  end
  function core.close() end
  return core
end

local function stream_of(datas)
  local client = dify.new{ base_url = "http://127.0.0.1:9/v1", api_key = "app-x", user = "u" }
  return Stream.new(client, fake_core(datas), require("dify.routes").by_name.chat_stream, {})
end

describe("a stream's ids", function()
  it("follow the latest message event, and ignore null", function()
    local s = stream_of{
      '{"event":"message","task_id":"t1","message_id":"m1","conversation_id":"c1","answer":"a"}',
      '{"event":"message","task_id":"t1","message_id":"m1","conversation_id":"c1","answer":"b"}',
      '{"event":"message","task_id":"t2","message_id":"m1","conversation_id":"c1","answer":"c"}',
      '{"event":"message","task_id":null,"message_id":"m2","conversation_id":"c1","answer":"d"}',
      '{"event":"message","task_id":"t2","message_id":"m2","conversation_id":"c1","workflow_run_id":"w1"}',
      '{"event":"message_end","task_id":"t2","message_id":"m2","conversation_id":"c2"}',
    }
    local seen = {}
    for ev in s do
      seen[#seen + 1] = { s.task_id, s.message_id, s.conversation_id, s.workflow_run_id or "-" }
      assert.is_table(ev)
    end
    assert.same({
      { "t1", "m1", "c1", "-" },
      { "t1", "m1", "c1", "-" },
      { "t2", "m1", "c1", "-" },
      { "t2", "m2", "c1", "-" },
      { "t2", "m2", "c1", "w1" },
      { "t2", "m2", "c2", "w1" },
    }, seen)
    assert.equal(6, s.delivered)
  end)

  it("are taken from an event named only by its event: line", function()
    local s = stream_of{ '{"task_id":"t9","answer":"x"}', '{"event":"message_end"}' }
    local ev = s:next()
    assert.equal("message", ev.event)
    assert.equal("t9", s.task_id)
    assert.is_table(s:next())
    assert.is_nil(s:next())
  end)
end)
