/* tests/store/store-suite.h: the one storage suite, run against every
 * backend. A test file defines, before including this header,
 *
 *   static int suite_prepare(const char *name, char *url, size_t cap, char *why, size_t whycap);
 *       a fresh, empty database for test `name`: fills url and returns 0, or
 *       returns 77 with the reason when the backend cannot run here (SKIP);
 *   static void suite_cleanup(const char *name);     (may do nothing)
 *
 * and gets the TESTs below: put/get, list, daily statistics, idempotency
 * (one row and one count for a record written twice, also by racing
 * writers), stored trees, migrations, bad input, retention. Every expected
 * value is computed here from the records, not read back from a backend. */
#ifndef MCTX_TESTS_STORE_SUITE_H
#define MCTX_TESTS_STORE_SUITE_H

#include <math.h>
#include <pthread.h>

#include "store/store.h"
#include "test.h"

#define DAY0 INT64_C(1764028800000) /* 2025-11-25T00:00:00Z */
#define DAY_MS INT64_C(86400000)

#define CHECK_OK(expr) do {                                                       \
    int rc_ = (expr);                                                             \
    if (rc_ != 0) FAIL_AT("%s: %s (%s: %s)", #expr, mctx_err_name(rc_), st.field, st.reason); \
  } while (0)

/* Opens a fresh database for the calling test, or skips it. */
#define SUITE_OPEN(var, name) \
  char url_[2048];                                                                \
  mctx_store *var = NULL;                                                         \
  do {                                                                            \
    char why_[1024] = "";                                                         \
    if (suite_prepare(name, url_, sizeof url_, why_, sizeof why_) != 0) SKIP("%s", why_); \
    var = mctx_store_open(url_, &st);                                             \
    if (!var) FAIL_AT("open %s: %s: %s", name, st.field, st.reason);              \
  } while (0)

static mctx_search_record suite_rec(const char *id, int64_t time_ms, const char *type, const char *user,
                                    const char *config, double duration, int64_t nodes, int32_t batch,
                                    int32_t sims) {
  mctx_search_record r;
  memset(&r, 0, sizeof r);
  snprintf(r.request_id, sizeof r.request_id, "%s", id);
  r.time_ms = time_ms;
  snprintf(r.user, sizeof r.user, "%s", user);
  snprintf(r.search_type, sizeof r.search_type, "%s", type);
  r.batch_size = batch;
  r.num_simulations = sims;
  r.max_depth = -1;
  r.config_json = config;
  r.duration_ms = duration;
  r.num_expanded_nodes = nodes;
  r.max_depth_reached = 3;
  snprintf(r.device, sizeof r.device, "cpu");
  r.summary_json = "{\"action\":[1]}";
  r.num_devices = 1;
  return r;
}

static void suite_check_rec(const mctx_search_record *got, const mctx_search_record *want) {
  ASSERT_STREQ(got->request_id, want->request_id);
  ASSERT_EQ(got->time_ms, want->time_ms);
  ASSERT_STREQ(got->user, want->user);
  ASSERT_STREQ(got->search_type, want->search_type);
  ASSERT_EQ(got->batch_size, want->batch_size);
  ASSERT_EQ(got->num_simulations, want->num_simulations);
  ASSERT_EQ(got->max_depth, want->max_depth);
  ASSERT_STREQ(got->config_json, want->config_json ? want->config_json : "{}");
  ASSERT(got->duration_ms == want->duration_ms);
  ASSERT_EQ(got->num_expanded_nodes, want->num_expanded_nodes);
  ASSERT_EQ(got->max_depth_reached, want->max_depth_reached);
  ASSERT_STREQ(got->device, want->device);
  if (want->summary_json) ASSERT_STREQ(got->summary_json, want->summary_json);
  else ASSERT(got->summary_json == NULL);
}

/* ==== put / get ==== */

