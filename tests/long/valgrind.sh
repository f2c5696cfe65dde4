#!/usr/bin/env bash
# tests/long/valgrind.sh: valgrind memcheck on the CLI and on a running
# service under requests (docs/RELIABILITY.md, "Memory").
#
#   tests/long/valgrind.sh [BUILD/mctx]       (default build/mctx)
#
# Runs under memcheck (--leak-check=full; definite and indirect leaks count
# as errors, "still reachable" and "possibly lost" do not):
#   1. the CLI: --help, search on examples/first_search.json (and with its
#      tree written, nested and arrays), a search read from stdin, a
#      refused request, bench, db init/migrate/stats on SQLite, serve --help;
#   2. `mctx serve` (SQLite in a temporary folder, API keys on) under
#      requests of every kind: searches (merged, alone, returning and
#      storing trees, refused), an async task polled to the end and one
#      canceled, history reads, a stored tree, statistics, a token and its
#      use, metrics, the OpenAPI document, the dashboard, errors (401, 403,
#      404, 405, 413, 415, 400s); then SIGTERM, and the drain.
# Each run must end with "ERROR SUMMARY: 0 errors" and no definitely or
# indirectly lost bytes. Exit 0 when all are clean, 1 otherwise (the logs are
# kept and named), 77 (skipped) when valgrind is not installed or the binary
# is built with AddressSanitizer (valgrind cannot run it). Takes about a
# minute on the 2-core development VM with a release build.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/mctx}
[ -x "$BIN" ] || { echo "valgrind.sh: no binary at $BIN" >&2; exit 1; }
if ! command -v valgrind >/dev/null; then
  echo "SKIP: valgrind is not installed (apt-get install valgrind)" >&2
  exit 77
fi
# (ldd's whole output first: under pipefail, `ldd | grep -q` fails whenever
# grep exits before ldd has written everything, and the check then missed
# the sanitizer build on a loaded machine)
libs=$(ldd "$BIN" 2>/dev/null || true)
if [[ $libs == *libasan* ]]; then
  echo "SKIP: $BIN is built with AddressSanitizer, which valgrind cannot run; use a release build" >&2
  exit 77
fi
BIN=$(readlink -f "$BIN")
WORK=$(mktemp -d /tmp/mctx-valgrind-XXXXXX)
KEEP=0
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then kill -KILL "$SERVE_PID" 2>/dev/null; fi
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
export OPENBLAS_NUM_THREADS=1
VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=no --num-callers=30)
fails=0
runs=0

# check LOG NAME: the log says 0 errors and nothing definitely or indirectly lost
check() {
  local log=$1 name=$2 errs def ind
  runs=$((runs + 1))
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -1 | tr -d ,)
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
  if [ "${errs:-x}" = 0 ] && [ "${def:-0}" = 0 ] && [ "${ind:-0}" = 0 ]; then
    printf 'clean  %-40s errors=0 definitely_lost=%s indirectly_lost=%s\n' "$name" "${def:-0}" "${ind:-0}"
  else
    printf 'FAIL   %-40s errors=%s definitely_lost=%s indirectly_lost=%s (log: %s)\n' "$name" "${errs:-?}" \
      "${def:-?}" "${ind:-?}" "$log"
    fails=$((fails + 1))
    KEEP=1
  fi
}

# cli NAME EXPECTED-EXIT ARGS...: one CLI command under memcheck
cli() {
  local name=$1 want=$2
  shift 2
  local log="$WORK/cli-$name.log" rc=0
  "${VG[@]}" --log-file="$log" "$BIN" "$@" >"$WORK/cli-$name.out" 2>"$WORK/cli-$name.err" </dev/null || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL   $name exited $rc, expected $want (log: $log)"
    fails=$((fails + 1))
    KEEP=1
  fi
  check "$log" "cli: $name"
}

