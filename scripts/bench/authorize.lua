-- wrk script for scripts/load-control.sh: POST /api/authorize with a mix of
-- command types, some whitelisted at L4 (SET_POWER, SET_FAN, SET_DRUM,
-- SET_AIRFLOW), some not (PREHEAT, EMERGENCY_SHUTDOWN), some with a workflow
-- or an agent. The token comes from wrk's -H "Authorization: Bearer ...".
-- Every status other than 200 is counted per thread and reported in done(),
-- with the first such response, and the figures the load script parses are
-- printed as `key: value` lines.

local bodies = {
  '{"commandType":"SET_POWER"}',
  '{"commandType":"SET_FAN","workflowId":"wf-1"}',
  '{"commandType":"SET_DRUM","agentId":"agent-1"}',
  '{"commandType":"EMERGENCY_SHUTDOWN"}',
  '{"commandType":"SET_AIRFLOW","workflowId":"wf-2","agentId":"agent-2"}',
  '{"commandType":"PREHEAT","agentId":"agent-3"}',
  '{"commandType":"SET_POWER","workflowId":"wf-3"}',
  '{"commandType":"COOLING_CYCLE"}',
}

local threads = {}

-- AUTHORIZE_PACE_MS paces each connection: one request, then that pause,
-- so the offered rate is steady whatever else the machine is doing.
local pace = tonumber(os.getenv("AUTHORIZE_PACE_MS") or "")
if pace then
  function delay()
    return pace
  end
end

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  first_bad = ""
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  reqs = {}
  -- With an agent-bound token (AUTHORIZE_AGENT=<its agent>), a body may
  -- name only that agent: every agentId becomes it.
  local agent = os.getenv("AUTHORIZE_AGENT")
  for i, b in ipairs(bodies) do
    if agent and agent ~= "" then
      b = b:gsub('"agentId":"[^"]*"', '"agentId":"' .. agent .. '"')
    end
    reqs[i] = wrk.format("POST", "/api/authorize", nil, b)
  end
  n = offset or 0
end

function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
    local f = t:get("first_bad")
    if first == "" and f and f ~= "" then first = f end
  end
  local errors = summary.errors
  io.write(string.format("requests_completed: %d\n", summary.requests))
  io.write(string.format("req_per_s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms: %.3f\n", latency:percentile(50) / 1000))
  io.write(string.format("p90_ms: %.3f\n", latency:percentile(90) / 1000))
  io.write(string.format("p99_ms: %.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("max_ms: %.3f\n", latency.max / 1000))
  io.write(string.format("non_200: %d\n", bad))
  io.write(string.format("socket_errors: %d\n",
    errors.connect + errors.read + errors.write + errors.timeout))
  if first ~= "" then
    io.write("first_non_200: " .. first .. "\n")
  end
end
