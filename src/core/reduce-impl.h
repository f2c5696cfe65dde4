/* core/reduce-impl.h: the canonical order of every float reduction.
 *
 * A float sum depends on its order. The CUDA engine sums the A children of a
 * node across a warp: lane l adds elements l, l+32, l+64, ... in turn, then
 * the 32 partial sums are combined by a butterfly (offsets 16, 8, 4, 2, 1).
 * The host functions here add in exactly that order, so both engines get the
 * same bits. Maxima and argmaxima do not depend on order; argmax returns the
 * first index among equal maxima, as jnp.argmax does. */
#ifndef MCTX_CORE_REDUCE_IMPL_H
#define MCTX_CORE_REDUCE_IMPL_H

#include "core/fmath-impl.h"
#include "core/hd.h"

#define MCTX_LANES 32

/* Combines 32 lane partials into the canonical total (lane 0's butterfly). */
MCTX_HD static inline float mctx__lanes_total(float *p) {
  for (int off = MCTX_LANES / 2; off > 0; off /= 2)
    for (int l = 0; l < off; l++) p[l] = p[l] + p[l + off];
  return p[0];
}

/* Host only (the device reduces across a warp: cuda/common.cuh). */
static inline float mctx__sum_canon(const float *x, int n) {
  float p[MCTX_LANES];
  for (int l = 0; l < MCTX_LANES; l++) p[l] = 0.0f;
  int i = 0;
  for (; i + MCTX_LANES <= n; i += MCTX_LANES)
    for (int l = 0; l < MCTX_LANES; l++) p[l] = p[l] + x[i + l];
  for (int l = 0; i + l < n; l++) p[l] = p[l] + x[i + l];
  return mctx__lanes_total(p);
}

/* Maximum and minimum, in 8 interleaved lanes so that the loop vectorizes
 * (the result does not depend on the order). */
static inline float mctx__max_f32(const float *x, int n) {
  float m[8];
  for (int l = 0; l < 8; l++) m[l] = MCTX_F32_NINF;
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
  for (int l = 0; i + l < n; l++) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
  for (int l = 1; l < 8; l++) m[0] = m[l] > m[0] ? m[l] : m[0];
  return m[0];
}

static inline float mctx__min_f32(const float *x, int n) {
  float m[8];
  for (int l = 0; l < 8; l++) m[l] = MCTX_F32_INF;
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) m[l] = x[i + l] < m[l] ? x[i + l] : m[l];
  for (int l = 0; i + l < n; l++) m[l] = x[i + l] < m[l] ? x[i + l] : m[l];
  for (int l = 1; l < 8; l++) m[0] = m[l] < m[0] ? m[l] : m[0];
  return m[0];
}

/* First index of the maximum; 0 when n == 0 or every value is -inf. */
static inline int mctx__argmax_f32(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

/* jax.nn.softmax: exp(x - max) / sum, summed in the canonical order. */
static inline void mctx__softmax(const float *x, float *out, int n) {
  float m = mctx__max_f32(x, n);
  for (int i = 0; i < n; i++) out[i] = mctx_expf(x[i] - m);
  float s = mctx__sum_canon(out, n);
  for (int i = 0; i < n; i++) out[i] = out[i] / s;
}

static inline void mctx__softmax_inplace(float *x, int n) { mctx__softmax(x, x, n); }

#endif
