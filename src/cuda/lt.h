/* cuda/lt.h: cuBLASLt, loaded at run time.
 *
 * The network path multiplies with cuBLASLt, but the product must start on
 * machines without it (a CPU-only host, a GPU host without the CUDA
 * libraries): the library is opened with dlopen the first time a network
 * runs on the GPU, and a search that needs it fails with a clear error when
 * it is absent. Only the handful of functions the engine calls are resolved. */
#ifndef MCTX_CUDA_LT_H
#define MCTX_CUDA_LT_H

#include <cublasLt.h>

typedef struct mctx_lt_api {
  void *lib;
  cublasStatus_t (*create)(cublasLtHandle_t *);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  cublasStatus_t (*desc_create)(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t);
  cublasStatus_t (*desc_destroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*desc_set)(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *, size_t);
  cublasStatus_t (*layout_create)(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t);
  cublasStatus_t (*layout_destroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*pref_create)(cublasLtMatmulPreference_t *);
  cublasStatus_t (*pref_destroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*pref_set)(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void *, size_t);
  cublasStatus_t (*heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
                              cublasLtMatmulHeuristicResult_t *, int *);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                           cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *, const void *,
                           cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t *,
                           void *, size_t, cudaStream_t);
} mctx_lt_api;

#ifdef __cplusplus
extern "C" {
#endif
/* The loaded API (thread-safe, loaded once), or NULL with `why` filled. */
const mctx_lt_api *mctx__lt_load(char *why, size_t why_len);
#ifdef __cplusplus
}
#endif

#endif
