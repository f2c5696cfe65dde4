#!/usr/bin/env bash
# examples/service_demo.sh: the product notes' service demo, with curl.
#
# Starts `mctx serve` on a free loopback port with a throw-away SQLite
# database and an admin and a user API key, then:
#   1. checks health,
#   2. posts the notes' Gumbel MuZero request with the T4 optimizations
#      (use_t4_optimizations, precision fp16, tensor_core_aligned) on the GPU
#      (the CPU answers, and says why, where no GPU is usable),
#   3. posts the notes' distributed request (num_devices 4, partition_batch),
#   4. runs the same search as an async task and polls it,
#   5. turns the user key into a bearer token and searches with it,
#   6. reads the history, the daily statistics and a few metrics,
# and stops the service with SIGTERM (it drains and flushes its records).
#
#   examples/service_demo.sh [path/to/mctx]      (default: build/mctx)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/mctx}
[ -x "$BIN" ] || { echo "build first: make build (no binary at $BIN)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

DIR=$(mktemp -d /tmp/mctx-demo-XXXXXX)
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
URL=http://127.0.0.1:$PORT
ADMIN=demo-admin-key-123456
USER_KEY=demo-user-key-1234567
PID=""
finish() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    wait "$PID" && echo "service stopped cleanly (exit 0)" || echo "service exited with $?"
  fi
  rm -rf "$DIR"
}
trap finish EXIT

MCTX_API_KEYS="$ADMIN:admin:ops,$USER_KEY:user:analyst" \
  "$BIN" serve --port "$PORT" --db "sqlite:$DIR/mctx.db" --data-dir "$DIR" 2>"$DIR/serve.log" &
PID=$!
for _ in $(seq 1 100); do curl -sf "$URL/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
echo "service: $URL (log: JSON lines in $DIR/serve.log)"

show() { # show TITLE; then the command's JSON, pretty when python3 is there
  echo; echo "== $1"
}
# One line per member, long values cut, so the answers stay readable.
pretty() {
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys
d = json.load(sys.stdin)
for k, v in d.items():
    t = json.dumps(v)
    print("  %s: %s" % (k, t if len(t) <= 150 else t[:150] + " ..."))'
  else cat; echo; fi
}

show "GET /api/v1/mcts/health (open, no key needed)"
curl -s "$URL/api/v1/mcts/health" | pretty

show "POST /api/v1/mcts/search: Gumbel MuZero with the T4 optimizations"
curl -s -X POST "$URL/api/v1/mcts/search" -H "X-API-Key: $USER_KEY" -H 'Content-Type: application/json' -d '{
  "root_input": {
    "prior_logits": [[0.1, 0.5, -0.3, 1.2, 0.0, 0.2, -0.1, 0.4], [0.3, 0.1, 0.0, -0.2, 0.6, 0.1, 0.2, -0.5]],
    "value": [0.25, -0.1],
    "batch_size": 2,
    "num_actions": 8
  },
  "search_params": {
    "num_simulations": 64,
    "max_num_considered_actions": 8,
    "use_t4_optimizations": true,
    "precision": "fp16",
    "tensor_core_aligned": true
  },
  "search_type": "gumbel_muzero",
  "device_type": "gpu",
  "model": "mock"
}' | pretty

show "POST /api/v1/mcts/search: distributed over 4 devices, batch partitioned"
curl -s -X POST "$URL/api/v1/mcts/search" -H "X-API-Key: $USER_KEY" -H 'Content-Type: application/json' -d '{
  "root_input": {"batch_size": 8, "num_actions": 16},
  "search_params": {"num_simulations": 32, "distributed": true, "num_devices": 4, "partition_batch": true},
  "search_type": "muzero",
  "model": "mock"
}' | pretty

show "POST /api/v1/tasks/search/async, then GET /api/v1/tasks/status/{id}"
TASK=$(curl -s -X POST "$URL/api/v1/tasks/search/async" -H "X-API-Key: $USER_KEY" -H 'Content-Type: application/json' \
  -d '{"root_input": {"batch_size": 1, "num_actions": 16}, "model": "mock", "search_params": {"num_simulations": 128}}')
echo "$TASK" | pretty
ID=$(echo "$TASK" | sed -n 's/.*"task_id":"\([^"]*\)".*/\1/p')
for _ in $(seq 1 50); do
  ST=$(curl -s "$URL/api/v1/tasks/status/$ID" -H "X-API-Key: $USER_KEY")
  case "$ST" in *'"status":"pending"'*|*'"status":"running"'*) sleep 0.1 ;; *) break ;; esac
done
echo "$ST" | head -c 400; echo " ..."

show "POST /api/v1/auth/token (user key) and a search with the bearer token"
TOKEN=$(curl -s -X POST "$URL/api/v1/auth/token" -H "X-API-Key: $USER_KEY" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
echo "token: ${TOKEN:0:40}..."
curl -s -X POST "$URL/api/v1/mcts/search" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d @examples/first_search.json | head -c 300; echo " ..."

show "errors answer the envelope: no key, and a bad request"
curl -s -X POST "$URL/api/v1/mcts/search" -H 'Content-Type: application/json' -d '{}' | pretty
curl -s -X POST "$URL/api/v1/mcts/search" -H "X-API-Key: $USER_KEY" -H 'Content-Type: application/json' \
  -d '{"root_input": {"batch_size": 1, "num_actions": 4}, "search_params": {"num_simulations": 0}}' | pretty

sleep 0.5  # the records reach SQLite through the spool a moment after the answers
show "GET /api/v1/searches?limit=3 (admin sees every user's)"
curl -s "$URL/api/v1/searches?limit=3" -H "X-API-Key: $ADMIN" | head -c 800; echo " ..."

show "GET /api/v1/stats/daily"
curl -s "$URL/api/v1/stats/daily" -H "X-API-Key: $ADMIN" | pretty

show "GET /metrics (a few lines)"
curl -s "$URL/metrics" -H "X-API-Key: $ADMIN" | grep -E '^mctx_(searches_total|http_requests_total|db_spool_depth|simulations_total)' | head -12
