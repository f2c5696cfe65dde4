"""tests/service/pgtmp.py: a real, temporary PostgreSQL server for the
service's fault tests, the Python twin of tests/store/pgtmp.h (same
approach, same settings).

initdb into a fresh directory under $TMPDIR (or /tmp), then pg_ctl start on
a free loopback port (and a unix socket in the same directory), trust
authentication, superuser "mctx", fsync off (a throwaway cluster). initdb
refuses to run as root, so as root the server's commands run as an
unprivileged user (MCTX_TEST_PG_USER, else "nobody"). The binaries come from
MCTX_PG_BIN, else the newest /usr/lib/postgresql/N/bin (Debian), else PATH.

A watchdog process (its own session) holds the cluster: when the test
process ends, however it ends, its stdin closes and it stops the server and
removes the directory, so no server outlives a crashed or killed test. When
the server cannot be started, start() raises Unavailable with the reason
and the tests skip with it.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile


class Unavailable(Exception):
    pass


_WATCHDOG = r"""
import os, shutil, signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pg_ctl, data, d, uid, gid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sys.stdin.buffer.read()          # returns when the test process is gone
def drop():
    if uid >= 0:
        os.setgroups([]); os.setgid(gid); os.setuid(uid)
subprocess.run([pg_ctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], preexec_fn=drop,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
shutil.rmtree(d, ignore_errors=True)
"""


def _find_bin():
    env = os.environ.get("MCTX_PG_BIN")
    if env:
        cands = [env]
    else:
        found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
        found.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else -1)
        cands = [os.path.dirname(p) for p in reversed(found)]
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
            cands.append(d)
    for d in cands:
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    raise Unavailable("no PostgreSQL server binaries (initdb) found: install the postgresql package or set "
                      "MCTX_PG_BIN")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self):
        self.bin = _find_bin()
        self.uid = self.gid = -1
        if os.geteuid() == 0:
            name = os.environ.get("MCTX_TEST_PG_USER") or "nobody"
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                raise Unavailable("running as root and no unprivileged user '%s' to run initdb as "
                                  "(set MCTX_TEST_PG_USER)" % name)
            if pw.pw_uid == 0:
                raise Unavailable("MCTX_TEST_PG_USER must not be root")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        tmp = os.environ.get("TMPDIR") or "/tmp"
        if len(tmp) > 80:
            tmp = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="mctx-pg-", dir=tmp)
        if self.uid >= 0:
            os.chown(self.dir, self.uid, self.gid)
        self.data = os.path.join(self.dir, "data")
        self.port = None
        self.running = False
        # the watchdog first, so that the directory goes away whatever happens
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, os.path.join(self.bin, "pg_ctl"), self.data, self.dir,
             str(self.uid), str(self.gid)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def _drop(self):
        if self.uid >= 0:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def _run(self, args, log=None):
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.run(args, preexec_fn=self._drop, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                               cwd=self.dir, env={k: v for k, v in os.environ.items()
                                                  if k not in ("PGDATA", "PGHOST", "PGPORT")})
        finally:
            if log:
                out.close()
        return p.returncode

    def init(self):
        rc = self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "mctx", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"], os.path.join(self.dir, "initdb.log"))
        if rc != 0:
            raise Unavailable("initdb failed (exit %d); see %s/initdb.log" % (rc, self.dir))
        for _ in range(3):
            self.port = _free_port()
            if self.start_server() == 0:
                return
        raise Unavailable("pg_ctl start failed; see %s/server.log" % self.dir)

    def start_server(self):
        """Starts (or restarts) the server on self.port; returns pg_ctl's status."""
        opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
                "-c max_connections=60 -c shared_buffers=16MB" % (self.dir, self.port))
        rc = self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                        "-w", "-t", "60", "-o", opts, "start"])
        self.running = rc == 0
        return rc

    def stop_server(self):
        """Fast shutdown: sessions are cut."""
        rc = self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop"])
        self.running = False
        return rc

    def sql(self, db, text):
        """Runs SQL with psql as the superuser; returns its output (tuples only, unaligned)."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p",
                            str(self.port), "-U", "mctx", "-d", db, "-v", "ON_ERROR_STOP=1", "-c", text],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError("psql failed: %s" % p.stderr)
        return p.stdout.strip()

    def create_db(self, name):
        self.sql("postgres", "CREATE DATABASE %s" % name)
        return "postgresql://mctx@127.0.0.1:%d/%s?connect_timeout=2" % (self.port, name)

    def destroy(self):
        if self.running:
            self.stop_server()
        if self.watchdog.stdin:
            self.watchdog.stdin.close()
        self.watchdog.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def required(what):
    """Whether MCTX_TEST_REQUIRE (set by .ci/run for what scripts/setup.sh
    installs) names `what` (or "all"): then a missing component fails the
    test instead of skipping it."""
    r = os.environ.get("MCTX_TEST_REQUIRE", "")
    return "all" in r or what in r


def start():
    """A running cluster, or Unavailable with the reason (a RuntimeError when
    MCTX_TEST_REQUIRE names postgres)."""
    try:
        return _start()
    except Unavailable as e:
        if required("postgres"):
            raise RuntimeError("PostgreSQL is required here (MCTX_TEST_REQUIRE) but unavailable: %s" % e)
        raise


def _start():
    c = Cluster()
    try:
        c.init()
    except Exception:
        c.destroy()
        raise
    return c
