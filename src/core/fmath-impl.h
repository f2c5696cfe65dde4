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

/* x * 2^n for n in [-252, 254], as two exact power-of-two scalings (each
 * factor a normal float); branch-free so loops over it vectorize. */
MCTX_HD static inline float mctx__ldexpf(float x, int n) {
  int h = n >> 1;
  float s1 = mctx__bits_f32((uint32_t)(h + 127) << 23);
  float s2 = mctx__bits_f32((uint32_t)(n - h + 127) << 23);
  return x * s1 * s2;
}

/* exp(x), Cephes' polynomial. Branch-free (selects only), so that the CPU
 * engine's loops over a node's children vectorize. */
MCTX_HD static inline float mctx_expf(float x) {
  float xc = x > 88.72283905206835f ? 88.72283905206835f : x;
  xc = xc < -103.97208f ? -103.97208f : xc;
  float t = 1.44269504088896341f * xc + 0.5f;
  float z = (float)(int32_t)t;
  z = z > t ? z - 1.0f : z;              /* floor, exact: |t| < 2^23 here */
  float r = xc - z * 0.693359375f;
  r = r - z * -2.12194440e-4f;
  int n = (int32_t)z;
  float r2 = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r2 + r + 1.0f;
  float y = mctx__ldexpf(p, n);
  y = x > 88.72283905206835f ? MCTX_F32_INF : y;
  y = x < -103.97208f ? 0.0f : y;
  return x != x ? x : y;
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