TEST(put_get) {
  mctx_status st;
  SUITE_OPEN(s, "put_get");
  /* Quotes, backslashes, a semicolon and non-ASCII text: all bound, none spliced. */
  static const char cfg[] = "{\"search_params\":{\"num_simulations\":64,\"note\":\"it's a \\\"quote\\\"; DROP "
                            "TABLE x; -- \\\\ \\u00e9 ☃\"},\"model\":{\"name\":\"mock\"}}";
  mctx_search_record a = suite_rec("req-1", DAY0 + 5000, "gumbel_muzero", "José ☃ O'Brien", cfg, 12.5, 4096, 256, 64);
  a.max_depth = 12;
  a.max_depth_reached = 9;
  snprintf(a.device, sizeof a.device, "gpu");
  mctx_search_record b = suite_rec("req-2'; DELETE FROM MCTX_SEARCH_HISTORY; --", DAY0 + 6000, "muzero", "anonymous",
                                   NULL, 0.25, 33, 1, 32);
  b.summary_json = NULL;
  mctx_search_record both[2] = {a, b};
  CHECK_OK(mctx_store_put(s, both, 2, &st));

  mctx_search_row row;
  CHECK_OK(mctx_store_get(s, "req-1", &row, &st));
  suite_check_rec(&row.rec, &a);
  mctx_search_row_free(&row);
  if (mctx_test_failed_) goto out;
  CHECK_OK(mctx_store_get(s, b.request_id, &row, &st));
  suite_check_rec(&row.rec, &b);
  mctx_search_row_free(&row);
  if (mctx_test_failed_) goto out;
  ASSERT_EQ(mctx_store_get(s, "no-such-request", &row, &st), MCTX_ENOTFOUND);
  ASSERT_STREQ(st.field, "request_id");
  CHECK_OK(mctx_store_ping(s, &st));
out:
  mctx_store_close(s);
  suite_cleanup("put_get");
}

/* ==== list ==== */

TEST(list_filters) {
  mctx_status st;
  SUITE_OPEN(s, "list_filters");
  mctx_search_record r[6];
  const char *types[6] = {"muzero", "gumbel_muzero", "muzero", "stochastic_muzero", "muzero", "gumbel_muzero"};
  const char *users[6] = {"alice", "bob", "bob", "alice", "alice", "carol"};
  char ids[6][16];
  for (int i = 0; i < 6; i++) {
    snprintf(ids[i], sizeof ids[i], "l-%d", i);
    r[i] = suite_rec(ids[i], DAY0 + 1000 * i, types[i], users[i], "{}", 1.0 + i, 10 * i, 1, 8);
  }
  CHECK_OK(mctx_store_put(s, r, 6, &st));
  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_search_query q = {100, 0, NULL, NULL};
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 6);
  for (size_t i = 0; i < n; i++) ASSERT_STREQ(rows[i].rec.request_id, ids[5 - i]);  /* newest first */
  mctx_search_rows_free(rows, n);

  q.search_type = "muzero";
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 3);
  ASSERT_STREQ(rows[0].rec.request_id, "l-4");
  ASSERT_STREQ(rows[2].rec.request_id, "l-0");
  mctx_search_rows_free(rows, n);

  q.user = "alice";
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 2);
  ASSERT_STREQ(rows[0].rec.request_id, "l-4");
  ASSERT_STREQ(rows[1].rec.request_id, "l-0");
  mctx_search_rows_free(rows, n);

  q.search_type = NULL;
  q.user = "bob";
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 2);
  mctx_search_rows_free(rows, n);

  mctx_search_query page = {2, 3, NULL, NULL};
  CHECK_OK(mctx_store_list(s, &page, &rows, &n, &st));
  ASSERT_EQ(n, 2);
  ASSERT_STREQ(rows[0].rec.request_id, "l-2");
  ASSERT_STREQ(rows[1].rec.request_id, "l-1");
  mctx_search_rows_free(rows, n);

  mctx_search_query none = {10, 0, "no_such_type", NULL};
  CHECK_OK(mctx_store_list(s, &none, &rows, &n, &st));
  ASSERT_EQ(n, 0);
  mctx_search_rows_free(rows, n);

  mctx_search_query big = {1001, 0, NULL, NULL};
  ASSERT_EQ(mctx_store_list(s, &big, &rows, &n, &st), MCTX_ERANGE);
  ASSERT_STREQ(st.field, "limit");
  mctx_store_close(s);
  suite_cleanup("list_filters");
}

