/* tests/util/test-json.c: the JSON document (util/json.c's parser), the
 * writer and the number conversions they share. */
#include "test.h"

#include "mctx/json.h"
#include "util/jsonw.h"
#include "util/numfmt.h"

static uint64_t s = 0x853c49e6748fea9bull;
static uint32_t rnd32(void) {
  s ^= s << 13; s ^= s >> 7; s ^= s << 17;
  return (uint32_t)(s >> 16);
}

TEST(float32_round_trip) {
  char buf[MCTX_NUMFMT_MAX];
  for (int i = 0; i < 200000; i++) {
    uint32_t bits = rnd32();
    float f;
    memcpy(&f, &bits, 4);
    if (!isfinite(f)) continue;
    size_t n = mctx_fmt_f32(buf, f);
    double d;
    int64_t iv;
    int is_int;
    ASSERT_EQ(mctx_parse_number(buf, n, &d, &iv, &is_int), 0);
    float back = (float)d;
    if (memcmp(&back, &f, 4) != 0 && !(f == 0 && back == 0)) FAIL_AT("%.9g printed as %s reads back as %.9g", f, buf, back);
  }
}

TEST(float32_shortest) {
  char buf[MCTX_NUMFMT_MAX];
  mctx_fmt_f32(buf, 0.1f);
  ASSERT_STREQ(buf, "0.1");
  mctx_fmt_f32(buf, 0.0625f);
  ASSERT_STREQ(buf, "0.0625");
  mctx_fmt_f32(buf, -3.0f);
  ASSERT_STREQ(buf, "-3.0");
  mctx_fmt_f32(buf, 1e-20f);
  ASSERT_STREQ(buf, "1e-20");
  mctx_fmt_f32(buf, 0.996999979f);
  ASSERT_STREQ(buf, "0.997");
  mctx_fmt_f32(buf, NAN);
  ASSERT_STREQ(buf, "null");
}

TEST(float64_round_trip) {
  char buf[MCTX_NUMFMT_MAX + 16];
  for (int i = 0; i < 20000; i++) {
    uint64_t bits = ((uint64_t)rnd32() << 32) | rnd32();
    double f;
    memcpy(&f, &bits, 8);
    if (!isfinite(f)) continue;
    size_t n = mctx_fmt_f64(buf, f);
    double d;
    int64_t iv;
    int is_int;
    ASSERT_EQ(mctx_parse_number(buf, n, &d, &iv, &is_int), 0);
    if (d != f) FAIL_AT("%.17g printed as %s reads back as %.17g", f, buf, d);
  }
}

TEST(integers) {
  double d;
  int64_t iv;
  int is_int;
  ASSERT_EQ(mctx_parse_number("-9223372036854775807", 20, &d, &iv, &is_int), 0);
  ASSERT(is_int);
  ASSERT(iv == -9223372036854775807LL);
  ASSERT_EQ(mctx_parse_number("12.0", 4, &d, &iv, &is_int), 0);
  ASSERT(!is_int);
  ASSERT_EQ(mctx_parse_number("1e3", 3, &d, &iv, &is_int), 0);
  ASSERT_NEAR(d, 1000, 0);
  ASSERT_EQ(mctx_parse_number("abc", 3, &d, &iv, &is_int), -1);
}

