/* tests/reliability/test-regressions.c: the bugs the fuzzers found
 * (docs/RELIABILITY.md, "Bugs found"), each as the smallest input that
 * showed it and what must happen instead. The fuzzers' reproducers are also
 * replayed whole by ctest's fuzz/replay-<target> tests. */
#include <math.h>
#include <string.h>

#include "api/api.h"
#include "mctx/json.h"
#include "test.h"
#include "util/jsonw.h"

static mctx_api_env *env(void) {
  static mctx_api_env e;
  static int ready;
  if (!ready) {
    mctx_api_limits_default(&e.limits);
    e.default_model = "synthetic";
    mctx_status st;
    if (mctx_api_engines_open(&e, "cpu", 1, &st) != 0) return NULL;
    ready = 1;
  }
  return &e;
}

/* A body that must be refused with `code` naming `field`. */
static int refused(const char *body, int code, const char *field) {
  mctx_api_env *e = env();
  if (!e) return 0;
  mctx_job *job = NULL;
  mctx_status st;
  int rc = mctx_job_prepare(e, body, strlen(body), "regression", "test", &job, &st);
  if (job) mctx_job_free(job);
  if (rc != code || strcmp(st.field, field) != 0) {
    fprintf(stderr, "  body %s\n  answered %d field '%s' reason '%s' (expected %d '%s')\n", body, rc, st.field,
            st.reason, code, field);
    return 0;
  }
  return 1;
}

/* Bug 1 (fuzz-request): an integer field given as a number that overflows a
 * double (21e308 is inf) was converted to int64 before its range was
 * checked: undefined behaviour (UBSan: "inf is outside the range of
 * representable values"). Now it is refused as out of range. */
TEST(json_int_out_of_range_is_refused_not_converted) {
  const char *docs[] = {"21e308", "-21e308", "1e19", "-9.3e18", "9.2e18"};
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    mctx_status st;
    mctx_json_doc *d = mctx_json_parse(docs[i], strlen(docs[i]), NULL, &st);
    ASSERT(d != NULL);
    int64_t v = 0;
    ASSERT_EQ(mctx_json_int(mctx_json_root(d), 0, &v, "n", &st), MCTX_ERANGE);
    ASSERT_STREQ(st.field, "n");
    mctx_json_doc_free(d);
  }
  mctx_status st;
  mctx_json_doc *d = mctx_json_parse("3.0", 3, NULL, &st);
  int64_t v = 0;
  ASSERT_EQ(mctx_json_int(mctx_json_root(d), 0, &v, "n", &st), 0);
  ASSERT_EQ(v, 3);
  mctx_json_doc_free(d);
  ASSERT(refused("{\"root_input\":{\"batch_size\":1,\"num_actions\":8},"
                 "\"search_params\":{\"num_simulations\":21e308,\"seed\":2},\"model\":\"synthetic\"}",
                 MCTX_ERANGE, "search_params.num_simulations"));
  ASSERT(refused("{\"root_input\":{\"batch_size\":-1e999,\"num_actions\":8}}", MCTX_ERANGE, "root_input.batch_size"));
}

/* Bug 2 (fuzz-http): the error envelope quoted what the client sent (a
 * method "\xadGET", a path "/%ff") byte for byte, so an answer could be
 * invalid JSON (invalid UTF-8); a message cut to its buffer in the middle
 * of a character did the same. The JSON writer now writes every byte that
 * is not part of valid UTF-8 as U+FFFD (and the log writer likewise). */
TEST(json_writer_output_is_valid_utf8_whatever_the_input) {
  static const char *const texts[] = {
    "\xad" "GET", "/\xff\xfe", "caf\xc3", "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac", "\xed\xa0\x80",
    "\xc0\xaf", "\xf4\x90\x80\x80", "\xf0\x9f\x98\x80", "a\x7f" "b", "\xe2\x82",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    mctx_buf b;
    mctx_buf_init(&b, 0);
    mctx_jw w;
    mctx_jw_init(&w, &b);
    mctx_jw_obj(&w);
    MCTX_JW_KV(&w, texts[i], mctx_jw_str, texts[i]);
    mctx_jw_end(&w);
    mctx_status st;
    mctx_json_doc *d = mctx_json_parse(b.data, b.len, NULL, &st);
    if (!d) FAIL_AT("text %zu: %s is not JSON: %s", i, b.data, st.reason);
    mctx_json_doc_free(d);
    mctx_buf_free(&b);
  }
  /* valid UTF-8 goes through unchanged */
  mctx_buf b;
  mctx_buf_init(&b, 0);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_str(&w, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
  ASSERT_STREQ(b.data, "\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\"");
  mctx_buf_reset(&b);
  mctx_jw_init(&w, &b);
  mctx_jw_str(&w, "\xad" "GET");
  ASSERT_STREQ(b.data, "\"\\ufffdGET\"");
  mctx_buf_free(&b);
  /* the envelope of a status whose reason holds such bytes */
  mctx_status st;
  mctx_status_set(&st, MCTX_EUNSUPPORTED, "method", "%s is not allowed on %s", "\xad" "GET", "/\xff");
  mctx_buf_init(&b, 0);
  mctx_error_json(&b, 405, &st);
  mctx_json_doc *d = mctx_json_parse(b.data, b.len, NULL, &st);
  ASSERT(d != NULL);
  mctx_json_doc_free(d);
  mctx_buf_free(&b);
}

/* fuzz-tree, 2026-12-07: the stored-tree reader's member scanner took a
 * value that starts with a vertical tab for a scalar and cut it at the next
 * comma ('\v{"a":[1'), and the service would have sent those bytes as JSON.
 * Scalars are now scanned as JSON writes them, and the member is validated
 * (mctx_json_valid, no document built) before it is sent. */
TEST(tree_member_is_json_or_refused) {
  mctx_status st;
  const char *cut = "\v\v{\"a\":[1";
  ASSERT(mctx_json_valid(cut, strlen(cut), 256, &st) != 0);
  ASSERT(st.reason[0] != '\0');
  const char *ok[] = {"{\"a\":[1, 2]}", "[]", "-0.5e+3", "true", "\"x\\u00e9\"", " null "};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) ASSERT_EQ(mctx_json_valid(ok[i], strlen(ok[i]), 256, &st), 0);
  const char *bad[] = {"", "{", "[1,]", "01", "1 2", "{\"a\":1}{}", "nul", "\"\\q\""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) ASSERT(mctx_json_valid(bad[i], strlen(bad[i]), 256, &st) != 0);
  /* nesting beyond the bound is refused without building anything */
  char deep[600];
  memset(deep, '[', 300);
  memset(deep + 300, ']', 300);
  ASSERT_EQ(mctx_json_valid(deep, 600, 256, &st), MCTX_ELIMIT);
  ASSERT_EQ(mctx_json_valid(deep, 600, 512, &st), 0);
}
