#!/usr/bin/env bash
# Soak test (issue "Production hardening"): `redress serve` (release) for SOAK_SECONDS (default 600) under
# mixed load, with a SIGKILL and a disk-full episode in the middle; then a SIGTERM, a restart, the whole log
# read back and checked, and a report. Exits non-zero on any lost acknowledged event, a broken chain or
# gap, health never returning to 200, a server that does not restart, or any integrity finding of the
# driver (an SSE event that is not in the log, a read-your-writes answer behind its min_position, a retry of
# an unknown outcome not answering 200/201, a refusal that wrote anything, ...).
#
#   sudo scripts/soak.sh             # 10 minutes; the report goes to target/soak-report.txt
#   sudo scripts/soak.sh --short     # 2 minutes, the same episodes scaled: an operator's smoke test
#   SOAK_SECONDS=1800 SOAK_RATE=100 SOAK_SEED=7 scripts/soak.sh
#
# Needs root (it mounts a tmpfs), cargo, python3, curl. Not run by .ci/run: it takes minutes.
# Variables: SOAK_SECONDS (600; --short 120), SOAK_RATE (60 appends/s), SOAK_SEED (random, printed),
# SOAK_TMPFS_MB (768), SOAK_DISK_RESERVE_BYTES (the server's default), SOAK_DOWN_SECONDS (5; --short 3),
# SOAK_FULL_SECONDS (30; --short 10), SOAK_REPORT (target/soak-report.txt; --short target/soak-report-short.txt),
# SOAK_KEEP=1 (keep the work directory under target/tmp with the logs, acks.jsonl and a copy of the data).
#
# Setup: `cargo build --release --bin redress`; a tmpfs of SOAK_TMPFS_MB (768) MiB mounted on a fresh
# directory under target/tmp and unmounted on exit (trap); the data directory on it; the server's
# --disk-reserve-bytes at its default (64 MiB) unless SOAK_DISK_RESERVE_BYTES says otherwise; tokens for
# admin, publisher and auditor in REDRESS_TOKENS; one fixed port for every start, so clients keep their URL.
#
# Load, for the whole run (scripts/soak.py drive; see its docstring): publishers appending complaint
# lifecycles with explicit event ids at SOAK_RATE (60) appends/s, desks querying the projections with
# min_position, four SSE subscribers, unauthenticated junk, slow clients (silent, partial and trickled
# heads, trickled bodies, idle keep-alives), a /health poller, a /metrics scraper, RSS sampling.
#
# Timeline (fractions of SOAK_SECONDS):
#   30%  SIGKILL the server; clients keep going against a closed port for SOAK_DOWN_SECONDS (5); restart
#        on the same data directory; healthy (GET /health 200) within 120 s or the soak fails.
#   55%  disk full: a filler file takes every free byte of the tmpfs; appends go on (503s; the driver
#        records whether any said `outcome: unknown`); GET /health must turn 503 with a reason within 15 s;
#        held SOAK_FULL_SECONDS (30); the filler is removed; /health must be 200 again within 120 s without
#        a restart, and every append whose outcome was unknown is retried with the same ids until it answers
#        200 or 201 (within 60 s).
#   100% drain: publishers stop starting appends and settle every pending one; the subscribers read to the
#        head. RSS and peak RSS (VmHWM) read from /proc. SIGTERM: must exit 0, or 1 past the shutdown grace
#        (30 s) with its "Abandoned" message (the report says which). `redress verify` on the stopped store.
#        Restart; scripts/soak.py check reads the whole log over /all and checks every acknowledged event
#        at its position with its id, stream and version, gapless positions and per-stream versions,
#        /audit/verify, what the SSE subscribers saw, that refused appends and junk wrote nothing; prints
#        the report. A last SIGTERM must exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() { echo "soak.sh FAILED: $*" >&2; exit 1; }
say() { printf '\n== [%s] %s\n' "$(date +%T)" "$*" >&2; }

short=0
case "${1:-}" in
  --short) short=1 ;;
  "") ;;
  *) fail "usage: scripts/soak.sh [--short]" ;;
esac
if [ "$short" = 1 ]; then
  SOAK_SECONDS=${SOAK_SECONDS:-120}
  SOAK_DOWN_SECONDS=${SOAK_DOWN_SECONDS:-3}
  SOAK_FULL_SECONDS=${SOAK_FULL_SECONDS:-10}
  SOAK_REPORT=${SOAK_REPORT:-target/soak-report-short.txt}
