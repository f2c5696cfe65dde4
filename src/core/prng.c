/* core/prng.c: the host API of mctx/prng.h over core/prng-impl.h. Whole
 * arrays here; the search itself calls the per-element functions. */
#include "mctx/prng.h"

#include <stdlib.h>

#include "core/prng-impl.h"
#include "core/reduce-impl.h"

mctx_key mctx_prng_key(int64_t seed) {
  mctx_key k;
  if (seed >= INT32_MIN && seed <= INT32_MAX) {
    k.k[0] = 0;
    k.k[1] = (uint32_t)(int32_t)seed;
  } else {
    k.k[0] = (uint32_t)((uint64_t)seed >> 32);
    k.k[1] = (uint32_t)((uint64_t)seed & 0xffffffffu);
  }
  return k;
}

void mctx_prng_split(mctx_prng_mode mode, mctx_key key, uint32_t n, mctx_key *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = mctx__split_nth(mode, key, n, i);
}

mctx_key mctx_prng_split_nth(mctx_prng_mode mode, mctx_key key, uint32_t n, uint32_t i) {
  return mctx__split_nth(mode, key, n, i);
}

mctx_key mctx_prng_fold_in(mctx_prng_mode mode, mctx_key key, uint32_t data) {
  (void)mode;
  return mctx__fold_in(key, data);
}

void mctx_prng_bits(mctx_prng_mode mode, mctx_key key, uint32_t n, uint32_t *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = mctx__bits_nth(mode, key, n, i);
}

void mctx_prng_uniform(mctx_prng_mode mode, mctx_key key, uint32_t n, float lo, float hi, float *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = mctx__uniform_bits(mctx__bits_nth(mode, key, n, i), lo, hi);
}

void mctx_prng_normal(mctx_prng_mode mode, mctx_key key, uint32_t n, float *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = mctx__normal_bits(mctx__bits_nth(mode, key, n, i));
}

void mctx_prng_gumbel(mctx_prng_mode mode, mctx_key key, uint32_t n, float *out) {
  for (uint32_t i = 0; i < n; i++) out[i] = mctx__gumbel_bits(mctx__bits_nth(mode, key, n, i));
}

void mctx_prng_categorical(mctx_prng_mode mode, mctx_key key, uint32_t rows, uint32_t cols,
                           const float *logits, int32_t *out) {
  uint32_t n = rows * cols;
  for (uint32_t r = 0; r < rows; r++) {
    int32_t best = 0;
    float bv = MCTX_F32_NINF;
    for (uint32_t c = 0; c < cols; c++) {
      float v = mctx__gumbel_bits(mctx__bits_nth(mode, key, n, r * cols + c)) + logits[r * cols + c];
      if (v > bv || (c == 0)) { bv = v; best = (int32_t)c; }
    }
    out[r] = best;
  }
}

void mctx_prng_dirichlet(mctx_prng_mode mode, mctx_key key, uint32_t rows, uint32_t cols,
                         const float *alpha, float *out) {
  uint32_t n = rows * cols;
  for (uint32_t r = 0; r < rows; r++) {
    float *row = out + (size_t)r * cols;
    for (uint32_t c = 0; c < cols; c++)
      row[c] = mctx__loggamma_one(mode, mctx__split_nth(mode, key, n, r * cols + c), alpha[c]);
    mctx__softmax_inplace(row, (int)cols);
  }
}
