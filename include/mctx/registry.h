/* mctx/registry.h: models by name.
 *
 * The built-in models (synthetic, synthetic_stochastic, mctx_test_env, mock,
 * bandit, ...) and those that plugins add are found here by the name a
 * request gives, and made from the request's "model.params". */
#ifndef MCTX_REGISTRY_H
#define MCTX_REGISTRY_H

#include "mctx/json.h"
#include "mctx/model.h"
#include "mctx/prng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a model is made for: the request's shape and PRNG mode. */
typedef struct mctx_model_ctx {
  int32_t num_actions;
  int32_t batch_size;
  mctx_prng_mode prng;
} mctx_model_ctx;

typedef struct mctx_model_factory {
  const char *name;
  const char *description;
  /* Fills *m (vt, self, info) from params (may be NULL: the defaults).
   * Returns 0 or an error naming the parameter ("model.params.discount"). */
  int (*create)(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st);
} mctx_model_factory;

/* Makes the model `name`. Returns 0 and *out (free with mctx_model_free()),
 * or MCTX_ENOTFOUND / the factory's error. */
int mctx_model_create(const char *name, const mctx_json *params, const mctx_model_ctx *ctx,
                      mctx_model **out, mctx_status *st);
/* Adds a factory (the pointer must stay valid). A later one with the same name
 * replaces the earlier. Returns 0 or MCTX_ELIMIT. Not thread-safe with
 * concurrent creation: register at start-up. */
int mctx_model_register(const mctx_model_factory *f);
/* The registered factories, in registration order. */
const mctx_model_factory *const *mctx_model_factories(size_t *count);

#ifdef __cplusplus
}
#endif
#endif
