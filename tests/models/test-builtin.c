/* tests/models/test-builtin.c: the reference models as the core issue
 * defines them, and what a search does at max_depth.
 *   mock:          reward 1, discount 1, prior logits 0, value 0, embedding + 1;
 *   bandit:        reward qvalues[b][action] at the root (embedding depth 0),
 *                  else 0; discount 1; prior logits 0; value 0; depth + 1;
 *   mctx_test_env: element 0's root key is PRNGKey(0), element i's
 *                  fold_in(PRNGKey(0), i), in both PRNG modes;
 *   max_depth:     a simulation that reaches it evaluates the existing leaf
 *                  again (overwriting its value), and its node slot stays
 *                  unused. */
#include "test.h"

#include "mctx/engine.h"
#include "mctx/json.h"
#include "mctx/registry.h"

static mctx_model *make(const char *name, const char *params, int32_t B, int32_t A, mctx_prng_mode prng) {
  mctx_status st;
  mctx_json_doc *doc = NULL;
  if (params) {
    doc = mctx_json_parse(params, strlen(params), NULL, &st);
    if (!doc) return NULL;
  }
  mctx_model_ctx ctx = {A, B, prng};
  mctx_model *m = NULL;
  int rc = mctx_model_create(name, doc ? mctx_json_root(doc) : NULL, &ctx, &m, &st);
  mctx_json_doc_free(doc);
  if (rc) fprintf(stderr, "%s: %s: %s\n", name, st.field, st.reason);
  return rc ? NULL : m;
}

TEST(mock_outputs) {
  mctx_model *m = make("mock", NULL, 2, 3, MCTX_PRNG_JAX);
  ASSERT(m != NULL);
  ASSERT_EQ(m->info.embedding_bytes, (int)sizeof(float));
  mctx_status st;
  float logits[6], value[2], emb[2], in[2] = {2.5f, -1.0f};
  ASSERT_EQ(m->vt->root(m->self, 2, 0, NULL, logits, value, emb, &st), 0);
  for (int i = 0; i < 6; i++) ASSERT(logits[i] == 0.0f);
  ASSERT(value[0] == 0.0f && value[1] == 0.0f && emb[0] == 0.0f && emb[1] == 0.0f);
  ASSERT_EQ(m->vt->root(m->self, 2, 0, in, logits, value, emb, &st), 0);
  ASSERT(emb[0] == 2.5f && emb[1] == -1.0f);
  float reward[2], discount[2], next[2];
  int32_t actions[2] = {2, 0};
  mctx_key keys[2] = {{{0, 0}}, {{0, 1}}};
  for (int i = 0; i < 6; i++) logits[i] = 7.0f;
  mctx_step_out out = {reward, discount, logits, value, next};
  ASSERT_EQ(m->vt->step(m->self, 2, keys, actions, in, &out, &st), 0);
  for (int i = 0; i < 2; i++) {
    ASSERT(reward[i] == 1.0f);
    ASSERT(discount[i] == 1.0f);
    ASSERT(value[i] == 0.0f);
    ASSERT(next[i] == in[i] + 1.0f);
  }
  for (int i = 0; i < 6; i++) ASSERT(logits[i] == 0.0f);
  mctx_model_free(m);
}

/* bandit's embedding: (depth, batch element) */
typedef struct { int32_t depth, index; } bandit_emb;

