/* tests/store/test-spool-pg.c: the spool's fault tests against a real
 * PostgreSQL server that this executable starts, stops and restarts
 * (pgtmp.h), through libpq and through ODBC (psqlODBC):
 *   - the server is stopped while N records are appended: appends go on
 *     without waiting, db_ok turns 0, and all N arrive once it is back
 *     (the pool drops its dead connections and reconnects);
 *   - a process holding records in its spool is killed with SIGKILL while
 *     the server is down: all of them arrive after a restart;
 *   - no duplicates anywhere: history rows = distinct ids = the statistics'
 *     count.
 * SKIPs with the reason when no server can be started here. */
#include "pgtmp.h"
#include "spool-util.h"

static pgtmp pg;
static int pg_state;
static char tmpdir[256];

static void down(void) {
  pgtmp_destroy(&pg);
  if (tmpdir[0]) su_rmrf(tmpdir);
}

/* A fresh database `name`; url for libpq (odbc 0) or psqlODBC (odbc 1). */
static int prepare(const char *name, int odbc, char *url, size_t cap, char *dir, size_t dcap, char *why, size_t wcap) {
  if (pg_state == 0) {
    pg_state = pgtmp_start(&pg) == 0 ? 1 : -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mctx-spoolpg-XXXXXX");
    if (!mkdtemp(tmpdir)) tmpdir[0] = '\0';
    atexit(down);
  }
  if (pg_state < 0) { snprintf(why, wcap, "no PostgreSQL server could be started: %s", pg.why); return 77; }
  if (!tmpdir[0]) { snprintf(why, wcap, "no temporary directory"); return 77; }
  const char *driver = pgtmp_psqlodbc();
  if (odbc && !driver) {
    snprintf(why, wcap, "the psqlODBC driver is not installed (odbc-postgresql)");
    pgtmp_unavailable("odbc", why);
    return 77;
  }
  if (!pg.running && pgtmp_resume(&pg) != 0) { snprintf(why, wcap, "restart failed: %s", pg.why); return 77; }
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE DATABASE t_%s", name);
  if (pgtmp_sql(&pg, "postgres", sql) != 0) { snprintf(why, wcap, "CREATE DATABASE t_%s failed", name); return 77; }
  if (odbc)
    snprintf(url, cap, "odbc:Driver=%s;Servername=127.0.0.1;Port=%d;Database=t_%s;Uid=mctx;dialect=postgresql", driver,
             pg.port, name);
  else
    snprintf(url, cap, "postgresql://mctx@127.0.0.1:%d/t_%s?connect_timeout=2", pg.port, name);
  snprintf(dir, dcap, "%s/%s", tmpdir, name);
  return 0;
}

static void database_stopped(const char *name, int odbc) {
  char url[1024], dir[512], why[700];
  mctx_status st;
  if (prepare(name, odbc, url, sizeof url, dir, sizeof dir, why, sizeof why) != 0) SKIP("%s", why);
  mctx_store *s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("store: %s", st.reason);
  mctx_spool_opts o = {dir, 0, 100, 20, 250};
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  /* some records while the server is up, so the pool holds live connections */
  for (int i = 0; i < 50; i++) {
    mctx_search_record r = su_rec(name, i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append: %s", st.reason);
  }
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);

  ASSERT_EQ(pgtmp_stop(&pg), 0);
  const int N = 400;
  double t0 = su_now();
  for (int i = 50; i < 50 + N; i++) {
    mctx_search_record r = su_rec(name, i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append %d while down: %s", i, st.reason);
  }
  double took = su_now() - t0;
  ASSERT(took < 5.0);  /* the searches never wait for the database */
  usleep(800000);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.db_ok, 0);
  ASSERT_EQ(ss.depth, N);
  ASSERT(ss.retries > 0);
  ASSERT(ss.oldest_age_s > 0.5);
  ASSERT(ss.last_error[0] != '\0');
  mctx_status pst;
  ASSERT(mctx_store_ping(s, &pst) != 0);

  ASSERT_EQ(pgtmp_resume(&pg), 0);
  ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.db_ok, 1);
  ASSERT_EQ(ss.written, 50 + N);
  ASSERT_EQ(ss.dropped, 0);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  ASSERT_EQ(su_count(s, name, &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 50 + N);
  ASSERT_EQ(counted, 50 + N);
  for (int i = 0; i < 50 + N; i++)
    if (!su_has(s, name, i)) FAIL_AT("record %d is missing", i);
  mctx_store_close(s);
}

TEST(pg_database_stopped_then_back) { database_stopped("stop_pg", 0); }
TEST(odbc_database_stopped_then_back) { database_stopped("stop_odbc", 1); }

