-- wrk script for scripts/load-swap.sh: GET /api/readiness/current, which
-- runs the whole readiness checklist (the bundle's items and the hot-swap
-- fixture `swap-item`) and stores the assessment. The token comes from
-- wrk's -H "Authorization: Bearer ...".
-- Besides counting every status other than 200 (as authorize.lua does), it
-- reads swap-item's line in each 200 reply: version 1.0.0 passes and 2.0.0
-- fails, so a line whose verdict does not match its `pluginVersion` would be
-- a reply decided half by one version and half by the other ("torn"). The
-- figures the load script parses are printed as `key: value` lines.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  first_bad = ""
  v1 = 0
  v2 = 0
  torn = 0
  missing = 0
  first_torn = ""
  wrk.method = "GET"
end

-- swap-item's object in the reply's `items`: from its id to the next `}`
-- (no field of an item holds an object or a brace).
local function swap_item(body)
  local s = string.find(body, '{"id":"swap-item"', 1, true)
  if not s then return nil end
  local e = string.find(body, "}", s, true)
  return string.sub(body, s, e or #body)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 200)
    end
    return
  end
  local item = swap_item(body or "")
  if not item then
    missing = missing + 1
    return
  end
  local passed = string.find(item, '"passed":true', 1, true) ~= nil
  local failed = string.find(item, '"passed":false', 1, true) ~= nil
  local is_v1 = string.find(item, '"pluginVersion":"1.0.0"', 1, true) ~= nil
  local is_v2 = string.find(item, '"pluginVersion":"2.0.0"', 1, true) ~= nil
  local says_v1 = string.find(item, "swap-item v1: passes", 1, true) ~= nil
  local says_v2 = string.find(item, "swap-item v2: fails", 1, true) ~= nil
  if is_v1 and passed and says_v1 then
    v1 = v1 + 1
  elseif is_v2 and failed and says_v2 then
    v2 = v2 + 1
  else
    torn = torn + 1
    if first_torn == "" then first_torn = item end
  end
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  local n1, n2, nt, nm, ft = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
    n1 = n1 + (t:get("v1") or 0)
    n2 = n2 + (t:get("v2") or 0)
    nt = nt + (t:get("torn") or 0)
    nm = nm + (t:get("missing") or 0)
    local f = t:get("first_bad")
    if first == "" and f and f ~= "" then first = f end
    local g = t:get("first_torn")
    if ft == "" and g and g ~= "" then ft = g end
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
  io.write(string.format("swap_item_v1: %d\n", n1))
  io.write(string.format("swap_item_v2: %d\n", n2))
  io.write(string.format("swap_item_torn: %d\n", nt))
  io.write(string.format("swap_item_missing: %d\n", nm))
  if first ~= "" then
    io.write("first_non_200: " .. first .. "\n")
  end
  if ft ~= "" then
    io.write("first_torn: " .. ft .. "\n")
  end
end
