/* tests/cuda/test-parity.c: the CUDA engine against the CPU engine (the
 * oracle). For float32 models both must give the same actions, visit counts
 * and tree topology, and values within 1e-5 (they are designed to give the
 * same bits; the test reports how many float fields matched exactly). Runs
 * on mctx's reference configurations and on many random requests: every
 * policy, max_depth, invalid actions, Dirichlet and Gumbel noise,
 * temperatures, q-transforms, both PRNG modes, chunked launches and tree
 * reuse. Without a GPU every test skips and says why. */
#include "test.h"

#include "mctx/cuda.h"
#include "mctx/engine.h"
#include "mctx/registry.h"

static mctx_engine *gpu;
static mctx_engine *cpu;
static char skip_reason[512];
static long long floats_total, floats_exact;

static int setup(void) {
  if (gpu) return 1;
  if (skip_reason[0]) return 0;
  mctx_status st;
  gpu = mctx_engine_cuda_new(-1, &st);
  if (!gpu) {
    snprintf(skip_reason, sizeof skip_reason, "no usable GPU (%s): the CUDA engine is not checked here", st.reason);
    return 0;
  }
  cpu = mctx_engine_cpu_new(0, &st);
  const char *env = getenv("MCTX_CUDA_MAX_CHUNK");
  if (env) mctx_engine_cuda_set_max_chunk(gpu, atoi(env));
  return 1;
}

#define NEED_GPU() do { if (!setup()) SKIP("%s", skip_reason); } while (0)

static uint64_t rs = 0x243F6A8885A308D3ull;
static uint32_t rnd(uint32_t n) {
  rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
  return (uint32_t)(rs % n);
}

typedef struct run {
  mctx_tree *tree;
  int32_t *action;
  float *weights, *counts, *qv, *rv;
  int64_t expanded;
  int32_t depth;
} run;

static int do_run(mctx_engine *e, const mctx_search_params *p, const mctx_model *m, const mctx_root *r,
                  int continue_tree, mctx_tree *tree, run *o, mctx_status *st) {
  int32_t B = r->batch_size, A = r->num_actions;
  o->tree = tree;
  o->action = calloc((size_t)B, 4);
  o->weights = calloc((size_t)B * (size_t)A, 4);
  o->counts = calloc((size_t)B * (size_t)A, 4);
  o->qv = calloc((size_t)B * (size_t)A, 4);
  o->rv = calloc((size_t)B, 4);
  mctx_result res = {o->action, o->weights, o->rv, o->counts, NULL, o->qv, NULL, 0, 0, NULL};
  int rc = mctx_engine_search(e, p, m, r, continue_tree, tree, &res, st);
  o->expanded = res.num_expanded_nodes;
  o->depth = res.max_depth_reached;
  return rc;
}

static void run_free(run *o) {
  free(o->action); free(o->weights); free(o->counts); free(o->qv); free(o->rv);
}

static int close_f(float a, float b) {
  floats_total++;
  if (a == b || (isnan(a) && isnan(b))) { floats_exact++; return 1; }
  return fabsf(a - b) <= 1e-5f;
}

