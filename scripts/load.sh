#!/usr/bin/env bash
# HTTP load figure for BENCHMARKS.md ("HTTP load (issue 3)"): appends/s, p50 and p99 of one-event appends
# through `redress serve`, next to the engine's own in-process figure measured in the same run.
#
#   scripts/load.sh                      # build release, engine bench, HTTP load, engine bench again
#   STREAMS=1000 CONNECTIONS=64 THREADS=2 DURATION=15s WARMUP=3s scripts/load.sh
#
# Steps:
# 1. `cargo build --release --bin redress` and `cargo bench --bench engine --no-run`.
# 2. Engine, in process: the bench binary with `--bench --only fsync,concurrent` (64 tokio tasks, each
#    appending one progress_updated per call to its own stream, 3 s, bracketed by a raw fdatasync baseline).
# 3. HTTP: `target/release/redress serve --listen 127.0.0.1:0` on a fresh dir under target/tmp (same
#    filesystem as the engine bench) with one publisher token; STREAMS complaint streams opened by a
#    complaint_received each; a WARMUP run of wrk (discarded); then
#    `wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s scripts/load.lua`: one progress_updated per
#    POST, expected_version "any", round-robin over the streams. Only 201 answers count. The server's and
#    wrk's CPU time during the measured run are read from /proc and bash's `time`.
# 4. The server is stopped with SIGTERM (must exit 0), then `redress verify` checks the chain, and the log
#    must hold every append answered 201 (openings, warm-up, load), plus at most those in flight at wrk's stop.
# 5. Engine again, so the HTTP run is bracketed by two engine runs; then twice more, `--only concurrent
#    --per-writer 100` and `600` under bash's `time`: the CPU difference / 32,000 is the engine's CPU per
#    event without fixed costs, to compare with the server's and wrk's CPU per append.
# Needs: cargo, wrk (apt-get install -y wrk), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/http_bench.sh
. scripts/http_bench.sh
load_parameters 15s 3s
build_release
# The bench binary is run directly afterwards (as `cargo bench` would, with `--bench`), so that files other
# people edit meanwhile cannot trigger a rebuild, or break one, in the middle of the run.
engine_bin=$(cargo bench --bench engine --no-run 2>&1 | tee /dev/stderr \
  | sed -n 's/.*Executable benches\/engine.rs (\(.*\))$/\1/p' | tail -n1) || fail "cargo bench --no-run"
[ -x "$engine_bin" ] || fail "cargo bench --bench engine --no-run named no executable"

mkdir -p target/tmp
work=$(mktemp -d target/tmp/redress-load-XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Runs the engine bench into $work/engine-$1.txt and prints its 64-writer rows.
engine_run() {
  local out="$work/engine-$1.txt"
  say "engine in process ($1): $engine_bin --bench --only fsync,concurrent (= cargo bench --bench engine -- --only fsync,concurrent)"
  "$engine_bin" --bench --only fsync,concurrent > "$out" 2> "$work/engine-$1.err" \
    || { cat "$work/engine-$1.err" >&2; return 1; }
  grep -E '^\| (1\. raw|3\. )' "$out" >&2
}
# "rate|p50|p99|baseline|events" of the 64-writer rows: "| 3. 64 concurrent writers, 1 event/append | 34,429 | 4.78× |
# 7,200 (around: 7,390 → 7,010) | ..." and "| 3. 64 concurrent writers, ... | events | seconds | p50 | p99 | ...".
engine_fields() {
  awk -F'|' '/^\| 3\. / && !rate { gsub(/[ ,]/, "", $3); rate = $3; base = $5; sub(/^ +/, "", base); sub(/ +$/, "", base) }
             /^\| 3\. / && NF >= 10 { gsub(/[ ,]/, "", $3); events = $3; gsub(/ /, "", $5); gsub(/ /, "", $6); p50 = $5; p99 = $6 }
             END { print rate "|" p50 "|" p99 "|" base "|" events }' "$work/engine-$1.txt"
}

engine_run before || fail "cargo bench (before)"
IFS="|" read -r engine_before engine_before_p50 engine_before_p99 engine_before_base _ <<< "$(engine_fields before)"
[ -n "$engine_before" ] || fail "no 64-writer row in the engine bench's output"

say "HTTP: redress serve on $work/data"
start_server "$work/data" "$work/serve.out" "$work/serve.err"
echo "listening on $base" >&2

say "opening $STREAMS complaint streams"
open_streams "$STREAMS"

export REDRESS_LOAD_STREAMS="$STREAMS" REDRESS_LOAD_TOKEN="$token"
say "warm-up: wrk -t$THREADS -c$CONNECTIONS -d$WARMUP (discarded)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s scripts/load.lua "$base" > "$work/warmup.txt" \
  || fail "wrk warm-up"
warm_created=$(sed -n 's/.*created=\([0-9]*\).*/\1/p' "$work/warmup.txt")

ticks_per_s=$(getconf CLK_TCK)
say "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s scripts/load.lua $base"
server_cpu_before=$(server_cpu_ticks)
TIMEFORMAT='%U %S'
{ time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/load.lua "$base" > "$work/wrk.txt"; } \
  2> "$work/wrk.time" || fail "wrk"
server_cpu_after=$(server_cpu_ticks)
cat "$work/wrk.txt" >&2
line=$(grep '^REDRESS_LOAD ' "$work/wrk.txt") || fail "no REDRESS_LOAD line from load.lua"
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<< "$line"; }
http_rate=$(field appends_per_s); created=$(field created); seconds=$(field seconds)
p50=$(field p50_ms); p90=$(field p90_ms); p99=$(field p99_ms); max=$(field max_ms)
other=$(field other_status); socket_errors=$(field socket_errors)
read -r wrk_user wrk_sys < <(tail -n1 "$work/wrk.time")

