/* tests/util/test-json.c: the JSON document (YAJL underneath), the writer and
 * the number conversions they share. */
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
