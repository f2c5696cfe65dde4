#!/usr/bin/env bash
# scripts/gpu-check.sh: the GPU side of mctx-c, on a machine with an NVIDIA GPU.
#
#   scripts/gpu-check.sh [BUILD_DIR | BUNDLE.tar.xz]
#
# Builds (unless BUILD_DIR already holds a build; a bundle of
# bench/gpu/bundle.sh is unpacked instead), runs the GPU tests (parity with
# the CPU engine, for each search kernel: the sparse muzero kernel and, with
# MCTX_CUDA_SPARSE=0, the fused one), runs them again under compute-sanitizer
# (memcheck and racecheck), measures the card's copy bandwidth, and prints
# the benchmark table of docs/BENCHMARKS.md. When DeepMind's mctx is present
# (MCTX_SRC, a checkout of google-deepmind/mctx) and JAX is installed, mctx
# is measured in the same run with shared/bench/bench_mctx.py (BENCH_MCTX)
# and the table gives the ratios (MCTX_ONLY=0,3,... picks bench_mctx.py's
# cases). SKIP_TESTS=1 goes straight to the measurements; SKIP_BENCH=1 stops
# after the tests; SKIP_SANITIZER=1 skips compute-sanitizer; SPARSE_AB=1 also
# times the muzero cases on the fused kernel; LOCAL_AB=1 the batch-1 cases
# with their tree in shared memory (MCTX_CUDA_LOCAL=1); GP_AB=1 runs the
# gumbel_muzero batch-1 cases again without the pick cache
# (MCTX_CUDA_GUMBEL_PICKS=0), with its expansion on one warp
# (MCTX_CUDA_GP_SPLIT=0) and pipelined (MCTX_CUDA_GP_PIPELINE=1); TRACE=1 adds a run of each
# batch-1 case with MCTX_CUDA_TRACE=1 (where its wall time goes). Writes
# everything under OUT_DIR (default BUILD_DIR/out).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
case "$BUILD" in
  *.tar.xz)
    dest=/tmp/mctx-gpu-bundle
    rm -rf "$dest" && mkdir -p "$dest" && tar -C "$dest" -xJf "$BUILD" || exit 1
    export LD_LIBRARY_PATH="$dest/lib:$dest/mpilib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    BUILD=$dest
    ;;
esac
OUT_DIR=${OUT_DIR:-$BUILD/out}
mkdir -p "$OUT_DIR"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

if [ ! -x "$BUILD/mctx" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release ${CMAKE_FLAGS:-} >/dev/null || exit 1
  cmake --build "$BUILD" -j "$(nproc)" || exit 1
fi

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$OUT_DIR/device.txt"

status=0
if [ "${SKIP_TESTS:-0}" != 1 ]; then
echo "== GPU tests"
# "default": the sparse kernel for muzero, and trees in shared memory for
# small batches (MCTX_CUDA_LOCAL=1, off by default); then the sparse kernel
# with trees in device memory (the default), and the fused kernel
# (MCTX_CUDA_SPARSE=0), on fewer random requests
for kernel in default global fused; do
  sp=1 local=1 cases=${PARITY_CASES:-300}
  [ $kernel = global ] && local=0 cases=${OTHER_PARITY_CASES:-$cases}
  [ $kernel = fused ] && sp=0 local=0 cases=${OTHER_PARITY_CASES:-$cases}
  MCTX_CUDA_SPARSE=$sp MCTX_CUDA_LOCAL=$local MCTX_PARITY_CASES=$cases "$BUILD/tests/cuda-test-parity" 2>&1 |
    tee "$OUT_DIR/parity-$kernel.log" | tail -4 || status=1
  grep -q " 0 failed" "$OUT_DIR/parity-$kernel.log" || { echo "parity ($kernel kernel) FAILED"; status=1; }
done
# the gumbel_muzero pick cache with the fewest warps it runs with, two and
# three, and its pipelined form (MCTX_CUDA_GP_PIPELINE=1) with the default
# eight warps, two (no split expansion, one picker) and three (split, one
# picker): with one picker the walks wait on pending choices most often
for pipe in 0 1; do
  for w in 8 2 3; do
    [ $pipe = 0 ] && [ $w = 8 ] && continue # the runs above
    MCTX_CUDA_GP_PIPELINE=$pipe MCTX_CUDA_GUMBEL_PICKS=$w \
      MCTX_PARITY_CASES=${OTHER_PARITY_CASES:-${PARITY_CASES:-300}} "$BUILD/tests/cuda-test-parity" \
      reference_configurations random_requests deep_and_wide tree_reuse chunked_launches 2>&1 |
      tee "$OUT_DIR/parity-picks$w-pipe$pipe.log" | tail -2 || status=1
    grep -q " 0 failed" "$OUT_DIR/parity-picks$w-pipe$pipe.log" ||
      { echo "parity (pick cache, $w warps, pipelined $pipe) FAILED"; status=1; }
  done
done
for t in network callback; do
  [ -x "$BUILD/tests/cuda-test-$t" ] || continue
  "$BUILD/tests/cuda-test-$t" 2>&1 | tee "$OUT_DIR/$t.log" | tail -6 || status=1
  grep -q " 0 failed" "$OUT_DIR/$t.log" || { echo "$t FAILED"; status=1; }
done

if [ "${SKIP_SANITIZER:-0}" != 1 ] && command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer"
  for tool in memcheck racecheck; do
    MCTX_PARITY_CASES=${SANITIZER_CASES:-12} compute-sanitizer --tool $tool --error-exitcode 99 \
      "$BUILD/tests/cuda-test-parity" reference_configurations random_requests chunked_launches tree_reuse \
      >"$OUT_DIR/sanitizer-$tool.log" 2>&1
    rc=$?
    echo "$tool: exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT_DIR/sanitizer-$tool.log" | tail -1)"
    [ $rc -eq 0 ] || status=1
    # the pipelined pick cache, whose warps signal each other through shared memory
    MCTX_CUDA_GP_PIPELINE=1 MCTX_PARITY_CASES=${SANITIZER_CASES:-12} compute-sanitizer --tool $tool \
      --error-exitcode 99 "$BUILD/tests/cuda-test-parity" reference_configurations random_requests deep_and_wide \
      tree_reuse >"$OUT_DIR/sanitizer-$tool-pipelined.log" 2>&1
    rc=$?
    echo "$tool (pipelined pick cache): exit $rc; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' \
      "$OUT_DIR/sanitizer-$tool-pipelined.log" | tail -1)"
    [ $rc -eq 0 ] || status=1
  done
