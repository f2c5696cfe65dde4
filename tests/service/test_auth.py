"""tests/service/test_auth.py: API keys, roles, bearer tokens (JWT) and rate
limits of `mctx serve`.

Usage: python3 test_auth.py BUILD/mctx
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server, ServiceTest, small_request

ADMIN = "admin-key-0123456789"
ALICE = "alice-key-0123456789"
BOB = "bob-key-01234567890"
SECRET = "test-secret-of-at-least-32-bytes-long"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, secret=SECRET, alg="HS256"):
    """A JWT made here, to try what the service must refuse."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64(sig)


def key(k):
    return {"X-API-Key": k}


def bearer(t):
    return {"Authorization": "Bearer " + t}


class AuthTest(ServiceTest):
    FLAGS = ("--api-keys", "%s:admin:ops,%s:user:alice,%s:user:bob" % (ADMIN, ALICE, BOB),
             "--jwt-secret", SECRET, "--jwt-ttl-s", "600")

    PROTECTED = [
        ("POST", "/api/v1/mcts/search", small_request()),
        ("POST", "/api/v1/tasks/search/async", small_request()),
        ("GET", "/api/v1/tasks/status/00000000-0000-4000-8000-000000000000", None),
        ("DELETE", "/api/v1/tasks/00000000-0000-4000-8000-000000000000", None),
        ("GET", "/api/v1/tasks", None),
        ("GET", "/api/v1/stats/daily", None),
        ("GET", "/api/v1/searches", None),
        ("GET", "/api/v1/searches/x", None),
        ("GET", "/metrics", None),
        ("POST", "/api/v1/auth/token", None),
    ]

    def test_no_key_401(self):
        for method, path, body in self.PROTECTED:
            r = self.srv.request(method, path, body=body)
            self.assertEnvelope(r, 401)
            self.assertIn("Bearer", r.header("WWW-Authenticate") or "", (method, path))

    def test_wrong_key_401(self):
        for method, path, body in self.PROTECTED:
            r = self.srv.request(method, path, body=body, headers=key("not-a-key-at-all"))
            self.assertEnvelope(r, 401, "X-API-Key")
        # a key that differs only in its last character
        r = self.srv.search(small_request(), headers=key(ADMIN[:-1] + "X"))
        self.assertEnvelope(r, 401)

    def test_health_routes_stay_open(self):
        for path in ("/health/live", "/health/ready", "/api/v1/mcts/health", "/openapi.json"):
            self.assertEqual(self.srv.get(path).status, 200, path)
        r = self.srv.get("/api/v1/mcts/health")
        self.assertEqual(r.json["auth"], "on")

    def test_roles(self):
        r = self.srv.get("/api/v1/tasks", headers=key(ALICE))
        self.assertEnvelope(r, 403, "role")
        r = self.srv.get("/api/v1/tasks", headers=key(ADMIN))
        self.assertEqual(r.status, 200, r)
        r = self.srv.search(small_request(), headers=key(ALICE))
        self.assertEqual(r.status, 200, r)
        r = self.srv.get("/metrics", headers=key(ALICE))
        self.assertEqual(r.status, 200)

    def test_token_flow(self):
        r = self.srv.post("/api/v1/auth/token", headers=key(ALICE))
        self.assertEqual(r.status, 200, r)
        tok = r.json["access_token"]
        self.assertEqual(r.json["token_type"], "Bearer")
        self.assertEqual(r.json["user"], "alice")
        self.assertEqual(r.json["role"], "user")
        self.assertEqual(r.json["expires_in"], 600)
        rid = "tok-%d" % int(time.time() * 1000)
        r = self.srv.search(small_request(), headers=dict(bearer(tok), **{"X-Request-ID": rid}))
        self.assertEqual(r.status, 200, r)
        row = self.srv.wait_until(lambda: (lambda x: x if x.status == 200 else None)(
            self.srv.get("/api/v1/searches/" + rid, headers=key(ADMIN))), "history row")
        self.assertEqual(row.json["user"], "alice")
        # the role travels in the token
        self.assertEnvelope(self.srv.get("/api/v1/tasks", headers=bearer(tok)), 403)
        # a POST without any body headers (curl -X POST) is an empty body
        raw = svc.raw_exchange(self.srv.port, ("POST /api/v1/auth/token HTTP/1.1\r\nHost: t\r\nX-API-Key: %s\r\n"
                                               "Connection: close\r\n\r\n" % ALICE).encode())
        self.assertTrue(raw.startswith(b"HTTP/1.1 200"), raw[:200])
        # a token is not a key for issuing tokens
        self.assertEnvelope(self.srv.post("/api/v1/auth/token", headers=bearer(tok)), 401)
        # a shorter lifetime may be asked for; a longer one may not
        r = self.srv.post("/api/v1/auth/token", {"expires_in": 30}, headers=key(ADMIN))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["expires_in"], 30)
        self.assertEnvelope(self.srv.post("/api/v1/auth/token", {"expires_in": 6000}, headers=key(ADMIN)), 400,
                            "expires_in")

    def test_bad_tokens(self):
        now = int(time.time())
        good = {"iss": "mctx", "sub": "alice", "role": "admin", "iat": now, "exp": now + 600}
        r = self.srv.get("/api/v1/tasks", headers=bearer(mint(good)))
        self.assertEqual(r.status, 200, r)  # minted with the right secret: accepted
        bad = [
            mint(dict(good, exp=now - 10)),                     # expired
            mint(good, secret="another-secret-of-32-bytes-or-more"),  # wrong signature
            mint(good, alg="none"),                             # unsigned
            mint({k: v for k, v in good.items() if k != "exp"}),  # no expiry
            mint(dict(good, iss="someone-else")),               # not ours
            mint(dict(good, role="root")),                      # no such role
            mint(dict(good, sub="a b")),                        # bad subject
            "not.a.jwt",
            "",
        ]
        for t in bad:
            r = self.srv.get("/api/v1/searches", headers=bearer(t))
            self.assertEnvelope(r, 401)
        tampered = mint(good)
        head, body, sig = tampered.split(".")
        body2 = b64(json.dumps(dict(good, sub="bob")).encode())
        self.assertEnvelope(self.srv.get("/api/v1/searches", headers=bearer(head + "." + body2 + "." + sig)), 401)
        self.assertEnvelope(self.srv.get("/api/v1/searches", headers={"Authorization": "Basic YTpi"}), 401)

    def test_users_see_their_own(self):
        rid = "own-%d" % int(time.time() * 1000)
        self.assertEqual(self.srv.search(small_request(), headers=dict(key(ALICE), **{"X-Request-ID": rid})).status,
                         200)
        self.srv.wait_until(lambda: self.srv.get("/api/v1/searches/" + rid, headers=key(ALICE)).status == 200,
                            "alice's row")
        self.assertEnvelope(self.srv.get("/api/v1/searches/" + rid, headers=key(BOB)), 404)
        self.assertEqual(self.srv.get("/api/v1/searches/" + rid, headers=key(ADMIN)).status, 200)
        r = self.srv.get("/api/v1/searches?limit=1000", headers=key(BOB))
        self.assertEqual(r.status, 200)
        self.assertTrue(all(s["user"] == "bob" for s in r.json["searches"]))
        self.assertEnvelope(self.srv.get("/api/v1/searches?user=alice", headers=key(BOB)), 403, "user")
        r = self.srv.get("/api/v1/searches?user=alice&limit=1000", headers=key(ADMIN))
        self.assertIn(rid, [s["request_id"] for s in r.json["searches"]])
        # tasks, likewise
        r = self.srv.post("/api/v1/tasks/search/async", small_request(), headers=key(ALICE))
        self.assertEqual(r.status, 202, r)
        tid = r.json["task_id"]
        self.assertEnvelope(self.srv.get("/api/v1/tasks/status/" + tid, headers=key(BOB)), 404)
        self.assertEnvelope(self.srv.request("DELETE", "/api/v1/tasks/" + tid, headers=key(BOB)), 404)
        self.assertEqual(self.srv.get("/api/v1/tasks/status/" + tid, headers=key(ALICE)).status, 200)


