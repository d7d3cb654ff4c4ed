-- usage: wrk ... -s ss.lua URL -- TENANTS QUERY_FILE TOKEN_FILE [MODE [FROM TO]]
--   MODE slug: variables {slug} (default);  q2: + a random status (TO_ADDRESS|PLANNED) and category;
--   q3: + {from, to}.  Counts non-200 / "errors" responses and prints a RESULT line (as overview.lua).
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
local function slurp(path) local f = assert(io.open(path, "r")); local s = f:read("*a"); f:close(); return s end
local tenants, prefix, mode, extra
local statuses = {"TO_ADDRESS", "PLANNED"}
local categories = {"IDENTITY", "DEVICE", "APPS", "DATA", "INFRASTRUCTURE"}
function init(args)
  tenants = tonumber(args[1] or "1000")
  local q = slurp(args[2])
  q = q:gsub("%s+", " "):gsub("\\", "\\\\"):gsub('"', '\\"')
  local token = slurp(args[3]):gsub("%s+", "")
  mode = args[4] or "slug"
  extra = ""
  if mode == "q3" then extra = string.format(',"from":"%s","to":"%s"', args[5], args[6]) end
  prefix = '{"query":"' .. q .. '","variables":{'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  math.randomseed(os.time() * 1000 + (tid or 0))
  errors, responses = 0, 0
end
function request()
  local vars = string.format('"slug":"scale-%05d"', math.random(1, tenants))
  if mode == "q2" then
    vars = vars .. string.format(',"statuses":["%s"],"categories":["%s"]',
      statuses[math.random(1, 2)], categories[math.random(1, 5)])
  end
  return wrk.format(nil, nil, nil, prefix .. vars .. extra .. '}}')
end
function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or body:find('"errors"', 1, true) then
    errors = errors + 1
    if not first_error then first_error = status .. " " .. body:sub(1, 200) end
  end
end
function done(summary, latency, requests)
  local e, r = 0, 0
  for _, t in ipairs(threads) do e = e + (t:get("errors") or 0); r = r + (t:get("responses") or 0) end
  for _, t in ipairs(threads) do local f = t:get("first_error"); if f then io.write("FIRST_ERROR " .. f:gsub("\n", " ") .. "\n"); break end end
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d responses=%d errors=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, r, e,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
