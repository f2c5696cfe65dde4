/* tests/store/test-spool.c: the durable spool (src/store/spool.c) over the
 * sqlite backend: records land once; a database that refuses writes keeps
 * them in the spool, and a restart replays them; a process killed with
 * SIGKILL loses no acknowledged record; torn and corrupt frames; the byte
 * cap (appends fail with MCTX_EIO and are counted in `dropped`); records the
 * database refuses go to dead-letter.log; group-commit throughput with one
 * and with eight appenders. The database is "down" by holding its write
 * lock from another connection (the writer's busy timeout is shortened with
 * MCTX_SQLITE_BUSY_MS). */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "spool-util.h"

static char tmpdir[256];

static void remove_tmpdir(void) {
  if (tmpdir[0]) su_rmrf(tmpdir);
}

/* A fresh directory for one test: url gets a sqlite URL in it, spool the
 * spool directory. */
static int fresh(const char *name, char *url, size_t ucap, char *spool, size_t scap) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mctx-spool-XXXXXX");
    if (!mkdtemp(tmpdir)) { tmpdir[0] = '\0'; return -1; }
    atexit(remove_tmpdir);
    setenv("MCTX_SQLITE_BUSY_MS", "30", 1);
  }
  snprintf(url, ucap, "sqlite:%s/%s/db.sqlite", tmpdir, name);
  snprintf(spool, scap, "%s/%s/spool", tmpdir, name);
  return 0;
}

/* Holds the database's write lock (the store's writes fail with BUSY). */
static sqlite3 *lock_db(const char *url) {
  sqlite3 *db = NULL;
  if (sqlite3_open(url + strlen("sqlite:"), &db) != SQLITE_OK) return NULL;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) { sqlite3_close(db); return NULL; }
  return db;
}

static void unlock_db(sqlite3 *db) {
  if (!db) return;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
}

#define OPEN_ALL(name)                                                             \
  char url[512], dir[512];                                                         \
  mctx_status st;                                                                  \
  if (fresh(name, url, sizeof url, dir, sizeof dir) != 0) SKIP("no temporary directory"); \
  mctx_store *s = mctx_store_open(url, &st);                                       \
  if (!s) FAIL_AT("store: %s", st.reason);                                         \
  mctx_spool_opts o = {dir, 0, 64, 10, 100}

TEST(append_lands_once_and_segments_go) {
  OPEN_ALL("basic");
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  void *tree = NULL;
  size_t tlen = 0;
  ASSERT_EQ(mctx_store_zstd_compress("a tree of nodes", 15, 0, &tree, &tlen, &st), 0);
  for (int i = 0; i < 500; i++) {
    mctx_search_record r = su_rec("basic", i);
    int rc = mctx_spool_append(sp, &r, (i % 50 == 0) ? tree : NULL, (i % 50 == 0) ? tlen : 0, &st);
    if (rc != 0) FAIL_AT("append %d: %s", i, st.reason);
  }
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.appended, 500);
  ASSERT_EQ(ss.written, 500);
  ASSERT_EQ(ss.depth, 0);
  ASSERT_EQ(ss.dropped, 0);
  ASSERT_EQ(ss.db_ok, 1);
  ASSERT(ss.oldest_age_s == 0.0);
  mctx_spool_close(sp, 1000);
  ASSERT_EQ(su_segments(dir), 0);  /* everything landed: no segment left */
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "basic", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 500);
  ASSERT_EQ(counted, 500);
  void *back = NULL;
  size_t blen = 0;
  ASSERT_EQ(mctx_store_get_tree(s, "basic-000050", &back, &blen, &st), 0);
  ASSERT_EQ(blen, tlen);
  ASSERT(memcmp(back, tree, tlen) == 0);
  free(back);
  ASSERT_EQ(mctx_store_get_tree(s, "basic-000051", &back, &blen, &st), MCTX_ENOTFOUND);
  free(tree);
  mctx_store_close(s);
}

TEST(database_down_then_restart_replays) {
  OPEN_ALL("down");
  sqlite3 *lock = lock_db(url);
  ASSERT(lock != NULL);
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  double t0 = su_now();
  for (int i = 0; i < 100; i++) {
    mctx_search_record r = su_rec("down", i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append %d: %s", i, st.reason);
  }
  double took = su_now() - t0;
  ASSERT(took < 5.0);  /* appends never wait on the database */
  usleep(300000);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.depth, 100);
  ASSERT_EQ(ss.written, 0);
  ASSERT_EQ(ss.db_ok, 0);
  ASSERT(ss.retries > 0);
  ASSERT(ss.oldest_age_s >= 0.2);
  ASSERT(ss.last_error[0] != '\0');
  ASSERT_EQ(ss.dropped, 0);  /* contention is never a refusal */
  ASSERT_EQ(mctx_spool_flush(sp, 100), MCTX_ETIMEOUT);
  mctx_spool_close(sp, 0);   /* the records stay on disk */
  ASSERT(su_segments(dir) >= 1);
  unlock_db(lock);

  sp = mctx_spool_open(&o, s, &st);  /* a restart: replay */
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.written, 100);
  ASSERT_EQ(ss.db_ok, 1);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "down", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 100);
  ASSERT_EQ(counted, 100);
  mctx_store_close(s);
}