class KeysFileTest(unittest.TestCase):
    def test_keys_file_and_bad_config(self):
        d = tempfile.mkdtemp(prefix="mctx-keys-")
        path = os.path.join(d, "keys")
        with open(path, "w") as f:
            f.write("# operators\n%s:admin:ops\n\n%s:user\n" % (ADMIN, ALICE))
        srv = Server("--api-keys-file", path)
        try:
            self.assertEqual(srv.get("/api/v1/tasks", headers=key(ADMIN)).status, 200)
            self.assertEqual(srv.get("/api/v1/tasks", headers=key(ALICE)).status, 403)
            self.assertEqual(srv.get("/api/v1/tasks").status, 401)
            self.assertTrue(any("random secret" in l.get("msg", "") for l in srv.lines))
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()
        # a malformed entry stops the start with a message that does not show the key
        srv = Server(env={"MCTX_API_KEYS": "short:admin"}, wait_ready=False)
        try:
            line = srv.wait_log(lambda l: l.get("msg") == "the service could not start")
            self.assertIn("8 characters", line["reason"])
            self.assertNotIn("short", line["reason"])
            srv.proc.wait(timeout=svc.WAIT_S)
            self.assertEqual(srv.proc.returncode, 1)
        finally:
            srv.close()


CAROL = "carol-key-0123456789"


