/* core/hd.h: qualifiers for code that both cc and nvcc compile.
 *
 * Headers under src/core that end in -impl.h hold `MCTX_HD static inline`
 * functions: the per-node formulas, the PRNG and the float math. The CPU engine
 * compiles them with cc and the CUDA engine with nvcc, so each formula exists
 * once. They use only IEEE operations that both compilers round the same way
 * (+ - * / and sqrt, no contraction into fused multiply-adds: cc runs with
 * -std=c11, which turns contraction off, and nvcc with -fmad=false), so the
 * CPU and the GPU compute the same bits. */
#ifndef MCTX_CORE_HD_H
#define MCTX_CORE_HD_H

#include <stdint.h>

#if defined(__CUDACC__)
#define MCTX_HD __host__ __device__
#define MCTX_RESTRICT __restrict__
#else
#define MCTX_HD
#define MCTX_RESTRICT restrict
#endif

MCTX_HD static inline float mctx__bits_f32(uint32_t u) {
  union { uint32_t u; float f; } c;
  c.u = u;
  return c.f;
}

MCTX_HD static inline uint32_t mctx__f32_bits(float f) {
  union { uint32_t u; float f; } c;
  c.f = f;
  return c.u;
}

/* Correctly rounded square root on both sides. */
#if defined(__CUDA_ARCH__)
MCTX_HD static inline float mctx__sqrtf(float x) { return __fsqrt_rn(x); }
#else
#include <math.h>
MCTX_HD static inline float mctx__sqrtf(float x) { return sqrtf(x); }
#endif

#define MCTX_F32_INF mctx__bits_f32(0x7f800000u)
#define MCTX_F32_NINF mctx__bits_f32(0xff800000u)
#define MCTX_F32_NAN mctx__bits_f32(0x7fc00000u)
/* jnp.finfo(float32).tiny and .min */
#define MCTX_F32_TINY mctx__bits_f32(0x00800000u)
#define MCTX_F32_LOWEST mctx__bits_f32(0xff7fffffu)

#endif
