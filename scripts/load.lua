-- wrk script for the HTTP load figure (scripts/load.sh, BENCHMARKS.md "HTTP load (issue 3)").
--
-- Every request appends one `progress_updated` (the engine bench's event: an 80-byte note, 3 metadata
-- entries) with expected_version "any" to one of REDRESS_LOAD_STREAMS complaint streams
-- `complaint-load-0` .. (opened beforehand by load.sh), spread round-robin with a per-thread offset.
-- Event ids are left to the server. Authorization: Bearer REDRESS_LOAD_TOKEN (a publisher token).
--
-- done() prints one machine-readable line:
--   REDRESS_LOAD appends_per_s=.. created=.. other_status=.. socket_errors=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
-- counting only 201 answers as appends.

local streams = tonumber(os.getenv("REDRESS_LOAD_STREAMS") or "1000")
local token = os.getenv("REDRESS_LOAD_TOKEN") or error("REDRESS_LOAD_TOKEN (a publisher token) is not set")

local body = '{"expected_version":"any","events":[{"event_type":"progress_updated",'
  .. '"metadata":{"actor":"agent-0042","source":"bench","correlation_id":"corr-7f3a9c"},'
  .. '"data":{"note":"courier booked for pickup on Tuesday; replacement unit reserved","customer_informed":true}}]}'
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- Globals of this thread's Lua state, read back by done() through thread:get().
  created, other_status = 0, 0
  next_stream = (id * 7919) % streams
end

function request()
  local path = "/streams/complaint-load-" .. next_stream .. "/events"
  next_stream = (next_stream + 1) % streams
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other_status = other_status + 1
    if other_status <= 3 then
      io.stderr:write("load.lua: status " .. status .. ": " .. tostring(body) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local total_created, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_created = total_created + thread:get("created")
    total_other = total_other + thread:get("other_status")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "REDRESS_LOAD appends_per_s=%.0f created=%d other_status=%d socket_errors=%d seconds=%.2f "
      .. "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    total_created / seconds, total_created, total_other, e.connect + e.read + e.write + e.timeout, seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
