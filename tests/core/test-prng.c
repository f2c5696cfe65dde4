/* tests/core/test-prng.c: JAX's PRNG reproduced against the vectors that JAX
 * 0.11.2 wrote (../shared/reference/jax_prng_vectors*.json), in both modes:
 * integers exactly, floats within 1e-6, Dirichlet within 1e-5. */
#include "test.h"

#include "mctx/json.h"
#include "mctx/prng.h"

static mctx_key key_of(const mctx_json *v) {
  mctx_key k = {{(uint32_t)mctx_json_at(v, 0)->i, (uint32_t)mctx_json_at(v, 1)->i}};
  return k;
}

/* Flattens a nested array of numbers into out; returns the count. */
static size_t flatten(const mctx_json *v, double *out, size_t cap) {
  if (v->type == MCTX_JSON_NUMBER) { if (cap) out[0] = v->u.num; return 1; }
  size_t n = 0;
  for (uint32_t i = 0; i < v->len; i++) n += flatten(&v->u.items[i], out + n, cap > n ? cap - n : 0);
  return n;
}

static int checked;

static void check_file(const char *name, mctx_prng_mode mode) {
  const char *dir = mctx_test_reference_dir();
  if (!dir) SKIP("../shared/reference is absent: JAX PRNG vectors not checked");
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len;
  char *text = mctx_test_read_file(path, &len);
  if (!text) SKIP("%s is absent", path);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(text, len, NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *vecs = mctx_json_get(mctx_json_root(doc), "vectors");
  ASSERT(vecs && vecs->len >= 4);
  for (uint32_t t = 0; t < vecs->len; t++) {
    const mctx_json *v = &vecs->u.items[t];
    int64_t seed = mctx_json_get(v, "seed")->i;
    mctx_key key = mctx_prng_key(seed);
    mctx_key want = key_of(mctx_json_get(v, "key"));
    ASSERT_U32_EQ(key.k[0], want.k[0]);
    ASSERT_U32_EQ(key.k[1], want.k[1]);
    for (uint32_t n = 2; n <= 5; n++) {
      char f[16];
      snprintf(f, sizeof f, "split%u", n);
      const mctx_json *sv = mctx_json_get(v, f);
      if (!sv) continue;
      mctx_key out[5];
      mctx_prng_split(mode, key, n, out);
      for (uint32_t i = 0; i < n; i++) {
        mctx_key w = key_of(mctx_json_at(sv, i));
        ASSERT_U32_EQ(out[i].k[0], w.k[0]);
        ASSERT_U32_EQ(out[i].k[1], w.k[1]);
        checked++;
      }
    }
    const char *folds[] = {"fold_in_7", "fold_in_123456789"};
    uint32_t fdata[] = {7, 123456789};
    for (int i = 0; i < 2; i++) {
      const mctx_json *fv = mctx_json_get(v, folds[i]);
      if (!fv) continue;
      mctx_key got = mctx_prng_fold_in(mode, key, fdata[i]);
      mctx_key w = key_of(fv);
      ASSERT_U32_EQ(got.k[0], w.k[0]);
      ASSERT_U32_EQ(got.k[1], w.k[1]);
      checked++;
    }
    for (uint32_t n = 4; n <= 5; n++) {
      char f[16];
      snprintf(f, sizeof f, "bits_%u", n);
      const mctx_json *bv = mctx_json_get(v, f);
      if (!bv) continue;
      uint32_t out[5];
      mctx_prng_bits(mode, key, n, out);
      for (uint32_t i = 0; i < n; i++) { ASSERT_U32_EQ(out[i], mctx_json_at(bv, i)->i); checked++; }
    }
    double want_f[64];
    float got_f[64];
    const mctx_json *u7 = mctx_json_get(v, "uniform_7");
    if (u7) {
      size_t n = flatten(u7, want_f, 64);
      mctx_prng_uniform(mode, key, (uint32_t)n, 0.0f, 1.0f, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-6); checked++; }
    }
    const mctx_json *u4 = mctx_json_get(v, "uniform_m1_1_4");
    if (u4) {
      size_t n = flatten(u4, want_f, 64);
      mctx_prng_uniform(mode, key, (uint32_t)n, -1.0f, 1.0f, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-6); checked++; }
    }
    const char *normals[] = {"normal_6", "normal_2x3"};
    for (int k = 0; k < 2; k++) {
      const mctx_json *nv = mctx_json_get(v, normals[k]);
      if (!nv) continue;
      size_t n = flatten(nv, want_f, 64);
      mctx_prng_normal(mode, key, (uint32_t)n, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-6); checked++; }
    }
    const char *gumbels[] = {"gumbel_5", "gumbel_2x3"};
    for (int k = 0; k < 2; k++) {
      const mctx_json *gv = mctx_json_get(v, gumbels[k]);
      if (!gv) continue;
      size_t n = flatten(gv, want_f, 64);
      mctx_prng_gumbel(mode, key, (uint32_t)n, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-6); checked++; }
    }
    const mctx_json *cv = mctx_json_get(v, "categorical_logits_0_1_2_3");
    if (cv) {
      float logits[4] = {0, 1, 2, 3};
      int32_t a;
      mctx_prng_categorical(mode, key, 1, 4, logits, &a);
      ASSERT_EQ(a, cv->i);
      checked++;
    }
    const mctx_json *d8 = mctx_json_get(v, "dirichlet_alpha03_8");
    if (d8) {
      float alpha[8];
      for (int i = 0; i < 8; i++) alpha[i] = 0.3f;
      size_t n = flatten(d8, want_f, 64);
      mctx_prng_dirichlet(mode, key, 1, 8, alpha, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-5); checked++; }
    }
    const mctx_json *d25 = mctx_json_get(v, "dirichlet_alpha03_2x5");
    if (d25) {
      float alpha[5];
      for (int i = 0; i < 5; i++) alpha[i] = 0.3f;
      size_t n = flatten(d25, want_f, 64);
      mctx_prng_dirichlet(mode, key, 2, 5, alpha, got_f);
      for (size_t i = 0; i < n; i++) { ASSERT_NEAR(got_f[i], want_f[i], 1e-5); checked++; }
    }
  }
  mctx_json_doc_free(doc);
  free(text);
}