/* ==== daily statistics ==== */

typedef struct expect_day {
  const char *day, *type;
  int64_t count;
  double sum_dur, max_dur;
  int64_t sum_nodes;
  int32_t max_batch, max_sims;
  int64_t gpu, dist, devices;
} expect_day;

static const mctx_daily_stats *find_day(const mctx_daily_stats *rows, size_t n, const char *day, const char *type) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(rows[i].day, day) == 0 && strcmp(rows[i].search_type, type) == 0) return &rows[i];
  return NULL;
}

static void check_days(const mctx_daily_stats *rows, size_t n, const expect_day *e, size_t ne) {
  ASSERT_EQ(n, ne);
  for (size_t i = 0; i < ne; i++) {
    const mctx_daily_stats *d = find_day(rows, n, e[i].day, e[i].type);
    if (!d) FAIL_AT("no statistics row for %s %s", e[i].day, e[i].type);
    ASSERT_EQ(d->count, e[i].count);
    ASSERT_NEAR(d->avg_duration_ms, e[i].sum_dur / (double)e[i].count, 1e-9);
    ASSERT_NEAR(d->max_duration_ms, e[i].max_dur, 1e-12);
    ASSERT_NEAR(d->avg_expanded_nodes, (double)e[i].sum_nodes / (double)e[i].count, 1e-9);
    ASSERT_EQ(d->max_batch_size, e[i].max_batch);
    ASSERT_EQ(d->max_num_simulations, e[i].max_sims);
    ASSERT_EQ(d->gpu_optimized_count, e[i].gpu);
    ASSERT_EQ(d->distributed_count, e[i].dist);
    ASSERT_NEAR(d->avg_devices, (double)e[i].devices / (double)e[i].count, 1e-12);
  }
}

static const char CFG_GPU[] = "{\"use_t4_optimizations\":true,\"distributed\":false,\"num_devices\":1,\"seed\":0}";
static const char CFG_DIST4[] = "{\"use_t4_optimizations\":false,\"distributed\":true,\"num_devices\":4}";
static const char CFG_DIST_BOTH[] = "{\"use_t4_optimizations\":true,\"distributed\":true,\"num_devices\":2}";
static const char CFG_PLAIN[] = "{\"num_simulations\":16,\"model\":{\"name\":\"mock\"}}";

