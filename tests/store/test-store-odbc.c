/* tests/store/test-store-odbc.c: the storage suite (store-suite.h) on the
 * odbc backend, dialect=postgresql, through the psqlODBC driver (loaded by
 * path: no odbcinst.ini needed) against a real temporary PostgreSQL server
 * (pgtmp.h). This runs the ODBC binding code that the HANA dialect shares.
 * SKIPs with the reason when the server or the driver is missing. */
#include "pgtmp.h"
#include "test.h"

static pgtmp pg;
static int pg_state;

static void pg_down(void) { pgtmp_destroy(&pg); }

static int suite_prepare(const char *name, char *url, size_t cap, char *why, size_t whycap) {
  const char *driver = pgtmp_psqlodbc();
  if (!driver) {
    snprintf(why, whycap, "the psqlODBC driver (psqlodbcw.so) is not installed: apt-get install odbc-postgresql, "
             "or set MCTX_TEST_PSQLODBC");
    pgtmp_unavailable("odbc", why);
    return 77;
  }
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
  snprintf(url, cap, "odbc:Driver=%s;Servername=127.0.0.1;Port=%d;Database=t_%s;Uid=mctx;Pwd=;dialect=postgresql",
           driver, pg.port, name);
  return 0;
}

static void suite_cleanup(const char *name) { (void)name; }

#include "store-suite.h"
