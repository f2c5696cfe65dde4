/* cuda/common.cuh: what every CUDA file of the engine shares: the checking
 * macro every CUDA call goes through, and the warp reductions in the
 * canonical order of core/reduce-impl.h (so the GPU adds in the order the
 * CPU does, and both get the same bits). */
#ifndef MCTX_CUDA_COMMON_CUH
#define MCTX_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "core/hd.h"
#include "mctx/errors.h"

/* Evaluates a CUDA call; on failure fills st and returns from the caller
 * with MCTX_EDEVICE. */
#define CUDA_CHECK(call, st)                                                          \
  do {                                                                                \
    cudaError_t err_ = (call);                                                        \
    if (err_ != cudaSuccess)                                                          \
      return mctx_status_set((st), MCTX_EDEVICE, "device", "%s failed: %s (%s:%d)", #call, \
                             cudaGetErrorString(err_), __FILE__, __LINE__);           \
  } while (0)

/* After a kernel launch: the launch's own error. */
#define CUDA_CHECK_LAUNCH(st) CUDA_CHECK(cudaGetLastError(), st)

#define MCTX_FULL_MASK 0xffffffffu

/* The canonical sum: each lane has summed its elements l, l+32, ... in turn;
 * the xor butterfly over offsets 16..1 gives every lane what the host's
 * mctx__lanes_total gives (float addition is commutative). */
__device__ __forceinline__ float mctx__warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v = v + __shfl_xor_sync(MCTX_FULL_MASK, v, off);
  return v;
}

__device__ __forceinline__ int32_t mctx__warp_sum_i(int32_t v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(MCTX_FULL_MASK, v, off);
  return v;
}

__device__ __forceinline__ int32_t mctx__warp_max_i(int32_t v) {
  for (int off = 16; off > 0; off >>= 1) {
    int32_t o = __shfl_xor_sync(MCTX_FULL_MASK, v, off);
    v = o > v ? o : v;
  }
  return v;
}

__device__ __forceinline__ float mctx__warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) {
    float o = __shfl_xor_sync(MCTX_FULL_MASK, v, off);
    v = o > v ? o : v;
  }
  return v;
}

__device__ __forceinline__ float mctx__warp_min(float v) {
  for (int off = 16; off > 0; off >>= 1) {
    float o = __shfl_xor_sync(MCTX_FULL_MASK, v, off);
    v = o < v ? o : v;
  }
  return v;
}

/* ==== Order-free reductions in one instruction (sm_80 and later) ====
 *
 * A maximum, a minimum or an argmax does not depend on the order of its
 * operands, so it can use the warp's integer reduction (redux.sync, one
 * instruction) instead of a five-step butterfly: floats map to unsigned keys
 * whose order is the floats' (-0 takes +0's key, as -0 == +0). The selection
 * chains are latency bound, so each butterfly replaced shortens them. Before
 * sm_80 these fall back to the butterflies above. */
__device__ __forceinline__ uint32_t mctx__f32_key(float x) {
  uint32_t u = __float_as_uint(x);
  u = u == 0x80000000u ? 0u : u;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float mctx__key_f32(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ int32_t mctx__warp_sum_i_fast(int32_t v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return (int32_t)__reduce_add_sync(MCTX_FULL_MASK, (uint32_t)v);
#else
  return mctx__warp_sum_i(v);
#endif
}

__device__ __forceinline__ int32_t mctx__warp_max_i_fast(int32_t v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __reduce_max_sync(MCTX_FULL_MASK, v);
#else
  return mctx__warp_max_i(v);
#endif
}

__device__ __forceinline__ float mctx__warp_max_fast(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return mctx__key_f32(__reduce_max_sync(MCTX_FULL_MASK, mctx__f32_key(v)));
#else
  return mctx__warp_max(v);
#endif
}

__device__ __forceinline__ float mctx__warp_min_fast(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return mctx__key_f32(__reduce_min_sync(MCTX_FULL_MASK, mctx__f32_key(v)));
#else
  return mctx__warp_min(v);
#endif
}

/* The first index of the maximum (jnp.argmax): ties go to the lower index. */
__device__ __forceinline__ int32_t mctx__warp_argmax(float v, int32_t i) {
  for (int off = 16; off > 0; off >>= 1) {
    float ov = __shfl_xor_sync(MCTX_FULL_MASK, v, off);
    int32_t oi = __shfl_xor_sync(MCTX_FULL_MASK, i, off);
    if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
  }
  return i;
}

/* mctx__warp_argmax by two reductions: the largest key, then the lowest
 * index among the lanes that hold it (each lane's (v, i) is its own first
 * maximum; i >= 0). */
__device__ __forceinline__ int32_t mctx__warp_argmax_fast(float v, int32_t i) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t k = mctx__f32_key(v);
  uint32_t m = __reduce_max_sync(MCTX_FULL_MASK, k);
  return (int32_t)__reduce_min_sync(MCTX_FULL_MASK, k == m ? (uint32_t)i : 0xffffffffu);
#else
  return mctx__warp_argmax(v, i);
#endif
}

#endif
