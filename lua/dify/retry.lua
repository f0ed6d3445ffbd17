--- When a failed request may be sent again, and after how long.
--
-- A request that never left (connection refused, DNS) is always retried. One
-- that was sent is retried only when repeating it cannot do harm twice: an
-- idempotent method (GET, PUT, DELETE) failing with a network error, 502, 503
-- or 504. A 429 was refused, not done, so any method is retried after the
-- server's `Retry-After`. A POST that reached the server is never sent twice.
-- @module dify.retry
local retry = {}

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
local GATEWAY_FAILURE = { [502] = true, [503] = true, [504] = true }

--- The default policy: `retries` further attempts, exponential backoff with
-- jitter from `base_delay` seconds, every wait capped at `max_wait` seconds.
function retry.policy(opts)
  return {
    retries = opts.retries or 2,
    base_delay = opts.retry_base_delay or 0.5,
    max_wait = opts.max_retry_wait or 60,
  }
end

local function backoff(policy, attempt)
  local full = policy.base_delay * 2 ^ (attempt - 1)
  -- Jitter spreads the retries of many clients that failed together.
  return full * (0.5 + 0.5 * math.random())
end

--- Seconds to wait before attempt `attempt + 1`, or nil when it must not be made.
-- @tparam table policy from retry.policy
-- @tparam string method the HTTP method
-- @tparam table err the failed attempt's error
-- @tparam number attempt how many attempts were made so far
function retry.delay(policy, method, err, attempt)
  if attempt > policy.retries then return nil end
  local wait
  if err.status == 429 then
    wait = err.retry_after or backoff(policy, attempt)
  elseif err.status then
    if not (IDEMPOTENT[method] and GATEWAY_FAILURE[err.status]) then return nil end
  elseif not err.request_sent then
    local unsent_failure = err.kind == "network" or (err.kind == "timeout" and err.which == "connect")
    if not unsent_failure then return nil end
  elseif not (IDEMPOTENT[method] and err.kind == "network") then
    return nil
  end
  return math.min(wait or backoff(policy, attempt), policy.max_wait)
end

return retry
