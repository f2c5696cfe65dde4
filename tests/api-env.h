/* tests/api-env.h: the API layer's environment for tests that run real
 * searches: default limits, the synthetic model by default, the CPU engine
 * with `threads` threads. Opened once per test executable (env->cpu set). */
#ifndef MCTX_TEST_API_ENV_H
#define MCTX_TEST_API_ENV_H

#include <string.h>

#include "api/api.h"

static inline void mctx_test_api_env(mctx_api_env *env, int threads) {
  if (env->cpu) return;
  memset(env, 0, sizeof *env);
  mctx_api_limits_default(&env->limits);
  env->default_model = "synthetic";
  mctx_status st;
  mctx_api_engines_open(env, "cpu", threads, &st);
}

#endif
