/* tests/store/test-hana-sql.c: the SAP HANA dialect's statements, checked as
 * text against the expected files in tests/store/hana/ (no HANA server is
 * available here; docs/DATABASE.md says how an operator runs the storage
 * suite against one).
 *
 * Each file is one case: a first line naming what produces the text, then
 * the expected text (whitespace runs compare equal, so the files may be
 * laid out for reading). Adding a case means adding a file.
 *   -- query: NAME [n=N] [flags=type,user,from,to]   sql.c's statement
 *   -- migration: N                                    migration N's DDL
 *   -- bootstrap: version_table|table_exists|migration_lock|migration_prelude
 *   -- connstr: SPEC                                   the string the driver gets
 *   -- command: db ARGS...                             `mctx db` output
 * Run with MCTX_BLESS=1 to rewrite the files from the current code (then
 * review the diff).
 *
 * Beyond the files: every HANA statement has a case; each HANA statement
 * takes as many parameters as its PostgreSQL twin (so the binding code the
 * ODBC suite runs against PostgreSQL is the one HANA gets); and the HANA
 * texts use the HANA forms (COLUMN TABLE, NCLOB, UPSERT ... WITH PRIMARY KEY,
 * JSON_VALUE) and none of PostgreSQL's. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>

#include "store/cmd_db.h"
#include "store/store-impl.h"
#include "test.h"

static const char *cases_dir(void) {
  static char dir[1024];
  char file[1024];
  snprintf(file, sizeof file, "%s", __FILE__);
  snprintf(dir, sizeof dir, "%s/hana", dirname(file));
  return dir;
}

/* Collapses whitespace runs to one space and trims. */
static void squash(const char *in, mctx_buf *out) {
  int space = 0;
  for (const char *p = in; *p; p++) {
    if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') { space = 1; continue; }
    if (space && out->len) mctx_buf_putc(out, ' ');
    space = 0;
    mctx_buf_putc(out, *p);
  }
  mctx_buf_cstr(out);
}

static unsigned parse_flags(const char *s) {
  unsigned f = 0;
  if (strstr(s, "type")) f |= MCTX__F_TYPE;
  if (strstr(s, "user")) f |= MCTX__F_USER;
  if (strstr(s, "from")) f |= MCTX__F_FROM;
  if (strstr(s, "to")) f |= MCTX__F_TO;
  return f;
}