TEST(daily_statistics) {
  mctx_status st;
  SUITE_OPEN(s, "daily_statistics");
  mctx_search_record r[7];
  /* day 0, gumbel_muzero: gpu; distributed x4; no flags in the configuration
   * (the record's own fields count: gpu + distributed x3) */
  r[0] = suite_rec("d-0", DAY0 + 1, "gumbel_muzero", "u", CFG_GPU, 10.0, 100, 8, 32);
  r[1] = suite_rec("d-1", DAY0 + 2, "gumbel_muzero", "u", CFG_DIST4, 30.0, 300, 64, 16);
  r[2] = suite_rec("d-2", DAY0 + DAY_MS - 1, "gumbel_muzero", "u", CFG_PLAIN, 20.5, 250, 16, 128);
  r[2].gpu_optimized = 1;
  r[2].distributed = 1;
  r[2].num_devices = 3;
  /* the configuration wins over the record's fields */
  r[3] = suite_rec("d-3", DAY0 + 3, "muzero", "u", CFG_DIST_BOTH, 5.0, 50, 4, 8);
  r[3].distributed = 0;
  r[3].num_devices = 7;
  /* day 1 */
  r[4] = suite_rec("d-4", DAY0 + DAY_MS, "muzero", "u", "{}", 1.0, 7, 1, 4);
  r[5] = suite_rec("d-5", DAY0 + DAY_MS + 10, "muzero", "u", CFG_DIST4, 3.0, 9, 2, 4);
  r[5].gpu_optimized = 1;  /* the configuration says false */
  /* distributed with num_devices 0 counts one device */
  r[6] = suite_rec("d-6", DAY0 + DAY_MS + 20, "muzero", "u", "{\"distributed\":true,\"num_devices\":0}",
                   2.0, 8, 1, 4);
  CHECK_OK(mctx_store_put(s, r, 4, &st));
  CHECK_OK(mctx_store_put(s, r + 4, 3, &st));

  expect_day e[3] = {
    {"2025-11-25", "gumbel_muzero", 3, 60.5, 30.0, 650, 64, 128, 2, 2, 1 + 4 + 3},
    {"2025-11-25", "muzero", 1, 5.0, 5.0, 50, 4, 8, 1, 1, 2},
    {"2025-11-26", "muzero", 3, 6.0, 3.0, 24, 2, 4, 0, 2, 1 + 4 + 1},
  };
  mctx_daily_stats *rows = NULL;
  size_t n = 0;
  CHECK_OK(mctx_store_daily(s, NULL, NULL, NULL, &rows, &n, &st));
  check_days(rows, n, e, 3);
  if (n == 3) {
    ASSERT_STREQ(rows[0].day, "2025-11-25");  /* ordered by day, then type */
    ASSERT_STREQ(rows[0].search_type, "gumbel_muzero");
    ASSERT_STREQ(rows[2].day, "2025-11-26");
  }
  free(rows);

  CHECK_OK(mctx_store_daily(s, "2025-11-26", NULL, NULL, &rows, &n, &st));
  check_days(rows, n, e + 2, 1);
  free(rows);
  CHECK_OK(mctx_store_daily(s, "2025-11-25", "2025-11-25", "muzero", &rows, &n, &st));
  check_days(rows, n, e + 1, 1);
  free(rows);
  CHECK_OK(mctx_store_daily(s, NULL, "2025-11-24", NULL, &rows, &n, &st));
  ASSERT_EQ(n, 0);
  free(rows);
  ASSERT_EQ(mctx_store_daily(s, "25-11-2025", NULL, NULL, &rows, &n, &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "from");

  /* The history keeps the effective flags. */
  mctx_search_row row;
  CHECK_OK(mctx_store_get(s, "d-3", &row, &st));
  ASSERT_EQ(row.rec.distributed, 1);
  ASSERT_EQ(row.rec.num_devices, 2);
  ASSERT_EQ(row.rec.gpu_optimized, 1);
  mctx_search_row_free(&row);
  mctx_store_close(s);
  suite_cleanup("daily_statistics");
}

/* ==== idempotency ==== */

TEST(idempotent_writes) {
  mctx_status st;
  SUITE_OPEN(s, "idempotent_writes");
  mctx_search_record a = suite_rec("i-a", DAY0 + 100, "muzero", "u", CFG_GPU, 4.0, 40, 2, 16);
  mctx_search_record b = suite_rec("i-b", DAY0 + 200, "muzero", "u", CFG_PLAIN, 8.0, 80, 4, 32);
  CHECK_OK(mctx_store_put(s, &a, 1, &st));
  CHECK_OK(mctx_store_put(s, &a, 1, &st));            /* the same record again */
  mctx_search_record batch[3] = {a, b, b};            /* and twice within one batch */
  CHECK_OK(mctx_store_put(s, batch, 3, &st));
  mctx_search_record changed = a;                     /* a retry never rewrites the first write */
  changed.duration_ms = 999.0;
  CHECK_OK(mctx_store_put(s, &changed, 1, &st));

  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_search_query q = {100, 0, NULL, NULL};
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 2);
  mctx_search_rows_free(rows, n);
  mctx_search_row row;
  CHECK_OK(mctx_store_get(s, "i-a", &row, &st));
  ASSERT(row.rec.duration_ms == 4.0);
  mctx_search_row_free(&row);

  mctx_daily_stats *d = NULL;
  CHECK_OK(mctx_store_daily(s, NULL, NULL, NULL, &d, &n, &st));
  expect_day e = {"2025-11-25", "muzero", 2, 12.0, 8.0, 120, 4, 32, 1, 0, 2};
  check_days(d, n, &e, 1);
  free(d);
  mctx_store_close(s);
  suite_cleanup("idempotent_writes");
}

