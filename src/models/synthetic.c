/* models/synthetic.c: the built-in models `synthetic` and
 * `synthetic_stochastic` (shared/bench/SYNTHETIC_ENV.md) on the CPU. The
 * embedding is one uint32 state per node. */
#include <stdlib.h>
#include <string.h>

#include "mctx/cuda.h"
#include "models/builtin.h"
#include "models/synthetic-impl.h"

typedef struct syn {
  int32_t A;
  int32_t C;
  mctx_cuda_model dev;
} syn;

static void outputs(uint32_t state, int32_t A, float *logits, float *value) {
  for (int32_t a = 0; a < A; a++) logits[a] = mctx__syn_logit(state, (uint32_t)a);
  *value = mctx__syn_value(state);
}

static int syn_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                    void *emb_out, mctx_status *st) {
  (void)st;
  syn *m = self;
  uint32_t *out = emb_out;
  for (int32_t i = 0; i < n; i++) {
    uint32_t s = emb_in ? ((const uint32_t *)emb_in)[i] : mctx__syn_root_state((uint32_t)(first + i));
    out[i] = s;
    outputs(s, m->A, logits + (size_t)i * (size_t)m->A, &value[i]);
  }
  return 0;
}

static int syn_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                    mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)st;
  syn *m = self;
  const uint32_t *in = emb;
  uint32_t *next = out->embeddings;
  for (int32_t i = 0; i < n; i++) {
    uint32_t s = mctx__syn_next(in[i], (uint32_t)actions[i]);
    next[i] = s;
    outputs(s, m->A, out->prior_logits + (size_t)i * (size_t)m->A, &out->value[i]);
    out->reward[i] = mctx__syn_reward(s);
    out->discount[i] = MCTX__SYN_DISCOUNT;
  }
  return 0;
}

static int syn_decision(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                        float *chance_logits, float *after_value, void *after_emb, mctx_status *st) {
  (void)keys; (void)st;
  syn *m = self;
  const uint32_t *in = emb;
  uint32_t *out = after_emb;
  for (int32_t i = 0; i < n; i++) {
    uint32_t after = mctx__syn_next(in[i], (uint32_t)actions[i]);
    out[i] = after;
    for (int32_t c = 0; c < m->C; c++)
      chance_logits[(size_t)i * (size_t)m->C + (size_t)c] = mctx__syn_chance_logit(after, (uint32_t)c);
    after_value[i] = mctx__syn_value(after);
  }
  return 0;
}

static int syn_chance(void *self, int32_t n, const mctx_key *keys, const int32_t *outcomes, const void *emb,
                      float *logits, float *value, float *reward, float *discount, void *state_emb,
                      mctx_status *st) {
  (void)keys; (void)st;
  syn *m = self;
  const uint32_t *in = emb;
  uint32_t *out = state_emb;
  for (int32_t i = 0; i < n; i++) {
    uint32_t s = mctx__syn_chance_next(in[i], (uint32_t)outcomes[i]);
    out[i] = s;
    outputs(s, m->A, logits + (size_t)i * (size_t)m->A, &value[i]);
    reward[i] = mctx__syn_reward(s);
    discount[i] = MCTX__SYN_DISCOUNT;
  }
  return 0;
}

static void syn_destroy(void *self) { free(self); }

static const mctx_model_vtable SYN_VT = {
  MCTX_MODEL_ABI_VERSION, "synthetic", syn_destroy, syn_root, syn_step, NULL, NULL
};
static const mctx_model_vtable SYN_STOCH_VT = {
  MCTX_MODEL_ABI_VERSION, "synthetic_stochastic", syn_destroy, syn_root, NULL, syn_decision, syn_chance
};

static int create(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st, int stochastic) {
  static const char *const known[] = {"num_chance_outcomes", NULL};
  static const char *const none[] = {NULL};
  int rc = mctx__param_known(params, stochastic ? known : none, st);
  if (rc != 0) return rc;
  double c = 0;
  if (stochastic) {
    rc = mctx__param_number(params, "num_chance_outcomes", 4, &c, st);
    if (rc != 0) return rc;
    if (c < 1 || c > 4096 || c != (double)(int32_t)c)
      return mctx_status_set(st, MCTX_ERANGE, "model.params.num_chance_outcomes",
                             "must be an integer in [1, 4096], not %g", c);
  }
  syn *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  s->A = ctx->num_actions;
  s->C = (int32_t)c;
  m->vt = stochastic ? &SYN_STOCH_VT : &SYN_VT;
  m->self = s;
  m->info.num_actions = 0;
  m->info.num_chance_outcomes = s->C;
  m->info.embedding_bytes = 4;
  m->info.embedding_kind = MCTX_EMB_U32;
  m->info.embedding_count = 1;
  m->info.engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  m->info.precision = "fp32";
  s->dev.kind = stochastic ? MCTX_CUDA_MODEL_SYNTHETIC_STOCHASTIC : MCTX_CUDA_MODEL_SYNTHETIC;
  s->dev.num_chance_outcomes = s->C;
  m->device = &s->dev;
  return 0;
}

static int create_syn(const mctx_json *p, const mctx_model_ctx *c, mctx_model *m, mctx_status *st) {
  return create(p, c, m, st, 0);
}
static int create_stoch(const mctx_json *p, const mctx_model_ctx *c, mctx_model *m, mctx_status *st) {
  return create(p, c, m, st, 1);
}

const mctx_model_factory mctx__model_synthetic = {
  "synthetic", "hash-based benchmark environment (shared/bench/SYNTHETIC_ENV.md); embedding: uint32 state",
  create_syn};
const mctx_model_factory mctx__model_synthetic_stochastic = {
  "synthetic_stochastic", "stochastic synthetic environment; params: num_chance_outcomes (4)", create_stoch};
