"""tests/service/test_distributed.py: distributed requests through `mctx serve`
(docs/DISTRIBUTED.md): what `distributed_stats` reports, and that the answer
is the search's.

- partition_batch: requested, present and used devices, and the reason when
  fewer are present than asked for; the partition mode; the devices' shares
  cutting the batch (contiguous, sizes differing by at most one, summing to
  the batch); and action, action_weights and the root statistics equal to the
  same request without distribution, for each policy.
- partition_search: the merge strategy reported (the default and each one
  named), the devices' simulation shares summing to num_simulations, and a
  well-formed result (per element: an action among the valid ones, weights
  summing to 1, visit counts summing to num_simulations for sum_visits and
  max_value, which sum the devices' visits).

The service's mesh is its machine's: one CPU device without a GPU, or its
GPUs. The checks hold for any count.

Usage: python3 test_distributed.py BUILD/mctx
"""

import copy
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import ServiceTest  # noqa: E402

B, A, S = 11, 6, 24


def request(search_type, seed=7, **search_params):
    """A batch of B roots with logits of their own (and some invalid actions),
    on the mock model."""
    logits = [[((b * 7 + a * 3) % 11) / 5.0 - 1.0 for a in range(A)] for b in range(B)]
    invalid = [[1 if (a == (b % A) and a != 0) else 0 for a in range(A)] for b in range(B)]
    sp = {"num_simulations": S, "seed": seed}
    sp.update(search_params)
    return {
        "root_input": {"prior_logits": logits, "value": [0.1 * b for b in range(B)], "batch_size": B,
                       "num_actions": A, "invalid_actions": invalid},
        "search_type": search_type,
        "model": "mock",
        "search_params": sp,
    }


