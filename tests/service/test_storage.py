"""tests/service/test_storage.py: what `mctx serve` keeps, on SQLite:

  - stored trees: a request with "store_tree": true (or a search over
    --store-trees-over nodes) is readable at GET /api/v1/searches/{id}/tree,
    in the nested format by default and as arrays, equal to the tree the
    same search returns with return_tree; it lands exactly once (one row in
    MCTX_SEARCH_TREES); the history routes' rules (404s, another user's
    search, bad format);
  - records are on disk before a search answers by default (SIGKILL right
    after the answers loses none) and, with --record-before-reply false,
    just after (SIGTERM still loses none); the recorder's group appends are
    counted on /metrics;
  - the spool's disk full (a tiny --spool-max-bytes while the database
    refuses writes): searches still answer, and every record that could not
    be kept is counted (mctx_db_records_dropped_total), never silently.

Usage: python3 test_storage.py BUILD/mctx
"""

import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import svc  # noqa: E402
from svc import Server, ServiceTest, small_request  # noqa: E402

ADMIN = "admin-key-0123456789"
ALICE = "alice-key-0123456789"
BOB = "bob-key-01234567890"


def tree_request(seed, store=True, **extra):
    req = small_request(seed=seed, sims=8, actions=4, batch=2, **extra)
    if store:
        req["store_tree"] = True
    return req


def db_rows(path, sql):
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class TreeTest(ServiceTest):
    FLAGS = ("--store-trees-over", "200")
    ENV = {"MCTX_API_KEYS": "%s:admin:ops,%s:user:alice,%s:user:bob" % (ADMIN, ALICE, BOB)}

    def get(self, path, key=ALICE):
        return self.srv.get(path, headers={"X-API-Key": key})

    def search(self, req, rid, key=ALICE):
        r = self.srv.search(req, headers={"X-API-Key": key, "X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        return r

    def wait_tree(self, rid, fmt="", key=ALICE):
        q = "?format=" + fmt if fmt else ""
        return self.srv.wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            self.get("/api/v1/searches/%s/tree%s" % (rid, q), key)), "the stored tree of " + rid)

    def test_stored_tree_equals_the_returned_tree(self):
        self.search(tree_request(7), "tree-1")
        for fmt in ("nested", "arrays"):
            want = self.search(tree_request(7, store=False, return_tree=fmt), "tree-1-" + fmt).json["search_tree"]
            r = self.wait_tree("tree-1", fmt if fmt == "arrays" else "")
            self.assertEqual(r.json["request_id"], "tree-1")
            self.assertEqual(r.json["format"], fmt)
            self.assertEqual(r.json["tree"], want)
        nested = self.wait_tree("tree-1").json["tree"]
        self.assertEqual(len(nested), 2)  # one per batch element
        self.assertEqual(nested[0]["visit"], 9)  # the root: 8 simulations + 1

    def test_tree_errors_and_visibility(self):
        self.search(tree_request(8), "tree-2")
        self.wait_tree("tree-2")
        # the same rules as the history routes
        r = self.get("/api/v1/searches/tree-2/tree", BOB)
        self.assertEnvelope(r, 404, "request_id")
        self.assertEqual(self.wait_tree("tree-2", key=ADMIN).json["request_id"], "tree-2")
        self.assertEnvelope(self.srv.get("/api/v1/searches/tree-2/tree"), 401)
        self.assertEnvelope(self.get("/api/v1/searches/tree-2/tree?format=dot"), 400, "format")
        self.assertEnvelope(self.get("/api/v1/searches/no-such-search/tree"), 404, "request_id")
        # a recorded search that stored no tree
        self.search(tree_request(9, store=False), "no-tree")
        self.srv.wait_until(lambda: self.get("/api/v1/searches/no-tree").status == 200, "the record of no-tree")
        self.assertEnvelope(self.get("/api/v1/searches/no-tree/tree"), 404, "tree")

    def test_size_threshold(self):
        # batch 4 x (64 + 1) nodes = 260 >= 200: stored without asking
        req = small_request(seed=3, sims=64, actions=4, batch=4)
        self.search(req, "big-1")
        self.assertEqual(len(self.wait_tree("big-1").json["tree"]), 4)
        # batch 1 x 33 nodes: not stored
        self.search(small_request(seed=4), "small-1")
        self.srv.wait_until(lambda: self.get("/api/v1/searches/small-1").status == 200, "the record of small-1")
        self.assertEnvelope(self.get("/api/v1/searches/small-1/tree"), 404, "tree")

    def test_lands_exactly_once(self):
        ids = ["once-%d" % i for i in range(6)]
        for i, rid in enumerate(ids):
            self.search(tree_request(20 + i), rid)
        for rid in ids:
            self.wait_tree(rid)
        # the same request id again: the record and its tree land once
        self.search(tree_request(20), ids[0])
        self.srv.wait_metric("mctx_db_spool_depth", lambda v: v == 0, headers={"X-API-Key": ADMIN})
        db = os.path.join(self.srv.dir, "mctx.db")
        rows = db_rows(db, "SELECT REQUEST_ID, COUNT(*) FROM MCTX_SEARCH_TREES WHERE REQUEST_ID LIKE 'once-%' "
                           "GROUP BY REQUEST_ID")
        self.assertEqual(sorted(r[0] for r in rows), sorted(ids))
        self.assertTrue(all(r[1] == 1 for r in rows))
        m = self.srv.metrics(headers={"X-API-Key": ADMIN})
        self.assertGreaterEqual(m["mctx_trees_stored_total"], len(ids) + 1)
        self.assertEqual(m["mctx_trees_skipped_total"], 0)


class RecordTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mctx-storage-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def send(self, srv, ids, seed0=0):
        res = {}

        def one(i, rid):
            res[rid] = srv.search(small_request(seed=seed0 + i), headers={"X-Request-ID": rid})

        threads = [threading.Thread(target=one, args=(i, rid)) for i, rid in enumerate(ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(svc.WAIT_S)
        for rid in ids:
            self.assertEqual(res[rid].status, 200, res[rid])

    def listed(self, srv):
        r = srv.get("/api/v1/searches?limit=1000")
        self.assertEqual(r.status, 200, r)
        return [x["request_id"] for x in r.json["searches"]]

    def test_records_on_disk_before_the_answer_by_default(self):
        ids = ["default-durable-%d" % i for i in range(30)]
        srv = Server(data_dir=self.dir)
        try:
            self.assertEqual(srv.wait_log(lambda l: l.get("msg") == "ready")["record_before_reply"], "true")
            self.send(srv, ids)
            m = srv.metrics()
            # one append per group of records, never more appends than records
            self.assertGreaterEqual(m["mctx_db_spool_group_records_total"], len(ids))
            self.assertLessEqual(m["mctx_db_spool_group_appends_total"], m["mctx_db_spool_group_records_total"])
            self.assertEqual(m["mctx_db_record_queue"], 0)
            srv.proc.kill()  # SIGKILL: no drain, no flush
            srv.proc.wait(timeout=svc.WAIT_S)
        finally:
            srv.close()
        srv = Server(data_dir=self.dir)
        try:
            got = srv.wait_until(lambda: (lambda x: x if set(ids) <= set(x) else None)(self.listed(srv)),
                                 "every answered search's record after SIGKILL")
            self.assertEqual(len(got), len(set(got)))
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_sync_interval_groups_records(self):
        # --spool-sync-interval-us: a group starts at most that often, so
        # concurrent searches share fsyncs; every record is still on disk
        # before its answer (kept across SIGKILL)
        ids = ["interval-%d" % i for i in range(40)]
        srv = Server("--spool-sync-interval-us", "200000", data_dir=self.dir)
        try:
            self.assertEqual(srv.wait_log(lambda l: l.get("msg") == "ready")["spool_sync_interval_us"], 200000)
            t0 = time.monotonic()
            self.send(srv, ids)
            elapsed = time.monotonic() - t0
            m = srv.metrics()
            self.assertGreaterEqual(m["mctx_db_spool_group_records_total"], len(ids))
            self.assertLessEqual(m["mctx_db_spool_group_appends_total"], elapsed / 0.2 + 2,
                                 "appends %d in %.2f s" % (m["mctx_db_spool_group_appends_total"], elapsed))
            srv.proc.kill()
            srv.proc.wait(timeout=svc.WAIT_S)
        finally:
            srv.close()
        srv = Server(data_dir=self.dir)
        try:
            srv.wait_until(lambda: set(ids) <= set(self.listed(srv)), "every answered search's record after SIGKILL")
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_record_after_reply(self):
        ids = ["after-reply-%d" % i for i in range(20)]
        srv = Server("--record-before-reply=false", data_dir=self.dir)
        try:
            self.assertEqual(srv.wait_log(lambda l: l.get("msg") == "ready")["record_before_reply"], "false")
            self.send(srv, ids)
            self.assertEqual(srv.stop(signal.SIGTERM), 0)  # the drain appends every queued record
        finally:
            srv.close()
        srv = Server(data_dir=self.dir, env={"MCTX_RECORD_BEFORE_REPLY": "false"})
        try:
            srv.wait_until(lambda: set(ids) <= set(self.listed(srv)), "every record after SIGTERM")
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_spool_disk_full(self):
        db = os.path.join(self.dir, "mctx.db")
        srv = Server("--spool-max-bytes", "6K", data_dir=self.dir, env={"MCTX_SQLITE_BUSY_MS": "20"})
        lock = None
        try:
            self.assertEqual(srv.search(small_request(seed=99), headers={"X-Request-ID": "full-first"}).status, 200)
            srv.wait_metric("mctx_db_records_written_total", lambda v: v >= 1)
            # the database refuses writes (its write lock is held), so the spool fills up
            lock = sqlite3.connect(db, timeout=30, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            ids = ["full-%d" % i for i in range(40)]
            for i, rid in enumerate(ids):  # one at a time: each answers, kept or not
                r = srv.search(small_request(seed=i), headers={"X-Request-ID": rid})
                self.assertEqual(r.status, 200, r)
            m = srv.metrics()
            appended = m["mctx_db_records_appended_total"] - 1
            dropped = m["mctx_db_records_dropped_total"]
            self.assertGreater(dropped, 0)
            self.assertGreater(appended, 0)
            self.assertEqual(appended + dropped, len(ids))  # every record counted, kept or not
            srv.wait_log(lambda l: l.get("msg") == "records not kept by the spool")
            srv.wait_log(lambda l: l.get("note") == "record_not_kept")
            lock.execute("ROLLBACK")
            lock.close()
            lock = None
            srv.wait_metric("mctx_db_spool_depth", lambda v: v == 0)
            landed = [x for x in self.listed(srv) if x.startswith("full-") and x != "full-first"]
            self.assertEqual(len(landed), appended)
            self.assertEqual(srv.stop(), 0)
        finally:
            if lock:
                lock.close()
            srv.close()


if __name__ == "__main__":
    svc.main()
