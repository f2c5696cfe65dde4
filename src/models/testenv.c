/* models/testenv.c: the built-in model `mctx_test_env`, the environment that
 * reproduces mctx's stored test trees (tests/test_data). Parameters:
 * discount (default 0.997), zero_reward (false). Its PRNG follows the
 * request's "prng" mode. The embedding is a key: two uint32. */
#include <stdlib.h>
#include <string.h>

#include "mctx/cuda.h"
#include "models/builtin.h"
#include "models/testenv-impl.h"

typedef struct testenv {
  int32_t A;
  int mode;
  float discount;
  int zero_reward;
  mctx_cuda_model dev;
} testenv;

static void outputs(const testenv *m, mctx_key k, float *logits, float *value) {
  for (int32_t a = 0; a < m->A; a++) logits[a] = mctx__testenv_logit(m->mode, k, m->A, a);
  *value = mctx__testenv_value(m->mode, k);
}

static int te_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                   void *emb_out, mctx_status *st) {
  (void)st;
  testenv *m = self;
  mctx_key *out = emb_out;
  for (int32_t i = 0; i < n; i++) {
    mctx_key k = emb_in ? ((const mctx_key *)emb_in)[i] : mctx__testenv_root_key((uint32_t)(first + i));
    out[i] = k;
    outputs(m, k, logits + (size_t)i * (size_t)m->A, &value[i]);
  }
  return 0;
}

static int te_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                   mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)st;
  testenv *m = self;
  const mctx_key *in = emb;
  mctx_key *next = out->embeddings;
  for (int32_t i = 0; i < n; i++) {
    mctx_key k = mctx__split_nth(m->mode, in[i], (uint32_t)m->A, (uint32_t)actions[i]);
    next[i] = k;
    outputs(m, k, out->prior_logits + (size_t)i * (size_t)m->A, &out->value[i]);
    out->reward[i] = m->zero_reward ? 0.0f : mctx__testenv_reward(m->mode, k);
    out->discount[i] = m->discount;
  }
  return 0;
}

static void te_destroy(void *self) { free(self); }

static const mctx_model_vtable TE_VT = {
  MCTX_MODEL_ABI_VERSION, "mctx_test_env", te_destroy, te_root, te_step, NULL, NULL
};

static int te_create(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st) {
  static const char *const known[] = {"discount", "zero_reward", NULL};
  int rc = mctx__param_known(params, known, st);
  double discount;
  int zero_reward;
  if (rc == 0) rc = mctx__param_number(params, "discount", 0.997, &discount, st);
  if (rc == 0) rc = mctx__param_bool(params, "zero_reward", 0, &zero_reward, st);
  if (rc != 0) return rc;
  testenv *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  s->A = ctx->num_actions;
  s->mode = ctx->prng;
  s->discount = (float)discount;
  s->zero_reward = zero_reward;
  m->vt = &TE_VT;
  m->self = s;
  m->info.embedding_bytes = (int32_t)sizeof(mctx_key);
  m->info.embedding_kind = MCTX_EMB_U32;
  m->info.embedding_count = 2;
  m->info.engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  m->info.precision = "fp32";
  s->dev.kind = MCTX_CUDA_MODEL_TEST_ENV;
  s->dev.discount = s->discount;
  s->dev.zero_reward = s->zero_reward;
  s->dev.prng = s->mode;
  m->device = &s->dev;
  return 0;
}

const mctx_model_factory mctx__model_mctx_test_env = {
  "mctx_test_env", "the environment of mctx's tree_test.py; params: discount (0.997), zero_reward (false); "
  "embedding: a PRNG key [k0, k1]", te_create};