echo "valgrind: $(valgrind --version); binary $BIN; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s)
cli help 0 --help
cli search 0 search --input examples/first_search.json
cli search-tree-nested 0 search --input examples/first_search.json --tree "$WORK/tree.json" --tree-format nested
cli search-tree-arrays 0 search --input examples/first_search.json --tree "$WORK/tree.json" --tree-format arrays
printf '%s' '{"root_input":{"batch_size":3,"num_actions":5},"model":"synthetic_stochastic","search_type":"stochastic_muzero","search_params":{"num_simulations":12}}' >"$WORK/stoch.json"
cli search-stochastic 0 search --input "$WORK/stoch.json"
printf '%s' '{"root_input":{"batch_size":1,"num_actions":2,"prior_logits":[[0,1,2]],"value":[0]}}' >"$WORK/bad.json"
cli search-refused 2 search --input "$WORK/bad.json"
cli bench 0 bench --policy muzero --batch 4 --actions 8 --simulations 16 --model synthetic --repeat 2 --warmup 1 --threads 1
cli db-init 0 db init --db "sqlite:$WORK/cli.db"
cli db-migrate 0 db migrate --db "sqlite:$WORK/cli.db"
cli db-stats 0 db stats --db "sqlite:$WORK/cli.db" --json
cli serve-help 0 serve --help

# ---- the service ----
ADMIN=vg-admin-key-0123456789
USER=vg-user-key-01234567890
log="$WORK/serve.log"
MCTX_API_KEYS="$ADMIN:admin:ops,$USER:user:alice" MCTX_JWT_SECRET=valgrind-secret-of-at-least-32-bytes \
  "${VG[@]}" --log-file="$log" "$BIN" serve --host 127.0.0.1 --port 0 --db "sqlite:$WORK/data/mctx.db" \
  --data-dir "$WORK/data" --workers 2 --engine-threads 2 --http-threads 2 --max-body-bytes 64K \
  --drain-timeout-ms 20000 2>"$WORK/serve.err" &
