"""tests/service/test_routes.py: every route of `mctx serve`, its answers and
its errors, against the real binary (no API keys: the service is open).

Usage: python3 test_routes.py BUILD/mctx
"""

import json
import re
import sys
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import ServiceTest, small_request

MAX_BODY = 65536


def strip_volatile(result):
    """A result without what differs between two runs of the same search."""
    r = json.loads(json.dumps(result))
    r.pop("request_id", None)
    st = r.get("search_statistics", {})
    st.pop("duration_ms", None)
    st.pop("batched_with", None)
    if isinstance(r.get("distributed_stats"), dict):
        r["distributed_stats"].pop("duration_ms", None)
    return r


def today():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class RoutesTest(ServiceTest):
    FLAGS = ("--max-body-bytes", MAX_BODY, "--log-level", "debug")

    # ---- health ----

    def test_health_live_ready(self):
        r = self.srv.get("/health/live")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"status": "alive"})
        r = self.srv.get("/health/ready")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ready")
        self.assertEqual(r.json["database"]["backend"], "sqlite")
        r = self.srv.request("HEAD", "/health/live")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_health_notes_route(self):
        r = self.srv.get("/api/v1/mcts/health")
        self.assertEqual(r.status, 200, r)
        for k in ("status", "version", "uptime_s", "gpu_available", "engines", "queue", "database", "in_flight"):
            self.assertIn(k, r.json)
        self.assertEqual(r.json["status"], "healthy")
        self.assertEqual(r.json["auth"], "off")

    def test_open_mode_is_announced(self):
        line = self.srv.wait_log(lambda l: l.get("level") == "warn" and "AUTHENTICATION IS OFF" in l.get("msg", ""))
        self.assertIn("MCTX_API_KEYS", line["msg"])

    # ---- search ----

    def test_search_small(self):
        r = self.srv.search(small_request(seed=3))
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertEqual(j["request_id"], r.header("X-Request-ID"))
        self.assertEqual(len(j["action"]), 1)
        self.assertEqual(len(j["action_weights"]), 1)
        self.assertEqual(len(j["action_weights"][0]), 16)
        self.assertAlmostEqual(sum(j["action_weights"][0]), 1.0, places=4)
        st = j["search_statistics"]
        for k in ("duration_ms", "num_expanded_nodes", "max_depth_reached", "search_type", "optimized", "precision",
                  "device", "seed", "root_value", "root_visit_counts", "root_qvalues"):
            self.assertIn(k, st)
        self.assertEqual(st["search_type"], "gumbel_muzero")
        self.assertEqual(st["seed"], 3)
        self.assertIsNone(j["distributed_stats"])
        self.assertIn("queue;dur=", r.header("Server-Timing"))
        self.assertEqual(r.header("X-Batch-Jobs"), "1")
        self.assertEqual(r.header("Content-Type"), "application/json")

    def test_request_id_passthrough(self):
        r = self.srv.search(small_request(), headers={"X-Request-ID": "client-id.42"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["request_id"], "client-id.42")
        self.assertEqual(r.header("X-Request-ID"), "client-id.42")
        # an unusable id is replaced
        r = self.srv.get("/health/live", headers={"X-Request-ID": "bad id with spaces"})
        self.assertNotEqual(r.header("X-Request-ID"), "bad id with spaces")

    def test_product_notes_gumbel_t4(self):
        req = {
            "root_input": {"prior_logits": [[0.1 * i for i in range(16)]], "value": [0.5], "batch_size": 1,
                           "num_actions": 16},
            "search_params": {"num_simulations": 64, "max_num_considered_actions": 16,
                              "use_t4_optimizations": True, "precision": "fp16", "tensor_core_aligned": True},
            "search_type": "gumbel_muzero",
            "device_type": "gpu",
            "model": "mock",
        }
        r = self.srv.search(req)
        self.assertEqual(r.status, 200, r)
        j = r.json
        for k in ("action", "action_weights", "search_statistics", "distributed_stats", "request_id"):
            self.assertIn(k, j)
        st = j["search_statistics"]
        self.assertTrue(st["optimized"])
        self.assertEqual(st["precision"], "fp16")
        self.assertTrue(st["tensor_core_aligned"])
        self.assertIn(st["device"], ("cpu", "gpu"))
        if st["device"] == "cpu":
            self.assertIsInstance(st["fallback_reason"], str)
            self.assertTrue(st["fallback_reason"])

    def test_product_notes_distributed(self):
        req = {
            "root_input": {"prior_logits": [[0.0] * 16 for _ in range(8)], "value": [0.0] * 8, "batch_size": 8,
                           "num_actions": 16},
            "search_params": {"num_simulations": 32, "distributed": True, "num_devices": 4, "partition_batch": True},
            "search_type": "muzero",
            "model": "mock",
        }
        r = self.srv.search(req)
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertEqual(len(j["action"]), 8)
        self.assertIsInstance(j["distributed_stats"], dict)
        self.assertEqual(j["distributed_stats"]["requested_devices"], 4)

    def test_return_tree(self):
        r = self.srv.search(small_request(sims=8, return_tree="arrays"))
        self.assertEqual(r.status, 200, r)
        tree = r.json["search_tree"]
        for k in ("node_visits", "parents", "children_index", "children_visits"):
            self.assertIn(k, tree)
        r = self.srv.search(small_request(sims=8, return_tree="nested"))
        self.assertEqual(r.status, 200, r)
        self.assertIn("search_tree", r.json)

    def test_every_search_type(self):
        for st in ("muzero", "gumbel_muzero"):
            req = small_request(model="mock")
            req["search_type"] = st
            r = self.srv.search(req)
            self.assertEqual(r.status, 200, (st, r))
            self.assertEqual(r.json["search_statistics"]["search_type"], st)

    # ---- bad input ----

    def test_malformed_json(self):
        r = self.srv.post("/api/v1/mcts/search", '{"root_input": ', headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 400)
        self.assertIn("JSON", r.json["message"])

    def test_empty_body(self):
        r = self.srv.post("/api/v1/mcts/search", b"", headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 400)

    def test_not_an_object(self):
        r = self.srv.post("/api/v1/mcts/search", "[1, 2]", headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 400)

    def test_wrong_type(self):
        r = self.srv.search({"root_input": {"batch_size": "one", "num_actions": 16}})
        self.assertEnvelope(r, 400, "root_input.batch_size")
        r = self.srv.search({"root_input": {"batch_size": 1, "num_actions": 16},
                             "search_params": {"num_simulations": [3]}})
        self.assertEnvelope(r, 400, "search_params.num_simulations")

    def test_missing_field(self):
        r = self.srv.search({"search_params": {"num_simulations": 8}})
        self.assertEnvelope(r, 400, "root_input")

    def test_out_of_range(self):
        r = self.srv.search(small_request(sims=0))
        self.assertEnvelope(r, 400, "search_params.num_simulations")

    def test_unknown_field(self):
        req = small_request()
        req["serach_params"] = {}
        r = self.srv.search(req)
        self.assertEnvelope(r, 400)

    def test_shape_mismatch(self):
        r = self.srv.search({"root_input": {"prior_logits": [[0.0] * 4, [0.0] * 5], "value": [0, 0]}, "model": "mock"})
        self.assertEnvelope(r, 400)
        self.assertEqual(r.json["details"]["field"], "root_input.prior_logits[1]")

    def test_deep_nesting(self):
        body = '{"root_input": ' + "[" * 5000 + "]" * 5000 + "}"
        r = self.srv.post("/api/v1/mcts/search", body, headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 400)
        self.assertIn("nested", r.json["message"])

    def test_invalid_utf8(self):
        r = self.srv.post("/api/v1/mcts/search", b'{"model": "\xff\xfe"}', headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 400)

    def test_body_over_cap_content_length(self):
        body = b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
        r = self.srv.post("/api/v1/mcts/search", body, headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 413, "body")

    def test_body_over_cap_chunked(self):
        def chunks():
            yield b'{"pad": "'
            for _ in range(MAX_BODY // 1000 + 5):
                yield b"y" * 1000
            yield b'"}'
        c = self.srv.connect()
        try:
            c.request("POST", "/api/v1/mcts/search", body=chunks(),
                      headers={"Content-Type": "application/json"}, encode_chunked=True)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        resp = svc.Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        self.assertEnvelope(resp, 413, "body")

    def test_wrong_content_type(self):
        r = self.srv.post("/api/v1/mcts/search", json.dumps(small_request()), headers={"Content-Type": "text/plain"})
        self.assertEnvelope(r, 415, "Content-Type")
        r = self.srv.post("/api/v1/mcts/search", json.dumps(small_request()))
        self.assertEnvelope(r, 415, "Content-Type")
        r = self.srv.post("/api/v1/mcts/search", json.dumps(small_request()),
                          headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 200, r)

    def test_unknown_route(self):
        for path in ("/", "/api/v1", "/api/v1/mcts/searchx", "/api/v1/searches/a/b/c", "/%2e%2e/etc/passwd"):
            r = self.srv.get(path)
            self.assertEnvelope(r, 404)

    def test_wrong_method(self):
        r = self.srv.get("/api/v1/mcts/search")
        self.assertEnvelope(r, 405)
        self.assertEqual(r.header("Allow"), "POST")
        r = self.srv.request("DELETE", "/health/live")
        self.assertEnvelope(r, 405)
        self.assertIn("GET", r.header("Allow"))
        r = self.srv.request("PATCH", "/api/v1/tasks/x")
        self.assertEnvelope(r, 405)

    def test_garbage_request_line(self):
        # MHD may wait for more of a line it cannot parse: read for a moment only
        out = svc.raw_exchange(self.srv.port, b"\x00\x01\x02 garbage\r\n\r\n", timeout=2)
        self.assertTrue(out == b"" or out.startswith(b"HTTP/1."), out[:100])
        out = svc.raw_exchange(self.srv.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200000 +
                               b"\r\n\r\n")
        self.assertTrue(out == b"" or re.match(rb"HTTP/1\.1 4\d\d", out), out[:100])
        # and the service still serves
        self.assertEqual(self.srv.get("/health/live").status, 200)

    def test_headers_too_large(self):
        # over --max-header-bytes (32K) but within libmicrohttpd's memory: the envelope
        r = self.srv.get("/health/live", headers={"X-Long": "a" * 40000})
        self.assertEnvelope(r, 431, "headers")
        self.assertIn("at most 32768", r.json["message"])
        r = self.srv.get("/health/live", headers={"X-Long": "a" * 20000})
        self.assertEqual(r.status, 200, r)
        # past libmicrohttpd's 64 KiB: it answers 431 itself (documented), and the service serves on
        out = svc.raw_exchange(self.srv.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70000 +
                               b"\r\n\r\n")
        self.assertTrue(out == b"" or out.startswith(b"HTTP/1.1 431"), out[:100])
        self.assertEqual(self.srv.get("/health/live").status, 200)

    def test_keep_alive_after_errors(self):
        c = self.srv.connect()
        try:
            for path in ("/nope", "/health/live", "/api/v1/mcts/search", "/health/ready"):
                r = self.srv.get(path, conn=c)
                self.assertIn(r.status, (200, 404, 405))
        finally:
            c.close()

    # ---- async tasks ----

    def wait_task(self, tid):
        def done():
            r = self.srv.get("/api/v1/tasks/status/" + tid)
            self.assertEqual(r.status, 200, r)
            return r if r.json["status"] in ("done", "failed", "canceled") else None
        return self.srv.wait_until(done, "task " + tid)

    def test_async_task_to_completion(self):
        req = small_request(seed=11)
        r = self.srv.post("/api/v1/tasks/search/async", req)
        self.assertEqual(r.status, 202, r)
        tid = r.json["task_id"]
        self.assertEqual(r.json["status"], "pending")
        self.assertEqual(r.header("Location"), "/api/v1/tasks/status/" + tid)
        st = self.wait_task(tid)
        self.assertEqual(st.json["status"], "done", st)
        self.assertEqual(st.json["http_status"], 200)
        solo = self.srv.search(req)
        self.assertEqual(solo.status, 200)
        self.assertEqual(strip_volatile(st.json["result"]), strip_volatile(solo.json))
        # forgetting a finished task
        r = self.srv.request("DELETE", "/api/v1/tasks/" + tid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "done")
        self.assertEnvelope(self.srv.get("/api/v1/tasks/status/" + tid), 404, "task_id")

    def test_async_validation_errors_answer_at_once(self):
        r = self.srv.post("/api/v1/tasks/search/async", {"root_input": {"batch_size": -1, "num_actions": 4}})
        self.assertEnvelope(r, 400, "root_input.batch_size")

    def test_task_unknown(self):
        self.assertEnvelope(self.srv.get("/api/v1/tasks/status/00000000-0000-4000-8000-000000000000"), 404, "task_id")
        self.assertEnvelope(self.srv.request("DELETE", "/api/v1/tasks/nope"), 404, "task_id")

    def test_task_list(self):
        r = self.srv.post("/api/v1/tasks/search/async", small_request(seed=5))
        self.assertEqual(r.status, 202)
        self.wait_task(r.json["task_id"])
        r = self.srv.get("/api/v1/tasks")
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["count"], 1)
        self.assertIn("counts", r.json)
        r = self.srv.get("/api/v1/tasks?state=done&limit=1")
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(len(r.json["tasks"]), 1)
        for t in r.json["tasks"]:
            self.assertEqual(t["status"], "done")
        self.assertEnvelope(self.srv.get("/api/v1/tasks?state=sleeping"), 400, "state")
        self.assertEnvelope(self.srv.get("/api/v1/tasks?limit=0"), 400, "limit")

    # ---- history and statistics ----

    def wait_row(self, rid):
        def row():
            r = self.srv.get("/api/v1/searches/" + rid)
            if r.status == 200:
                return r
            self.assertEqual(r.status, 404, r)
            return None
        return self.srv.wait_until(row, "history row " + rid)

    def test_history_rows_and_daily_stats(self):
        ids = []
        for i, st in enumerate(("gumbel_muzero", "muzero", "gumbel_muzero")):
            req = small_request(seed=i)
            req["search_type"] = st
            if i == 0:
                req["search_params"]["use_t4_optimizations"] = True
            rid = "hist-%d-%d" % (int(time.time() * 1000), i)
            r = self.srv.search(req, headers={"X-Request-ID": rid})
            self.assertEqual(r.status, 200, r)
            ids.append(rid)
        rows = [self.wait_row(rid).json for rid in ids]
        self.assertEqual(rows[0]["request_id"], ids[0])
        self.assertEqual(rows[0]["search_type"], "gumbel_muzero")
        self.assertEqual(rows[1]["search_type"], "muzero")
        self.assertTrue(rows[0]["gpu_optimized"])
        for row in rows:
            self.assertEqual(row["user"], "anonymous")
            self.assertEqual(row["batch_size"], 1)
            self.assertEqual(row["num_simulations"], 32)
            self.assertEqual(row["device"], "cpu")
            self.assertIsInstance(row["config"], dict)
            self.assertIsInstance(row["summary"], dict)
            self.assertGreater(row["num_expanded_nodes"], 0)
        self.assertTrue(rows[0]["config"]["use_t4_optimizations"])

        r = self.srv.get("/api/v1/searches?limit=1000&search_type=muzero")
        self.assertEqual(r.status, 200, r)
        self.assertIn(ids[1], [s["request_id"] for s in r.json["searches"]])
        self.assertTrue(all(s["search_type"] == "muzero" for s in r.json["searches"]))
        r = self.srv.get("/api/v1/searches?limit=1&offset=0")
        self.assertEqual(len(r.json["searches"]), 1)
        r = self.srv.get("/api/v1/searches?user=anonymous&limit=5")
        self.assertEqual(r.status, 200, r)

        # all days (a run that crosses midnight UTC splits the counts over two)
        r = self.srv.get("/api/v1/stats/daily")
        self.assertEqual(r.status, 200, r)
        totals = {}
        for d in r.json["days"]:
            t = totals.setdefault(d["search_type"], {"count": 0, "gpu_optimized_count": 0, "max_num_simulations": 0})
            t["count"] += d["count"]
            t["gpu_optimized_count"] += d["gpu_optimized_count"]
            t["max_num_simulations"] = max(t["max_num_simulations"], d["max_num_simulations"])
            for k in ("avg_duration_ms", "max_duration_ms", "avg_expanded_nodes", "max_batch_size",
                      "distributed_count", "avg_devices", "day"):
                self.assertIn(k, d)
        self.assertGreaterEqual(totals["gumbel_muzero"]["count"], 2)
        self.assertGreaterEqual(totals["muzero"]["count"], 1)
        self.assertGreaterEqual(totals["gumbel_muzero"]["gpu_optimized_count"], 1)
        self.assertGreaterEqual(totals["gumbel_muzero"]["max_num_simulations"], 32)
        day = today()
        r = self.srv.get("/api/v1/stats/daily?from=%s&to=%s" % (day, day))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(all(d["day"] == day for d in r.json["days"]))
        r = self.srv.get("/api/v1/stats/daily?search_type=muzero")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(all(d["search_type"] == "muzero" for d in r.json["days"]))

    def test_history_errors(self):
        self.assertEnvelope(self.srv.get("/api/v1/searches?limit=0"), 400, "limit")
        self.assertEnvelope(self.srv.get("/api/v1/searches?limit=abc"), 400, "limit")
        self.assertEnvelope(self.srv.get("/api/v1/searches?offset=-1"), 400, "offset")
        self.assertEnvelope(self.srv.get("/api/v1/searches?search_type=alphazero"), 400, "search_type")
        self.assertEnvelope(self.srv.get("/api/v1/searches?user=x%27%20OR%201=1"), 400, "user")
        self.assertEnvelope(self.srv.get("/api/v1/stats/daily?from=2024-02-30"), 400, "from")
        self.assertEnvelope(self.srv.get("/api/v1/stats/daily?to=yesterday"), 400, "to")
        self.assertEnvelope(self.srv.get("/api/v1/stats/daily?from=2025-02-01&to=2025-01-01"), 400, "from")
        self.assertEnvelope(self.srv.get("/api/v1/searches/does-not-exist"), 404, "request_id")

    # ---- metrics ----

    def test_metrics(self):
        self.assertEqual(self.srv.search(small_request()).status, 200)
        r = self.srv.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        names = set()
        for line in r.text.splitlines():
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                self.assertTrue(line.startswith("mctx_"), line)
        for n in ("mctx_http_requests_total", "mctx_http_request_duration_seconds", "mctx_searches_total",
                  "mctx_search_queue_seconds", "mctx_search_compute_seconds", "mctx_http_in_flight",
                  "mctx_queue_depth", "mctx_batch_size", "mctx_batch_jobs", "mctx_simulations_per_second",
                  "mctx_simulations_total", "mctx_db_spool_depth", "mctx_process_resident_memory_bytes"):
            self.assertIn(n, names)
        m = self.srv.metrics()
        self.assertGreaterEqual(m['mctx_http_requests_total{route="/api/v1/mcts/search",status="200"}'], 1)
        self.assertGreaterEqual(m['mctx_searches_total{search_type="gumbel_muzero",device="cpu"}'], 1)
        self.assertGreater(m["mctx_process_resident_memory_bytes"], 0)

    # ---- OpenAPI ----

    # Every route the service serves; the document must list exactly these.
    ROUTES = {
        ("post", "/api/v1/mcts/search"), ("post", "/api/v1/tasks/search/async"),
        ("get", "/api/v1/tasks/status/{task_id}"), ("delete", "/api/v1/tasks/{task_id}"), ("get", "/api/v1/tasks"),
        ("get", "/api/v1/mcts/health"), ("get", "/health/live"), ("get", "/health/ready"), ("get", "/metrics"),
        ("get", "/openapi.json"), ("get", "/api/v1/stats/daily"), ("get", "/api/v1/searches"),
        ("get", "/api/v1/searches/{request_id}"), ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/searches/{request_id}/tree"), ("get", "/api/v1/models"), ("post", "/api/v1/models/reload"),
        ("get", "/dashboard"), ("get", "/dashboard/{asset}"), ("get", "/api/v1/dashboard/gpu"),
    }

    def test_openapi_matches_routes(self):
        r = self.srv.get("/openapi.json")
        self.assertEqual(r.status, 200, r)
        doc = r.json
        self.assertTrue(doc["openapi"].startswith("3."))
        documented = set()
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                documented.add((method, path))
                self.assertIn("responses", op)
                self.assertTrue(op.get("operationId"))
        self.assertEqual(documented, self.ROUTES)
        # every documented operation is served: never 405, and a 404 only
        # for the resource named in the path, never for the route itself
        for method, path in sorted(documented):
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            body = {} if method == "post" else None
            r = self.srv.request(method.upper(), concrete, body=body)
            self.assertNotEqual(r.status, 405, (method, path, r))
            if r.status == 404:
                self.assertIn("{", path, (method, path, r))
                self.assertNotEqual(r.json["details"]["field"], "path", (method, path, r))
        # ... and the methods it does not list are refused
        for path, ops in doc["paths"].items():
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for m in ("put", "patch"):
                self.assertNotIn(m, ops)
                self.assertEqual(self.srv.request(m.upper(), concrete).status, 405)
        # every $ref resolves
        text = json.dumps(doc)
        for ref in set(re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', text)):
            self.assertIn(ref, doc["components"]["schemas"])
        # non-public routes declare their security
        self.assertEqual(doc["paths"]["/health/live"]["get"]["security"], [])
        self.assertTrue(doc["paths"]["/api/v1/mcts/search"]["post"]["security"])
        self.assertEqual(doc["paths"]["/api/v1/tasks"]["get"]["x-required-role"], "admin")

    def test_token_in_open_mode(self):
        r = self.srv.post("/api/v1/auth/token")
        self.assertEnvelope(r, 400, "X-API-Key")

    def test_cors_off_by_default(self):
        r = self.srv.get("/health/live", headers={"Origin": "http://evil.example"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_request_log_lines(self):
        rid = "log-check-%d" % int(time.time() * 1000)
        self.assertEqual(self.srv.search(small_request(), headers={"X-Request-ID": rid}).status, 200)
        line = self.srv.wait_log(lambda l: l.get("msg") == "request" and l.get("request_id") == rid)
        for k in ("time", "level", "msg", "request_id", "route", "status", "duration_ms"):
            self.assertIn(k, line)
        self.assertEqual(line["route"], "/api/v1/mcts/search")
        self.assertEqual(line["status"], 200)
        self.assertIn("queue_ms", line)
        self.assertIn("compute_ms", line)


class BodyBudgetTest(ServiceTest):
    """All bodies together are bounded too (--max-body-total)."""
    FLAGS = ("--max-body-total", "4096")

    def test_bodies_over_the_total_budget(self):
        big = json.dumps(dict(small_request(), root_input={"batch_size": 1, "num_actions": 16,
                                                             "embedding": [0.0] * 1, "pad": "x" * 5000}))
        r = self.srv.post("/api/v1/mcts/search", big, headers={"Content-Type": "application/json"})
        self.assertEnvelope(r, 503)
        self.assertIsNotNone(r.header("Retry-After"))
        # what was counted is given back: small requests pass, again and again
        for _ in range(20):
            self.assertEqual(self.srv.search(small_request()).status, 200)


if __name__ == "__main__":
    svc.main()