TEST(document_and_limits) {
  mctx_status st;
  const char *text = "{\"a\": [1, 2.5, \"x\\n\", true, null, {\"b\": -3}], \"a\": 7}";
  mctx_json_doc *doc = mctx_json_parse(text, strlen(text), NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *r = mctx_json_root(doc);
  ASSERT_EQ(mctx_json_get(r, "a")->i, 7);  /* the last duplicate wins */
  const mctx_json *arr = &r->u.members[0].value;
  ASSERT_EQ(arr->len, 6);
  ASSERT_STREQ(mctx_json_at(arr, 2)->u.str, "x\n");
  ASSERT_EQ(mctx_json_get(mctx_json_at(arr, 5), "b")->i, -3);
  mctx_json_doc_free(doc);
  /* depth */
  char deep[300];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  mctx_json_limits lim = {32, 0};
  ASSERT(mctx_json_parse(deep, 200, &lim, &st) == NULL);
  ASSERT_EQ(st.code, MCTX_ELIMIT);
  /* memory */
  lim.max_depth = 64;
  lim.max_bytes = 4096;
  char big[20000];
  size_t n = 0;
  big[n++] = '[';
  for (int i = 0; i < 2000; i++) n += (size_t)snprintf(big + n, sizeof big - n, "%s%d", i ? "," : "", i);
  big[n++] = ']';
  ASSERT(mctx_json_parse(big, n, &lim, &st) == NULL);
  ASSERT_EQ(st.code, MCTX_ELIMIT);
  /* malformed: the message says where */
  ASSERT(mctx_json_parse("{\"a\": }", 7, NULL, &st) == NULL);
  ASSERT_EQ(st.code, MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "byte");
  /* invalid UTF-8 */
  ASSERT(mctx_json_parse("\"\xff\xfe\"", 4, NULL, &st) == NULL);
}

/* The grammar, both ways: what RFC 8259 accepts and what it does not, each
 * through the parser and the validator, which must agree. */
TEST(grammar_accepts_and_refuses) {
  static const char *const good[] = {
    "0", "-0", "1", "-12", "1.5", "-0.25e-3", "1E+5", "2e9", "[]", "{}", " [ 1 , 2 ] ", "\t\r\n[]\n",
    "\"\"", "\"a\\\"b\"", "\"\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u20AC\"",
    "\"\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "true", "false", "null",
    "{\"a\":{\"b\":[null,true,false,{}]}}", "[[[[]]]]", "123456789012345678901234567890",
    "0.1234567890123456789012345", "1e400", "-1e-400",
  };
  static const char *const bad[] = {
    "", " ", "01", "-", "+1", ".5", "1.", "1.e5", "1e", "1e+", "0x10", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}",
    "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1 2]", "[1", "{", "\"abc", "tru", "nul", "True", "[] []", "1 2",
    "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"a\nb\"",
    "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"", "\"\x80\"",
    "[\v]", "[\f1]", "nan", "Infinity", "[1]x", "\"\\u00zz\"",
  };
  mctx_status st;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    mctx_json_doc *d = mctx_json_parse(good[i], strlen(good[i]), NULL, &st);
    if (!d) FAIL_AT("refused %s: %s", good[i], st.reason);
    mctx_json_doc_free(d);
    if (mctx_json_valid(good[i], strlen(good[i]), 0, &st) != 0) FAIL_AT("the validator refused %s", good[i]);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mctx_json_doc *d = mctx_json_parse(bad[i], strlen(bad[i]), NULL, &st);
    if (d) FAIL_AT("accepted %s", bad[i]);
    ASSERT_EQ(st.code, MCTX_EPARSE);
    if (strlen(bad[i]) > 0) ASSERT_CONTAINS(st.reason, "byte");
    if (mctx_json_valid(bad[i], strlen(bad[i]), 0, &st) == 0) FAIL_AT("the validator accepted %s", bad[i]);
  }
  /* what the strings decode to */
  const char *t = "[\"\\u0041\\u00e9\\ud83d\\ude00\\u0000z\", \"\xe2\x82\xac\\n\"]";
  mctx_json_doc *d = mctx_json_parse(t, strlen(t), NULL, &st);
  ASSERT(d != NULL);
  const mctx_json *s0 = mctx_json_at(mctx_json_root(d), 0), *s1 = mctx_json_at(mctx_json_root(d), 1);
  ASSERT_EQ(s0->len, 9);
  ASSERT(memcmp(s0->u.str, "A\xc3\xa9\xf0\x9f\x98\x80\0z", 9) == 0);
  ASSERT_STREQ(s1->u.str, "\xe2\x82\xac\n");
  mctx_json_doc_free(d);
  /* where the error is */
  ASSERT(mctx_json_parse("[1, 2, x]", 9, NULL, &st) == NULL);
  ASSERT_CONTAINS(st.reason, "at byte 7");
}

/* Numbers in a document read exactly as mctx_parse_number reads them. */
TEST(numbers_read_as_numfmt) {
  char text[64];
  for (int i = 0; i < 200000; i++) {
    uint32_t r = rnd32();
    int n = 0;
    if (r & 1) text[n++] = '-';
    int ints = (int)(rnd32() % 22), fracs = (int)(rnd32() % 24);
    if (ints == 0) text[n++] = '0';
    for (int k = 0; k < ints; k++) text[n++] = (char)('0' + (k == 0 ? 1 + rnd32() % 9 : rnd32() % 10));
    if (fracs && (r & 2)) {
      text[n++] = '.';
      for (int k = 0; k < fracs; k++) text[n++] = (char)('0' + ((r & 4) && k < 5 ? 0 : rnd32() % 10));
    }
    if (r & 8) n += snprintf(text + n, sizeof text - (size_t)n, "e%d", (int)(rnd32() % 700) - 350);
    text[n] = '\0';
    double want = 0.0, got = 0.0;
    int64_t wi = 0;
    int is_int = 0;
    ASSERT_EQ(mctx_parse_number(text, (size_t)n, &want, &wi, &is_int), 0);
    mctx_status st;
    mctx_json_doc *d = mctx_json_parse(text, (size_t)n, NULL, &st);
    if (!d) FAIL_AT("refused %s: %s", text, st.reason);
    const mctx_json *v = mctx_json_root(d);
    got = v->u.num;
    if (memcmp(&got, &want, sizeof got) != 0) FAIL_AT("%s reads %.17g, numfmt %.17g", text, got, want);
    ASSERT_EQ(v->is_int, is_int);
    if (is_int) ASSERT_EQ(v->i, wi);
    mctx_json_doc_free(d);
  }
}

TEST(writer_escapes_and_reads_back) {
  mctx_buf b;
  mctx_buf_init(&b, 1 << 16);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "q\"uote", mctx_jw_str, "line\nbreak\ttab\\ \x01");
  mctx_jw_key(&w, "xs");
  float xs[3] = {1.5f, -0.25f, 3e-7f};
  mctx_jw_f32_array(&w, xs, 3);
  MCTX_JW_KV(&w, "n", mctx_jw_i64, -42);
  mctx_jw_end(&w);
  ASSERT(!b.failed);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(b.data, b.len, NULL, &st);
  ASSERT(doc != NULL);
  ASSERT_STREQ(mctx_json_get(mctx_json_root(doc), "q\"uote")->u.str, "line\nbreak\ttab\\ \x01");
  ASSERT((float)mctx_json_at(mctx_json_get(mctx_json_root(doc), "xs"), 2)->u.num == 3e-7f);
  mctx_json_doc_free(doc);
  mctx_buf_free(&b);
  /* the cap holds */
  mctx_buf_init(&b, 10);
  mctx_jw_init(&w, &b);
  mctx_jw_str(&w, "far more than ten bytes");
  ASSERT(b.failed);
  mctx_buf_free(&b);
}
