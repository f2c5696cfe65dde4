/* mctx/search.h: what a search is asked to do, and what it returns.
 *
 * A search is policy x engine x model. mctx_search_params carries every
 * parameter of mctx's policies with mctx's names and defaults
 * (mctx_search_params_init fills them); mctx_root is the batch of roots;
 * mctx_result receives the chosen actions, the action weights and the root
 * summary. Engines (mctx/engine.h) run it. */
#ifndef MCTX_SEARCH_H
#define MCTX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"
#include "mctx/prng.h"
#include "mctx/tree.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mctx_policy {
  MCTX_POLICY_MUZERO = 0,
  MCTX_POLICY_GUMBEL_MUZERO = 1,
  MCTX_POLICY_STOCHASTIC_MUZERO = 2
} mctx_policy;

typedef enum mctx_qtransform_kind {
  MCTX_QTRANSFORM_DEFAULT = 0,            /* the policy's default */
  MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS, /* muzero's default */
  MCTX_QTRANSFORM_BY_MIN_MAX,
  MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE  /* gumbel_muzero's default */
} mctx_qtransform_kind;

/* mctx's q-transforms and their keyword arguments. */
typedef struct mctx_qtransform {
  mctx_qtransform_kind kind;
  float epsilon;          /* by_parent_and_siblings, completed_by_mix_value: 1e-8 */
  float min_value;        /* by_min_max (required) */
  float max_value;        /* by_min_max (required) */
  float value_scale;      /* completed_by_mix_value: 0.1 */
  float maxvisit_init;    /* completed_by_mix_value: 50 */
  int rescale_values;     /* completed_by_mix_value: 1 */
  int use_mixed_value;    /* completed_by_mix_value: 1 */
} mctx_qtransform;

typedef struct mctx_search_params {
  mctx_policy policy;
  int32_t num_simulations;            /* >= 1 */
  int32_t max_depth;                  /* <= 0: none (mctx: num_simulations) */
  int32_t max_num_considered_actions; /* gumbel_muzero: 16 */
  /* mctx takes these as Python floats; the float32 values it computes with: */
  float dirichlet_fraction;           /* muzero, stochastic: 0.25 */
  float one_minus_dirichlet_fraction; /* float32(1 - fraction), as Python computes it */
  float dirichlet_alpha;              /* 0.3 */
  float pb_c_init;                    /* 1.25 */
  float pb_c_base;                    /* 19652 */
  float temperature;                  /* 1.0 */
  float gumbel_scale;                 /* gumbel_muzero: 1.0 */
  mctx_qtransform qtransform;
  mctx_prng_mode prng;                /* MCTX_PRNG_JAX (default) or legacy */
  mctx_key key;                       /* jax.random.PRNGKey(seed) */
  /* (optional) Polled once per simulation; a search whose should_stop
   * returns non-zero stops with MCTX_ECANCELED. */
  int (*should_stop)(void *arg);
  void *should_stop_arg;
} mctx_search_params;

/* Fills p with mctx's defaults for `policy`, 32 simulations and seed 0. */
void mctx_search_params_init(mctx_search_params *p, mctx_policy policy);
/* Sets the Dirichlet fraction as a Python float (keeps 1 - f exact). */
void mctx_search_params_set_dirichlet_fraction(mctx_search_params *p, double fraction);
/* The q-transform a search will use (the policy's default resolved). */
mctx_qtransform mctx_search_qtransform(const mctx_search_params *p);
/* Checks every parameter; returns 0 or an error naming the field. */
int mctx_search_params_check(const mctx_search_params *p, int32_t num_actions, mctx_status *st);

/* Each batch element's place in the PRNG's arrays. mctx draws, for instance,
 * the Gumbel noise of a batch as one [B, A] array from one key; element b gets
 * the slice b of it. An element that came alone from a request of its own,
 * merged into a larger batch by the service, keeps its own key, group size 1
 * and index 0, so it gets exactly the draws it would get alone. NULL means
 * "one group": params.key, group_size B, group_index b. */
typedef struct mctx_elem_key {
  mctx_key key;
  int32_t group_size;
  int32_t group_index;
} mctx_elem_key;

/* The batch of roots (mctx's RootFnOutput plus invalid actions). Borrowed:
 * the arrays must remain valid until the search returns. */
typedef struct mctx_root {
  int32_t batch_size;            /* B */
  int32_t num_actions;           /* A (decision actions) */
  const float *prior_logits;     /* [B][A] */
  const float *value;            /* [B] */
  const void *embeddings;        /* [B][E] as the model defines it */
  const uint8_t *invalid_actions;/* [B][A], 1 = invalid; NULL: all valid */
  const mctx_elem_key *keys;     /* [B] or NULL (see mctx_elem_key) */
} mctx_root;

/* What a search returns; the caller allocates the arrays (any may be NULL
 * except action). A positional initializer lists every field (or use
 * designated ones): -Wextra warns about a missing one. */
typedef struct mctx_result {
  int32_t *action;          /* [B] */
  float *action_weights;    /* [B][A] */
  float *root_value;        /* [B]: summary value */
  float *visit_counts;      /* [B][A] */
  float *visit_probs;       /* [B][A] */
  float *qvalues;           /* [B][A] */
  int32_t *elem_expanded;   /* [B]: nodes each element's search created */
  int64_t num_expanded_nodes;
  int32_t max_depth_reached;
  int32_t *elem_depth;      /* [B]: deepest simulation of each element's search */
} mctx_result;

#ifdef __cplusplus
}
#endif
#endif
