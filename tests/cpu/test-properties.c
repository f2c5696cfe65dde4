/* tests/cpu/test-properties.c: properties that hold for every search, over
 * many random requests and seeds, and tree reuse.
 *   - root visits = S + 1 and the root's children visits sum to S;
 *   - parents, actions and children agree; without max_depth each expanded
 *     node's visits = 1 + the sum over its children (mctx_tree_check);
 *   - no invalid root action is visited, nor chosen;
 *   - action_weights sum to 1;
 *   - 1 thread and N threads give identical results. */
#include "test.h"

#include "mctx/engine.h"
#include "mctx/registry.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

typedef struct outcome {
  int32_t *action;
  float *weights;
  mctx_tree *tree;
} outcome;

static int search(const mctx_search_params *p, const mctx_model *m, int32_t B, int32_t A, const uint8_t *inv,
                  int threads, outcome *o, mctx_status *st) {
  int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t C = m->info.num_chance_outcomes;
  o->tree = mctx_tree_new(B, p->num_simulations + 1, stochastic ? A + C : A, A, m->info.embedding_bytes, stochastic,
                          p->policy == MCTX_POLICY_GUMBEL_MUZERO, st);
  o->action = calloc((size_t)B, sizeof(int32_t));
  o->weights = calloc((size_t)B * (size_t)A, sizeof(float));
  mctx_root r = {B, A, NULL, NULL, NULL, inv, NULL};
  mctx_result res = {o->action, o->weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  mctx_engine *e = mctx_engine_cpu_new(threads, st);
  int rc = mctx_engine_search(e, p, m, &r, 0, o->tree, &res, st);
  mctx_engine_free(e);
  return rc;
}

static void outcome_free(outcome *o) {
  free(o->action);
  free(o->weights);
  mctx_tree_free(o->tree);
}

static int same_trees(const mctx_tree *a, const mctx_tree *b) {
  size_t bn = (size_t)a->batch_size * (size_t)a->num_nodes;
  if (memcmp(a->node_visits, b->node_visits, bn * 4) != 0) return 0;
  for (size_t i = 0; i < bn; i++) {
    if (!a->node_visits[i]) continue;
    if (a->node_values[i] != b->node_values[i] || a->raw_values[i] != b->raw_values[i] ||
        a->parents[i] != b->parents[i])
      return 0;
    size_t row = i * (size_t)a->num_actions;
    if (memcmp(a->children_index + row, b->children_index + row, (size_t)a->num_actions * 4) != 0) return 0;
    if (memcmp(a->children_visits + row, b->children_visits + row, (size_t)a->num_actions * 4) != 0) return 0;
  }
  return 1;
}

TEST(random_requests) {
  const char *models[] = {"synthetic", "mctx_test_env", "mock", "synthetic_stochastic"};
  int cases = 0;
  for (int iter = 0; iter < 160; iter++) {
    mctx_status st;
    int mi = (int)rnd(4);
    mctx_policy pol = mi == 3 ? MCTX_POLICY_STOCHASTIC_MUZERO : (mctx_policy)rnd(2);
    int32_t B = 1 + (int32_t)rnd(6), A = 1 + (int32_t)rnd(24), S = 1 + (int32_t)rnd(60);
    mctx_search_params p;
    mctx_search_params_init(&p, pol);
    p.num_simulations = S;
    p.prng = (mctx_prng_mode)rnd(2);
    p.key = mctx_prng_key((int64_t)rnd(1000000));
    p.max_depth = rnd(3) == 0 ? 1 + (int32_t)rnd(4) : 0;
    p.max_num_considered_actions = 1 + (int32_t)rnd(20);
    if (rnd(2)) mctx_search_params_set_dirichlet_fraction(&p, 0.0);
    if (rnd(3) == 0) p.temperature = (float)rnd(3) * 0.5f;
    if (rnd(4) == 0) p.qtransform.kind = (mctx_qtransform_kind)(1 + rnd(3));
    if (p.qtransform.kind == MCTX_QTRANSFORM_BY_MIN_MAX) { p.qtransform.min_value = -2.0f; p.qtransform.max_value = 2.0f; }
    uint8_t *inv = NULL;
    if (rnd(2)) {
      inv = calloc((size_t)B * (size_t)A, 1);
      for (int32_t b = 0; b < B; b++) {
        for (int32_t a = 0; a < A; a++) inv[(size_t)b * (size_t)A + (size_t)a] = rnd(3) == 0;
        inv[(size_t)b * (size_t)A + rnd((uint32_t)A)] = 0;
      }
    }
    mctx_model_ctx mc = {A, B, p.prng};
    mctx_model *m;
    ASSERT_EQ(mctx_model_create(models[mi], NULL, &mc, &m, &st), 0);
    outcome o1, o3;
    int rc = search(&p, m, B, A, inv, 1, &o1, &st);
    if (rc) FAIL_AT("iter %d: %s: %s", iter, st.field, st.reason);
    ASSERT_EQ(search(&p, m, B, A, inv, 3, &o3, &st), 0);
    mctx_tree *t = o1.tree;
    int rcheck = mctx_tree_check(t, p.max_depth > 0, &st);
    if (rcheck) FAIL_AT("iter %d (%s, policy %d, B %d A %d S %d depth %d): %s", iter, models[mi], pol, B, A, S,
                        p.max_depth, st.reason);
    for (int32_t b = 0; b < B; b++) {
      size_t root = (size_t)b * (size_t)t->num_nodes;
      ASSERT_EQ(t->node_visits[root], S + 1);
      int64_t sum = 0;
      for (int32_t a = 0; a < t->num_actions; a++) sum += t->children_visits[root * (size_t)t->num_actions + (size_t)a];
      ASSERT_EQ(sum, S);
      double w = 0;
      for (int32_t a = 0; a < A; a++) {
        float wa = o1.weights[(size_t)b * (size_t)A + (size_t)a];
        ASSERT(wa >= 0.0f);
        w += wa;
        if (inv && inv[(size_t)b * (size_t)A + (size_t)a]) {
          ASSERT_EQ(t->children_visits[root * (size_t)t->num_actions + (size_t)a], 0);
          ASSERT(wa == 0.0f);
        }
      }
      ASSERT_NEAR(w, 1.0, 1e-5);
      int32_t act = o1.action[b];
      ASSERT(act >= 0 && act < A);
      if (inv) ASSERT(!inv[(size_t)b * (size_t)A + (size_t)act]);
    }
    ASSERT(memcmp(o1.action, o3.action, (size_t)B * 4) == 0);
    ASSERT(memcmp(o1.weights, o3.weights, (size_t)B * (size_t)A * 4) == 0);
    ASSERT(same_trees(o1.tree, o3.tree));
    outcome_free(&o1);
    outcome_free(&o3);
    mctx_model_free(m);
    free(inv);
    cases++;
  }
  ASSERT_EQ(cases, 160);
}

/* Search 64 simulations, keep the chosen action's subtree, search 64 more. */
static void reuse_case(mctx_policy pol) {
  mctx_status st;
  const int32_t B = 3, A = 8, S = 64;
  mctx_search_params p;
  mctx_search_params_init(&p, pol);
  p.num_simulations = S;
  p.key = mctx_prng_key(7);
  mctx_model_ctx mc = {A, B, p.prng};
  mctx_model *m;
  ASSERT_EQ(mctx_model_create("synthetic", NULL, &mc, &m, &st), 0);
  mctx_engine *e = mctx_engine_cpu_new(2, &st);
  mctx_tree *t = mctx_tree_new(B, S + 1, A, A, 4, 0, pol == MCTX_POLICY_GUMBEL_MUZERO, &st);
  int32_t action[3];
  float weights[3 * 8];
  mctx_root r = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  ASSERT_EQ(mctx_engine_search(e, &p, m, &r, 0, t, &res, &st), 0);

  /* The most visited child, so that its subtree is substantial. */
  int32_t chosen[3];
  for (int32_t b = 0; b < B; b++) {
    size_t row = (size_t)b * (size_t)t->num_nodes * (size_t)A;
    chosen[b] = 0;
    for (int32_t a = 1; a < A; a++)
      if (t->children_visits[row + (size_t)a] > t->children_visits[row + (size_t)chosen[b]]) chosen[b] = a;
  }
  mctx_tree *u;
  ASSERT_EQ(mctx_tree_reuse(t, chosen, S, &u, &st), 0);
  ASSERT_EQ(mctx_tree_check(u, 0, &st), 0);
  int32_t kept_visits[3];
  float kept_value[3];
  for (int32_t b = 0; b < B; b++) {
    size_t old_root = (size_t)b * (size_t)t->num_nodes;
    int32_t c = t->children_index[old_root * (size_t)A + (size_t)chosen[b]];
    size_t new_root = (size_t)b * (size_t)u->num_nodes;
    kept_visits[b] = u->node_visits[new_root];
    kept_value[b] = u->node_values[new_root];
    ASSERT_EQ(kept_visits[b], t->node_visits[old_root + (size_t)c]);
    ASSERT(kept_value[b] == t->node_values[old_root + (size_t)c]);
    ASSERT(kept_visits[b] > 1);
    ASSERT_EQ(u->parents[new_root], -1);
  }
  mctx_tree *before;
  ASSERT_EQ(mctx_tree_reuse(t, chosen, 0, &before, &st), 0);  /* a copy to compare with */

  p.key = mctx_prng_key(8);
  ASSERT_EQ(mctx_engine_search(e, &p, m, &r, 1, u, &res, &st), 0);
  ASSERT_EQ(mctx_tree_check(u, 0, &st), 0);
  for (int32_t b = 0; b < B; b++) {
    size_t new_root = (size_t)b * (size_t)u->num_nodes;
    ASSERT_EQ(u->node_visits[new_root], kept_visits[b] + S);
    int64_t sum = 0;
    for (int32_t a = 0; a < A; a++) {
      int32_t prev = before->children_visits[(size_t)b * (size_t)before->num_nodes * (size_t)A + (size_t)a];
      int32_t now = u->children_visits[new_root * (size_t)A + (size_t)a];
      ASSERT(now >= prev);
      sum += now;
    }
    ASSERT_EQ(sum, kept_visits[b] - 1 + S);
    /* every kept node still exists with at least its visits */
    for (int32_t n = 0; n < before->next_node[b]; n++) {
      size_t o = (size_t)b * (size_t)before->num_nodes + (size_t)n;
      size_t q = (size_t)b * (size_t)u->num_nodes + (size_t)n;
      ASSERT(u->node_visits[q] >= before->node_visits[o]);
      ASSERT(u->raw_values[q] == before->raw_values[o]);
    }
  }
  mctx_tree_free(before);
  mctx_tree_free(u);
  mctx_tree_free(t);
  mctx_engine_free(e);
  mctx_model_free(m);
}

TEST(tree_reuse_muzero) { reuse_case(MCTX_POLICY_MUZERO); }
TEST(tree_reuse_gumbel_muzero) { reuse_case(MCTX_POLICY_GUMBEL_MUZERO); }

TEST(reuse_of_unexpanded_action_is_an_error) {
  mctx_status st;
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = 2;
  mctx_model_ctx mc = {16, 1, p.prng};
  mctx_model *m;
  ASSERT_EQ(mctx_model_create("synthetic", NULL, &mc, &m, &st), 0);
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  mctx_tree *t = mctx_tree_new(1, 3, 16, 16, 4, 0, 0, &st);
  int32_t action[1];
  mctx_root r = {1, 16, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {action, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  ASSERT_EQ(mctx_engine_search(e, &p, m, &r, 0, t, &res, &st), 0);
  int32_t unexpanded = -1;
  for (int32_t a = 0; a < 16 && unexpanded < 0; a++)
    if (t->children_index[a] < 0) unexpanded = a;
  mctx_tree *u = NULL;
  ASSERT_EQ(mctx_tree_reuse(t, &unexpanded, 4, &u, &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "never expanded");
  ASSERT(u == NULL);
  mctx_tree_free(t);
  mctx_engine_free(e);
  mctx_model_free(m);
}

TEST(model_nan_fails_the_search) {
  /* bandit with a NaN q-value: the search fails with MCTX_EMODEL. */
  const char *text = "{\"qvalues\": [[0, 1e999, 0]]}";
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(text, strlen(text), NULL, &st);
  ASSERT(doc != NULL);
  mctx_model_ctx mc = {3, 1, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  /* 1e999 parses as infinity, which the bandit refuses up front. */
  ASSERT_EQ(mctx_model_create("bandit", mctx_json_root(doc), &mc, &m, &st), MCTX_ETYPE);
  ASSERT_STREQ(st.field, "model.params.qvalues[0][1]");
  mctx_json_doc_free(doc);
}
