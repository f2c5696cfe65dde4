#!/usr/bin/env bash
# bench/quality.sh: the search-quality measurements of docs/QUALITY.md, with
# `mctx arena`. Every run is seeded: the same build gives the same numbers on
# any machine and any number of threads (only the times differ).
#
# usage: bench/quality.sh [BUILD_DIR] [THREADS]   (defaults: build, 2)
# It prints every figure of docs/QUALITY.md, with the date, the commit, the
# compiler and the machine first. It takes under a minute: 37 s of CPU time,
# 52 s wall clock on the 2-core development VM at nice 10 beside a fuzzer
# (2026-12-07, docs/QUALITY.md); `make test` runs the short versions
# (tests/models/test-quality.c).
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
MCTX="$BUILD/mctx"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$MCTX" ] || { echo "quality.sh: $MCTX not found (build first)" >&2; exit 1; }

echo "# date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# commit:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$( [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (working tree with uncommitted changes)')"
echo "# binary:   $MCTX ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo '?') build), $THREADS threads"
echo "# compiler: $(grep -m1 '^CMAKE_C_COMPILER:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2) $(cc -dumpfullversion 2>/dev/null || true)"
echo "# machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')"
echo
START=$(date +%s)

run() {
  echo "\$ mctx arena $*"
  "$MCTX" arena --threads "$THREADS" "$@"
  echo
}
PUZZLES="$ROOT/tests/models/connect4_forced_wins.txt"

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

echo "# tic-tac-toe: gumbel_muzero's rare loss does not go away with more simulations (seed 1)"
for sims in 200 800 1600; do
  run --game tictactoe --games 1000 --seed 1 --a "gumbel_muzero:$sims" --b random
done

echo "# connect four: positions with a forced win in 1 or 2 (tests/models/connect4_forced_wins.txt)"
for p in random muzero:200 muzero:800 gumbel_muzero:200 gumbel_muzero:800; do
  run --puzzles "$PUZZLES" --seed 0 --a "$p"
done
run --puzzles "$PUZZLES" --seed 0 --a gumbel_muzero:800 --verbose 2>&1

echo "# what made the difference: a uniform prior, tactical rollouts (800 simulations)"
for pol in muzero gumbel_muzero; do
  run --puzzles "$PUZZLES" --seed 0 --a "{\"policy\": \"$pol\", \"num_simulations\": 800, \"prior\": \"uniform\"}"
  run --puzzles "$PUZZLES" --seed 0 --a "{\"policy\": \"$pol\", \"num_simulations\": 800, \"rollout\": \"tactical\"}"
done
run --game tictactoe --games 1000 --seed 1 --a '{"policy": "gumbel_muzero", "num_simulations": 200, "rollout": "tactical"}' --b random

echo "# done in $(( $(date +%s) - START )) s"
