"""tests/reliability/test_faults.py: `mctx serve` when its environment
fails (docs/RELIABILITY.md, "Faults"). The database going away and coming
back, and SIGKILL with records in the spool, are tests/service/test_faults.py
(a temporary PostgreSQL server); the spool's own cap is
tests/service/test_storage.py. This file adds:

  - the disk full, for real: the data folder (spool and SQLite database) on
    a 2 MiB tmpfs that the test fills. Every search still answers 200; every
    record is accounted for (kept in the spool, or counted in
    mctx_db_records_dropped_total with its request's log line noting
    record_not_kept); once space is freed, every kept record lands and new
    ones are kept again. Needs root (mount); skipped otherwise.
  - SIGTERM under load, with records written before and after the reply:
    every request that was answered 200 has its history row after the
    restart; the others were refused with 503 (draining) or never
    connected; nothing else.
  - memory exhausted: the service under an address-space limit (RLIMIT_AS)
    gets a search whose tree fits --max-tree-bytes but not the memory:
    it answers 503 with the error envelope saying so and serves on (skipped
    under AddressSanitizer, which cannot run under RLIMIT_AS). A tree over
    --max-tree-bytes is refused with 400 before anything is allocated.
  - a model that fails or returns NaN (the example plugin's "fail" and "nan"
    switches, and an mlp whose weights hold NaN): that request answers 500
    naming the model, the service serves on, nothing is recorded for it.

Usage: python3 test_faults.py BUILD/mctx
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "service"))
import svc  # noqa: E402
from svc import Server, small_request  # noqa: E402


def sanitized(binary):
    """Whether the binary was built with AddressSanitizer."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small tmpfs needs root")
        self.mnt = tempfile.mkdtemp(prefix="mctx-diskfull-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.mnt], capture_output=True,
                           text=True)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.close()
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        os.rmdir(self.mnt)

    def fill(self):
        """Fills the file system; returns the filler's path."""
        path = os.path.join(self.mnt, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        if os.write(fd, b"\0" * size) < size:
                            break
                    except OSError:
                        break
        finally:
            os.close(fd)
        st = os.statvfs(self.mnt)
        self.assertLess(st.f_bavail * st.f_frsize, 8192)
        return path

    def search_ids(self, ids, seed0):
        for i, rid in enumerate(ids):
            r = self.srv.search(small_request(seed=seed0 + i), headers={"X-Request-ID": rid})
            self.assertEqual(r.status, 200, r)

    def listed(self):
        r = self.srv.get("/api/v1/searches?limit=1000")
        self.assertEqual(r.status, 200, r)
        return {x["request_id"] for x in r.json["searches"]}

    def test_disk_full(self):
        self.srv = Server("--spool-max-bytes", "64M", "--drain-timeout-ms", "2000", data_dir=self.mnt,
                          env={"MCTX_SQLITE_BUSY_MS": "50"})
        before = ["before-full-%d" % i for i in range(5)]
        self.search_ids(before, 0)
        self.srv.wait_metric("mctx_db_records_written_total", lambda v: v >= len(before))
        filler = self.fill()
        m0 = self.srv.metrics()
        full = ["while-full-%d" % i for i in range(60)]
        self.search_ids(full, 100)  # every search answers
        self.assertEqual(self.srv.get("/health/ready").status, 200)
        m = self.srv.metrics()
        appended = m["mctx_db_records_appended_total"] - m0["mctx_db_records_appended_total"]
        dropped = m["mctx_db_records_dropped_total"] - m0["mctx_db_records_dropped_total"]
        self.assertEqual(appended + dropped, len(full), "a record neither kept nor counted")
        self.assertGreater(dropped, 0, "the disk was full, yet every record was kept")
        line = self.srv.wait_log(lambda l: l.get("msg") == "records not kept by the spool")
        self.assertTrue(line.get("reason"), line)
        not_kept = {l["request_id"] for l in self.srv.lines
                    if l.get("msg") == "request" and l.get("note") == "record_not_kept"}
        self.assertEqual(len(not_kept), dropped, "each dropped record's request says so in its log line")
        # space comes back: what was kept lands, and new records are kept again
        os.unlink(filler)
        after = ["after-full-%d" % i for i in range(5)]
        self.search_ids(after, 200)
        kept = set(before) | (set(full) - not_kept) | set(after)
        self.srv.wait_until(lambda: kept <= self.listed(), "every kept record in the database")
        self.assertFalse(not_kept & self.listed(), "a record counted as dropped landed anyway")
        self.assertEqual(self.srv.stop(), 0, self.srv.log_text()[-3000:])


class SigtermUnderLoadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mctx-sigterm-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_case(self, *flags):
        srv = Server("--workers", "2", "--drain-timeout-ms", "10000", *flags, data_dir=self.dir)
        answered, refused, other = set(), set(), []
        lock = threading.Lock()
        stop = threading.Event()

        def client(k):
            i = 0
            while not stop.is_set():
                rid = "term-%s-%d-%d" % ("after" if flags else "before", k, i)
                i += 1
                try:
                    r = srv.search(small_request(seed=i, sims=16), headers={"X-Request-ID": rid}, timeout=60)
                except OSError:  # refused or reset once the listener is gone
                    if srv.proc.poll() is not None:
                        return
                    time.sleep(0.01)
                    continue
                with lock:
                    if r.status == 200:
                        answered.add(rid)
                    elif r.status == 503:
                        refused.add(rid)
                    else:
                        other.append(r)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        try:
            srv.wait_until(lambda: len(answered) >= 150, "150 answered searches")
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=svc.WAIT_S)
            stop.set()
            for t in threads:
                t.join(svc.WAIT_S)
            self.assertEqual(srv.proc.returncode, 0, srv.log_text()[-3000:])
            self.assertEqual(other, [], "answers other than 200 and 503")
            srv.wait_log(lambda l: l.get("msg") == "stopped")
        finally:
            stop.set()
            srv.close()
        srv = Server(data_dir=self.dir)
        try:
            def listed():
                got = set()
                for off in range(0, 100000, 1000):
                    r = srv.get("/api/v1/searches?limit=1000&offset=%d" % off)
                    page = [x["request_id"] for x in r.json["searches"]]
                    got.update(page)
                    if len(page) < 1000:
                        return got
                return got
            srv.wait_until(lambda: answered <= listed(), "every answered search's record after the restart")
            self.assertFalse(refused & listed(), "a refused search was recorded")
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()
        return len(answered), len(refused)

    def test_sigterm_records_before_reply(self):
        self.run_case()

    def test_sigterm_records_after_reply(self):
        self.run_case("--record-before-reply=false")


