#!/usr/bin/env bash
# tests/cli/test-cli.sh: the `mctx` command end to end (search, bench, arena,
# help): exit statuses, the result and error JSON on stdout, the tree files,
# the game models' illegal moves masked through `mctx search`, and `mctx
# arena`'s flags, text and JSON output and puzzle files (tiny game counts).
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

# The game models mask illegal moves at the root without invalid_actions:
# column 4 of "444444" is full, so it gets no visits and is never chosen.
for pol in muzero gumbel_muzero; do
  for seed in 0 1 2; do
    echo "{\"search_type\": \"$pol\", \"model\": {\"name\": \"connect4\", \"params\": {\"position\": \"444444\"}},
           \"root_input\": {\"batch_size\": 1, \"num_actions\": 7}, \"search_params\": {\"num_simulations\": 64, \"seed\": $seed}}" \
      | "$MCTX" search --input - >"$TMP/c4.json"
    check "connect4 $pol seed $seed exits 0" test $? -eq 0
    check "connect4 $pol seed $seed: full column 4 has no visits" \
      grep -Eq '"root_visit_counts":\[\[[0-9]+,[0-9]+,[0-9]+,0,[0-9]+,[0-9]+,[0-9]+\]\]' "$TMP/c4.json"
    check "connect4 $pol seed $seed: column 4 not chosen" grep -Eq '"action":\[[0124-6]\]' "$TMP/c4.json"
  done
done
echo '{"model": {"name": "connect4", "params": {"position": "444444"}}, "root_input": {"batch_size": 1, "num_actions": 7,
       "invalid_actions": [[1, 1, 1, 0, 1, 1, 1]]}}' | "$MCTX" search --input - >"$TMP/c4bad.json"
check "invalid_actions leaving no legal move exits 2" test $? -eq 2
check "... and names the field" grep -q '"field":"root_input.invalid_actions\[0\]"' "$TMP/c4bad.json"

# mctx arena: games (text and JSON), determinism, puzzles, bad flags.
"$MCTX" arena --game tictactoe --games 4 --seed 1 --a muzero:16 --b random --threads 1 >"$TMP/arena.txt" 2>"$TMP/arena.err"
check "arena exits 0" test $? -eq 0
check "arena names game and count" grep -q '^arena: tictactoe, 4 games (A is X in 2), seed 1, opening 0 plies$' "$TMP/arena.txt"
check "arena names the players" grep -q '^  A: muzero:16$' "$TMP/arena.txt"
wdl=$(grep -E '^A: [0-9]+ wins, [0-9]+ draws, [0-9]+ losses \(as X: [0-9]+/[0-9]+/[0-9]+, as O: [0-9]+/[0-9]+/[0-9]+\)$' "$TMP/arena.txt")
check "arena prints the W/D/L line" test -n "$wdl"
sum=$(echo "$wdl" | sed -E 's/^A: ([0-9]+) wins, ([0-9]+) draws, ([0-9]+) losses.*/\1+\2+\3/')
check "W + D + L = games" test "$(( ${sum:-0} ))" -eq 4
check "arena prints the score and interval" grep -Eq '^score [01]\.[0-9]{3} \(95% Wilson interval [01]\.[0-9]{3} - [01]\.[0-9]{3}\)$' "$TMP/arena.txt"
check "arena played no illegal move" test "$(grep -c 'illegal' "$TMP/arena.txt")" -eq 0
"$MCTX" arena --game tictactoe --games 4 --seed 1 --a muzero:16 --b random --json --threads 1 >"$TMP/arena1.json"
check "arena --json exits 0" test $? -eq 0
"$MCTX" arena --game tictactoe --games 4 --seed 1 --a muzero:16 --b random --json --threads 2 >"$TMP/arena2.json"
nosecs() { sed -E 's/"seconds":[^,}]*//' "$1"; }
check "arena is deterministic across thread counts" test "$(nosecs "$TMP/arena1.json")" = "$(nosecs "$TMP/arena2.json")"
if command -v python3 >/dev/null 2>&1; then
  check "arena JSON fields" python3 - "$TMP/arena1.json" "$TMP/arena.txt" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
for k in ("game", "games", "seed", "opening_plies", "a", "b", "wins", "draws", "losses", "as_first", "as_second",
          "score", "ci95", "illegal_moves", "plies", "seconds"):
    assert k in d, k
assert d["game"] == "tictactoe" and d["games"] == 4 and d["seed"] == 1 and d["opening_plies"] == 0, d
assert d["a"]["policy"] == "muzero" and d["a"]["num_simulations"] == 16 and d["a"]["spec"] == "muzero:16", d["a"]
assert d["b"]["policy"] == "random", d["b"]
assert d["wins"] + d["draws"] + d["losses"] == 4
for k in ("wins", "draws", "losses"):
    assert d["as_first"][k] + d["as_second"][k] == d[k], k
assert sum(d["as_first"].values()) == 2 and sum(d["as_second"].values()) == 2
assert abs(d["score"] - (d["wins"] + d["draws"] / 2) / 4) < 1e-12
lo, hi = d["ci95"]
assert 0 <= lo <= d["score"] <= hi <= 1, d["ci95"]
assert d["illegal_moves"] == 0 and d["plies"] >= 4 * 5
# the text output of the same games says the same
m = re.search(r"^A: (\d+) wins, (\d+) draws, (\d+) losses", open(sys.argv[2]).read(), re.M)
assert tuple(map(int, m.groups())) == (d["wins"], d["draws"], d["losses"])
PY
else
  for f in '"wins":' '"draws":' '"losses":' '"score":' '"ci95":' '"as_first":' '"illegal_moves":0'; do
    check "arena JSON has $f" grep -q "$f" "$TMP/arena1.json"
  done
