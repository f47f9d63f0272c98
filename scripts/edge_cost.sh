#!/usr/bin/env bash
# What the HTTP edge's limits cost (BENCHMARKS.md "HTTP edge limits"): one-event appends/s through
# `redress serve` (release) with its limits enforced (API.md's defaults) and with them off, measured in
# short alternating rounds of one run, so that the shared machine's swings fall on both alike.
#
#   scripts/edge_cost.sh
#   PAIRS=12 STREAMS=1000 CONNECTIONS=64 THREADS=2 DURATION=5s WARMUP=1s scripts/edge_cost.sh   # the defaults
#   BASELINE=path/to/an/older/redress scripts/edge_cost.sh   # a third server, "base", in every round too
#
# "Off" is REDRESS_BENCH_UNLIMITED_EDGE=1 (the hidden `serve --bench-unlimited-edge`): no connection cap,
# no head, idle or body deadlines, no load shedding, no request-line and header checks; the body size
# limit stays. Everything else is the same binary and the same code path.
# Two servers run side by side for the whole run, each on a fresh data dir under target/tmp with
# STREAMS complaint streams opened; only one is loaded at a time. A round is a WARMUP wrk run (discarded)
# then `wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s scripts/load.lua` (the request of
# scripts/load.sh: one progress_updated per POST) against one server, with that server's CPU time over
# it. Pair i loads "on" then "off" when i is odd, "off" then "on" when it is even ("base", if given,
# comes first in odd pairs and last in even ones). At the end every server gets SIGTERM (each must exit
# 0). Prints every round, the on/off ratio of each pair (appends/s, and server CPU per append), and
# their median, geometric mean with a 95% interval, and range; with BASELINE, also on/base and off/base.
# Needs: cargo, wrk (apt-get install -y wrk), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-12}
# shellcheck source=scripts/http_bench.sh
. scripts/http_bench.sh
load_parameters 5s 1s
build_release

mkdir -p target/tmp
work=$(mktemp -d target/tmp/redress-edge-XXXXXX)
server_pid=""
declare -A pid url
cleanup() {
  # $server_pid too: a server that failed to start is not in pid[] yet.
  for p in "${pid[@]}" $server_pid; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export REDRESS_LOAD_STREAMS="$STREAMS" REDRESS_LOAD_TOKEN="$token"

modes=(on off)
[ -n "${BASELINE:-}" ] && modes+=(base)
for mode in "${modes[@]}"; do
  extra=()
  [ "$mode" = off ] && extra=(REDRESS_BENCH_UNLIMITED_EDGE=1)
  REDRESS_BIN=target/release/redress
  [ "$mode" = base ] && REDRESS_BIN=$BASELINE
  say "$mode: $REDRESS_BIN serve on $work/$mode, $STREAMS streams"
  start_server "$work/$mode" "$work/$mode.out" "$work/$mode.err" "${extra[@]}"
  pid[$mode]=$server_pid
  url[$mode]=$base
  if [ "$mode" = off ]; then
    grep -q "without the edge limits" "$work/$mode.err" || fail "the server did not switch its limits off"
  fi
  open_streams "$STREAMS"
done

# round MODE N: one measured round against the server with the limits on or off.
round() {
  local mode=$1 n=$2
  server_pid=${pid[$mode]}
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s scripts/load.lua "${url[$mode]}" > /dev/null || fail "wrk warm-up"
  local before after line
  before=$(server_cpu_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/load.lua "${url[$mode]}" > "$work/wrk.txt" \
    || fail "wrk"
  after=$(server_cpu_ticks)
  line=$(grep '^REDRESS_LOAD ' "$work/wrk.txt") || fail "no REDRESS_LOAD line from load.lua"
  echo "mode=$mode pair=$n cpu_ticks=$((after - before)) ${line#REDRESS_LOAD }" | tee -a "$work/rounds.txt" >&2
}

for n in $(seq 1 "$PAIRS"); do
  if [ $((n % 2)) -eq 1 ]; then
    [ -n "${BASELINE:-}" ] && round base "$n"
    round on "$n"
    round off "$n"
  else
    round off "$n"
    round on "$n"
    [ -n "${BASELINE:-}" ] && round base "$n"
  fi
done

for mode in "${modes[@]}"; do
  server_pid=${pid[$mode]}
  stop_server "$work/$mode.err"
done

python3 - "$work/rounds.txt" "$(getconf CLK_TCK)" <<'PY'
import math, statistics, sys
rounds = []
for line in open(sys.argv[1]):
    fields = dict(f.split("=", 1) for f in line.split())
    created = int(fields["created"])
    fields["cpu_us"] = 1e6 * int(fields["cpu_ticks"]) / int(sys.argv[2]) / max(created, 1)
    rounds.append(fields)
print("| pair | limits | appends/s | p50 ms | p99 ms | other statuses | socket errors | server CPU µs/append |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rounds:
    print(f"| {r['pair']} | {r['mode']} | {float(r['appends_per_s']):,.0f} | {float(r['p50_ms']):.2f} | "
          f"{float(r['p99_ms']):.2f} | {r['other_status']} | {r['socket_errors']} | {r['cpu_us']:.0f} |")
pairs = {}
for r in rounds:
    pairs.setdefault(r["pair"], {})[r["mode"]] = r
def ratios(a, b):
    rate = [float(p[a]["appends_per_s"]) / float(p[b]["appends_per_s"]) for p in pairs.values()]
    return rate, [p[a]["cpu_us"] / p[b]["cpu_us"] for p in pairs.values()]
def summary(name, ratios):
    # The geometric mean of the ratios, with about a 95% interval (two standard errors of the logs).
    logs = [math.log(x) for x in ratios]
    # One pair has no spread to estimate: its interval is the point itself.
    spread = 2 * statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
    centre = statistics.mean(logs)
    print(f"{name}: median {statistics.median(ratios):.3f}, geometric mean {math.exp(centre):.3f} "
          f"(95%: {math.exp(centre - spread):.3f}-{math.exp(centre + spread):.3f}), "
          f"range {min(ratios):.3f}-{max(ratios):.3f} ({', '.join(f'{x:.3f}' for x in ratios)})")
comparisons = [("on", "off")]
if all("base" in p for p in pairs.values()):
    comparisons += [("on", "base"), ("off", "base")]
for a, b in comparisons:
    rate, cpu = ratios(a, b)
    print()
    summary(f"appends/s, {a} / {b}", rate)
    summary(f"server CPU per append, {a} / {b}", cpu)
PY
