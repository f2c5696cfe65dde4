/* models/simple.c: the product notes' reference models.
 *   mock:   reward 1, discount 1, prior logits 0, value 0, next embedding =
 *           embedding + 1 (one float32 per node; roots default to 0).
 *   bandit: params.qvalues [B][A]; reward qvalues[b][action] at the root and
 *           0 below; discount 1; prior logits 0; value 0. The embedding is
 *           (depth, b) as two int32, so a step knows its element. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/cuda.h"
#include "models/builtin.h"

typedef struct simple {
  int32_t A, B;
  float *qvalues;  /* bandit: [B][A] */
  mctx_cuda_model dev;
} simple;

static void simple_destroy(void *self) {
  simple *m = self;
  free(m->qvalues);
  free(m);
}

static int mock_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                     void *emb_out, mctx_status *st) {
  (void)first; (void)st;
  simple *m = self;
  float *out = emb_out;
  memset(logits, 0, (size_t)n * (size_t)m->A * sizeof(float));
  for (int32_t i = 0; i < n; i++) {
    out[i] = emb_in ? ((const float *)emb_in)[i] : 0.0f;
    value[i] = 0.0f;
  }
  return 0;
}

static int mock_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                     mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)actions; (void)st;
  simple *m = self;
  const float *in = emb;
  float *next = out->embeddings;
  memset(out->prior_logits, 0, (size_t)n * (size_t)m->A * sizeof(float));
  for (int32_t i = 0; i < n; i++) {
    next[i] = in[i] + 1.0f;
    out->reward[i] = 1.0f;
    out->discount[i] = 1.0f;
    out->value[i] = 0.0f;
  }
  return 0;
}

typedef struct bandit_emb {
  int32_t depth;
  int32_t index;
} bandit_emb;

static int bandit_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                       void *emb_out, mctx_status *st) {
  (void)st;
  simple *m = self;
  bandit_emb *out = emb_out;
  memset(logits, 0, (size_t)n * (size_t)m->A * sizeof(float));
  for (int32_t i = 0; i < n; i++) {
    /* the request's embedding [depth, element] when it gives one (the step
     * checks the element), else the bandit's root: depth 0, this element */
    if (emb_in) {
      out[i] = ((const bandit_emb *)emb_in)[i];
    } else {
      out[i].depth = 0;
      out[i].index = first + i;
    }
    value[i] = 0.0f;
  }
  return 0;
}

static int bandit_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                       mctx_step_out *out, mctx_status *st) {
  (void)keys;
  simple *m = self;
  const bandit_emb *in = emb;
  bandit_emb *next = out->embeddings;
  memset(out->prior_logits, 0, (size_t)n * (size_t)m->A * sizeof(float));
  for (int32_t i = 0; i < n; i++) {
    int32_t b = in[i].index;
    if (b < 0 || b >= m->B)
      return mctx_status_set(st, MCTX_EMODEL, "model.params.qvalues", "bandit has no q-values for element %d", (int)b);
    out->reward[i] = in[i].depth == 0 ? m->qvalues[(size_t)b * (size_t)m->A + (size_t)actions[i]] : 0.0f;
    out->discount[i] = 1.0f;
    out->value[i] = 0.0f;
    next[i].depth = in[i].depth + 1;
    next[i].index = b;
  }
  return 0;
}

static const mctx_model_vtable MOCK_VT = {
  MCTX_MODEL_ABI_VERSION, "mock", simple_destroy, mock_root, mock_step, NULL, NULL
};
static const mctx_model_vtable BANDIT_VT = {
  MCTX_MODEL_ABI_VERSION, "bandit", simple_destroy, bandit_root, bandit_step, NULL, NULL
};

static int mock_create(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st) {
  static const char *const none[] = {NULL};
  int rc = mctx__param_known(params, none, st);
  if (rc != 0) return rc;
  simple *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  s->A = ctx->num_actions;
  m->vt = &MOCK_VT;
  m->self = s;
  s->dev.kind = MCTX_CUDA_MODEL_MOCK;
  m->device = &s->dev;
  m->info.embedding_bytes = 4;
  m->info.embedding_kind = MCTX_EMB_F32;
  m->info.embedding_count = 1;
  m->info.engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  m->info.precision = "fp32";
  return 0;
}

static int bandit_create(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st) {
  static const char *const known[] = {"qvalues", NULL};
  int rc = mctx__param_known(params, known, st);
  if (rc != 0) return rc;
  const mctx_json *q = mctx_json_get(params, "qvalues");
  if (!q) return mctx_status_set(st, MCTX_EMISSING, "model.params.qvalues", "bandit needs qvalues [batch_size][num_actions]");
  if (q->type != MCTX_JSON_ARRAY || (int32_t)q->len != ctx->batch_size)
    return mctx_status_set(st, MCTX_ESHAPE, "model.params.qvalues", "must be an array of %d rows (batch_size)",
                           (int)ctx->batch_size);
  simple *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  s->A = ctx->num_actions;
  s->B = ctx->batch_size;
  s->qvalues = malloc((size_t)s->A * (size_t)s->B * sizeof(float));
  if (!s->qvalues) { free(s); return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); }
  for (int32_t b = 0; b < s->B; b++) {
    const mctx_json *row = &q->u.items[b];
    if (row->type != MCTX_JSON_ARRAY || (int32_t)row->len != s->A) {
      simple_destroy(s);
      char f[64];
      snprintf(f, sizeof f, "model.params.qvalues[%d]", (int)b);
      return mctx_status_set(st, MCTX_ESHAPE, f, "must be an array of %d numbers (num_actions)", (int)ctx->num_actions);
    }
    for (int32_t a = 0; a < s->A; a++) {
      const mctx_json *v = &row->u.items[a];
      if (v->type != MCTX_JSON_NUMBER || !(v->u.num - v->u.num == 0.0)) {
        simple_destroy(s);
        char f[80];
        snprintf(f, sizeof f, "model.params.qvalues[%d][%d]", (int)b, (int)a);
        return mctx_status_set(st, MCTX_ETYPE, f, "must be a finite number");
      }
      s->qvalues[(size_t)b * (size_t)s->A + (size_t)a] = (float)v->u.num;
    }
  }
  m->vt = &BANDIT_VT;
  m->self = s;
  s->dev.kind = MCTX_CUDA_MODEL_BANDIT;
  s->dev.qvalues = s->qvalues;
  s->dev.qvalues_rows = s->B;
  m->device = &s->dev;
  m->info.embedding_bytes = (int32_t)sizeof(bandit_emb);
  m->info.embedding_kind = MCTX_EMB_U32;
  m->info.embedding_count = 2;
  m->info.engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  m->info.precision = "fp32";
  return 0;
}

const mctx_model_factory mctx__model_mock = {
  "mock", "reference model: reward 1, discount 1, logits 0, value 0, embedding + 1", mock_create};
const mctx_model_factory mctx__model_bandit = {
  "bandit", "reference model: reward qvalues[b][action] at the root, else 0; params: qvalues [B][A]",
  bandit_create};
