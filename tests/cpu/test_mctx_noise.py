"""tests/cpu/test_mctx_noise.py: searches with every noise on, against the
trees DeepMind's mctx made for the same requests (tests/data/mctx_noise.json,
written by tools/mctx_reference.py on JAX): Dirichlet noise (muzero,
stochastic_muzero), Gumbel noise (gumbel_muzero), the tie-break noise, the
final categorical draw, with invalid actions, temperature and max_depth, in
both of JAX's PRNG modes. mctx's own test trees (shared/reference) have the
noise off; these show that mctx-c draws every random number where mctx does.

Integers (visits, indices, parents, actions) must be equal; floats within
1e-5. mctx ran on the CPU and, where JAX saw one, on a GPU: XLA's exp and log
differ between the two in the last bits, so a case passes when it matches
mctx on either (the test prints which).

Usage: python3 test_mctx_noise.py BUILD/mctx
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

BINARY = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MCTX_BINARY", "build/mctx")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mctx_noise.json")
INT_FIELDS = ("node_visits", "parents", "action_from_parent", "children_index", "children_visits")
FLOAT_FIELDS = ("raw_values", "node_values", "children_prior_logits", "children_rewards", "children_discounts",
                "children_values")


def flat(x):
    if isinstance(x, list):
        for y in x:
            yield from flat(y)
    else:
        yield x


def close(a, b, tol=1e-5):
    if a is None or b is None:
        return a == b
    if a != a and b != b:
        return True
    # JSON has no infinity: mctx-c writes -inf (the padding logits of chance
    # nodes) as -3.4028235e38, the float32 lowest; mctx's -inf is the same value
    if a < -3.4e38 and b < -3.4e38:
        return True
    if a in (float("inf"), float("-inf")) or b in (float("inf"), float("-inf")):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def compare(ours, theirs):
    """None when equal, else the first difference."""
    if ours["action"] != theirs["action"]:
        return "action %s != mctx %s" % (ours["action"], theirs["action"])
    for i, (a, b) in enumerate(zip(flat(ours["action_weights"]), flat(theirs["action_weights"]))):
        if not close(a, b):
            return "action_weights[%d] %r != mctx %r" % (i, a, b)
    t, m = ours["tree"], theirs["tree"]
    for f in INT_FIELDS:
        a, b = list(flat(t[f])), list(flat(m[f]))
        if a != b:
            i = next(k for k in range(min(len(a), len(b))) if a[k] != b[k]) if len(a) == len(b) else -1
            return "%s differs at flat index %d (%s != mctx %s)" % (f, i, a[i] if i >= 0 else len(a),
                                                                     b[i] if i >= 0 else len(b))
    visits = list(flat(t["node_visits"]))
    for f in FLOAT_FIELDS:
        a, b = list(flat(t[f])), list(flat(m[f]))
        if len(a) != len(b):
            return "%s has %d values, mctx %d" % (f, len(a), len(b))
        per_node = len(a) // len(visits)
        for i, (x, y) in enumerate(zip(a, b)):
            if visits[i // per_node] == 0:
                continue  # unused node slots: mctx leaves zeros, ours may differ
            if not close(x, y):
                return "%s[%d] %r != mctx %r" % (f, i, x, y)
    return None


class MctxNoiseTest(unittest.TestCase):
    def test_trees_with_noise_match_mctx(self):
        if not os.path.exists(DATA):
            self.skipTest("no %s" % DATA)
        with open(DATA) as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 10)
        failures = []
        with tempfile.TemporaryDirectory() as tmp:
            for case in cases:
                req = os.path.join(tmp, "req.json")
                tree = os.path.join(tmp, "tree.json")
                with open(req, "w") as f:
                    json.dump(case["request"], f)
                p = subprocess.run([BINARY, "search", "--engine", "cpu", "--input", req, "--tree", tree,
                                    "--tree-format", "arrays"], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, (case["name"], p.stdout[:500], p.stderr[:500]))
                res = json.loads(p.stdout)
                with open(tree) as f:
                    ours = {"action": res["action"], "action_weights": res["action_weights"], "tree": json.load(f)}
                diffs = {plat: compare(ours, m) for plat, m in case["mctx"].items()}
                matched = [plat for plat, d in diffs.items() if d is None]
                print("%-60s %s" % (case["name"], "matches mctx on " + ", ".join(matched) if matched else
                                    "DIFFERS: " + "; ".join("%s: %s" % kv for kv in diffs.items())))
                if not matched:
                    failures.append(case["name"])
        self.assertEqual(failures, [])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
