# Shared by scripts/load.sh and scripts/edge_cost.sh (sourced, not run, from the repository's root): the
# tools they need, the release build, a `redress serve` on a fresh data directory with one publisher
# token, the complaint streams scripts/load.lua appends to, and the server's CPU time. Callers clean up
# `$server_pid` on exit.

fail() { echo "$(basename "$0") FAILED: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*" >&2; }
for tool in cargo wrk python3; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (wrk: apt-get update && apt-get install -y wrk)"
done

# load_parameters DURATION WARMUP: the load's shape from the environment (STREAMS, CONNECTIONS, THREADS,
# DURATION, WARMUP), else 1,000 streams, 64 connections, 2 wrk threads and the given durations.
load_parameters() {
  STREAMS=${STREAMS:-1000}
  CONNECTIONS=${CONNECTIONS:-64}
  THREADS=${THREADS:-2}
  DURATION=${DURATION:-$1}
  WARMUP=${WARMUP:-$2}
}

# build_release: the release `redress` the servers run.
build_release() {
  say "build (release)"
  cargo build --release --bin redress >&2 || fail "cargo build --release"
}

# start_server DIR OUT ERR [NAME=VALUE ...]: starts `redress serve` on DIR (127.0.0.1:0), the binary
# $REDRESS_BIN (default target/release/redress), with the publisher token $token and the given extra
# environment, waits until it listens, and sets server_pid and base (http://127.0.0.1:PORT).
start_server() {
  local dir=$1 out=$2 err=$3
  shift 3
  # Created here, not by the background job's redirection, which may come after the first `sed` below.
  : > "$out"
  : > "$err"
  env REDRESS_TOKENS="publisher:$token" REDRESS_LOG=warn "$@" \
    "${REDRESS_BIN:-target/release/redress}" --data-dir "$dir" serve --listen 127.0.0.1:0 > "$out" 2> "$err" &
  server_pid=$!
  base=""
  for _ in $(seq 1 200); do
    base=$(sed -n 's/^Redress is listening on //p' "$out")
    [ -n "$base" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$err" >&2; fail "redress serve exited"; }
    sleep 0.05
  done
  fail "redress serve did not say where it listens"
}

# stop_server ERR: SIGTERM, which must end the server with 0.
stop_server() {
  kill -TERM "$server_pid"
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" -eq 0 ] || { cat "$1" >&2; fail "redress serve exited $status on SIGTERM"; }
}

# open_streams COUNT: opens complaint-load-0 .. COUNT-1 with one complaint_received each (keep-alive loop).
open_streams() {
  python3 - "$base" "$token" "$1" <<'PY' || fail "opening the streams"
import http.client, json, sys, urllib.parse
base, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
for n in range(count):
    body = {"expected_version": "no_stream", "events": [{"event_type": "complaint_received",
        "metadata": {"actor": "agent-0042", "source": "bench", "correlation_id": "corr-7f3a9c"},
        "data": {"complaint_id": f"load-{n}", "customer_id": "K-31337", "channel": "hotline",
                 "category": "delivery", "severity": "normal", "description": "load test complaint"}}]}
    conn.request("POST", f"/streams/complaint-load-{n}/events", json.dumps(body), headers)
    response = conn.getresponse()
    text = response.read()
    if response.status != 201:
        sys.exit(f"complaint-load-{n}: {response.status} {text!r}")
PY
}

# server_cpu_ticks: user + system CPU of the server so far, in clock ticks (getconf CLK_TCK a second).
server_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

token="load-publisher-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
