#!/usr/bin/env bash
# tests/cli/test-cli.sh: the `mctx` command end to end (search, bench, help):
# exit statuses, the result and error JSON on stdout, the tree files.
# Usage: test-cli.sh MCTX_BINARY SOURCE_DIR
set -u
MCTX=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}

# A first search on the example request: exit 0 and the documented fields.
"$MCTX" search --input "$SRC/examples/first_search.json" >"$TMP/out.json"
rc=$?
check "example search exits 0" test $rc -eq 0
for f in '"action":' '"action_weights":' '"search_statistics":' '"root_visit_counts":' '"request_id":' '"distributed_stats":null'; do
  check "result has $f" grep -q "$f" "$TMP/out.json"
done

# The same request from stdin gives the same actions.
"$MCTX" search --input - <"$SRC/examples/first_search.json" >"$TMP/out2.json"
check "stdin gives the same actions" test "$(grep -o '"action":\[[^]]*\]' "$TMP/out.json")" = "$(grep -o '"action":\[[^]]*\]' "$TMP/out2.json")"

# An invalid request: exit 2 and the error envelope naming the field.
echo '{"root_input": {"batch_size": 2, "num_actions": 3, "prior_logits": [[1,2,3],[1,2]], "value": [0,0]}}' >"$TMP/bad.json"
"$MCTX" search --input "$TMP/bad.json" >"$TMP/err.json"
rc=$?
check "invalid request exits 2" test $rc -eq 2
check "envelope names the field" grep -q '"field":"root_input.prior_logits\[1\]"' "$TMP/err.json"
check "envelope has status 400" grep -q '"status_code":400' "$TMP/err.json"
echo 'not json at all' | "$MCTX" search --input - >"$TMP/err2.json"
check "malformed JSON exits 2" test $? -eq 2
check "malformed JSON says where" grep -q 'byte' "$TMP/err2.json"

# Trees: nested (one root dictionary per element) and arrays.
"$MCTX" search --input "$SRC/examples/first_search.json" --tree "$TMP/tree.json" --tree-format nested >/dev/null
check "nested tree written" grep -q '"child_stats"' "$TMP/tree.json"
check "nested tree is a list of roots" test "$(head -c 2 "$TMP/tree.json")" = '[{'
"$MCTX" search --input "$SRC/examples/first_search.json" --tree "$TMP/arrays.json" --tree-format arrays >/dev/null
check "arrays tree written" grep -q '"children_index"' "$TMP/arrays.json"
"$MCTX" search --input "$SRC/examples/first_search.json" --tree-format sideways >/dev/null 2>&1
check "unknown tree format refused" test $? -eq 2

# A missing file: exit 1 with a message.
"$MCTX" search --input "$TMP/nope.json" >/dev/null 2>"$TMP/stderr"
check "missing input exits 1" test $? -eq 1
check "missing input says so" grep -q 'cannot read' "$TMP/stderr"

# bench --json prints the figures it promises (a short run; not a timing test).
"$MCTX" bench --policy muzero --batch 4 --actions 8 --simulations 4 --repeat 2 --json >"$TMP/bench.json"
check "bench exits 0" test $? -eq 0
for f in '"median_ms":' '"sims_per_s":' '"peak_rss_mib":'; do check "bench reports $f" grep -q "$f" "$TMP/bench.json"; done
"$MCTX" bench --policy nope >/dev/null 2>&1
check "bench refuses an unknown policy" test $? -eq 2

# Help for every command.
quiet() { "$@" >/dev/null 2>&1; }
check "mctx --help" quiet "$MCTX" --help
for c in search bench; do check "mctx $c --help" quiet "$MCTX" $c --help; done
"$MCTX" frobnicate >/dev/null 2>&1
check "unknown command exits 2" test $? -eq 2

exit $fail
