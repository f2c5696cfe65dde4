/* core/fmath-impl.h: float32 exp, log, log1p and erfinv for host and device.
 *
 * These are the functions every random draw and every softmax of the search
 * goes through. They are written here, not taken from libm or CUDA's math
 * library, so that the CPU engine and the CUDA engine compute identical bits
 * (see hd.h). exp and log follow the classic Cephes single-precision
 * polynomials (about 1 ulp); erfinv is the Giles approximation that XLA uses
 * for float32, so JAX's normal draws are reproduced to float tolerance. */
#ifndef MCTX_CORE_FMATH_IMPL_H
#define MCTX_CORE_FMATH_IMPL_H

#include "core/hd.h"

MCTX_HD static inline int mctx__isnan(float x) { return x != x; }

MCTX_HD static inline float mctx__floorf(float x) {
  /* Exact floor for |x| < 2^23; larger values are already integral. */
  if (!(x > -8388608.0f && x < 8388608.0f)) return x;
  float t = (float)(int32_t)x;
  return t > x ? t - 1.0f : t;
}

MCTX_HD static inline float mctx__ldexpf(float x, int n) {
  if (n > 127) { x = x * mctx__bits_f32(0x7f000000u); n -= 127; if (n > 127) n = 127; }
  else if (n < -126) { x = x * mctx__bits_f32(0x00800000u); n += 126; if (n < -126) n = -126; }
  return x * mctx__bits_f32((uint32_t)(n + 127) << 23);
}

MCTX_HD static inline float mctx_expf(float x) {
  if (mctx__isnan(x)) return x;
  if (x > 88.72283905206835f) return MCTX_F32_INF;
  if (x < -103.97208f) return 0.0f;
  float z = mctx__floorf(1.44269504088896341f * x + 0.5f);
  x = x - z * 0.693359375f;
  x = x - z * -2.12194440e-4f;
  int n = (int)z;
  z = x * x;
  float p = 1.9875691500E-4f;
  p = p * x + 1.3981999507E-3f;
  p = p * x + 8.3334519073E-3f;
  p = p * x + 4.1665795894E-2f;
  p = p * x + 1.6666665459E-1f;
  p = p * x + 5.0000001201E-1f;
  p = p * z + x + 1.0f;
  return mctx__ldexpf(p, n);
}

MCTX_HD static inline float mctx_logf(float x) {
  if (mctx__isnan(x)) return x;
  if (x <= 0.0f) return x == 0.0f ? MCTX_F32_NINF : MCTX_F32_NAN;
  if (x == MCTX_F32_INF) return x;
  int e = 0;
  uint32_t u = mctx__f32_bits(x);
  if (u < 0x00800000u) {                /* subnormal: scale into the normal range */
    x = x * 33554432.0f;                /* 2^25 */
    u = mctx__f32_bits(x);
    e = -25;
  }
  e += (int)((u >> 23) & 0xff) - 126;
  x = mctx__bits_f32((u & 0x807fffffu) | 0x3f000000u);  /* mantissa in [0.5, 1) */
  if (x < 0.707106781186547524f) {
    e -= 1;
    x = x + x - 1.0f;
  } else {
    x = x - 1.0f;
  }
  float z = x * x;
  float y = 7.0376836292E-2f;
  y = y * x - 1.1514610310E-1f;
  y = y * x + 1.1676998740E-1f;
  y = y * x - 1.2420140846E-1f;
  y = y * x + 1.4249322787E-1f;
  y = y * x - 1.6668057665E-1f;
  y = y * x + 2.0000714765E-1f;
  y = y * x - 2.4999993993E-1f;
  y = y * x + 3.3333331174E-1f;
  y = y * x * z;
  float fe = (float)e;
  y = y + -2.12194440e-4f * fe;
  y = y + -0.5f * z;
  z = x + y;
  z = z + 0.693359375f * fe;
  return z;
}

MCTX_HD static inline float mctx_log1pf(float x) {
  float u = 1.0f + x;
  if (u == 1.0f) return x;
  if (u == MCTX_F32_INF) return u;
  return mctx_logf(u) * (x / (u - 1.0f));
}

/* XLA's float32 erf_inv (Giles, "Approximating the erfinv function"). */
MCTX_HD static inline float mctx_erfinvf(float x) {
  float w = -mctx_log1pf(-x * x);
  float p;
  if (w < 5.0f) {
    w = w - 2.5f;
    p = 2.81022636e-08f;
    p = 3.43273939e-07f + p * w;
    p = -3.5233877e-06f + p * w;
    p = -4.39150654e-06f + p * w;
    p = 0.00021858087f + p * w;
    p = -0.00125372503f + p * w;
    p = -0.00417768164f + p * w;
    p = 0.246640727f + p * w;
    p = 1.50140941f + p * w;
  } else {
    w = mctx__sqrtf(w) - 3.0f;
    p = -0.000200214257f;
    p = 0.000100950558f + p * w;
    p = 0.00134934322f + p * w;
    p = -0.00367342844f + p * w;
    p = 0.00573950773f + p * w;
    p = -0.0076224613f + p * w;
    p = 0.00943887047f + p * w;
    p = 1.00167406f + p * w;
    p = 2.83297682f + p * w;
  }
  float ax = x < 0.0f ? -x : x;
  if (ax == 1.0f) return x * mctx__bits_f32(0x7f7fffffu);
  return p * x;
}

#endif
