#!/usr/bin/env python3
"""bench/gpu/ncu_counts.py: what one kernel launch executed, from ncu's
per-instruction counters.

    ncu --section SourceCounters --page source --print-source sass --csv \\
        --kernel-name regex:search_kernel --launch-skip 2 --launch-count 1 \\
        mctx bench --engine cuda ... --repeat 1 --warmup 2 > src.csv
    bench/gpu/ncu_counts.py src.csv [--per N] [--show COUNT]

Prints the warp instructions executed in all (and per N, e.g. per
simulation), the stall samples by reason, and the code grouped by how many
times each instruction ran: a block run 131 times in a 64-simulation search
is a piece of the loop run about twice a simulation, so the groups read as
the loop's parts (a selection of the root, one of an interior node, ...).
--show COUNT prints the SASS of the instructions run exactly COUNT times.
Reads the CSV ncu writes (its first lines are the program's own output).
"""
import argparse
import csv
import sys


def rows_of(path):
    try:
        with open(path, newline="") as f:
            lines = f.read().split("\n")
    except OSError as e:
        sys.exit("ncu_counts.py: %s" % e)
    start = next((i for i, l in enumerate(lines) if l.startswith('"Address"')), None)
    if start is None:
        sys.exit("ncu_counts.py: no \"Address\" header in %s (was it written with --csv --page source?)" % path)
    reader = csv.reader(lines[start:])
    header = next(reader)
    col = {h: i for i, h in enumerate(header)}
    for need in ("Address", "Source", "Instructions Executed"):
        if need not in col:
            sys.exit("ncu_counts.py: column %r missing in %s" % (need, path))
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    out = []
    for r in reader:
        if len(r) != len(header):
            continue
        out.append(r)
    return header, col, stalls, out


def number(s):
    try:
        return int(s)
    except ValueError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--per", type=int, default=0, help="also divide the totals by this (simulations)")
    ap.add_argument("--show", type=int, default=None, help="print the SASS run exactly this many times")
    a = ap.parse_args()
    _, col, stalls, rows = rows_of(a.csv)
    total = sum(number(r[col["Instructions Executed"]]) for r in rows)
    print("warp instructions executed: %d" % total + (" (%.1f each of %d)" % (total / a.per, a.per) if a.per else ""))
    samples = sum(number(r[col["Warp Stall Sampling (All Samples)"]]) for r in rows) if "Warp Stall Sampling (All Samples)" in col else 0
    if samples:
        print("stall samples: %d" % samples)
        by = sorted(((sum(number(r[col[s]]) for r in rows), s) for s in stalls), reverse=True)
        for n, s in by:
            if n:
                print("  %-28s %6d  %5.1f%%" % (s, n, 100.0 * n / samples))
    groups = {}
    for r in rows:
        n = number(r[col["Instructions Executed"]])
        if n:
            g = groups.setdefault(n, [0, 0])
            g[0] += 1
            g[1] += n
    print("instructions by times run (times: instructions, warp instructions executed):")
    for n, (k, ex) in sorted(groups.items(), key=lambda x: -x[1][1])[:20]:
        print("  %7d: %6d  %9d" % (n, k, ex))
    if a.show is not None:
        for r in rows:
            if number(r[col["Instructions Executed"]]) == a.show:
                print("%s  %s" % (r[col["Address"]], r[col["Source"]].strip()))


if __name__ == "__main__":
    main()
