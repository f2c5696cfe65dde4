/* fuzz/fuzz_store.c: what the history routes hand to the store
 * (src/store): the filters of GET /api/v1/searches and /api/v1/stats/daily,
 * request ids, and records and trees to write, all as text a client could
 * have chosen, quotes, comment markers, NULs and invalid UTF-8 included.
 *
 * The store is SQLite in a temporary folder (MCTX_FUZZ_STORE_URL names
 * another, e.g. a temporary PostgreSQL), seeded with searches of three users.
 * Checks: a list filtered by user or search type returns only rows of that
 * user and type, never more than the limit; a day range returns only its
 * days; a get returns the id asked for; a record or tree written comes back
 * byte for byte. Text that changed the statement (SQL built from it) would
 * break these. Input: a selector byte, then newline-separated fields: user,
 * search type, from, to, request id, config JSON, summary JSON; two more
 * bytes give limit and offset. */
#include <string.h>

#include "fuzz.h"
#include "store/store.h"

static mctx_store *g_store;

static void seed(void) {
  static const char *const users[] = {"alice", "bob", "carol"};
  static const char *const types[] = {"muzero", "gumbel_muzero", "stochastic_muzero"};
  mctx_search_record recs[27];
  memset(recs, 0, sizeof recs);
  for (int i = 0; i < 27; i++) {
    mctx_search_record *r = &recs[i];
    snprintf(r->request_id, sizeof r->request_id, "seed-%02d", i);
    snprintf(r->user, sizeof r->user, "%s", users[i % 3]);
    snprintf(r->search_type, sizeof r->search_type, "%s", types[(i / 3) % 3]);
    r->time_ms = 1795500000000LL + (int64_t)(i / 9) * 86400000LL;
    r->batch_size = 1;
    r->num_simulations = 8;
    r->max_depth = -1;
    r->config_json = "{\"search_type\":\"muzero\"}";
    r->duration_ms = 0.5;
    r->num_expanded_nodes = 8;
    r->max_depth_reached = 3;
    snprintf(r->device, sizeof r->device, "cpu");
    r->summary_json = "{\"ok\":true}";
    r->num_devices = 1;
  }
  mctx_status st;
  if (mctx_store_put(g_store, recs, 27, &st) != 0) {
    fprintf(stderr, "fuzz_store: cannot seed the store: %s\n", st.reason);
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char url[600];
  const char *env = getenv("MCTX_FUZZ_STORE_URL");
  if (env && *env) snprintf(url, sizeof url, "%s", env);
  else snprintf(url, sizeof url, "sqlite:%s/store.db", fuzz_workdir());
  mctx_status st;
  mctx_status_clear(&st);
  g_store = mctx_store_open(url, &st);
  if (!g_store) {
    fprintf(stderr, "fuzz_store: cannot open %s: %s\n", url, st.reason);
    abort();
  }
  seed();
  return 0;
}

static void piece(fuzz_in *in, char *out, size_t cap) {
  const uint8_t *p;
  size_t n = fuzz_piece(in, '\n', &p);
  fuzz_cstr(p, n, out, cap);
}

static void check_list(const char *user, const char *type, int limit, int offset) {
  mctx_search_query q = {limit, offset, type, user};
  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_status st;
  if (mctx_store_list(g_store, &q, &rows, &n, &st) != 0) {
    FUZZ_CHECK(rows == NULL && st.reason[0], "a refused list without a reason");
    return;
  }
  int lim = limit <= 0 ? 100 : limit;
  FUZZ_CHECK(n <= (size_t)lim, "%zu rows for limit %d", n, lim);
  for (size_t i = 0; i < n; i++) {
    const mctx_search_record *r = &rows[i].rec;
    if (user && *user) FUZZ_CHECK(strcmp(r->user, user) == 0, "filter user '%s' returned a row of '%s'", user, r->user);
    if (type && *type)
      FUZZ_CHECK(strcmp(r->search_type, type) == 0, "filter type '%s' returned a row of type '%s'", type,
                 r->search_type);
    if (i) FUZZ_CHECK(rows[i - 1].rec.time_ms >= r->time_ms, "rows not newest first");
  }
  mctx_search_rows_free(rows, n);
}

static void check_daily(const char *from, const char *to, const char *type) {
  mctx_daily_stats *rows = NULL;
  size_t n = 0;
  mctx_status st;
  if (mctx_store_daily(g_store, from, to, type, &rows, &n, &st) != 0) {
    FUZZ_CHECK(rows == NULL && st.reason[0], "a refused daily read without a reason");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (from && *from) FUZZ_CHECK(strcmp(rows[i].day, from) >= 0, "day %s before from=%s", rows[i].day, from);
    if (to && *to) FUZZ_CHECK(strcmp(rows[i].day, to) <= 0, "day %s after to=%s", rows[i].day, to);
    if (type && *type)
      FUZZ_CHECK(strcmp(rows[i].search_type, type) == 0, "daily filter '%s' returned '%s'", type,
                 rows[i].search_type);
    FUZZ_CHECK(rows[i].count > 0, "a day with count %lld", (long long)rows[i].count);
  }
  free(rows);
}

/* 1: found (and the row's id is id), 0: not found, -1: refused. */
static int get_row(const char *id, mctx_search_row *row) {
  mctx_status st;
  int rc = mctx_store_get(g_store, id, row, &st);
  if (rc == MCTX_ENOTFOUND) return 0;
  if (rc != 0) {
    FUZZ_CHECK(st.reason[0], "a refused get without a reason");
    return -1;
  }
  FUZZ_CHECK(strcmp(row->rec.request_id, id) == 0, "get '%s' returned '%s'", id, row->rec.request_id);
  return 1;
}

static void check_put(const char *id, const char *user, const char *type, const char *config, const char *summary,
                      unsigned sel) {
  if (strlen(id) >= sizeof(((mctx_search_record *)0)->request_id)) return;
  mctx_search_row before;
  int had = get_row(id, &before);
  if (had == 1) mctx_search_row_free(&before);
  if (had < 0) return;
  mctx_search_record r;
  memset(&r, 0, sizeof r);
  snprintf(r.request_id, sizeof r.request_id, "%s", id);
  /* cut to the record's fields (the cut may leave invalid UTF-8: refused) */
  snprintf(r.user, sizeof r.user, "%.63s", user);
  snprintf(r.search_type, sizeof r.search_type, "%.31s", type);
  snprintf(r.device, sizeof r.device, "%s", sel & 0x40 ? "gpu" : "cpu");
  r.time_ms = 1795500000000LL + (int64_t)(sel & 7) * 86400000LL;
  r.batch_size = (int32_t)(sel & 0x0f);
  r.num_simulations = 4;
  r.max_depth = (sel & 0x20) ? 3 : -1;
  r.config_json = *config ? config : NULL;
  r.summary_json = *summary ? summary : NULL;
  r.duration_ms = 1.0;
  r.num_devices = 1;
  mctx_status st;
  if (mctx_store_put(g_store, &r, 1, &st) != 0) {
    FUZZ_CHECK(st.reason[0], "a refused put without a reason");
    return;
  }
  mctx_search_row after;
  FUZZ_CHECK(get_row(id, &after) == 1, "record '%s' written but not found", id);
  if (!had) {
    FUZZ_CHECK(strcmp(after.rec.user, r.user) == 0, "user '%s' came back as '%s'", r.user, after.rec.user);
    FUZZ_CHECK(strcmp(after.rec.search_type, r.search_type) == 0, "type '%s' came back as '%s'", r.search_type,
               after.rec.search_type);
    FUZZ_CHECK(after.rec.time_ms == r.time_ms, "time %lld came back as %lld", (long long)r.time_ms,
               (long long)after.rec.time_ms);
  }
  mctx_search_row_free(&after);
  /* listed under its own user and type */
  check_list(r.user, r.search_type, 1000, 0);
}

static void check_tree(const char *id, const uint8_t *bytes, size_t n, int write) {
  mctx_status st;
  if (write) {
    void *z = NULL;
    size_t zlen = 0;
    if (mctx_store_zstd_compress(bytes, n, 1, &z, &zlen, &st) != 0) return;
    int rc = mctx_store_put_tree(g_store, id, z, zlen, &st);
    if (rc == 0) {
      void *back = NULL;
      size_t blen = 0;
      FUZZ_CHECK(mctx_store_get_tree(g_store, id, &back, &blen, &st) == 0, "tree '%s' written, not read: %s", id,
                 st.reason);
      FUZZ_CHECK(blen == zlen && memcmp(back, z, zlen) == 0, "tree '%s' came back changed", id);
      free(back);
    } else {
      FUZZ_CHECK(st.reason[0], "a refused tree without a reason");
    }
    free(z);
    return;
  }
  void *back = NULL;
  size_t blen = 0;
  if (mctx_store_get_tree(g_store, id, &back, &blen, &st) == 0) FUZZ_CHECK(back && blen >= 4, "an empty tree");
  free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  fuzz_in in = {data, size};
  unsigned sel = fuzz_byte(&in);
  int limit = (int)fuzz_byte(&in) * 5 - 20;   /* -20 .. 1255: past both ends */
  int offset = (int)fuzz_byte(&in) - 8;       /* -8 .. 247 */
  char user[128], type[128], from[64], to[64], id[128], config[1024], summary[1024];
  piece(&in, user, sizeof user);
  piece(&in, type, sizeof type);
  piece(&in, from, sizeof from);
  piece(&in, to, sizeof to);
  piece(&in, id, sizeof id);
  piece(&in, config, sizeof config);
  piece(&in, summary, sizeof summary);

  check_list(sel & 1 ? user : NULL, sel & 2 ? type : NULL, limit, offset);
  check_daily(sel & 4 ? from : NULL, sel & 8 ? to : NULL, sel & 2 ? type : NULL);
  mctx_search_row row;
  if (*id && get_row(id, &row) == 1) mctx_search_row_free(&row);
  /* writes are rarer, so that the table stays small and reads stay fast */
  if ((sel & 0xF0) == 0xF0 && *id) check_put(id, user, type, config, summary, sel);
  if ((sel & 0xF0) == 0xE0 && *id) check_tree(id, in.p, in.n, 1);
  else if (*id) check_tree(id, NULL, 0, 0);
  return 0;
}
