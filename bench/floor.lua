-- GET BENCH_PATH on the floors app (bench/floors/spin.toml). The token
-- header common.lua adds is ignored there.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

wrk.method = "GET"
wrk.path = assert(os.getenv("BENCH_PATH"), "BENCH_PATH is not set")
