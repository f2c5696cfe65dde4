/* tests/store/test-store-hana.c: the storage suite (store-suite.h) against a
 * real SAP HANA database, for an operator who has one: set
 *
 *   MCTX_TEST_HANA_URL='odbc:DRIVER=/path/to/libodbcHDB.so;SERVERNODE=<host>:443;UID=<user>;PWD=<password>;dialect=hana'
 *
 * and run this test (ctest -R store/test-store-hana). Each test works in a
 * schema of its own, MCTX_T_<test>_<pid>, created first and dropped (CASCADE)
 * after; the user needs CREATE SCHEMA. Without the variable every test SKIPs:
 * no HANA server was available where this suite was written (the HANA texts
 * are checked by test-hana-sql instead). */
#include <unistd.h>

#include "store/store-impl.h"
#include "test.h"

static char schema_of[64][96];

static void schema_name(const char *name, char *out, size_t cap) {
  char up[64];
  size_t i = 0;
  for (; name[i] && i < sizeof up - 1; i++) up[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
  up[i] = '\0';
  snprintf(out, cap, "MCTX_T_%s_%d", up, (int)getpid());
}

static int admin(const char *base, const char *sql, char *why, size_t whycap) {
  mctx_status st;
  mctx_store *s = mctx_store_open2(base, MCTX_STORE_OPEN_NO_MIGRATE, &st);
  if (!s) { snprintf(why, whycap, "cannot connect to MCTX_TEST_HANA_URL: %.300s", st.reason); return -1; }
  int rc = mctx__store_exec(s, sql, &st);
  if (rc != 0) snprintf(why, whycap, "%.100s: %.300s", sql, st.reason);
  mctx_store_close(s);
  return rc;
}

static int suite_prepare(const char *name, char *url, size_t cap, char *why, size_t whycap) {
  const char *base = getenv("MCTX_TEST_HANA_URL");
  if (!base || !base[0]) {
    snprintf(why, whycap, "MCTX_TEST_HANA_URL is not set (no SAP HANA database to test against; see docs/DATABASE.md)");
    return 77;
  }
  char schema[96], sql[160];
  schema_name(name, schema, sizeof schema);
  snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
  if (admin(base, sql, why, whycap) != 0) return 77;
  for (int i = 0; i < 64; i++)
    if (!schema_of[i][0]) { snprintf(schema_of[i], sizeof schema_of[i], "%s", schema); break; }
  snprintf(url, cap, "%s;CURRENTSCHEMA=%s", base, schema);
  return 0;
}

static void suite_cleanup(const char *name) {
  const char *base = getenv("MCTX_TEST_HANA_URL");
  char schema[96], sql[160], why[512];
  schema_name(name, schema, sizeof schema);
  snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
  if (base && admin(base, sql, why, sizeof why) != 0) fprintf(stderr, "cleanup: %s\n", why);
}

#include "store-suite.h"
