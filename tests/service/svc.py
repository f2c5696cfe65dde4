"""tests/service/svc.py: a real `mctx serve` for black-box tests.

Server(...) starts the binary on a free loopback port (--port 0; the port is
read from the "ready" log line) with a temporary data folder and SQLite
database, reads its JSON log lines on a thread, and talks to it over
http.client. stop() sends SIGTERM and returns the exit status (0 after a
clean drain; under AddressSanitizer a leak makes it non-zero). Every test
file takes the binary's path as its first argument (ctest passes the
build's own `mctx`) or from MCTX_BINARY.

Waiting is always for a condition (a log line, a metric, a history row),
with a generous bound that only a broken service reaches: no assertion
depends on how fast the machine is.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BINARY = os.environ.get("MCTX_BINARY", "build/mctx")

# Bound on every wait; only a broken service reaches it. Sanitizer builds
# are many times slower, so the bound is wide.
WAIT_S = float(os.environ.get("MCTX_TEST_WAIT_S", "120"))


def small_request(seed=0, model="mock", sims=32, actions=16, batch=1, **extra):
    """The benchmark's small case: batch 1, 16 actions, 32 simulations."""
    req = {
        "root_input": {"batch_size": batch, "num_actions": actions},
        "model": model,
        "search_type": "gumbel_muzero",
        "search_params": {"num_simulations": sims, "seed": seed},
    }
    req.update(extra)
    return req


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:300])


class Server:
    def __init__(self, *flags, env=None, data_dir=None, wait_ready=True):
        self.dir = data_dir or tempfile.mkdtemp(prefix="mctx-svc-test-")
        self.owns_dir = data_dir is None
        self.lines = []          # parsed JSON log lines
        self.raw = []            # every stderr line
        self.cv = threading.Condition()
        self.port = None
        args = [BINARY, "serve", "--host", "127.0.0.1", "--port", "0",
                "--db", "sqlite:" + os.path.join(self.dir, "mctx.db"),
                "--data-dir", self.dir] + [str(f) for f in flags]
        e = {k: v for k, v in os.environ.items() if not k.startswith("MCTX_")}
        e.update(env or {})
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=e)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if wait_ready:
            line = self.wait_log(lambda l: l.get("msg") in ("ready", "the service could not start"))
            if line.get("msg") != "ready":
                self.proc.wait(timeout=WAIT_S)
                raise RuntimeError("the service did not start: %s" % line)
            self.port = line["port"]

    def _read(self):
        for raw in self.proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cv:
                self.raw.append(text)
                try:
                    obj = json.loads(text)
                    if isinstance(obj, dict):
                        self.lines.append(obj)
                except ValueError:
                    pass
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_log(self, pred, timeout=WAIT_S):
        """Waits for a log line that satisfies pred; returns it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cv:
            while True:
                for line in self.lines[seen:]:
                    if pred(line):
                        return line
                seen = len(self.lines)
                if self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError("the service exited (%s) before the expected log line; log:\n%s"
                                         % (self.proc.returncode, "\n".join(self.raw[-40:])))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no such log line within %ss; log:\n%s" % (timeout, "\n".join(self.raw[-40:])))
                self.cv.wait(min(left, 0.5))

    def log_text(self):
        with self.cv:
            return "\n".join(self.raw)

    # ---- HTTP ----

    def connect(self, timeout=WAIT_S):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=WAIT_S):
        """Sends one request; body may be a dict (sent as JSON), str or bytes."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        own = conn is None
        c = conn or self.connect(timeout)
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def search(self, req, **kw):
        return self.post("/api/v1/mcts/search", req, **kw)

    def metrics(self, headers=None):
        """The /metrics samples as {"name{labels}": value}."""
        r = self.get("/metrics", headers=headers)
        assert r.status == 200, r
        out = {}
        for line in r.text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
        return out

    def wait_metric(self, name, pred, headers=None, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics(headers)
            if pred(m.get(name, 0.0)):
                return m
            if time.monotonic() > deadline:
                raise AssertionError("metric %s never satisfied the condition (last %s)" % (name, m.get(name)))
            time.sleep(0.02)

    def wait_until(self, fn, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("gave up waiting for " + what)
            time.sleep(0.05)

    # ---- lifecycle ----

    def stop(self, sig=signal.SIGTERM, timeout=WAIT_S):
        """Signals the service and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the service did not stop within %ss" % timeout)
        self.reader.join(timeout=10)
        return self.proc.returncode

    def close(self):
        """Stops the process if it runs and removes the data folder it made."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class ServiceTest(unittest.TestCase):
    """A test class with one service for all its tests (FLAGS, ENV); the
    service must stop cleanly (exit 0) at the end."""
    FLAGS = ()
    ENV = None

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(*cls.FLAGS, env=cls.ENV)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.srv.stop()
            if rc != 0:
                raise AssertionError("the service exited with %s; log tail:\n%s" % (rc, "\n".join(cls.srv.raw[-60:])))
        finally:
            cls.srv.close()

    def assertEnvelope(self, r, status, field=None):
        """r is the error envelope with `status` (and details.field)."""
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(r.json.get("status_code"), status, r)
        self.assertIsInstance(r.json.get("message"), str)
        self.assertTrue(r.json["message"], r)
        self.assertIn("details", r.json)
        if field is not None:
            self.assertEqual((r.json.get("details") or {}).get("field"), field, r)


def raw_exchange(port, data, timeout=WAIT_S, read=True):
    """Sends raw bytes on a fresh socket and returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(rest) >= length:
                    break
        return b"".join(chunks)
    finally:
        s.close()


def main():
    """Entry point of each test file: argv[1] is the binary."""
    global BINARY
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BINARY = sys.argv.pop(1)
    if not os.path.exists(BINARY):
        print("mctx binary not found: %s" % BINARY, file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