SERVE_PID=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*"msg":"ready".*"port":\([0-9]*\).*/\1/p' "$WORK/serve.err" | head -1)
  [ -n "$port" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$port" ]; then
  echo "FAIL   the service did not start under valgrind:"; tail -20 "$WORK/serve.err"; KEEP=1; exit 1
fi
python3 - "$port" "$ADMIN" "$USER" >"$WORK/requests.out" 2>&1 <<'PY'
import http.client, json, sys, threading, time
port, admin, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def req(method, path, body=None, headers=None, raw=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    h = dict(headers or {})
    if body is not None and raw is None:
        raw = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=raw, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data
A, U = {"X-API-Key": admin}, {"X-API-Key": user}
small = lambda seed, **kw: dict({"root_input": {"batch_size": 1, "num_actions": 8}, "model": "mock",
                                 "search_params": {"num_simulations": 16, "seed": seed}}, **kw)
expect = []
def want(code, got, what):
    expect.append((what, code, got[0]))
# searches from several threads (merged), alone, with trees
out = []
ts = [threading.Thread(target=lambda i=i: out.append(req("POST", "/api/v1/mcts/search", small(i), U))) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
for s in out: want(200, s, "merged search")
want(200, req("POST", "/api/v1/mcts/search", small(1, return_tree="nested"), U), "nested tree")
want(200, req("POST", "/api/v1/mcts/search", small(2, return_tree="arrays"), U), "arrays tree")
want(200, req("POST", "/api/v1/mcts/search", small(3, store_tree=True), dict(U, **{"X-Request-ID": "vg-tree-1"})), "stored tree")
want(200, req("POST", "/api/v1/mcts/search", {"root_input": {"batch_size": 2, "num_actions": 4}, "model": "synthetic_stochastic",
                                              "search_type": "stochastic_muzero", "search_params": {"num_simulations": 8}}, U), "stochastic")
want(200, req("POST", "/api/v1/mcts/search", {"root_input": {"batch_size": 1, "num_actions": 9}, "model": "tictactoe",
                                              "search_params": {"num_simulations": 8}}, U), "tictactoe")
want(400, req("POST", "/api/v1/mcts/search", {"root_input": {"batch_size": 1}}, U), "refused")
want(400, req("POST", "/api/v1/mcts/search", None, dict(U, **{"Content-Type": "application/json"}), raw=b"{not json"), "malformed")
want(415, req("POST", "/api/v1/mcts/search", None, dict(U, **{"Content-Type": "text/plain"}), raw=b"{}"), "415")
want(413, req("POST", "/api/v1/mcts/search", None, dict(U, **{"Content-Type": "application/json"}), raw=b"x" * 70000), "413")
want(401, req("POST", "/api/v1/mcts/search", small(4)), "401")
want(403, req("GET", "/api/v1/tasks", None, U), "403")
want(404, req("GET", "/nowhere", None, U), "404")
want(405, req("DELETE", "/health/live"), "405")
# async: one to the end, one canceled
st, body = req("POST", "/api/v1/tasks/search/async", small(5), U)
want(202, (st, body), "task")
tid = json.loads(body)["task_id"]
for _ in range(600):
    st, body = req("GET", "/api/v1/tasks/status/" + tid, None, U)
    if json.loads(body)["status"] in ("done", "failed", "canceled"):
        break
    time.sleep(0.1)
want(200, (st, body), "task status")
st, body = req("POST", "/api/v1/tasks/search/async", small(6), U)
want(200, req("DELETE", "/api/v1/tasks/" + json.loads(body)["task_id"], None, U), "task cancel")
want(200, req("GET", "/api/v1/tasks?limit=10", None, A), "task list")
# history (wait for the records to land)
for _ in range(600):
    st, body = req("GET", "/api/v1/searches/vg-tree-1", None, A)
    if st == 200:
        break
    time.sleep(0.1)
want(200, (st, body), "history row")
want(200, req("GET", "/api/v1/searches?limit=20&search_type=gumbel_muzero", None, A), "history list")
want(200, req("GET", "/api/v1/searches?limit=20", None, U), "history list (user)")
want(200, req("GET", "/api/v1/searches/vg-tree-1/tree?format=arrays", None, A), "stored tree")
want(200, req("GET", "/api/v1/stats/daily", None, U), "stats")
want(400, req("GET", "/api/v1/searches?limit=0", None, A), "bad limit")
# token, metrics, docs, dashboard, models
st, body = req("POST", "/api/v1/auth/token", None, U)
want(200, (st, body), "token")
tok = json.loads(body)["access_token"]
want(200, req("GET", "/api/v1/searches?limit=1", None, {"Authorization": "Bearer " + tok}), "bearer")
want(401, req("GET", "/api/v1/searches", None, {"Authorization": "Bearer " + tok[:-2] + "xx"}), "bad bearer")
want(200, req("GET", "/metrics", None, A), "metrics")
want(200, req("GET", "/openapi.json"), "openapi")
want(200, req("GET", "/dashboard"), "dashboard")
want(200, req("GET", "/dashboard/app.js"), "dashboard asset")
want(200, req("GET", "/api/v1/models", None, U), "models")
want(200, req("GET", "/api/v1/mcts/health"), "health")
want(200, req("GET", "/health/ready"), "ready")
bad = [(w, c, g) for w, c, g in expect if c != g]
print("requests: %d, unexpected: %s" % (len(expect), bad))
sys.exit(1 if bad else 0)
PY
req_rc=$?
cat "$WORK/requests.out"
[ "$req_rc" -eq 0 ] || { echo "FAIL   the requests did not get the expected answers"; fails=$((fails + 1)); KEEP=1; }
kill -TERM "$SERVE_PID"
serve_rc=0
wait "$SERVE_PID" || serve_rc=$?
SERVE_PID=""
if [ "$serve_rc" -ne 0 ]; then
  echo "FAIL   the service exited $serve_rc after SIGTERM (log: $log)"; fails=$((fails + 1)); KEEP=1
fi
check "$log" "serve (SIGTERM after the requests)"
echo "valgrind: $runs runs, $fails failed, $(( $(date +%s) - t0 )) s"
[ "$fails" -eq 0 ] || { echo "logs kept in $WORK" >&2; exit 1; }
exit 0
