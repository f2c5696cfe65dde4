/* models/blas-fallback.c: cblas_sgemm without a BLAS library, for builds
 * that cannot carry OpenBLAS (-DMCTX_BLAS=builtin, e.g. binaries sent to a GPU
 * machine). Row-major only, which is all the mlp model asks for; correct, not
 * fast: the product's builds use OpenBLAS. */
#include <cblas.h>
#include <stddef.h>

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                 const blasint lda, const float *b, const blasint ldb, const float beta, float *c, const blasint ldc) {
  if (order != CblasRowMajor) return;
  for (blasint i = 0; i < m; i++) {
    /* BLAS semantics: with beta = 0, C is written, never read (it may hold
     * NaN: a fresh scratch buffer's garbage times 0 is still NaN) */
    for (blasint j = 0; j < n; j++) {
      float *cij = &c[(size_t)i * (size_t)ldc + (size_t)j];
      *cij = beta == 0.0f ? 0.0f : *cij * beta;
    }
    for (blasint p = 0; p < k; p++) {
      float av = ta == CblasNoTrans ? a[(size_t)i * (size_t)lda + (size_t)p] : a[(size_t)p * (size_t)lda + (size_t)i];
      av *= alpha;
      for (blasint j = 0; j < n; j++) {
        float bv = tb == CblasNoTrans ? b[(size_t)p * (size_t)ldb + (size_t)j] : b[(size_t)j * (size_t)ldb + (size_t)p];
        c[(size_t)i * (size_t)ldc + (size_t)j] += av * bv;
      }
    }
  }
}

/* OpenBLAS's thread setting: plain loops run on the calling thread. */
void openblas_set_num_threads(int n) { (void)n; }
