-- wrk scenario for the Task API benchmark (driven by run_bench.py).
-- Arguments after "--": method, path, max requests per thread, then optional
-- bearer token and JSON body. Prints one JSON line with the results in done().
local method, path, max_requests, token, body
local count = 0

function init(args)
  method = args[1]
  path = args[2]
  max_requests = tonumber(args[3])
  token = args[4]
  body = args[5]
  local headers = {}
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  if body and body ~= "" then
    headers["Content-Type"] = "application/json"
  else
    body = nil
  end
  -- Pre-build the request once: building it per request costs client CPU.
  req = wrk.format(method, path, headers, body)
end

function request()
  return req
end

function response(status, headers, body)
  -- Bound the run by request count as well as by time.
  count = count + 1
  if count >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
