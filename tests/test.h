/* tests/test.h: a small test harness (in the manner of libuv's).
 *
 * Each test file is one executable; TEST(name) defines a test, main() runs
 * them all (or those named on the command line) and returns non-zero on a
 * failure. ASSERT_* print both sides. A test that cannot run here calls
 * SKIP("why"): the executable then exits 77, which ctest reports as skipped. */
#ifndef MCTX_TEST_H
#define MCTX_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*mctx_test_fn)(void);
typedef struct { const char *name; mctx_test_fn fn; } mctx_test_case;

#define MCTX_MAX_TESTS 512
extern mctx_test_case mctx_tests_[MCTX_MAX_TESTS];
extern int mctx_ntests_;
extern int mctx_test_failed_;
extern int mctx_test_skipped_;
extern char mctx_test_skip_reason_[2048];

#define TEST(name)                                                        \
  static void test_##name(void);                                          \
  __attribute__((constructor)) static void register_##name(void) {        \
    if (mctx_ntests_ < MCTX_MAX_TESTS)                                    \
      mctx_tests_[mctx_ntests_++] = (mctx_test_case){#name, test_##name}; \
  }                                                                       \
  static void test_##name(void)

#define FAIL_AT(...) do {                                                 \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                       \
    fprintf(stderr, __VA_ARGS__);                                         \
    fprintf(stderr, "\n");                                                \
    mctx_test_failed_ = 1;                                                \
    return;                                                               \
  } while (0)

#define ASSERT(c) do { if (!(c)) FAIL_AT("assertion failed: %s", #c); } while (0)
#define ASSERT_EQ(a, b) do {                                              \
    long long a_ = (long long)(a), b_ = (long long)(b);                   \
    if (a_ != b_) FAIL_AT("%s == %s: %lld != %lld", #a, #b, a_, b_);      \
  } while (0)
#define ASSERT_NE(a, b) do {                                              \
    long long a_ = (long long)(a), b_ = (long long)(b);                   \
    if (a_ == b_) FAIL_AT("%s != %s: both %lld", #a, #b, a_);             \
  } while (0)
#define ASSERT_U32_EQ(a, b) do {                                          \
    uint32_t a_ = (uint32_t)(a), b_ = (uint32_t)(b);                      \
    if (a_ != b_) FAIL_AT("%s == %s: %" PRIu32 " != %" PRIu32, #a, #b, a_, b_); \
  } while (0)
#define ASSERT_NEAR(a, b, tol) do {                                       \
    double a_ = (double)(a), b_ = (double)(b);                            \
    if (!(fabs(a_ - b_) <= (tol)) && !(isinf(a_) && a_ == b_))            \
      FAIL_AT("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, (double)(tol)); \
  } while (0)
#define ASSERT_STREQ(a, b) do {                                           \
    const char *a_ = (a), *b_ = (b);                                      \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
      FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
  } while (0)
#define ASSERT_CONTAINS(hay, needle) do {                                 \
    const char *h_ = (hay), *n_ = (needle);                               \
    if (!h_ || !strstr(h_, n_))                                           \
      FAIL_AT("%s contains \"%s\": \"%s\"", #hay, n_, h_ ? h_ : "(null)"); \
  } while (0)
#define SKIP(...) do {                                                    \
    snprintf(mctx_test_skip_reason_, sizeof mctx_test_skip_reason_, __VA_ARGS__); \
    mctx_test_skipped_ = 1;                                               \
    return;                                                               \
  } while (0)

/* The reference data folder (../shared/reference), or NULL when absent. */
const char *mctx_test_reference_dir(void);
/* Reads a whole file (NUL-terminated); NULL when it cannot. free() it. */
char *mctx_test_read_file(const char *path, size_t *len);

#endif
