/* core/prng-impl.h: JAX's threefry2x32 PRNG for host and device.
 *
 * Everything a search draws comes through here, on the CPU and on the GPU:
 * key derivation (split, fold_in), raw bits, and the samplers mctx uses
 * (uniform, normal, gumbel, the log-space gamma behind Dirichlet). Each
 * function computes ONE element of the array JAX would produce, which is what
 * makes every batch element's draws independent of how the batch is cut up.
 *
 * Layouts, for a key and n elements (JAX's prng.py):
 *   legacy (jax_threefry_partitionable=False): the counters 0..n-1 (padded with
 *     one 0 to even length m) are cut in halves x0 = c[0:m/2], x1 = c[m/2:m];
 *     the output is concat(y0, y1) of threefry(key, x0, x1). split(key, k) is
 *     that with n = 2k, reshaped to k pairs.
 *   partitionable (True): element i is threefry(key, (i >> 32, i & mask));
 *     bits are y0 ^ y1, a split key is (y0, y1).
 *   fold_in(key, d) is threefry(key, (0, d)) in both modes. */
#ifndef MCTX_CORE_PRNG_IMPL_H
#define MCTX_CORE_PRNG_IMPL_H

#include "core/fmath-impl.h"
#include "core/hd.h"
#include "mctx/prng.h"

MCTX_HD static inline uint32_t mctx__rotl32(uint32_t v, int r) {
  return (v << r) | (v >> (32 - r));
}

#define MCTX__TF_ROUND(r) do { x0 += x1; x1 = mctx__rotl32(x1, (r)); x1 ^= x0; } while (0)

/* threefry2x32 with 20 rounds, as jax._src.prng._threefry2x32_lowering. */
MCTX_HD static inline void mctx__threefry(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,
                                          uint32_t *y0, uint32_t *y1) {
  uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  uint32_t x0 = c0 + k0, x1 = c1 + k1;
  MCTX__TF_ROUND(13); MCTX__TF_ROUND(15); MCTX__TF_ROUND(26); MCTX__TF_ROUND(6);
  x0 += k1; x1 += k2 + 1u;
  MCTX__TF_ROUND(17); MCTX__TF_ROUND(29); MCTX__TF_ROUND(16); MCTX__TF_ROUND(24);
  x0 += k2; x1 += k0 + 2u;
  MCTX__TF_ROUND(13); MCTX__TF_ROUND(15); MCTX__TF_ROUND(26); MCTX__TF_ROUND(6);
  x0 += k0; x1 += k1 + 3u;
  MCTX__TF_ROUND(17); MCTX__TF_ROUND(29); MCTX__TF_ROUND(16); MCTX__TF_ROUND(24);
  x0 += k1; x1 += k2 + 4u;
  MCTX__TF_ROUND(13); MCTX__TF_ROUND(15); MCTX__TF_ROUND(26); MCTX__TF_ROUND(6);
  x0 += k2; x1 += k0 + 5u;
  *y0 = x0;
  *y1 = x1;
}
#undef MCTX__TF_ROUND

/* Word j of the legacy output over counters 0..n-1 (padded to even). */
MCTX_HD static inline uint32_t mctx__legacy_word(mctx_key key, uint32_t n, uint32_t j) {
  uint32_t half = (n + (n & 1u)) / 2u;
  uint32_t c = j < half ? j : j - half;
  uint32_t c1 = c + half < n ? c + half : 0u;
  uint32_t y0, y1;
  mctx__threefry(key.k[0], key.k[1], c, c1, &y0, &y1);
  return j < half ? y0 : y1;
}

/* Element i of split(key, n). */
MCTX_HD static inline mctx_key mctx__split_nth(int mode, mctx_key key, uint32_t n, uint32_t i) {
  mctx_key r;
  if (mode == MCTX_PRNG_JAX_LEGACY) {
    /* Counters 0..2n-1, halves of n: word j is y0 of pair j (j < n) or y1 of
     * pair j - n. Key i is words 2i and 2i + 1. */
    uint32_t y0, y1;
    uint32_t j = 2u * i;
    if (j + 1u < n) {
      mctx__threefry(key.k[0], key.k[1], j, j + n, &y0, &y1);
      r.k[0] = y0;
      mctx__threefry(key.k[0], key.k[1], j + 1u, j + 1u + n, &y0, &y1);
      r.k[1] = y0;
    } else if (j >= n) {
      mctx__threefry(key.k[0], key.k[1], j - n, j, &y0, &y1);
      r.k[0] = y1;
      mctx__threefry(key.k[0], key.k[1], j + 1u - n, j + 1u, &y0, &y1);
      r.k[1] = y1;
    } else { /* j == n - 1: the pair straddles the halves */
      mctx__threefry(key.k[0], key.k[1], j, j + n, &y0, &y1);
      r.k[0] = y0;
      mctx__threefry(key.k[0], key.k[1], 0u, n, &y0, &y1);
      r.k[1] = y1;
    }
  } else {
    mctx__threefry(key.k[0], key.k[1], 0u, i, &r.k[0], &r.k[1]);
  }
  return r;
}

