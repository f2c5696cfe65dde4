"""tests/service/test_tasks.py: async tasks through every state: a task seen
"running" while its search runs, canceled mid-search (the search stops at
its next simulation and frees the worker, long before it would have ended),
and a task whose search fails at run time ("failed", with the error).

The long search is muzero on the synthetic environment with 362 actions and
10,000 simulations for one element: its line of search goes thousands of
levels deep, so it runs for many seconds on any machine this suite runs on,
and the test only waits on states, never on time.

Usage: python3 test_tasks.py BUILD/mctx
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server, ServiceTest, small_request

LONG = {"root_input": {"batch_size": 1, "num_actions": 362}, "model": "synthetic", "search_type": "muzero",
        "search_params": {"num_simulations": 10000, "seed": 3}}


class TaskStatesTest(ServiceTest):
    FLAGS = ("--workers", "1", "--batch-max", "1")

    def status(self, tid):
        r = self.srv.get("/api/v1/tasks/status/" + tid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_running_task_canceled_mid_search(self):
        before = self.srv.metrics()
        r = self.srv.post("/api/v1/tasks/search/async", LONG)
        self.assertEqual(r.status, 202, r)
        tid = r.json["task_id"]
        st = self.srv.wait_until(lambda: (lambda s: s if s["status"] == "running" else None)(self.status(tid)),
                                 "the task to run")
        self.assertIsNotNone(st["started_at"])
        self.assertNotIn("result", st)
        # running means searching: the worker holds it, nothing is queued
        self.assertEqual(self.srv.metrics()["mctx_searches_running"], 1)
        t0 = time.monotonic()
        r = self.srv.request("DELETE", "/api/v1/tasks/" + tid)
        self.assertEqual(r.status, 200, r)
        final = self.srv.wait_until(
            lambda: (lambda s: s if s["status"] not in ("pending", "running") else None)(self.status(tid)),
            "the canceled task to stop")
        self.assertEqual(final["status"], "canceled", final)
        self.assertIn("error", final)
        self.srv.wait_metric('mctx_search_failures_total{reason="canceled"}',
                             lambda v: v >= before.get('mctx_search_failures_total{reason="canceled"}', 0) + 1)
        self.srv.wait_metric("mctx_searches_running", lambda v: v == 0)
        # the worker is free: a small search answers now
        r = self.srv.search(small_request(seed=5))
        self.assertEqual(r.status, 200, r)
        stopped_after = time.monotonic() - t0
        # for the record: the search stopped at its next simulation
        print("canceled search stopped and the worker answered again after %.3f s" % stopped_after)
        # a canceled search is not recorded as a search
        self.assertEqual(self.srv.get("/api/v1/searches/" + tid).status, 404)


class FailedTaskTest(unittest.TestCase):
    """A search that fails when it runs (the example plugin told to fail in
    its step): the task ends "failed" with the model's error."""

    def setUp(self):
        build = os.path.dirname(os.path.abspath(svc.BINARY))
        plugin = os.path.join(build, "examples", "plugin", "libmctx_nim.so")
        if not os.path.exists(plugin):
            self.skipTest("no example plugin at %s" % plugin)
        self.repo = tempfile.mkdtemp(prefix="mctx-tasks-models-")
        os.makedirs(os.path.join(self.repo, "nim"))
        shutil.copy(plugin, os.path.join(self.repo, "nim", "libmctx_nim.so"))
        with open(os.path.join(self.repo, "nim", "model.json"), "w") as f:
            json.dump({"kind": "plugin", "path": "libmctx_nim.so", "config": {"stones": 9}}, f)
        self.srv = Server("--model-dir", self.repo)

    def tearDown(self):
        try:
            self.assertEqual(self.srv.stop(), 0, "\n".join(self.srv.raw[-40:]))
        finally:
            self.srv.close()
            shutil.rmtree(self.repo, ignore_errors=True)

    def test_failed_task_reports_the_error(self):
        req = {"root_input": {"batch_size": 2, "num_actions": 3}, "model": {"name": "nim", "params": {"fail": "step"}},
               "search_type": "muzero", "search_params": {"num_simulations": 8}}
        r = self.srv.post("/api/v1/tasks/search/async", req)
        self.assertEqual(r.status, 202, r)
        tid = r.json["task_id"]
        final = self.srv.wait_until(
            lambda: (lambda s: s.json if s.json["status"] not in ("pending", "running") else None)(
                self.srv.get("/api/v1/tasks/status/" + tid)),
            "the failing task to end")
        self.assertEqual(final["status"], "failed", final)
        self.assertNotIn("result", final)
        err = final["error"]
        self.assertIn("nim", json.dumps(err))
        # the service serves on
        self.assertEqual(self.srv.search(small_request(seed=1)).status, 200)


if __name__ == "__main__":
    svc.main()