/* Runs `mctx db ARGS` capturing stdout into out. Returns the exit status. */
static int run_command(const char *args, mctx_buf *out) {
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", args);
  char *argv[64];
  int argc = 0;
  for (char *tok = strtok(copy, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
  argv[argc] = NULL;
  char tmp[] = "/tmp/mctx-hana-cmd-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) return -1;
  fflush(stdout);
  int saved = dup(1);
  dup2(fd, 1);
  int rc = mctx_cmd_db(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  close(fd);
  size_t n;
  char *text = mctx_test_read_file(tmp, &n);
  unlink(tmp);
  if (text) mctx_buf_append(out, text, n);
  mctx_buf_cstr(out);
  free(text);
  return rc;
}

/* Produces the text a case's header names. Returns 0 or -1 (unknown). */
static int produce(const char *header, mctx_buf *out, int *query_seen) {
  char kind[32] = "", rest[1024] = "";
  if (sscanf(header, "-- %31[a-z_]: %1023[^\n]", kind, rest) < 1) return -1;
  if (strcmp(kind, "query") == 0) {
    char name[64] = "";
    int n = 0;
    unsigned flags = 0;
    sscanf(rest, "%63s", name);
    const char *p = strstr(rest, "n=");
    if (p) n = atoi(p + 2);
    p = strstr(rest, "flags=");
    if (p) flags = parse_flags(p + 6);
    int q = mctx__query_by_name(name);
    if (q < 0) return -1;
    query_seen[q] = 1;
    return mctx__sql_query(MCTX__DIALECT_HANA, q, n, flags, out) == 0 ? 0 : -1;
  }
  if (strcmp(kind, "migration") == 0) {
    const char *const *stmts = mctx__schema_migration(MCTX__DIALECT_HANA, atoi(rest));
    if (!stmts) return -1;
    for (size_t i = 0; stmts[i]; i++) mctx_buf_printf(out, "%s;\n", stmts[i]);
    return 0;
  }
  if (strcmp(kind, "bootstrap") == 0) {
    const char *t = strcmp(rest, "version_table") == 0       ? mctx__sql_version_table(MCTX__DIALECT_HANA)
                    : strcmp(rest, "table_exists") == 0      ? mctx__sql_table_exists(MCTX__DIALECT_HANA)
                    : strcmp(rest, "migration_lock") == 0    ? mctx__sql_migration_lock(MCTX__DIALECT_HANA)
                    : strcmp(rest, "migration_prelude") == 0 ? mctx__sql_migration_prelude(MCTX__DIALECT_HANA)
                                                             : NULL;
    if (!t) return -1;
    mctx_buf_puts(out, t);
    return 0;
  }
  if (strcmp(kind, "connstr") == 0) {
    char *cs = NULL;
    int dialect = -1;
    mctx_status st;
    if (mctx__odbc_connstr(rest, &cs, &dialect, &st) != 0) {
      mctx_buf_printf(out, "error: %s", st.reason);
      return 0;
    }
    mctx_buf_printf(out, "dialect=%s\n%s", mctx__dialect_name(dialect), cs);
    free(cs);
    return 0;
  }
  if (strcmp(kind, "command") == 0) {
    int rc = run_command(rest, out);
    if (rc != 0) mctx_buf_printf(out, "\nexit %d", rc);
    return 0;
  }
  return -1;
}

TEST(hana_statements_match_expected_files) {
  const char *dir = cases_dir();
  DIR *d = opendir(dir);
  if (!d) FAIL_AT("cannot open %s", dir);
  int bless = getenv("MCTX_BLESS") && getenv("MCTX_BLESS")[0] == '1';
  int query_seen[MCTX__Q_COUNT_] = {0};
  int cases = 0, bad = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".sql") != 0) continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *text = mctx_test_read_file(path, NULL);
    if (!text) { bad++; fprintf(stderr, "%s: unreadable\n", path); continue; }
    char *nl = strchr(text, '\n');
    char header[1100];
    snprintf(header, sizeof header, "%.*s", nl ? (int)(nl - text) : (int)strlen(text), text);
    mctx_buf got, want, raw;
    mctx_buf_init(&got, 1 << 20);
    mctx_buf_init(&want, 1 << 20);
    mctx_buf_init(&raw, 1 << 20);
    if (produce(header, &raw, query_seen) != 0) {
      bad++;
      fprintf(stderr, "%s: cannot produce '%s'\n", e->d_name, header);
    } else if (bless) {
      FILE *f = fopen(path, "w");
      if (f) { fprintf(f, "%s\n%s%s", header, mctx_buf_cstr(&raw), raw.len && raw.data[raw.len - 1] == '\n' ? "" : "\n"); fclose(f); }
    } else {
      squash(mctx_buf_cstr(&raw), &got);
      squash(nl ? nl + 1 : "", &want);
      if (strcmp(mctx_buf_cstr(&got), mctx_buf_cstr(&want)) != 0) {
        bad++;
        fprintf(stderr, "%s: text differs\n  expected: %s\n  got:      %s\n", e->d_name, mctx_buf_cstr(&want),
                mctx_buf_cstr(&got));
      }
    }
    cases++;
    mctx_buf_free(&got);
    mctx_buf_free(&want);
    mctx_buf_free(&raw);
    free(text);
  }
  closedir(d);
  ASSERT(cases >= 10);
  ASSERT_EQ(bad, 0);
  /* every statement HANA has, has a case */
  for (int q = 0; q < MCTX__Q_COUNT_; q++) {
    mctx_buf b;
    mctx_buf_init(&b, 1 << 20);
    int has = mctx__sql_query(MCTX__DIALECT_HANA, q, 1, 0, &b) == 0;
    mctx_buf_free(&b);
    if (has && !query_seen[q]) FAIL_AT("no expected file for the HANA statement '%s'", mctx__query_name(q));
  }
}

