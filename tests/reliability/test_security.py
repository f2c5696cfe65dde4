"""tests/reliability/test_security.py: what an unauthenticated or hostile
client gets from `mctx serve` (docs/RELIABILITY.md, "Security").

  - every operation of GET /openapi.json that declares a security
    requirement is tried with no credentials, a wrong key, a key one
    character off, and bad bearer tokens (expired, wrong signature, alg
    none, tampered): 401 with WWW-Authenticate each time, also for HEAD;
    operations whose x-required-role is admin answer 403 to a user key and
    token; public operations answer without a key. A wrong key never shows
    up in an answer or in the log.
  - injection strings through the history routes' query parameters and path
    parameters: refused with 400 naming the parameter, or 404, never a row
    that does not match, never a 500 (the store itself, on SQLite and
    PostgreSQL: tests/reliability/test-injection.c).
  - body limits on every operation that takes a body (413, by
    Content-Length and while a chunked body streams in); head limit (431).
  - request time: a connection that stalls in its head or its body is
    closed after --idle-timeout-s while the service answers others; a
    request waiting in the queue past its deadline: tests/service/test_queue.py.
  - CORS: no Access-Control-* header on any route, preflights included,
    unless --cors-origin is set (then only that origin).
The dashboard's security headers are checked by tests/dashboard/test_dashboard_http.py.

Usage: python3 test_security.py BUILD/mctx
"""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "service"))
import svc  # noqa: E402
from svc import ServiceTest, small_request  # noqa: E402

ADMIN = "sec-admin-key-0123456789"
USER = "sec-user-key-01234567890"
SECRET = "security-test-secret-of-32-bytes-or-more"
WRONG = "wrong-key-0123456789"
KEYS = "%s:admin:ops,%s:user:alice" % (ADMIN, USER)
PARAM = {"task_id": "00000000-0000-4000-8000-000000000000", "request_id": "no-such-search", "asset": "app.js"}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, secret=SECRET, alg="HS256"):
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def operations(doc):
    """(method, path with parameters filled, operation) for every operation of the document."""
    for path, item in sorted(doc["paths"].items()):
        filled = path
        for name, value in PARAM.items():
            filled = filled.replace("{%s}" % name, value)
        for method, op in sorted(item.items()):
            if method in ("get", "post", "put", "delete", "patch"):
                yield method.upper(), filled, op


def body_of(op):
    if "requestBody" not in op:
        return None
    return small_request() if "search" in op.get("operationId", "").lower() else {}


