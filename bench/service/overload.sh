#!/usr/bin/env bash
# bench/service/overload.sh: `mctx serve` at twice its capacity, open loop,
# on loopback (docs/RELIABILITY.md, "Load"). A figure and a check, not a
# ctest test: it takes a few minutes and the whole machine.
#
#   bench/service/overload.sh [BINARY]                  (default build/mctx)
#   DURATION=60 QUEUE=64 bench/service/overload.sh build/mctx
#
# 1. unloaded: open loop at UNLOADED_RATE (200/s) for 20 s: the p99 of the
#    answers is the reference;
# 2. capacity: closed loop, CONNS (64) connections, 20 s: searches answered
#    200 per second;
# 3. overload: open loop at FACTOR (2) x capacity for DURATION (60) s on
#    OPEN_CONNS (512) connections, the service's resident memory sampled
#    every second.
# Pass when: the service answers throughout and exits 0 on SIGTERM; every
# refusal is 503 or 429 with Retry-After (nothing else but 200); the p99 of
# the accepted (200) answers is at most twice the unloaded p99; the resident
# memory at the end is within 64 MiB of its peak in the first 10 s
# (bounded, no growth). The request is BODY (default bench/service/small.json:
# batch 1, 16 actions, 32 simulations, the mock model; medium.json: 64
# actions, 256 simulations, the synthetic model), each with its own request
# id. The service runs with its defaults but --queue-size QUEUE (64): the
# queue bounds what is accepted. SERVE_FLAGS adds flags to every phase;
# ADMISSION_FLAGS (e.g. "--max-queue-wait-us 2000") only to the unloaded and
# overload phases: capacity is then measured first, on a service without them
# (with admission on, a closed loop's refusals would take CPU from the answers
# and understate it). SERVICE_CPUS and LOADGEN_CPUS pin the two apart
# (taskset lists; on 2 cores: SERVICE_CPUS=1 LOADGEN_CPUS=0), so that the
# generator keeps its schedule at twice the service's capacity. WORK_ROOT (default /tmp) holds the
# service's data folder (/dev/shm: no disk). Results: a summary on stdout, loadgen's JSON and
# the RSS samples in $OUT (default: a temporary folder, printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/mctx}
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
BIN=$(readlink -f "$BIN")
PORT=${PORT:-18931}
QUEUE=${QUEUE:-64}
DURATION=${DURATION:-60}
FACTOR=${FACTOR:-2}
CONNS=${CONNS:-64}
OPEN_CONNS=${OPEN_CONNS:-512}
UNLOADED_RATE=${UNLOADED_RATE:-200}
SERVE_FLAGS=${SERVE_FLAGS:-}
ADMISSION_FLAGS=${ADMISSION_FLAGS:-}
WORK=$(mktemp -d "${WORK_ROOT:-/tmp}/mctx-overload-XXXXXX")
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
KEEP_WORK=1
. bench/service/common.sh
trap cleanup_common EXIT
build_loadgen
BODY=${BODY:-bench/service/small.json}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "binary: $BIN; --queue-size $QUEUE $SERVE_FLAGS; admission: ${ADMISSION_FLAGS:-none}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "body: $BODY $(cat "$BODY")"
echo "cpus: service ${SERVICE_CPUS:-all}, load generator ${LOADGEN_CPUS:-all}"
capacity_phase() {
  pin_loadgen "$LOADGEN" --port "$PORT" --body "$BODY" --vary-request-id --conns "$CONNS" --duration 20 --warmup 3 --json \
    >"$OUT/capacity.json"
  capacity=$(jget "$OUT/capacity.json" ok_per_s)
  echo "capacity (closed loop, $CONNS connections, 20 s): $capacity searches/s answered 200; statuses $(jget "$OUT/capacity.json" status); p99 $(jget "$OUT/capacity.json" ok_ms.p99) ms"
}
if [ -n "$ADMISSION_FLAGS" ]; then
  serve --queue-size "$QUEUE" $SERVE_FLAGS
  capacity_phase
  unserve
fi
serve --queue-size "$QUEUE" $SERVE_FLAGS $ADMISSION_FLAGS
rss_start=$(rss_kb "$SERVE_PID")

