/* cuda/lt.c: cuBLASLt opened with dlopen (see lt.h). */
#include "cuda/lt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static mctx_lt_api api;
static int loaded;      /* 1: loaded, -1: failed */
static char failure[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RESOLVE(field, sym)                                                          \
  do {                                                                               \
    *(void **)(&api.field) = dlsym(api.lib, #sym);                                   \
    if (!api.field) {                                                                \
      snprintf(failure, sizeof failure, "cuBLASLt has no %s", #sym);               \
      return;                                                                        \
    }                                                                                \
  } while (0)

static void load(void) {
  loaded = -1;
  const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !api.lib; i++) api.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!api.lib) {
    snprintf(failure, sizeof failure, "cuBLASLt (libcublasLt.so) is not installed: %s", dlerror());
    return;
  }
  RESOLVE(create, cublasLtCreate);
  RESOLVE(destroy, cublasLtDestroy);
  RESOLVE(desc_create, cublasLtMatmulDescCreate);
  RESOLVE(desc_destroy, cublasLtMatmulDescDestroy);
  RESOLVE(desc_set, cublasLtMatmulDescSetAttribute);
  RESOLVE(layout_create, cublasLtMatrixLayoutCreate);
  RESOLVE(layout_destroy, cublasLtMatrixLayoutDestroy);
  RESOLVE(pref_create, cublasLtMatmulPreferenceCreate);
  RESOLVE(pref_destroy, cublasLtMatmulPreferenceDestroy);
  RESOLVE(pref_set, cublasLtMatmulPreferenceSetAttribute);
  RESOLVE(heuristic, cublasLtMatmulAlgoGetHeuristic);
  RESOLVE(matmul, cublasLtMatmul);
  loaded = 1;
}

const mctx_lt_api *mctx__lt_load(char *why, size_t why_len) {
  pthread_once(&once, load);
  if (loaded == 1) return &api;
  if (why) snprintf(why, why_len, "%s", failure);
  return NULL;
}
