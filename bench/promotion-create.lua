-- POST /api/promotions: one customer, three products, a discount on each;
-- every request checks those four references in its statement.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require("common")

local customer = assert(os.getenv("BENCH_CUSTOMER_ID"), "BENCH_CUSTOMER_ID is not set")
local products = assert(os.getenv("BENCH_PRODUCT_IDS"), "BENCH_PRODUCT_IDS is not set")
local headers = { ["Content-Type"] = "application/json" }
for name, value in pairs(wrk.headers) do
  headers[name] = value
end

local lines = {}
for id in string.gmatch(products, "[^,]+") do
  table.insert(lines, string.format(
    '{"productId":"%s","discounts":[{"type":"percent","value":"12.5"},{"type":"amount","value":"3"}]}', id))
end
local body = string.format(
  '{"name":"Bench promotion","customerId":"%s","products":[%s]}', customer, table.concat(lines, ","))

function request()
  return wrk.format("POST", "/api/promotions", headers, body)
end
