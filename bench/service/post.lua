-- bench/service/post.lua: wrk script that POSTs one JSON body to every request.
-- The body is read from the file named by the environment variable BODY
-- (default bench/service/small.json); the API key, when set, from MCTX_KEY.
-- Prints the status codes seen at the end, so a run that answered errors is
-- never taken for a fast one.
local path = os.getenv("BODY") or "bench/service/small.json"
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("MCTX_KEY")
if key and key ~= "" then wrk.headers["X-API-Key"] = key end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local seen = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do seen[code] = (seen[code] or 0) + n end
  end
  local line = "statuses:"
  for code, n in pairs(seen) do line = line .. " " .. code .. "=" .. n end
  io.write(line .. "\n")
  io.write(string.format("p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
