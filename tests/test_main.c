/* tests/test_main.c: main() of every test executable (see test.h). */
#include "test.h"

#include <sys/stat.h>

mctx_test_case mctx_tests_[MCTX_MAX_TESTS];
int mctx_ntests_;
int mctx_test_failed_;
int mctx_test_skipped_;
char mctx_test_skip_reason_[2048];

const char *mctx_test_reference_dir(void) {
  static char path[1024];
  const char *env = getenv("MCTX_REFERENCE_DIR");
  snprintf(path, sizeof path, "%s", env && env[0] ? env : MCTX_REFERENCE_DIR_DEFAULT);
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return NULL;
  return path;
}

char *mctx_test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *p = malloc((size_t)n + 1);
  if (!p) { fclose(f); return NULL; }
  size_t got = fread(p, 1, (size_t)n, f);
  fclose(f);
  p[got] = '\0';
  if (len) *len = got;
  return p;
}

int main(int argc, char **argv) {
  int failed = 0, ran = 0, skipped = 0;
  for (int t = 0; t < mctx_ntests_; t++) {
    if (argc > 1) {
      int want = 0;
      for (int a = 1; a < argc; a++) want |= strcmp(argv[a], mctx_tests_[t].name) == 0;
      if (!want) continue;
    }
    mctx_test_failed_ = 0;
    mctx_test_skipped_ = 0;
    mctx_tests_[t].fn();
    ran++;
    if (mctx_test_failed_) {
      failed++;
      fprintf(stderr, "FAIL %s\n", mctx_tests_[t].name);
    } else if (mctx_test_skipped_) {
      skipped++;
      fprintf(stderr, "SKIP %s: %s\n", mctx_tests_[t].name, mctx_test_skip_reason_);
    } else {
      fprintf(stderr, "ok   %s\n", mctx_tests_[t].name);
    }
  }
  fprintf(stderr, "%d tests, %d failed, %d skipped\n", ran, failed, skipped);
  if (failed) return 1;
  if (skipped && skipped == ran) return 77;
  return 0;
}
