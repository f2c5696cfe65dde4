/* tests/cpu/test-policies.c: mctx's policies_test.py, ported with its
 * expected numbers, on the CPU engine. The models are the test's own, as in
 * mctx: a bandit with discount 0, and its decision/chance split. */
#include "test.h"

#include "mctx/engine.h"

#define MAXB 4
#define MAXA 8

typedef struct tmodel {
  int32_t A, C;
  float rewards[MAXB][MAXA];
} tmodel;

/* Embedding: (element, afterstate action) as two int32. */
typedef struct temb {
  int32_t b;
  int32_t action;
} temb;

static int t_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                  mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)st;
  tmodel *m = self;
  const temb *in = emb;
  temb *next = out->embeddings;
  for (int32_t i = 0; i < n; i++) {
    out->reward[i] = m->rewards[in[i].b][actions[i]];
    out->discount[i] = 0.0f;
    out->value[i] = 0.0f;
    for (int32_t a = 0; a < m->A; a++) out->prior_logits[(size_t)i * (size_t)m->A + (size_t)a] = 0.0f;
    next[i] = in[i];
  }
  return 0;
}

static int t_decision(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                      float *chance_logits, float *after_value, void *after_emb, mctx_status *st) {
  (void)keys; (void)st;
  tmodel *m = self;
  const temb *in = emb;
  temb *out = after_emb;
  for (int32_t i = 0; i < n; i++) {
    for (int32_t c = 0; c < m->C; c++) chance_logits[(size_t)i * (size_t)m->C + (size_t)c] = c == 0 ? 1.0f : -INFINITY;
    after_value[i] = 0.0f;
    out[i].b = in[i].b;
    out[i].action = actions[i];
  }
  return 0;
}

static int t_chance(void *self, int32_t n, const mctx_key *keys, const int32_t *outcomes, const void *emb,
                    float *logits, float *value, float *reward, float *discount, void *state_emb, mctx_status *st) {
  (void)keys; (void)outcomes; (void)st;
  tmodel *m = self;
  const temb *in = emb;
  temb *out = state_emb;
  for (int32_t i = 0; i < n; i++) {
    reward[i] = m->rewards[in[i].b][in[i].action];
    for (int32_t a = 0; a < m->A; a++) logits[(size_t)i * (size_t)m->A + (size_t)a] = 0.0f;
    value[i] = 0.0f;
    discount[i] = 0.0f;
    out[i] = in[i];
  }
  return 0;
}

static void t_destroy(void *self) { (void)self; }

static const mctx_model_vtable T_VT = {MCTX_MODEL_ABI_VERSION, "test_bandit", t_destroy, NULL, t_step, t_decision,
                                       t_chance};

static mctx_model make_model(tmodel *tm) {
  mctx_model m;
  memset(&m, 0, sizeof m);
  m.vt = &T_VT;
  m.self = tm;
  m.info.num_chance_outcomes = tm->C;
  m.info.embedding_bytes = (int32_t)sizeof(temb);
  m.info.engines = MCTX_ENGINE_CPU;
  return m;
}

typedef struct run_out {
  int32_t action[MAXB];
  float weights[MAXB * MAXA];
  float counts[MAXB * MAXA];
  mctx_tree *tree;
} run_out;

static int run(const mctx_search_params *p, tmodel *tm, int32_t B, const float *logits, const float *values,
               const uint8_t *inv, run_out *out) {
  mctx_status st;
  mctx_model m = make_model(tm);
  int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t N = p->num_simulations + 1;
  out->tree = mctx_tree_new(B, N, tm->A + (stochastic ? tm->C : 0), tm->A, (int32_t)sizeof(temb), stochastic,
                            p->policy == MCTX_POLICY_GUMBEL_MUZERO, &st);
  temb embs[MAXB];
  for (int32_t b = 0; b < B; b++) { embs[b].b = b; embs[b].action = 0; }
  mctx_root r = {B, tm->A, logits, values, embs, inv, NULL};
  mctx_result res = {out->action, out->weights, NULL, out->counts, NULL, NULL, NULL, 0, 0, NULL};
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  int rc = mctx_engine_search(e, p, &m, &r, 0, out->tree, &res, &st);
  if (rc) fprintf(stderr, "search failed: %s: %s\n", st.field, st.reason);
  mctx_engine_free(e);
  return rc;
}

TEST(muzero_policy) {
  tmodel tm = {4, 0, {{0}}};
  float logits[4] = {-1.0f, 0.0f, 2.0f, 3.0f}, value[1] = {0.0f};
  uint8_t inv[4] = {0, 0, 0, 1};
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = 1;
  p.prng = MCTX_PRNG_JAX_LEGACY;
  p.key = mctx_prng_key(0);
  mctx_search_params_set_dirichlet_fraction(&p, 0.0);
  run_out o;
  ASSERT_EQ(run(&p, &tm, 1, logits, value, inv, &o), 0);
  ASSERT_EQ(o.action[0], 2);
  const float want[4] = {0, 0, 1, 0};
  for (int a = 0; a < 4; a++) ASSERT_NEAR(o.weights[a], want[a], 1e-7);
  mctx_tree_free(o.tree);
}

