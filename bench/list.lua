-- GET /api/customers: the first page with the default limit (50).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

wrk.method = "GET"
wrk.path = "/api/customers"