/* Compares two results and trees; returns 0 or fails the test with where. */
static void compare(const run *c, const run *g, int32_t B, int32_t A, const char *what) {
  for (int32_t b = 0; b < B; b++)
    if (c->action[b] != g->action[b]) FAIL_AT("%s: action[%d] cpu %d gpu %d", what, b, c->action[b], g->action[b]);
  for (size_t i = 0; i < (size_t)B * (size_t)A; i++) {
    if (c->counts[i] != g->counts[i]) FAIL_AT("%s: visit_counts[%zu] cpu %g gpu %g", what, i, c->counts[i], g->counts[i]);
    if (!close_f(c->weights[i], g->weights[i])) FAIL_AT("%s: action_weights[%zu] cpu %.9g gpu %.9g", what, i, c->weights[i], g->weights[i]);
    if (!close_f(c->qv[i], g->qv[i])) FAIL_AT("%s: qvalues[%zu] cpu %.9g gpu %.9g", what, i, c->qv[i], g->qv[i]);
  }
  for (int32_t b = 0; b < B; b++) if (!close_f(c->rv[b], g->rv[b])) FAIL_AT("%s: root_value[%d]", what, b);
  if (c->expanded != g->expanded) FAIL_AT("%s: expanded nodes cpu %lld gpu %lld", what, (long long)c->expanded, (long long)g->expanded);
  if (c->depth != g->depth) FAIL_AT("%s: max depth cpu %d gpu %d", what, c->depth, g->depth);
  const mctx_tree *x = c->tree, *y = g->tree;
  if (!x || !y) return;
  int32_t N = x->num_nodes, AA = x->num_actions;
  for (int32_t b = 0; b < B; b++) {
    if (x->next_node[b] != y->next_node[b]) FAIL_AT("%s: next_node[%d]", what, b);
    for (int32_t n = 0; n < N; n++) {
      size_t i = (size_t)b * (size_t)N + (size_t)n;
      if (x->node_visits[i] != y->node_visits[i])
        FAIL_AT("%s: node_visits[%d][%d] cpu %d gpu %d", what, b, n, x->node_visits[i], y->node_visits[i]);
      if (!x->node_visits[i]) continue;
      if (x->parents[i] != y->parents[i] || x->action_from_parent[i] != y->action_from_parent[i])
        FAIL_AT("%s: parents/action of [%d][%d]", what, b, n);
      if (!close_f(x->node_values[i], y->node_values[i]) || !close_f(x->raw_values[i], y->raw_values[i]))
        FAIL_AT("%s: values of [%d][%d] cpu %.9g gpu %.9g", what, b, n, x->node_values[i], y->node_values[i]);
      if (x->is_decision && x->is_decision[i] != y->is_decision[i]) FAIL_AT("%s: is_decision[%d][%d]", what, b, n);
      for (int32_t a = 0; a < AA; a++) {
        size_t k = i * (size_t)AA + (size_t)a;
        if (x->children_index[k] != y->children_index[k] || x->children_visits[k] != y->children_visits[k])
          FAIL_AT("%s: children of [%d][%d][%d]: index %d/%d visits %d/%d", what, b, n, a, x->children_index[k],
                  y->children_index[k], x->children_visits[k], y->children_visits[k]);
        if (!close_f(x->children_prior_logits[k], y->children_prior_logits[k]) &&
            !(isinf(x->children_prior_logits[k]) && x->children_prior_logits[k] == y->children_prior_logits[k]))
          FAIL_AT("%s: prior logits [%d][%d][%d] cpu %.9g gpu %.9g", what, b, n, a, x->children_prior_logits[k],
                  y->children_prior_logits[k]);
        if (!close_f(x->children_prior_probs[k], y->children_prior_probs[k]))
          FAIL_AT("%s: prior probs [%d][%d][%d]", what, b, n, a);
        if (x->children_index[k] < 0) continue;
        if (!close_f(x->children_values[k], y->children_values[k]) ||
            !close_f(x->children_rewards[k], y->children_rewards[k]) ||
            !close_f(x->children_discounts[k], y->children_discounts[k]))
          FAIL_AT("%s: child statistics [%d][%d][%d]", what, b, n, a);
      }
    }
  }
}

typedef struct request {
  const char *model;
  const char *params;
  mctx_search_params p;
  int32_t B, A;
  uint8_t *inv;
} request;

static void check_request(request *q, const char *what) {
  mctx_status st;
  mctx_json_doc *doc = NULL;
  if (q->params) {
    doc = mctx_json_parse(q->params, strlen(q->params), NULL, &st);
    ASSERT(doc != NULL);
  }
  mctx_model_ctx mc = {q->A, q->B, q->p.prng};
  mctx_model *m;
  ASSERT_EQ(mctx_model_create(q->model, doc ? mctx_json_root(doc) : NULL, &mc, &m, &st), 0);
  int stochastic = q->p.policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t C = stochastic ? m->info.num_chance_outcomes : 0;
  int gumbel = q->p.policy == MCTX_POLICY_GUMBEL_MUZERO;
  int32_t N = q->p.num_simulations + 1;
  mctx_tree *tc = mctx_tree_new(q->B, N, q->A + C, q->A, m->info.embedding_bytes, stochastic, gumbel, &st);
  mctx_tree *tg = mctx_tree_new(q->B, N, q->A + C, q->A, m->info.embedding_bytes, stochastic, gumbel, &st);
  mctx_root r = {q->B, q->A, NULL, NULL, NULL, q->inv, NULL};
  run c, g;
  int rc = do_run(cpu, &q->p, m, &r, 0, tc, &c, &st);
  if (rc) FAIL_AT("%s: cpu: %s", what, st.reason);
  rc = do_run(gpu, &q->p, m, &r, 0, tg, &g, &st);
  if (rc) FAIL_AT("%s: gpu: %s: %s", what, st.field, st.reason);
  compare(&c, &g, q->B, q->A, what);
  run_free(&c);
  run_free(&g);
  mctx_tree_free(tc);
  mctx_tree_free(tg);
  mctx_model_free(m);
  mctx_json_doc_free(doc);
}