class MemoryTest(unittest.TestCase):
    # batch 64 x 64 actions x 20001 nodes: about 1.3 GB of tree, under --max-tree-bytes 8G
    BIG = {"root_input": {"batch_size": 64, "num_actions": 64}, "model": "mock",
           "search_params": {"num_simulations": 20000}}

    def test_tree_over_the_budget_is_refused_before_allocating(self):
        srv = Server("--max-tree-bytes", "64M")
        try:
            r = srv.search(self.BIG)
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.json["details"]["field"], "search_params.num_simulations")
            self.assertIn("MiB", r.json["message"])
            self.assertEqual(srv.search(small_request()).status, 200)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.close()

    def test_out_of_memory_answers_and_serves_on(self):
        if sanitized(svc.BINARY):
            self.skipTest("AddressSanitizer reserves terabytes of address space: no RLIMIT_AS under it")
        # 1 GiB of address space for the whole process: the service runs through a wrapper that sets it
        wrapper_dir = tempfile.mkdtemp(prefix="mctx-rlimit-")
        wrapper = os.path.join(wrapper_dir, "mctx")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nulimit -v 1048576 || exit 1\nexec '%s' \"$@\"\n" % os.path.abspath(svc.BINARY))
        os.chmod(wrapper, 0o755)
        binary, svc.BINARY = svc.BINARY, wrapper
        try:
            srv = Server("--max-tree-bytes", "8G", "--workers", "1", "--engine-threads", "1", "--http-threads", "1")
        finally:
            svc.BINARY = binary
            shutil.rmtree(wrapper_dir, ignore_errors=True)
        try:
            for _ in range(3):
                r = srv.search(self.BIG)
                self.assertIn(r.status, (500, 503), r)
                self.assertIsInstance(r.json, dict, r)
                self.assertEqual(r.json["status_code"], r.status)
                self.assertIn("memory", r.json["message"].lower())
                if r.status == 503:
                    self.assertIsNotNone(r.header("Retry-After"))
                self.assertEqual(srv.search(small_request()).status, 200)
            self.assertEqual(srv.get("/health/ready").status, 200)
            self.assertEqual(srv.stop(), 0, srv.log_text()[-3000:])
        finally:
            srv.close()


