--- Walks every page of a list call: `client:each(method, params)`.
--
--     for conversation in client:each("conversations", { limit = 100 }) do
--       print(conversation.id, conversation.name)
--     end
--
-- Each list follows its own cursor rule (from the route table): `last_id`
-- (the last item's id), `first_id` (the oldest message's id; history runs
-- newest page first) or `page` numbers (until `has_more` is false, a page
-- is not full, or `total_pages` is reached, as each list says). At most `max_pages` pages are walked
-- (default 1000). A failed page raises the error object.
-- @module dify.pager
local routes = require("dify.routes")

local pager = {}

local DEFAULT_MAX_PAGES = 1000

local function oldest_id(items)
  -- Dify lists each history page oldest first; be liberal and pick by time.
  local oldest = items[1]
  for _, item in ipairs(items) do
    if type(item.created_at) == "number" and type(oldest.created_at) == "number"
      and item.created_at < oldest.created_at then
      oldest = item
    end
  end
  return oldest.id
end

local function next_page(fields, page) fields.page = (tonumber(page.page) or fields.page or 1) + 1 end

local advance = {
  last_id = function(fields, page) fields.last_id = page.data[#page.data].id end,
  first_id = function(fields, page) fields.first_id = oldest_id(page.data) end,
  page = next_page,
  page_full = next_page,
  total_pages = next_page,
}

-- Whether a page has another after it, by the rule of its list: most say
-- `has_more`; app feedbacks say nothing (a full page may have a next one);
-- child chunks give `total_pages`.
local more_after = {
  page_full = function(page, fields)
    local limit = tonumber(page.limit) or tonumber(fields.limit) or 20
    return #page.data >= limit
  end,
  total_pages = function(page, fields)
    local current = tonumber(page.page) or tonumber(fields.page) or 1
    return current < (tonumber(page.total_pages) or 0)
  end,
}
local function has_more(page) return page.has_more == true end

--- Returns an iterator over the items of every page.
-- @tparam table client a dify client
-- @tparam string method a list method's name, e.g. "conversations"
-- @tparam[opt] table params the method's fields (path fields by name), plus `max_pages`
-- @tparam[opt] table route_table where `method` is looked up (default `dify.routes`;
--  `dify.console` passes its own)
function pager.each(client, method, params, route_table)
  local route = (route_table or routes).by_name[method]
  if not route or not route.paging then
    error(("each: %s is not a list call"):format(tostring(method)), 3)
  end
  if params ~= nil and type(params) ~= "table" then error("each: params must be a table", 3) end
  local fields = {}
  for k, v in pairs(params or {}) do fields[k] = v end
  local max_pages = fields.max_pages or DEFAULT_MAX_PAGES
  fields.max_pages = nil

  local more = more_after[route.paging] or has_more
  local page, index, pages_walked = nil, 0, 0
  return function()
    while true do
      if page then
        index = index + 1
        local item = page.data[index]
        if item ~= nil then return item end
        if not more(page, fields) or #page.data == 0 or pages_walked >= max_pages then return nil end
        advance[route.paging](fields, page)
      end
      local result, err = client:_call(route, fields, 2)
      if not result then error(err, 0) end
      pages_walked = pages_walked + 1
      page, index = result, 0
      if type(page.data) ~= "table" then page.data = {} end
    end
  end
end

return pager