class AuthWalk(ServiceTest):
    FLAGS = ("--api-keys", KEYS, "--jwt-secret", SECRET, "--jwt-ttl-s", "600")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.srv.get("/openapi.json")
        assert r.status == 200, r
        cls.doc = r.json
        cls.ops = list(operations(cls.doc))

    def send(self, method, path, op, headers):
        body = body_of(op)
        return self.srv.request(method, path, body=body if body is not None else None, headers=headers)

    def test_walks_every_operation(self):
        protected = [o for o in self.ops if o[2].get("security")]
        public = [o for o in self.ops if not o[2].get("security")]
        # the table has both kinds; a document that lost its security blocks would fail here
        self.assertGreaterEqual(len(protected), 12, [o[:2] for o in protected])
        self.assertGreaterEqual(len(public), 5, [o[:2] for o in public])
        for method, path, op in protected:
            self.assertIn(op.get("x-required-role"), ("user", "admin"), (method, path))

    def test_no_credentials_401(self):
        for method, path, op in self.ops:
            if not op.get("security"):
                continue
            with self.subTest(method=method, path=path):
                r = self.send(method, path, op, {})
                self.assertEnvelope(r, 401)
                self.assertIn("Bearer", r.header("WWW-Authenticate") or "")
                if method == "GET":
                    self.assertEqual(self.srv.request("HEAD", path).status, 401)

    def test_wrong_keys_401(self):
        near = ADMIN[:-1] + ("X" if ADMIN[-1] != "X" else "Y")
        for method, path, op in self.ops:
            if not op.get("security"):
                continue
            for key in (WRONG, near, ADMIN + "0", ADMIN[:-1], ADMIN.upper(), "x" * 2000):
                with self.subTest(method=method, path=path, key=key[:30]):
                    r = self.send(method, path, op, {"X-API-Key": key})
                    self.assertEnvelope(r, 401)
                    self.assertNotIn(key.strip(), r.text)
        self.assertNotIn(WRONG, self.srv.log_text())
        self.assertNotIn(ADMIN, self.srv.log_text())

    def test_bad_tokens_401(self):
        now = int(time.time())
        good = {"iss": "mctx", "sub": "ops", "role": "admin", "iat": now, "exp": now + 600}
        tampered = mint(good).split(".")
        tampered[1] = b64(json.dumps(dict(good, sub="someone-else")).encode())
        bad = [mint(dict(good, exp=now - 1)), mint(good, secret="another-secret-of-32-bytes-or-more!"),
               mint(good, alg="none"), ".".join(tampered), mint(dict(good, iss="other")),
               mint({k: v for k, v in good.items() if k != "exp"}), "a.b.c", "x" * 5000]
        for method, path, op in self.ops:
            if not op.get("security"):
                continue
            for i, tok in enumerate(bad):
                with self.subTest(method=method, path=path, token=i):
                    r = self.send(method, path, op, {"Authorization": "Bearer " + tok})
                    self.assertEnvelope(r, 401)
        # the same claims, correctly signed, pass: the refusals above were about the token
        self.assertEqual(self.srv.get("/api/v1/tasks", headers={"Authorization": "Bearer " + mint(good)}).status, 200)

    def test_admin_routes_403_for_users(self):
        tok = self.srv.post("/api/v1/auth/token", headers={"X-API-Key": USER}).json["access_token"]
        admin_ops = [o for o in self.ops if o[2].get("x-required-role") == "admin"]
        self.assertGreaterEqual(len(admin_ops), 2)
        for method, path, op in admin_ops:
            for hdr in ({"X-API-Key": USER}, {"Authorization": "Bearer " + tok}):
                with self.subTest(method=method, path=path, via=list(hdr)[0]):
                    self.assertEnvelope(self.send(method, path, op, hdr), 403, "role")

    def test_public_routes_need_no_key(self):
        for method, path, op in self.ops:
            if op.get("security"):
                continue
            with self.subTest(method=method, path=path):
                self.assertNotIn(self.send(method, path, op, {}).status, (401, 403))

    def test_injection_through_history_parameters(self):
        self.assertEqual(self.srv.search(small_request(seed=3), headers={"X-API-Key": USER,
                                                                         "X-Request-ID": "sec-row-1"}).status, 200)
        self.srv.wait_until(lambda: self.srv.get("/api/v1/searches/sec-row-1", headers={"X-API-Key": ADMIN}).status
                            == 200, "the row")
        strings = ["' OR '1'='1", "alice' --", "x'); DROP TABLE MCTX_SEARCH_HISTORY; --", "%", "_", "alice%",
                   "\" OR \"\"=\"", "1 UNION SELECT 1", "' || pg_sleep(3) || '", "\\", "%00", "\u00e9'"]
        admin = {"X-API-Key": ADMIN}
        for s in strings:
            q = urllib.parse.quote(s, safe="")
            with self.subTest(s=s):
                r = self.srv.get("/api/v1/searches?user=" + q, headers=admin)
                if re.fullmatch(r"[A-Za-z0-9._@-]{1,63}", s):  # a possible user name ("_"): no wildcard
                    self.assertEqual(r.status, 200, r)
                    self.assertTrue(all(x["user"] == s for x in r.json["searches"]), r)
                else:
                    self.assertEnvelope(r, 400, "user")
                self.assertEnvelope(self.srv.get("/api/v1/searches?search_type=" + q, headers=admin), 400,
                                    "search_type")
                self.assertEnvelope(self.srv.get("/api/v1/searches?limit=" + q, headers=admin), 400, "limit")
                self.assertEnvelope(self.srv.get("/api/v1/searches?offset=" + q, headers=admin), 400, "offset")
                self.assertEnvelope(self.srv.get("/api/v1/stats/daily?from=" + q, headers=admin), 400, "from")
                self.assertEnvelope(self.srv.get("/api/v1/stats/daily?to=" + q, headers=admin), 400, "to")
                self.assertEnvelope(self.srv.get("/api/v1/stats/daily?search_type=" + q, headers=admin), 400,
                                    "search_type")
                self.assertEnvelope(self.srv.get("/api/v1/searches/" + q, headers=admin), 404, "request_id")
                self.assertEnvelope(self.srv.get("/api/v1/searches/" + q + "/tree", headers=admin), 404, "request_id")
                self.assertEnvelope(self.srv.get("/api/v1/tasks/status/" + q, headers=admin), 404)
                self.assertEnvelope(self.srv.get("/api/v1/searches?limit=5&user=alice&search_type=" + q,
                                                 headers=admin), 400, "search_type")
        # the history is still there and unchanged
        r = self.srv.get("/api/v1/searches?limit=1000", headers=admin)
        self.assertEqual(r.status, 200, r)
        self.assertIn("sec-row-1", [x["request_id"] for x in r.json["searches"]])
        r = self.srv.get("/api/v1/searches?user=alice&limit=1000", headers=admin)
        self.assertTrue(all(x["user"] == "alice" for x in r.json["searches"]))