MCTX_HD static inline mctx_key mctx__fold_in(mctx_key key, uint32_t data) {
  mctx_key r;
  mctx__threefry(key.k[0], key.k[1], 0u, data, &r.k[0], &r.k[1]);
  return r;
}

/* Element i of random_bits(key, 32, (n,)). */
MCTX_HD static inline uint32_t mctx__bits_nth(int mode, mctx_key key, uint32_t n, uint32_t i) {
  if (mode == MCTX_PRNG_JAX_LEGACY) return mctx__legacy_word(key, n, i);
  uint32_t y0, y1;
  mctx__threefry(key.k[0], key.k[1], 0u, i, &y0, &y1);
  return y0 ^ y1;
}

/* jax.random.uniform's map from 32 random bits to [lo, hi). */
MCTX_HD static inline float mctx__uniform_bits(uint32_t bits, float lo, float hi) {
  float f = mctx__bits_f32((bits >> 9) | 0x3f800000u) - 1.0f;
  float v = f * (hi - lo) + lo;
  return v > lo ? v : lo;
}

/* jax.random.normal: sqrt(2) * erfinv(uniform(nextafter(-1, 0), 1)). */
MCTX_HD static inline float mctx__normal_bits(uint32_t bits) {
  float lo = mctx__bits_f32(0xbf7fffffu);
  float u = mctx__uniform_bits(bits, lo, 1.0f);
  return 1.41421354f * mctx_erfinvf(u);
}

/* jax.random.gumbel: -log(-log(uniform(tiny, 1))). */
MCTX_HD static inline float mctx__gumbel_bits(uint32_t bits) {
  float u = mctx__uniform_bits(bits, MCTX_F32_TINY, 1.0f);
  return -mctx_logf(-mctx_logf(u));
}

/* JAX's _gamma_one(key, alpha, log_space=True): Marsaglia and Tsang, with the
 * alpha < 1 boost done in log space. Returns log of a Gamma(alpha) draw. */
MCTX_HD static inline float mctx__loggamma_one(int mode, mctx_key key, float alpha) {
  const float one_third = 0.333333343f;
  float alpha_orig = alpha;
  int boost = alpha >= 1.0f;
  if (!boost) alpha = alpha + 1.0f;
  float d = alpha - one_third;
  float c = one_third / mctx__sqrtf(d);
  mctx_key subkey = mctx__split_nth(mode, key, 2u, 1u);
  key = mctx__split_nth(mode, key, 2u, 0u);
  float X = 0.0f, V = 1.0f, U = 2.0f;
  for (int guard = 0; guard < 1000; guard++) {
    int again = (U >= 1.0f - 0.0331f * (X * X)) &&
                (mctx_logf(U) >= X * 0.5f + d * ((1.0f - V) + mctx_logf(V)));
    if (!again) break;
    mctx_key x_key = mctx__split_nth(mode, key, 3u, 1u);
    mctx_key u_key = mctx__split_nth(mode, key, 3u, 2u);
    key = mctx__split_nth(mode, key, 3u, 0u);
    float x = 0.0f, v = -1.0f;
    mctx_key k = x_key;
    for (int g2 = 0; g2 < 1000 && v <= 0.0f; g2++) {
      mctx_key sub = mctx__split_nth(mode, k, 2u, 1u);
      k = mctx__split_nth(mode, k, 2u, 0u);
      x = mctx__normal_bits(mctx__bits_nth(mode, sub, 1u, 0u));
      v = 1.0f + x * c;
    }
    X = x * x;
    V = (v * v) * v;
    U = mctx__uniform_bits(mctx__bits_nth(mode, u_key, 1u, 0u), 0.0f, 1.0f);
  }
  float u = mctx__uniform_bits(mctx__bits_nth(mode, subkey, 1u, 0u), 0.0f, 1.0f);
  float log_samples = -(-mctx_log1pf(-u));
  float log_boost = (boost || log_samples == 0.0f) ? 0.0f : log_samples * (1.0f / alpha_orig);
  return (mctx_logf(d) + mctx_logf(V)) + log_boost;
}

#endif
