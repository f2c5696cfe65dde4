"""tests/service/test_batching.py: dynamic batching over HTTP: concurrent
compatible requests are merged into one search and each gets exactly the
result it gets alone.

One service merges: one worker that waits for as many batch elements as the
test sends (--batch-max) for up to ten minutes, so the merge happens for
certain, not by timing. Another service never merges (--batch-max 1) and
gives the solo results. The results must be equal field by field, except the
request id, the duration and the count of merged requests; that includes
search_statistics.max_depth_reached (each request's own elements' deepest
simulation, not the merged search's) and the history rows' copy of it.

Usage: python3 test_batching.py BUILD/mctx
"""

import json
import random
import sys
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server


def strip_volatile(result):
    r = json.loads(json.dumps(result))
    r.pop("request_id", None)
    st = r["search_statistics"]
    st.pop("duration_ms", None)
    st.pop("batched_with", None)
    return r


def requests_for(search_type, sizes, actions=8, sims=24, seed0=0):
    """Compatible requests (same policy, shape, parameters, model) with
    different roots, seeds and batch sizes."""
    rng = random.Random(1234 + seed0)
    out = []
    for i, b in enumerate(sizes):
        out.append({
            "root_input": {
                "prior_logits": [[round(rng.uniform(-2, 2), 3) for _ in range(actions)] for _ in range(b)],
                "value": [round(rng.uniform(-1, 1), 3) for _ in range(b)],
                "invalid_actions": [[1 if (a == 0 and r % 2) else 0 for a in range(actions)] for r in range(b)],
            },
            "model": "mock",
            "search_type": search_type,
            "search_params": {"num_simulations": sims, "seed": seed0 + 17 * i + 1, "dirichlet_fraction": 0.25},
        })
    return out


class BatchingTest(unittest.TestCase):
    def run_merged(self, reqs):
        total = sum(len(r["root_input"]["value"]) for r in reqs)
        srv = Server("--workers", "1", "--batch-max", total, "--batch-max-delay-us", "600000000")
        try:
            results = [None] * len(reqs)

            def send(i):
                results[i] = srv.search(reqs[i])

            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(reqs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(svc.WAIT_S)
            m = srv.metrics()
            # the history rows keep each request's own depth
            for r in results:
                rid = r.json["request_id"]
                row = srv.wait_until(lambda: (lambda x: x.json if x.status == 200 else None)(
                    srv.get("/api/v1/searches/" + rid)), "the history row of " + rid)
                self.assertEqual(row["max_depth_reached"], r.json["search_statistics"]["max_depth_reached"], rid)
                self.assertEqual(row["num_expanded_nodes"], r.json["search_statistics"]["num_expanded_nodes"], rid)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()
        for r in results:
            self.assertIsNotNone(r)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("X-Batch-Jobs"), str(len(reqs)))
            self.assertEqual(r.json["search_statistics"]["batched_with"], len(reqs) - 1)
        # one search ran, with every element
        self.assertEqual(m['mctx_batch_jobs_bucket{le="+Inf"}'], 1)
        self.assertEqual(m["mctx_batch_size_sum"], total)
        return results

    def run_solo(self, reqs):
        srv = Server("--batch-max", "1")
        try:
            out = []
            for q in reqs:
                r = srv.search(q)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("X-Batch-Jobs"), "1")
                self.assertEqual(r.json["search_statistics"]["batched_with"], 0)
                out.append(r)
            self.assertEqual(srv.stop(), 0)
            return out
        finally:
            srv.close()

    maxDiff = None

    def check(self, reqs):
        merged = self.run_merged(reqs)
        solo = self.run_solo(reqs)
        depths = [s.json["search_statistics"]["max_depth_reached"] for s in solo]
        # the requests reach different depths alone, so the merged search's
        # deepest would be wrong for some of them
        self.assertGreater(len(set(depths)), 1, depths)
        for i, (m, s) in enumerate(zip(merged, solo)):
            self.assertEqual(strip_volatile(m.json), strip_volatile(s.json), "request %d differs" % i)
            self.assertEqual(m.json["search_statistics"]["max_depth_reached"], depths[i], "request %d" % i)
        # the requests really differed from each other
        actions = [json.dumps(s.json["action_weights"]) for s in solo]
        self.assertEqual(len(set(actions)), len(actions))

    def test_gumbel_muzero(self):
        self.check(requests_for("gumbel_muzero", [1, 2, 1, 3]))

    def test_muzero(self):
        self.check(requests_for("muzero", [2, 1, 1], seed0=50))

    def test_batch_dependent_models_run_alone(self):
        # The mlp model's CPU forward pass rounds a row differently with the
        # number of rows (one sgemm over the batch), so its requests are never
        # merged: each runs at once, alone, even on a service that would wait
        # ten minutes to fill a batch.
        reqs = requests_for("gumbel_muzero", [1, 2], actions=8, sims=8, seed0=90)
        for q in reqs:
            q["model"] = {"name": "mlp", "params": {"emb": 8, "hidden": 16, "seed": 3}}
            b = len(q["root_input"]["value"])
            del q["root_input"]["prior_logits"], q["root_input"]["value"]
            q["root_input"].update(batch_size=b, num_actions=8)
        srv = Server("--workers", "1", "--batch-max", 64, "--batch-max-delay-us", "600000000")
        try:
            results = [None] * len(reqs)

            def send(i):
                results[i] = srv.search(reqs[i])

            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(reqs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(svc.WAIT_S)
            for r in results:
                self.assertIsNotNone(r)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("X-Batch-Jobs"), "1")
                self.assertEqual(r.json["search_statistics"]["batched_with"], 0)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()


if __name__ == "__main__":
    svc.main()