def nan_weights(build_dir, path):
    """An mlp weights file (S=4, A=3) whose prediction output layer holds NaN."""
    tool = os.path.join(build_dir, "mctx-mlp-weights")
    subprocess.run([tool, "--out", path, "--emb", "4", "--hidden", "8", "--actions", "3"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    begin, end = header["pout"]["data_offsets"]
    base = 8 + n
    nan = struct.pack("<f", float("nan"))
    for off in range(base + begin, base + end, 4):
        data[off:off + 4] = nan
    with open(path, "wb") as f:
        f.write(data)


class FailingModelTest(unittest.TestCase):
    def setUp(self):
        build = os.path.dirname(os.path.abspath(svc.BINARY))
        plugin = os.path.join(build, "examples", "plugin", "libmctx_nim.so")
        if not os.path.exists(plugin):
            self.skipTest("no example plugin at %s" % plugin)
        self.repo = tempfile.mkdtemp(prefix="mctx-badmodels-")
        os.makedirs(os.path.join(self.repo, "nim"))
        shutil.copy(plugin, os.path.join(self.repo, "nim", "libmctx_nim.so"))
        with open(os.path.join(self.repo, "nim", "model.json"), "w") as f:
            json.dump({"kind": "plugin", "path": "libmctx_nim.so", "config": {"stones": 9}}, f)
        os.makedirs(os.path.join(self.repo, "nan-mlp"))
        nan_weights(build, os.path.join(self.repo, "nan-mlp", "w.safetensors"))
        with open(os.path.join(self.repo, "nan-mlp", "model.json"), "w") as f:
            json.dump({"kind": "mlp", "weights": "w.safetensors", "num_actions": 3}, f)
        self.srv = Server("--model-dir", self.repo)

    def tearDown(self):
        try:
            self.assertEqual(self.srv.stop(), 0, self.srv.log_text()[-3000:])
        finally:
            self.srv.close()
            shutil.rmtree(self.repo, ignore_errors=True)

    def nim(self, params, rid):
        req = {"root_input": {"batch_size": 2, "num_actions": 3}, "model": {"name": "nim", "params": params},
               "search_type": "muzero", "search_params": {"num_simulations": 8}}
        return self.srv.search(req, headers={"X-Request-ID": rid})

    def test_failing_and_nan_models(self):
        self.assertEqual(self.nim({}, "nim-ok-1").status, 200)
        cases = [({"fail": "step"}, "failed in step"), ({"fail": "root"}, "failed in root"),
                 ({"nan": "step"}, "non-finite"), ({"nan": "root"}, "non-finite"),
                 ({"fail": "create"}, "create")]
        bad_ids = []
        for i, (params, words) in enumerate(cases):
            rid = "nim-bad-%d" % i
            bad_ids.append(rid)
            r = self.nim(params, rid)
            self.assertIn(r.status, (400, 500), r)
            self.assertEqual(r.json["status_code"], r.status)
            self.assertIn(words, r.json["message"], r)
            self.assertIn("nim", r.json["message"])
            # the service serves on, the same model included
            self.assertEqual(self.nim({}, "nim-ok-after-%d" % i).status, 200)
        r = self.srv.search({"root_input": {"batch_size": 1, "num_actions": 3}, "model": "nan-mlp",
                             "search_params": {"num_simulations": 4}}, headers={"X-Request-ID": "nan-mlp-1"})
        self.assertEqual(r.status, 500, r)
        self.assertIn("non-finite", r.json["message"])
        self.assertIn("nan-mlp", r.json["message"])
        bad_ids.append("nan-mlp-1")
        self.assertEqual(self.srv.search(small_request()).status, 200)
        # failed searches are counted, not recorded
        m = self.srv.metrics()
        self.assertGreaterEqual(m['mctx_search_failures_total{reason="error"}'], 5)
        self.srv.wait_until(lambda: self.srv.get("/api/v1/searches/nim-ok-1").status == 200, "a good row")
        for rid in bad_ids:
            self.assertEqual(self.srv.get("/api/v1/searches/" + rid).status, 404, rid)


if __name__ == "__main__":
    svc.main()
