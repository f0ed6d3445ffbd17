--- A run's event broadcast: what Dify 1.13+ does with Redis pub/sub.
--
-- The run publishes each event as it happens; a subscriber sees only the
-- events published after it subscribed (there is no replay), in order, and
-- learns when the run has nothing more to say (the channel is closed).
-- Events are kept in one append-only list and a subscription is a position
-- in it, so a slow reader loses nothing and a fast run never waits.

local socket = require("socket")
local loop = require("dify.mock.loop")

local Channel = {}
Channel.__index = Channel

local Subscription = {}
Subscription.__index = Subscription

-- How often a waiting subscriber looks for news: short enough for specs to
-- see no delay, long enough to cost nothing.
local POLL = 0.01

function Channel.new()
  return setmetatable({ events = {}, closed = false, listening = 0 }, Channel)
end

--- Appends an event for every current subscriber.
function Channel:publish(event)
  self.events[#self.events + 1] = event
end

--- Ends every subscription once it has read what was published before.
function Channel:close()
  self.closed = true
end

--- Starts reading at the next event published.
function Channel:subscribe()
  self.listening = self.listening + 1
  return setmetatable({ channel = self, next_index = #self.events + 1, open = true }, Subscription)
end

--- Whether somebody is reading the channel right now.
function Channel:has_listeners()
  return self.listening > 0
end

--- The next event; or nil, "closed" once the channel is closed and read to
-- its end; or nil, "idle" when nothing came for `idle` seconds (the caller
-- may send a keep-alive and ask again).
function Subscription:next(idle)
  local deadline = socket.gettime() + idle
  local channel = self.channel
  while true do
    local event = channel.events[self.next_index]
    if event then
      self.next_index = self.next_index + 1
      return event
    elseif channel.closed then
      return nil, "closed"
    elseif socket.gettime() >= deadline then
      return nil, "idle"
    end
    loop.sleep(POLL)
  end
end

--- Stops counting this reader as a listener (idempotent).
function Subscription:cancel()
  if self.open then
    self.open = false
    self.channel.listening = self.channel.listening - 1
  end
end

return Channel
