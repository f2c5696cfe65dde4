/* tests/models/test-safetensors.c: src/models/safetensors.c. Round trips in
 * F32, F16 and BF16, the half/bfloat16 conversions, and every way a file can
 * be wrong (bad header length, bad JSON, unknown dtype, a shape that does not
 * match the byte range, truncated data, overlaps, holes, duplicates) giving a
 * clear message. */
#include "test.h"

#include <unistd.h>

#include "models/safetensors.h"

/* A file in memory: 8-byte length, the header, then `data`. */
static uint8_t *make(const char *header, const void *data, size_t data_len, size_t *size) {
  size_t h = strlen(header);
  *size = 8 + h + data_len;
  uint8_t *b = malloc(*size);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
  memcpy(b + 8, header, h);
  if (data_len) memcpy(b + 8 + h, data, data_len);
  return b;
}

static int parse(const char *header, const void *data, size_t data_len, mctx_status *st) {
  size_t size;
  uint8_t *b = make(header, data, data_len, &size);
  mctx_safetensors *f = NULL;
  mctx_status_clear(st);
  int rc = mctx_safetensors_parse(b, size, "w.safetensors", "weights", &f, st);
  mctx_safetensors_free(f);
  free(b);
  return rc;
}

TEST(conversions) {
  ASSERT_NEAR(mctx_f16_to_f32(0x3C00), 1.0, 0);
  ASSERT_NEAR(mctx_f16_to_f32(0xC000), -2.0, 0);
  ASSERT_NEAR(mctx_f16_to_f32(0x7BFF), 65504.0, 0);
  ASSERT_NEAR(mctx_f16_to_f32(0x0001), ldexp(1.0, -24), 0);
  ASSERT_NEAR(mctx_f16_to_f32(0x0400), ldexp(1.0, -14), 0);
  ASSERT(isinf(mctx_f16_to_f32(0x7C00)));
  ASSERT(isnan(mctx_f16_to_f32(0x7E00)));
  ASSERT_EQ(mctx_f32_to_f16(1.0f), 0x3C00);
  ASSERT_EQ(mctx_f32_to_f16(1.0f + ldexpf(1.0f, -10)), 0x3C01);
  ASSERT_EQ(mctx_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3C00);  /* tie: to even */
  ASSERT_EQ(mctx_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3C02); /* tie: to even (up) */
  ASSERT_EQ(mctx_f32_to_f16(65520.0f), 0x7C00);                  /* rounds to infinity */
  ASSERT_EQ(mctx_f32_to_f16(-65504.0f), 0xFBFF);
  ASSERT_EQ(mctx_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
  ASSERT_EQ(mctx_f32_to_f16(ldexpf(1.0f, -26)), 0x0000);
  ASSERT_EQ(mctx_f32_to_f16(NAN) & 0x7E00, 0x7E00);
  ASSERT_EQ(mctx_f32_to_bf16(1.0f), 0x3F80);
  ASSERT_EQ(mctx_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3F80);            /* tie: to even */
  ASSERT_EQ(mctx_f32_to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3F82);        /* tie: to even (up) */
  ASSERT_NEAR(mctx_bf16_to_f32(0xC040), -3.0, 0);
  ASSERT(isnan(mctx_bf16_to_f32(mctx_f32_to_bf16(NAN))));
  /* every half converts to float and back unchanged (NaNs stay NaN) */
  for (uint32_t h = 0; h < 65536; h++) {
    float f = mctx_f16_to_f32((uint16_t)h);
    if (isnan(f)) continue;
    if (mctx_f32_to_f16(f) != h) FAIL_AT("half 0x%04x -> %g -> 0x%04x", (unsigned)h, (double)f, (unsigned)mctx_f32_to_f16(f));
  }
}

TEST(round_trip_in_every_dtype) {
  char path[] = "/tmp/mctx-st-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  close(fd);
  float a[6] = {1.0f, -2.5f, 0.1f, 3.0e-5f, 65000.0f, -0.0f};
  float b[3] = {0.5f, 0.25f, -1.0f};
  for (int d = 0; d < 3; d++) {
    mctx_st_dtype dt = d == 0 ? MCTX_ST_F32 : d == 1 ? MCTX_ST_F16 : MCTX_ST_BF16;
    mctx_st_out ts[2] = {{"layer.weight", dt, 2, {2, 3}, a}, {"layer.bias", dt, 1, {3}, b}};
    mctx_status st;
    ASSERT_EQ(mctx_safetensors_write(path, ts, 2, "{\"format\":\"test\"}", &st), 0);
    mctx_safetensors *f = NULL;
    ASSERT_EQ(mctx_safetensors_open(path, 0, "weights", &f, &st), 0);
    ASSERT_EQ(f->num_tensors, 2);
    ASSERT_EQ((f->data_offset - 8) % 8, 0); /* header padded to 8 bytes */
    ASSERT_STREQ(f->metadata, "{\"format\":\"test\"}");
    const mctx_st_tensor *t = mctx_safetensors_find(f, "layer.weight");
    ASSERT(t);
    ASSERT_EQ(t->dtype, dt);
    ASSERT_EQ(t->ndim, 2);
    ASSERT_EQ(t->shape[0], 2);
    ASSERT_EQ(t->shape[1], 3);
    float got[6];
    ASSERT_EQ(mctx_safetensors_read_f32(f, t, got, "weights", &st), 0);
    for (int i = 0; i < 6; i++) {
      float want = dt == MCTX_ST_F32 ? a[i] : dt == MCTX_ST_F16 ? mctx_f16_to_f32(mctx_f32_to_f16(a[i]))
                                                               : mctx_bf16_to_f32(mctx_f32_to_bf16(a[i]));
      ASSERT_NEAR(got[i], want, 0);
      ASSERT_NEAR(got[i], a[i], fabs(a[i]) * (dt == MCTX_ST_BF16 ? 4e-3 : 1e-3) + 1e-7);
    }
    ASSERT_EQ(mctx_safetensors_read_f32(f, mctx_safetensors_find(f, "layer.bias"), got, "weights", &st), 0);
    ASSERT_NEAR(got[2], -1.0, 0);
    ASSERT(!mctx_safetensors_find(f, "nope"));
    mctx_safetensors_free(f);
  }
  /* truncated on disk: the last tensor's bytes are missing */
  FILE *fp = fopen(path, "rb");
  uint8_t buf[4096];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  fp = fopen(path, "wb");
  fwrite(buf, 1, n - 2, fp);
  fclose(fp);
  mctx_safetensors *f = NULL;
  mctx_status st;
  ASSERT_EQ(mctx_safetensors_open(path, 0, "weights", &f, &st), MCTX_EPARSE);
  ASSERT(!f);
  ASSERT_STREQ(st.field, "weights");
  ASSERT_CONTAINS(st.reason, path);
  ASSERT_CONTAINS(st.reason, "tensor 'layer.bias': data_offsets end at byte 18, past the 16 bytes of data (truncated file?)");
  /* cut inside the header */
  fp = fopen(path, "wb");
  fwrite(buf, 1, 20, fp);
  fclose(fp);
  ASSERT_EQ(mctx_safetensors_open(path, 0, "weights", &f, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "but the file has only 12 after it (truncated file?)");
  /* too large for the caller's limit */
  fp = fopen(path, "wb");
  fwrite(buf, 1, n, fp);
  fclose(fp);
  ASSERT_EQ(mctx_safetensors_open(path, 16, "weights", &f, &st), MCTX_ELIMIT);
  remove(path);
  ASSERT_EQ(mctx_safetensors_open(path, 0, "weights", &f, &st), MCTX_EIO);
  ASSERT_CONTAINS(st.reason, "cannot open");
}

TEST(bad_headers) {
  mctx_status st;
  float d4[4] = {1, 2, 3, 4};
  int32_t i4[4] = {1, 2, 3, 4};
  /* shorter than the length field */
  mctx_safetensors *f = NULL;
  ASSERT_EQ(mctx_safetensors_parse("abc", 3, "w.safetensors", "weights", &f, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "too short for a safetensors file");
  /* a length that is not a safetensors header (e.g. a text file) */
  const char *text = "hello world, this is not a model file at all";
  ASSERT_NE(mctx_safetensors_parse(text, strlen(text), "w.safetensors", "weights", &f, &st), 0);
  ASSERT_CONTAINS(st.reason, "is this a safetensors file?");
  ASSERT_EQ(parse("[1, 2]", NULL, 0, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "the header is not a JSON object");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\"", NULL, 0, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "the header is not valid JSON");
  ASSERT_STREQ(st.field, "weights");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F33\", \"shape\": [4], \"data_offsets\": [0, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "tensor 'a': unknown dtype 'F33'");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "shape[0] must be a non-negative integer");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "\"data_offsets\" must be [begin, end]");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16], \"x\": 1}}", d4, 16, &st),
            MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "unknown header field 'x'");
  /* wrong shape for the bytes */
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "tensor 'a': F32 with 3 elements needs 12 bytes, but data_offsets [0, 16] hold 16");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "F16 with 4 elements needs 8 bytes");
  /* data past the end; overlap; hole; trailing bytes; no tensor */
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", d4, 12, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "past the 12 bytes of data (truncated file?)");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", d4, 12, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "tensor 'b' overlaps tensor 'a'");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "bytes 8..12 of the data belong to no tensor (before 'b')");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "8 bytes of data after the last tensor");
  ASSERT_EQ(parse("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", d4, 16, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "tensor 'a' appears twice");
  ASSERT_EQ(parse("{\"__metadata__\": {\"k\": 1}}", NULL, 0, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "\"__metadata__\".k must be a string");
  /* a valid file: an I32 tensor and an empty tensor; I32 is not read as float */
  size_t size;
  uint8_t *b = make("{\"__metadata__\": {\"format\": \"pt\"}, \"e\": {\"dtype\": \"F32\", \"shape\": [0, 3], "
                    "\"data_offsets\": [0, 0]}, \"i\": {\"dtype\": \"I32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                    i4, 16, &size);
  ASSERT_EQ(mctx_safetensors_parse(b, size, "w.safetensors", "weights", &f, &st), 0);
  free(b);
  ASSERT_EQ(f->num_tensors, 2);
  float out[4];
  ASSERT_EQ(mctx_safetensors_read_f32(f, mctx_safetensors_find(f, "i"), out, "weights", &st), MCTX_ETYPE);
  ASSERT_CONTAINS(st.reason, "tensor 'i' has dtype I32; expected F32, F16, BF16 or F64");
  ASSERT_EQ(mctx_safetensors_find(f, "e")->numel, 0);
  mctx_safetensors_free(f);
  /* a header length over the cap */
  uint8_t big[16] = {0};
  big[4] = 1; /* 2^32 */
  ASSERT_EQ(mctx_safetensors_parse(big, sizeof big, "w.safetensors", "weights", &f, &st), MCTX_ELIMIT);
}