static int copy_file(const char *from, const char *to) {
  size_t n;
  char *data = mctx_test_read_file(from, &n);
  if (!data) return -1;
  FILE *f = fopen(to, "wb");
  int rc = f && fwrite(data, 1, n, f) == n ? 0 : -1;
  if (f) fclose(f);
  free(data);
  return rc;
}

static int first_segment(const char *dir, char *out, size_t cap) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "seg-", 4) == 0 && found < 0) {
      snprintf(out, cap, "%s/%s", dir, e->d_name);
      found = 0;
    }
  closedir(d);
  return found;
}

TEST(replay_of_landed_records_is_idempotent) {
  OPEN_ALL("again");
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  for (int i = 0; i < 50; i++) {
    mctx_search_record r = su_rec("again", i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append: %s", st.reason);
  }
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  /* as if the process died after landing but before deleting the segment */
  char seg[700], saved[700];
  ASSERT_EQ(first_segment(dir, seg, sizeof seg), 0);
  snprintf(saved, sizeof saved, "%s.saved", url + strlen("sqlite:"));
  ASSERT_EQ(copy_file(seg, saved), 0);
  mctx_spool_close(sp, 1000);
  ASSERT_EQ(su_segments(dir), 0);
  ASSERT_EQ(copy_file(saved, seg), 0);
  sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.written, 50);  /* written again... */
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "again", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 50);      /* ...and landed once */
  ASSERT_EQ(counted, 50);
  mctx_store_close(s);
}

static long file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

TEST(torn_tail_and_corrupt_frame) {
  OPEN_ALL("torn");
  sqlite3 *lock = lock_db(url);
  ASSERT(lock != NULL);
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  for (int i = 0; i < 10; i++) {
    mctx_search_record r = su_rec("torn", i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append: %s", st.reason);
  }
  mctx_spool_close(sp, 0);
  unlock_db(lock);
  char seg[700];
  ASSERT_EQ(first_segment(dir, seg, sizeof seg), 0);
  long full = file_size(seg);
  ASSERT(full > 0);
  /* an append that never returned: half a frame at the end */
  size_t n;
  char *data = mctx_test_read_file(seg, &n);
  ASSERT(data != NULL);
  FILE *f = fopen(seg, "ab");
  ASSERT(f != NULL);
  fwrite(data, 1, 40, f);
  fclose(f);
  sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_CONTAINS(ss.last_error, "torn");
  ASSERT_EQ(ss.dropped, 0);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.written, 10);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "torn", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 10);

  /* A damaged frame between intact ones: it is counted in `dropped` (never
   * lost silently) and the frames on both sides of it land. */
  lock = lock_db(url);
  sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  for (int i = 100; i < 110; i++) {
    mctx_search_record r = su_rec("torn", i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append: %s", st.reason);
  }
  mctx_spool_close(sp, 0);
  unlock_db(lock);
  ASSERT_EQ(first_segment(dir, seg, sizeof seg), 0);
  free(data);
  data = mctx_test_read_file(seg, &n);
  ASSERT(data != NULL && n > 0);
  size_t frame = n / 10;        /* the ten frames have the same length */
  data[4 * frame + frame / 2] ^= 0x55;  /* inside the fifth frame's payload */
  f = fopen(seg, "wb");
  fwrite(data, 1, n, f);
  fclose(f);
  free(data);
  sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.depth, 9);
  ASSERT_EQ(ss.dropped, 1);
  ASSERT_CONTAINS(ss.last_error, "corrupt");
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_close(sp, 1000);
  ASSERT(su_has(s, "torn", 103));
  ASSERT(!su_has(s, "torn", 104));
  ASSERT(su_has(s, "torn", 105));
  ASSERT(su_has(s, "torn", 109));
  mctx_store_close(s);
}