/* The configurations of mctx's stored trees and of the synthetic goldens. */
TEST(reference_configurations) {
  NEED_GPU();
  struct { const char *model, *params; mctx_policy pol; int32_t A, S; int qt; float gs, vs, mi; int rescale; int inv; } cases[] = {
    {"mctx_test_env", "{\"discount\": -1.0, \"zero_reward\": true}", MCTX_POLICY_GUMBEL_MUZERO, 16, 31,
     MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE, 0.0f, 0.5f, 50.0f, 0, 1},
    {"mctx_test_env", "{\"discount\": 0.997, \"zero_reward\": false}", MCTX_POLICY_GUMBEL_MUZERO, 16, 32,
     MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE, 0.0f, 0.1f, 20.0f, 0, 1},
    {"mctx_test_env", "{\"discount\": 0.997, \"zero_reward\": false}", MCTX_POLICY_MUZERO, 16, 32,
     MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS, 1.0f, 0.1f, 50.0f, 1, 1},
    {"synthetic", NULL, MCTX_POLICY_MUZERO, 16, 32, MCTX_QTRANSFORM_DEFAULT, 1.0f, 0.1f, 50.0f, 1, 0},
    {"synthetic", NULL, MCTX_POLICY_GUMBEL_MUZERO, 16, 32, MCTX_QTRANSFORM_DEFAULT, 0.0f, 0.1f, 50.0f, 1, 0},
    {"synthetic_stochastic", "{\"num_chance_outcomes\": 4}", MCTX_POLICY_STOCHASTIC_MUZERO, 6, 40,
     MCTX_QTRANSFORM_DEFAULT, 1.0f, 0.1f, 50.0f, 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    request q;
    memset(&q, 0, sizeof q);
    q.model = cases[i].model;
    q.params = cases[i].params;
    q.B = 3;
    q.A = cases[i].A;
    mctx_search_params_init(&q.p, cases[i].pol);
    q.p.num_simulations = cases[i].S;
    q.p.prng = MCTX_PRNG_JAX_LEGACY;
    q.p.key = mctx_prng_key(1);
    q.p.qtransform.kind = (mctx_qtransform_kind)cases[i].qt;
    q.p.gumbel_scale = cases[i].gs;
    q.p.qtransform.value_scale = cases[i].vs;
    q.p.qtransform.maxvisit_init = cases[i].mi;
    q.p.qtransform.rescale_values = cases[i].rescale;
    mctx_search_params_set_dirichlet_fraction(&q.p, 0.0);
    if (cases[i].inv) {
      q.inv = calloc((size_t)3 * (size_t)q.A, 1);
      for (int32_t a = 1; a < q.A; a++) q.inv[q.A + a] = 1;
      for (int32_t a = 2; a < q.A; a++) q.inv[2 * q.A + a] = 1;
    }
    char what[64];
    snprintf(what, sizeof what, "reference case %zu", i);
    check_request(&q, what);
    free(q.inv);
    if (mctx_test_failed_) return;
  }
}

TEST(random_requests) {
  NEED_GPU();
  const char *models[] = {"synthetic", "mctx_test_env", "mock", "bandit", "synthetic_stochastic"};
  int n = getenv("MCTX_PARITY_CASES") ? atoi(getenv("MCTX_PARITY_CASES")) : 300;
  for (int it = 0; it < n; it++) {
    request q;
    memset(&q, 0, sizeof q);
    int mi = (int)rnd(5);
    q.model = models[mi];
    mctx_policy pol = mi == 4 ? MCTX_POLICY_STOCHASTIC_MUZERO : (mctx_policy)rnd(2);
    q.B = 1 + (int32_t)rnd(40);
    q.A = 1 + (int32_t)rnd(rnd(4) == 0 && mi != 3 ? 400 : 40);
    mctx_search_params_init(&q.p, pol);
    q.p.num_simulations = 1 + (int32_t)rnd(rnd(5) == 0 ? 300 : 64);
    q.p.prng = (mctx_prng_mode)rnd(2);
    q.p.key = mctx_prng_key((int64_t)rnd(1u << 30));
    q.p.max_depth = rnd(3) == 0 ? 1 + (int32_t)rnd(5) : 0;
    q.p.max_num_considered_actions = 1 + (int32_t)rnd(32);
    if (rnd(3) == 0) mctx_search_params_set_dirichlet_fraction(&q.p, 0.0);
    if (rnd(3) == 0) q.p.temperature = (float)rnd(4) * 0.5f;
    if (rnd(4) == 0) q.p.gumbel_scale = 0.0f;
    if (rnd(4) == 0) q.p.qtransform.kind = (mctx_qtransform_kind)(1 + rnd(3));
    if (q.p.qtransform.kind == MCTX_QTRANSFORM_BY_MIN_MAX) { q.p.qtransform.min_value = -3.0f; q.p.qtransform.max_value = 3.0f; }
    if (rnd(4) == 0) q.p.qtransform.rescale_values = 0;
    if (rnd(5) == 0) q.p.qtransform.use_mixed_value = 0;
    char params[1 << 16];
    if (mi == 3) {  /* bandit: q-values per element */
      size_t k = 0;
      k += (size_t)snprintf(params + k, sizeof params - k, "{\"qvalues\": [");
      for (int32_t b = 0; b < q.B; b++) {
        k += (size_t)snprintf(params + k, sizeof params - k, "%s[", b ? "," : "");
        for (int32_t a = 0; a < q.A && k < sizeof params - 32; a++)
          k += (size_t)snprintf(params + k, sizeof params - k, "%s%.3f", a ? "," : "", (double)rnd(2000) / 1000.0 - 1.0);
        k += (size_t)snprintf(params + k, sizeof params - k, "]");
      }
      snprintf(params + k, sizeof params - k, "]}");
      q.params = params;
      if (k > sizeof params - 64) continue;
    } else if (mi == 4) {
      snprintf(params, sizeof params, "{\"num_chance_outcomes\": %d}", 1 + (int)rnd(8));
      q.params = params;
    }
    if (rnd(2)) {
      q.inv = calloc((size_t)q.B * (size_t)q.A, 1);
      for (int32_t b = 0; b < q.B; b++) {
        for (int32_t a = 0; a < q.A; a++) q.inv[(size_t)b * (size_t)q.A + (size_t)a] = rnd(3) == 0;
        q.inv[(size_t)b * (size_t)q.A + rnd((uint32_t)q.A)] = 0;
      }
    }
    char what[160];
    snprintf(what, sizeof what, "random %d (%s, policy %d, B %d, A %d, S %d, depth %d, prng %d)", it, q.model, pol, q.B,
             q.A, q.p.num_simulations, q.p.max_depth, q.p.prng);
    check_request(&q, what);
    free(q.inv);
    if (mctx_test_failed_) return;
  }
}

/* Long paths (the backward pass stages 256 levels at a time; gumbel_muzero
 * with 2 actions reaches about 350 levels on the mock model and about 100 on
 * the synthetic one, through the pick cache's path for walks over 32 levels
 * in its kernel for the other models and in the synthetic model's own) and
 * the benchmark shapes. */
TEST(deep_and_wide) {
  NEED_GPU();
  struct { const char *model; mctx_policy pol; int32_t B, A, S; } cases[] = {
    {"mock", MCTX_POLICY_MUZERO, 2, 2, 700},
    {"mock", MCTX_POLICY_GUMBEL_MUZERO, 2, 2, 700},
    {"synthetic", MCTX_POLICY_GUMBEL_MUZERO, 2, 2, 700},
    {"synthetic", MCTX_POLICY_MUZERO, 1, 362, 800},
    {"synthetic", MCTX_POLICY_GUMBEL_MUZERO, 4, 362, 300},
    {"synthetic", MCTX_POLICY_MUZERO, 3, 500, 200},
    {"mctx_test_env", MCTX_POLICY_MUZERO, 2, 100, 400},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    request q;
    memset(&q, 0, sizeof q);
    q.model = cases[i].model;
    q.B = cases[i].B;
    q.A = cases[i].A;
    mctx_search_params_init(&q.p, cases[i].pol);
    q.p.num_simulations = cases[i].S;
    q.p.key = mctx_prng_key(42 + (int64_t)i);
    char what[64];
    snprintf(what, sizeof what, "deep/wide case %zu", i);
    check_request(&q, what);
    if (mctx_test_failed_) return;
  }
}

/* A batch cut into chunks of 5 gives what one launch gives. */
TEST(chunked_launches) {
  NEED_GPU();
  request q;
  memset(&q, 0, sizeof q);
  q.model = "synthetic";
  q.B = 23;
  q.A = 33;
  mctx_search_params_init(&q.p, MCTX_POLICY_MUZERO);
  q.p.num_simulations = 50;
  mctx_engine_cuda_set_max_chunk(gpu, 5);
  check_request(&q, "chunked muzero");
  q.p.policy = MCTX_POLICY_GUMBEL_MUZERO;
  check_request(&q, "chunked gumbel_muzero");
  mctx_cuda_memory mem;
  mctx_engine_cuda_memory(gpu, &mem);
  ASSERT_EQ(mem.last_chunk, 5);
  mctx_engine_cuda_set_max_chunk(gpu, 0);
}

/* Tree reuse: the CPU's reused tree searched further on the GPU and on the
 * CPU gives the same tree. */
TEST(tree_reuse) {
  NEED_GPU();
  mctx_status st;
  for (int pol = 0; pol < 2; pol++) {
    const int32_t B = 4, A = 10, S = 40;
    mctx_search_params p;
    mctx_search_params_init(&p, (mctx_policy)pol);
    p.num_simulations = S;
    mctx_model_ctx mc = {A, B, p.prng};
    mctx_model *m;
    ASSERT_EQ(mctx_model_create("synthetic", NULL, &mc, &m, &st), 0);
    mctx_tree *t = mctx_tree_new(B, S + 1, A, A, 4, 0, pol == 1, &st);
    mctx_root r = {B, A, NULL, NULL, NULL, NULL, NULL};
    run first;
    ASSERT_EQ(do_run(cpu, &p, m, &r, 0, t, &first, &st), 0);
    mctx_tree *u1, *u2;
    ASSERT_EQ(mctx_tree_reuse(t, first.action, S, &u1, &st), 0);
    ASSERT_EQ(mctx_tree_reuse(t, first.action, S, &u2, &st), 0);
    p.key = mctx_prng_key(99);
    run c, g;
    ASSERT_EQ(do_run(cpu, &p, m, &r, 1, u1, &c, &st), 0);
    int rc = do_run(gpu, &p, m, &r, 1, u2, &g, &st);
    if (rc) FAIL_AT("gpu continue: %s", st.reason);
    compare(&c, &g, B, A, pol ? "reuse gumbel_muzero" : "reuse muzero");
    run_free(&first); run_free(&c); run_free(&g);
    mctx_tree_free(t); mctx_tree_free(u1); mctx_tree_free(u2);
    mctx_model_free(m);
    if (mctx_test_failed_) return;
  }
}

TEST(report) {
  NEED_GPU();
  mctx_cuda_memory mem;
  mctx_engine_cuda_memory(gpu, &mem);
  fprintf(stderr, "device %s (sm_%d): %lld float fields compared, %lld bit-identical (%.4f%%); engine peak %zu bytes\n",
          mem.device_name, mem.compute_capability, floats_total, floats_exact,
          floats_total ? 100.0 * (double)floats_exact / (double)floats_total : 0.0, mem.peak_bytes);
  ASSERT(floats_total > 0);
}
