-- wrk script: prints the run's figures as one JSON line (prefixed "@@json ") when it ends.
-- Defines no request/response hook, so wrk keeps sending its one pre-built request.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '@@json {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,' ..
      '"errors_timeout":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,' ..
      '"lat_p99_us":%d,"lat_max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