class HostileBytes(ServiceTest):
    """Bug 2 of docs/RELIABILITY.md: answers and log lines stay valid JSON
    whatever bytes the client put in its method, path or headers."""

    def test_answers_and_log_lines_are_json(self):
        raws = [b"\xadGET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /\xff\xfe/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /%ff%c3%28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /api/v1/searches/%e2%82 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /api/v1/searches?user=%c0%af HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-ID: \xff\xfe\r\nConnection: close\r\n\r\n"]
        for raw in raws:
            with self.subTest(raw=raw[:40]):
                out = svc.raw_exchange(self.srv.port, raw)
                head, _, body = out.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 "), out[:100])
                if b"application/json" in head and body:
                    doc = json.loads(body.decode("utf-8"))  # strict: invalid UTF-8 raises
                    if int(head[9:12]) >= 400:
                        self.assertEqual(doc["status_code"], int(head[9:12]))
        # the log writes such bytes as the escape \\ufffd: the line parses, and its raw text (which the
        # reader decoded with errors="replace") holds no U+FFFD that the decoding would have put there
        self.srv.wait_log(lambda l: l.get("path", "").startswith("/\ufffd"))
        with self.srv.cv:
            raw_lines = list(self.srv.raw)
        self.assertFalse([l for l in raw_lines if "\ufffd" in l], [l for l in raw_lines if "\ufffd" in l][:3])


class Limits(ServiceTest):
    FLAGS = ("--max-body-bytes", "2K", "--max-header-bytes", "4K", "--idle-timeout-s", "1")

    def body_ops(self):
        doc = self.srv.get("/openapi.json").json
        return [(m, p) for m, p, op in operations(doc) if "requestBody" in op]

    def test_body_limit_on_every_body_route(self):
        ops = self.body_ops()
        self.assertGreaterEqual(len(ops), 3, ops)
        big = json.dumps({"root_input": {"batch_size": 1, "num_actions": 2}, "pad": "x" * 4000})
        for method, path in ops:
            with self.subTest(path=path):
                self.assertEnvelope(self.srv.request(method, path, body=big,
                                                     headers={"Content-Type": "application/json"}), 413, "body")
                raw = ("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                       "Connection: close\r\n\r\n" % (method, path)).encode()
                for _ in range(4):
                    raw += b"400\r\n" + b"x" * 1024 + b"\r\n"
                raw += b"0\r\n\r\n"
                out = svc.raw_exchange(self.srv.port, raw)
                self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:120])
        self.assertEqual(self.srv.get("/health/live").status, 200)

    def test_head_limit(self):
        r = self.srv.get("/health/live", headers={"X-Pad": "a" * 6000})
        self.assertEnvelope(r, 431, "headers")

    def stalled(self, data):
        """Sends data and stalls; returns the seconds until the service closed the connection."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(data)
            t0 = time.monotonic()
            # meanwhile the service answers others
            self.assertEqual(self.srv.get("/health/live").status, 200)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return time.monotonic() - t0
        finally:
            s.close()

    def test_stalled_head_and_body_are_closed(self):
        head = self.stalled(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        self.assertLess(head, 15)
        body = self.stalled(b"POST /api/v1/mcts/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 100\r\n\r\n{\"root_in")
        self.assertLess(body, 15)
        self.assertEqual(self.srv.get("/health/live").status, 200)


class CorsOff(ServiceTest):
    def test_no_cors_headers_anywhere(self):
        doc = self.srv.get("/openapi.json").json
        origin = {"Origin": "https://evil.example"}
        for method, path, op in operations(doc):
            with self.subTest(method=method, path=path):
                r = self.srv.request(method, path, body=body_of(op), headers=origin)
                self.assertFalse([h for h in r.headers if h.startswith("access-control-")], r.headers)
                pre = self.srv.request("OPTIONS", path, headers=dict(origin, **{
                    "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "X-API-Key"}))
                self.assertFalse([h for h in pre.headers if h.startswith("access-control-")], pre.headers)


class CorsOn(ServiceTest):
    FLAGS = ("--cors-origin", "https://dash.example")

    def test_only_the_configured_origin(self):
        for path in ("/health/live", "/api/v1/searches", "/openapi.json"):
            r = self.srv.get(path, headers={"Origin": "https://evil.example"})
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://dash.example")
            self.assertIn("Origin", r.header("Vary") or "")
        self.assertNotIn("*", self.srv.request("OPTIONS", "/api/v1/mcts/search").header(
            "Access-Control-Allow-Origin") or "")


if __name__ == "__main__":
    svc.main()
