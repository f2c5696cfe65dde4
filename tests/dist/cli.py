#!/usr/bin/env python3
"""tests/dist/cli.py: `mctx search --distributed` and `mctx bench --distributed`
as users run them: the real command, alone and under a real `mpirun` with real
processes.

    cli.py search MCTX [MPIEXEC]    distributed requests equal one device's result
    cli.py bench  MCTX [MPIEXEC]    the distributed bench runs and reports

Exit 0 when every check passes, 1 on a failure (a distributed request whose
distributed_stats lists no devices did not go through src/dist: a failure)."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODE, MCTX = sys.argv[1], sys.argv[2]
MPIEXEC = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mca_base_component_disable_dlclose="1")
ENV.pop("MCTX_DIST_FAIL_DEVICE", None)
failures = []


def run(args, np=None, stdin=None, expect=0):
    cmd = [MCTX] + args
    if np:
        cmd = [MPIEXEC, "-np", str(np), "--oversubscribe", "--allow-run-as-root", "--mca", "mpi_yield_when_idle", "1",
               "-x", "ASAN_OPTIONS", "-x", "UBSAN_OPTIONS", "-x", "LSAN_OPTIONS",
               "-x", "OMPI_MCA_mca_base_component_disable_dlclose"] + cmd
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=ENV, timeout=240)
    if p.returncode != expect:
        failures.append("%s: exit %d (expected %d)\n%s" % (" ".join(cmd), p.returncode, expect, p.stderr[-3000:]))
        return None
    return p.stdout


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def one_json(out, what):
    lines = [l for l in (out or "").splitlines() if l.strip()]
    if not check(len(lines) == 1, "%s: one line of output expected (rank 0 alone prints), got %d" % (what, len(lines))):
        return None
    return json.loads(lines[0])


def same_result(a, b, what):
    for k in ("action", "action_weights"):
        check(a[k] == b[k], "%s: %s differs from one device" % (what, k))
    for k in ("root_value", "root_visit_counts", "root_qvalues", "num_expanded_nodes", "max_depth_reached"):
        check(a["search_statistics"][k] == b["search_statistics"][k], "%s: %s differs from one device" % (what, k))


def search_mode():
    tmp = tempfile.mkdtemp(prefix="mctx-dist-cli-")
    atexit.register(shutil.rmtree, tmp, True)
    req = {
        "search_type": "gumbel_muzero",
        "model": {"name": "synthetic"},
        "root_input": {"batch_size": 9, "num_actions": 5,
                       "invalid_actions": [[0, b % 2, 0, 0, int(b == 4)] for b in range(9)]},
        "search_params": {"num_simulations": 20, "seed": 7},
    }
    path = os.path.join(tmp, "req.json")
    with open(path, "w") as f:
        json.dump(req, f)
    body = json.dumps(req)
    single = json.loads(run(["search", "--engine", "cpu", "--input", path]))
    alone = run(["search", "--engine", "cpu", "--distributed", "--cpu-devices", "3", "--threads", "1",
                 "--input", path])
    if alone is None:
        return
    alone = one_json(alone, "search --distributed")
    ds = alone.get("distributed_stats") or {}
    if "devices" not in ds:
        print("FAIL: the distributed request did not run through src/dist (distributed_stats is %s)" % json.dumps(ds))
        sys.exit(1)
    same_result(single, alone, "3 CPU devices in one process")
    check(ds["used_devices"] == 3 and ds["transport"] == "local", "one process: %s" % ds)
    if not MPIEXEC:
        return
    # Two processes, the request on rank 0's stdin.
    two = one_json(run(["search", "--engine", "cpu", "--distributed", "--input", "-"], np=2, stdin=body),
                   "mpirun -np 2 search")
    if two:
        same_result(single, two, "mpirun -np 2")
        d = two["distributed_stats"]
        check(d["processes"] == 2 and d["used_devices"] == 2 and d["transport"] == "mpi", "np 2: %s" % d)
        check([x["rank"] for x in d["devices"]] == [0, 1], "np 2: a device per rank: %s" % d["devices"])
    # A device that fails: its share runs on the others, same result.
    three = one_json(run(["search", "--engine", "cpu", "--distributed", "--fail-device", "1", "--input", path], np=3),
                     "mpirun -np 3 search --fail-device 1")
    if three:
        same_result(single, three, "mpirun -np 3 with device 1 failing")
        d = three["distributed_stats"]
        check(d["failed_devices"] == 1 and d["devices"][1]["status"] == "failed", "failure: %s" % d)
    # More devices asked for than present.
    more = one_json(run(["search", "--engine", "cpu", "--distributed", "--num-devices", "5", "--input", path], np=2),
                    "mpirun -np 2 search --num-devices 5")
    if more:
        d = more["distributed_stats"]
        check(d["requested_devices"] == 5 and d["used_devices"] == 2 and "asked for" in (d["reason"] or ""),
              "fewer devices: %s" % d)
        same_result(single, more, "5 asked, 2 present")
    # Root parallelism.
    srch = one_json(run(["search", "--engine", "cpu", "--distributed", "--partition", "search", "--merge", "max_value",
                         "--input", path], np=2), "mpirun -np 2 search --partition search")
    if srch:
        d = srch["distributed_stats"]
        check(d["partition"] == "search" and d["merge_strategy"] == "max_value", "partition_search: %s" % d)
        check(sum(x["simulations"] for x in d["devices"]) == 20, "shares of simulations: %s" % d["devices"])
        check(all(sum(row) == 20 for row in srch["search_statistics"]["root_visit_counts"]),
              "merged visits add up to the simulations")
    # The tree of a distributed partition_batch is the tree of one device.
    t1, t2 = os.path.join(tmp, "t1.json"), os.path.join(tmp, "t2.json")
    run(["search", "--engine", "cpu", "--input", path, "--tree", t1, "--tree-format", "arrays"])
    run(["search", "--engine", "cpu", "--distributed", "--input", path, "--tree", t2, "--tree-format", "arrays"], np=2)
    if os.path.exists(t1) and os.path.exists(t2):
        check(json.load(open(t1)) == json.load(open(t2)), "the tree over 2 processes differs from one device's")
    else:
        failures.append("no tree written")
    # An invalid request fails the same way on every process, printed once.
    bad = run(["search", "--engine", "cpu", "--distributed", "--input", "-"], np=2, expect=2,
              stdin='{"root_input": {"batch_size": 0, "num_actions": 3}}')
    if bad is not None:
        err = one_json(bad, "invalid request under mpirun")
        check(err and err.get("status_code") == 400, "invalid request: %s" % bad)


def bench_mode():
    base = ["bench", "--batch", "48", "--actions", "8", "--simulations", "8", "--repeat", "2", "--warmup", "0", "--json"]
    plain = one_json(run(base), "bench")
    check(plain is not None and "distributed" not in plain, "bench without --distributed is unchanged: %s" % plain)
    run(base + ["--num-devices", "2"], expect=2)  # distributed flags need --distributed
    alone = one_json(run(base + ["--distributed", "--cpu-devices", "2", "--threads", "1"]), "bench --distributed")
    if alone:
        check(alone["distributed"] and alone["processes"] == 1 and alone["devices"] == 2, "bench alone: %s" % alone)
        check(alone["last_distributed_stats"]["transport"] == "local", "bench alone: transport")
    if not MPIEXEC:
        return
    two = one_json(run(base + ["--distributed", "--threads", "1"], np=2), "mpirun -np 2 bench --distributed")
    if two:
        s = two["last_distributed_stats"]
        check(two["processes"] == 2 and two["devices"] == 2 and s["transport"] == "mpi", "bench np 2: %s" % two)
        check([d["batch_size"] for d in s["devices"]] == [24, 24], "bench np 2 shares: %s" % s["devices"])
    failing = one_json(run(base + ["--distributed", "--threads", "1", "--fail-device", "0", "--partition", "search"],
                           np=2), "mpirun -np 2 bench --distributed --fail-device 0")
    if failing:
        s = failing["last_distributed_stats"]
        check(s["failed_devices"] == 1 and s["devices"][1]["simulations_run"] == 8, "bench failure: %s" % s)


if MODE == "search":
    search_mode()
else:
    bench_mode()
if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print("ok: mctx %s --distributed%s" % (MODE, " (with mpirun)" if MPIEXEC else ""))
