#!/usr/bin/env bash
# fuzz/run.sh: builds the libFuzzer targets and runs each in turn (`make fuzz`).
#
#   fuzz/run.sh [TARGET...]                    every target, FUZZ_SECONDS each
#   FUZZ_SECONDS=60 fuzz/run.sh request http   a short run of two
#
# Build: build-fuzz/ (FUZZ_BUILD), clang (FUZZ_CC, default clang-14 or
# clang), -fsanitize=fuzzer-no-link,address,undefined on the libraries and
# -fsanitize=fuzzer,address,undefined on the targets, MCTX_WITH_CUDA=OFF.
# Run: one fuzzer at a time, `nice -n 10`, -workers=1 -jobs=1 (the machine
# is shared: FUZZ_NICE, FUZZ_FLAGS to change), starting from the seeds in
# fuzz/corpus/<target>/ plus what earlier runs found (build-fuzz/corpus/,
# where new inputs go: the repository's corpus is not written). A crash
# leaves its input in build-fuzz/artifacts/<target>/ and fails the run.
# Each run's figures (executions, exec/s, coverage, features, corpus, peak
# RSS, load average before and after) are appended to
# build-fuzz/fuzz-results.txt and printed; libFuzzer's own log is
# build-fuzz/logs/<target>/fuzz-0.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-600}
NICE=${FUZZ_NICE:-10}
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(request safetensors tree http store)
CC_FUZZ=${FUZZ_CC:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC_FUZZ" ] || { echo "fuzz: no clang found (clang-14 has libFuzzer: apt-get install clang-14)" >&2; exit 1; }

FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$B/CMakeCache.txt" ]; then
  cmake -S . -B "$B" -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_C_FLAGS="$FLAGS" \
    -DMCTX_WITH_CUDA=OFF -DMCTX_FUZZ=ON >/dev/null
fi
nice -n "$NICE" cmake --build "$B" -j "${FUZZ_JOBS:-2}" --target $(printf 'fuzz-%s ' "${TARGETS[@]}")

RESULTS="$ROOT/$B/fuzz-results.txt"
status=0
for t in "${TARGETS[@]}"; do
  bin="$ROOT/$B/fuzz/fuzz-$t"
  work="$ROOT/$B/corpus/$t"
  art="$ROOT/$B/artifacts/$t"
  logs="$ROOT/$B/logs/$t"
  mkdir -p "$work" "$art" "$logs"
  rm -f "$logs"/fuzz-*.log
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="$ROOT/fuzz/$t.dict")
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  echo "fuzz: $t for ${SECONDS_EACH}s (load average $load_before)"
  rc=0
  # -jobs=1 -workers=1: libFuzzer runs one fuzzing process and writes its log to fuzz-0.log in the cwd
  (cd "$logs" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     nice -n "$NICE" "$bin" -workers=1 -jobs=1 -max_total_time="$SECONDS_EACH" -timeout=120 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" ${FUZZ_FLAGS:-} \
       "$work" "$ROOT/fuzz/corpus/$t") || rc=$?
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  log="$logs/fuzz-0.log"
  [ -f "$log" ] || { echo "fuzz: $t wrote no log" >&2; status=1; continue; }
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)
  eps=$(awk '/stat::average_exec_per_sec/ {print $NF}' "$log" | tail -1)
  rss=$(awk '/stat::peak_rss_mb/ {print $NF}' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  crashed=no
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz invariant failed|==ERROR' "$log" || [ "$rc" -ne 0 ]; then
    crashed=yes
    status=1
  fi
  line="$started target=$t seconds=$SECONDS_EACH execs=${execs:-?} exec_per_s=${eps:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} peak_rss_mb=${rss:-?} load_before=\"$load_before\" load_after=\"$load_after\" crashed=$crashed rc=$rc"
  echo "$line" | tee -a "$RESULTS"
  if [ "$crashed" = yes ]; then
    echo "fuzz: $t failed; its log: $log; inputs: $art" >&2
    grep -E -A30 'ERROR|runtime error|fuzz invariant failed' "$log" | head -60 >&2 || true
  fi
done
exit $status
