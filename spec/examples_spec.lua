-- Every script in examples/ runs against the fake server and says what it did.
local support = require("spec.support")

local LUA = os.getenv("DIFY_LUA") or "lua5.4"

local function run_example(srv, name, args, key, env)
  local command = ("%sDIFY_BASE_URL=%q DIFY_API_KEY=%s %s examples/%s %s 2>&1; echo \"exit:$?\"")
    :format(env or "", srv.url, key or "app-example-key", LUA, name, args or "")
  local pipe = assert(io.popen(command))
  local output = pipe:read("*a")
  pipe:close()
  local status = tonumber(output:match("exit:(%d+)%s*$"))
  return status, output
end

describe("examples", function()
  local srv

  setup(function() srv = support.start() end)
  teardown(function() srv.stop() end)

  local expectations = {
    ["chat_stream.lua"] = { args = '"streams are fun"', says = "Echo: streams are fun" },
    ["conversations.lua"] = { says = "deleted" },
    ["files.lua"] = { says = "downloaded to" },
    ["audio.lua"] = { says = "transcript: transcribed" },
    ["annotations.lua"] = { says = "annotation reply: completed" },
    ["workflow.lua"] = { args = '"flow"', says = "blocking run succeeded" },
    ["human_input.lua"] = { says = "workflow succeeded" },
    ["knowledge_base.lua"] = { says = "deleted dataset", key = "dataset-example-key" },
    -- Logs in to the fake console (spec/console_*_spec.lua): on its own port here, so with its account given.
    ["console.lua"] = { says = "Echo: Hello!", env = function(server)
      return ("DIFY_CONSOLE_URL=%q DIFY_EMAIL=admin@example.com DIFY_PASSWORD=dify-mock-password "):format(
        (server.url:gsub("/v1$", "")))
    end },
  }

  for name, expected in pairs(expectations) do
    it(name .. " runs", function()
      local status, output = run_example(srv, name, expected.args, expected.key, expected.env and expected.env(srv))
      assert.equal(0, status, output)
      assert.matches(expected.says, output, 1, true)
      assert.not_matches("example%-key", output)
    end)
  end

  it("covers every script in examples/", function()
    local pipe = assert(io.popen("ls examples"))
    for file in pipe:lines() do
      if file:match("%.lua$") then assert.truthy(expectations[file], file .. " has no spec") end
    end
    pipe:close()
  end)
end)
