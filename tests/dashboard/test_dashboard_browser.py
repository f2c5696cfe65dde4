"""tests/dashboard/test_dashboard_browser.py: the dashboard in headless
Chromium, against a real `mctx serve` that has answered searches.

The service (tests/service/svc.py) answers a known set of searches (three
search types, GPU-optimized and distributed flags, trees in both formats, a
10,000-node tree) and one bad request; the test then loads /dashboard in
Chromium over the DevTools protocol (cdp.py) and checks that what the page
holds, in its DOM and in window.mctxDash.state, is that data: the live
figures against /metrics (and, while searches come in, every Live figure,
non-zero rates, latency percentiles, in flight, queue depth and database
backlog, against the very /metrics answer the page read, captured over the
protocol), the daily charts against /api/v1/stats/daily, the searches table
against /api/v1/searches, the recommendations against the product notes'
rules computed here, the tree view's node counts against the tree files and
the stored tree (GET /api/v1/searches/{id}/tree), and its encodings read
back from the canvas (a node with more visits drawn larger, colours along
the legend in the order of the values). With API
keys, the login form, the token kept instead of the key, and the page's
reads made as that user. The console must stay free of errors. Screenshots
go to $MCTX_DASHBOARD_SHOTS (build/dashboard-screenshots).

Skips (exit 77) when no Chromium is installed. No assertion depends on
timing: every wait is for a state of the page, with a bound.
"""

import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest
from decimal import ROUND_HALF_UP, Decimal

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


# ---- /metrics as the page reads it (web/prom.js), and its number formats ----

def prom_parse(text):
    """The Prometheus text as [(name, {label: value}, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def prom_value(samples, name, default=0.0):
    for n, _, v in samples:
        if n == name:
            return v
    return default


def prom_hist(samples, name, **match):
    """{bounds, cum, count} summed over the series whose labels include match."""
    by_le, count = {}, 0.0
    for n, labels, v in samples:
        if any(labels.get(k) != want for k, want in match.items()):
            continue
        if n == name + "_bucket":
            le = float(labels["le"])
            by_le[le] = by_le.get(le, 0.0) + v
        elif n == name + "_count":
            count += v
    bounds = sorted(by_le)
    return {"bounds": bounds, "cum": [by_le[b] for b in bounds], "count": count}


def quantile(h, q):
    """prom.quantile: histogram_quantile's interpolation, None for NaN."""
    bounds, cum = h["bounds"], h["cum"]
    n = cum[-1] if cum else 0
    if not n:
        return None
    rank = q * n
    for i, b in enumerate(bounds):
        if cum[i] >= rank:
            if b == math.inf:
                return bounds[i - 1] if i > 0 else None
            lo = bounds[i - 1] if i > 0 else 0
            below = cum[i - 1] if i > 0 else 0
            in_bucket = cum[i] - below
            return lo + (b - lo) * ((rank - below) / in_bucket) if in_bucket > 0 else b
    return bounds[-2] if len(bounds) > 1 else None


