--- Command-line option parsing for `bin/dify`.
--
-- An option spec maps each spelling (`-c`, `--conversation`) to
-- `{ key = "conversation", value = true, list = false }`: `value` options take
-- the next word (or `--name=value`), `list` ones may repeat. Words that are
-- not options are positional; `--` ends the options.
-- @module dify.cli.args

local args = {}

--- Raised (as a table) for a malformed command line; `message` says why.
args.UsageError = {}
args.UsageError.__index = args.UsageError
args.UsageError.__tostring = function(e) return e.message end

--- Raises a usage error.
-- @tparam string message what is wrong
function args.usage_error(message)
  error(setmetatable({ message = message }, args.UsageError), 0)
end

--- True when v is a usage error.
function args.is_usage_error(v)
  return getmetatable(v) == args.UsageError
end

--- Splits argv by spec.
-- @tparam table argv the words, e.g. the script's `arg`
-- @tparam table spec option spellings to `{key=, value=, list=}`
-- @treturn table options by key (lists for `list` options), with the
--  positional words in `options[1..n]`
function args.parse(argv, spec)
  local options = {}
  local i = 1
  local only_positional = false
  while i <= #argv do
    local word = argv[i]
    if only_positional or word == "-" or word:sub(1, 1) ~= "-" then
      options[#options + 1] = word
    elseif word == "--" then
      only_positional = true
    else
      local name, inline = word:match("^(%-%-[^=]+)=(.*)$")
      name = name or word
      local option = spec[name]
      if not option then args.usage_error("unknown option " .. name) end
      local value = true
      if option.value then
        if inline then
          value = inline
        else
          i = i + 1
          value = argv[i]
          if value == nil then args.usage_error(name .. " needs a value") end
        end
      elseif inline then
        args.usage_error(name .. " takes no value")
      end
      if option.list then
        options[option.key] = options[option.key] or {}
        table.insert(options[option.key], value)
      else
        options[option.key] = value
      end
    end
    i = i + 1
  end
  return options
end

--- Turns `key=value` words into a table; `key:=json` decodes the value as JSON.
-- @tparam table pairs_list the words
-- @tparam function decode_json a JSON decoder returning value or nil, why
-- @treturn table the inputs
function args.inputs(pairs_list, decode_json)
  local inputs = {}
  for _, pair in ipairs(pairs_list or {}) do
    local key, json_text = pair:match("^([^=:]+):=(.*)$")
    if key then
      local value, why = decode_json(json_text)
      if value == nil then args.usage_error(("-i %s: not JSON (%s)"):format(key, tostring(why))) end
      inputs[key] = value
    else
      local name, value = pair:match("^([^=]+)=(.*)$")
      if not name then args.usage_error("-i expects key=value, got " .. pair) end
      inputs[name] = value
    end
  end
  return inputs
end

return args