static void sigkill_while_down(const char *name, int odbc) {
  char url[1024], dir[512], why[700];
  mctx_status st;
  if (prepare(name, odbc, url, sizeof url, dir, sizeof dir, why, sizeof why) != 0) SKIP("%s", why);
  mctx_store *s = mctx_store_open(url, &st);  /* the schema, while the server is up */
  if (!s) FAIL_AT("store: %s", st.reason);
  mctx_store_close(s);
  /* The child opens its store and spool while the server is up (as the
   * service did at start), then the server goes away and it appends. */
  int rfd = -1;
  int fds[2], go[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    close(go[1]);
    mctx_store *cs = mctx_store_open(url, &st);
    if (!cs) _exit(3);
    mctx_spool_opts o = {dir, 0, 64, 20, 200};
    mctx_spool *sp = mctx_spool_open(&o, cs, &st);
    if (!sp) _exit(4);
    int ready = -2;
    char c;
    if (write(fds[1], &ready, sizeof ready) != (ssize_t)sizeof ready) _exit(6);
    if (read(go[0], &c, 1) != 1) _exit(7);  /* the server is down now */
    for (int i = 0; i < 300; i++) {
      mctx_search_record r = su_rec(name, i);
      if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) _exit(5);
      if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i) _exit(6);
    }
    int done = -1;
    if (write(fds[1], &done, sizeof done) != (ssize_t)sizeof done) _exit(6);
    for (;;) pause();
  }
  close(fds[1]);
  close(go[0]);
  rfd = fds[0];
  int ready = 0;
  ASSERT_EQ(read(rfd, &ready, sizeof ready), (ssize_t)sizeof ready);
  ASSERT_EQ(ready, -2);
  /* the child's spool is open on live connections; now the server goes away */
  ASSERT_EQ(pgtmp_stop(&pg), 0);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  int acked = su_read_acks(rfd, 300);
  usleep(200000);  /* let its writer fail a few times */
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  close(rfd);
  ASSERT(WIFSIGNALED(status));
  ASSERT_EQ(acked, 300);  /* every append answered while the database was down */

  ASSERT_EQ(pgtmp_resume(&pg), 0);
  s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("store: %s", st.reason);
  mctx_spool_opts o = {dir, 0, 64, 20, 200};
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
  mctx_spool_close(sp, 1000);
  for (int i = 0; i < acked; i++)
    if (!su_has(s, name, i)) FAIL_AT("acknowledged record %d is missing", i);
  long rows, counted;
  ASSERT_EQ(su_count(s, name, &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, acked);
  ASSERT_EQ(counted, rows);
  ASSERT_EQ(su_segments(dir), 0);
  mctx_store_close(s);
}

TEST(pg_sigkill_while_database_down) { sigkill_while_down("kill_pg", 0); }
TEST(odbc_sigkill_while_database_down) { sigkill_while_down("kill_odbc", 1); }

/* MCTX_STORE_OPEN_LAZY: the database is down when the store is opened (the
 * service starting while PostgreSQL is stopped). The store opens anyway,
 * its operations fail with MCTX_EDB, a spool on it takes records, and once
 * the server is back the store connects, migrates the fresh database and
 * every record lands once. */
static void lazy_open_while_down(const char *name, int odbc) {
  char url[1024], dir[512], why[700];
  mctx_status st;
  if (prepare(name, odbc, url, sizeof url, dir, sizeof dir, why, sizeof why) != 0) SKIP("%s", why);
  ASSERT_EQ(pgtmp_stop(&pg), 0);
  ASSERT(mctx_store_open(url, &st) == NULL);  /* without the flag: an error, as before */
  ASSERT_EQ(st.code, MCTX_EDB);
  mctx_store *s = mctx_store_open2(url, MCTX_STORE_OPEN_LAZY, &st);
  if (!s) FAIL_AT("lazy open: %s", st.reason);
  ASSERT_EQ(mctx_store_is_open(s), 0);
  ASSERT_STREQ(mctx_store_backend(s), odbc ? "odbc" : "postgresql");
  ASSERT_STREQ(mctx_store_dialect(s), "postgresql");
  mctx_search_record r0 = su_rec(name, 0);
  ASSERT_EQ(mctx_store_put(s, &r0, 1, &st), MCTX_EDB);
  ASSERT_EQ(mctx_store_ping(s, &st), MCTX_EDB);
  mctx_spool_opts o = {dir, 0, 100, 20, 250};
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  const int N = 200;
  for (int i = 0; i < N; i++) {
    mctx_search_record r = su_rec(name, i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append %d: %s", i, st.reason);
  }
  mctx_spool_stats ss;
  for (int k = 0; k < 400; k++) {  /* the writer's first ping or write tells */
    mctx_spool_get_stats(sp, &ss);
    if (!ss.db_ok) break;
    usleep(10000);
  }
  ASSERT_EQ(ss.db_ok, 0);
  ASSERT_EQ(ss.written, 0);
  ASSERT_EQ(pgtmp_resume(&pg), 0);
  ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.written, N);
  ASSERT_EQ(ss.db_ok, 1);
  mctx_spool_close(sp, 1000);
  ASSERT_EQ(mctx_store_is_open(s), 1);
  long rows, counted;
  ASSERT_EQ(su_count(s, name, &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, N);
  ASSERT_EQ(counted, N);
  mctx_store_close(s);
  /* errors of the URL itself still fail at once */
  ASSERT(mctx_store_open2("odbc:Driver=x;Servername=127.0.0.1", MCTX_STORE_OPEN_LAZY, &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EMISSING);
}

TEST(pg_lazy_open_while_down) { lazy_open_while_down("lazy_pg", 0); }
TEST(odbc_lazy_open_while_down) { lazy_open_while_down("lazy_odbc", 1); }