def js_fixed(x, digits):
    """Number.prototype.toFixed (ties away from zero, on the double's exact value)."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def js_precision(x, p):
    """Number.prototype.toPrecision for the magnitudes the page shows (no exponent)."""
    d = Decimal(x)
    e = d.adjusted() if x else 0
    r = d.quantize(Decimal(1).scaleb(e - p + 1), rounding=ROUND_HALF_UP)
    if r and r.adjusted() > e:
        r = d.quantize(Decimal(1).scaleb(e - p + 2), rounding=ROUND_HALF_UP)
    return str(r)


def js_fmt(v):
    """charts.js fmt()."""
    if v is None or v != v:
        return "\u2013"
    a = abs(v)
    if a >= 1e9:
        return js_fixed(v / 1e9, 0 if a >= 1e10 else 1) + "G"
    if a >= 1e6:
        return js_fixed(v / 1e6, 0 if a >= 1e7 else 1) + "M"
    if a >= 1e4:
        return js_fixed(v / 1e3, 0 if a >= 1e5 else 1) + "k"
    if a >= 100 or a == 0:
        return js_fixed(v, 0)
    if a >= 10:
        return js_fixed(v, 1)
    if a >= 1:
        return js_fixed(v, 2)
    return js_precision(v, 2)


def ms_fmt(s):
    """live.js msFmt(): seconds as milliseconds."""
    if s is None:
        return "\u2013"
    v = s * 1e3
    return (js_fixed(v, 0) if v >= 100 else js_precision(v, 3)) + " ms"


def js_int(v):
    """String() of an integral number."""
    assert v == int(v), v
    return str(int(v))


# What the Live tab shows, read in one evaluation (so all of it comes from one
# scrape): the page's state, the tiles, the tables, the rate charts' last
# points, and the scrape that the one-minute window is measured from. Null
# until the page has a scrape newer than %(after)r that counted more than
# %(searches)d searches, with both rates above zero.
LIVE_SNAPSHOT = """(() => {
  const L = mctxDash.live, st = mctxDash.state.live, s = L.last;
  if (!s || s.t <= %(after)r || !(st.searchesTotal > %(searches)d) ||
      !(st.searchesPerS > 0 && st.simulationsPerS > 0)) return null;
  const tile = (k) => {
    const d = document.querySelector('#live-tiles [data-metric=' + k + ']');
    return {value: d.querySelector('.value').textContent, sub: d.querySelector('.sub').textContent};
  };
  const tiles = {};
  for (const k of ['searches_per_s', 'simulations_per_s', 'in_flight', 'queue_depth', 'p99_compute', 'db_backlog'])
    tiles[k] = tile(k);
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')].map((tr) =>
    [...tr.cells].map((c) => c.textContent));
  const last = (chart, series) =>
    document.querySelector('[data-chart=' + chart + '] path[data-series="' + series + '"]').dataset.last;
  let base = null, gap = Infinity;
  for (const x of L.samples) {
    const d = Math.abs(x.t - (s.t - st.latency.windowS * 1000));
    if (x !== s && d < gap) { gap = d; base = x; }
  }
  const cum = (x) => ({queue: x.h.queue.cum, compute: x.h.compute.cum, request: x.h.request.cum,
                       counts: {queue: x.h.queue.count, compute: x.h.compute.count, request: x.h.request.count}});
  return {t: s.t, uptime: s.m.get('mctx_uptime_seconds')[0].value, state: st, tiles,
          latency: rows('latency-table'), db: rows('db-table'),
          lines: {searches: last('live-searches', 'searches/s'),
                  simulations: last('live-simulations', 'simulations/s')},
          base: st.latency.windowS > 0 ? cum(base) : null};
})()"""


def encodings_tree():
    """A search result holding a hand-made nested tree: the root (111 visits,
    value 0) with a child of 100 visits and value -0.8 (action 0), one of 10
    visits and value 0.8 (action 1, the chosen action) and one never
    expanded (action 2)."""
    def node(action, visit, value, prior, index):
        return {"action": action, "prior": prior, "visit": visit, "value_view": value, "raw_value_view": value,
                "reward": 0.0, "evaluation_index": index, "child_stats": []}
    root = {"prior": 1.0, "visit": 111, "value_view": 0.0, "raw_value_view": 0.0, "evaluation_index": 0,
            "child_stats": [node(0, 100, -0.8, 0.6, 1), node(1, 10, 0.8, 0.3, 2), {"action": 2, "prior": 0.1}]}
    return {"action": [1], "search_tree": [root]}


# Per node of the tree view: the centre's colour and the radius of the disc
# drawn there (in CSS pixels, scanning up from the centre while the pixels
# keep its colour), the radius treeview.js meant, and where that colour sits
# on the legend (its x on the legend canvas, and how far the nearest swatch
# colour is). Everything read back from the two canvases' pixels.
TREE_PIXELS = """(() => {
  const v = mctxDash.treeView, t = v.t, c = v.canvas, dpr = c.width / v.w;
  const img = v.ctx.getImageData(0, 0, c.width, c.height), W = c.width, H = c.height;
  const at = (x, y) => { const i = 4 * (y * W + x); return [...img.data.slice(i, i + 4)]; };
  const lg = document.getElementById('tree-legend'), lctx = lg.getContext('2d');
  const strip = lctx.getImageData(0, 12, lg.width, 1).data;
  const dist = (a, b) => Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
  const out = [];
  for (let n = 0; n < t.n; n++) {
    const px = Math.floor((v.X[n] * v.k + v.tx) * dpr), py = Math.floor((v.Y[n] * v.k + v.ty) * dpr);
    const rgba = at(px, py);
    let up = 0;
    for (let y = py - 1; y >= 0; y--) {
      const p = at(px, y);
      if (p[3] < 128 || dist(p, rgba) > 40) break;
      up++;
    }
    let lx = -1, ld = Infinity;
    for (let x = 10; x < lg.width - 10; x++) {
      const d = dist([strip[4 * x], strip[4 * x + 1], strip[4 * x + 2]], rgba);
      if (d < ld) { ld = d; lx = x; }
    }
    out.push({action: t.action[n], visits: t.visits[n], value: t.value[n], rgba, drawnRadius: (up + 0.5) / dpr,
              radius: v.radius(n), legendX: lx, legendDist: ld});
  }
  return {nodes: out, vlo: v.vlo, vhi: v.vhi, legendWidth: lg.width};
})()"""


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

    def set_refresh(self, ms):
        self.page.eval("{ const r = document.getElementById('refresh-every'); r.value = '%d';"
                       " r.dispatchEvent(new Event('change')); }" % ms)

    def test_1b_live_shows_the_scrape_it_read(self):
        """With searches coming in, the rates are above zero, and every figure of
        the Live tab (rates, latency percentiles, in flight, queue depth, the
        database backlog) is the one of the /metrics answer the page read: the
        answers are captured over the DevTools protocol (Network domain) and
        matched to the page's scrape by mctx_uptime_seconds."""
        s, page = self.srv, self.page
        page.call("Network.enable")
        stop, errors, done = threading.Event(), [], [0]

        def load():
            while not stop.is_set():
                try:
                    r = s.search(svc.small_request(seed=1000 + done[0]))
                except Exception as e:          # noqa: BLE001 (reported below)
                    errors.append(repr(e))
                    return
                if r.status != 200:
                    errors.append(repr(r))
                    return
                done[0] += 1
                stop.wait(0.2)      # a trickle: a few more rows in the history, not a flood

        bodies, fetched = {}, set()

        def scraped_bodies():
            """The /metrics answers the page has read since Network.enable, by uptime."""
            page.pump()
            events = list(page.events)      # a response's events come before its loadingFinished
            urls = {e["params"]["requestId"]: e["params"]["response"]["url"] for e in events
                    if e.get("method") == "Network.responseReceived"}
            for e in events:
                rid = e.get("params", {}).get("requestId")
                if e.get("method") != "Network.loadingFinished" or rid in fetched:
                    continue
                fetched.add(rid)
                if not urls.get(rid, "").endswith("/metrics"):
                    continue
                body = page.call("Network.getResponseBody", requestId=rid)
                self.assertFalse(body.get("base64Encoded"))
                samples = prom_parse(body["body"])
                bodies.setdefault(prom_value(samples, "mctx_uptime_seconds"), []).append(samples)
            return bodies

        loader = threading.Thread(target=load, daemon=True)
        try:
            after, before = self.dom("mctxDash.live.last.t"), self.ok
            loader.start()
            self.set_refresh(1000)
            deadline = time.monotonic() + svc.WAIT_S
            while True:
                snap = page.wait_for(LIVE_SNAPSHOT % {"after": after, "searches": before},
                                     "a scrape with this test's searches, searches/s and simulations/s above zero")
                found = scraped_bodies().get(snap["uptime"], [])
                if len(found) == 1:
                    break
                # the answer to a scrape asked before Network.enable: take the next
                self.assertLess(time.monotonic(), deadline, "no /metrics answer captured for the page's scrape")
                after = snap["t"]
        finally:
            stop.set()
            loader.join(svc.WAIT_S)
            type(self).ok += done[0]
            self.set_refresh(2000)
            page.call("Network.disable")
        self.assertEqual(errors, [])
        self.assertGreater(done[0], 0)
        m = found[0]
        st = snap["state"]
        val = lambda name: prom_value(m, name)      # noqa: E731

        # rates: above zero, the scrape's, in the tiles and at the end of the charts
        sps, sims = val("mctx_searches_per_second"), val("mctx_simulations_per_second")
        self.assertGreater(sps, 0)
        self.assertGreater(sims, 0)
        self.assertEqual(st["searchesPerS"], sps)
        self.assertEqual(st["simulationsPerS"], sims)
        self.assertEqual(snap["tiles"]["searches_per_s"]["value"], js_fmt(sps))
        self.assertEqual(snap["tiles"]["simulations_per_s"]["value"], js_fmt(sims))
        self.assertEqual(float(snap["lines"]["searches"]), sps)
        self.assertEqual(float(snap["lines"]["simulations"]), sims)
        searches = sum(v for n, _, v in m if n == "mctx_searches_total")
        self.assertEqual(st["searchesTotal"], searches)
        self.assertEqual(snap["tiles"]["searches_per_s"]["sub"], "%s searches since start" % js_int(searches))
        self.assertEqual(snap["tiles"]["simulations_per_s"]["sub"],
                         "%s simulations" % js_fmt(val("mctx_simulations_total")))

        # latency: p50/p95/p99 since the start and over the window, queue wait
        # and compute apart, and the whole request, in the state and the table
        hists = {"queue": prom_hist(m, "mctx_search_queue_seconds"),
                 "compute": prom_hist(m, "mctx_search_compute_seconds"),
                 "request": prom_hist(m, "mctx_http_request_duration_seconds", route="/api/v1/mcts/search")}
        self.assertGreaterEqual(hists["queue"]["count"], searches)
        table = {r[0]: r[1:] for r in snap["latency"]}
        self.assertEqual(sorted(table), ["compute", "queue wait", "whole request"])
        wins = {}
        for k, label in (("queue", "queue wait"), ("compute", "compute"), ("request", "whole request")):
            h = hists[k]
            self.assertGreater(h["count"], 0, k)
            total = st["latency"]["total"][k]
            self.assertEqual(total["count"], h["count"], k)
            # the window: this scrape less the one about a minute before it
            # (the oldest kept, early on), bucket by bucket
            b = snap["base"]
            win = wins[k] = h if b is None else {"cum": [c - bc for c, bc in zip(h["cum"], b[k])],
                                                 "bounds": h["bounds"], "count": h["count"] - b["counts"][k]}
            window = st["latency"]["window"][k]
            self.assertEqual(window["count"], win["count"], k)
            want = []
            for hh, got in ((win, window), (h, total)):
                for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                    p = quantile(hh, q)
                    if p is None:
                        self.assertIsNone(got[key], (k, key))
                    else:
                        self.assertAlmostEqual(got[key], p, delta=1e-12, msg=(k, key))
                    want.append(ms_fmt(p))
                want.append(js_int(hh["count"]))
            self.assertEqual(table[label], want, label)
        self.assertGreater(st["latency"]["total"]["queue"]["p99"], 0)
        self.assertEqual(snap["tiles"]["p99_compute"]["value"], ms_fmt(quantile(wins["compute"], 0.99)))
        self.assertEqual(snap["tiles"]["p99_compute"]["sub"], "p99 queue " + ms_fmt(quantile(wins["queue"], 0.99)))

        # in flight (the page's own scrape is one), running, queue depth
        self.assertEqual(st["inFlight"], val("mctx_http_in_flight"))
        self.assertGreaterEqual(st["inFlight"], 1)
        self.assertEqual(st["running"], val("mctx_searches_running"))
        self.assertEqual(st["queueDepth"], val("mctx_queue_depth"))
        self.assertEqual(st["queueCapacity"], val("mctx_queue_capacity"))
        self.assertEqual(snap["tiles"]["in_flight"]["value"], js_int(val("mctx_http_in_flight")))
        self.assertEqual(snap["tiles"]["in_flight"]["sub"],
                         "%s searches running" % js_int(val("mctx_searches_running")))
        self.assertEqual(snap["tiles"]["queue_depth"]["value"], js_int(val("mctx_queue_depth")))
        self.assertEqual(snap["tiles"]["queue_depth"]["sub"], "of %s" % js_int(val("mctx_queue_capacity")))

        # the database: backlog (spool + record queue), its panel's rows
        spool, queued = val("mctx_db_spool_depth"), val("mctx_db_record_queue")
        age, up = val("mctx_db_spool_oldest_age_seconds"), prom_value(m, "mctx_db_up", 1)
        self.assertEqual(st["dbBacklog"], spool + queued)
        self.assertEqual(snap["tiles"]["db_backlog"]["value"], js_int(spool + queued))
        self.assertEqual(snap["tiles"]["db_backlog"]["sub"],
                         "%s; oldest %s s" % ("db up" if up else "db DOWN", js_fixed(age, 1)))
        db = dict(snap["db"])
        self.assertEqual(db["database"], "up" if up else "down")
        self.assertEqual(db["records waiting in the spool"], js_int(spool))
        self.assertEqual(db["records waiting to enter it"], js_int(queued))
        self.assertEqual(db["oldest waiting"], js_fixed(age, 1) + " s")
        self.assertEqual(db["written since start"], js_int(val("mctx_db_records_written_total")))
        self.assertGreater(val("mctx_db_records_written_total"), 0)
        self.assertEqual(db["dropped"], js_int(val("mctx_db_records_dropped_total")))
        self.assertEqual(db["write retries"], js_int(val("mctx_db_write_retries_total")))
        print("live, searches during the test: %d; %s searches/s, %s simulations/s, in flight %d, queue %d, "
              "backlog %d; queue wait p95 %s over the last %.0f s (%d searches), %s since the start"
              % (done[0], js_fmt(sps), js_fmt(sims), st["inFlight"], st["queueDepth"], st["dbBacklog"],
                 ms_fmt(quantile(wins["queue"], 0.95)), st["latency"]["windowS"], wins["queue"]["count"],
                 ms_fmt(quantile(hists["queue"], 0.95))), file=sys.stderr)
        # every search of this test recorded before the history is read
        s.wait_until(lambda: s.get("/api/v1/searches?limit=1000").json["count"] >= self.ok, "every search recorded")

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

    def test_3b_tree_size_by_visits_colour_by_value(self):
        """On a hand-made tree, read back from the canvas: the node with more
        visits is drawn larger, and the nodes' colours lie on the legend in the
        order of their values (blue low on its left, red high on its right)."""
        self.page.eval("location.hash = '#tree'")
        self.page.wait_for("!document.getElementById('tab-tree').hidden", "the tree tab")
        with open(os.path.join(self.tmp, "encodings.json"), "w") as f:
            json.dump(encodings_tree(), f)
        t = self.load_tree_file("encodings.json")
        self.assertEqual(t["nodeCount"], 3)
        self.assertEqual(t["chosenAction"], 1)
        f = self.dom("mctxDash.state.tree.frames")
        self.page.eval("document.getElementById('tree-expand-all').click()")
        self.page.wait_for("mctxDash.state.tree.visibleCount === 3", "every node open")
        self.page.wait_for(self.FRAME % f, "a frame")
        px = self.dom(TREE_PIXELS)
        nodes = {n["action"]: n for n in px["nodes"]}           # -1: the root
        root, big, small = nodes[-1], nodes[0], nodes[1]
        self.assertEqual((root["visits"], big["visits"], small["visits"]), (111, 100, 10))
        self.assertEqual((root["value"], big["value"], small["value"]), (0, -0.8, 0.8))
        # size: the radius grows with the visits, and the disc on the canvas is that size
        self.assertGreater(big["radius"], small["radius"])
        self.assertGreater(root["radius"], big["radius"])
        for n in (root, big, small):
            self.assertEqual(n["rgba"][3], 255, n)                  # a node's fill at its centre
            self.assertAlmostEqual(n["drawnRadius"], n["radius"], delta=1.5, msg=n)
        self.assertGreater(big["drawnRadius"], small["drawnRadius"] + 2)
        self.assertGreater(root["drawnRadius"], small["drawnRadius"] + 2)
        # colour: values of both signs, so the scale is symmetric about 0;
        # each node's colour is a swatch of the legend, further right for a
        # higher value: -0.8 blue at the left end, 0 grey in the middle, 0.8
        # red at the right end
        self.assertEqual((px["vlo"], px["vhi"]), (-0.8, 0.8))
        for n in (root, big, small):
            self.assertLessEqual(n["legendDist"], 3, n)
        self.assertLess(big["legendX"], root["legendX"])
        self.assertLess(root["legendX"], small["legendX"])
        self.assertLess(big["legendX"], px["legendWidth"] * 0.25)
        self.assertGreater(small["legendX"], px["legendWidth"] * 0.75)
        self.assertNotEqual(big["rgba"], small["rgba"])
        self.assertGreater(big["rgba"][2], big["rgba"][0] + 60)       # blue
        self.assertGreater(small["rgba"][0], small["rgba"][2] + 60)   # red

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
        required = "chromium" in os.environ.get("MCTX_TEST_REQUIRE", "") or "all" in os.environ.get(
            "MCTX_TEST_REQUIRE", "")
        print("%s: no Chromium (looked for $MCTX_CHROMIUM, /usr/bin/chromium, chromium, chromium-browser, "
              "google-chrome); scripts/setup.sh installs Debian's chromium%s" %
              ("FAIL" if required else "SKIP", " (MCTX_TEST_REQUIRE names chromium)" if required else ""),
              file=sys.stderr)
        sys.exit(1 if required else 77)
    svc.main()
