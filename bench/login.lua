-- POST /api/auth/login with the bench user's email and password (from
-- bench/http.sh): Argon2id (19 MiB, 2 iterations) inside the wasm, one
-- lookup and one insert of a refresh token.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

local body

function init(args)
  body = string.format('{"email": "%s", "password": "%s"}',
    assert(os.getenv("BENCH_EMAIL")), assert(os.getenv("BENCH_PASSWORD")))
end

function request()
  return wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
end
