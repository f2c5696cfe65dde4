/* tests/store/test-store-pg.c: the storage suite (store-suite.h) on the
 * postgresql backend (libpq), against a real temporary PostgreSQL server
 * that this executable starts and stops (pgtmp.h), one database per test.
 * When no server can be started here, every test SKIPs with the reason. */
#include "pgtmp.h"
#include "test.h"

static pgtmp pg;
static int pg_state;  /* 0: not tried, 1: up, -1: cannot start */

static void pg_down(void) { pgtmp_destroy(&pg); }

static int suite_prepare(const char *name, char *url, size_t cap, char *why, size_t whycap) {
  if (pg_state == 0) {
    pg_state = pgtmp_start(&pg) == 0 ? 1 : -1;
    atexit(pg_down);
  }
  if (pg_state < 0) {
    snprintf(why, whycap, "no PostgreSQL server could be started: %s", pg.why);
    return 77;
  }
  char sql[256];
  snprintf(sql, sizeof sql, "CREATE DATABASE t_%s", name);
  if (pgtmp_sql(&pg, "postgres", sql) != 0) {
    snprintf(why, whycap, "CREATE DATABASE t_%s failed on the temporary server", name);
    return 77;
  }
  snprintf(url, cap, "postgresql://mctx@127.0.0.1:%d/t_%s", pg.port, name);
  return 0;
}

static void suite_cleanup(const char *name) { (void)name; }

#include "store-suite.h"

TEST(pg_bad_url_fails_cleanly) {
  mctx_status st;
  char url[256];
  char why[512];
  if (suite_prepare("bad_url", url, sizeof url, why, sizeof why) != 0) SKIP("%s", why);
  mctx_store *s = mctx_store_open("postgresql://mctx@127.0.0.1:1/none?connect_timeout=2", &st);
  ASSERT(s == NULL);
  ASSERT_EQ(st.code, MCTX_EDB);
  ASSERT_CONTAINS(st.reason, "cannot connect");
  s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("%s", st.reason);
  ASSERT_STREQ(mctx_store_backend(s), "postgresql");
  mctx_store_close(s);
}