/* Racing writers (separate stores, as separate processes would be) putting
 * overlapping batches: every record lands once and counts once. */
typedef struct race_arg {
  mctx_store *s;
  int thread;
  int failed;
  char why[600];
} race_arg;

#define RACE_IDS 120
#define RACE_THREADS 4

static void race_rec(int i, mctx_search_record *r, char *id, size_t cap) {
  snprintf(id, cap, "race-%03d", i);
  *r = suite_rec(id, DAY0 + 50000 + i, "stochastic_muzero", "racer", (i % 3) ? CFG_PLAIN : CFG_DIST4,
                 (double)(i % 17) + 0.5, i, 1 + i % 5, 8);
}

static void *race_thread(void *p) {
  race_arg *a = p;
  mctx_status st;
  mctx_search_record batch[40];
  char ids[40][32];
  for (int round = 0; round < 6 && !a->failed; round++) {
    int base = ((a->thread * 37 + round * 23) % RACE_IDS);
    for (int k = 0; k < 40; k++) {
      race_rec((base + k) % RACE_IDS, &batch[k], ids[k], sizeof ids[k]);
    }
    if (mctx_store_put(a->s, batch, 40, &st) != 0) {
      a->failed = 1;
      snprintf(a->why, sizeof a->why, "%s: %s", st.field, st.reason);
    }
  }
  /* and finally every id once, so all of them are there */
  for (int base = 0; base < RACE_IDS && !a->failed; base += 40) {
    for (int k = 0; k < 40; k++) race_rec(base + k, &batch[k], ids[k], sizeof ids[k]);
    if (mctx_store_put(a->s, batch, 40, &st) != 0) {
      a->failed = 1;
      snprintf(a->why, sizeof a->why, "%s: %s", st.field, st.reason);
    }
  }
  return NULL;
}

TEST(racing_writers_count_once) {
  mctx_status st;
  SUITE_OPEN(s1, "racing_writers");
  mctx_store *s2 = mctx_store_open(url_, &st);
  if (!s2) { mctx_store_close(s1); FAIL_AT("second open: %s", st.reason); }
  pthread_t th[RACE_THREADS];
  race_arg args[RACE_THREADS];
  for (int t = 0; t < RACE_THREADS; t++) {
    memset(&args[t], 0, sizeof args[t]);
    args[t].s = (t % 2) ? s2 : s1;
    args[t].thread = t;
    pthread_create(&th[t], NULL, race_thread, &args[t]);
  }
  for (int t = 0; t < RACE_THREADS; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < RACE_THREADS; t++)
    if (args[t].failed) FAIL_AT("writer %d: %s", t, args[t].why);

  expect_day e = {"2025-11-25", "stochastic_muzero", RACE_IDS, 0, 0, 0, 0, 8, 0, 0, 0};
  for (int i = 0; i < RACE_IDS; i++) {
    mctx_search_record r;
    char id[32];
    race_rec(i, &r, id, sizeof id);
    e.sum_dur += r.duration_ms;
    if (r.duration_ms > e.max_dur) e.max_dur = r.duration_ms;
    e.sum_nodes += r.num_expanded_nodes;
    if (r.batch_size > e.max_batch) e.max_batch = r.batch_size;
    int dist = (i % 3) == 0;
    e.dist += dist;
    e.devices += dist ? 4 : 1;
  }
  mctx_daily_stats *d = NULL;
  size_t n = 0;
  CHECK_OK(mctx_store_daily(s1, NULL, NULL, NULL, &d, &n, &st));
  check_days(d, n, &e, 1);
  free(d);
  mctx_search_row *rows = NULL;
  mctx_search_query q = {1000, 0, NULL, NULL};
  CHECK_OK(mctx_store_list(s2, &q, &rows, &n, &st));
  ASSERT_EQ(n, RACE_IDS);
  mctx_search_rows_free(rows, n);
  mctx_store_close(s1);
  mctx_store_close(s2);
  suite_cleanup("racing_writers");
}