TEST(bandit_outputs) {
  mctx_model *m = make("bandit", "{\"qvalues\": [[0.1, 0.9, 0.3], [0.5, -0.2, 0.8]]}", 2, 3, MCTX_PRNG_JAX);
  ASSERT(m != NULL);
  ASSERT_EQ(m->info.embedding_bytes, (int)sizeof(bandit_emb));
  mctx_status st;
  float logits[6], value[2], reward[2], discount[2];
  bandit_emb root[2], next[2];
  ASSERT_EQ(m->vt->root(m->self, 2, 0, NULL, logits, value, root, &st), 0);
  ASSERT(root[0].depth == 0 && root[1].depth == 0 && root[0].index == 0 && root[1].index == 1);
  int32_t actions[2] = {1, 2};
  mctx_key keys[2] = {{{0, 0}}, {{0, 0}}};
  mctx_step_out out = {reward, discount, logits, value, next};
  ASSERT_EQ(m->vt->step(m->self, 2, keys, actions, root, &out, &st), 0);
  ASSERT(reward[0] == 0.9f && reward[1] == 0.8f);
  ASSERT(discount[0] == 1.0f && discount[1] == 1.0f && value[0] == 0.0f && value[1] == 0.0f);
  for (int i = 0; i < 6; i++) ASSERT(logits[i] == 0.0f);
  ASSERT(next[0].depth == 1 && next[1].depth == 1 && next[1].index == 1);
  /* below the root: no reward */
  bandit_emb deeper[2];
  ASSERT_EQ(m->vt->step(m->self, 2, keys, actions, next, &(mctx_step_out){reward, discount, logits, value, deeper},
                        &st), 0);
  ASSERT(reward[0] == 0.0f && reward[1] == 0.0f && deeper[0].depth == 2);
  /* a root the request gives (depth 1: not the root of the bandit) */
  bandit_emb given[1] = {{1, 1}};
  ASSERT_EQ(m->vt->root(m->self, 1, 0, given, logits, value, root, &st), 0);
  ASSERT(root[0].depth == 1 && root[0].index == 1);
  ASSERT_EQ(m->vt->step(m->self, 1, keys, actions, root, &out, &st), 0);
  ASSERT(reward[0] == 0.0f);
  /* wrong shapes are refused, naming the field */
  mctx_model *bad = make("bandit", "{\"qvalues\": [[0.1, 0.9]]}", 1, 3, MCTX_PRNG_JAX);
  ASSERT(bad == NULL);
  mctx_model_free(m);
}

TEST(bandit_search_finds_the_best_arm) {
  mctx_model *m = make("bandit", "{\"qvalues\": [[0.1, 0.9, 0.3, 0.2], [0.5, -0.2, 0.8, 0.1]]}", 2, 4,
                       MCTX_PRNG_JAX);
  ASSERT(m != NULL);
  for (int pol = 0; pol < 2; pol++) {
    mctx_status st;
    mctx_search_params p;
    mctx_search_params_init(&p, pol == 0 ? MCTX_POLICY_MUZERO : MCTX_POLICY_GUMBEL_MUZERO);
    p.num_simulations = 200;
    p.key = mctx_prng_key(3);
    if (pol == 0) p.temperature = 0.0f;
    int32_t action[2];
    float qv[8];
    mctx_root r = {2, 4, NULL, NULL, NULL, NULL, NULL};
    mctx_result res = {action, NULL, NULL, NULL, NULL, qv, NULL, 0, 0, NULL};
    mctx_engine *e = mctx_engine_cpu_new(1, &st);
    ASSERT_EQ(mctx_engine_search(e, &p, m, &r, 0, NULL, &res, &st), 0);
    mctx_engine_free(e);
    ASSERT_EQ(action[0], 1);
    ASSERT_EQ(action[1], 2);
    /* a visited arm's q-value is its reward (discount 1, values 0 below) */
    ASSERT_NEAR(qv[1], 0.9, 1e-6);
    ASSERT_NEAR(qv[4 + 2], 0.8, 1e-6);
  }
  mctx_model_free(m);
}

