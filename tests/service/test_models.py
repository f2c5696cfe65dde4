"""tests/service/test_models.py: the model repository in `mctx serve`
(--model-dir / MCTX_MODEL_DIR): GET /api/v1/models lists the repository's
models and the built-in ones; requests name repository models; POST
/api/v1/models/reload (admin) and SIGHUP read the directory again, a broken
model.json is refused whole (409 naming the folder) and the current set
stays; reloads while searches run fail none of them. And the service on a
machine without a GPU: it starts, searches (device_type "gpu" falls back to
the CPU and says so), and /metrics carries no GPU memory gauges.

The repository is built by the test: folders with a model.json of kind
"builtin" (see tests/models/test-repository.c and docs/MODELS.md). And a
repository with an mlp network declared bf16 and a connect-four game: a
request that gives no precision runs in the model's (reported in
search_statistics and recorded in the history), a request's own wins; a
full column gets no visits and is never chosen (muzero, gumbel_muzero).

Usage: python3 test_models.py BUILD/mctx
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server, small_request  # noqa: E402

ADMIN = "admin-key-0123456789"
USER = "user-key-01234567890"


def put(root, name, text):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "model.json.tmp")
    with open(tmp, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text))
    os.rename(tmp, os.path.join(d, "model.json"))  # atomically, as docs/MODELS.md asks


class ModelRepoTest(unittest.TestCase):
    def setUp(self):
        self.repo = tempfile.mkdtemp(prefix="mctx-models-")
        put(self.repo, "house-mock", {"kind": "builtin", "model": "mock", "description": "the house's mock model"})
        put(self.repo, "house-synthetic", {"kind": "builtin", "model": "synthetic", "params": {}})
        self.srv = Server("--model-dir", self.repo, env={"MCTX_API_KEYS": "%s:admin:ops,%s:user:alice" % (ADMIN, USER)})

    def tearDown(self):
        try:
            self.assertEqual(self.srv.stop(), 0, self.srv.log_text()[-3000:])
        finally:
            self.srv.close()
            shutil.rmtree(self.repo, ignore_errors=True)

    def models(self):
        r = self.srv.get("/api/v1/models", headers={"X-API-Key": USER})
        self.assertEqual(r.status, 200, r)
        return r.json

    def reload(self, key=ADMIN):
        return self.srv.post("/api/v1/models/reload", headers={"X-API-Key": key})

    def search(self, model, seed=0, actions=16):
        return self.srv.search(small_request(seed=seed, model=model, actions=actions), headers={"X-API-Key": USER})

    def test_list_search_reload(self):
        self.assertEqual(self.srv.wait_log(lambda l: l.get("msg") == "ready")["models"], 2)
        doc = self.models()
        self.assertEqual(os.path.realpath(doc["dir"]), os.path.realpath(self.repo))
        self.assertEqual(doc["generation"], 1)
        by_name = {m["name"]: m for m in doc["models"]}
        self.assertEqual(by_name["house-mock"]["source"], "repository")
        self.assertEqual(by_name["house-mock"]["description"], "the house's mock model")
        self.assertEqual(by_name["mock"]["source"], "builtin")
        self.assertEqual(self.srv.get("/api/v1/models").status, 401)
        # a request names a repository model
        r = self.search("house-mock", seed=3)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["search_statistics"]["model"], "house-mock")
        self.assertEqual(self.search("house-synthetic").status, 200)
        self.assertEqual(self.search("house-new").status, 400)
        # a new folder, then a reload by the admin route (a user may not)
        put(self.repo, "house-new", {"kind": "builtin", "model": "mock"})
        self.assertEqual(self.reload(USER).status, 403)
        r = self.reload()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["generation"], 2)
        self.assertIn("house-new", {m["name"] for m in r.json["models"]})
        self.assertEqual(self.search("house-new").status, 200)
        # SIGHUP reloads too
        put(self.repo, "house-hup", {"kind": "builtin", "model": "mock"})
        self.srv.proc.send_signal(signal.SIGHUP)
        line = self.srv.wait_log(lambda l: l.get("msg") == "models reloaded" and l.get("trigger") == "SIGHUP")
        self.assertEqual(line["generation"], 3)
        self.assertEqual(self.search("house-hup").status, 200)

    def test_broken_model_keeps_the_current_set(self):
        put(self.repo, "house-broken", '{"kind": "builtin", "model": "no-such-model"}')
        r = self.reload()
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.json["status_code"], 409)
        self.assertIn("house-broken", r.json["message"])
        self.assertEqual(self.models()["generation"], 1)
        self.assertEqual(self.search("house-mock").status, 200)
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_log(lambda l: l.get("msg", "").startswith("models not reloaded") and l.get("trigger") == "SIGHUP")
        shutil.rmtree(os.path.join(self.repo, "house-broken"))
        self.assertEqual(self.reload().status, 200)

    def test_reloads_fail_no_search_in_flight(self):
        stop = threading.Event()
        results = []
        lock = threading.Lock()

        def client(k):
            i = 0
            while not stop.is_set():
                r = self.search("house-mock", seed=k * 100000 + i)
                with lock:
                    results.append(r.status)
                i += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            for n in range(12):
                # alternate the admin route and SIGHUP; each makes a new generation
                if n % 2 == 0:
                    self.assertEqual(self.reload().status, 200)
                else:
                    self.srv.proc.send_signal(signal.SIGHUP)
                    self.srv.wait_log(lambda l, g=n + 2: l.get("msg") == "models reloaded" and l.get("generation") == g)
        finally:
            stop.set()
            for t in threads:
                t.join(svc.WAIT_S)
        self.assertEqual(self.models()["generation"], 13)
        self.assertTrue(results)
        self.assertEqual(set(results), {200}, [s for s in results if s != 200][:5])


class DeclaredPrecisionAndGamesTest(unittest.TestCase):
    """model.json's precision as the requests' default; game models' illegal
    root moves masked without invalid_actions."""

    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="mctx-models-prec-")
        tool = os.path.join(os.path.dirname(os.path.abspath(svc.BINARY)), "mctx-mlp-weights")
        os.makedirs(os.path.join(cls.repo, "net-bf16"))
        __import__("subprocess").run([tool, "--out", os.path.join(cls.repo, "net-bf16", "w.safetensors"), "--emb", "8",
                                      "--hidden", "16", "--actions", "4", "--seed", "1"],
                                     check=True, capture_output=True, timeout=svc.WAIT_S)
        put(cls.repo, "net-bf16", {"kind": "mlp", "weights": "w.safetensors", "num_actions": 4, "precision": "bf16",
                                   "engines": ["cpu", "cuda"]})
        put(cls.repo, "c4", {"kind": "game", "game": "connect4", "params": {"rollouts": 4}})
        cls.srv = Server("--model-dir", cls.repo)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.srv.stop()
            if rc != 0:
                raise AssertionError("the service exited with %s; log tail:\n%s" % (rc, "\n".join(cls.srv.raw[-60:])))
        finally:
            cls.srv.close()
            shutil.rmtree(cls.repo, ignore_errors=True)

    def search(self, req, rid=None):
        r = self.srv.search(req, headers={"X-Request-ID": rid} if rid else None)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_declared_precision_is_the_default(self):
        listing = {m["name"]: m for m in self.srv.get("/api/v1/models").json["models"]}
        self.assertEqual(listing["net-bf16"]["precision"], "bf16")
        cases = [({}, "bf16"), ({"precision": "fp32"}, "fp32"), ({"precision": "fp16"}, "fp16"),
                 ({"precision": "bf16"}, "bf16")]
        for i, (extra, want) in enumerate(cases):
            rid = "prec-%d-%d" % (os.getpid(), i)
            req = small_request(seed=i, model="net-bf16", actions=4, sims=8, device_type="gpu")
            req["search_params"].update(extra)
            stats = self.search(req, rid)["search_statistics"]
            self.assertEqual(stats["precision"], want, (extra, stats))
            if stats["device"] == "gpu":
                # what the network ran in on the GPU
                self.assertEqual(stats["gpu"]["network_precision"], want, stats["gpu"])
            else:
                # the CPU computes in fp32 and reports the precision chosen
                self.assertTrue(stats["fallback_reason"])
            row = self.srv.wait_until(lambda: (lambda x: x.json if x.status == 200 else None)(
                self.srv.get("/api/v1/searches/" + rid)), "history row " + rid)
            self.assertEqual(row["config"]["precision"], want, row["config"])
        # use_t4_optimizations without a precision keeps its own rule (fp32 asked)
        req = small_request(model="net-bf16", actions=4, sims=8)
        req["search_params"]["use_t4_optimizations"] = True
        self.assertEqual(self.search(req)["search_statistics"]["precision"], "fp32")

    def test_full_column_is_never_searched(self):
        # column 4 (action 3) of "444444" is full; "4444441111117": columns 1 and 4
        positions = ["444444", "4444441111117"]
        full = [{3}, {0, 3}]
        for model in ({"name": "c4", "params": {"position": positions}},
                      {"name": "connect4", "params": {"position": positions, "rollouts": 4}}):
            for policy in ("muzero", "gumbel_muzero"):
                for seed in range(3):
                    req = {"search_type": policy, "model": model,
                           "root_input": {"batch_size": 2, "num_actions": 7},
                           "search_params": {"num_simulations": 64, "seed": seed}, "return_tree": "arrays"}
                    res = self.search(req)
                    visits = res["search_statistics"]["root_visit_counts"]
                    for b in range(2):
                        for a in full[b]:
                            self.assertEqual(visits[b][a], 0, (model["name"], policy, seed, visits))
                            self.assertEqual(res["action_weights"][b][a], 0.0, res["action_weights"])
                            self.assertEqual(res["search_tree"]["root_invalid_actions"][b][a], 1)
                        self.assertNotIn(res["action"][b], full[b], (model["name"], policy, seed, res["action"]))
                        self.assertEqual(sum(visits[b]), 64)
        # a request's own invalid_actions are added; leaving no legal move is refused
        req = {"model": {"name": "c4", "params": {"position": "444444"}},
               "root_input": {"batch_size": 1, "num_actions": 7, "invalid_actions": [[1, 1, 1, 0, 1, 1, 1]]}}
        r = self.srv.search(req)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["details"]["field"], "root_input.invalid_actions[0]", r.json)


class NoRepoNoGpuTest(svc.ServiceTest):
    def test_without_model_dir(self):
        doc = self.srv.get("/api/v1/models").json
        self.assertIsNone(doc["dir"])
        self.assertIn("mock", {m["name"] for m in doc["models"]})
        self.assertEnvelope(self.srv.post("/api/v1/models/reload"), 400, "model_dir")

    def test_bad_model_dir_fails_the_start(self):
        p = __import__("subprocess").run([svc.BINARY, "serve", "--port", "0", "--model-dir", "/nonexistent/models",
                                          "--data-dir", tempfile.gettempdir() + "/mctx-models-bad"],
                                         capture_output=True, text=True, timeout=svc.WAIT_S,
                                         env={k: v for k, v in os.environ.items() if not k.startswith("MCTX_")})
        shutil.rmtree(tempfile.gettempdir() + "/mctx-models-bad", ignore_errors=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("model_dir", p.stderr)

    def test_gpu_metrics_only_with_a_gpu(self):
        health = self.srv.get("/api/v1/mcts/health").json
        r = self.srv.search(small_request(seed=5, device_type="gpu"))
        self.assertEqual(r.status, 200, r)
        text = self.srv.get("/metrics").text
        gauges = [l for l in text.splitlines() if l.startswith("mctx_gpu_")]
        if health["gpu_available"]:
            self.assertEqual(r.json["search_statistics"]["device"], "gpu")
            names = {l.split()[0] for l in gauges}
            self.assertIn("mctx_gpu_memory_total_bytes", names)
            self.assertIn("mctx_gpu_engine_peak_memory_bytes", names)
        else:
            self.assertEqual(r.json["search_statistics"]["device"], "cpu")
            self.assertTrue(r.json["search_statistics"]["fallback_reason"])
            self.assertEqual(gauges, [])
            self.assertIn('gpu="no"', text)


if __name__ == "__main__":
    svc.main()
