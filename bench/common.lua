-- Shared by every scenario script (loaded with `require "common"`): the
-- bearer token, a thread index for splitting work, the non-2xx count, and one
-- `BENCH key=value ...` line that bench/http.sh parses.
--
-- wrk gives each thread its own Lua state plus one more for setup()/done(),
-- so per-thread counters travel back through thread:get() in done().

local common = {}

local threads = {}

wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")

function setup(thread)
  thread:set("thread_index", #threads)
  thread:set("thread_count", tonumber(os.getenv("BENCH_THREADS") or "1"))
  thread:set("non2xx", 0)
  thread:set("exhausted", 0)
  thread:set("first_failure", "")
  table.insert(threads, thread)
end

-- wrk's own error count only sees statuses above 399; a 1xx/3xx would be
-- just as wrong here.
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_failure == "" then
      first_failure = status .. " " .. body:sub(1, 300)
    end
  end
end

function done(summary, latency, requests)
  local non2xx_total, exhausted_threads = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    exhausted_threads = exhausted_threads + thread:get("exhausted")
    local failure = thread:get("first_failure")
    if failure ~= "" then
      io.write("FAILURE " .. failure:gsub("\n", " ") .. "\n")
    end
  end
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d exhausted_threads=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    non2xx_total, errors.connect + errors.read + errors.write + errors.timeout,
    exhausted_threads))
end

function common.read_lines(path)
  assert(path, "id file not set")
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  assert(#lines > 0, "no ids in " .. path)
  return lines
end

return common
