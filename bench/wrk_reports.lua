-- wrk script for bench/http_intake.py: POST /api/v1/reports, a distinct incident per request.
-- Environment: BENCH_TOKEN (a township token for 城关镇), BENCH_AT (ISO 8601 known_at), BENCH_RUN (id prefix).
-- Prints one line "BENCH_JSON {...}" with the counts and latency percentiles (microseconds).

local token = os.getenv("BENCH_TOKEN")
local at = os.getenv("BENCH_AT")
local run = os.getenv("BENCH_RUN") or "wrk"
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (token or ""),
}

function request()
  counter = counter + 1
  local body = string.format(
    '{"incident_id":"%s-%d-%d","township":"城关镇","type":"first","category":"安全生产",' ..
    '"level":"II","title":"某企业仓库火情","summary":"现场明火已扑灭，无人员伤亡，原因调查中。",' ..
    '"occurred_at":"%s","known_at":"%s","reporter":{"name":"张三","phone":"0791-88888888"}}',
    run, tid, counter, at, at)
  return wrk.format("POST", "/api/v1/reports", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
