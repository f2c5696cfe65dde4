#!/usr/bin/env python3
"""tests/dist/demo.py: examples/distributed_demo as users run it, briefly, on
CPU devices (tiny sizes: a few seconds in all), and its table checked.

    demo.py DISTRIBUTED_DEMO [MPIEXEC]

Runs, with --gpus none:
  - partition_batch over 1, 2 and 3 CPU devices of one process: a row per
    count, the transport `local`, and `same` = yes (the one-device result);
  - partition_search (merge max_value) over 1 and 2 CPU devices of a mesh of
    2, asked for 4 too: the row for 4 says only 2 devices are present;
  - with MPIEXEC, partition_batch under `mpirun -np 2` (a CPU device per
    process): the header says 2 processes, the transport is `mpi`, and only
    rank 0 prints.
Exit 0 when every check passes, 1 on a failure."""
import os
import re
import subprocess
import sys

DEMO = sys.argv[1]
MPIEXEC = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mca_base_component_disable_dlclose="1")
ENV.pop("MCTX_DIST_FAIL_DEVICE", None)
TINY = ["--batch", "48", "--actions", "8", "--simulations", "16", "--repeat", "3", "--gpus", "none"]
COLUMNS = ["devices", "time_ms", "speedup", "efficiency", "comm_ms", "sims/s", "same", "transport"]
NUM = r"[0-9]+(?:\.[0-9]+)?"
# devices, time_ms, speedup, efficiency%, comm_ms, sims/s, same, transport
ROW = re.compile(r"^ *([0-9]+) +(%s) +(%s) +([0-9]+)%% +(%s) +([0-9]+) +(yes|NO|-)  (\S+)$" % (NUM, NUM, NUM))
ABSENT = re.compile(r"^ *([0-9]+) +- +\(only ([0-9]+) devices present\)$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def run(args, np=None):
    cmd = [DEMO] + args
    if np:
        cmd = [MPIEXEC, "-np", str(np), "--oversubscribe", "--allow-run-as-root", "--mca", "mpi_yield_when_idle", "1",
               "-x", "ASAN_OPTIONS", "-x", "UBSAN_OPTIONS", "-x", "LSAN_OPTIONS",
               "-x", "OMPI_MCA_mca_base_component_disable_dlclose"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=240)
    what = " ".join(cmd)
    print("$ %s\n%s" % (what, p.stdout))
    if not check(p.returncode == 0, "%s: exit %d\n%s%s" % (what, p.returncode, p.stdout, p.stderr[-3000:])):
        return None
    return p.stdout


def table(out, what, policy, partition, processes, present, counts):
    """Checks the header and returns {devices: row fields} of the table."""
    lines = out.splitlines()
    if not check(len(lines) >= 4, "%s: a header and a table expected:\n%s" % (what, out)):
        return {}
    check(lines[0].startswith("%s, model synthetic, batch 48, 8 actions, 16 simulations, partition_%s"
                              % (policy, partition)), "%s: first line %r" % (what, lines[0]))
    check(lines[1] == "%d process%s, %d devices present, median of 3 runs"
          % (processes, "" if processes == 1 else "es", present), "%s: second line %r" % (what, lines[1]))
    check(lines[2] == "", "%s: a blank line expected after the header, got %r" % (what, lines[2]))
    check(lines[3].split() == COLUMNS, "%s: column names %r" % (what, lines[3]))
    rows, seen = {}, []
    for line in lines[4:]:
        m, a = ROW.match(line), ABSENT.match(line)
        if m:
            d = int(m.group(1))
            rows[d] = {"time_ms": float(m.group(2)), "speedup": float(m.group(3)), "efficiency": int(m.group(4)),
                       "comm_ms": float(m.group(5)), "sims_s": int(m.group(6)), "same": m.group(7),
                       "transport": m.group(8)}
            seen.append(d)
        elif a:
            d = int(a.group(1))
            rows[d] = {"absent": int(a.group(2))}
            seen.append(d)
        else:
            check(False, "%s: a malformed row %r" % (what, line))
    check(seen == counts, "%s: rows for %s expected, got %s" % (what, counts, seen))
    for d, r in rows.items():
        if "absent" in r:
            check(r["absent"] == present and d > present, "%s: row %d: %r" % (what, d, r))
            continue
        check(d <= present, "%s: %d devices ran but %d are present" % (what, d, present))
        check(r["time_ms"] > 0 and r["sims_s"] > 0 and r["speedup"] > 0, "%s: row %d: %r" % (what, d, r))
    first = rows.get(counts[0], {})
    check(first.get("same") == "-" and first.get("speedup") == 1.0 and first.get("efficiency") == 100,
          "%s: the first row is the baseline: %r" % (what, first))
    return rows


def main():
    out = run(["--devices", "1,2,3"] + TINY)
    if out is not None:
        rows = table(out, "partition_batch", "gumbel_muzero", "batch", 1, 3, [1, 2, 3])
        for d in (2, 3):
            check(rows.get(d, {}).get("same") == "yes", "partition_batch over %d devices is not the one-device "
                  "result: %r" % (d, rows.get(d)))
        for d, r in rows.items():
            check(r.get("transport") == "local", "partition_batch row %d: transport %r" % (d, r.get("transport")))

    out = run(["--devices", "1,2,4", "--cpu-devices", "2", "--partition", "search", "--merge", "max_value",
               "--policy", "muzero"] + TINY)
    if out is not None:
        rows = table(out, "partition_search", "muzero", "search", 1, 2, [1, 2, 4])
        check(", merge max_value" in out.splitlines()[0], "partition_search: the merge is not in the header")
        for d in (1, 2):
            check(rows.get(d, {}).get("same") == "-", "partition_search row %d: %r" % (d, rows.get(d)))

    if MPIEXEC:
        out = run(["--devices", "1,2"] + TINY, np=2)
        if out is not None:
            rows = table(out, "mpirun -np 2", "gumbel_muzero", "batch", 2, 2, [1, 2])
            check(rows.get(2, {}).get("same") == "yes", "mpirun -np 2: %r" % rows.get(2))
            check(rows.get(2, {}).get("transport") == "mpi", "mpirun -np 2: transport %r" % rows.get(2))
    else:
        print("demo.py: no mpiexec given: the run under mpirun is left out")

    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print("distributed_demo: every table well formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
