"""tests/service/test_faults.py: `mctx serve` on a real PostgreSQL server
(a temporary cluster this test starts and stops, pgtmp.py) while things go
wrong:

  - the database is down when the service starts: it starts, is ready for
    searches, reports the database as degraded (/health/ready, /metrics),
    answers searches, keeps their records in the spool, and lands every one
    of them once the database is started;
  - the database is stopped while the service answers N searches: all N
    records arrive after it comes back;
  - the service is killed with SIGKILL with records in its spool (the
    database down): all arrive after a restart;
  - and never a duplicate: history rows = distinct request ids = the daily
    statistics' count.

Skips, saying why, when no PostgreSQL server can be started here.

Usage: python3 test_faults.py BUILD/mctx
"""

import shutil
import signal
import sys
import tempfile
import threading
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import pgtmp  # noqa: E402
import svc  # noqa: E402
from svc import Server, small_request  # noqa: E402

PG = None
PG_WHY = None


def setUpModule():
    global PG, PG_WHY
    try:
        PG = pgtmp.start()
    except pgtmp.Unavailable as e:
        PG_WHY = str(e)


def tearDownModule():
    if PG:
        PG.destroy()


def search_all(srv, ids, seed0=0):
    """Posts one small search per id from 4 threads; returns {id: Response}."""
    out = {}
    lock = threading.Lock()
    todo = list(enumerate(ids))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i, rid = todo.pop()
            r = srv.search(small_request(seed=seed0 + i), headers={"X-Request-ID": rid})
            with lock:
                out[rid] = r

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(svc.WAIT_S)
    return out


class FaultTest(unittest.TestCase):
    def setUp(self):
        if not PG:
            self.skipTest("no PostgreSQL server could be started: %s" % PG_WHY)
        if not PG.running:
            self.assertEqual(PG.start_server(), 0, "the test cluster does not restart")
        self.dir = tempfile.mkdtemp(prefix="mctx-faults-")
        self.db = self.id().split(".")[-1].lower()
        self.url = PG.create_db(self.db)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def serve(self, *flags, **kw):
        srv = Server("--db", self.url, "--drain-timeout-ms", "2000", *flags, data_dir=self.dir,
                     env={"MCTX_DB_POOL": "2"}, **kw)
        self.servers.append(srv)
        return srv

    def assert_landed_once(self, ids):
        """Every id is in the history exactly once, and counted once."""
        rows = PG.sql(self.db, "SELECT count(*), count(DISTINCT request_id) FROM mctx_search_history")
        total, distinct = (int(x) for x in rows.split("|"))
        self.assertEqual(total, distinct, "duplicate history rows")
        self.assertEqual(total, len(ids))
        got = set(PG.sql(self.db, "SELECT request_id FROM mctx_search_history").split())
        self.assertEqual(got, set(ids))
        counted = int(PG.sql(self.db, "SELECT coalesce(sum(search_count), 0) FROM mctx_search_statistics"))
        self.assertEqual(counted, len(ids), "the daily statistics counted a record twice or not at all")

    def wait_landed(self, srv, n):
        srv.wait_metric("mctx_db_records_written_total", lambda v: v >= n)
        srv.wait_metric("mctx_db_spool_depth", lambda v: v == 0)

    def test_database_down_at_start(self):
        self.assertEqual(PG.stop_server(), 0)
        srv = self.serve()
        srv.wait_log(lambda l: l.get("msg", "").startswith("the database does not answer"))
        # ready for searches, the database reported as degraded
        r = srv.wait_until(lambda: (lambda x: x if x.json["database"]["status"] == "degraded" else None)(
            srv.get("/health/ready")), "the database reported as degraded")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ready")
        self.assertEqual(r.json["database"]["backend"], "postgresql")
        self.assertIn("last_error", r.json["database"])
        self.assertEqual(srv.metrics()["mctx_db_up"], 0)
        self.assertEqual(srv.get("/api/v1/mcts/health").json["database"]["status"], "degraded")
        ids = ["down-at-start-%d" % i for i in range(40)]
        res = search_all(srv, ids)
        for rid in ids:
            self.assertEqual(res[rid].status, 200, res[rid])
        m = srv.wait_metric("mctx_db_spool_depth", lambda v: v == len(ids))
        self.assertEqual(m["mctx_db_records_written_total"], 0)
        self.assertGreater(m["mctx_db_spool_oldest_age_seconds"], 0)
        # history reads need the database: 503 with the envelope
        r = srv.get("/api/v1/searches")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["status_code"], 503)
        self.assertIsNotNone(r.header("Retry-After"))
        # the database comes back: every record lands, once
        self.assertEqual(PG.start_server(), 0)
        self.wait_landed(srv, len(ids))
        srv.wait_metric("mctx_db_up", lambda v: v == 1)
        self.assertEqual(srv.get("/health/ready").json["database"]["status"], "ok")
        r = srv.get("/api/v1/searches?limit=1000")
        self.assertEqual(r.status, 200, r)
        self.assertEqual({x["request_id"] for x in r.json["searches"]}, set(ids))
        self.assertEqual(srv.stop(), 0)
        self.assert_landed_once(ids)

    def test_database_stopped_while_answering(self):
        srv = self.serve()
        first = ["before-%d" % i for i in range(10)]
        for rid, r in search_all(srv, first).items():
            self.assertEqual(r.status, 200, r)
        self.wait_landed(srv, len(first))
        self.assertEqual(PG.stop_server(), 0)
        ids = ["while-down-%d" % i for i in range(120)]
        res = search_all(srv, ids, seed0=100)
        for rid in ids:
            self.assertEqual(res[rid].status, 200, res[rid])
        srv.wait_metric("mctx_db_up", lambda v: v == 0)
        r = srv.get("/health/ready")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["database"]["status"], "degraded")
        self.assertEqual(PG.start_server(), 0)
        self.wait_landed(srv, len(first) + len(ids))
        srv.wait_metric("mctx_db_up", lambda v: v == 1)
        self.assertEqual(srv.stop(), 0)
        self.assert_landed_once(first + ids)

    def test_sigkill_with_records_in_the_spool(self):
        self.assertEqual(PG.stop_server(), 0)
        srv = self.serve()
        ids = ["killed-%d" % i for i in range(60)]
        res = search_all(srv, ids)
        for rid in ids:
            self.assertEqual(res[rid].status, 200, res[rid])
        # every answered search's record is on disk (the default): no waiting
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=svc.WAIT_S)
        self.assertEqual(PG.start_server(), 0)
        srv = self.serve()
        self.wait_landed(srv, len(ids))
        r = srv.get("/api/v1/searches?limit=1000")
        self.assertEqual({x["request_id"] for x in r.json["searches"]}, set(ids))
        self.assertEqual(srv.stop(), 0)
        # and once more: a restart with nothing left replays nothing twice
        srv = self.serve()
        self.assertEqual(srv.metrics()["mctx_db_spool_depth"], 0)
        self.assertEqual(srv.stop(), 0)
        self.assert_landed_once(ids)


if __name__ == "__main__":
    try:
        svc.main()
    except SystemExit as e:
        if PG_WHY and e.code in (0, None):
            print("SKIP: no PostgreSQL server could be started: %s" % PG_WHY, file=sys.stderr)
            sys.exit(77)  # ctest: skipped
        raise