class RateLimitTest(ServiceTest):
    """Buckets per (route, client): the class flags are each route's default,
    --rate-limit-routes sets single routes (limit, burst, or none)."""
    FLAGS = ("--api-keys", "%s:user:alice,%s:user:bob,%s:user:carol" % (ALICE, BOB, CAROL),
             "--rate-limit-search", "2", "--rate-limit-other", "3", "--rate-limit-burst", "0",
             "--rate-limit-routes",
             " /api/v1/models=1, /api/v1/searches/{request_id}=1:4 ,/api/v1/auth/token=0")

    def test_search_limit_per_key_and_route(self):
        codes = [self.srv.search(small_request(), headers=key(ALICE)).status for _ in range(2)]
        self.assertEqual(codes, [200, 200])
        r = self.srv.search(small_request(), headers=key(ALICE))
        self.assertEnvelope(r, 429, "rate_limit")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(r.header("X-RateLimit-Limit"), "2")
        self.assertEqual(r.header("X-RateLimit-Remaining"), "0")
        self.assertIn("POST /api/v1/mcts/search", r.json["message"])
        self.assertIn("key:alice", r.json["message"])
        # the async route is a route of its own: the same class limit, its own bucket
        for _ in range(2):
            self.assertEqual(self.srv.post("/api/v1/tasks/search/async", small_request(), headers=key(ALICE)).status,
                             202)
        r = self.srv.post("/api/v1/tasks/search/async", small_request(), headers=key(ALICE))
        self.assertEnvelope(r, 429, "rate_limit")
        self.assertIn("/api/v1/tasks/search/async", r.json["message"])
        # another key has its own buckets
        self.assertEqual(self.srv.search(small_request(), headers=key(BOB)).status, 200)
        # health is never limited
        for _ in range(10):
            self.assertEqual(self.srv.get("/health/ready").status, 200)

    def test_other_limit_per_route(self):
        for i in range(3):
            r = self.srv.get("/api/v1/stats/daily", headers=key(BOB))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("X-RateLimit-Limit"), "3")
            self.assertEqual(r.header("X-RateLimit-Remaining"), str(2 - i))
        r = self.srv.get("/api/v1/stats/daily", headers=key(BOB))
        self.assertEnvelope(r, 429)
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        # another route of the same class has its own bucket
        for _ in range(3):
            self.assertEqual(self.srv.get("/api/v1/searches", headers=key(BOB)).status, 200)
        self.assertEnvelope(self.srv.get("/api/v1/searches", headers=key(BOB)), 429)

    def test_route_settings(self):
        # /api/v1/models: 1 a minute (under the class's 3)
        r = self.srv.get("/api/v1/models", headers=key(CAROL))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-RateLimit-Limit"), "1")
        r = self.srv.get("/api/v1/models", headers=key(CAROL))
        self.assertEnvelope(r, 429, "rate_limit")
        self.assertEqual(r.header("X-RateLimit-Limit"), "1")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        # a burst of 4 over a rate of 1 a minute (answers 404: the limit comes first)
        codes = [self.srv.get("/api/v1/searches/no-such-id-%d" % i, headers=key(CAROL)).status for i in range(5)]
        self.assertEqual(codes, [404, 404, 404, 404, 429])
        # no limit on token issuing, well past the class's 3
        for _ in range(8):
            r = self.srv.post("/api/v1/auth/token", headers=key(CAROL))
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.header("X-RateLimit-Limit"))


