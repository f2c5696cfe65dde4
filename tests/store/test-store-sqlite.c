/* tests/store/test-store-sqlite.c: the storage suite (store-suite.h) on the
 * sqlite backend, one fresh database file per test in a temporary
 * directory; plus what only sqlite has (the default path under ./data). */
#include <ftw.h>
#include <unistd.h>

#include "test.h"

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

static void remove_tmpdir(void) {
  if (tmpdir[0]) nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int suite_prepare(const char *name, char *url, size_t cap, char *why, size_t whycap) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mctx-store-sqlite-XXXXXX");
    if (!mkdtemp(tmpdir)) {
      snprintf(why, whycap, "mkdtemp failed");
      tmpdir[0] = '\0';
      return 77;
    }
    atexit(remove_tmpdir);
  }
  /* a subdirectory that does not exist yet: the store creates it */
  snprintf(url, cap, "sqlite:%s/%s/search.db", tmpdir, name);
  return 0;
}

static void suite_cleanup(const char *name) { (void)name; }

#include "store-suite.h"

TEST(sqlite_url_forms) {
  mctx_status st;
  char url[512];
  if (suite_prepare("forms", url, sizeof url, NULL, 0) != 0) SKIP("no temporary directory");
  /* sqlite:///abs/path is the same file as sqlite:/abs/path */
  snprintf(url, sizeof url, "sqlite://%s/forms.db", tmpdir);
  mctx_store *s = mctx_store_open(url, &st);
  if (!s) FAIL_AT("%s", st.reason);
  ASSERT_STREQ(mctx_store_backend(s), "sqlite");
  ASSERT_STREQ(mctx_store_dialect(s), "sqlite");
  mctx_store_close(s);
  snprintf(url, sizeof url, "%s/forms.db", tmpdir);
  ASSERT(access(url, F_OK) == 0);
  ASSERT(mctx_store_open("mysql://x", &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EINVALID);
  ASSERT_STREQ(st.field, "db");
  ASSERT(mctx_store_open("sqlite:/proc/no/such/dir/x.db", &st) == NULL);
}
