#!/usr/bin/env bash
# bench/quality.sh: the search-quality measurements of docs/QUALITY.md, with
# `mctx arena`. Every run is seeded: the same build gives the same numbers on
# any machine and any number of threads (only the times differ).
#
# usage: bench/quality.sh [BUILD_DIR] [THREADS]   (defaults: build, 2)
# It takes a few minutes on two cores; `make test` runs the short versions
# (tests/models/test-quality.c).
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
MCTX="$BUILD/mctx"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$MCTX" ] || { echo "quality.sh: $MCTX not found (build first)" >&2; exit 1; }

run() {
  echo "\$ mctx arena $*"
  "$MCTX" arena --threads "$THREADS" "$@"
  echo
}

echo "# connect four: 64 simulations against 8 (gumbel_muzero), 200 games"
run --game connect4 --games 200 --seed 0 --a gumbel_muzero:64 --b gumbel_muzero:8
run --game connect4 --games 200 --seed 0 --opening 2 --a gumbel_muzero:64 --b gumbel_muzero:8
run --game connect4 --games 200 --seed 0 --a muzero:64 --b muzero:8

echo "# connect four: 800 simulations against a random player, 100 games"
run --game connect4 --games 100 --seed 0 --a gumbel_muzero:800 --b random
run --game connect4 --games 100 --seed 0 --a muzero:800 --b random

echo "# tic-tac-toe: against a random player, 1000 games per seed"
for seed in 1 2 3; do
  run --game tictactoe --games 1000 --seed "$seed" --a muzero:200 --b random
  run --game tictactoe --games 1000 --seed "$seed" --a gumbel_muzero:400 --b random
done
echo "# tic-tac-toe: the two policies against each other (perfect play draws)"
run --game tictactoe --games 100 --seed 0 --a muzero:1000 --b gumbel_muzero:1000

echo "# connect four: positions with a forced win in 1 or 2 (tests/models/connect4_forced_wins.txt)"
for p in random muzero:200 muzero:800 gumbel_muzero:200 gumbel_muzero:800; do
  run --puzzles "$ROOT/tests/models/connect4_forced_wins.txt" --seed 0 --a "$p"
done