TEST(hana_and_postgresql_statements_bind_alike) {
  for (int q = 0; q < MCTX__Q_COUNT_; q++) {
    for (int n = 1; n <= 3; n++) {
      for (unsigned flags = 0; flags < 16; flags++) {
        mctx_buf h, p;
        mctx_buf_init(&h, 1 << 20);
        mctx_buf_init(&p, 1 << 20);
        int hr = mctx__sql_query(MCTX__DIALECT_HANA, q, n, flags, &h);
        int pr = mctx__sql_query(MCTX__DIALECT_POSTGRESQL, q, n, flags, &p);
        if (hr == 0 && q != MCTX__Q_PUT_BATCH) {
          if (pr != 0) FAIL_AT("%s: HANA has it, PostgreSQL not", mctx__query_name(q));
          int hc = mctx__sql_count_params(mctx_buf_cstr(&h)), pc = mctx__sql_count_params(mctx_buf_cstr(&p));
          if (hc != pc) FAIL_AT("%s n=%d flags=%u: %d parameters on HANA, %d on PostgreSQL", mctx__query_name(q), n,
                                flags, hc, pc);
          const char *t = mctx_buf_cstr(&h);
          if (strstr(t, "ON CONFLICT") || strstr(t, "::") || strstr(t, "JSONB") || strstr(t, "#>>"))
            FAIL_AT("%s: PostgreSQL syntax in the HANA text: %s", mctx__query_name(q), t);
        }
        mctx_buf_free(&h);
        mctx_buf_free(&p);
      }
    }
  }
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  ASSERT_EQ(mctx__sql_query(MCTX__DIALECT_HANA, MCTX__Q_PUT_HISTORY, 0, 0, &b), 0);
  ASSERT_CONTAINS(mctx_buf_cstr(&b), "UPSERT MCTX_SEARCH_HISTORY");
  ASSERT_CONTAINS(mctx_buf_cstr(&b), "WITH PRIMARY KEY");
  mctx_buf_reset(&b);
  ASSERT_EQ(mctx__sql_query(MCTX__DIALECT_HANA, MCTX__Q_PUT_STATS, 2, 0, &b), 0);
  ASSERT_CONTAINS(mctx_buf_cstr(&b), "JSON_VALUE(H.CONFIG_JSON, '$.use_t4_optimizations')");
  ASSERT_CONTAINS(mctx_buf_cstr(&b), "JSON_VALUE(H.CONFIG_JSON, '$.num_devices')");
  mctx_buf_free(&b);
  const char *const *v1 = mctx__schema_migration(MCTX__DIALECT_HANA, 1);
  for (size_t i = 0; v1[i]; i++) ASSERT_CONTAINS(v1[i], "CREATE COLUMN TABLE");
  ASSERT_CONTAINS(v1[0], "CONFIG_JSON NCLOB");
}

TEST(placeholders_outside_quotes_only) {
  ASSERT_EQ(mctx__sql_count_params("SELECT '?', \"a?\" FROM t WHERE a = ? AND b = '''?' AND c = ?"), 2);
  mctx_buf b;
  mctx_buf_init(&b, 4096);
  ASSERT_EQ(mctx__sql_dollars("UPDATE t SET a = ?, b = 'x?y' WHERE c = ?", &b), 0);
  ASSERT_STREQ(mctx_buf_cstr(&b), "UPDATE t SET a = $1, b = 'x?y' WHERE c = $2");
  mctx_buf_free(&b);
}

TEST(workload_class_rejects_injection) {
  mctx_buf out;
  mctx_buf_init(&out, 1 << 16);
  ASSERT_EQ(run_command("db workload-class --app mctx';DROP", &out), 2);
  ASSERT_EQ(run_command("db workload-class --class X\"Y", &out), 2);
  ASSERT_EQ(run_command("db workload-class --priority 10", &out), 2);
  ASSERT_EQ(run_command("db workload-class --statement-memory 0", &out), 2);
  ASSERT_EQ(run_command("db sdi --host h;x", &out), 2);
  ASSERT_EQ(run_command("db sdi --host h --adapter HanaAdapter", &out), 2);
  ASSERT_EQ(run_command("db workload-class --bogus", &out), 2);
  ASSERT_EQ(out.len, 0);  /* nothing printed on stdout for a refused command */
  mctx_buf_free(&out);
}

/* odbc: URLs must say their dialect; the connection string's syntax is checked. */
TEST(odbc_url_needs_a_dialect) {
  mctx_status st;
  ASSERT(mctx_store_open("odbc:Driver=x;Server=y", &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EMISSING);
  ASSERT_CONTAINS(st.reason, "dialect=hana or dialect=postgresql");
  ASSERT(mctx_store_open("odbc:Driver=x;dialect=oracle", &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EINVALID);
  ASSERT(mctx_store_open("odbc:Driver={unclosed;dialect=hana", &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EPARSE);
}
