/* tests/reliability/test-injection.c: SQL injection strings through every
 * text the history routes hand to the store (src/store), on SQLite and on a
 * real temporary PostgreSQL server (tests/store/pgtmp.h; skipped, saying
 * why, when none can be started).
 *
 * The store binds every value as a parameter; these tests show it from the
 * outside. For each string: as a user or search-type filter it matches only
 * rows whose value is exactly that string (none, until a record with it is
 * written); as a request id it finds nothing; as a day it is refused; written
 * as a record's id, user, type and configuration it comes back byte for
 * byte and is listed under exactly that user; and after all of them every
 * table is still there with exactly the rows written. '%' and '_' are
 * included: a LIKE would treat them as wildcards. pg_sleep strings would
 * stall the read if they ran. */
#include <time.h>

#include "../store/pgtmp.h"
#include "store/store.h"
#include "test.h"

static const char *const INJECT[] = {
  "' OR '1'='1",
  "alice' --",
  "alice'/*",
  "x'); DROP TABLE MCTX_SEARCH_HISTORY; --",
  "\" OR \"\"=\"",
  "1; DELETE FROM MCTX_SEARCH_HISTORY",
  "' UNION SELECT * FROM MCTX_SCHEMA_VERSION --",
  "%",
  "_",
  "alice%",
  "\\",
  "\\'; --",
  "$1",
  "?",
  ":name",
  "' || pg_sleep(3) || '",
  "'; SELECT pg_sleep(3); --",
  "o'brien",
  "\xc3\xa9'\xc3\xbc",
};
#define NINJECT (sizeof INJECT / sizeof INJECT[0])

static void record(mctx_search_record *r, const char *id, const char *user, const char *type, int day) {
  memset(r, 0, sizeof *r);
  snprintf(r->request_id, sizeof r->request_id, "%s", id);
  snprintf(r->user, sizeof r->user, "%s", user);
  snprintf(r->search_type, sizeof r->search_type, "%s", type);
  r->time_ms = 1795500000000LL + (int64_t)day * 86400000LL;
  r->batch_size = 1;
  r->num_simulations = 8;
  r->max_depth = -1;
  r->duration_ms = 1.0;
  r->num_expanded_nodes = 8;
  r->max_depth_reached = 2;
  snprintf(r->device, sizeof r->device, "cpu");
  r->num_devices = 1;
}