/* ==== trees ==== */

TEST(trees_round_trip) {
  mctx_status st;
  SUITE_OPEN(s, "trees_round_trip");
  size_t raw_len = 200000;
  unsigned char *raw = malloc(raw_len);
  ASSERT(raw != NULL);
  uint32_t x = 12345;
  for (size_t i = 0; i < raw_len; i++) {
    x = x * 1103515245u + 12345u;
    raw[i] = (i % 7 == 0) ? (unsigned char)(x >> 24) : (unsigned char)(i & 0x3f);  /* includes NUL bytes */
  }
  void *z = NULL, *back = NULL, *plain = NULL;
  size_t zlen = 0, blen = 0, plen = 0;
  CHECK_OK(mctx_store_zstd_compress(raw, raw_len, 0, &z, &zlen, &st));
  ASSERT(zlen > 4 && zlen < raw_len);
  CHECK_OK(mctx_store_put_tree(s, "tree-1", z, zlen, &st));
  CHECK_OK(mctx_store_get_tree(s, "tree-1", &back, &blen, &st));
  ASSERT_EQ(blen, zlen);
  ASSERT(memcmp(back, z, zlen) == 0);
  CHECK_OK(mctx_store_zstd_decompress(back, blen, 0, &plain, &plen, &st));
  ASSERT_EQ(plen, raw_len);
  ASSERT(memcmp(plain, raw, raw_len) == 0);
  free(back);
  free(plain);
  back = plain = NULL;
  ASSERT_EQ(mctx_store_zstd_decompress(z, zlen, 1000, &plain, &plen, &st), MCTX_ELIMIT);

  /* written again (a replayed spool record): one row, the latest bytes */
  void *z2 = NULL;
  size_t z2len = 0;
  CHECK_OK(mctx_store_zstd_compress("small tree", 10, 1, &z2, &z2len, &st));
  CHECK_OK(mctx_store_put_tree(s, "tree-1", z2, z2len, &st));
  CHECK_OK(mctx_store_put_tree(s, "tree-1", z2, z2len, &st));
  CHECK_OK(mctx_store_get_tree(s, "tree-1", &back, &blen, &st));
  ASSERT_EQ(blen, z2len);
  ASSERT(memcmp(back, z2, z2len) == 0);
  free(back);

  ASSERT_EQ(mctx_store_get_tree(s, "tree-none", &back, &blen, &st), MCTX_ENOTFOUND);
  ASSERT_EQ(mctx_store_put_tree(s, "tree-2", "not zstd", 8, &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "tree");
  free(z);
  free(z2);
  free(raw);
  mctx_store_close(s);
  suite_cleanup("trees_round_trip");
}

/* ==== migrations ==== */

TEST(migrations_idempotent) {
  mctx_status st;
  char url[2048], why[1024] = "";
  if (suite_prepare("migrations", url, sizeof url, why, sizeof why) != 0) SKIP("%s", why);
  mctx_store *s = mctx_store_open2(url, MCTX_STORE_OPEN_NO_MIGRATE, &st);
  if (!s) FAIL_AT("open: %s", st.reason);
  int v = -1, from = -1, to = -1;
  CHECK_OK(mctx_store_schema_version(s, &v, &st));
  ASSERT_EQ(v, 0);
  CHECK_OK(mctx_store_migrate(s, 1, &from, &to, &st));
  ASSERT_EQ(from, 0);
  ASSERT_EQ(to, 1);
  CHECK_OK(mctx_store_migrate(s, 0, &from, &to, &st));
  ASSERT_EQ(from, 1);
  ASSERT_EQ(to, mctx_store_schema_latest());
  CHECK_OK(mctx_store_migrate(s, 0, &from, &to, &st));
  ASSERT_EQ(from, mctx_store_schema_latest());
  ASSERT_EQ(to, mctx_store_schema_latest());
  CHECK_OK(mctx_store_migrate(s, 1, &from, &to, &st));  /* no downgrades */
  ASSERT_EQ(to, mctx_store_schema_latest());
  ASSERT_EQ(mctx_store_migrate(s, 99, &from, &to, &st), MCTX_ERANGE);
  mctx_store_close(s);
  /* opening migrates (nothing left to do), twice */
  for (int i = 0; i < 2; i++) {
    s = mctx_store_open(url, &st);
    if (!s) FAIL_AT("reopen: %s", st.reason);
    CHECK_OK(mctx_store_schema_version(s, &v, &st));
    ASSERT_EQ(v, mctx_store_schema_latest());
    mctx_search_record r = suite_rec("m-1", DAY0, "muzero", "u", "{}", 1, 1, 1, 1);
    CHECK_OK(mctx_store_put(s, &r, 1, &st));
    mctx_store_close(s);
  }
  suite_cleanup("migrations");
}

/* ==== bad input ==== */

TEST(bad_records_rejected) {
  mctx_status st;
  SUITE_OPEN(s, "bad_records");
  mctx_search_record ok = suite_rec("b-ok", DAY0, "muzero", "u", "{}", 1, 1, 1, 1);
  mctx_search_record r = ok;
  r.request_id[0] = '\0';
  ASSERT_EQ(mctx_store_put(s, &r, 1, &st), MCTX_EMISSING);
  ASSERT_STREQ(st.field, "records[0].request_id");
  r = ok;
  r.config_json = "{\"search_params\": ";
  mctx_search_record two[2] = {ok, r};
  ASSERT_EQ(mctx_store_put(s, two, 2, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.field, "records[1].config_json");
  r = ok;
  r.duration_ms = NAN;
  ASSERT_EQ(mctx_store_put(s, &r, 1, &st), MCTX_ERANGE);
  ASSERT_STREQ(st.field, "records[0].duration_ms");
  r = ok;
  r.config_json = "{\"distributed\":\"yes\"}";
  ASSERT_EQ(mctx_store_put(s, &r, 1, &st), MCTX_ETYPE);
  r = ok;
  memcpy(r.user, "\xff\xfe", 3);
  ASSERT_EQ(mctx_store_put(s, &r, 1, &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "records[0].user");
  r = ok;
  memset(r.search_type, 'x', sizeof r.search_type);  /* not terminated */
  ASSERT_EQ(mctx_store_put(s, &r, 1, &st), MCTX_EINVALID);
  /* nothing of the failed batches landed */
  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_search_query q = {10, 0, NULL, NULL};
  CHECK_OK(mctx_store_list(s, &q, &rows, &n, &st));
  ASSERT_EQ(n, 0);
  mctx_search_rows_free(rows, n);
  mctx_store_close(s);
  suite_cleanup("bad_records");
}

/* ==== retention ==== */

TEST(prune_old_searches) {
  mctx_status st;
  SUITE_OPEN(s, "prune");
  mctx_search_record r[3] = {
    suite_rec("p-old1", DAY0 - 10 * DAY_MS, "muzero", "u", "{}", 1, 1, 1, 1),
    suite_rec("p-old2", DAY0 - 9 * DAY_MS, "muzero", "u", "{}", 1, 1, 1, 1),
    suite_rec("p-new", DAY0, "muzero", "u", "{}", 1, 1, 1, 1),
  };
  CHECK_OK(mctx_store_put(s, r, 3, &st));
  int64_t deleted = -1;
  CHECK_OK(mctx_store_prune(s, DAY0 - DAY_MS, &deleted, &st));
  ASSERT_EQ(deleted, 2);
  mctx_search_row row;
  ASSERT_EQ(mctx_store_get(s, "p-old1", &row, &st), MCTX_ENOTFOUND);
  CHECK_OK(mctx_store_get(s, "p-new", &row, &st));
  mctx_search_row_free(&row);
  mctx_daily_stats *d = NULL;
  size_t n = 0;
  CHECK_OK(mctx_store_daily(s, NULL, NULL, NULL, &d, &n, &st));
  ASSERT_EQ(n, 3);  /* the statistics stay */
  free(d);
  mctx_store_close(s);
  suite_cleanup("prune");
}

#endif
