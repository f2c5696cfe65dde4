/* tests/models/test-blas-fallback.c: the plain-loop cblas_sgemm that builds
 * without OpenBLAS use (-DMCTX_BLAS=builtin): products against a direct sum,
 * transposes, and beta = 0 writing C without reading it (a scratch buffer's
 * NaN garbage once made the mlp model return non-finite rewards on the GPU
 * machine, whose binaries carry this fallback). */
#include "test.h"

#include <cblas.h>

TEST(products_and_transposes) {
  enum { M = 3, N = 4, K = 5 };
  float a[M * K], at[K * M], b[K * N], bt[N * K], c[M * N], want[M * N];
  for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7) - 3.0f;
  for (int i = 0; i < K * N; i++) b[i] = (float)(i % 5) * 0.5f - 1.0f;
  for (int i = 0; i < M; i++)
    for (int p = 0; p < K; p++) at[p * M + i] = a[i * K + p];
  for (int p = 0; p < K; p++)
    for (int j = 0; j < N; j++) bt[j * K + p] = b[p * N + j];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = 0.0f;
      for (int p = 0; p < K; p++) s += a[i * K + p] * b[p * N + j];
      want[i * N + j] = 2.0f * s + 0.5f;
    }
  for (int variant = 0; variant < 4; variant++) {
    int ta = variant & 1, tb = variant >> 1;
    for (int i = 0; i < M * N; i++) c[i] = 1.0f;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 2.0f,
                ta ? at : a, ta ? M : K, tb ? bt : b, tb ? K : N, 0.5f, c, N);
    for (int i = 0; i < M * N; i++) ASSERT_NEAR(c[i], want[i], 1e-5);
  }
}

TEST(beta_zero_never_reads_c) {
  float a[2] = {1.0f, 2.0f}, b[2] = {3.0f, 4.0f}, c[1] = {NAN};
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, c, 1);
  ASSERT_NEAR(c[0], 11.0f, 0);
  c[0] = INFINITY;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, c, 1);
  ASSERT_NEAR(c[0], 11.0f, 0);
}
