#!/usr/bin/env bash
# bench/http-libs/run.sh: the same minimal HTTP server (POST /echo, a JSON body
# of about 300 bytes in, about 500 out, keep-alive, 127.0.0.1, 2 server threads,
# the service's limits) on several C HTTP libraries, each loaded by the same
# closed-loop load generator (loadgen.c), and a table of requests/s and p50/p99
# latency. The measurement behind the service's choice of libmicrohttpd
# (docs/BENCHMARKS.md, "Service"). A figure, not a test: make test never runs it.
#
#   bench/http-libs/run.sh                       the whole matrix (about 7 min)
#   RUNS=1 SECONDS_PER_RUN=3 bench/http-libs/run.sh   a quick look
#
# Servers (srv_*.c): mhd (libmicrohttpd, as src/service/http.c configures it),
# evhttp (libevent), h2o (libh2o-evloop), civetweb-2 (CivetWeb, 2 worker
# threads) and civetweb-8 (8: CivetWeb serves one connection per thread).
# Needs the Debian packages libmicrohttpd-dev libevent-dev libh2o-evloop-dev
# libcivetweb-dev (not in scripts/setup.sh: install them with apt-get).
#
# Each run starts a fresh server, records the 1-minute load average, loads it
# for a 1 s warm-up and SECONDS_PER_RUN measured seconds, and stops it (the
# server then prints how many requests each of its threads served). The runs
# alternate: for each repetition, each concurrency, every server once, in an
# order rotated by one each repetition, so that background load on a shared
# machine falls on all of them alike. One measurement at a time.
#
# Settings: RUNS (3), SECONDS_PER_RUN (10), CONNS ("4 8"), WARMUP (1),
# SERVERS ("mhd evhttp h2o civetweb-2 civetweb-8"), OUT (build/http-libs).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=bench/http-libs
OUT=${OUT:-build/http-libs}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-"4 8"}
SERVERS=${SERVERS:-"mhd evhttp h2o civetweb-2 civetweb-8"}
mkdir -p "$OUT"

for pc in libmicrohttpd libevent libh2o-evloop; do
  pkg-config --exists "$pc" || { echo "missing $pc (apt-get install libmicrohttpd-dev libevent-dev libh2o-evloop-dev)" >&2; exit 1; }
done
[ -f /usr/include/civetweb.h ] || { echo "missing civetweb.h (apt-get install libcivetweb-dev)" >&2; exit 1; }

CFLAGS="-std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE"
# shellcheck disable=SC2046
cc $CFLAGS $(pkg-config --cflags libmicrohttpd) -o "$OUT/srv_mhd" $SRC/srv_mhd.c $(pkg-config --libs libmicrohttpd) -lpthread
# shellcheck disable=SC2046
cc $CFLAGS $(pkg-config --cflags libevent) -o "$OUT/srv_evhttp" $SRC/srv_evhttp.c $(pkg-config --libs libevent) -lpthread
# shellcheck disable=SC2046
cc $CFLAGS $(pkg-config --cflags libh2o-evloop) -o "$OUT/srv_h2o" $SRC/srv_h2o.c $(pkg-config --libs libh2o-evloop) -lpthread
cc $CFLAGS -o "$OUT/srv_civetweb" $SRC/srv_civetweb.c -lcivetweb -ldl -lpthread # no .pc file in Debian 12
cc $CFLAGS -o "$OUT/loadgen" $SRC/loadgen.c

PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

start() { # start SERVER: sets PID and PORT
  local log="$OUT/server.out"
  rm -f "$log"
  case $1 in
    civetweb-*) "$OUT/srv_civetweb" 0 "${1#civetweb-}" >"$log" 2>"$OUT/server.err" & ;;
    *) "$OUT/srv_$1" 0 >"$log" 2>"$OUT/server.err" & ;;
  esac
  PID=$!
  for _ in $(seq 1 100); do
    PORT=$(awk '/^ready/{print $4}' "$log" 2>/dev/null)
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "$1 did not start:" >&2; cat "$OUT/server.err" >&2; exit 1
}

stop() { # prints the server's requests per thread
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
  sed -n 's/.*requests per thread: *//p' "$OUT/server.out" | tr ' ' ','
}

RAW="$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).tsv"
printf 'time\tserver\tconns\trun\tload1\t%s\tper_thread\n' "loadgen" >"$RAW"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "libraries: mhd $(pkg-config --modversion libmicrohttpd), libevent $(pkg-config --modversion libevent)," \
  "h2o $(dpkg-query -W -f='${Version}' libh2o-evloop-dev 2>/dev/null), civetweb $(dpkg-query -W -f='${Version}' libcivetweb-dev 2>/dev/null)"
echo "raw results: $RAW"
read -r -a SV <<<"$SERVERS"
for run in $(seq 1 "$RUNS"); do
  for c in $CONNS; do
    for i in $(seq 0 $((${#SV[@]} - 1))); do
      s=${SV[$(((i + run - 1) % ${#SV[@]}))]}
      start "$s"
      load=$(cut -d' ' -f1 /proc/loadavg)
      res=$("$OUT/loadgen" "$PORT" "$c" "$SECONDS_PER_RUN" $SRC/body.json "$WARMUP")
      per=$(stop)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%H:%M:%S)" "$s" "$c" "$run" "$load" "$res" "$per" | tee -a "$RAW"
    done
  done
done

python3 - "$RAW" "$SERVERS" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
order = sys.argv[2].split()
cells = {}
for t, s, c, r, load, res, per in rows:
    kv = dict(x.split("=", 1) for x in res.split())
    cells.setdefault((s, int(c)), []).append((float(kv["rps"]), float(kv["p50_ms"]), float(kv["p99_ms"]),
                                              kv["served_conns"], int(kv["bad"]) + int(kv["errors"]), float(load)))
print()
print("| server | conns | req/s median (min-max) | p50 ms median | p99 ms median (min-max) | conns served | load avg before |")
print("|---|---|---|---|---|---|---|")
for c in sorted({k[1] for k in cells}):
    for s in order:
        v = cells.get((s, c))
        if not v: continue
        rps = [x[0] for x in v]; p50 = [x[1] for x in v]; p99 = [x[2] for x in v]; ld = [x[5] for x in v]
        served = min(v, key=lambda x: int(x[3].split("/")[0]))[3]
        bad = sum(x[4] for x in v)
        print(f"| {s} | {c} | {st.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | {st.median(p50):.3f} | "
              f"{st.median(p99):.2f} ({min(p99):.2f}-{max(p99):.2f}) | {served}{'' if not bad else f', {bad} bad/errors'} | "
              f"{min(ld):.2f}-{max(ld):.2f} |")
PY