class OpenModeRateLimitTest(ServiceTest):
    """Without keys, the client is its IP address: the limit holds per
    address, and the refusal names it."""
    FLAGS = ("--rate-limit-search", "2", "--rate-limit-other", "2")

    def test_limit_per_ip(self):
        self.assertEqual([self.srv.search(small_request()).status for _ in range(2)], [200, 200])
        r = self.srv.search(small_request())
        self.assertEnvelope(r, 429, "rate_limit")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertIn("ip:127.0.0.1", r.json["message"])
        # another route has its own bucket; health is never limited
        self.assertEqual(self.srv.get("/api/v1/stats/daily").status, 200)
        for _ in range(5):
            self.assertEqual(self.srv.get("/health/live").status, 200)


class RateLimitConfigTest(unittest.TestCase):
    def run_cmd(self, *args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MCTX_")}
        e.update(env or {})
        return subprocess.run([svc.BINARY, "serve"] + list(args), capture_output=True, text=True, env=e,
                              timeout=svc.WAIT_S)

    def test_bad_route_settings_stop_the_start(self):
        cases = [
            ("/api/v1/nope=3", "no route '/api/v1/nope'"),
            ("/health/ready=3", "/health/ready is never rate limited"),
            ("/metrics=3", "/metrics is never rate limited"),
            ("/api/v1/searches=many", "the requests per minute must be an integer"),
            ("/api/v1/searches=3:-1", "the burst must be an integer"),
            ("/api/v1/searches", "is not ROUTE=PER_MINUTE[:BURST]"),
            ("/api/v1/searches=3,/api/v1/searches=4", "/api/v1/searches is named twice"),
        ]
        for spec, why in cases:
            p = self.run_cmd("--rate-limit-routes", spec)
            self.assertEqual(p.returncode, 2, (spec, p.stderr))
            self.assertIn("--rate-limit-routes", p.stderr)
            self.assertIn(why, p.stderr)
        p = self.run_cmd(env={"MCTX_RATE_LIMIT_ROUTES": "/api/v1/nope=3"})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("MCTX_RATE_LIMIT_ROUTES", p.stderr)

    def test_help_names_the_flag(self):
        p = self.run_cmd("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("--rate-limit-routes", p.stdout)
        self.assertIn("MCTX_RATE_LIMIT_ROUTES", p.stdout)


class CorsTest(ServiceTest):
    FLAGS = ("--cors-origin", "https://dash.example")

    def test_cors(self):
        r = self.srv.get("/health/live")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://dash.example")
        r = self.srv.request("OPTIONS", "/api/v1/mcts/search")
        self.assertEqual(r.status, 204)
        self.assertIn("POST", r.header("Access-Control-Allow-Methods"))
        self.assertIn("X-API-Key", r.header("Access-Control-Allow-Headers"))


if __name__ == "__main__":
    svc.main()
