-- GET /api/customers/:id cycling over a few ids that bench/http.sh has
-- already put in the Redis cache.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local ids, next_id

function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS_FILE"))
  -- Threads start on different ids so they do not move in lockstep.
  next_id = thread_index % #ids
end

function request()
  next_id = next_id % #ids + 1
  return wrk.format("GET", "/api/customers/" .. ids[next_id])
end
