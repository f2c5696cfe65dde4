#!/usr/bin/env bash
# bench/dist/gpu-run.sh: the distributed search on a GPU machine, from the
# bundle of bench/dist/gpu-bundle.sh (carried as .device/dist).
#
#   bench/dist/gpu-run.sh [BUNDLE] [OUT_DIR]
#
# Checks (the NCCL suite of tests/dist on every GPU: one process, D = number
# of GPUs; then under mpirun with 2 processes, which share the card on a one-GPU
# machine) and times `mctx bench --distributed --engine cuda`. NVLink
# multicast stays off in everything started here.
set -uo pipefail
BUNDLE=${1:-.device/dist/bundle.tar.xz}
OUT_DIR=${2:-${OUT:-/tmp/mctx-dist-out}}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=/tmp/mctx-dist
mkdir -p "$R" "$OUT_DIR"
tar -C "$R" -xJf "$BUNDLE" || exit 1
nccl=$(find / -name 'libnccl.so.2' -not -path '/proc/*' -not -path "$R/*" 2>/dev/null | head -1)
echo "environment: $(env | grep -E '^(LD_|PMIX|OMPI|SLURM)' | tr '\n' ' ')"
unset LD_BIND_NOW  # Debian's Open MPI PMIx plugin needs lazy binding
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_osc=pt2pt OMPI_MCA_btl_vader_single_copy_mechanism=none
if command -v mpirun >/dev/null && [[ $(mpirun --version 2>&1) == *"Open MPI"* || $(mpirun --version 2>&1) == *OpenRTE* ]]; then
  # The machine's own Open MPI (4.x: the same libmpi.so.40 ABI as the build's).
  mpi_from="the machine's: $(mpirun --version 2>&1 | head -1)"
  MPIRUN_BIN=$(command -v mpirun)
  export LD_LIBRARY_PATH="$R/lib${nccl:+:$(dirname "$nccl")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  # The bundle's Open MPI, at the paths it was built for (only new files are written).
  mpi_from="the bundle's (Debian's Open MPI 4.1)"
  (cd "$R/root" && find . -type d | while read -r d; do mkdir -p "/$d"; done &&
   find . ! -type d | while read -r f; do [ -e "/$f" ] || cp -a "$f" "/$f"; done)
  MPIRUN_BIN=/usr/bin/orterun
  export LD_LIBRARY_PATH="$R/lib:$R/mpilib${nccl:+:$(dirname "$nccl")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
MPIRUN=("$MPIRUN_BIN" --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x NCCL_NVLS_ENABLE
        -x TORCH_SYMM_MEM_DISABLE_MULTICAST -x NVSHMEM_DISABLE_NVLS -x OMPI_MCA_pml -x OMPI_MCA_btl -x OMPI_MCA_osc)
B=$R/bin
status=0
{
  echo "== device"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "NCCL library: ${nccl:-none found}; MPI: $mpi_from"
  ldd "$R/bin/mctx" | grep -E "mpi|nccl|not found"
  echo "== NCCL suite, one process"
  "$B/dist-test-nccl" 2>&1 | tail -40 || status=1
  echo "== NCCL suite, mpirun -np 2"
  "${MPIRUN[@]}" -np 2 "$B/dist-test-nccl" 2>&1 | grep -v '^ok' | tail -40 || status=1
  echo "== distributed search through the command, mpirun -np 2, against one GPU"
  req='{"search_type": "gumbel_muzero", "model": {"name": "synthetic"}, "root_input": {"batch_size": 64, "num_actions": 16}, "search_params": {"num_simulations": 32, "seed": 5}}'
  echo "$req" | "$B/mctx" search --engine cuda --input - >"$OUT_DIR/one.json"
  echo "$req" | "${MPIRUN[@]}" -np 2 "$B/mctx" search --distributed --engine cuda --input - >"$OUT_DIR/two.json"
  python3 -c "import json; a=json.load(open('$OUT_DIR/one.json')); b=json.load(open('$OUT_DIR/two.json')); print('same action and weights:', a['action']==b['action'] and a['action_weights']==b['action_weights']); print('distributed_stats:', json.dumps(b['distributed_stats'])[:600])"
  echo "== the layer's cost on one GPU, in one process"
  "$B/dist-overhead" cuda 4096 64
  "$B/dist-overhead" cuda 16384 64
  for bs in 4096 16384; do
    common=(--engine cuda --batch $bs --actions 64 --simulations 64 --repeat 7)
    echo "== bench, batch $bs: one GPU alone (CUDA engine), then distributed"
    "$B/mctx" bench "${common[@]}"
    "$B/mctx" bench --distributed "${common[@]}"
    "$B/mctx" bench --distributed --nccl off "${common[@]}"
    "$B/mctx" bench --distributed --partition search "${common[@]}"
    "${MPIRUN[@]}" -np 2 "$B/mctx" bench --distributed "${common[@]}"
    "${MPIRUN[@]}" -np 2 "$B/mctx" bench --distributed --partition search --merge consensus "${common[@]}"
  done
} 2>&1 | tee "$OUT_DIR/gpu-run.log"
exit $status