TEST(test_env_root_keys) {
  for (int mode = 0; mode < 2; mode++) {
    mctx_prng_mode prng = mode ? MCTX_PRNG_JAX_LEGACY : MCTX_PRNG_JAX;
    mctx_model *m = make("mctx_test_env", NULL, 4, 5, prng);
    ASSERT(m != NULL);
    ASSERT_EQ(m->info.embedding_bytes, (int)sizeof(mctx_key));
    mctx_status st;
    float logits[20], value[4];
    mctx_key emb[4];
    /* elements 1..3 of a request whose slice starts at element 1 */
    ASSERT_EQ(m->vt->root(m->self, 3, 1, NULL, logits, value, emb + 1, &st), 0);
    ASSERT_EQ(m->vt->root(m->self, 1, 0, NULL, logits, value, emb, &st), 0);
    mctx_key k0 = mctx_prng_key(0);
    ASSERT_U32_EQ(emb[0].k[0], k0.k[0]);
    ASSERT_U32_EQ(emb[0].k[1], k0.k[1]);
    for (uint32_t i = 1; i < 4; i++) {
      mctx_key want = mctx_prng_fold_in(prng, k0, i);
      ASSERT_U32_EQ(emb[i].k[0], want.k[0]);
      ASSERT_U32_EQ(emb[i].k[1], want.k[1]);
      ASSERT(emb[i].k[0] != emb[i - 1].k[0] || emb[i].k[1] != emb[i - 1].k[1]);
    }
    mctx_model_free(m);
  }
}

TEST(max_depth_evaluates_the_leaf_again) {
  /* mock, 3 actions, max_depth 2, 40 simulations: the tree can hold at most
   * 3 + 9 = 12 nodes below the root, so most simulations end on an existing
   * node at depth 2 and evaluate it again. */
  mctx_model *m = make("mock", NULL, 1, 3, MCTX_PRNG_JAX);
  ASSERT(m != NULL);
  mctx_status st;
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  const int32_t S = 40;
  p.num_simulations = S;
  p.max_depth = 2;
  p.key = mctx_prng_key(1);
  mctx_tree *t = mctx_tree_new(1, S + 1, 3, 3, m->info.embedding_bytes, 0, 0, &st);
  ASSERT(t != NULL);
  int32_t action[1];
  mctx_root r = {1, 3, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {action, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  ASSERT_EQ(mctx_engine_search(e, &p, m, &r, 0, t, &res, &st), 0);
  mctx_engine_free(e);
  ASSERT_EQ(res.max_depth_reached, 2);
  ASSERT_EQ(t->node_visits[0], S + 1);
  int32_t used = 0, depth2 = 0, reevaluated = 0;
  for (int32_t n = 0; n < S + 1; n++) {
    if (!t->node_visits[n]) continue;
    used++;
    int32_t d = 0;
    for (int32_t x = n; x != 0; x = t->parents[x]) d++;
    ASSERT(d <= 2);
    if (d == 2) {
      depth2++;
      /* never expanded below max_depth, yet visited again: evaluated again */
      for (int32_t a = 0; a < 3; a++) ASSERT_EQ(t->children_visits[(size_t)n * 3 + (size_t)a], 0);
      if (t->node_visits[n] > 1) reevaluated++;
    }
  }
  /* at most the 3 + 9 nodes above max_depth were ever made, so most of the
   * 40 simulations ended on an existing leaf at depth 2 */
  ASSERT(used <= 1 + 3 + 9);
  ASSERT(depth2 >= 1);
  ASSERT(reevaluated > 0);
  /* one node per expanding simulation; the others left their slot unused */
  ASSERT_EQ(res.num_expanded_nodes, used - 1);
  int32_t unused = 0;
  for (int32_t n = 1; n < S + 1; n++) unused += t->node_visits[n] == 0;
  ASSERT_EQ(unused, S - (used - 1));
  /* the evaluated-again leaf's value is the model's latest (mock: 0), and
   * its parent holds the backed-up returns of every visit */
  for (int32_t n = 0; n < S + 1; n++)
    if (t->node_visits[n] && t->parents[n] >= 0 && t->parents[t->parents[n]] == 0) ASSERT(t->raw_values[n] == 0.0f);
  mctx_tree_free(t);
  mctx_model_free(m);
}
