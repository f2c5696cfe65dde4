/* core/params.c: search parameters, mctx's defaults and their checks. */
#include <math.h>
#include <string.h>

#include "mctx/search.h"

void mctx_search_params_init(mctx_search_params *p, mctx_policy policy) {
  memset(p, 0, sizeof *p);
  p->policy = policy;
  p->num_simulations = 32;
  p->max_depth = 0;
  p->max_num_considered_actions = 16;
  mctx_search_params_set_dirichlet_fraction(p, 0.25);
  p->dirichlet_alpha = 0.3f;
  p->pb_c_init = 1.25f;
  p->pb_c_base = 19652.0f;
  p->temperature = 1.0f;
  p->gumbel_scale = 1.0f;
  p->qtransform.kind = MCTX_QTRANSFORM_DEFAULT;
  p->qtransform.epsilon = 1e-8f;
  p->qtransform.value_scale = 0.1f;
  p->qtransform.maxvisit_init = 50.0f;
  p->qtransform.rescale_values = 1;
  p->qtransform.use_mixed_value = 1;
  p->prng = MCTX_PRNG_JAX;
  p->key = mctx_prng_key(0);
}

void mctx_search_params_set_dirichlet_fraction(mctx_search_params *p, double fraction) {
  p->dirichlet_fraction = (float)fraction;
  p->one_minus_dirichlet_fraction = (float)(1.0 - fraction);
}

mctx_qtransform mctx_search_qtransform(const mctx_search_params *p) {
  mctx_qtransform q = p->qtransform;
  if (q.kind == MCTX_QTRANSFORM_DEFAULT)
    q.kind = p->policy == MCTX_POLICY_GUMBEL_MUZERO ? MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE
                                                    : MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
  return q;
}

static int is_finite_f(float x) { return isfinite(x); }

int mctx_search_params_check(const mctx_search_params *p, int32_t num_actions, mctx_status *st) {
  if (p->policy < MCTX_POLICY_MUZERO || p->policy > MCTX_POLICY_STOCHASTIC_MUZERO)
    return mctx_status_set(st, MCTX_EINVALID, "search_type", "unknown policy %d", (int)p->policy);
  if (num_actions < 1)
    return mctx_status_set(st, MCTX_ERANGE, "root_input.num_actions", "must be >= 1, not %d", (int)num_actions);
  if (p->num_simulations < 1)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.num_simulations", "must be >= 1, not %d",
                           (int)p->num_simulations);
  if (p->max_depth < 0)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.max_depth", "must be >= 1 or null, not %d",
                           (int)p->max_depth);
  if (p->max_num_considered_actions < 1)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.max_num_considered_actions", "must be >= 1, not %d",
                           (int)p->max_num_considered_actions);
  struct { const char *name; float v; } fs[] = {
    {"search_params.dirichlet_fraction", p->dirichlet_fraction},
    {"search_params.dirichlet_alpha", p->dirichlet_alpha},
    {"search_params.pb_c_init", p->pb_c_init},
    {"search_params.pb_c_base", p->pb_c_base},
    {"search_params.temperature", p->temperature},
    {"search_params.gumbel_scale", p->gumbel_scale},
  };
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
    if (!is_finite_f(fs[i].v)) return mctx_status_set(st, MCTX_ENONFINITE, fs[i].name, "must be a finite number");
  if (p->dirichlet_fraction < 0.0f || p->dirichlet_fraction > 1.0f)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.dirichlet_fraction", "must be in [0, 1], not %g",
                           (double)p->dirichlet_fraction);
  if (!(p->dirichlet_alpha > 0.0f))
    return mctx_status_set(st, MCTX_ERANGE, "search_params.dirichlet_alpha", "must be > 0, not %g",
                           (double)p->dirichlet_alpha);
  if (p->temperature < 0.0f)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.temperature", "must be >= 0, not %g",
                           (double)p->temperature);
  if (p->gumbel_scale < 0.0f)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.gumbel_scale", "must be >= 0, not %g",
                           (double)p->gumbel_scale);
  if (!(p->pb_c_base > 0.0f))
    return mctx_status_set(st, MCTX_ERANGE, "search_params.pb_c_base", "must be > 0, not %g", (double)p->pb_c_base);
  if (p->prng != MCTX_PRNG_JAX && p->prng != MCTX_PRNG_JAX_LEGACY)
    return mctx_status_set(st, MCTX_EINVALID, "search_params.prng", "unknown PRNG mode");
  mctx_qtransform q = mctx_search_qtransform(p);
  const char *qf = "search_params.qtransform";
  if (q.kind < MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS || q.kind > MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE)
    return mctx_status_set(st, MCTX_EINVALID, "search_params.qtransform.name", "unknown q-transform");
  float qv[] = {q.epsilon, q.min_value, q.max_value, q.value_scale, q.maxvisit_init};
  for (size_t i = 0; i < sizeof qv / sizeof qv[0]; i++)
    if (!is_finite_f(qv[i])) return mctx_status_set(st, MCTX_ENONFINITE, qf, "parameters must be finite numbers");
  if (q.kind == MCTX_QTRANSFORM_BY_MIN_MAX && !(q.max_value > q.min_value))
    return mctx_status_set(st, MCTX_ERANGE, "search_params.qtransform.max_value",
                           "must be greater than min_value (%g <= %g)", (double)q.max_value, (double)q.min_value);
  if (q.epsilon < 0.0f)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.qtransform.epsilon", "must be >= 0");
  return 0;
}
