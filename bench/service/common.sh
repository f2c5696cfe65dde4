# bench/service/common.sh: shared by overload.sh and soak.sh (sourced).
# Starts and stops `mctx serve` on loopback, builds the load generator,
# samples the service's resident memory. Expects BIN, WORK, PORT.

build_loadgen() {
  LOADGEN="$WORK/loadgen"
  cc -O2 -std=c11 -Wall -Wextra -o "$LOADGEN" "$(dirname "${BASH_SOURCE[0]}")/loadgen.c" -lm
}

# CPU pinning (SERVICE_CPUS, LOADGEN_CPUS: taskset lists, e.g. 1 and 0): the
# load generator on a core of its own, so that it can keep its schedule while
# the service is saturated (on 2 cores, sharing both, it cannot send 2x what
# the service answers, and its own backlog then counts as the service's
# latency). Unset: no pinning.
pin_loadgen() { if [ -n "${LOADGEN_CPUS:-}" ]; then taskset -c "$LOADGEN_CPUS" "$@"; else "$@"; fi; }

# serve FLAGS...: starts the service (SQLite in $WORK/data, logs at warn) and waits until it is ready
# (taskset executes the service in its own process: SERVE_PID is the service's)
serve() {
  rm -rf "$WORK/data"
  local pin=()
  [ -n "${SERVICE_CPUS:-}" ] && pin=(taskset -c "$SERVICE_CPUS")
  "${pin[@]}" "$BIN" serve --host 127.0.0.1 --port "$PORT" --db "sqlite:$WORK/data/mctx.db" --data-dir "$WORK/data" \
    --log-level warn "$@" 2>"$WORK/serve.log" &
  SERVE_PID=$!
  for _ in $(seq 1 400); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "the service did not start:" >&2
  cat "$WORK/serve.log" >&2
  exit 1
}

# unserve: SIGTERM, and the exit status must be 0 (a clean drain)
unserve() {
  kill -TERM "$SERVE_PID"
  local rc=0
  wait "$SERVE_PID" || rc=$?
  SERVE_PID=""
  return $rc
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# sample_rss PID INTERVAL OUT: writes "milliseconds rss_kb" lines until PID exits or the file $OUT.stop appears
sample_rss() {
  local pid=$1 every=$2 out=$3 t0
  t0=$(date +%s%N)
  : >"$out"
  while kill -0 "$pid" 2>/dev/null && [ ! -e "$out.stop" ]; do
    echo "$(( ($(date +%s%N) - t0) / 1000000 )) $(rss_kb "$pid")" >>"$out"
    sleep "$every"
  done
}

# json FILE KEY: a number or object member from loadgen's --json output
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); 
for k in sys.argv[2].split("."): d=d.get(k, 0) if isinstance(d, dict) else 0
print(d)' "$1" "$2"; }

cleanup_common() {
  if [ -n "${SERVE_PID:-}" ] && kill -0 "$SERVE_PID" 2>/dev/null; then kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true; fi
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