say "stopping the server (SIGTERM)"
stop_server "$work/serve.err"
verify=$(target/release/redress --data-dir "$work/data" verify) || fail "verify after the load: $verify"
logged=$(sed -n 's/^ok: \([0-9]*\) events.*/\1/p' <<< "$verify")
expected_events=$((STREAMS + warm_created + created))
echo "$verify" >&2

engine_run after || fail "cargo bench (after)"
# CPU per event of the engine's 64-writer scenario: user + system time of the bench process making exactly
# 64 x 100 and 64 x 600 appends; the difference divided by 64 x 500 leaves out the fixed costs (open, setup).
engine_cpu() {
  TIMEFORMAT='%U %S'
  { time "$engine_bin" --bench --only concurrent --per-writer "$1" > "$work/engine-cpu-$1.txt" 2>&1; } \
    2> "$work/engine-cpu-$1.time" || return 1
  awk '{ print $1 + $2 }' "$work/engine-cpu-$1.time" | tail -n1
}
say "engine CPU per event: $engine_bin --bench --only concurrent --per-writer 100, then 600 (under time)"
engine_cpu_small=$(engine_cpu 100) || fail "the engine bench (CPU run, 100 per writer)"
engine_cpu_large=$(engine_cpu 600) || fail "the engine bench (CPU run, 600 per writer)"
IFS="|" read -r engine_after engine_after_p50 engine_after_p99 engine_after_base _ <<< "$(engine_fields after)"
[ -n "$engine_after" ] || fail "no 64-writer row in the engine bench's output"

python3 - <<PY
http, created, seconds = $http_rate, $created, $seconds
before, after = float("$engine_before"), float("$engine_after")
engine = (before + after) / 2
server_cpu = ($server_cpu_after - $server_cpu_before) / $ticks_per_s
wrk_cpu = $wrk_user + $wrk_sys
print()
print("HTTP load (redress serve, release): wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $STREAMS streams, 1 event per POST")
print(f"  appends/s (201 only)  {http:,.0f}   ({created:,} in {seconds:.2f} s; other statuses: $other, socket errors: $socket_errors)")
print(f"  latency               p50 {$p50:.2f} ms   p90 {$p90:.2f} ms   p99 {$p99:.2f} ms   max {$max:.2f} ms")
print(f"  CPU during the run    server {server_cpu:.1f} s ({1e6 * server_cpu / max(created, 1):.0f} µs/append), wrk {wrk_cpu:.1f} s, of {2 * seconds:.0f} core-s")
print(f"  log after SIGTERM     $logged events, chain verified ({$expected_events} answered 201 incl. openings and warm-up; {$logged - $expected_events} more were in flight when wrk stopped)")
print(f"engine in process, 64 writers: {before:,.0f} before, {after:,.0f} after (p50 $engine_before_p50 / $engine_after_p50, p99 $engine_before_p99 / $engine_after_p99)")
print("  raw fdatasync baseline around them, syncs/s: $engine_before_base; $engine_after_base (a quiet disk gives ~5,000-8,500)")
engine_cpu_us = 1e6 * ($engine_cpu_large - $engine_cpu_small) / (64 * 500)
server_cpu_us = 1e6 * server_cpu / max(created, 1)
wrk_cpu_us = 1e6 * wrk_cpu / max(created, 1)
print(f"  engine CPU per event  {engine_cpu_us:.0f} µs (64 writers; CPU of 64 x 600 appends minus 64 x 100, / 32,000)")
print(f"HTTP / engine = {http / engine:.2f}x (of the mean {engine:,.0f}/s)")
print(f"CPU per append: server {server_cpu_us:.0f} µs + wrk {wrk_cpu_us:.0f} µs, engine alone {engine_cpu_us:.0f} µs;"
      f" 2 idle cores would allow at most ~{2e6 / (server_cpu_us + wrk_cpu_us):,.0f} appends/s over HTTP"
      f" and ~{2e6 / engine_cpu_us:,.0f} events/s in process")
print(f"targets: >= 15,000 appends/s: {'met' if http >= 15000 else 'NOT met'}; p99 < 20 ms: {'met' if $p99 < 20 else 'NOT met'}")
if not $expected_events <= $logged <= $expected_events + 2 * $CONNECTIONS:
    raise SystemExit("load.sh FAILED: the log does not hold the answered appends (plus at most those in flight)")
PY