TEST(sigkill_with_records_in_the_spool) {
  OPEN_ALL("kill");
  sqlite3 *lock = lock_db(url);  /* nothing can land: all stays in the spool */
  ASSERT(lock != NULL);
  int rfd = -1;
  pid_t pid = su_spawn_appender(url, dir, "kill", 300, &rfd);
  ASSERT(pid > 0);
  int acked = su_read_acks(rfd, 300);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  close(rfd);
  ASSERT_EQ(acked, 300);
  ASSERT(WIFSIGNALED(status));
  unlock_db(lock);
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("reopen: %s", st.reason);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.depth, 300);
  ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "kill", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 300);
  ASSERT_EQ(counted, 300);
  mctx_store_close(s);
}

TEST(sigkill_while_appending_and_draining) {
  OPEN_ALL("kill2");
  for (int round = 0; round < 3; round++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "k%d", round);
    int rfd = -1;
    pid_t pid = su_spawn_appender(url, dir, prefix, 100000, &rfd);
    ASSERT(pid > 0);
    int acked = su_read_acks(rfd, 200 + 300 * round);
    kill(pid, SIGKILL);  /* mid-append, mid-sync, mid-transaction: wherever it is */
    int status;
    waitpid(pid, &status, 0);
    int more = su_read_acks(rfd, -1);
    if (more > acked) acked = more;
    close(rfd);
    ASSERT(acked >= 200 + 300 * round);
    mctx_spool *sp = mctx_spool_open(&o, s, &st);
    if (!sp) FAIL_AT("reopen: %s", st.reason);
    ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
    mctx_spool_stats ss;
    mctx_spool_get_stats(sp, &ss);
    ASSERT_EQ(ss.dropped, 0);
    mctx_spool_close(sp, 1000);
    for (int i = 0; i < acked; i++)
      if (!su_has(s, prefix, i)) FAIL_AT("round %d: acknowledged record %d is missing", round, i);
    long rows, counted;
    char why[256];
    ASSERT_EQ(su_count(s, prefix, &rows, &counted, why, sizeof why), 0);
    ASSERT(rows >= acked && rows <= acked + 1);  /* at most the one in flight */
    ASSERT_EQ(su_segments(dir), 0);
  }
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "k", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(counted, rows);  /* the statistics counted each once */
  mctx_store_close(s);
}

TEST(over_the_cap_fails_loudly) {
  OPEN_ALL("full");
  sqlite3 *lock = lock_db(url);
  ASSERT(lock != NULL);
  o.max_bytes = 8192;
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  int ok = 0, failed = 0;
  for (int i = 0; i < 100; i++) {
    mctx_search_record r = su_rec("full", i);
    int rc = mctx_spool_append(sp, &r, NULL, 0, &st);
    if (rc == 0) { ok++; continue; }
    ASSERT_EQ(rc, MCTX_EIO);
    ASSERT_STREQ(st.field, "spool");
    ASSERT_CONTAINS(st.reason, "full");
    failed++;
  }
  ASSERT(ok >= 10 && ok < 100);
  ASSERT_EQ(ok + failed, 100);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.dropped, failed);
  ASSERT_EQ(ss.appended, ok);
  /* a record larger than the cap */
  mctx_search_record big = su_rec("full", 1000);
  char *cfg = malloc(10000);
  memset(cfg, ' ', 9999);
  cfg[0] = '{';
  cfg[9998] = '}';
  cfg[9999] = '\0';
  big.config_json = cfg;
  ASSERT_EQ(mctx_spool_append(sp, &big, NULL, 0, &st), MCTX_EIO);
  free(cfg);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.dropped, failed + 1);
  unlock_db(lock);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  /* drained: room again */
  mctx_search_record r = su_rec("full", 2000);
  ASSERT_EQ(mctx_spool_append(sp, &r, NULL, 0, &st), 0);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "full", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, ok + 1);
  mctx_store_close(s);
}

TEST(bad_record_rejected_and_counted) {
  OPEN_ALL("bad");
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  mctx_search_record r = su_rec("bad", 0);
  r.config_json = "{not json";
  ASSERT_EQ(mctx_spool_append(sp, &r, NULL, 0, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.field, "config_json");
  r = su_rec("bad", 1);
  ASSERT_EQ(mctx_spool_append(sp, &r, NULL, 5, &st), MCTX_EINVALID);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.dropped, 2);
  ASSERT_EQ(ss.appended, 0);
  /* a second spool on the same directory is refused */
  mctx_spool *other = mctx_spool_open(&o, s, &st);
  ASSERT(other == NULL);
  ASSERT_EQ(st.code, MCTX_EBUSY);
  mctx_spool_close(sp, 1000);
  mctx_store_close(s);
}