class DistributedTest(ServiceTest):
    FLAGS = ("--log-level", "debug")

    def search_ok(self, req):
        r = self.srv.search(req)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json, dict, r)
        return r.json

    def check_devices(self, ds, requested):
        """requested / present / used and the reason; returns used."""
        self.assertEqual(ds["requested_devices"], requested, ds)
        present, used = ds["present_devices"], ds["used_devices"]
        self.assertGreaterEqual(present, 1, ds)
        self.assertEqual(used, min(requested, present), ds)
        self.assertEqual(len(ds["devices"]), used, ds)
        self.assertEqual(ds["processes"], 1, ds)  # the service is not started under mpirun
        if used < requested:
            self.assertIsInstance(ds["reason"], str, ds)
            self.assertIn("%d devices asked for, %d present" % (requested, present), ds["reason"])
        for i, d in enumerate(ds["devices"]):
            self.assertEqual(d["index"], i, ds)
            self.assertEqual(d["status"], "ok", ds)
            self.assertIn(d["kind"], ("cpu", "gpu"), ds)
            self.assertGreaterEqual(d["time_ms"], 0, ds)
        self.assertEqual(ds["failed_devices"], 0, ds)
        self.assertEqual(ds["reassigned_shares"], 0, ds)
        self.assertGreaterEqual(ds["communication_ms"], 0, ds)
        return used

    def check_well_formed(self, j, req):
        inv = req["root_input"]["invalid_actions"]
        self.assertEqual(len(j["action"]), B)
        self.assertEqual(len(j["action_weights"]), B)
        st = j["search_statistics"]
        for k in ("root_value", "root_visit_counts", "root_qvalues"):
            self.assertEqual(len(st[k]), B, k)
        for b in range(B):
            self.assertIn(j["action"][b], range(A))
            self.assertEqual(inv[b][j["action"][b]], 0, (b, j["action"][b]))
            w = j["action_weights"][b]
            self.assertEqual(len(w), A)
            self.assertTrue(all(x >= 0 for x in w), w)
            self.assertAlmostEqual(sum(w), 1.0, places=5)
            self.assertEqual(len(st["root_visit_counts"][b]), A)
            self.assertTrue(all(n >= 0 and n == int(n) for n in st["root_visit_counts"][b]), st["root_visit_counts"][b])

    # ---- partition_batch ----

    def test_partition_batch_stats_and_result(self):
        for search_type in ("muzero", "gumbel_muzero"):
            for asked in (4, 1):
                with self.subTest(search_type=search_type, num_devices=asked):
                    req = request(search_type, distributed=True, num_devices=asked, partition_batch=True)
                    j = self.search_ok(req)
                    ds = j["distributed_stats"]
                    self.assertIsInstance(ds, dict, j)
                    used = self.check_devices(ds, asked)
                    if asked == 1:
                        self.assertEqual(used, 1, ds)
                    self.assertEqual(ds["partition"], "batch", ds)
                    self.assertIsNone(ds["merge_strategy"], ds)
                    # the shares: contiguous, in order, sizes differing by at most one, summing to B
                    begin = 0
                    for d in ds["devices"]:
                        self.assertEqual(d["batch_begin"], begin, ds)
                        self.assertIn(d["batch_size"], (B // used, B // used + 1), ds)
                        self.assertEqual(d["batch_run"], d["batch_size"], ds)
                        self.assertEqual(d["shares_run"], 1, ds)
                        begin += d["batch_size"]
                    self.assertEqual(begin, B, ds)
                    self.assertEqual(sum(d["batch_size"] for d in ds["devices"]), B, ds)
                    self.check_well_formed(j, req)

                    # the same request without distribution: the same answer
                    plain = copy.deepcopy(req)
                    plain["search_params"] = {"num_simulations": S, "seed": 7}
                    k = self.search_ok(plain)
                    self.assertIsNone(k["distributed_stats"])
                    self.assertEqual(j["action"], k["action"])
                    self.assertEqual(j["action_weights"], k["action_weights"])
                    for key in ("root_value", "root_visit_counts", "root_qvalues", "num_expanded_nodes",
                                "max_depth_reached"):
                        self.assertEqual(j["search_statistics"][key], k["search_statistics"][key], key)

    # ---- partition_search ----

    def test_partition_search_merge_and_result(self):
        for merge in (None, "sum_visits", "max_value", "consensus"):
            for search_type in ("muzero", "gumbel_muzero"):
                with self.subTest(merge=merge, search_type=search_type):
                    sp = {"distributed": True, "num_devices": 3, "partition_batch": False, "partition_search": True}
                    if merge:
                        sp["merge_strategy"] = merge
                    req = request(search_type, seed=11, **sp)
                    j = self.search_ok(req)
                    ds = j["distributed_stats"]
                    self.assertIsInstance(ds, dict, j)
                    used = self.check_devices(ds, 3)
                    self.assertEqual(ds["partition"], "search", ds)
                    self.assertEqual(ds["merge_strategy"], merge or "sum_visits", ds)
                    self.assertGreaterEqual(ds["merge_ms"], 0, ds)
                    # each device's share of the simulations: S // D, the first S % D one more
                    sims = [d["simulations"] for d in ds["devices"]]
                    self.assertEqual(sims, [S // used + (1 if i < S % used else 0) for i in range(used)], ds)
                    self.assertEqual(sum(sims), S, ds)
                    for d in ds["devices"]:
                        self.assertEqual(d["simulations_run"], d["simulations"], ds)
                        self.assertNotIn("batch_size", d, ds)
                    self.check_well_formed(j, req)
                    st = j["search_statistics"]
                    self.assertEqual(st["num_simulations"], S)
                    for b in range(B):
                        n = st["root_visit_counts"][b]
                        if (merge or "sum_visits") in ("sum_visits", "max_value"):
                            # visits summed over the devices: every simulation once
                            self.assertEqual(sum(n), S, (merge, b, n))
                        else:
                            self.assertLessEqual(sum(n), S, (merge, b, n))
                        for a in range(A):
                            if n[a] == 0:
                                self.assertEqual(st["root_qvalues"][b][a], 0.0, (merge, b, a))

    def test_partition_search_one_device_strategies_agree(self):
        # With one device (num_devices 1) every merge strategy is that device's
        # own statistics: the answers agree.
        answers = []
        for merge in ("sum_visits", "max_value", "consensus"):
            req = request("gumbel_muzero", seed=5, distributed=True, num_devices=1, partition_batch=False,
                          partition_search=True, merge_strategy=merge)
            j = self.search_ok(req)
            self.assertEqual(j["distributed_stats"]["used_devices"], 1)
            self.assertEqual(j["distributed_stats"]["merge_strategy"], merge)
            st = j["search_statistics"]
            answers.append((j["action"], j["action_weights"], st["root_value"], st["root_visit_counts"],
                            st["root_qvalues"]))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0], answers[2])

    def test_partition_search_has_no_tree(self):
        # the devices' trees are several trees, not one
        req = request("muzero", distributed=True, num_devices=2, partition_batch=False, partition_search=True)
        req["return_tree"] = "arrays"
        r = self.srv.search(req)
        self.assertTrue(400 <= r.status < 500, r)
        self.assertEnvelope(r, r.status, "return_tree")


if __name__ == "__main__":
    svc.main()