fi
"$MCTX" arena --game connect4 --games 2 --seed 3 --opening 2 --position 44 --a gumbel_muzero:8 --b muzero:8 --rollouts 2 \
  --verbose >"$TMP/c4arena.txt" 2>"$TMP/c4arena.err"
check "connect4 arena with --opening, --position, --rollouts exits 0" test $? -eq 0
check "connect4 arena plays 2 games" grep -q '^arena: connect4, 2 games (A is X in 1), seed 3, opening 2 plies$' "$TMP/c4arena.txt"
check "--verbose prints the games on stderr" test -s "$TMP/c4arena.err"
# puzzles: comments, blank lines and CRLF lines are skipped; text and JSON
printf '# a comment\n\n265326476735267643456 4 1\r\n1376572243223457623453377 1 1\n' >"$TMP/puzzles.txt"
"$MCTX" arena --puzzles "$TMP/puzzles.txt" --a muzero:64 --seed 0 >"$TMP/pz.txt"
check "puzzles exit 0" test $? -eq 0
check "puzzles count the positions" grep -q "^puzzles: $TMP/puzzles.txt, 2 positions, player muzero:64$" "$TMP/pz.txt"
check "puzzles print the solved line" grep -Eq '^solved [0-2] of 2 \(' "$TMP/pz.txt"
"$MCTX" arena --puzzles "$TMP/puzzles.txt" --a muzero:64 --seed 0 --json >"$TMP/pz.json"
check "puzzles --json" grep -Eq '^\{"game":"connect4","player":"muzero:64","positions":2,"solved":[0-2],"rate":[0-9.]+,"ci95":\[[0-9.]+,[0-9.]+\],"win_in_1":\[[0-2],2\],"win_in_2":\[0,0\]\}$' "$TMP/pz.json"
# the random player on the 300 positions of docs/QUALITY.md: 61 solved (fast)
"$MCTX" arena --puzzles "$SRC/tests/models/connect4_forced_wins.txt" --seed 0 --a random --json >"$TMP/pz300.json"
check "random solves 61 of the 300 positions (docs/QUALITY.md)" grep -q '"positions":300,"solved":61,' "$TMP/pz300.json"
# bad puzzle files: exit 2, the file and line named
printf '265326476735267643456 4 1\n4444444 1 1\n' >"$TMP/pbad1.txt"
"$MCTX" arena --puzzles "$TMP/pbad1.txt" >/dev/null 2>"$TMP/pbad.err"
check "puzzles: an illegal position exits 2" test $? -eq 2
check "... naming file and line" grep -q "pbad1.txt:2: .*column 4 is full" "$TMP/pbad.err"
printf '265326476735267643456\n' >"$TMP/pbad2.txt"
"$MCTX" arena --puzzles "$TMP/pbad2.txt" >/dev/null 2>"$TMP/pbad.err"
check "puzzles: a line without moves exits 2" test $? -eq 2
check "... saying what a line holds" grep -q 'pbad2.txt:1: expected' "$TMP/pbad.err"
printf '265326476735267643456 9 1\n' >"$TMP/pbad3.txt"
"$MCTX" arena --puzzles "$TMP/pbad3.txt" >/dev/null 2>"$TMP/pbad.err"
check "puzzles: a winning move out of range exits 2" test $? -eq 2
printf '# nothing\n' >"$TMP/pbad4.txt"
"$MCTX" arena --puzzles "$TMP/pbad4.txt" >/dev/null 2>"$TMP/pbad.err"
check "puzzles: a file without positions exits 2" test $? -eq 2
"$MCTX" arena --puzzles "$TMP/nope.txt" >/dev/null 2>"$TMP/pbad.err"
check "puzzles: a missing file exits 1" test $? -eq 1
check "... saying so" grep -q 'cannot open' "$TMP/pbad.err"
# bad flags: exit 2 and a message naming the flag
arena_bad() { # name, expected stderr text, flags...
  local name=$1 want=$2; shift 2
  "$MCTX" arena "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"
  local rc=$?
  check "arena $name exits 2" test $rc -eq 2
  check "arena $name says: $want" grep -qF -- "$want" "$TMP/bad.err"
  check "arena $name prints nothing on stdout" test ! -s "$TMP/bad.out"
}
arena_bad "unknown flag" "unknown, incomplete or non-numeric flag '--frobnicate'" --frobnicate 3
arena_bad "non-numeric --games" "non-numeric flag '--games'" --games many
arena_bad "flag without value" "incomplete or non-numeric flag '--seed'" --seed
arena_bad "--games 0" "--games in [1, 1000000]" --games 0
arena_bad "unknown game" "--game must be connect4 or tictactoe, not 'chess'" --game chess
arena_bad "bad player" "--a" --a nonsense:5 --games 1
arena_bad "illegal --position" "--position" --position 4444444 --games 1

# Help for every command.
quiet() { "$@" >/dev/null 2>&1; }
check "mctx --help" quiet "$MCTX" --help
for c in search bench arena; do check "mctx $c --help" quiet "$MCTX" $c --help; done
"$MCTX" frobnicate >/dev/null 2>&1
check "unknown command exits 2" test $? -eq 2

exit $fail
