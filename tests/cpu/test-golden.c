/* tests/cpu/test-golden.c: the CPU engine reproduces DeepMind's mctx.
 *
 * - mctx's own stored trees (../shared/reference/mctx_test_data), made by
 *   tree_test.py: batch 3 with invalid_actions[1, 1:] = invalid_actions[2, 2:]
 *   = 1, key PRNGKey(1), jax_threefry_partitionable=False, the environment of
 *   the model mctx_test_env; batch element 0 compared with atol 1e-3.
 * - mctx's trees on the synthetic environment
 *   (../shared/reference/synthetic/synthetic_goldens_public.json): actions and
 *   integer arrays exactly, floats within 1e-5.
 * Both are run with 1 and with 3 threads. */
#include "test.h"

#include "mctx/engine.h"
#include "mctx/json.h"
#include "mctx/registry.h"
#include "core/reduce-impl.h"

/* Python's json writes -Infinity; JSON has no such token. */
static char *load_python_json(const char *path, size_t *len) {
  char *text = mctx_test_read_file(path, len);
  if (!text) return NULL;
  size_t n = *len, o = 0;
  char *out = malloc(n * 2 + 1);
  for (size_t i = 0; i < n;) {
    if (strncmp(text + i, "-Infinity", 9) == 0) { memcpy(out + o, "-1e999", 6); o += 6; i += 9; }
    else if (strncmp(text + i, "Infinity", 8) == 0) { memcpy(out + o, "1e999", 5); o += 5; i += 8; }
    else if (strncmp(text + i, "NaN", 3) == 0) { memcpy(out + o, "null", 4); o += 4; i += 3; }
    else out[o++] = text[i++];
  }
  out[o] = '\0';
  free(text);
  *len = o;
  return out;
}

static double num(const mctx_json *v) { return v->u.num; }

/* ==== mctx_test_data ==== */

static int compared_nodes;

/* Compares node (0, n) of the tree with the JSON node dictionary. */
static void compare_node(const mctx_tree *t, int32_t n, const mctx_json *jn, float prior) {
  const int32_t A = t->num_actions;
  ASSERT_NEAR(num(mctx_json_get(jn, "prior")), prior, 1e-3);
  ASSERT_EQ(mctx_json_get(jn, "visit")->i, t->node_visits[n]);
  ASSERT_NEAR(num(mctx_json_get(jn, "value_view")), t->node_values[n], 1e-3);
  ASSERT_NEAR(num(mctx_json_get(jn, "raw_value_view")), t->raw_values[n], 1e-3);
  ASSERT_EQ(mctx_json_get(jn, "evaluation_index")->i, n);
  const mctx_json *kids = mctx_json_get(jn, "child_stats");
  ASSERT_EQ(kids->len, A);
  compared_nodes++;
  for (int32_t a = 0; a < A; a++) {
    const mctx_json *jc = &kids->u.items[a];
    size_t cell = (size_t)n * (size_t)A + (size_t)a;
    float p = t->children_prior_probs[cell];
    ASSERT_EQ(mctx_json_get(jc, "action")->i, a);
    int32_t child = t->children_index[cell];
    if (child < 0) {
      ASSERT(mctx_json_get(jc, "visit") == NULL);
      ASSERT_NEAR(num(mctx_json_get(jc, "prior")), p, 1e-3);
      continue;
    }
    ASSERT(mctx_json_get(jc, "visit") != NULL);
    ASSERT_NEAR(num(mctx_json_get(jc, "reward")), t->children_rewards[cell], 1e-3);
    compare_node(t, child, jc, p);
    if (mctx_test_failed_) return;
  }
}

