/* tests/store/test-cmd-db.c: `mctx db` (src/cli/cmd_db.c) on a sqlite
 * database: init, migrate (and again: nothing to do), stats as a table and
 * as JSON, prune, --help on every command, MCTX_DB_URL, and the usage
 * errors. The HANA-only commands' texts are checked in test-hana-sql. */
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "store/cmd_db.h"
#include "store/store.h"
#include "test.h"

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}
static void cleanup(void) {
  if (tmpdir[0]) nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *dir(void) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mctx-cmddb-XXXXXX");
    if (!mkdtemp(tmpdir)) return NULL;
    atexit(cleanup);
  }
  return tmpdir;
}

/* Runs `mctx db ...` (a space-separated line) capturing stdout. */
static int run(const char *line, char *out, size_t cap) {
  char copy[2048];
  snprintf(copy, sizeof copy, "%s", line);
  char *argv[64];
  int argc = 0;
  for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " ")) argv[argc++] = t;
  argv[argc] = NULL;
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s/out.XXXXXX", dir());
  int fd = mkstemp(tmp);
  fflush(stdout);
  int saved = dup(1);
  dup2(fd, 1);
  int rc = mctx_cmd_db(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  close(fd);
  size_t n = 0;
  char *text = mctx_test_read_file(tmp, &n);
  unlink(tmp);
  snprintf(out, cap, "%s", text ? text : "");
  free(text);
  return rc;
}

TEST(init_migrate_stats_prune) {
  if (!dir()) SKIP("no temporary directory");
  char line[1024], out[16384];
  snprintf(line, sizeof line, "db migrate --db sqlite:%s/a/search.db", tmpdir);
  ASSERT_EQ(run(line, out, sizeof out), 0);
  ASSERT_CONTAINS(out, "schema migrated from version 0 to 2");
  ASSERT_EQ(run(line, out, sizeof out), 0);
  ASSERT_CONTAINS(out, "schema is at version 2 (nothing to do)");
  snprintf(line, sizeof line, "db init --db=sqlite:%s/a/search.db", tmpdir);
  ASSERT_EQ(run(line, out, sizeof out), 0);
  ASSERT_CONTAINS(out, "database ready: sqlite (sqlite dialect), schema version 2");

  /* some searches, then the table */
  char url[512];
  snprintf(url, sizeof url, "sqlite:%s/a/search.db", tmpdir);
  mctx_status st;
  mctx_store *s = mctx_store_open(url, &st);
  ASSERT(s != NULL);
  mctx_search_record r[3];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 3; i++) {
    snprintf(r[i].request_id, sizeof r[i].request_id, "c-%d", i);
    r[i].time_ms = INT64_C(1764028800000) + i;
    snprintf(r[i].search_type, sizeof r[i].search_type, "muzero");
    snprintf(r[i].user, sizeof r[i].user, "u");
    snprintf(r[i].device, sizeof r[i].device, "cpu");
    r[i].config_json = i == 0 ? "{\"use_t4_optimizations\":true}" : "{}";
    r[i].duration_ms = 2.0 * (i + 1);
    r[i].num_expanded_nodes = 10;
    r[i].batch_size = 4;
    r[i].num_simulations = 16;
    r[i].max_depth = -1;
  }
  ASSERT_EQ(mctx_store_put(s, r, 3, &st), 0);
  mctx_store_close(s);
  setenv("MCTX_DB_URL", url, 1);  /* no --db: the environment's */
  ASSERT_EQ(run("db stats", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "searches");
  ASSERT_CONTAINS(out, "2025-11-25  muzero                    3      4.000      6.000       10.0         4       16       1           0        1.00");
  ASSERT_EQ(run("db stats --json --type muzero", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "\"day\":\"2025-11-25\",\"search_type\":\"muzero\",\"count\":3,\"avg_duration_ms\":4,");
  ASSERT_CONTAINS(out, "\"gpu_optimized_count\":1");
  ASSERT_EQ(run("db stats --from 2030-01-01", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "(no searches recorded in this range)");
  ASSERT_EQ(run("db stats --from yesterday", out, sizeof out), 2);
  ASSERT_EQ(run("db prune --before 2025-11-26", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "deleted 3 searches");
  ASSERT_EQ(run("db prune --days 30", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "deleted 0 searches");
  ASSERT_EQ(run("db prune", out, sizeof out), 2);
  /* workload classes are HANA's */
  ASSERT_EQ(run("db workload-class --apply", out, sizeof out), 2);
  unsetenv("MCTX_DB_URL");
}

TEST(help_and_usage) {
  char out[16384];
  const char *cmds[] = {"init", "migrate", "stats", "prune", "workload-class", "sdi"};
  for (int i = 0; i < 6; i++) {
    char line[128];
    snprintf(line, sizeof line, "db %s --help", cmds[i]);
    ASSERT_EQ(run(line, out, sizeof out), 0);
    ASSERT_CONTAINS(out, "usage: mctx db");
  }
  ASSERT_EQ(run("db --help", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "workload-class");
  ASSERT_EQ(run("db", out, sizeof out), 2);
  ASSERT_EQ(run("db frobnicate", out, sizeof out), 2);
  ASSERT_EQ(run("db stats --nope", out, sizeof out), 2);
  ASSERT_EQ(run("db migrate --to 9", out, sizeof out), 2);
  ASSERT_EQ(run("db migrate --print --dialect postgresql --to 1", out, sizeof out), 0);
  ASSERT_CONTAINS(out, "CREATE TABLE MCTX_SEARCH_HISTORY (REQUEST_ID VARCHAR(64) NOT NULL PRIMARY KEY");
  ASSERT(strstr(out, "CREATE INDEX") == NULL);
  ASSERT_EQ(run("db init --db postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", out, sizeof out), 1);
}
