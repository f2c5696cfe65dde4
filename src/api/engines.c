/* api/engines.c: opening the engines a CLI command or the service runs
 * searches on: always the CPU engine, and the CUDA engine when this build has
 * it and a GPU answers. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#if defined(MCTX_HAVE_CUDA)
#include "mctx/cuda.h"
#endif

int mctx_api_engines_open(mctx_api_env *env, const char *engine, int threads, mctx_status *st) {
  if (!engine) engine = "auto";
  if (strcmp(engine, "auto") != 0 && strcmp(engine, "cpu") != 0 && strcmp(engine, "cuda") != 0)
    return mctx_status_set(st, MCTX_EINVALID, "engine", "must be auto, cpu or cuda, not '%s'", engine);
  env->cpu = mctx_engine_cpu_new(threads, st);
  if (!env->cpu) return st ? st->code : MCTX_ENOMEM;
  env->gpu = NULL;
  env->gpu_unavailable = "the engine was set to cpu";
  if (strcmp(engine, "cpu") == 0) return 0;
#if defined(MCTX_HAVE_CUDA)
  mctx_status gst;
  env->gpu = mctx_engine_cuda_new(-1, &gst);
  if (!env->gpu) {
    static char why[400];
    snprintf(why, sizeof why, "%s", gst.reason);
    env->gpu_unavailable = why;
    if (strcmp(engine, "cuda") == 0) {
      if (st) *st = gst;
      mctx_engine_free(env->cpu);
      env->cpu = NULL;
      return gst.code ? gst.code : MCTX_EDEVICE;
    }
  } else {
    env->gpu_unavailable = NULL;
  }
#else
  env->gpu_unavailable = "this build has no CUDA engine";
  if (strcmp(engine, "cuda") == 0) {
    mctx_engine_free(env->cpu);
    env->cpu = NULL;
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "engine", "this build has no CUDA engine");
  }
#endif
  return 0;
}

void mctx_api_engines_close(mctx_api_env *env) {
  mctx_engine_free(env->gpu);
  mctx_engine_free(env->cpu);
  env->gpu = env->cpu = NULL;
}
