-- POST /api/customers with a code no other request uses:
-- <run prefix>-<thread>-<counter>.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local prefix = assert(os.getenv("BENCH_CODE_PREFIX"), "BENCH_CODE_PREFIX is not set")
local counter = 0
-- wrk.format() takes these instead of wrk.headers, so carry the token over.
local headers = { ["Content-Type"] = "application/json" }
for name, value in pairs(wrk.headers) do
  headers[name] = value
end

function request()
  counter = counter + 1
  local code = string.format("%s-%d-%d", prefix, thread_index, counter)
  local body = string.format(
    '{"code":"%s","name":"Bench customer %s","extraFields":{"source":"bench"}}', code, code)
  return wrk.format("POST", "/api/customers", headers, body)
end
