#!/usr/bin/env bash
# tests/cli/test-limits.sh: the configurable limits of a request (the
# simulation limit and the tree's memory budget) on `mctx search`, refused
# with exit 2 and the error envelope naming the field before anything is
# allocated; and the help of every command naming each of its flags.
# Usage: test-limits.sh MCTX_BINARY
set -u
MCTX=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}
req() { # sims, batch, actions
  echo "{\"search_type\": \"muzero\", \"model\": \"synthetic\", \"root_input\": {\"batch_size\": $2, \"num_actions\": $3},
         \"search_params\": {\"num_simulations\": $1, \"seed\": 1}}"
}

# --max-simulations: 50 simulations under a limit of 40 is refused, under 60 runs.
req 50 1 8 | "$MCTX" search --max-simulations 40 --input - >"$TMP/o.json"
check "over --max-simulations exits 2" test $? -eq 2
check "... naming num_simulations" grep -q '"field":"search_params.num_simulations"' "$TMP/o.json"
check "... and the limit" grep -q '40' "$TMP/o.json"
req 50 1 8 | "$MCTX" search --max-simulations 60 --input - >"$TMP/o.json"
check "under --max-simulations runs" test $? -eq 0
# the default limit (100000)
req 100001 1 2 | "$MCTX" search --input - >"$TMP/o.json"
check "over the default simulation limit exits 2" test $? -eq 2
check "... naming num_simulations" grep -q '"field":"search_params.num_simulations"' "$TMP/o.json"

# --max-tree-mib: a tree of 64 x 2001 nodes x 362 actions (about 1.3 GiB) is
# refused under a 64 MiB budget at once; the same request under a larger
# budget would allocate it (not run here).
req 2000 64 362 | "$MCTX" search --max-tree-mib 64 --input - >"$TMP/o.json"
check "over --max-tree-mib exits 2" test $? -eq 2
check "... naming the field" grep -q '"field":"search_params.num_simulations"' "$TMP/o.json"
check "... saying the budget" grep -q 'budget' "$TMP/o.json"
req 8 2 4 | "$MCTX" search --max-tree-mib 1 --input - >"$TMP/o.json"
check "a small tree fits a 1 MiB budget" test $? -eq 0
"$MCTX" search --max-tree-mib 0 --input - </dev/null >/dev/null 2>"$TMP/e.txt"
check "--max-tree-mib 0 is a bad flag (exit 2)" test $? -eq 2

# Help: every flag a command takes is in its help.
help_has() { # command, flags...
  local cmd=$1; shift
  "$MCTX" $cmd --help >"$TMP/help.txt" 2>&1
  check "mctx $cmd --help exits 0" test $? -eq 0
  for f in "$@"; do check "mctx $cmd --help names $f" grep -q -- "$f" "$TMP/help.txt"; done
}
help_has search --input --tree --tree-format --engine --threads --max-simulations --max-tree-mib --default-model --model-dir \
  --distributed --num-devices --partition --merge --gpus --cpu-devices --nccl --fail-device
help_has bench --policy --batch --actions --simulations --model --model-params --engine --threads --repeat \
  --warmup --seed --prng --precision --aligned --json --distributed
help_has serve --host --port --db --data-dir --engine --engine-threads --workers --default-model \
  --max-batch-size --max-num-actions --max-num-simulations --max-tree-bytes --max-body-bytes --queue-size \
  --max-queue-wait-us --batch-max --batch-max-delay-us --request-timeout-ms --drain-timeout-ms --rate-limit-search \
  --rate-limit-other --rate-limit-routes --api-keys --api-keys-file --jwt-secret --model-dir
help_has arena --game --games --seed --a --b --threads --json --puzzles
help_has db init migrate stats prune workload-class sdi
"$MCTX" --help >"$TMP/help.txt" 2>&1
for c in search bench serve db arena; do check "mctx --help lists $c" grep -q "$c" "$TMP/help.txt"; done

exit $fail
