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

/* The first index of the maximum (jnp.argmax): ties go to the lower index. */
__device__ __forceinline__ int32_t mctx__warp_argmax(float v, int32_t i) {
  for (int off = 16; off > 0; off >>= 1) {
    float ov = __shfl_xor_sync(MCTX_FULL_MASK, v, off);
    int32_t oi = __shfl_xor_sync(MCTX_FULL_MASK, i, off);
    if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
  }
  return i;
}

#endif