fi
fi

if [ "${SKIP_BENCH:-0}" = 1 ]; then exit $status; fi

if [ "${SKIP_BANDWIDTH:-0}" != 1 ]; then
echo "== the card's copy bandwidth (device to device, bytes read + written)"
python3 - <<'PY' 2>/dev/null | tee "$OUT_DIR/bandwidth.txt" || echo "(no PyTorch: bandwidth not measured)"
import torch
n = 1 << 30
a = torch.empty(n, dtype=torch.uint8, device="cuda"); b = torch.empty_like(a)
for _ in range(3): b.copy_(a)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(20): b.copy_(a)
e.record(); torch.cuda.synchronize()
ms = s.elapsed_time(e) / 20
print("copy_bandwidth_GBps %.1f" % (2 * n / ms / 1e6))
PY
fi

if [ "${SKIP_NCU:-0}" != 1 ] && command -v ncu >/dev/null; then
  echo "== DRAM traffic of one search (ncu), gumbel_muzero B=1024 A=64 S=64"
  ncu --clock-control none --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
    --kernel-name regex:search_kernel --launch-skip 1 --launch-count 1 \
    "$BUILD/mctx" bench --engine cuda --batch 1024 --actions 64 --simulations 64 --repeat 1 \
    >"$OUT_DIR/ncu.txt" 2>&1 || true
  grep -E "dram__bytes|gpu__time_duration" "$OUT_DIR/ncu.txt" || tail -5 "$OUT_DIR/ncu.txt"
fi

