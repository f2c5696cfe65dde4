#!/usr/bin/env bash
# bench/service/soak.sh: `mctx serve` at its capacity for 10 minutes, open
# loop on loopback, its resident memory sampled (docs/RELIABILITY.md,
# "Load"). A figure and a check, not a ctest test.
#
#   bench/service/soak.sh [BINARY]                      (default build/mctx)
#   SOAK_SECONDS=120 bench/service/soak.sh build/mctx   (a shorter run)
#
# Capacity is measured first (closed loop, CONNS (64) connections, 20 s,
# searches answered 200 per second), unless CAPACITY is given; then requests
# come at RATE_FACTOR (1.0) x capacity for SOAK_SECONDS (600), each search
# with its own request id (so every one is recorded: SQLite and the spool
# grow as in production), while VmRSS is sampled every 5 s. Pass when the
# service answers throughout and exits 0, and the resident memory is flat
# after the first minute: its least-squares slope under 1 MiB per minute and
# its range (max - min) under 32 MiB. The service runs with its defaults but
# --queue-size QUEUE (64), like overload.sh; SERVE_FLAGS adds flags.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/mctx}
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
BIN=$(readlink -f "$BIN")
PORT=${PORT:-18932}
QUEUE=${QUEUE:-64}
CONNS=${CONNS:-64}
OPEN_CONNS=${OPEN_CONNS:-512}
SOAK_SECONDS=${SOAK_SECONDS:-600}
RATE_FACTOR=${RATE_FACTOR:-1.0}
SERVE_FLAGS=${SERVE_FLAGS:-}
WORK=$(mktemp -d /tmp/mctx-soak-XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
KEEP_WORK=1
. bench/service/common.sh
trap cleanup_common EXIT
build_loadgen
BODY=bench/service/small.json

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "binary: $BIN; --queue-size $QUEUE $SERVE_FLAGS; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
serve --queue-size "$QUEUE" $SERVE_FLAGS
if [ -z "${CAPACITY:-}" ]; then
  pin_loadgen "$LOADGEN" --port "$PORT" --body "$BODY" --vary-request-id --conns "$CONNS" --duration 20 --warmup 3 --json \
    >"$OUT/capacity.json"
  CAPACITY=$(jget "$OUT/capacity.json" ok_per_s)
  echo "capacity (closed loop, $CONNS connections, 20 s): $CAPACITY searches/s"
fi
rate=$(python3 -c "print(round($CAPACITY * $RATE_FACTOR))")
echo "soak: open loop at $rate/s for $SOAK_SECONDS s"
sample_rss "$SERVE_PID" 5 "$OUT/rss.txt" &
SAMPLER=$!
pin_loadgen "$LOADGEN" --port "$PORT" --body "$BODY" --vary-request-id --rate "$rate" --conns "$OPEN_CONNS" \
  --duration "$SOAK_SECONDS" --warmup 0 --json >"$OUT/soak.json"
touch "$OUT/rss.txt.stop"
wait "$SAMPLER" || true
alive=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/live" || true)
curl -s "http://127.0.0.1:$PORT/metrics" >"$OUT/metrics.txt" || true
rc=0
unserve || rc=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT" "$alive" "$rc" "$rate" <<'PY'
import json, sys
out, alive, rc, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
o = json.load(open(out + "/soak.json"))
rss = [tuple(map(int, l.split())) for l in open(out + "/rss.txt") if l.strip()]
after = [(t / 60000.0, r / 1024.0) for t, r in rss if t >= 60000]
n = len(after)
slope = 0.0
if n >= 2:
    mt = sum(t for t, _ in after) / n
    mr = sum(r for _, r in after) / n
    den = sum((t - mt) ** 2 for t, _ in after)
    slope = sum((t - mt) * (r - mr) for t, r in after) / den if den else 0.0
lo = min(r for _, r in after) if after else 0
hi = max(r for _, r in after) if after else 0
st = o["status"]
print("soak: %.0f s at %.0f/s: answered %d (%.0f/s), statuses %s, Retry-After on %d of the 503s, connection errors %d"
      % (o["seconds"], rate, o["answered"], o["answers_per_s"], st, o["retry_after_503"], o["conn_errors"]))
print("  200 latency ms: p50 %.3f p99 %.3f p99.9 %.3f max %.3f" % (o["ok_ms"]["p50"], o["ok_ms"]["p99"], o["ok_ms"]["p999"], o["ok_ms"]["max"]))
print("  resident memory MiB: " + ", ".join("%dm %.1f" % (t // 60000, r / 1024.0) for t, r in rss if t % 60000 < 5000))
print("  after the first minute: %d samples, min %.1f MiB, max %.1f MiB, slope %+.3f MiB/min" % (n, lo, hi, slope))
print("  after: /health/live %s, exit status on SIGTERM %d" % (alive, rc))
checks = [("the service answered throughout and exited 0", alive == "200" and rc == 0 and o["conn_errors"] == 0),
          ("resident memory flat (slope < 1 MiB/min, range < 32 MiB after the first minute)", n >= 2 and abs(slope) < 1.0 and hi - lo < 32)]
for name, ok in checks:
    print("  %s: %s" % ("PASS" if ok else "FAIL", name))
sys.exit(0 if all(c for _, c in checks) else 1)
PY