/* The deepest leaf (ties: the most visited), as policies_test's helper. */
static void deepest(const mctx_tree *t, int32_t node, int32_t *leaf, int32_t *depth) {
  *leaf = node;
  *depth = 0;
  for (int32_t a = 0; a < t->num_actions; a++) {
    int32_t c = t->children_index[(size_t)node * (size_t)t->num_actions + (size_t)a];
    if (c < 0) continue;
    int32_t fl, fd;
    deepest(t, c, &fl, &fd);
    if (1 + fd > *depth || (1 + fd == *depth && t->node_visits[fl] > t->node_visits[*leaf])) {
      *leaf = fl;
      *depth = 1 + fd;
    }
  }
}

static void gumbel_case(int with_invalid) {
  tmodel tm = {4, 0, {{20.0f, 3.0f, -1.0f, 10.0f}}};
  float logits[4] = {0.0f, -1.0f, 2.0f, 3.0f}, value[1] = {-5.0f};
  uint8_t inv[4] = {1, 0, 0, 1};
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_GUMBEL_MUZERO);
  p.num_simulations = 17;
  p.max_depth = 3;
  p.prng = MCTX_PRNG_JAX_LEGACY;
  p.key = mctx_prng_key(0);
  p.qtransform.kind = MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE;
  p.qtransform.value_scale = 0.05f;
  p.qtransform.maxvisit_init = 60.0f;
  p.qtransform.rescale_values = 1;
  p.gumbel_scale = 1.0f;
  run_out o;
  ASSERT_EQ(run(&p, &tm, 1, logits, value, with_invalid ? inv : NULL, &o), 0);
  const double S = 17;
  double want_w[4];
  if (with_invalid) {
    ASSERT_EQ(o.action[0], 1);
    double e1 = exp(-1.0), e2 = exp(2.0);
    double p1 = e1 / (e1 + e2), p2 = e2 / (e1 + e2);
    double mix = 1.0 / (S + 1) * (-5.0 + S * (p1 * 3.0 + p2 * -1.0));
    double cq[4] = {mix, 3.0, -1.0, mix};
    double lo = cq[0], hi = cq[0];
    for (int i = 1; i < 4; i++) { lo = fmin(lo, cq[i]); hi = fmax(hi, cq[i]); }
    double scale = (60.0 + ceil(S / 2)) * 0.05;
    double z = 0, x[4];
    for (int i = 0; i < 4; i++) { x[i] = logits[i] + scale * (cq[i] - lo) / (hi - lo); if (!inv[i]) z += exp(x[i]); }
    for (int i = 0; i < 4; i++) want_w[i] = inv[i] ? 0.0 : exp(x[i]) / z;
    const float want_c[4] = {0, 9, 8, 0};
    for (int a = 0; a < 4; a++) ASSERT_NEAR(o.counts[a], want_c[a], 0);
    int32_t leaf, depth;
    deepest(o.tree, 0, &leaf, &depth);
    ASSERT_EQ(depth, 3);
    ASSERT_EQ(o.tree->node_visits[leaf], 6);
  } else {
    ASSERT_EQ(o.action[0], 3);
    const float want_c[4] = {6, 2, 2, 7};
    for (int a = 0; a < 4; a++) ASSERT_NEAR(o.counts[a], want_c[a], 0);
    double q[4] = {20.0, 3.0, -1.0, 10.0};
    double scale = (60.0 + 7.0) * 0.05, z = 0, x[4];
    for (int i = 0; i < 4; i++) { x[i] = logits[i] + scale * (q[i] - (-1.0)) / 21.0; z += exp(x[i]); }
    for (int i = 0; i < 4; i++) want_w[i] = exp(x[i]) / z;
  }
  for (int a = 0; a < 4; a++) ASSERT_NEAR(o.weights[a], want_w[a], 1e-6);
  mctx_tree_free(o.tree);
}

TEST(gumbel_muzero_policy) { gumbel_case(1); }
TEST(gumbel_muzero_policy_without_invalid_actions) { gumbel_case(0); }

/* Stochastic MuZero with a chance function that always gives outcome 0 is
 * MuZero with twice the simulations. */
TEST(stochastic_muzero_policy) {
  tmodel tm = {4, 5, {{0}}};
  float logits[8] = {-1.0f, 0.0f, 2.0f, 3.0f, 0.0f, 2.0f, 5.0f, -4.0f}, value[2] = {1.0f, 0.0f};
  uint8_t inv[8] = {0, 0, 0, 1, 1, 0, 1, 0};
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = 10;
  p.prng = MCTX_PRNG_JAX_LEGACY;
  p.key = mctx_prng_key(0);
  mctx_search_params_set_dirichlet_fraction(&p, 0.0);
  run_out a, b;
  ASSERT_EQ(run(&p, &tm, 2, logits, value, inv, &a), 0);
  p.policy = MCTX_POLICY_STOCHASTIC_MUZERO;
  p.num_simulations = 20;
  ASSERT_EQ(run(&p, &tm, 2, logits, value, inv, &b), 0);
  for (int i = 0; i < 2; i++) ASSERT_EQ(a.action[i], b.action[i]);
  for (int i = 0; i < 8; i++) ASSERT_NEAR(a.weights[i], b.weights[i], 1e-7);
  mctx_tree_free(a.tree);
  mctx_tree_free(b.tree);
}