TEST(refused_record_goes_to_dead_letter) {
  OPEN_ALL("dead");
  /* a database that refuses one record while accepting the rest */
  sqlite3 *db = NULL;
  ASSERT_EQ(sqlite3_open(url + strlen("sqlite:"), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON MCTX_SEARCH_HISTORY "
                             "WHEN NEW.REQUEST_ID LIKE 'dead-poison%' BEGIN SELECT RAISE(ABORT, 'refused'); END",
                         NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  for (int i = 0; i < 20; i++) {
    mctx_search_record r = su_rec(i == 7 ? "dead-poison" : "dead", i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) FAIL_AT("append: %s", st.reason);
  }
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.dropped, 1);
  ASSERT_EQ(ss.written, 20);
  ASSERT_CONTAINS(ss.last_error, "dead-poison-000007");
  ASSERT_CONTAINS(ss.last_error, "dead-letter.log");
  mctx_spool_close(sp, 1000);
  char path[700];
  snprintf(path, sizeof path, "%s/dead-letter.log", dir);
  ASSERT(file_size(path) > 24);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "dead-", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 19);
  ASSERT_EQ(counted, 19);
  mctx_store_close(s);
}

/* ==== Group appends ==== */

TEST(group_append_lands_once_with_exact_accounting) {
  OPEN_ALL("group");
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  enum { N = 300 };
  mctx_search_record *recs = calloc(N, sizeof *recs);
  const void **trees = calloc(N, sizeof *trees);
  size_t *tlens = calloc(N, sizeof *tlens);
  int *rcs = calloc(N, sizeof *rcs);
  ASSERT(recs && trees && tlens && rcs);
  void *tree = NULL;
  size_t tlen = 0;
  ASSERT_EQ(mctx_store_zstd_compress("the tree of a group", 19, 0, &tree, &tlen, &st), 0);
  for (int i = 0; i < N; i++) {
    recs[i] = su_rec("group", i);
    if (i % 100 == 3) { trees[i] = tree; tlens[i] = tlen; }
  }
  recs[17].config_json = "{not json";  /* refused alone; the others go on */
  int rc = mctx_spool_append_group(sp, recs, trees, tlens, N, rcs, &st);
  ASSERT_EQ(rc, MCTX_EPARSE);
  ASSERT_CONTAINS(st.field, "config_json");
  for (int i = 0; i < N; i++) ASSERT_EQ(rcs[i], i == 17 ? MCTX_EPARSE : 0);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.appended, N - 1);
  ASSERT_EQ(ss.dropped, 1);
  /* the same group again (a replay): lands once */
  recs[17] = su_rec("group", 17);
  ASSERT_EQ(mctx_spool_append_many(sp, recs, N, &st), 0);
  ASSERT_EQ(mctx_spool_append_many(sp, recs, 0, &st), 0);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.appended, 2 * N - 1);
  ASSERT_EQ(ss.written, 2 * N - 1);
  ASSERT_EQ(ss.dropped, 1);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "group", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, N);
  ASSERT_EQ(counted, N);
  void *back = NULL;
  size_t blen = 0;
  ASSERT_EQ(mctx_store_get_tree(s, "group-000103", &back, &blen, &st), 0);
  ASSERT_EQ(blen, tlen);
  ASSERT(memcmp(back, tree, tlen) == 0);
  free(back);
  ASSERT_EQ(mctx_store_get_tree(s, "group-000104", &back, &blen, &st), MCTX_ENOTFOUND);
  free(tree);
  free(recs);
  free(trees);
  free(tlens);
  free(rcs);
  mctx_store_close(s);
}

TEST(group_append_over_the_cap_keeps_a_prefix) {
  OPEN_ALL("gfull");
  sqlite3 *lock = lock_db(url);
  ASSERT(lock != NULL);
  o.max_bytes = 8192;
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  enum { N = 100 };
  mctx_search_record recs[N];
  int rcs[N];
  for (int i = 0; i < N; i++) recs[i] = su_rec("gfull", i);
  int rc = mctx_spool_append_group(sp, recs, NULL, NULL, N, rcs, &st);
  ASSERT_EQ(rc, MCTX_EIO);
  ASSERT_STREQ(st.field, "spool");
  ASSERT_CONTAINS(st.reason, "full");
  int kept = 0;
  while (kept < N && rcs[kept] == 0) kept++;
  ASSERT(kept >= 10 && kept < N);
  for (int i = kept; i < N; i++) ASSERT_EQ(rcs[i], MCTX_EIO);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.appended, kept);
  ASSERT_EQ(ss.dropped, N - kept);
  unlock_db(lock);
  ASSERT_EQ(mctx_spool_flush(sp, 20000), 0);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "gfull", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, kept);
  mctx_store_close(s);
}

