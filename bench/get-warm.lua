-- GET <BENCH_ID_PATH><id> (/api/customers/ unless set) cycling over a few
-- ids that bench/http.sh has already put in the cache: the warm read of
-- customers, and of promotions (the promotion-get scenario).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local ids, next_id
local id_path = os.getenv("BENCH_ID_PATH") or "/api/customers/"

function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS_FILE"))
  -- Threads start on different ids so they do not move in lockstep.
  next_id = thread_index % #ids
end

function request()
  next_id = next_id % #ids + 1
  return wrk.format("GET", id_path .. ids[next_id])
end
