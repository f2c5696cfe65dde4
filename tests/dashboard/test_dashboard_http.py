"""tests/dashboard/test_dashboard_http.py: the dashboard's routes over HTTP,
without a browser.

A real `mctx serve` (tests/service/svc.py) answers /dashboard and its files:
each byte-identical to web/ (the build embedded them), with its content type
and the security headers (CSP, nosniff, no framing, no referrer), and no CORS
unless --cors-origin is set. The files are public with API keys on, the GPU
route needs a key like /metrics. The page's own files obey the CSP: no inline
script, no inline style. argv[1] is the mctx binary; MCTX_WEB_DIR is web/.
"""

import ctypes.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "service"))
import svc  # noqa: E402

WEB = os.environ.get("MCTX_WEB_DIR", os.path.join(HERE, "..", "..", "web"))
SERVED = (".html", ".js", ".css", ".svg", ".txt", ".json")
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
KEY_ADMIN = "dash-admin-key-0123456789abcdef"
KEY_USER = "dash-user-key-0123456789abcdef"


def web_files():
    return sorted(f for f in os.listdir(WEB) if f.endswith(SERVED))


class Headers:
    def assertSecure(self, r):
        csp = r.header("Content-Security-Policy") or ""
        for part in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                     "frame-ancestors 'none'", "form-action 'none'", "base-uri 'none'"):
            self.assertIn(part, csp, r.headers)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.header("X-Frame-Options"), "DENY")
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")


class OpenService(svc.ServiceTest, Headers):
    def test_page_and_every_file_as_built(self):
        files = web_files()
        self.assertIn("index.html", files)
        self.assertIn("app.js", files)
        r = self.srv.get("/dashboard")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/html"), r.headers)
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            self.assertEqual(r.body, f.read())
        self.assertSecure(r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        for name in files:
            r = self.srv.get("/dashboard/" + name)
            self.assertEqual(r.status, 200, (name, r))
            with open(os.path.join(WEB, name), "rb") as f:
                self.assertEqual(r.body, f.read(), "%s differs from web/%s: rebuild" % (name, name))
            ext = os.path.splitext(name)[1]
            if ext in TYPES:
                self.assertTrue(r.header("Content-Type").startswith(TYPES[ext]), (name, r.headers))
            self.assertSecure(r)
            self.assertEqual(r.header("Cache-Control"), "no-cache")

    def test_head_and_unknown_files(self):
        r = self.srv.request("HEAD", "/dashboard")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        for name in ("nope.js", "index.htm", "..", "CMakeLists.txt", "dashboard.cmake"):
            r = self.srv.get("/dashboard/" + name)
            self.assertEnvelope(r, 404, "asset")
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(self.srv.request("POST", "/dashboard", body=b"").status, 405)
        self.assertEqual(self.srv.request("DELETE", "/dashboard/app.js").status, 405)

    def test_page_obeys_its_policy(self):
        # no inline script or style anywhere, so the CSP needs no exception
        for name in web_files():
            if not name.endswith(".html"):
                continue
            with open(os.path.join(WEB, name), encoding="utf-8") as f:
                html = f.read()
            for tag in re.findall(r"<script\b[^>]*>", html, re.I):
                self.assertRegex(tag, r"\bsrc=", "inline script in %s: %s" % (name, tag))
            self.assertNotRegex(html, r"<style\b", name)
            self.assertNotRegex(html, r"\sstyle\s*=", name)
            self.assertNotRegex(html, r"\son[a-z]+\s*=", "inline event handler in " + name)
            for src in re.findall(r"(?:src|href)=\"([^\"]+)\"", html):
                self.assertFalse(re.match(r"^[a-z]+:", src), "%s loads %s from elsewhere" % (name, src))
        for name in web_files():
            if name.endswith(".js"):
                with open(os.path.join(WEB, name), encoding="utf-8") as f:
                    js = f.read()
                self.assertNotRegex(js, r"\beval\(|new Function\(|innerHTML\s*=|setAttribute\(\s*'style'", name)
                self.assertNotRegex(js, r"https?://(?!www\.w3\.org/2000/svg)", "%s names a remote URL" % name)

    def test_gpu_route(self):
        r = self.srv.get("/api/v1/dashboard/gpu")
        self.assertEqual(r.status, 200, r)
        g = r.json
        self.assertIsInstance(g["available"], bool)
        self.assertEqual(g["source"], "nvml")
        self.assertIn(g["engine"], ("cpu", "cuda"))
        self.assertIsInstance(g["devices"], list)
        if ctypes.util.find_library("nvidia-ml") is None:
            self.assertFalse(g["available"])
            self.assertIn("libnvidia-ml", g["reason"])
            self.assertEqual(g["devices"], [])
        if g["available"]:
            for d in g["devices"]:
                self.assertGreater(d["memory_total_bytes"], 0)
                self.assertLessEqual(d["memory_used_bytes"], d["memory_total_bytes"])
        else:
            self.assertTrue(g["reason"])

    def test_documented(self):
        doc = self.srv.get("/openapi.json").json
        self.assertEqual(doc["paths"]["/dashboard"]["get"]["security"], [])
        self.assertIn("text/html", doc["paths"]["/dashboard"]["get"]["responses"]["200"]["content"])
        self.assertTrue(doc["paths"]["/api/v1/dashboard/gpu"]["get"]["security"])
        self.assertIn("DashboardGpu", doc["components"]["schemas"])


class KeyedService(svc.ServiceTest, Headers):
    FLAGS = ("--api-keys", "%s:admin:ops,%s:user:alice" % (KEY_ADMIN, KEY_USER))

    def test_files_public_data_not(self):
        r = self.srv.get("/dashboard")
        self.assertEqual(r.status, 200, r)
        self.assertSecure(r)
        self.assertEqual(self.srv.get("/dashboard/app.js").status, 200)
        for path in ("/api/v1/dashboard/gpu", "/metrics", "/api/v1/stats/daily", "/api/v1/searches"):
            self.assertEnvelope(self.srv.get(path), 401)
        self.assertEqual(self.srv.get("/api/v1/dashboard/gpu", headers={"X-API-Key": KEY_USER}).status, 200)
        # what the login form does: a key for a token, then the token
        t = self.srv.post("/api/v1/auth/token", {}, headers={"X-API-Key": KEY_USER})
        self.assertEqual(t.status, 200, t)
        bearer = {"Authorization": "Bearer " + t.json["access_token"]}
        self.assertEqual(self.srv.get("/api/v1/dashboard/gpu", headers=bearer).status, 200)
        self.assertEqual(self.srv.get("/metrics", headers=bearer).status, 200)
        self.assertEqual(self.srv.get("/api/v1/mcts/health").json["auth"], "on")


class CorsService(svc.ServiceTest):
    FLAGS = ("--cors-origin", "https://ops.example")

    def test_cors_only_when_configured(self):
        r = self.srv.get("/dashboard/app.js")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://ops.example")


if __name__ == "__main__":
    svc.main()
