-- GET /api/customers/:id where every request names a different id that is
-- not in the Redis cache (bench/http.sh deletes the keys before the run).
-- Thread i of n takes ids i+1, i+1+n, i+1+2n, ... so no id is asked twice.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local ids, next_id

function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS_FILE"))
  next_id = thread_index + 1
end

function request()
  if next_id > #ids then
    -- Out of uncached ids: stop this thread rather than repeat one. The
    -- request already asked for still goes out, so make it a cheap one that
    -- does not touch customers; http.sh reports the run as too short on ids.
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/api/health")
  end
  local id = ids[next_id]
  next_id = next_id + thread_count
  return wrk.format("GET", "/api/customers/" .. id)
end