static void run_mctx_tree(const char *file) {
  const char *dir = mctx_test_reference_dir();
  if (!dir) SKIP("../shared/reference is absent: mctx's stored trees not checked");
  char path[1200];
  snprintf(path, sizeof path, "%s/mctx_test_data/%s", dir, file);
  size_t len;
  char *text = load_python_json(path, &len);
  if (!text) SKIP("%s is absent", path);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(text, len, NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *root = mctx_json_root(doc);
  const char *algo = mctx_json_get(root, "algorithm")->u.str;
  const mctx_json *cfg = mctx_json_get(root, "algorithm_config");
  const mctx_json *env = mctx_json_get(root, "env_config");
  const mctx_json *tree_json = mctx_json_get(root, "tree");
  int32_t A = (int32_t)mctx_json_get(tree_json, "child_stats")->len;
  int32_t S = (int32_t)mctx_json_get(tree_json, "visit")->i - 1;
  const int32_t B = 3;

  mctx_search_params p;
  int gumbel = strcmp(algo, "gumbel_muzero") == 0;
  mctx_search_params_init(&p, gumbel ? MCTX_POLICY_GUMBEL_MUZERO : MCTX_POLICY_MUZERO);
  p.num_simulations = S;
  p.prng = MCTX_PRNG_JAX_LEGACY;
  p.key = mctx_prng_key(1);
  const char *qt = mctx_json_get(cfg, "qtransform")->u.str;
  const mctx_json *qk = mctx_json_get(cfg, "qtransform_kwargs");
  if (strcmp(qt, "qtransform_by_parent_and_siblings") == 0) p.qtransform.kind = MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
  else if (strcmp(qt, "qtransform_completed_by_mix_value") == 0) p.qtransform.kind = MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE;
  else p.qtransform.kind = MCTX_QTRANSFORM_BY_MIN_MAX;
  const mctx_json *v;
  if ((v = mctx_json_get(qk, "value_scale"))) p.qtransform.value_scale = (float)num(v);
  if ((v = mctx_json_get(qk, "maxvisit_init"))) p.qtransform.maxvisit_init = (float)num(v);
  if ((v = mctx_json_get(qk, "rescale_values"))) p.qtransform.rescale_values = v->boolean;
  if ((v = mctx_json_get(qk, "use_mixed_value"))) p.qtransform.use_mixed_value = v->boolean;
  if ((v = mctx_json_get(cfg, "gumbel_scale"))) p.gumbel_scale = (float)num(v);
  if ((v = mctx_json_get(cfg, "max_num_considered_actions"))) p.max_num_considered_actions = (int32_t)v->i;
  if ((v = mctx_json_get(cfg, "dirichlet_fraction"))) mctx_search_params_set_dirichlet_fraction(&p, num(v));
  if ((v = mctx_json_get(cfg, "dirichlet_alpha"))) p.dirichlet_alpha = (float)num(v);
  if ((v = mctx_json_get(cfg, "pb_c_init"))) p.pb_c_init = (float)num(v);
  if ((v = mctx_json_get(cfg, "pb_c_base"))) p.pb_c_base = (float)num(v);

  mctx_model_ctx mc = {A, B, MCTX_PRNG_JAX_LEGACY};
  mctx_model *model;
  ASSERT_EQ(mctx_model_create("mctx_test_env", env, &mc, &model, &st), 0);

  uint8_t *inv = calloc((size_t)B * (size_t)A, 1);
  for (int32_t a = 1; a < A; a++) inv[(size_t)A + (size_t)a] = 1;
  for (int32_t a = 2; a < A; a++) inv[2 * (size_t)A + (size_t)a] = 1;

  for (int threads = 1; threads <= 3; threads += 2) {
    mctx_engine *e = mctx_engine_cpu_new(threads, &st);
    mctx_tree *t = mctx_tree_new(B, S + 1, A, A, model->info.embedding_bytes, 0, gumbel, &st);
    mctx_root r = {B, A, NULL, NULL, NULL, inv, NULL};
    int32_t action[3];
    float weights[3 * 400];
    mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
    int rc = mctx_engine_search(e, &p, model, &r, 0, t, &res, &st);
    if (rc != 0) fprintf(stderr, "search: %s: %s\n", st.field, st.reason);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(mctx_tree_check(t, 0, &st), 0);
    compared_nodes = 0;
    compare_node(t, 0, tree_json, 1.0f);
    if (mctx_test_failed_) fprintf(stderr, "mismatch in %s with %d threads\n", file, threads);
    ASSERT(!mctx_test_failed_);
    ASSERT(compared_nodes > 1);
    mctx_tree_free(t);
    mctx_engine_free(e);
  }
  free(inv);
  mctx_model_free(model);
  mctx_json_doc_free(doc);
  free(text);
}

TEST(mctx_gumbel_muzero_tree) { run_mctx_tree("gumbel_muzero_tree.json"); }
TEST(mctx_gumbel_muzero_reward_tree) { run_mctx_tree("gumbel_muzero_reward_tree.json"); }
TEST(mctx_muzero_qtransform_tree) { run_mctx_tree("muzero_qtransform_tree.json"); }

/* ==== synthetic goldens ==== */

static void cmp_int_rows(const mctx_json *want, const int32_t *got, int32_t B, int32_t N, int32_t A, int32_t stride_a,
                         const mctx_tree *t, int children, const char *name) {
  for (int32_t b = 0; b < B; b++) {
    const mctx_json *wb = &want->u.items[b];
    ASSERT_EQ(wb->len, N);
    for (int32_t n = 0; n < N; n++) {
      int used = mctx_tree_node_used(t, b, n);
      if (!children) {
        int32_t g = got[(size_t)b * (size_t)N + (size_t)n];
        if (!used) g = strcmp(name, "node_visits") == 0 ? 0 : -1;
        if (wb->u.items[n].i != g) FAIL_AT("%s[%d][%d]: want %lld got %d", name, b, n, (long long)wb->u.items[n].i, g);
        continue;
      }
      const mctx_json *wn = &wb->u.items[n];
      ASSERT_EQ(wn->len, A);
      for (int32_t a = 0; a < A; a++) {
        size_t cell = ((size_t)b * (size_t)N + (size_t)n) * (size_t)stride_a + (size_t)a;
        int32_t g = used ? got[cell] : (strcmp(name, "children_index") == 0 ? -1 : 0);
        if (wn->u.items[a].i != g)
          FAIL_AT("%s[%d][%d][%d]: want %lld got %d", name, b, n, a, (long long)wn->u.items[a].i, g);
      }
    }
  }
}

static void cmp_float_rows(const mctx_json *want, const float *got, int32_t B, int32_t N, int32_t A, int32_t stride_a,
                           const mctx_tree *t, int children, const char *name) {
  for (int32_t b = 0; b < B; b++) {
    const mctx_json *wb = &want->u.items[b];
    for (int32_t n = 0; n < N; n++) {
      int used = mctx_tree_node_used(t, b, n);
      if (!children) {
        float g = used ? got[(size_t)b * (size_t)N + (size_t)n] : 0.0f;
        double w = wb->u.items[n].u.num;
        if (!(fabs(w - g) <= 1e-5)) FAIL_AT("%s[%d][%d]: want %.9g got %.9g", name, b, n, w, (double)g);
        continue;
      }
      const mctx_json *wn = &wb->u.items[n];
      for (int32_t a = 0; a < A; a++) {
        size_t cell = ((size_t)b * (size_t)N + (size_t)n) * (size_t)stride_a + (size_t)a;
        int visited = used && t->children_index[cell] >= 0;
        int logits = strcmp(name, "children_prior_logits") == 0;
        float g = (logits ? used : visited) ? got[cell] : 0.0f;
        double w = wn->u.items[a].u.num;
        if (isinf(w) && w == g) continue;
        if (!(fabs(w - g) <= 1e-5)) FAIL_AT("%s[%d][%d][%d]: want %.9g got %.9g", name, b, n, a, w, (double)g);
      }
    }
  }
}

static void run_synthetic(int index, int threads) {
  const char *dir = mctx_test_reference_dir();
  if (!dir) SKIP("../shared/reference is absent: synthetic goldens not checked");
  char path[1200];
  snprintf(path, sizeof path, "%s/synthetic/synthetic_goldens_public.json", dir);
  size_t len;
  char *text = load_python_json(path, &len);
  if (!text) SKIP("%s is absent", path);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(text, len, NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *g = mctx_json_at(mctx_json_root(doc), (size_t)index);
  ASSERT(g != NULL);
  const char *policy = mctx_json_get(g, "policy")->u.str;
  const char *envname = mctx_json_get(g, "env")->u.str;
  int32_t B = (int32_t)mctx_json_get(g, "batch")->i;
  int32_t A = (int32_t)mctx_json_get(g, "num_actions")->i;
  int32_t S = (int32_t)mctx_json_get(g, "num_simulations")->i;
  const mctx_json *kw = mctx_json_get(g, "kwargs");
  mctx_policy pol = strcmp(policy, "muzero") == 0 ? MCTX_POLICY_MUZERO
                  : strcmp(policy, "gumbel_muzero") == 0 ? MCTX_POLICY_GUMBEL_MUZERO
                  : MCTX_POLICY_STOCHASTIC_MUZERO;
  mctx_search_params p;
  mctx_search_params_init(&p, pol);
  p.num_simulations = S;
  p.prng = MCTX_PRNG_JAX_LEGACY;
  p.key = mctx_prng_key(mctx_json_get(g, "seed")->i);
  const mctx_json *v;
  if ((v = mctx_json_get(kw, "dirichlet_fraction"))) mctx_search_params_set_dirichlet_fraction(&p, num(v));
  if ((v = mctx_json_get(kw, "gumbel_scale"))) p.gumbel_scale = (float)num(v);
  if ((v = mctx_json_get(kw, "max_num_considered_actions"))) p.max_num_considered_actions = (int32_t)v->i;

  mctx_model_ctx mc = {A, B, MCTX_PRNG_JAX_LEGACY};
  mctx_model *model;
  char params_text[128] = "{}";
  const mctx_json *nco = mctx_json_get(g, "num_chance_outcomes");
  if (nco) snprintf(params_text, sizeof params_text, "{\"num_chance_outcomes\": %lld}", (long long)nco->i);
  mctx_json_doc *pdoc = mctx_json_parse(params_text, strlen(params_text), NULL, &st);
  ASSERT_EQ(mctx_model_create(envname, mctx_json_root(pdoc), &mc, &model, &st), 0);
  int32_t C = model->info.num_chance_outcomes;
  int32_t Aall = pol == MCTX_POLICY_STOCHASTIC_MUZERO ? A + C : A;

  uint8_t *inv = NULL;
  const mctx_json *ij = mctx_json_get(g, "invalid_actions");
  if (ij) {
    inv = calloc((size_t)B * (size_t)A, 1);
    for (int32_t b = 0; b < B; b++)
      for (int32_t a = 0; a < A; a++) inv[(size_t)b * (size_t)A + (size_t)a] = ij->u.items[b].u.items[a].u.num != 0.0;
  }
  mctx_engine *e = mctx_engine_cpu_new(threads, &st);
  mctx_tree *t = mctx_tree_new(B, S + 1, Aall, A, model->info.embedding_bytes, pol == MCTX_POLICY_STOCHASTIC_MUZERO,
                               pol == MCTX_POLICY_GUMBEL_MUZERO, &st);
  mctx_root r = {B, A, NULL, NULL, NULL, inv, NULL};
  int32_t *action = calloc((size_t)B, sizeof(int32_t));
  float *weights = calloc((size_t)B * (size_t)A, sizeof(float));
  float *counts = calloc((size_t)B * (size_t)A, sizeof(float));
  float *qv = calloc((size_t)B * (size_t)A, sizeof(float));
  float *rv = calloc((size_t)B, sizeof(float));
  mctx_result res = {action, weights, rv, counts, NULL, qv, NULL, 0, 0, NULL};
  int rc = mctx_engine_search(e, &p, model, &r, 0, t, &res, &st);
  if (rc != 0) fprintf(stderr, "search: %s: %s\n", st.field, st.reason);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(mctx_tree_check(t, 0, &st), 0);

  const mctx_json *wa = mctx_json_get(g, "action");
  for (int32_t b = 0; b < B; b++) ASSERT_EQ(wa->u.items[b].i, action[b]);
  const mctx_json *ww = mctx_json_get(g, "action_weights");
  for (int32_t b = 0; b < B; b++)
    for (int32_t a = 0; a < A; a++) ASSERT_NEAR(ww->u.items[b].u.items[a].u.num, weights[(size_t)b * (size_t)A + (size_t)a], 1e-5);
  if ((v = mctx_json_get(g, "root_visit_counts")))
    for (int32_t b = 0; b < B; b++)
      for (int32_t a = 0; a < A; a++) ASSERT_NEAR(v->u.items[b].u.items[a].u.num, counts[(size_t)b * (size_t)A + (size_t)a], 0);
  if ((v = mctx_json_get(g, "root_value")))
    for (int32_t b = 0; b < B; b++) ASSERT_NEAR(v->u.items[b].u.num, rv[b], 1e-5);
  if ((v = mctx_json_get(g, "root_qvalues")))
    for (int32_t b = 0; b < B; b++)
      for (int32_t a = 0; a < A; a++) ASSERT_NEAR(v->u.items[b].u.items[a].u.num, qv[(size_t)b * (size_t)A + (size_t)a], 1e-5);

  int32_t N = S + 1;
  cmp_int_rows(mctx_json_get(g, "node_visits"), t->node_visits, B, N, 0, 0, t, 0, "node_visits");
  cmp_int_rows(mctx_json_get(g, "parents"), t->parents, B, N, 0, 0, t, 0, "parents");
  cmp_int_rows(mctx_json_get(g, "action_from_parent"), t->action_from_parent, B, N, 0, 0, t, 0, "action_from_parent");
  cmp_int_rows(mctx_json_get(g, "children_index"), t->children_index, B, N, A, Aall, t, 1, "children_index");
  cmp_int_rows(mctx_json_get(g, "children_visits"), t->children_visits, B, N, A, Aall, t, 1, "children_visits");
  cmp_float_rows(mctx_json_get(g, "raw_values"), t->raw_values, B, N, 0, 0, t, 0, "raw_values");
  cmp_float_rows(mctx_json_get(g, "node_values"), t->node_values, B, N, 0, 0, t, 0, "node_values");
  cmp_float_rows(mctx_json_get(g, "children_values"), t->children_values, B, N, A, Aall, t, 1, "children_values");
  cmp_float_rows(mctx_json_get(g, "children_rewards"), t->children_rewards, B, N, A, Aall, t, 1, "children_rewards");
  cmp_float_rows(mctx_json_get(g, "children_discounts"), t->children_discounts, B, N, A, Aall, t, 1, "children_discounts");
  cmp_float_rows(mctx_json_get(g, "children_prior_logits"), t->children_prior_logits, B, N, A, Aall, t, 1,
                 "children_prior_logits");
  free(action); free(weights); free(counts); free(qv); free(rv); free(inv);
  mctx_tree_free(t);
  mctx_engine_free(e);
  mctx_model_free(model);
  mctx_json_doc_free(pdoc);
  mctx_json_doc_free(doc);
  free(text);
}

TEST(synthetic_muzero) { run_synthetic(0, 1); }
TEST(synthetic_gumbel_muzero) { run_synthetic(1, 1); }
TEST(synthetic_stochastic_muzero) { run_synthetic(2, 1); }
TEST(synthetic_muzero_threads) { run_synthetic(0, 3); }
TEST(synthetic_gumbel_muzero_threads) { run_synthetic(1, 3); }
TEST(synthetic_stochastic_muzero_threads) { run_synthetic(2, 2); }
