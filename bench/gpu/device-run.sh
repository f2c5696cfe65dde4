#!/usr/bin/env bash
# bench/gpu/device-run.sh: everything one lease of a GPU machine does, in
# one call (device time is scarce): STAGES picks, in this order,
#   check   scripts/gpu-check.sh on the bundle (GPU tests, benchmarks; its
#           own switches pass through: SKIP_SANITIZER, SPARSE_AB, TRACE, ...)
#   noise   tools/mctx_reference.py: mctx's trees with noise on (JAX, CPU and
#           GPU), for tests/data/mctx_noise.json
#   export  tests/long/export_roundtrip.py: PyTorch and flax exports served by
#           the mlp model, and mctx-mlp-weights against JAX
#   profile ncu on the batch-1 searches (stall reasons; the executed SASS by
#           how often it ran, bench/gpu/ncu_counts.py)
#   sanitizer  compute-sanitizer memcheck and racecheck on the parity tests
#
#   STAGES=check,noise,export bench/gpu/device-run.sh BUNDLE OUT_DIR
#
# mctx's source must be in .device/mctx (MCTX_SRC) and shared/bench's
# bench_mctx.py in .device/bench_mctx.py (BENCH_MCTX): carried, never
# committed. NVLink multicast stays off.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=${1:-.device/gpu/bundle.tar.xz}
OUT_DIR=${2:-${OUT:-/tmp/mctx-device-out}}
STAGES=${STAGES:-check}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export MCTX_SRC=${MCTX_SRC:-$PWD/.device/mctx} BENCH_MCTX=${BENCH_MCTX:-$PWD/.device/bench_mctx.py}
mkdir -p "$OUT_DIR"
status=0
B=/tmp/mctx-gpu-bundle
has() { case ",$STAGES," in *",$1,"*) return 0;; esac; return 1; }
if has check; then
  OUT_DIR=$OUT_DIR scripts/gpu-check.sh "$BUNDLE" || status=1
else
  rm -rf "$B" && mkdir -p "$B" && tar -C "$B" -xJf "$BUNDLE" || exit 1
fi
export LD_LIBRARY_PATH="$B/lib:$B/mpilib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if has profile; then
  # Where the batch-1 searches spend their time: warp stall reasons and the
  # source lines of the search kernel (compiled with -lineinfo).
  # PROFILE_CASES (;-separated bench flags) picks other cases.
  echo "== profile (ncu): batch-1 cases"
  IFS=';' read -r -a pcases <<<"${PROFILE_CASES:---policy gumbel_muzero --batch 1 --actions 64 --simulations 64;--policy muzero --batch 1 --actions 362 --simulations 800}"
  for c in "${pcases[@]}"; do
    tag=$(echo "$c" | awk '{print $2 "-" $6 "x" $8}')
    timeout 120 ncu --clock-control none --section WarpStateStats --section SchedulerStats --section LaunchStats \
      --kernel-name regex:search_kernel --launch-skip 2 --launch-count 1 \
      "$B/mctx" bench --engine cuda $c --repeat 1 --warmup 2 >"$OUT_DIR/ncu-$tag.txt" 2>&1
    timeout 150 ncu --clock-control none --section SourceCounters --kernel-name regex:search_kernel --launch-skip 2 \
      --launch-count 1 --page source --print-source sass --csv \
      "$B/mctx" bench --engine cuda $c --repeat 1 --warmup 2 >"$OUT_DIR/ncu-src-$tag.csv" 2>&1
    grep -E "Duration|Warp Cycles Per Issued|Issued Ipc|Stall" "$OUT_DIR/ncu-$tag.txt" | head -12
    # the executed instructions by how often they ran, and the stall samples
    python3 bench/gpu/ncu_counts.py "$OUT_DIR/ncu-src-$tag.csv" | head -24
  done
fi
if has noise; then
  echo "== mctx's trees with noise (tools/mctx_reference.py)"
  PYTHONPATH="$MCTX_SRC" timeout ${NOISE_TIMEOUT:-300} python3 tools/mctx_reference.py >"$OUT_DIR/mctx_noise.json" \
    2>"$OUT_DIR/mctx_noise.log" || { status=1; tail -20 "$OUT_DIR/mctx_noise.log"; }
  ls -la "$OUT_DIR/mctx_noise.json"
fi
if has sanitizer; then
  # compute-sanitizer on the GPU tests' kernels as they run by default (the
  # sparse and local variants where they apply), a few cases each
  echo "== compute-sanitizer"
  for tool in memcheck racecheck; do
    MCTX_PARITY_CASES=${SANITIZER_CASES:-6} timeout ${SANITIZER_TIMEOUT:-150} compute-sanitizer --tool $tool \
      --error-exitcode 99 "$B/tests/cuda-test-parity" reference_configurations random_requests chunked_launches \
      tree_reuse >"$OUT_DIR/sanitizer-$tool.log" 2>&1
    rc=$?
    echo "$tool: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT_DIR/sanitizer-$tool.log" | tail -1)"
    [ $rc -eq 0 ] || status=1
  done
fi
if has export; then
  echo "== exports from PyTorch and flax (tests/long/export_roundtrip.py)"
  PYTHONPATH="$MCTX_SRC${PYTHONPATH:+:$PYTHONPATH}" timeout ${EXPORT_TIMEOUT:-300} python3 tests/long/export_roundtrip.py "$B" "$BENCH_MCTX" 2>&1 |
    tee "$OUT_DIR/export.log" | tail -40 || status=1
fi
exit $status