pin_loadgen "$LOADGEN" --port "$PORT" --body "$BODY" --vary-request-id --rate "$UNLOADED_RATE" --conns 16 --duration 20 --warmup 2 \
  --json >"$OUT/unloaded.json"
p99_unloaded=$(jget "$OUT/unloaded.json" ok_ms.p99)
echo "unloaded ($UNLOADED_RATE/s open loop, 20 s): p50 $(jget "$OUT/unloaded.json" ok_ms.p50) ms, p99 $p99_unloaded ms, statuses $(jget "$OUT/unloaded.json" status)"

[ -n "$ADMISSION_FLAGS" ] || capacity_phase

rate=$(python3 -c "print(round($capacity * $FACTOR))")
sample_rss "$SERVE_PID" 1 "$OUT/rss.txt" &
SAMPLER=$!
pin_loadgen "$LOADGEN" --port "$PORT" --body "$BODY" --vary-request-id --rate "$rate" --conns "$OPEN_CONNS" --duration "$DURATION" \
  --warmup 2 --json >"$OUT/overload.json"
touch "$OUT/rss.txt.stop"
wait "$SAMPLER" || true
alive=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/live" || true)
curl -s "http://127.0.0.1:$PORT/metrics" >"$OUT/metrics.txt" || true
rc=0
unserve || rc=$?

python3 - "$OUT" "$p99_unloaded" "$capacity" "$rate" "$alive" "$rc" "$rss_start" "$DURATION" <<'PY'
import json, sys
out, p99u, cap, rate, alive, rc, rss0, dur = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
o = json.load(open(out + "/overload.json"))
rss = [tuple(map(int, l.split())) for l in open(out + "/rss.txt") if l.strip()]
st = {int(k): v for k, v in o["status"].items()}
ok, refused = st.get(200, 0), st.get(503, 0) + st.get(429, 0)
other = {k: v for k, v in st.items() if k not in (200, 503, 429)}
with_retry = o["retry_after_503"] + o["retry_after_429"]
p99 = o["ok_ms"]["p99"]
early = max([r for t, r in rss if t <= 10000] or [0])
peak = max([r for t, r in rss] or [0])
last = rss[-1][1] if rss else 0
print("overload (open loop at %.0f/s = %.1f x capacity, %d connections, %.0f s):" % (rate, rate / cap, o["conns"], dur))
print("  scheduled %d, answered %d (%.0f/s): 200: %d (%.0f/s), 503/429: %d (%d with Retry-After), other: %s, connection errors %d, generator backlog max %d"
      % (o["scheduled"], o["answered"], o["answers_per_s"], ok, o["ok_per_s"], refused, with_retry, other, o["conn_errors"], o["backlog_max"]))
print("  accepted latency ms, from the schedule: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f (unloaded p99 %.3f: ratio %.2f)"
      % (o["ok_ms"]["p50"], o["ok_ms"]["p90"], p99, o["ok_ms"]["p999"], o["ok_ms"]["max"], p99u, p99 / p99u if p99u else 0))
ps = o.get("ok_sent_ms", {})
print("  accepted latency ms, from the write: p50 %.3f p99 %.3f p99.9 %.3f (the service's own; the difference is the generator's lag)"
      % (ps.get("p50", 0), ps.get("p99", 0), ps.get("p999", 0)))
print("  resident memory KiB: at start %d, peak in the first 10 s %d, peak %d, at the end %d (%d samples)" % (rss0, early, peak, last, len(rss)))
print("  after: /health/live %s, exit status on SIGTERM %d" % (alive, rc))
checks = [
    ("the service answered throughout and exited 0", alive == "200" and rc == 0 and o["conn_errors"] == 0),
    ("the excess got 503/429, each with Retry-After", refused > 0 and with_retry == refused and not other),
    ("accepted p99 <= 2 x unloaded p99", p99 <= 2 * p99u),
    ("memory bounded (end within 64 MiB of the first 10 s peak)", last <= early + 65536),
]
for name, ok_ in checks:
    print("  %s: %s" % ("PASS" if ok_ else "FAIL", name))
sys.exit(0 if all(c for _, c in checks) else 1)
PY
