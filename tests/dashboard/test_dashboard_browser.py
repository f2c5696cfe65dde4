"""tests/dashboard/test_dashboard_browser.py: the dashboard in headless
Chromium, against a real `mctx serve` that has answered searches.

The service (tests/service/svc.py) answers a known set of searches (three
search types, GPU-optimized and distributed flags, trees in both formats, a
10,000-node tree) and one bad request; the test then loads /dashboard in
Chromium over the DevTools protocol (cdp.py) and checks that what the page
holds, in its DOM and in window.mctxDash.state, is that data: the live
figures against /metrics, the daily charts against /api/v1/stats/daily, the
searches table against /api/v1/searches, the recommendations against the
product notes' rules computed here, the tree view's node counts against the
tree files and the stored tree (GET /api/v1/searches/{id}/tree). With API
keys, the login form, the token kept instead of the key, and the page's
reads made as that user. The console must stay free of errors. Screenshots
go to $MCTX_DASHBOARD_SHOTS (build/dashboard-screenshots).

Skips (exit 77) when no Chromium is installed. No assertion depends on
timing: every wait is for a state of the page, with a bound.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "service"))
sys.path.insert(0, HERE)
import cdp  # noqa: E402
import svc  # noqa: E402

SHOTS = os.environ.get("MCTX_DASHBOARD_SHOTS", os.path.join("build", "dashboard-screenshots"))
CHROMIUM = cdp.find_chromium()
KEY_ADMIN = "dash-admin-key-0123456789abcdef"
KEY_USER = "dash-user-key-fedcba9876543210"


def nested_counts(result):
    """Expanded nodes per batch element of a nested tree (dicts with "visit")."""
    out = []
    for root in result["search_tree"]:
        n, stack = 0, [root]
        while stack:
            d = stack.pop()
            if "visit" in d:
                n += 1
                stack.extend(d.get("child_stats", []))
        out.append(n)
    return out


def arrays_counts(result):
    t = result["search_tree"]
    return [sum(1 for i, p in enumerate(ps) if i == 0 or p >= 0) for ps in t["parents"]]


class BrowserTest(svc.ServiceTest):
    """A service, a browser and a page for the class; console errors fail
    each test."""
    allowed_console = ()      # substrings of console errors a test expects

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="mctx-dash-test-")
        try:
            cls.browser = cdp.Browser(CHROMIUM, timeout=svc.WAIT_S)
            cls.page = cls.browser.page()
            cls.page.set_viewport(1400, 1000)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "page", None):
                cls.page.close()
            if getattr(cls, "browser", None):
                cls.browser.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
        finally:
            super().tearDownClass()

    def tearDown(self):
        # everything since the last test (the page's first load included)
        self.page.pump()
        errors = [e for e in self.page.console_errors if not any(a in e for a in self.allowed_console)]
        self.page.console_errors.clear()
        self.assertEqual(errors, [], "the browser console has errors")

    def url(self, frag=""):
        return "http://127.0.0.1:%d/dashboard%s" % (self.srv.port, frag)

    def shot(self, name):
        path = self.page.screenshot(os.path.join(SHOTS, name))
        print("screenshot: %s" % path, file=sys.stderr)

    def dom(self, expr):
        return self.page.eval(expr)


@unittest.skipIf(CHROMIUM is None, "no Chromium: install Debian's chromium (scripts/setup.sh does)")
class OpenDashboard(BrowserTest):
    FLAGS = ("--workers", "2")
    # a frame drawn after the one counted, and none waiting
    FRAME = "mctxDash.state.tree.frames > %d && mctxDash.treeView.pending === false"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.srv
        cls.ok = 0

        def search(req):
            r = s.search(req)
            assert r.status == 200, r
            cls.ok += 1
            return r.json
        for i in range(3):
            search(svc.small_request(seed=i))
        search(svc.small_request(seed=5, search_params={"num_simulations": 32, "use_t4_optimizations": True,
                                                        "precision": "fp16", "tensor_core_aligned": True}))
        search(svc.small_request(seed=6, batch=2, search_params={"num_simulations": 16, "distributed": True,
                                                                 "num_devices": 2, "partition_batch": True}))
        search({"root_input": {"batch_size": 1, "num_actions": 4}, "model": "synthetic_stochastic",
                "search_type": "stochastic_muzero", "search_params": {"num_simulations": 16, "seed": 1}})
        # trees: nested and arrays of one search, a wider one for the picture, 10,000 nodes
        tree_req = {"root_input": {"batch_size": 2, "num_actions": 8}, "model": "mock", "search_type": "muzero",
                    "search_params": {"num_simulations": 60, "seed": 7}}
        cls.nested = search(dict(tree_req, return_tree="nested", store_tree=True))
        cls.arrays = search(dict(tree_req, return_tree="arrays"))
        cls.wide = search({"root_input": {"batch_size": 1, "num_actions": 6}, "model": "synthetic",
                           "search_type": "gumbel_muzero", "return_tree": "nested",
                           "search_params": {"num_simulations": 150, "max_num_considered_actions": 6, "seed": 3}})
        cls.big = search({"root_input": {"batch_size": 1, "num_actions": 4}, "model": "mock",
                          "search_type": "muzero", "return_tree": "arrays",
                          "search_params": {"num_simulations": 9999, "seed": 11}})
        for name in ("nested", "arrays", "wide", "big"):
            with open(os.path.join(cls.tmp, name + ".json"), "w") as f:
                json.dump(getattr(cls, name), f)
        r = s.search({"root_input": {"batch_size": 0}})
        assert r.status == 400, r
        s.wait_until(lambda: s.get("/api/v1/searches?limit=1000").json["count"] >= cls.ok, "every search recorded")
        cls.page.navigate("http://127.0.0.1:%d/dashboard#live" % s.port)
        cls.page.wait_for("window.mctxDash && mctxDash.state.live.samples >= 1", "the first scrape")

    def test_1_live_holds_the_metrics(self):
        m = self.srv.metrics()
        # the page's next scrape comes after this one: it must see the same searches
        n = self.dom("mctxDash.state.live.samples")
        self.page.wait_for("mctxDash.state.live.samples > %d" % n, "another scrape")
        st = self.dom("mctxDash.state.live")
        searches = sum(v for k, v in m.items() if k.startswith("mctx_searches_total{"))
        self.assertEqual(searches, self.ok)
        self.assertEqual(st["searchesTotal"], searches)
        self.assertEqual(st["simulationsTotal"], m["mctx_simulations_total"])
        self.assertEqual(st["searchesByType"]["stochastic_muzero"], 1)
        sub = self.dom("document.querySelector('[data-metric=searches_per_s] .sub').textContent")
        self.assertEqual(sub, "%d searches since start" % searches)
        # errors by status: the one 400, in the state and as a bar
        bad = sum(v for k, v in m.items() if k.startswith("mctx_http_requests_total{") and 'status="400"' in k)
        self.assertEqual(bad, 1)
        self.assertEqual(st["errorsByStatus"], {"400": 1})
        bar = self.dom("document.querySelector('[data-chart=live-errors] rect[data-category=\"400\"]')"
                       ".getAttribute('data-value')")
        self.assertEqual(float(bar), 1)
        # batch sizes: every run in the histogram, the same count drawn
        drawn = self.dom("[...document.querySelectorAll('[data-chart=live-batch-size] rect.bar')]"
                         ".reduce((a, r) => a + Number(r.dataset.value), 0)")
        self.assertEqual(drawn, m["mctx_batch_size_count"])
        self.assertEqual(st["latency"]["total"]["compute"]["count"], m["mctx_search_compute_seconds_count"])
        self.assertGreater(st["latency"]["total"]["compute"]["p99"], 0)
        self.assertEqual(st["queueCapacity"], m["mctx_queue_capacity"])
        gpu = self.srv.get("/api/v1/dashboard/gpu").json
        self.assertEqual(st["gpu"]["available"], gpu["available"])
        self.assertEqual(self.dom("document.querySelectorAll('#latency-table tbody tr').length"), 3)
        self.shot("live.png")

    def test_2_history_holds_the_records(self):
        self.page.eval("location.hash = '#history'")
        self.page.wait_for("mctxDash.state.history.dailyLoaded >= 1 && mctxDash.state.history.searchesLoaded >= 1",
                           "the history")
        daily = self.srv.get("/api/v1/stats/daily").json["days"]
        self.assertTrue(daily)
        for d in daily:
            cat = d["day"][5:]
            sel = "[data-chart=%s] [data-series=%s][data-category=\"%s\"]" % ("%s", d["search_type"], cat)
            v = self.dom("document.querySelector('%s').dataset.value" % (sel % "daily-count"))
            self.assertEqual(float(v), d["count"], d)
            v = self.dom("document.querySelector('%s').dataset.value" % (sel % "daily-duration"))
            self.assertAlmostEqual(float(v), d["avg_duration_ms"], places=6)
            v = self.dom("document.querySelector('%s').dataset.value" % (sel % "daily-gpu"))
            self.assertAlmostEqual(float(v), 100.0 * d["gpu_optimized_count"] / d["count"], places=6)
            v = self.dom("document.querySelector('%s').dataset.value" % (sel % "daily-dist"))
            self.assertAlmostEqual(float(v), 100.0 * d["distributed_count"] / d["count"], places=6)
        total = sum(d["count"] for d in daily)
        self.assertEqual(total, self.ok)
        # the recent searches, in the service's order
        listed = [r["request_id"] for r in self.srv.get("/api/v1/searches?limit=50").json["searches"]]
        self.assertEqual(self.dom("mctxDash.state.history.searches"), listed)
        self.assertEqual(self.dom("document.querySelectorAll('#searches-table tbody tr').length"), len(listed))
        # the product notes' rules, computed here from the same rows
        gpu = sum(d["gpu_optimized_count"] for d in daily)
        dist = sum(d["distributed_count"] for d in daily)
        avg = sum(d["avg_duration_ms"] * d["count"] for d in daily) / total
        want = {"avg_duration": avg > 5000, "gpu_optimized_share": gpu / total < 0.20,
                "distributed_share": total > 1000 and dist / total < 0.10}
        recs = {r["id"]: r for r in self.dom("mctxDash.state.history.recommendations")}
        for rid, fired in want.items():
            self.assertEqual(recs[rid]["fired"], fired, recs[rid])
            self.assertTrue(recs[rid]["reason"])
        self.assertIn("%d of %d searches" % (gpu, total), recs["gpu_optimized_share"]["reason"])
        fired = self.dom("[...document.querySelectorAll('#recommendations li[data-fired=true]')].map(l => l.dataset.rec)")
        self.assertEqual(sorted(fired), sorted(k for k, v in recs.items() if v["fired"]))
        self.shot("history.png")
        # a filter goes to the service: muzero only
        n = self.dom("mctxDash.state.history.searchesLoaded")
        self.page.eval("document.getElementById('s-type').value = 'muzero';"
                       "document.getElementById('search-filters').requestSubmit()")
        self.page.wait_for("mctxDash.state.history.searchesLoaded > %d" % n, "the filtered searches")
        mz = [r["request_id"] for r in self.srv.get("/api/v1/searches?limit=50&search_type=muzero").json["searches"]]
        self.assertEqual(len(mz), 3)
        self.assertEqual(self.dom("mctxDash.state.history.searches"), mz)
        # and one on the rows fetched: the request id of the first
        self.page.eval("const i = document.getElementById('s-id'); i.value = %s;"
                       "i.dispatchEvent(new Event('input'))" % json.dumps(mz[0][:18]))
        self.assertEqual(self.dom("mctxDash.state.history.searches"), [mz[0]])

    def load_tree_file(self, name):
        n = self.dom("mctxDash.state.tree.loads || 0")
        self.page.set_file("#tree-file", os.path.join(self.tmp, name))
        self.page.wait_for("(mctxDash.state.tree.loads || 0) > %d" % n, "the tree of " + name)
        self.page.eval("document.getElementById('tree-file').value = ''")
        return self.dom("mctxDash.state.tree")

    def test_3_tree_from_files(self):
        self.page.eval("location.hash = '#tree'")
        self.page.wait_for("!document.getElementById('tab-tree').hidden", "the tree tab")
        want = nested_counts(self.nested)
        self.assertEqual(want, [61, 61])
        self.assertEqual(arrays_counts(self.arrays), want)
        for name, fmt in (("nested.json", "nested"), ("arrays.json", "arrays")):
            t = self.load_tree_file(name)
            self.assertEqual(t["format"], fmt)
            self.assertEqual(t["elementNodeCounts"], want)
            self.assertEqual(t["nodeCount"], want[0])
            self.assertEqual(t["rootVisits"], 61)
            self.assertEqual(t["chosenAction"], self.nested["action"][0])
            self.assertEqual(t["chosenSource"], "result")
            self.assertLess(t["visibleCount"], t["nodeCount"])     # closed below depth 3
            self.page.eval("document.getElementById('tree-expand-all').click()")
            self.page.wait_for("mctxDash.state.tree.visibleCount === %d" % want[0], "every node open")
            shown = self.dom("document.querySelector('#tree-info [data-field=nodes] b').textContent")
            self.assertEqual(int(shown), want[0])
        # the second batch element
        self.page.eval("const s = document.getElementById('tree-element'); s.value = '1';"
                       "s.dispatchEvent(new Event('change'))")
        self.assertEqual(self.dom("mctxDash.state.tree.element"), 1)
        self.assertEqual(self.dom("mctxDash.state.tree.chosenAction"), self.nested["action"][1])
        # a wider tree for the picture, with details on hover over the chosen child
        t = self.load_tree_file("wide.json")
        self.assertEqual(t["nodeCount"], nested_counts(self.wide)[0])
        f = self.dom("mctxDash.state.tree.frames")
        self.page.eval("document.getElementById('tree-expand-all').click()")
        self.page.wait_for("mctxDash.state.tree.visibleCount === %d" % t["nodeCount"], "every node open")
        self.page.wait_for(self.FRAME % f, "a frame")
        x, y = self.dom("(() => { const v = mctxDash.treeView, c = v.t.chosenNode, r = v.canvas.getBoundingClientRect();"
                        " return [r.left + v.X[c] * v.k + v.tx, r.top + v.Y[c] * v.k + v.ty]; })()")
        self.page.mouse("mouseMoved", x, y)
        tip = self.page.wait_for("!document.getElementById('tooltip').hidden && "
                                 "document.getElementById('tooltip').textContent", "the tooltip")
        for word in ("visits", "value", "prior", "reward", "(chosen)"):
            self.assertIn(word, tip)
        self.shot("tree.png")
        self.page.mouse("mouseMoved", 5, 5)

    def test_4_tree_of_10000_nodes(self):
        self.page.eval("location.hash = '#tree'")
        t = self.load_tree_file("big.json")
        self.assertEqual(arrays_counts(self.big), [10000])
        self.assertEqual(t["nodeCount"], 10000)
        self.assertEqual(t["rootVisits"], 10000)
        self.assertLess(t["visibleCount"], 100)                    # opened to depth 3 only
        f = self.dom("mctxDash.state.tree.frames")
        self.page.eval("document.getElementById('tree-expand-all').click()")
        self.page.wait_for("mctxDash.state.tree.visibleCount === 10000", "10,000 nodes open")
        self.page.wait_for(self.FRAME % f, "a frame of 10,000 nodes")
        before = self.dom("mctxDash.state.tree")
        self.assertEqual(before["drawnCount"], 10000)               # fitted: every node in view
        # zoom in on the root: some nodes drawn, not all (culling)
        rect = self.dom("(() => { const v = mctxDash.treeView, r = v.canvas.getBoundingClientRect();"
                        " return [r.left + v.X[0] * v.k + v.tx, r.top + v.Y[0] * v.k + v.ty]; })()")
        f = before["frames"]
        for _ in range(6):
            self.page.mouse("mouseWheel", rect[0], rect[1], deltaX=0, deltaY=-400)
        self.page.wait_for("mctxDash.state.tree.zoom > %r" % (before["zoom"] * 2), "the zoom")
        self.page.wait_for(self.FRAME % f, "a zoomed frame")
        after = self.dom("mctxDash.state.tree")
        self.assertGreater(after["drawnCount"], 0)
        self.assertLess(after["drawnCount"], 10000)
        # pan by dragging
        tx = self.dom("mctxDash.treeView.tx")
        self.page.mouse("mousePressed", rect[0], rect[1], button="left", clickCount=1)
        self.page.mouse("mouseMoved", rect[0] + 150, rect[1] + 40, button="left")
        self.page.mouse("mouseReleased", rect[0] + 150, rect[1] + 40, button="left", clickCount=1)
        self.assertAlmostEqual(self.dom("mctxDash.treeView.tx"), tx + 150, delta=1)
        # clicking the root closes it: one node shown
        f = self.dom("mctxDash.state.tree.frames")
        self.page.eval("document.getElementById('tree-fit').click()")
        self.page.wait_for(self.FRAME % f, "a fitted frame")
        x, y = self.dom("(() => { const v = mctxDash.treeView, r = v.canvas.getBoundingClientRect();"
                        " return [r.left + v.X[0] * v.k + v.tx, r.top + v.Y[0] * v.k + v.ty]; })()")
        self.page.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.page.mouse("mouseReleased", x, y, button="left", clickCount=1)
        self.page.wait_for("mctxDash.state.tree.visibleCount === 1", "the root closed")
        print("10,000 open nodes: layout %.1f ms, frame %.1f ms (zoomed: %d drawn, %.1f ms)"
              % (before["lastLayoutMs"], before["lastRenderMs"], after["drawnCount"], after["lastRenderMs"]),
              file=sys.stderr)
        self.page.eval("document.getElementById('tree-expand-all').click()")
        self.page.wait_for("mctxDash.state.tree.visibleCount === 10000", "10,000 nodes open")
        self.shot("tree-10000.png")

    def test_5_stored_tree(self):
        rid = self.nested["request_id"]
        r = self.srv.get("/api/v1/searches/%s/tree" % rid)
        self.assertEqual(r.status, 200, r)
        n = self.dom("mctxDash.state.tree.loads || 0")
        self.page.eval("location.hash = '#tree/%s'" % rid)
        self.page.wait_for("(mctxDash.state.tree.loads || 0) > %d || mctxDash.state.tree.error" % n, "the stored tree")
        t = self.dom("mctxDash.state.tree")
        self.assertIsNone(t["error"])
        self.assertEqual(t["source"], "search " + rid)
        self.assertEqual(t["format"], "nested")
        self.assertEqual(t["elementNodeCounts"], nested_counts(self.nested))
        self.assertEqual(t["chosenAction"], self.nested["action"][0])
        self.assertEqual(t["chosenSource"], "result")
        self.assertEqual(self.dom("document.getElementById('tree-request-id').value"), rid)
        # a search that kept no tree: the page says so
        other = self.arrays["request_id"]
        self.page.eval("location.hash = '#tree/%s'" % other)
        err = self.page.wait_for("mctxDash.state.tree.error", "the refusal")
        self.assertIn("could not be loaded", err)
        self.assertIn("store_tree", err)
        # Chromium logs that 404 fetch; it is the one expected
        self.page.pump()
        self.page.console_errors[:] = [e for e in self.page.console_errors if other + "/tree" not in e]

    def test_6_bad_tree_file_says_why(self):
        self.page.eval("location.hash = '#tree'")
        path = os.path.join(self.tmp, "not-a-tree.json")
        with open(path, "w") as f:
            json.dump({"hello": [1, 2]}, f)
        self.page.eval("mctxDash.state.tree.error = null")
        self.page.set_file("#tree-file", path)
        err = self.page.wait_for("mctxDash.state.tree.error", "the error")
        self.assertIn("not a search tree", err)
        self.assertFalse(self.dom("document.getElementById('tree-empty').hidden"))
        self.page.eval("document.getElementById('tree-file').value = ''")


@unittest.skipIf(CHROMIUM is None, "no Chromium: install Debian's chromium (scripts/setup.sh does)")
class KeyedDashboard(BrowserTest):
    FLAGS = ("--api-keys", "%s:admin:ops,%s:user:alice" % (KEY_ADMIN, KEY_USER))
    # the wrong key's answer; Chromium logs every 4xx fetch
    allowed_console = ("/api/v1/auth/token",)

    def test_login_with_a_key_keeps_only_the_token(self):
        r = self.srv.search(svc.small_request(), headers={"X-API-Key": KEY_USER})
        self.assertEqual(r.status, 200, r)
        self.page.navigate(self.url("#history"))
        self.page.wait_for("window.mctxDash && mctxDash.state.view === 'login'", "the login form")
        self.assertFalse(self.dom("document.getElementById('login').hidden"))
        self.assertTrue(self.dom("document.getElementById('main').hidden"))
        # nothing protected was asked for without a token
        self.assertEqual([l for l in self.srv.lines if l.get("status") == 401], [])
        self.shot("login.png")
        submit = ("(() => { document.getElementById('login-key').value = %s;"
                  " document.getElementById('login-form').requestSubmit(); })()")
        self.page.eval(submit % json.dumps("not-a-key"))
        self.page.wait_for("!document.getElementById('login-error').hidden", "the refusal")
        self.assertIn("not valid", self.dom("document.getElementById('login-error').textContent"))
        self.page.eval(submit % json.dumps(KEY_USER))
        self.page.wait_for("mctxDash.state.view === 'dashboard' && mctxDash.state.history.searchesLoaded >= 1",
                           "the dashboard as alice")
        self.assertEqual(self.dom("mctxDash.state.user"), "alice")
        self.assertEqual(self.dom("mctxDash.state.role"), "user")
        self.assertEqual(self.dom("document.getElementById('login-key').value"), "")
        stored = self.dom("JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie")
        self.assertNotIn(KEY_USER, stored)
        self.assertIn("token", stored)
        self.assertTrue(self.dom("document.getElementById('s-user-label').hidden"))  # users see their own only
        self.srv.wait_log(lambda l: l.get("route") == "/api/v1/searches" and l.get("user") == "alice"
                          and l.get("status") == 200)
        self.assertEqual(len(self.dom("mctxDash.state.history.searches")), 1)
        # the token is sent on the reads: the service saw alice, never a key from the page
        self.page.wait_for("mctxDash.state.live.samples >= 1", "a scrape as alice")
        self.shot("history-user.png")
        self.page.eval("document.getElementById('logout').click()")
        self.page.wait_for("mctxDash.state.view === 'login'", "logged out")
        self.assertEqual(self.dom("sessionStorage.length"), 0)


@unittest.skipIf(CHROMIUM is None, "no Chromium: install Debian's chromium (scripts/setup.sh does)")
class ExpiringToken(BrowserTest):
    FLAGS = ("--api-keys", "%s:admin:ops" % KEY_ADMIN, "--jwt-ttl-s", "2")
    allowed_console = ("status of 401",)

    def test_expired_token_asks_again(self):
        self.page.navigate(self.url("#live"))
        self.page.wait_for("window.mctxDash && mctxDash.state.view === 'login'", "the login form")
        self.page.eval("document.getElementById('login-key').value = %s;"
                       "document.getElementById('login-form').requestSubmit()" % json.dumps(KEY_ADMIN))
        self.page.wait_for("mctxDash.state.view === 'dashboard'", "the dashboard")
        self.assertEqual(self.dom("mctxDash.state.role"), "admin")
        # the two-second token runs out while the page polls
        self.page.wait_for("mctxDash.state.view === 'login' && !document.getElementById('login-error').hidden",
                           "the login form again")
        self.assertIn("session ended", self.dom("document.getElementById('login-error').textContent"))
        self.assertEqual(self.dom("sessionStorage.length"), 0)


if __name__ == "__main__":
    if CHROMIUM is None:
        print("SKIP: no Chromium (looked for $MCTX_CHROMIUM, /usr/bin/chromium, chromium, chromium-browser, "
              "google-chrome); scripts/setup.sh installs Debian's chromium", file=sys.stderr)
        sys.exit(77)
    svc.main()