fi
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_DOWN_SECONDS=${SOAK_DOWN_SECONDS:-5}
SOAK_FULL_SECONDS=${SOAK_FULL_SECONDS:-30}
SOAK_REPORT=${SOAK_REPORT:-target/soak-report.txt}
SOAK_TMPFS_MB=${SOAK_TMPFS_MB:-768}
SOAK_RATE=${SOAK_RATE:-60}
SOAK_SEED=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
SOAK_DISK_RESERVE_BYTES=${SOAK_DISK_RESERVE_BYTES:-}
SOAK_KEEP=${SOAK_KEEP:-0}
GRACE_SECONDS=30

[ "$(id -u)" = 0 ] || fail "mounting the tmpfs needs root"
for tool in cargo python3 curl mount umount dd df; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ "$SOAK_SECONDS" -ge 60 ] || fail "SOAK_SECONDS must be at least 60 (the episodes need room)"

say "build (release)"
cargo build --release --bin redress >&2 || fail "cargo build --release"
bin=$root/target/release/redress

mkdir -p target/tmp
work=$(realpath "$(mktemp -d target/tmp/soak-XXXXXX)")
mnt=$work/mnt
data=$mnt/data
server_pid=""
driver_pid=""
mounted=0
failures=()
cleanup() {
  set +e
  [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null && kill "$driver_pid"
  [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid"
  wait 2>/dev/null
  if [ "$mounted" = 1 ]; then
    if [ "$SOAK_KEEP" = 1 ]; then cp -a "$data" "$work/data-copy"; fi
    umount "$mnt" 2>/dev/null || umount -l "$mnt"
  fi
  if [ "$SOAK_KEEP" = 1 ] || [ "${soak_status:-1}" != 0 ]; then
    echo "soak.sh: logs kept in $work (serve.err, driver.err, driver.json, acks.jsonl)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$mnt"
mount -t tmpfs -o "size=${SOAK_TMPFS_MB}m,mode=0700" tmpfs "$mnt" || fail "mount tmpfs on $mnt"
mounted=1

hex() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
admin_token=$(hex); publisher_token=$(hex); auditor_token=$(hex)
export REDRESS_TOKENS="admin:$admin_token,publisher:$publisher_token,auditor:$auditor_token"
driver_tokens="admin=$admin_token,publisher=$publisher_token,auditor=$auditor_token"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
reserve_flag=()
[ -n "$SOAK_DISK_RESERVE_BYTES" ] && reserve_flag=(--disk-reserve-bytes "$SOAK_DISK_RESERVE_BYTES")

facts=$work/facts
: > "$facts"
fact() { printf '%s=%s\n' "$1" "$2" >> "$facts"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Busy CPU ticks of the whole machine (user + nice + system + irq + softirq + steal).
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
proc_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
cpu_seconds() {
  awk -v t="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo "?"
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
health_code() { curl -s -o "${1:-/dev/null}" -w '%{http_code}' --max-time 3 "$url/health" || true; }
set_phase() { echo "$1" > "$work/phase.tmp" && mv "$work/phase.tmp" "$work/phase"; }
others() { echo "$(ps -eo comm= | grep -cE '^(rustc|cargo|clippy-driver|cc1|ld)$' || true) compiler processes"; }

# start_server: `redress serve` on $data and $port; waits until GET /health is 200 (at most 120 s).
start_server() {
  local began
  began=$(date +%s.%N)
  "$bin" --data-dir "$data" "${reserve_flag[@]}" serve --listen "127.0.0.1:$port" \
    --shutdown-grace-seconds "$GRACE_SECONDS" >> "$work/serve.out" 2>> "$work/serve.err" &
  server_pid=$!
  echo "$server_pid" > "$work/server.pid.tmp" && mv "$work/server.pid.tmp" "$work/server.pid"
  for _ in $(seq 1 1200); do
    [ "$(health_code)" = 200 ] && { started_in=$(since "$began"); return 0; }
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$work/serve.err" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

# stop_server: SIGTERM; sets stop_status and stop_seconds. Past the grace + 15 s it is a hang: SIGKILL.
stop_server() {
  local began
  began=$(date +%s.%N)
  kill -TERM "$server_pid"
  for _ in $(seq 1 $(((GRACE_SECONDS + 15) * 10))); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    failures+=("the server did not exit within $((GRACE_SECONDS + 15)) s of SIGTERM")
    kill -KILL "$server_pid"
  fi
  stop_status=0
  wait "$server_pid" || stop_status=$?
  stop_seconds=$(since "$began")
  server_pid=""
}

# until_second T: sleeps until T seconds after the load began, watching the driver and the server.
until_second() {
  while awk -v t="$1" -v e="$(since "$t0")" 'BEGIN { exit !(e < t) }'; do
    kill -0 "$driver_pid" 2>/dev/null || { tail -n 20 "$work/driver.err" >&2; fail "the load driver died"; }
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$work/serve.err" >&2; fail "the server died"; }
    sleep 0.5
  done
}

json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

fact commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!scripts/soak.*' || echo '+changes')"
fact started_at "$(date -u +%FT%TZ)"
fact cpus "$(nproc)"
fact tmpfs_mb "$SOAK_TMPFS_MB"
fact reserve "${SOAK_DISK_RESERVE_BYTES:-default (64 MiB)}"
fact load_start "$(loadavg); $(others)"

say "server on $data (tmpfs ${SOAK_TMPFS_MB} MiB), $url, reserve ${SOAK_DISK_RESERVE_BYTES:-default}"
set_phase normal
start_server || fail "redress serve did not become healthy"
fact rss_start_kb "$(proc_field "$server_pid" VmRSS)"
echo "healthy after $started_in s; RSS $(proc_field "$server_pid" VmRSS) kB" >&2

say "load for $SOAK_SECONDS s (seed $SOAK_SEED, $SOAK_RATE appends/s)"
busy_before=$(machine_busy)
t0=$(date +%s.%N)
python3 scripts/soak.py drive --port "$port" --work "$work" --tokens "$driver_tokens" --data "$data" \
  --seconds "$SOAK_SECONDS" --seed "$SOAK_SEED" --rate "$SOAK_RATE" > "$work/driver.out" 2> "$work/driver.err" &
driver_pid=$!

# --- SIGKILL ------------------------------------------------------------------------------------------
kill_at=$((SOAK_SECONDS * 30 / 100))
until_second "$kill_at"
say "SIGKILL at $(since "$t0") s"
fact kill_at "$(since "$t0")"
fact load_kill "$(loadavg); $(others)"
fact rss_before_kill_kb "$(proc_field "$server_pid" VmRSS)"
fact hwm_before_kill_kb "$(proc_field "$server_pid" VmHWM)"
first_cpu=$(cpu_seconds "$server_pid")
set_phase killed
sleep 0.2
kill -KILL "$server_pid"
wait "$server_pid" || true
sleep "$SOAK_DOWN_SECONDS"
fact down_seconds "$SOAK_DOWN_SECONDS"
say "restart on the same data directory"
if start_server; then
  fact restart_seconds "$started_in"
  fact rss_restart_kb "$(proc_field "$server_pid" VmRSS)"
  echo "healthy after $started_in s" >&2
else
  fact restart_seconds "never"
  failures+=("the server did not restart after SIGKILL")
  fact failures "$(IFS='|'; echo "${failures[*]}")"
  fail "the server did not restart after SIGKILL (serve.err in $work)"
fi
set_phase normal

# --- disk full ----------------------------------------------------------------------------------------
full_at=$((SOAK_SECONDS * 55 / 100))
until_second "$full_at"
say "disk full at $(since "$t0") s"
fact full_at "$(since "$t0")"
fact load_full "$(loadavg); $(others)"
set_phase disk_full
dd if=/dev/zero of="$mnt/filler" bs=1M status=none 2>/dev/null || true
fact filler_bytes "$(stat -c %s "$mnt/filler")"
fact free_after_fill "$(df --output=avail -B1 "$mnt" | tail -n1 | tr -d ' ')"
full_health="200 for 15 s: never 503"
for _ in $(seq 1 150); do
  code=$(health_code "$work/health.json")
  if [ "$code" = 503 ]; then
    full_health="503 after $(since "$t0") s of the run: $(cat "$work/health.json")"
    break
  fi
  sleep 0.1
done
fact full_health "$full_health"
echo "/health: $full_health" >&2
[ "${full_health#503}" != "$full_health" ] || failures+=("/health did not turn 503 on a full disk")
sleep "$SOAK_FULL_SECONDS"
fact full_hold_seconds "$SOAK_FULL_SECONDS"
say "filler removed at $(since "$t0") s"
rm -f "$mnt/filler"
freed=$(date +%s.%N)
heal_seconds="never (120 s)"
for _ in $(seq 1 1200); do
  if [ "$(health_code)" = 200 ]; then heal_seconds=$(since "$freed"); break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
fact heal_seconds "$heal_seconds"
echo "/health 200 after $heal_seconds s" >&2
case "$heal_seconds" in never*) failures+=("/health did not return to 200 after the filler was removed") ;; esac
healed=$(date +%s.%N)
unknown_resolved="never (60 s): $(cat "$work/driver-status.json")"
for _ in $(seq 1 600); do
  if [ "$(json_field "$work/driver-status.json" pending)" = 0 ]; then unknown_resolved=$(since "$healed"); break; fi
  sleep 0.1
done
fact unknown_resolved_seconds "$unknown_resolved"
case "$unknown_resolved" in never*) failures+=("appends still without a definite answer 60 s after healing") ;; esac
set_phase normal

# --- the end ------------------------------------------------------------------------------------------
until_second "$SOAK_SECONDS"
fact seconds_total "$(since "$t0")"
say "drain at $(since "$t0") s"
fact load_end "$(loadavg); $(others)"
set_phase drain
driver_status=0
wait "$driver_pid" || driver_status=$?
driver_pid=""
[ "$driver_status" = 0 ] || { tail -n 30 "$work/driver.err" >&2; fail "the load driver exited $driver_status"; }
busy_after=$(machine_busy)
fact rss_end_kb "$(proc_field "$server_pid" VmRSS)"
fact hwm_end_kb "$(proc_field "$server_pid" VmHWM)"
fact threads_end "$(proc_field "$server_pid" Threads)"
fact fds_end "$(ls "/proc/$server_pid/fd" | wc -l)"
fact data_bytes_end "$(du -sb "$data" | cut -f1)"
second_cpu=$(cpu_seconds "$server_pid")
driver_cpu=$(json_field "$work/driver.json" driver_cpu_seconds)
fact server_cpu "$first_cpu s before the SIGKILL + $second_cpu s after; the whole machine was busy $(
  awk -v a="$busy_before" -v b="$busy_after" -v t="$(getconf CLK_TCK)" -v s="$(since "$t0")" -v n="$(nproc)" \
    'BEGIN { printf "%.0f core-s of %.0f", (b - a) / t, s * n }'), the driver took $driver_cpu s"

say "SIGTERM"
stop_server
if [ "$stop_status" = 0 ]; then
  fact sigterm "exit 0 after $stop_seconds s"
elif [ "$stop_status" = 1 ] && grep -q "Abandoned" "$work/serve.err"; then
  abandoned=$(grep "Abandoned" "$work/serve.err" | tail -n1 | cut -c1-300)
  fact sigterm "exit 1 after $stop_seconds s, past the grace period: $abandoned"
else
  fact sigterm "exit $stop_status after $stop_seconds s"
  failures+=("SIGTERM: exit $stop_status without the grace-period message")
fi
echo "SIGTERM: exit $stop_status after $stop_seconds s" >&2

verify_status=0
verify=$("$bin" --data-dir "$data" verify 2>&1) || verify_status=$?
fact verify_offline "exit $verify_status: $(echo "$verify" | tail -n1)"
[ "$verify_status" = 0 ] || failures+=("redress verify: exit $verify_status: $verify")

say "restart to read the log back"
set_phase normal
if start_server; then
  fact final_restart "healthy after $started_in s"
else
  fact final_restart "failed"
  failures+=("the server did not restart after SIGTERM")
fi
fact failures "$(IFS='|'; printf '%s' "${failures[*]}" | sed 's/|/ | /g')"
check_status=1
if [ -n "$server_pid" ]; then
  check_status=0
  python3 scripts/soak.py check --port "$port" --work "$work" --tokens "$driver_tokens" > "$work/report.txt" \
    || check_status=$?
  stop_server
  if [ "$stop_status" != 0 ]; then
    echo "the last SIGTERM (after the checks): exit $stop_status" >> "$work/report.txt"
    check_status=1
  fi
fi
# The server's warnings and errors, counted by message (timestamps and fields cut).
{
  echo
  echo "server log (serve.err), warnings and errors by message:"
  sed -E 's/\x1b\[[0-9;]*m//g; s/^[^ ]+ +//' "$work/serve.err" | grep -E '^(WARN|ERROR)' | cut -c1-160 \
    | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 15 || true
} >> "$work/report.txt"
mkdir -p "$(dirname "$SOAK_REPORT")"
cp "$work/report.txt" "$SOAK_REPORT"
cat "$work/report.txt"
echo "report: $SOAK_REPORT" >&2
soak_status=$check_status
exit "$check_status"
