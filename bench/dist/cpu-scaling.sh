#!/usr/bin/env bash
# bench/dist/cpu-scaling.sh: partition_batch over CPU processes (MPI), the
# figures of docs/BENCHMARKS.md's "Distributed" section.
#
#   bench/dist/cpu-scaling.sh [MCTX]      (default build/mctx)
#
# Times the same search (gumbel_muzero on the synthetic model) four ways:
# the CPU engine on 1 and on 2 threads in one process (no distribution), and
# `mctx bench --distributed` under mpirun with 1 and 2 processes of one
# thread each. Prints the machine, the load before and after, and a markdown
# table (median of REPEAT searches after a warm-up). B, A, S, REPEAT, POLICY
# override the defaults.
set -euo pipefail
MCTX=${1:-build/mctx}
B=${B:-2048} A=${A:-64} S=${S:-64} REPEAT=${REPEAT:-7} POLICY=${POLICY:-gumbel_muzero}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--policy "$POLICY" --batch "$B" --actions "$A" --simulations "$S" --repeat "$REPEAT" --warmup 1 --json)
out=$(mktemp -d)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$MCTX" bench "${common[@]}" --engine cpu --threads 1 >"$out/t1.json"
"$MCTX" bench "${common[@]}" --engine cpu --threads 2 >"$out/t2.json"
mpirun -np 1 --bind-to none "$MCTX" bench --distributed --engine cpu --threads 1 "${common[@]}" >"$out/r1.json"
mpirun -np 2 --bind-to none "$MCTX" bench --distributed --engine cpu --threads 1 "${common[@]}" >"$out/r2.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
rows = [("t1", "one process, CPU engine, 1 thread (not distributed)"),
        ("t2", "one process, CPU engine, 2 threads (not distributed)"),
        ("r1", "`mpirun -np 1`, partition_batch, 1 device of 1 thread"),
        ("r2", "`mpirun -np 2`, partition_batch, 2 devices of 1 thread")]
res = {k: json.load(open(os.path.join(d, k + ".json"))) for k, _ in rows}
r = res["t1"]
print("\n%s, batch %d, %d actions, %d simulations, model %s, median of %d searches\n"
      % (r["policy"], r["batch"], r["actions"], r["simulations"], r["model"], r["repeat"]))
print("| run | median ms | best ms | simulations/s | speedup vs 1 rank | communication ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
base = res["r1"]["median_ms"]
for k, name in rows:
    x = res[k]
    comm = "%.2f" % x["communication_median_ms"] if "communication_median_ms" in x else "-"
    sp = "%.2f" % (base / x["median_ms"]) if k.startswith("r") else "-"
    print("| %s | %.1f | %.1f | %.0f | %s | %s |" % (name, x["median_ms"], x["min_ms"], x["sims_per_s"], sp, comm))
PY
rm -rf "$out"