TEST(group_append_sigkill_loses_no_acknowledged_record) {
  OPEN_ALL("gkill");
  (void)o;
  mctx_store_close(s);
  /* a child appends groups of 16 and reports each acknowledged group's
   * last index; the parent kills it mid-stream */
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    mctx_status cst;
    mctx_store *cs = mctx_store_open(url, &cst);
    mctx_spool_opts co = {dir, 0, 64, 10, 100};
    mctx_spool *csp = cs ? mctx_spool_open(&co, cs, &cst) : NULL;
    if (!csp) _exit(3);
    mctx_search_record g[16];
    for (int base = 0;; base += 16) {
      for (int k = 0; k < 16; k++) g[k] = su_rec("gkill", base + k);
      if (mctx_spool_append_many(csp, g, 16, &cst) != 0) _exit(4);
      int last = base + 15;
      if (write(fds[1], &last, sizeof last) != (ssize_t)sizeof last) _exit(5);
    }
  }
  close(fds[1]);
  int last = -1, v;
  while (last < 16 * 40 && read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v;
  kill(pid, SIGKILL);
  while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v;  /* acknowledged before the kill */
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  ASSERT(WIFSIGNALED(status));
  s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("store: %s", st.reason);
  mctx_spool_opts o2 = {dir, 0, 64, 10, 100};
  mctx_spool *sp = mctx_spool_open(&o2, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  ASSERT_EQ(mctx_spool_flush(sp, 30000), 0);
  mctx_spool_close(sp, 1000);
  for (int i = 0; i <= last; i++)
    if (!su_has(s, "gkill", i)) FAIL_AT("acknowledged record %d is missing", i);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "gkill", &rows, &counted, why, sizeof why), 0);
  ASSERT(rows >= last + 1);
  ASSERT_EQ(counted, rows);
  mctx_store_close(s);
}

/* ==== Group commit throughput ==== */

typedef struct app_arg {
  mctx_spool *sp;
  int thread, count, failed;
} app_arg;

static void *appender(void *p) {
  app_arg *a = p;
  mctx_status st;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "tp%d", a->thread);
  for (int i = 0; i < a->count; i++) {
    mctx_search_record r = su_rec(prefix, i);
    if (mctx_spool_append(a->sp, &r, NULL, 0, &st) != 0) a->failed++;
  }
  return NULL;
}

static double run_appenders(mctx_spool *sp, int threads, int per, int base) {
  pthread_t th[16];
  app_arg args[16];
  double t0 = su_now();
  for (int t = 0; t < threads; t++) {
    args[t] = (app_arg){sp, base + t, per, 0};
    pthread_create(&th[t], NULL, appender, &args[t]);
  }
  int failed = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    failed += args[t].failed;
  }
  double dt = su_now() - t0;
  return failed ? -1.0 : (double)(threads * per) / dt;
}

TEST(group_commit_throughput) {
  OPEN_ALL("tp");
  o.batch_max = 512;
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) FAIL_AT("spool: %s", st.reason);
  double one = run_appenders(sp, 1, 1500, 0);
  double eight = run_appenders(sp, 8, 400, 1);
  ASSERT(one > 0 && eight > 0);
  /* one appender, groups of 64 records (mctx_spool_append_many) */
  mctx_search_record g[64];
  double t0 = su_now();
  for (int base = 0; base < 64 * 50; base += 64) {
    for (int k = 0; k < 64; k++) g[k] = su_rec("tpg", base + k);
    ASSERT_EQ(mctx_spool_append_many(sp, g, 64, &st), 0);
  }
  double grouped = 64.0 * 50 / (su_now() - t0);
  fprintf(stderr, "spool throughput (fdatasync per append, group commit): 1 appender %.0f appends/s, "
          "8 appenders %.0f appends/s, 1 appender of groups of 64 %.0f records/s\n", one, eight, grouped);
  ASSERT_EQ(mctx_spool_flush(sp, 60000), 0);
  mctx_spool_stats ss;
  mctx_spool_get_stats(sp, &ss);
  ASSERT_EQ(ss.appended, 1500 + 8 * 400 + 64 * 50);
  ASSERT_EQ(ss.written, 1500 + 8 * 400 + 64 * 50);
  mctx_spool_close(sp, 1000);
  long rows, counted;
  char why[256];
  ASSERT_EQ(su_count(s, "tp", &rows, &counted, why, sizeof why), 0);
  ASSERT_EQ(rows, 1500 + 8 * 400 + 64 * 50);
  ASSERT_EQ(counted, rows);
  mctx_store_close(s);
}
