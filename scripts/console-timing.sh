#!/usr/bin/env bash
# Times the console's pages against a running `redress serve` (BENCHMARKS.md "Console at scale").
#
#   redress demo --complaints 300000 --data-dir big --no-tour      # ~21 min here for 7M events
#   REDRESS_TOKENS="admin:sup:<token>" redress serve --data-dir big --listen 127.0.0.1:8181
#   # wait until GET /projections shows every lag at 0, then:
#   BASE=http://127.0.0.1:8181 TOKEN=<token> N=20 scripts/console-timing.sh
#
# Prints, per page, the p50 / p90 / max of N requests' total time as curl sees it on the same machine
# (the server renders the whole page before it sends it, so this is the server's time plus a loopback
# round trip), the status codes and the page's size.
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8181}
TOKEN=${TOKEN:?set TOKEN to an admin or supervisor token of the server}
N=${N:-20}
JAR=$(mktemp)
trap 'rm -f "$JAR" "$JAR.html"' EXIT
curl -sf -c "$JAR" -o /dev/null -d "token=$TOKEN" "$BASE/console/login" || true
api() { curl -sf -H "Authorization: Bearer $TOKEN" "$BASE$1"; }
CID=$(api "/projections/open-complaints?limit=1" | python3 -c "import sys,json; print(json.load(sys.stdin)['complaints'][0]['complaint_id'])")
CUST=$(api "/projections/complaint?complaint_id=$CID" | python3 -c "import sys,json; print(json.load(sys.stdin)['customer_id'])")
JAM=$(python3 -c "import urllib.parse; print(urllib.parse.quote('打印机一直卡纸'))")
for page in needs-attention "needs-attention?overdue=true" open-complaints "open-complaints?sort=due" \
    "complaints/$CID" "customers/$CUST" problems satisfaction "satisfaction?group_by=owner" \
    "suggestions?text=$JAM" answer-gaps audit operations; do
  for _ in $(seq "$N"); do
    curl -s -b "$JAR" -o "$JAR.html" -w "%{http_code} %{time_total} %{size_download}\n" "$BASE/console/$page"
  done | python3 -c "
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
ms = sorted(float(r[1]) * 1000 for r in rows)
codes = ','.join(sorted({r[0] for r in rows}))
print('%-36s %s  p50 %7.1f ms  p90 %7.1f ms  max %7.1f ms  %7s bytes' % (
    sys.argv[1][:36], codes, ms[len(ms) // 2], ms[max(0, int(len(ms) * 0.9) - 1)], ms[-1], rows[-1][2]))
" "$page"
done
