"""tests/service/test_lifecycle.py: starting, stopping and restarting
`mctx serve`: readiness 503 while the service starts (its database does not
answer yet), shutdown with a request in flight (readiness 503, the request
finishes, exit 0), records flushed at shutdown and kept across a restart,
SIGINT, the flags.

Usage: python3 test_lifecycle.py BUILD/mctx
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server, small_request

HOLD = small_request(seed=1, sims=16)


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mctx-life-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_shutdown_with_request_in_flight(self):
        srv = Server("--workers", "1", "--batch-max", "2", "--batch-max-delay-us", "600000000",
                     "--drain-timeout-ms", "600000", data_dir=self.dir)
        partial = None
        try:
            # A: a search held by the worker (it waits to merge)
            box = {}
            t = threading.Thread(target=lambda: box.update(r=srv.search(HOLD, headers={"X-Request-ID": "in-flight-1"})))
            t.start()
            srv.wait_metric("mctx_searches_running", lambda v: v == 1)
            # P: a request whose body has not all arrived: in flight until the test sends the rest
            body = json.dumps(small_request(seed=5)).encode()
            partial = socket.create_connection(("127.0.0.1", srv.port))
            partial.sendall(b"POST /api/v1/mcts/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            srv.wait_metric("mctx_http_in_flight", lambda v: v >= 3)  # A, P and this scrape

            srv.proc.send_signal(signal.SIGTERM)
            srv.wait_log(lambda l: l.get("msg") == "draining")
            # A finishes with its result
            t.join(svc.WAIT_S)
            self.assertEqual(box["r"].status, 200, box.get("r"))
            self.assertEqual(box["r"].json["request_id"], "in-flight-1")
            # while P keeps the drain going: not ready, searches refused
            r = srv.get("/health/ready")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json["status"], "draining")
            self.assertEqual(r.json["status_code"], 503)
            self.assertIsNotNone(r.header("Retry-After"))
            r = srv.get("/api/v1/mcts/health")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json["status"], "draining")
            self.assertEqual(srv.get("/health/live").status, 200)
            r = srv.search(small_request())
            self.assertEqual(r.status, 503, r)
            self.assertIsNotNone(r.header("Retry-After"))
            # P, begun before the signal, completes and is served
            partial.sendall(body[10:])
            answer = partial.recv(65536)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:100])
            partial.close()
            partial = None
            srv.proc.wait(timeout=svc.WAIT_S)
            self.assertEqual(srv.proc.returncode, 0, srv.log_text()[-3000:])
            srv.wait_log(lambda l: l.get("msg") == "stopped")
        finally:
            if partial:
                partial.close()
            srv.close()
        # the record of A was flushed and is there after a restart
        srv = Server(data_dir=self.dir)
        try:
            r = srv.wait_until(lambda: (lambda x: x if x.status == 200 else None)(srv.get("/api/v1/searches/in-flight-1")),
                               "the in-flight search's record")
            self.assertEqual(r.json["num_simulations"], 16)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_not_ready_while_starting(self):
        """The start waits for the database: a PostgreSQL host that takes the
        connection and does not answer (a listening socket of the test's that
        never accepts; libpq waits for its reply up to connect_timeout, 600 s
        here). Until the test closes it, the service is listening and
        starting; once the connection fails, it starts degraded and turns
        ready. No timing: the test decides when the start may go on."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        dbport = silent.getsockname()[1]
        url = "postgresql://mctx@127.0.0.1:%d/mctx?connect_timeout=600&sslmode=disable" % dbport
        # (a short drain: the one record cannot reach the database at the stop; it stays in the spool)
        srv = Server("--db", url, "--drain-timeout-ms", "1000", data_dir=self.dir, wait_ready=False)
        try:
            line = srv.wait_log(lambda l: l.get("msg") == "listening")
            self.assertEqual(line["state"], "starting")
            srv.port = line["port"]
            # libpq's connection is in the silent socket's queue: the start is held there
            r = srv.get("/health/ready")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json["status"], "starting")
            self.assertEqual(r.json["status_code"], 503)
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            r = srv.get("/api/v1/mcts/health")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json["status"], "starting")
            self.assertEqual(srv.get("/health/live").status, 200)
            r = srv.search(small_request())
            self.assertEqual(r.status, 503, r)
            self.assertIn("starting", r.json["message"])
            self.assertIsNotNone(r.header("Retry-After"))
            self.assertFalse(any(l.get("msg") == "ready" for l in srv.lines))
            self.assertEqual(srv.metrics()["mctx_ready"], 0)
            # the database host goes away: the start goes on, degraded, and turns ready
            silent.close()
            silent = None
            srv.wait_log(lambda l: l.get("msg", "").startswith("the database does not answer"))
            srv.wait_log(lambda l: l.get("msg") == "ready")
            r = srv.get("/health/ready")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "ready")
            self.assertEqual(r.json["database"]["status"], "degraded")
            self.assertEqual(srv.search(small_request()).status, 200)
            self.assertEqual(srv.stop(), 0, srv.log_text()[-3000:])
        finally:
            if silent:
                silent.close()
            srv.close()

    def test_history_across_restart(self):
        ids = ["restart-%d" % i for i in range(25)]
        srv = Server(data_dir=self.dir)
        try:
            for i, rid in enumerate(ids):
                r = srv.search(small_request(seed=i), headers={"X-Request-ID": rid})
                self.assertEqual(r.status, 200, r)
            # stop at once: records may still be queued or in the spool
            self.assertEqual(srv.stop(signal.SIGINT), 0, srv.log_text()[-3000:])
        finally:
            srv.close()
        srv = Server(data_dir=self.dir)
        try:
            def all_there():
                r = srv.get("/api/v1/searches?limit=1000")
                got = {s["request_id"] for s in r.json["searches"]}
                return got if set(ids) <= got else None
            got = srv.wait_until(all_there, "every record after the restart")
            self.assertEqual(len(got & set(ids)), len(ids))
            r = srv.get("/api/v1/stats/daily?search_type=gumbel_muzero")
            self.assertGreaterEqual(sum(d["count"] for d in r.json["days"]), len(ids))
            # written once each, even though the spool may have replayed them
            r = srv.get("/api/v1/searches?limit=1000")
            listed = [s["request_id"] for s in r.json["searches"]]
            self.assertEqual(len(listed), len(set(listed)))
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_record_before_reply_survives_sigkill(self):
        """With --record-before-reply an answered search's record is on disk
        before the answer: killing the process at once loses none."""
        ids = ["durable-%d" % i for i in range(12)]
        srv = Server("--record-before-reply", "--batch-max", "4", data_dir=self.dir)
        try:
            results = {}

            def send(rid, seed):
                results[rid] = srv.search(small_request(seed=seed), headers={"X-Request-ID": rid})

            threads = [threading.Thread(target=send, args=(rid, i)) for i, rid in enumerate(ids)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(svc.WAIT_S)
            for rid in ids:
                self.assertEqual(results[rid].status, 200, results[rid])
            srv.proc.kill()  # SIGKILL: no drain, no flush
            srv.proc.wait(timeout=svc.WAIT_S)
        finally:
            srv.close()
        srv = Server(data_dir=self.dir)
        try:
            def all_there():
                r = srv.get("/api/v1/searches?limit=1000")
                got = {x["request_id"] for x in r.json["searches"]}
                return got if set(ids) <= got else None
            srv.wait_until(all_there, "every record after SIGKILL and a restart")
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()


class FlagsTest(unittest.TestCase):
    def run_cmd(self, *args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MCTX_")}
        e.update(env or {})
        return subprocess.run([svc.BINARY, "serve"] + list(args), capture_output=True, text=True, env=e,
                              timeout=svc.WAIT_S)

    def test_help_describes_every_flag(self):
        p = self.run_cmd("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--host", "--port", "--db", "--engine-threads", "--default-model", "--queue-size", "--batch-max",
                     "--batch-max-delay-us", "--rate-limit-search", "--rate-limit-other", "--api-keys",
                     "--jwt-secret", "--max-body-bytes", "--request-timeout-ms", "--log-level", "--max-batch-size",
                     "--max-num-simulations", "--drain-timeout-ms", "--max-queue-wait-us", "MCTX_MAX_QUEUE_WAIT_US"):
            self.assertIn(flag, p.stdout)
        self.assertIn("MCTX_API_KEYS", p.stdout)
        self.assertIn("MCTX_DB_URL", p.stdout)

    def test_request_limits_are_configurable(self):
        # the limits a request is checked against, set by flag and by variable
        srv = Server("--max-num-simulations", "40", "--max-batch-size", "4", "--max-num-actions", "10",
                     env={"MCTX_MAX_TREE_BYTES": "16K"})
        try:
            def req(sims=8, batch=1, actions=8):
                return {"root_input": {"batch_size": batch, "num_actions": actions}, "model": "mock",
                        "search_params": {"num_simulations": sims}}
            self.assertEqual(srv.search(req()).status, 200)
            for body, field, words in ((req(sims=41), "search_params.num_simulations", "40"),
                                       (req(batch=5), "root_input.batch_size", "4"),
                                       (req(actions=11), "root_input.num_actions", "10"),
                                       (req(sims=40, batch=4, actions=10), "search_params.num_simulations", "budget")):
                r = srv.search(body)
                self.assertEqual(r.status, 400, (body, r))
                self.assertEqual(r.json["details"]["field"], field, r)
                self.assertIn(words, r.json["message"], r)
            self.assertEqual(srv.search(req(sims=40)).status, 200)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_bad_flags(self):
        for args in (("--port", "http"), ("--port", "70000"), ("--nope",), ("--log-level", "loud"),
                     ("--max-body-bytes", "12Q"), ("stray",)):
            p = self.run_cmd(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("mctx serve:", p.stderr)
        p = self.run_cmd(env={"MCTX_QUEUE_SIZE": "-3"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("MCTX_QUEUE_SIZE", p.stderr)

    def test_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        d = tempfile.mkdtemp(prefix="mctx-port-")
        try:
            p = self.run_cmd("--port", str(port), "--db", "sqlite:" + d + "/m.db", "--data-dir", d)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("could not start", p.stderr)
        finally:
            s.close()
            shutil.rmtree(d, ignore_errors=True)

    def test_environment_configures(self):
        srv = Server(env={"MCTX_QUEUE_SIZE": "7", "MCTX_WORKERS": "1"})
        try:
            r = srv.get("/api/v1/mcts/health")
            self.assertEqual(r.json["queue"]["capacity"], 7)
            self.assertEqual(r.json["queue"]["workers"], 1)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()


if __name__ == "__main__":
    svc.main()