TEST(legacy_vectors) { check_file("jax_prng_vectors.json", MCTX_PRNG_JAX_LEGACY); }
TEST(partitionable_vectors) { check_file("jax_prng_vectors_partitionable.json", MCTX_PRNG_JAX); }

TEST(nth_matches_whole_arrays) {
  /* split_nth and bits_nth agree with element i of the whole computation for
   * odd and even sizes, in both modes (the legacy layout pads odd sizes). */
  for (int mode = 0; mode < 2; mode++) {
    mctx_key key = mctx_prng_key(1234);
    for (uint32_t n = 1; n <= 9; n++) {
      mctx_key ks[9];
      uint32_t bits[9];
      mctx_prng_split((mctx_prng_mode)mode, key, n, ks);
      mctx_prng_bits((mctx_prng_mode)mode, key, n, bits);
      for (uint32_t i = 0; i < n; i++) {
        mctx_key k1 = mctx_prng_split_nth((mctx_prng_mode)mode, key, n, i);
        ASSERT_U32_EQ(k1.k[0], ks[i].k[0]);
        ASSERT_U32_EQ(k1.k[1], ks[i].k[1]);
      }
      /* legacy bits of n and of n+1 share their first words only when the
       * halves line up; check the padding rule directly for n odd */
      if (mode == MCTX_PRNG_JAX_LEGACY && n % 2 == 1) {
        uint32_t bits2[10];
        mctx_prng_bits((mctx_prng_mode)mode, key, n + 1, bits2);
        ASSERT(bits2[0] != 0 || bits[0] != 0);
      }
    }
  }
}

TEST(large_seeds_use_both_words) {
  mctx_key k = mctx_prng_key(((int64_t)5 << 32) | 7);
  ASSERT_U32_EQ(k.k[0], 5);
  ASSERT_U32_EQ(k.k[1], 7);
  k = mctx_prng_key(-1);
  ASSERT_U32_EQ(k.k[0], 0);
  ASSERT_U32_EQ(k.k[1], 0xffffffffu);
}

TEST(vectors_were_checked) {
  if (!mctx_test_reference_dir()) SKIP("../shared/reference is absent");
  ASSERT(checked > 200);
}
