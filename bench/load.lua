-- wrk script for bench/run.py: POSTs pre-made JSON bodies (one per line of a file,
-- cycled) with the API key, or GETs when no body file is given; counts non-2xx
-- responses itself and prints one machine-readable summary line.
--
--   wrk -t2 -c32 -d10s --latency -s bench/load.lua URL -- BODIES_FILE|- API_KEY|-

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  local file, key = args[1], args[2]
  if file and file ~= "-" then
    for line in io.lines(file) do
      if #line > 0 then table.insert(bodies, line) end
    end
  end
  headers = {["Content-Type"] = "application/json"}
  if key and key ~= "-" then headers["Authorization"] = "Bearer " .. key end
  counter = math.random(0, math.max(#bodies, 1))
  non2xx = 0
  first_bad = ""
end

function request()
  if #bodies == 0 then
    return wrk.format("GET", nil, headers, nil)
  end
  counter = counter + 1
  return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    local s = thread:get("first_bad")
    if sample == "" and s then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f\n",
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  if sample ~= "" then
    io.write("BENCH_FIRST_BAD " .. string.gsub(sample, "\n", " ") .. "\n")
  end
end