static size_t count_rows(mctx_store *s, const char *user, const char *type) {
  mctx_search_query q = {1000, 0, type, user};
  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_status st;
  if (mctx_store_list(s, &q, &rows, &n, &st) != 0) return (size_t)-1;
  mctx_search_rows_free(rows, n);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole check on one store. */
static void check_store(const char *url) {
  mctx_status st;
  mctx_store *s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("cannot open %s: %s", url, st.reason);
  mctx_search_record seed[6];
  static const char *const users[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 6; i++) {
    char id[32];
    snprintf(id, sizeof id, "seed-%d", i);
    record(&seed[i], id, users[i % 3], i < 3 ? "muzero" : "gumbel_muzero", i % 2);
  }
  if (mctx_store_put(s, seed, 6, &st) != 0) FAIL_AT("seed: %s", st.reason);
  ASSERT_EQ(count_rows(s, NULL, NULL), 6);

  /* reads: nothing matches, nothing is changed, nothing stalls */
  for (size_t i = 0; i < NINJECT; i++) {
    const char *x = INJECT[i];
    double t0 = now_s();
    ASSERT_EQ(count_rows(s, x, NULL), 0);
    ASSERT_EQ(count_rows(s, NULL, x), 0);
    ASSERT_EQ(count_rows(s, x, x), 0);
    mctx_search_row row;
    ASSERT_EQ(mctx_store_get(s, x, &row, &st), MCTX_ENOTFOUND);
    void *blob = NULL;
    size_t blen = 0;
    ASSERT_EQ(mctx_store_get_tree(s, x, &blob, &blen, &st), MCTX_ENOTFOUND);
    mctx_daily_stats *days = NULL;
    size_t nd = 0;
    ASSERT_EQ(mctx_store_daily(s, NULL, NULL, x, &days, &nd, &st), 0);
    ASSERT_EQ(nd, 0);
    free(days);
    ASSERT_EQ(mctx_store_daily(s, x, NULL, NULL, &days, &nd, &st), MCTX_EINVALID);
    ASSERT_STREQ(st.field, "from");
    ASSERT_EQ(mctx_store_daily(s, NULL, x, NULL, &days, &nd, &st), MCTX_EINVALID);
    ASSERT(now_s() - t0 < 2.5); /* no pg_sleep ran */
    ASSERT_EQ(count_rows(s, NULL, NULL), 6);
  }

  /* writes: each string as id, user, type and inside the configuration */
  for (size_t i = 0; i < NINJECT; i++) {
    const char *x = INJECT[i];
    mctx_search_record r;
    record(&r, x, x, x, 2);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"note\":\"%s\"}", (x[0] == '"' || strchr(x, '\\')) ? "escaped" : x);
    r.config_json = cfg;
    if (mctx_store_put(s, &r, 1, &st) != 0) FAIL_AT("put '%s': %s", x, st.reason);
    mctx_search_row row;
    if (mctx_store_get(s, x, &row, &st) != 0) FAIL_AT("get '%s' after put: %s", x, st.reason);
    ASSERT_STREQ(row.rec.request_id, x);
    ASSERT_STREQ(row.rec.user, x);
    ASSERT_STREQ(row.rec.search_type, r.search_type); /* the column holds 31 bytes: cut like the record */
    ASSERT_CONTAINS(row.config_json ? row.config_json : "", "note");
    mctx_search_row_free(&row);
    ASSERT_EQ(count_rows(s, x, NULL), 1);
    ASSERT_EQ(count_rows(s, NULL, r.search_type), 1);
    /* its tree, under the same id */
    void *z = NULL, *back = NULL;
    size_t zl = 0, bl = 0;
    ASSERT_EQ(mctx_store_zstd_compress(x, strlen(x), 1, &z, &zl, &st), 0);
    if (mctx_store_put_tree(s, x, z, zl, &st) != 0) FAIL_AT("put_tree '%s': %s", x, st.reason);
    ASSERT_EQ(mctx_store_get_tree(s, x, &back, &bl, &st), 0);
    ASSERT(bl == zl && memcmp(back, z, zl) == 0);
    free(z);
    free(back);
  }
  /* every table intact, every row counted once */
  ASSERT_EQ(count_rows(s, NULL, NULL), 6 + NINJECT);
  for (int i = 0; i < 3; i++) ASSERT_EQ(count_rows(s, users[i], NULL), 2);
  ASSERT_EQ(count_rows(s, "%", NULL), 1);
  ASSERT_EQ(count_rows(s, "_", NULL), 1);
  mctx_daily_stats *days = NULL;
  size_t nd = 0;
  ASSERT_EQ(mctx_store_daily(s, NULL, NULL, NULL, &days, &nd, &st), 0);
  int64_t total = 0;
  for (size_t i = 0; i < nd; i++) total += days[i].count;
  free(days);
  ASSERT_EQ(total, 6 + NINJECT);
  int version = 0;
  ASSERT_EQ(mctx_store_schema_version(s, &version, &st), 0);
  ASSERT_EQ(version, mctx_store_schema_latest());
  mctx_store_close(s);
}

TEST(injection_strings_sqlite) {
  char dir[] = "/tmp/mctx-inject-XXXXXX";
  if (!mkdtemp(dir)) FAIL_AT("mkdtemp");
  char url[300];
  snprintf(url, sizeof url, "sqlite:%s/mctx.db", dir);
  check_store(url);
  pgtmp__rmrf(dir);
}

static pgtmp pg;
static void pg_down(void) { pgtmp_destroy(&pg); }

TEST(injection_strings_postgresql) {
  if (pgtmp_start(&pg) != 0) SKIP("no PostgreSQL server could be started: %s", pg.why);
  atexit(pg_down);
  if (pgtmp_sql(&pg, "postgres", "CREATE DATABASE t_inject") != 0) FAIL_AT("CREATE DATABASE failed");
  char url[256];
  snprintf(url, sizeof url, "postgresql://mctx@127.0.0.1:%d/t_inject", pg.port);
  check_store(url);
}
