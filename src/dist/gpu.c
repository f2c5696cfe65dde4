/* dist/gpu.c: which GPUs this process sees, for the mesh.
 *
 * The mesh opens a CUDA engine (mctx/cuda.h) per GPU; here it only counts the
 * GPUs and reads their PCI bus ids (two processes that name the same bus id
 * share a card, which NCCL does not allow in one communicator). Built without
 * CUDA, there are no GPUs and the reason says so. */
#include <stdio.h>

#include "dist/dist-impl.h"

#if defined(MCTX_DIST_HAVE_CUDA)
#include <cuda_runtime_api.h>

int mctx__gpu_count(char *why, size_t n) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    snprintf(why, n, "no CUDA device: %s", cudaGetErrorString(err));
    return 0;
  }
  if (count <= 0) snprintf(why, n, "no CUDA device found");
  return count;
}

void mctx__gpu_bus_id(int ordinal, char *out, size_t n) {
  if (n == 0) return;
  if (cudaDeviceGetPCIBusId(out, (int)n, ordinal) != cudaSuccess) out[0] = '\0';
}

void mctx__gpu_use(int ordinal) { cudaSetDevice(ordinal); }

#else

int mctx__gpu_count(char *why, size_t n) {
  snprintf(why, n, "this build has no CUDA engine");
  return 0;
}

void mctx__gpu_bus_id(int ordinal, char *out, size_t n) {
  (void)ordinal;
  if (n) out[0] = '\0';
}

void mctx__gpu_use(int ordinal) { (void)ordinal; }

#endif