echo "== benchmarks (mctx bench --engine cuda, median of ${REPEAT:-20})"
MLP='{"emb": 128, "hidden": 256, "seed": 0}'
CASES=(
  "--policy gumbel_muzero --batch 1 --actions 64 --simulations 64 --model synthetic"
  "--policy gumbel_muzero --batch 1024 --actions 64 --simulations 64 --model synthetic"
  "--policy muzero --batch 1024 --actions 64 --simulations 64 --model synthetic"
  "--policy gumbel_muzero --batch 64 --actions 362 --simulations 800 --model synthetic"
  "--policy muzero --batch 1 --actions 362 --simulations 800 --model synthetic"
  "--policy gumbel_muzero --batch 1024 --actions 64 --simulations 64 --model mlp --precision bf16"
  "--policy gumbel_muzero --batch 1024 --actions 64 --simulations 64 --model mlp --precision fp32"
  "--policy gumbel_muzero --batch 1024 --actions 64 --simulations 64 --model mlp --precision fp16"
  "--policy gumbel_muzero --batch 1024 --actions 64 --simulations 64 --model mlp --precision bf16 --aligned 0"
  "--policy muzero --batch 1 --actions 64 --simulations 64 --model synthetic"
  "--policy gumbel_muzero --batch 256 --actions 64 --simulations 64 --model synthetic"
  "--policy muzero --batch 256 --actions 64 --simulations 64 --model synthetic"
  "--policy gumbel_muzero --batch 4096 --actions 64 --simulations 64 --model synthetic"
  "--policy muzero --batch 1024 --actions 64 --simulations 200 --model synthetic"
  "--policy gumbel_muzero --batch 1024 --actions 362 --simulations 128 --model synthetic"
  "--policy gumbel_muzero --batch 1 --actions 362 --simulations 800 --model synthetic"
  "--policy muzero --batch 64 --actions 362 --simulations 800 --model synthetic"
)
: >"$OUT_DIR/bench.jsonl"
for c in "${CASES[@]}"; do
  extra=()
  case "$c" in *"--model mlp"*) extra=(--model-params "$MLP");; esac
  "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json | tee -a "$OUT_DIR/bench.jsonl"
  case "$c" in
    *"--policy muzero"*)
      if [ "${SPARSE_AB:-0}" = 1 ]; then
        MCTX_CUDA_SPARSE=0 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json |
          sed 's/^{/{"kernel": "fused", /' | tee -a "$OUT_DIR/bench.jsonl"
      fi;;
  esac
  case "$c" in
    *"--batch 1 "*"--actions 64 "*|*"--batch 1 "*"--actions 16 "*)
      if [ "${LOCAL_AB:-0}" = 1 ]; then
        MCTX_CUDA_LOCAL=1 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json |
          sed 's/^{/{"kernel": "shared-memory tree", /' | tee -a "$OUT_DIR/bench.jsonl"
      fi;;
  esac
  case "$c" in
    *"gumbel_muzero --batch 1 "*)
      if [ "${GP_AB:-0}" = 1 ]; then
        MCTX_CUDA_GUMBEL_PICKS=0 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json |
          sed 's/^{/{"kernel": "no pick cache", /' | tee -a "$OUT_DIR/bench.jsonl"
        MCTX_CUDA_GP_SPLIT=0 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json |
          sed 's/^{/{"kernel": "pick cache, expansion on one warp", /' | tee -a "$OUT_DIR/bench.jsonl"
        MCTX_CUDA_GP_PIPELINE=1 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat "${REPEAT:-20}" --json |
          sed 's/^{/{"kernel": "pick cache, pipelined", /' | tee -a "$OUT_DIR/bench.jsonl"
        if [ "${TRACE:-0}" = 1 ]; then
          MCTX_CUDA_GP_PIPELINE=1 MCTX_CUDA_TRACE=1 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat 5 \
            --json 2>&1 >/dev/null | tail -2 | sed 's/^/pipelined pick cache: /' | tee -a "$OUT_DIR/trace.txt"
        fi
        if [ "${TRACE:-0}" = 1 ]; then
          MCTX_CUDA_GUMBEL_PICKS=0 MCTX_CUDA_TRACE=1 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat 5 \
            --json 2>&1 >/dev/null | tail -2 | sed 's/^/no pick cache: /' | tee -a "$OUT_DIR/trace.txt"
        fi
      fi;;
  esac
  case "$c" in
    *"--batch 1 "*)
      if [ "${TRACE:-0}" = 1 ]; then
        MCTX_CUDA_TRACE=1 "$BUILD/mctx" bench --engine cuda $c "${extra[@]}" --repeat 5 --json 2>&1 >/dev/null |
          tail -2 | tee -a "$OUT_DIR/trace.txt"
      fi;;
  esac
done

if [ -n "${MCTX_SRC:-}" ] && [ -f "${BENCH_MCTX:-}" ]; then
  echo "== mctx on the same GPU (bench_mctx.py)"
  PYTHONPATH="$MCTX_SRC:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 timeout ${MCTX_TIMEOUT:-420} \
    python3 "$BENCH_MCTX" ${MCTX_ONLY:+--only $MCTX_ONLY} >"$OUT_DIR/mctx.json" 2>"$OUT_DIR/mctx.log"
  echo "bench_mctx.py exit $?"
fi

python3 - "$OUT_DIR" <<'PY'
import json, os, sys
out = sys.argv[1]
ours = [json.loads(l) for l in open(os.path.join(out, "bench.jsonl")) if l.strip()]
mctx = {}
# bench_mctx.py prints each case as one JSON line on stderr as it finishes
# (its whole report goes to stdout only at the end), so a run cut short by
# the time limit still gives the cases it finished.
p = os.path.join(out, "mctx.log")
if os.path.exists(p):
    for line in open(p):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            c = json.loads(line)
        except ValueError:
            continue
        if "median_ms" in c:
            key = (c["policy"], c["batch"], c["num_actions"], c["num_simulations"],
                   c["model"] if c["model"] == "synthetic" else "mlp-" + c["dtype"])
            mctx[key] = c["median_ms"]
print("| policy | batch | actions | sims | model | mctx-c (ms) | sims/s | mctx (ms) | speedup |")
print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
for r in ours:
    model = r["model"] if r["model"] == "synthetic" else "mlp-" + {"fp32": "float32", "bf16": "bfloat16"}.get(r.get("precision", ""), r.get("precision", ""))
    key = (r["policy"], r["batch"], r["actions"], r["simulations"], model)
    m = mctx.get(key)
    print("| %s | %d | %d | %d | %s | %.3f | %.3g | %s | %s |" % (
        r["policy"], r["batch"], r["actions"], r["simulations"],
        r["model"] + ("" if r["model"] == "synthetic" else " " + r.get("precision", "") + ("" if r.get("aligned", 1) else " unaligned"))
        + (" (%s)" % ("fused kernel" if r["kernel"] == "fused" else r["kernel"]) if r.get("kernel") else ""),
        r["median_ms"], r["sims_per_s"],
        "%.2f" % m if m else "-", "%.1fx" % (m / r["median_ms"]) if m else "-"))
PY
exit $status
