#!/usr/bin/env bash
# bench/service/run.sh: load-tests `mctx serve` with wrk on loopback and
# prints searches/s and latency percentiles for each case (the figures of
# docs/BENCHMARKS.md, "Service"). A figure, not a test: make test never runs it.
#
#   bench/service/run.sh [BINARY]            every case (a few minutes)
#   CASES="small" DURATION=10 bench/service/run.sh build/mctx
#
# Cases:
#   small         batch 1, 16 actions, 32 simulations, mock model
#   small-rate    the small case open loop at RATE_SMALL searches/s (5000) on
#                 64 connections (bench/service/loadgen.c; latency counted
#                 from each request's scheduled time, every request its own
#                 request id so that every search is recorded)
#   large         batch 256, 64 actions, 64 simulations, synthetic model
#   http          GET /health/live: the HTTP layer alone
#   cost          one connection, small case: HTTP + JSON time per request
#                 (latency minus the search's own duration), with records
#                 after the reply so that the disk's wait is not counted as
#                 HTTP; then the same with the default (records on disk
#                 before the reply), whose extra time is the record's
# Each search case runs twice: with dynamic batching (the default settings)
# and without (--batch-max 1). The service runs with its defaults otherwise
# (SQLite history, info logs to a file, each answer sent once its record is
# on disk in the spool) so the figures include recording; SERVE_FLAGS=
# "--record-before-reply=false" measures records made after the answer.
#
# Settings: CONNS_SMALL (32), CONNS_LARGE (8), THREADS (1, wrk threads),
# DURATION (10 s), WARMUP (2 s), PORT (18900), SERVE_FLAGS (extra flags),
# RATE_SMALL (5000), BENCH_TMP (/tmp: where the data folder lives).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/mctx}
CASES=${CASES:-"small large http cost"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-1}
CONNS_SMALL=${CONNS_SMALL:-32}
CONNS_LARGE=${CONNS_LARGE:-8}
PORT=${PORT:-18900}
RATE_SMALL=${RATE_SMALL:-5000}
SERVE_FLAGS=${SERVE_FLAGS:-}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d ${BENCH_TMP:-/tmp}/mctx-bench-XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 bench/service/make_body.py large > "$WORK/large.json"
cp bench/service/small.json "$WORK/small.json"

start() { # start FLAGS...
  rm -rf "$WORK/data" "$WORK/serve.log" # no earlier run's "ready" line may be read
  "$BIN" serve --host 127.0.0.1 --port "$PORT" --db "sqlite:$WORK/data/mctx.db" --data-dir "$WORK/data" \
    $SERVE_FLAGS "$@" 2>"$WORK/serve.log" &
  PID=$!
  for _ in $(seq 1 200); do
    grep -q '"msg":"ready"' "$WORK/serve.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "the service did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1
}

stop() {
  kill -TERM "$PID"; wait "$PID" || { echo "the service exited with $?" >&2; exit 1; }
  PID=""
}

run_wrk() { # run_wrk CONNS BODY PATH LABEL
  local conns=$1 body=$2 path=$3 label=$4 out
  if [ "$body" = "-" ]; then
    wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" "http://127.0.0.1:$PORT$path" >/dev/null
    out=$(wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT$path")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    printf '%-34s conns=%-3s req/s=%-10s p50=%-9s p99=%s\n' "$label" "$conns" "$rps" "$p50" "$p99"
  else
    BODY="$body" wrk -t"$THREADS" -c"$conns" -d"${WARMUP}s" -s bench/service/post.lua "http://127.0.0.1:$PORT$path" >/dev/null
    out=$(BODY="$body" wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" -s bench/service/post.lua "http://127.0.0.1:$PORT$path")
    local rps pct st
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    pct=$(grep '^p50_ms' <<<"$out" || echo "no latencies (wrk failed?)")
    st=$(grep '^statuses' <<<"$out" || true)
    printf '%-34s conns=%-3s searches/s=%-10s %s  %s\n' "$label" "$conns" "$rps" "$pct" "$st"
  fi
}

metric_batch() { # mean requests per merged search, and the record backlog, from /metrics
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '
    /^mctx_batch_jobs_sum/ {s=$2} /^mctx_batch_jobs_count/ {c=$2}
    /^mctx_db_record_queue/ {q=$2} /^mctx_db_spool_depth/ {d=$2} /^mctx_db_records_appended_total/ {a=$2}
    END { if (c > 0) printf "  mean requests per search run: %.2f (%d runs); records: %d in the spool, %d still queued, %d waiting for SQLite\n", s / c, c, a, q, d }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
echo "binary: $BIN; wrk threads: $THREADS; ${DURATION}s per run after ${WARMUP}s warm-up"
for c in $CASES; do
  case $c in
    small)
      start; run_wrk "$CONNS_SMALL" "$WORK/small.json" /api/v1/mcts/search "small, dynamic batching"; metric_batch; stop
      start --batch-max 1; run_wrk "$CONNS_SMALL" "$WORK/small.json" /api/v1/mcts/search "small, no batching"; metric_batch; stop
      ;;
    small-rate)
      cc -O2 -std=c11 -Wall -Wextra -o "$WORK/loadgen" bench/service/loadgen.c -lm
      for flags in "" "--batch-max 1"; do
        start $flags
        out=$("$WORK/loadgen" --port "$PORT" --body "$WORK/small.json" --vary-request-id --rate "$RATE_SMALL" --conns 64 \
          --duration "$DURATION" --warmup "$WARMUP")
        printf '%-34s rate=%-6s %s; %s\n' "small, open loop${flags:+, no batching}" "$RATE_SMALL" \
          "$(grep -m1 '^  answered' <<<"$out" | sed 's/^ *//')" "$(grep -m1 '^  200 latency ms' <<<"$out" | sed 's/^ *//')"
        stop
      done
      ;;
    large)
      start; run_wrk "$CONNS_LARGE" "$WORK/large.json" /api/v1/mcts/search "large, dynamic batching"; metric_batch; stop
      start --batch-max 1; run_wrk "$CONNS_LARGE" "$WORK/large.json" /api/v1/mcts/search "large, no batching"; metric_batch; stop
      ;;
    http)
      start; run_wrk "$CONNS_SMALL" - /health/live "GET /health/live (HTTP only)"; stop
      ;;
    cost)
      for mode in false true; do
      start --record-before-reply=$mode
      run_wrk 1 "$WORK/small.json" /api/v1/mcts/search "small, one connection, record before reply: $mode"
      curl -s "http://127.0.0.1:$PORT/metrics" | awk -v mode=$mode '
        /^mctx_http_request_duration_seconds_sum\{route="\/api\/v1\/mcts\/search"\}/ {ts=$2}
        /^mctx_http_request_duration_seconds_count\{route="\/api\/v1\/mcts\/search"\}/ {tc=$2}
        /^mctx_search_compute_seconds_sum/ {cs=$2} /^mctx_search_compute_seconds_count/ {cc=$2}
        /^mctx_search_queue_seconds_sum/ {qs=$2} /^mctx_search_queue_seconds_count/ {qc=$2}
        END { printf "  in the server, per request: %.1f us total = %.1f us search + %.1f us queue hand-off + %.1f us the rest (HTTP and JSON%s)\n",
              ts/tc*1e6, cs/cc*1e6, qs/qc*1e6, (ts/tc - cs/cc - qs/qc)*1e6, mode == "true" ? ", and the record reaching the disk" : "" }'
      stop
      done
      ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
