/* cuda/pipeline.cu: the pipelined pick cache's kernels (cuda/pipeline.cuh),
 * in their own translation unit: they compile beside engine.cu, and the
 * default pick cache's kernels there stay as they are.
 *
 * The headers' device functions and kernels are compiled here a second time,
 * so they are included in an unnamed namespace (internal linkage: no second
 * definition for the linker); the C headers they include come first, outside
 * it. The kernels are handed out as addresses for cudaLaunchKernel. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MCTX_CUDA_PIPELINE_TU
namespace {
#include "cuda/pipeline.cuh"
}

const void *mctx__gpp_kernel(int32_t A, bool syn) {
  if (syn)
    return A <= 32 ? (const void *)mctx__search_kernel_gpp<1, true>
           : A <= 64 ? (const void *)mctx__search_kernel_gpp<2, true>
           : A <= 128 ? (const void *)mctx__search_kernel_gpp<4, true>
                      : (const void *)mctx__search_kernel_gpp<12, true>;
  return A <= 32 ? (const void *)mctx__search_kernel_gpp<1, false>
         : A <= 64 ? (const void *)mctx__search_kernel_gpp<2, false>
         : A <= 128 ? (const void *)mctx__search_kernel_gpp<4, false>
                    : (const void *)mctx__search_kernel_gpp<12, false>;
}
