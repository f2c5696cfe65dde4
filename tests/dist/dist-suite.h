/* tests/dist/dist-suite.h: the tests of src/dist, for one kind of device.
 *
 * test-dist.c runs them on CPU devices (in one process with three CPU
 * devices, and under `mpirun -np 2..4` with a device per process or two);
 * test-nccl.c on the GPUs (NCCL), skipping without one. The file that
 * includes this one defines SUITE_KIND (MCTX_DIST_DEVICE_CPU or _GPU) and
 * suite_ref_engine(), the single device every distributed result is checked
 * against.
 *
 * Every test makes all of its distributed calls before it asserts anything:
 * under MPI an early return on one process would leave the others waiting in
 * a collective. The partition_search tests check the layer against a
 * reference written here from mctx's formulas (not from src/dist): each
 * device's share searched alone on one engine with key fold_in(key, d), the
 * statistics merged, the action read off them. */
#ifndef MCTX_TESTS_DIST_SUITE_H
#define MCTX_TESTS_DIST_SUITE_H

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist-impl.h"
#include "mctx/dist.h"
#include "mctx/engine.h"
#include "mctx/json.h"
#include "mctx/registry.h"
#include "test.h"
#include "util/buf.h"
#include "util/jsonw.h"

static mctx_engine *suite_ref_engine(void);

/* ==== The mesh, shared by the tests ==== */

static mctx_dist_mesh *g_mesh;
static char g_mesh_error[512];

/* The mesh: CPU devices per process from MCTX_TEST_CPU_DEVICES (3 alone, as
 * ctest sets it under MPI), one thread each. */
static mctx_dist_mesh *mesh(void) {
  if (g_mesh || g_mesh_error[0]) return g_mesh;
  mctx_dist_mesh_options o;
  mctx_dist_mesh_options_init(&o);
  const char *env = getenv("MCTX_TEST_CPU_DEVICES");
  o.cpu_devices = env ? atoi(env) : 3;
  o.cpu_threads = 1;
  if (SUITE_KIND == MCTX_DIST_DEVICE_CPU) o.gpus = "none";
  mctx_status st;
  if (mctx_dist_mesh_new(&o, &g_mesh, &st) != 0) snprintf(g_mesh_error, sizeof g_mesh_error, "%s", st.reason);
  return g_mesh;
}

static int present(const mctx_model *m) {
  return mctx_dist_mesh_num_devices(mesh(), SUITE_KIND, m->info.engines);
}

/* ==== Searches to compare ==== */

typedef struct outcome {
  int rc;
  mctx_status st;
  int32_t B, A;
  int32_t *action;
  float *weights, *root_value, *visit_counts, *visit_probs, *qvalues;
  int32_t *elem_expanded, *elem_depth;
  int64_t expanded;
  int32_t depth;
  mctx_tree *tree;
  mctx_dist_stats stats;
} outcome;

static void outcome_init(outcome *o, int32_t B, int32_t A) {
  memset(o, 0, sizeof *o);
  o->B = B;
  o->A = A;
  size_t ba = (size_t)B * (size_t)A;
  o->action = calloc((size_t)B, sizeof(int32_t));
  o->weights = calloc(ba, sizeof(float));
  o->root_value = calloc((size_t)B, sizeof(float));
  o->visit_counts = calloc(ba, sizeof(float));
  o->visit_probs = calloc(ba, sizeof(float));
  o->qvalues = calloc(ba, sizeof(float));
  o->elem_expanded = calloc((size_t)B, sizeof(int32_t));
  o->elem_depth = calloc((size_t)B, sizeof(int32_t));
}

static mctx_result outcome_result(outcome *o) {
  mctx_result r = {o->action, o->weights, o->root_value, o->visit_counts, o->visit_probs, o->qvalues,
                   o->elem_expanded, 0, 0, o->elem_depth};
  return r;
}

static void outcome_free(outcome *o) {
  free(o->action); free(o->weights); free(o->root_value); free(o->visit_counts); free(o->visit_probs);
  free(o->qvalues); free(o->elem_expanded); free(o->elem_depth);
  mctx_tree_free(o->tree);
  mctx_dist_stats_free(&o->stats);
  memset(o, 0, sizeof *o);
}

static mctx_tree *new_tree(const mctx_search_params *p, const mctx_model *m, int32_t B, int32_t A) {
  int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t C = stochastic ? m->info.num_chance_outcomes : 0;
  return mctx_tree_new(B, p->num_simulations + 1, A + C, A, m->info.embedding_bytes, stochastic,
                       p->policy == MCTX_POLICY_GUMBEL_MUZERO, NULL);
}

/* One search on the reference engine. */
static void run_single(const mctx_search_params *p, const mctx_model *m, const mctx_root *root, int want_tree,
                       outcome *o) {
  outcome_init(o, root->batch_size, root->num_actions);
  if (want_tree) o->tree = new_tree(p, m, root->batch_size, root->num_actions);
  mctx_result r = outcome_result(o);
  o->rc = mctx_engine_search(suite_ref_engine(), p, m, root, 0, o->tree, &r, &o->st);
  o->expanded = r.num_expanded_nodes;
  o->depth = r.max_depth_reached;
}

static void run_dist(const mctx_dist_config *cfg, const mctx_search_params *p, const mctx_model *m,
                     const mctx_root *root, int want_tree, outcome *o) {
  outcome_init(o, root->batch_size, root->num_actions);
  if (want_tree) o->tree = new_tree(p, m, root->batch_size, root->num_actions);
  mctx_result r = outcome_result(o);
  o->rc = mctx_dist_search(mesh(), cfg, p, m, root, o->tree, &r, &o->stats, &o->st);
  o->expanded = r.num_expanded_nodes;
  o->depth = r.max_depth_reached;
}

/* Byte equality of two outcomes; returns a description of the first
 * difference, or NULL. */
static const char *differs(const outcome *a, const outcome *b) {
  size_t B = (size_t)a->B, BA = B * (size_t)a->A;
  if (memcmp(a->action, b->action, B * 4)) return "action";
  if (memcmp(a->weights, b->weights, BA * 4)) return "action_weights";
  if (memcmp(a->root_value, b->root_value, B * 4)) return "root_value";
  if (memcmp(a->visit_counts, b->visit_counts, BA * 4)) return "visit_counts";
  if (memcmp(a->visit_probs, b->visit_probs, BA * 4)) return "visit_probs";
  if (memcmp(a->qvalues, b->qvalues, BA * 4)) return "qvalues";
  if (memcmp(a->elem_expanded, b->elem_expanded, B * 4)) return "elem_expanded";
  if (memcmp(a->elem_depth, b->elem_depth, B * 4)) return "elem_depth";
  int32_t deepest = 0;
  for (size_t i = 0; i < B; i++) deepest = a->elem_depth[i] > deepest ? a->elem_depth[i] : deepest;
  if (deepest != a->depth || deepest < 1) return "elem_depth (its maximum is not max_depth_reached)";
  if (a->expanded != b->expanded) return "num_expanded_nodes";
  if (a->depth != b->depth) return "max_depth_reached";
  if (!a->tree != !b->tree) return "tree presence";
  if (!a->tree) return NULL;
  const mctx_tree *x = a->tree, *y = b->tree;
  size_t N = (size_t)x->num_nodes, TA = (size_t)x->num_actions, E = (size_t)x->embedding_bytes;
  if (memcmp(x->node_visits, y->node_visits, B * N * 4)) return "tree.node_visits";
  if (memcmp(x->next_node, y->next_node, B * 4)) return "tree.next_node";
  if (memcmp(x->root_invalid_actions, y->root_invalid_actions, B * TA)) return "tree.root_invalid_actions";
  if (x->root_gumbel && memcmp(x->root_gumbel, y->root_gumbel, B * TA * 4)) return "tree.root_gumbel";
  if (x->num_expanded_nodes != y->num_expanded_nodes) return "tree.num_expanded_nodes";
  for (size_t b = 0; b < B; b++)
    for (size_t n = 0; n < N; n++) {
      if (!mctx_tree_node_used(x, (int32_t)b, (int32_t)n)) continue;
      size_t i = b * N + n, row = i * TA;
      if (memcmp(&x->raw_values[i], &y->raw_values[i], 4) || memcmp(&x->node_values[i], &y->node_values[i], 4) ||
          x->parents[i] != y->parents[i] || x->action_from_parent[i] != y->action_from_parent[i])
        return "tree node";
      if (memcmp(x->children_index + row, y->children_index + row, TA * 4) ||
          memcmp(x->children_visits + row, y->children_visits + row, TA * 4) ||
          memcmp(x->children_values + row, y->children_values + row, TA * 4) ||
          memcmp(x->children_prior_logits + row, y->children_prior_logits + row, TA * 4) ||
          memcmp(x->children_rewards + row, y->children_rewards + row, TA * 4) ||
          memcmp(x->children_discounts + row, y->children_discounts + row, TA * 4))
        return "tree children";
      if (E && memcmp(x->embeddings + i * E, y->embeddings + i * E, E)) return "tree.embeddings";
      if (x->is_decision && x->is_decision[i] != y->is_decision[i]) return "tree.is_decision";
    }
  return NULL;
}

/* ==== Requests ==== */

typedef struct fixture {
  mctx_search_params p;
  mctx_model *model;
  mctx_root root;
  float *logits, *value;
  uint8_t *invalid;
  mctx_elem_key *keys;
} fixture;

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* A request: the synthetic model (its own roots, or logits given here), some
 * invalid actions, B elements of A actions, S simulations. */
static void fixture_init(fixture *f, mctx_policy pol, int32_t B, int32_t A, int32_t S, int given_roots,
                         int with_invalid) {
  memset(f, 0, sizeof *f);
  mctx_search_params_init(&f->p, pol);
  f->p.num_simulations = S;
  f->p.key = mctx_prng_key(1234 + B + S);
  int stochastic = pol == MCTX_POLICY_STOCHASTIC_MUZERO;
  mctx_model_ctx mc = {A, B, f->p.prng};
  mctx_status st;
  if (mctx_model_create(stochastic ? "synthetic_stochastic" : "synthetic", NULL, &mc, &f->model, &st) != 0) {
    fprintf(stderr, "model: %s\n", st.reason);
    abort();
  }
  uint32_t seed = (uint32_t)(B * 7919 + A * 31 + S);
  if (given_roots) {
    f->logits = malloc((size_t)B * (size_t)A * sizeof(float));
    f->value = malloc((size_t)B * sizeof(float));
    for (size_t i = 0; i < (size_t)B * (size_t)A; i++) f->logits[i] = (float)(lcg(&seed) % 2001) / 500.0f - 2.0f;
    for (int32_t b = 0; b < B; b++) f->value[b] = (float)(lcg(&seed) % 2001) / 1000.0f - 1.0f;
  }
  if (with_invalid) {
    f->invalid = calloc((size_t)B * (size_t)A, 1);
    for (int32_t b = 0; b < B; b++)
      for (int32_t a = 1; a < A; a++) f->invalid[(size_t)b * (size_t)A + (size_t)a] = (lcg(&seed) % 4) == 0;
  }
  mctx_root r = {B, A, f->logits, f->value, NULL, f->invalid, NULL};
  f->root = r;
}

static void fixture_free(fixture *f) {
  mctx_model_free(f->model);
  free(f->logits); free(f->value); free(f->invalid); free(f->keys);
}

static mctx_dist_config config(int32_t D, mctx_dist_partition part, mctx_dist_merge merge) {
  mctx_dist_config c;
  mctx_dist_config_init(&c);
  c.num_devices = D;
  c.partition = part;
  c.merge = merge;
  c.device = SUITE_KIND;
  return c;
}

/* SUITE_SKIP_REASON() says why the suite cannot run here (NULL: it can). */
#ifndef SUITE_SKIP_REASON
#define SUITE_SKIP_REASON() ((const char *)NULL)
#endif

#define NEED_DEVICES()                                              \
  do {                                                              \
    const char *why_ = SUITE_SKIP_REASON();                         \
    if (why_) SKIP("%s", why_);                                     \
  } while (0)

#define NEED_MESH()                                                 \
  do {                                                              \
    NEED_DEVICES();                                                 \
    if (!mesh()) FAIL_AT("the mesh could not be made: %s", g_mesh_error); \
  } while (0)

/* ==== partition_batch ==== */

TEST(shares_differ_by_at_most_one) {
  NEED_DEVICES();
  for (int32_t n = 0; n <= 40; n++)
    for (int32_t d = 1; d <= 9; d++) {
      int32_t next = 0;
      for (int32_t i = 0; i < d; i++) {
        int32_t b, s;
        mctx_dist_share(n, d, i, &b, &s);
        ASSERT_EQ(b, next);
        ASSERT_EQ(s, n / d + (i < n % d ? 1 : 0));
        next = b + s;
      }
      ASSERT_EQ(next, n);
    }
}

/* The batch over every device of the mesh equals one device's search, bit
 * for bit, for each policy; with the tree too. */
static void batch_case(mctx_policy pol, int32_t B, int given_roots, int with_invalid, int want_tree) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, pol, B, 9, 24, given_roots, with_invalid);
  int D = present(f.model);
  mctx_dist_config cfg = config(D, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome one, many;
  run_single(&f.p, f.model, &f.root, want_tree, &one);
  run_dist(&cfg, &f.p, f.model, &f.root, want_tree, &many);
  const char *diff = many.rc == 0 && one.rc == 0 ? differs(&one, &many) : "(failed)";
  int used = many.stats.used_devices;
  char reason[400];
  snprintf(reason, sizeof reason, "%s", many.st.reason);
  char transport[16];
  snprintf(transport, sizeof transport, "%s", many.stats.transport);
  outcome_free(&one);
  outcome_free(&many);
  fixture_free(&f);
  if (diff) FAIL_AT("partition_batch over %d devices differs from one device in %s (%s)", D, diff, reason);
  ASSERT_EQ(used, D);
  if (mctx_dist_mesh_num_ranks(mesh()) > 1) ASSERT(strcmp(transport, "local") != 0);
}

TEST(batch_muzero_equals_one_device) { batch_case(MCTX_POLICY_MUZERO, 37, 0, 1, 0); }
TEST(batch_gumbel_equals_one_device) { batch_case(MCTX_POLICY_GUMBEL_MUZERO, 37, 1, 1, 0); }
TEST(batch_stochastic_equals_one_device) { batch_case(MCTX_POLICY_STOCHASTIC_MUZERO, 29, 0, 0, 0); }
TEST(batch_gumbel_tree_equals_one_device) { batch_case(MCTX_POLICY_GUMBEL_MUZERO, 23, 0, 1, 1); }
TEST(batch_muzero_tree_equals_one_device) { batch_case(MCTX_POLICY_MUZERO, 11, 1, 0, 1); }
/* Fewer elements than devices: some devices get none. */
TEST(batch_smaller_than_mesh) { batch_case(MCTX_POLICY_GUMBEL_MUZERO, 1, 0, 0, 1); }

/* Elements with keys of their own (jobs the service merged into one batch)
 * keep them on whichever device runs them. */
TEST(batch_keeps_element_keys) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_MUZERO, 13, 7, 16, 0, 0);
  f.keys = malloc((size_t)13 * sizeof *f.keys);
  for (int32_t b = 0; b < 13; b++) {
    f.keys[b].key = mctx_prng_key(100 + b / 3);
    f.keys[b].group_size = b / 3 == 4 ? 1 : 3;
    f.keys[b].group_index = b % 3;
  }
  f.root.keys = f.keys;
  mctx_dist_config cfg = config(present(f.model), MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome one, many;
  run_single(&f.p, f.model, &f.root, 0, &one);
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &many);
  const char *diff = many.rc == 0 && one.rc == 0 ? differs(&one, &many) : "(failed)";
  outcome_free(&one);
  outcome_free(&many);
  fixture_free(&f);
  if (diff) FAIL_AT("differs in %s", diff);
}

/* ==== partition_search against the reference ==== */

static float ref_median(float *x, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
      float t = x[j]; x[j] = x[j - 1]; x[j - 1] = t;
    }
  return n % 2 ? x[n / 2] : (float)(((double)x[n / 2 - 1] + (double)x[n / 2]) / 2.0);
}

static void ref_softmax(const float *x, float *out, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  double s = 0.0;
  for (int i = 0; i < n; i++) s += exp((double)x[i] - (double)m);
  for (int i = 0; i < n; i++) out[i] = (float)(exp((double)x[i] - (double)m) / s);
}

/* mctx's policies read off merged root statistics (policies.py,
 * qtransforms.py, seq_halving.py), plainly. */
static void ref_finish(const mctx_search_params *p, int A, const float *N, const float *Q, float raw,
                       const float *logits_in, const uint8_t *inv, mctx_elem_key ek, int32_t *action, float *w) {
  float logits[64], probs[64], cq[64], score[64], g[64];
  float tiny = FLT_MIN;
  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    float m = -INFINITY;
    for (int a = 0; a < A; a++) m = logits_in[a] > m ? logits_in[a] : m;
    for (int a = 0; a < A; a++) logits[a] = inv ? (inv[a] ? -FLT_MAX : logits_in[a] - m) : logits_in[a];
    ref_softmax(logits, probs, A);
    /* completed_by_mix_value with mctx's defaults */
    double sum_n = 0, max_n = 0, sp = 0, wq = 0;
    for (int a = 0; a < A; a++) {
      sum_n += N[a];
      max_n = N[a] > max_n ? N[a] : max_n;
      if (N[a] > 0) sp += probs[a] > tiny ? probs[a] : tiny;
    }
    for (int a = 0; a < A; a++)
      if (N[a] > 0) wq += (probs[a] > tiny ? probs[a] : tiny) * Q[a] / sp;
    double mixed = (raw + sum_n * wq) / (sum_n + 1);
    double lo = INFINITY, hi = -INFINITY;
    for (int a = 0; a < A; a++) {
      cq[a] = N[a] > 0 ? Q[a] : (float)mixed;
      lo = cq[a] < lo ? cq[a] : lo;
      hi = cq[a] > hi ? cq[a] : hi;
    }
    double den = hi - lo > 1e-8 ? hi - lo : 1e-8;
    for (int a = 0; a < A; a++) cq[a] = (float)((50.0 + max_n) * 0.1 * ((cq[a] - lo) / den));
    /* The Gumbel noise the element's own key draws at the root. */
    mctx_key noise_key = mctx_prng_split_nth(p->prng, ek.key, 2, 1);
    float *all = malloc((size_t)ek.group_size * (size_t)A * sizeof(float));
    mctx_prng_gumbel(p->prng, noise_key, (uint32_t)(ek.group_size * A), all);
    for (int a = 0; a < A; a++) g[a] = p->gumbel_scale * all[ek.group_index * A + a];
    free(all);
    float lmax = -INFINITY;
    for (int a = 0; a < A; a++) lmax = logits[a] > lmax ? logits[a] : lmax;
    int best = 0;
    for (int a = 0; a < A; a++) {
      float s = g[a] + (logits[a] - lmax) + cq[a];
      s = s > -1e9f ? s : -1e9f;
      score[a] = (N[a] == (float)max_n && !(inv && inv[a])) ? s : -INFINITY;
      if (score[a] > score[best]) best = a;
    }
    *action = best;
    float x[64];
    m = -INFINITY;
    for (int a = 0; a < A; a++) {
      x[a] = logits[a] + cq[a];
      m = x[a] > m ? x[a] : m;
    }
    for (int a = 0; a < A; a++) x[a] = inv ? (inv[a] ? -FLT_MAX : x[a] - m) : x[a];
    ref_softmax(x, w, A);
  } else {
    double total = 0;
    for (int a = 0; a < A; a++) total += N[a];
    for (int a = 0; a < A; a++) w[a] = total > 0 ? (float)(N[a] / (total > 1 ? total : 1)) : 1.0f / (float)A;
    float m = -INFINITY;
    for (int a = 0; a < A; a++) {
      logits[a] = logf(w[a] > tiny ? w[a] : tiny);
      m = logits[a] > m ? logits[a] : m;
    }
    for (int a = 0; a < A; a++) logits[a] = (logits[a] - m) / (p->temperature > tiny ? p->temperature : tiny);
    mctx_key final_key = mctx_prng_split_nth(p->prng, ek.key, 3, 0);
    float *all = malloc((size_t)ek.group_size * (size_t)A * sizeof(float));
    mctx_prng_gumbel(p->prng, final_key, (uint32_t)(ek.group_size * A), all);
    int best = 0;
    for (int a = 0; a < A; a++)
      if (all[ek.group_index * A + a] + logits[a] > all[ek.group_index * A + best] + logits[best]) best = a;
    free(all);
    *action = best;
  }
}

/* The reference of a partition_search over D devices: every share searched
 * alone with key fold_in(key, d), merged by `how`, finished. */
static void ref_search(const fixture *f, int D, mctx_dist_merge how, outcome *o) {
  int32_t B = f->root.batch_size, A = f->root.num_actions, S = f->p.num_simulations;
  outcome_init(o, B, A);
  int T = 0;
  outcome *dev = calloc((size_t)D, sizeof *dev);
  /* The roots, once (the model's), as the layer computes them. */
  float *logits = malloc((size_t)B * (size_t)A * sizeof(float)), *value = malloc((size_t)B * sizeof(float));
  uint8_t *emb = malloc((size_t)B * (size_t)(f->model->info.embedding_bytes ? f->model->info.embedding_bytes : 1));
  mctx_status st;
  f->model->vt->root(f->model->self, B, 0, NULL, logits, value, emb, &st);
  if (f->logits) {
    memcpy(logits, f->logits, (size_t)B * (size_t)A * sizeof(float));
    memcpy(value, f->value, (size_t)B * sizeof(float));
  }
  mctx_elem_key *keys = malloc((size_t)B * sizeof *keys);
  for (int d = 0; d < D; d++) {
    int32_t sims = S / D + (d < S % D ? 1 : 0);
    if (sims == 0) continue;
    mctx_search_params p = f->p;
    p.num_simulations = sims;
    for (int32_t b = 0; b < B; b++) {
      keys[b].key = mctx_prng_fold_in(p.prng, f->p.key, (uint32_t)d);
      keys[b].group_size = B;
      keys[b].group_index = b;
    }
    mctx_root r = f->root;
    r.keys = keys;
    run_single(&p, f->model, &r, 0, &dev[T]);
    if (dev[T].rc) o->rc = dev[T].rc;
    o->expanded += dev[T].expanded;
    o->depth = dev[T].depth > o->depth ? dev[T].depth : o->depth;
    for (int32_t b = 0; b < B; b++)
      if (dev[T].elem_depth[b] > o->elem_depth[b]) o->elem_depth[b] = dev[T].elem_depth[b];
    T++;
  }
  for (int32_t b = 0; b < B; b++) {
    float N[64], Q[64], vals[64], tmpn[64], tmpq[64];
    /* max_value: the device whose root value is the largest (the lowest
     * index among equals) lends its root value and q-values. */
    int top = 0;
    for (int t = 1; t < T; t++)
      if (dev[t].root_value[b] > dev[top].root_value[b]) top = t;
    for (int a = 0; a < A; a++) {
      size_t i = (size_t)b * (size_t)A + (size_t)a;
      double n = 0, nq = 0;
      int k = 0;
      for (int t = 0; t < T; t++) {
        float nt = dev[t].visit_counts[i], qt = dev[t].qvalues[i];
        n += nt;
        nq += (double)nt * qt;
        tmpn[t] = nt;
        if (nt > 0) tmpq[k++] = qt;
      }
      if (how == MCTX_DIST_MERGE_SUM_VISITS) {
        N[a] = (float)n;
        Q[a] = n > 0 ? (float)(nq / n) : 0.0f;
      } else if (how == MCTX_DIST_MERGE_MAX_VALUE) {
        N[a] = (float)n;
        Q[a] = n > 0 ? dev[top].qvalues[i] : 0.0f;
      } else {
        N[a] = floorf(ref_median(tmpn, T));
        Q[a] = N[a] > 0 && k > 0 ? ref_median(tmpq, k) : 0.0f;
      }
    }
    double vw = 0, ww = 0;
    for (int t = 0; t < T; t++) {
      double wt = 1;
      for (int a = 0; a < A; a++) wt += dev[t].visit_counts[(size_t)b * (size_t)A + (size_t)a];
      vw += wt * dev[t].root_value[b];
      ww += wt;
      vals[t] = dev[t].root_value[b];
    }
    float v = how == MCTX_DIST_MERGE_SUM_VISITS   ? (float)(vw / ww)
              : how == MCTX_DIST_MERGE_MAX_VALUE ? dev[top].root_value[b]
                                                 : ref_median(vals, T);
    mctx_elem_key ek = {f->p.key, B, b};
    size_t row = (size_t)b * (size_t)A;
    ref_finish(&f->p, A, N, Q, value[b], logits + row, f->invalid ? f->invalid + row : NULL, ek, &o->action[b],
               o->weights + row);
    memcpy(o->visit_counts + row, N, (size_t)A * sizeof(float));
    memcpy(o->qvalues + row, Q, (size_t)A * sizeof(float));
    o->root_value[b] = v;
  }
  for (int t = 0; t < T; t++) outcome_free(&dev[t]);
  free(dev); free(logits); free(value); free(emb); free(keys);
}

/* Compares a partition_search result with the reference: visits and actions
 * exactly, values and weights within float rounding. */
static const char *search_differs(const outcome *ref, const outcome *got, char *where, size_t n) {
  size_t B = (size_t)ref->B, A = (size_t)ref->A;
  for (size_t b = 0; b < B; b++) {
    for (size_t a = 0; a < A; a++) {
      size_t i = b * A + a;
      snprintf(where, n, "element %zu action %zu", b, a);
      if (ref->visit_counts[i] != got->visit_counts[i]) return "visit_counts";
      if (fabsf(ref->qvalues[i] - got->qvalues[i]) > 1e-6f + 1e-6f * fabsf(ref->qvalues[i])) return "qvalues";
      if (fabsf(ref->weights[i] - got->weights[i]) > 2e-6f) return "action_weights";
    }
    snprintf(where, n, "element %zu", b);
    if (fabsf(ref->root_value[b] - got->root_value[b]) > 1e-6f + 1e-6f * fabsf(ref->root_value[b])) return "root_value";
    if (ref->action[b] != got->action[b]) return "action";
    if (ref->elem_depth[b] != got->elem_depth[b]) return "elem_depth";
  }
  if (ref->expanded != got->expanded) return "num_expanded_nodes";
  if (ref->depth != got->depth) return "max_depth_reached";
  return NULL;
}

static void search_case_b(mctx_policy pol, mctx_dist_merge how, int32_t D_ask, int given_roots, int with_invalid,
                          int32_t B) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, pol, B, 8, 31, given_roots, with_invalid);
  int D = present(f.model);
  if (D_ask > 0 && D_ask < D) D = D_ask;
  mctx_dist_config cfg = config(D, MCTX_DIST_PARTITION_SEARCH, how);
  outcome got, ref;
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &got);
  ref_search(&f, D, how, &ref);
  char where[96] = "";
  const char *diff = got.rc == 0 && ref.rc == 0 ? search_differs(&ref, &got, where, sizeof where) : "(failed)";
  char reason[400];
  snprintf(reason, sizeof reason, "%s", got.st.reason);
  int used = got.stats.used_devices;
  int is_search = got.stats.partition == MCTX_DIST_PARTITION_SEARCH;
  outcome_free(&got);
  outcome_free(&ref);
  fixture_free(&f);
  if (diff) FAIL_AT("partition_search (%s, %d devices) differs from the reference in %s at %s %s",
                    mctx_dist_merge_name(how), D, diff, where, reason);
  ASSERT_EQ(used, D);
  ASSERT(is_search);
}

static void search_case(mctx_policy pol, mctx_dist_merge how, int32_t D_ask, int given_roots, int with_invalid) {
  search_case_b(pol, how, D_ask, given_roots, with_invalid, 6);
}

TEST(search_sum_visits_gumbel) { search_case(MCTX_POLICY_GUMBEL_MUZERO, MCTX_DIST_MERGE_SUM_VISITS, 0, 0, 1); }
TEST(search_max_value_gumbel) { search_case(MCTX_POLICY_GUMBEL_MUZERO, MCTX_DIST_MERGE_MAX_VALUE, 0, 1, 0); }
TEST(search_consensus_gumbel) { search_case(MCTX_POLICY_GUMBEL_MUZERO, MCTX_DIST_MERGE_CONSENSUS, 0, 0, 1); }
TEST(search_sum_visits_muzero) { search_case(MCTX_POLICY_MUZERO, MCTX_DIST_MERGE_SUM_VISITS, 0, 1, 1); }
TEST(search_max_value_muzero) { search_case(MCTX_POLICY_MUZERO, MCTX_DIST_MERGE_MAX_VALUE, 0, 0, 0); }
TEST(search_consensus_muzero) { search_case(MCTX_POLICY_MUZERO, MCTX_DIST_MERGE_CONSENSUS, 0, 0, 1); }
TEST(search_consensus_two_devices) { search_case(MCTX_POLICY_MUZERO, MCTX_DIST_MERGE_CONSENSUS, 2, 0, 0); }
TEST(search_sum_visits_stochastic) { search_case(MCTX_POLICY_STOCHASTIC_MUZERO, MCTX_DIST_MERGE_SUM_VISITS, 0, 0, 0); }
TEST(search_one_device) { search_case(MCTX_POLICY_GUMBEL_MUZERO, MCTX_DIST_MERGE_SUM_VISITS, 1, 0, 1); }
/* A batch large enough for the merge to run on several threads. */
TEST(search_large_batch) { search_case_b(MCTX_POLICY_GUMBEL_MUZERO, MCTX_DIST_MERGE_CONSENSUS, 0, 0, 1, 1100); }

/* The merge itself, on statistics made by hand (local: no collective).
 * max_value takes, per element, the root value and q-values of the device
 * whose root value is the largest (the lowest index among equals) and sums
 * the visits over every device; sum_visits and consensus as the table in
 * docs/DISTRIBUTED.md says. */
TEST(merge_strategies_by_hand) {
  NEED_DEVICES();
  enum { T = 3, B = 2, A = 3 };
  /* element 0: device 1 has the best root value; element 1: devices 1 and 2
   * tie, device 1 wins */
  static const float vis[T][B * A] = {{3, 0, 1, 2, 2, 0}, {1, 2, 0, 1, 0, 3}, {0, 4, 2, 0, 1, 3}};
  static const float q[T][B * A] = {{0.9f, 0.0f, 0.3f, 0.1f, 0.2f, 0.0f},
                                    {0.4f, 0.6f, 0.0f, 0.5f, 0.0f, 0.25f},
                                    {0.0f, 0.8f, 0.7f, 0.0f, 0.9f, 0.75f}};
  static const float val[T][B] = {{0.2f, 0.3f}, {0.5f, 0.7f}, {0.1f, 0.7f}};
  const float *pv[T] = {vis[0], vis[1], vis[2]}, *pq[T] = {q[0], q[1], q[2]}, *pval[T] = {val[0], val[1], val[2]};
  int32_t mv[B * A];
  float mq[B * A], mval[B];
  mctx_status st;
  ASSERT_EQ(mctx__merge_stats(MCTX_DIST_MERGE_MAX_VALUE, T, pv, pq, pval, B, A, mv, mq, mval, &st), 0);
  static const int32_t want_n[B * A] = {4, 6, 3, 3, 3, 6};
  /* device 1's q-values: 0 where device 1 did not visit, even where others did */
  static const float want_q[B * A] = {0.4f, 0.6f, 0.0f, 0.5f, 0.0f, 0.25f};
  for (int i = 0; i < B * A; i++) {
    ASSERT_EQ(mv[i], want_n[i]);
    ASSERT(mq[i] == want_q[i]);
  }
  ASSERT(mval[0] == 0.5f);
  ASSERT(mval[1] == 0.7f);
  /* the other strategies, unchanged */
  ASSERT_EQ(mctx__merge_stats(MCTX_DIST_MERGE_SUM_VISITS, T, pv, pq, pval, B, A, mv, mq, mval, &st), 0);
  ASSERT_EQ(mv[0], 4);
  ASSERT(mq[0] == (float)((3.0 * 0.9f + 1.0 * 0.4f) / 4.0));
  ASSERT(mval[0] == (float)((5.0 * 0.2f + 4.0 * 0.5f + 7.0 * 0.1f) / 16.0));
  ASSERT_EQ(mctx__merge_stats(MCTX_DIST_MERGE_CONSENSUS, T, pv, pq, pval, B, A, mv, mq, mval, &st), 0);
  ASSERT_EQ(mv[0], 1);
  ASSERT(mq[0] == (float)(0.5 * ((double)0.4f + (double)0.9f)));
  ASSERT(mval[1] == 0.7f);
}

/* The action read off one tree's root statistics by the layer is the one the
 * engine read off the tree, bit for bit, for every policy and q-transform:
 * the merge reuses the engine's formulas. Local: no collective. */
TEST(finish_reproduces_the_engine) {
  NEED_DEVICES();
  static const mctx_qtransform_kind qts[] = {MCTX_QTRANSFORM_DEFAULT, MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS,
                                             MCTX_QTRANSFORM_BY_MIN_MAX, MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE};
  static const mctx_policy pols[] = {MCTX_POLICY_MUZERO, MCTX_POLICY_GUMBEL_MUZERO, MCTX_POLICY_STOCHASTIC_MUZERO};
  for (int pi = 0; pi < 3; pi++)
    for (int qi = 0; qi < 4; qi++)
      for (int inv = 0; inv < 2; inv++) {
        fixture f;
        fixture_init(&f, pols[pi], 5, 7, 20, inv, inv);
        f.p.qtransform.kind = qts[qi];
        f.p.qtransform.min_value = -2.0f;
        f.p.qtransform.max_value = 2.0f;
        f.p.temperature = inv ? 0.7f : 1.0f;
        outcome one;
        run_single(&f.p, f.model, &f.root, 1, &one);
        ASSERT_EQ(one.rc, 0);
        float scratch[6 * 7], w[7], vp[7];
        for (int32_t b = 0; b < 5; b++) {
          int32_t vis[7];
          size_t row = (size_t)b * 7;
          for (int a = 0; a < 7; a++) vis[a] = (int32_t)one.visit_counts[row + (size_t)a];
          const mctx_tree *t = one.tree;
          mctx__root_stats rs = {vis, one.qvalues + row, one.root_value[b], t->raw_values[(size_t)b * (size_t)t->num_nodes],
                                 f.logits ? f.logits + row : t->children_prior_logits + (size_t)b * (size_t)t->num_nodes * (size_t)t->num_actions,
                                 f.invalid ? f.invalid + row : NULL, {f.p.key, 5, b}};
          int32_t action;
          mctx__finish_root(&f.p, 7, &rs, scratch, &action, w, vp);
          if (action != one.action[b] || memcmp(w, one.weights + row, sizeof w) != 0 ||
              memcmp(vp, one.visit_probs + row, sizeof vp) != 0) {
            outcome_free(&one);
            fixture_free(&f);
            FAIL_AT("policy %d qtransform %d invalid %d element %d: action %d vs %d", pi, qi, inv, (int)b,
                    (int)action, (int)one.action[b]);
          }
        }
        outcome_free(&one);
        fixture_free(&f);
      }
}

/* ==== The mesh: fewer devices, failures ==== */

TEST(fewer_devices_than_asked) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_GUMBEL_MUZERO, 10, 6, 12, 0, 0);
  int D = present(f.model);
  mctx_dist_config cfg = config(D + 5, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome one, many;
  run_single(&f.p, f.model, &f.root, 0, &one);
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &many);
  const char *diff = many.rc == 0 && one.rc == 0 ? differs(&one, &many) : "(failed)";
  mctx_dist_stats s = many.stats;
  char reason[400];
  snprintf(reason, sizeof reason, "%s", s.reason);
  int req = s.requested_devices, pres = s.present_devices, used = s.used_devices, ndev = s.num_devices;
  outcome_free(&one);
  outcome_free(&many);
  fixture_free(&f);
  if (diff) FAIL_AT("differs in %s", diff);
  ASSERT_EQ(req, D + 5);
  ASSERT_EQ(pres, D);
  ASSERT_EQ(used, D);
  ASSERT_EQ(ndev, D);
  ASSERT_CONTAINS(reason, "asked for");
  if (mctx_dist_mesh_num_ranks(mesh()) > 1) ASSERT_CONTAINS(reason, "MPI processes");
  else ASSERT_CONTAINS(reason, "one process");
}

/* Asked for fewer devices than present: the first ones work, no reason. */
TEST(fewer_asked_than_present) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_MUZERO, 10, 6, 12, 0, 0);
  mctx_dist_config cfg = config(1, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome one, many;
  run_single(&f.p, f.model, &f.root, 0, &one);
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &many);
  const char *diff = many.rc == 0 && one.rc == 0 ? differs(&one, &many) : "(failed)";
  int used = many.stats.used_devices, size0 = many.stats.num_devices ? many.stats.devices[0].share_size : -1;
  int reason = many.stats.reason[0] != '\0' && SUITE_KIND == MCTX_DIST_DEVICE_CPU;
  outcome_free(&one);
  outcome_free(&many);
  fixture_free(&f);
  if (diff) FAIL_AT("differs in %s", diff);
  ASSERT_EQ(used, 1);
  ASSERT_EQ(size0, 10);
  ASSERT(!reason);
}

static void failure_case(mctx_dist_partition part, int use_env) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_GUMBEL_MUZERO, 19, 8, 20, 0, 1);
  int D = present(f.model);
  if (D < 2) {
    fixture_free(&f);
    SKIP("failure injection needs 2 devices; the mesh has %d", D);
  }
  mctx_dist_config clean = config(D, part, MCTX_DIST_MERGE_SUM_VISITS);
  mctx_dist_config broken = clean;
  int victim = use_env ? 1 : D - 1;
  if (!use_env) broken.fail_devices[0] = victim;
  outcome ok, one, failed;
  run_dist(&clean, &f.p, f.model, &f.root, 0, &ok);
  run_single(&f.p, f.model, &f.root, 0, &one);
  if (use_env) setenv("MCTX_DIST_FAIL_DEVICE", "1", 1);
  run_dist(&broken, &f.p, f.model, &f.root, 0, &failed);
  if (use_env) unsetenv("MCTX_DIST_FAIL_DEVICE");
  /* partition_batch equals one device; partition_search the run without failure */
  const char *diff = failed.rc == 0 && ok.rc == 0 && one.rc == 0
                         ? differs(part == MCTX_DIST_PARTITION_BATCH ? &one : &ok, &failed)
                         : "(failed)";
  char reason[400];
  snprintf(reason, sizeof reason, "%s", failed.st.reason);
  mctx_dist_stats s = failed.stats;
  int nfailed = s.failed_devices, moved = s.reassigned_shares;
  int vfailed = s.num_devices > victim ? s.devices[victim].failed : -1;
  int vran = s.num_devices > victim ? s.devices[victim].shares_run : -1;
  char verr[200] = "";
  if (s.num_devices > victim) snprintf(verr, sizeof verr, "%s", s.devices[victim].error);
  int others_ran = 0;
  for (int d = 0; d < s.num_devices; d++)
    if (d != victim) others_ran += s.devices[d].ran_size;
  int total = part == MCTX_DIST_PARTITION_BATCH ? 19 : 20;
  outcome_free(&ok);
  outcome_free(&one);
  outcome_free(&failed);
  fixture_free(&f);
  if (diff) FAIL_AT("with device %d failing, the result differs in %s (%s)", victim, diff, reason);
  ASSERT_EQ(nfailed, 1);
  ASSERT(moved >= 1);
  ASSERT_EQ(vfailed, 1);
  ASSERT_EQ(vran, 0);
  ASSERT_CONTAINS(verr, "injected failure");
  ASSERT_EQ(others_ran, total);
}

TEST(failure_batch_moves_the_share) { failure_case(MCTX_DIST_PARTITION_BATCH, 0); }
TEST(failure_search_moves_the_share) { failure_case(MCTX_DIST_PARTITION_SEARCH, 0); }
TEST(failure_from_environment) { failure_case(MCTX_DIST_PARTITION_BATCH, 1); }

TEST(every_device_fails) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_MUZERO, 8, 5, 10, 0, 0);
  int D = present(f.model);
  mctx_dist_config cfg = config(D > 8 ? 8 : D, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  for (int d = 0; d < 8; d++) cfg.fail_devices[d] = d;
  outcome o;
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &o);
  int rc = o.rc;
  char reason[400];
  snprintf(reason, sizeof reason, "%s", o.st.reason);
  outcome_free(&o);
  fixture_free(&f);
  ASSERT_EQ(rc, MCTX_EDEVICE);
  ASSERT_CONTAINS(reason, "every device failed");
}

/* ==== Errors that are not a device's ==== */

typedef struct nan_model { int32_t A; } nan_model;

static int nan_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                    void *emb_out, mctx_status *st) {
  (void)first; (void)emb_in; (void)emb_out; (void)st;
  nan_model *m = self;
  for (int32_t i = 0; i < n * m->A; i++) logits[i] = 0.0f;
  for (int32_t i = 0; i < n; i++) value[i] = 0.0f;
  return 0;
}

static int nan_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                    mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)actions; (void)emb; (void)st;
  nan_model *m = self;
  for (int32_t i = 0; i < n; i++) {
    out->reward[i] = 0.0f;
    out->discount[i] = 1.0f;
    out->value[i] = NAN;
    for (int32_t a = 0; a < m->A; a++) out->prior_logits[(size_t)i * (size_t)m->A + (size_t)a] = 0.0f;
  }
  return 0;
}

static void nan_destroy(void *self) { (void)self; }

/* A model's NaN is the request's problem, not a device's: the search fails on
 * every process with the model's error, and nothing is run again. */
TEST(model_error_fails_the_search) {
  NEED_MESH();
  static const mctx_model_vtable vt = {MCTX_MODEL_ABI_VERSION, "nan", nan_destroy, nan_root, nan_step, NULL, NULL};
  nan_model nm = {4};
  mctx_model m;
  memset(&m, 0, sizeof m);
  m.vt = &vt;
  m.self = &nm;
  m.info.embedding_bytes = 0;
  m.info.engines = MCTX_ENGINE_CPU;
  m.info.precision = "fp32";
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = 4;
  mctx_root root = {6, 4, NULL, NULL, NULL, NULL, NULL};
  mctx_dist_config cfg = config(3, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  cfg.device = MCTX_DIST_DEVICE_CPU;
  outcome o;
  run_dist(&cfg, &p, &m, &root, 0, &o);
  int rc = o.rc;
  char reason[400];
  snprintf(reason, sizeof reason, "%s", o.st.reason);
  outcome_free(&o);
  ASSERT_EQ(rc, MCTX_EMODEL);
  ASSERT_CONTAINS(reason, "non-finite value");
}

TEST(arguments_are_checked) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_GUMBEL_MUZERO, 4, 5, 8, 0, 0);
  mctx_dist_config cfg = config(0, MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome a, b, c;
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &a);
  cfg = config(2, MCTX_DIST_PARTITION_SEARCH, MCTX_DIST_MERGE_SUM_VISITS);
  run_dist(&cfg, &f.p, f.model, &f.root, 1, &b);
  cfg = config(2, MCTX_DIST_PARTITION_SEARCH, (mctx_dist_merge)7);
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &c);
  int ra = a.rc, rb = b.rc, rcc = c.rc;
  char fa[128], fb[128], fc[128];
  snprintf(fa, sizeof fa, "%s", a.st.field);
  snprintf(fb, sizeof fb, "%s", b.st.field);
  snprintf(fc, sizeof fc, "%s", c.st.field);
  outcome_free(&a);
  outcome_free(&b);
  outcome_free(&c);
  fixture_free(&f);
  ASSERT_EQ(ra, MCTX_ERANGE);
  ASSERT_STREQ(fa, "search_params.num_devices");
  ASSERT_EQ(rb, MCTX_EUNSUPPORTED);
  ASSERT_STREQ(fb, "return_tree");
  ASSERT_EQ(rcc, MCTX_EINVALID);
  ASSERT_STREQ(fc, "search_params.merge_strategy");
}

/* distributed_stats as JSON: every member, every used device. */
TEST(stats_json) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_GUMBEL_MUZERO, 9, 5, 9, 0, 0);
  int D = present(f.model);
  mctx_dist_config cfg = config(D, MCTX_DIST_PARTITION_SEARCH, MCTX_DIST_MERGE_CONSENSUS);
  cfg.optimized = 1;
  cfg.precision = "bf16";
  outcome o;
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &o);
  int rc = o.rc;
  mctx_buf buf;
  mctx_buf_init(&buf, 1 << 20);
  mctx_jw w;
  mctx_jw_init(&w, &buf);
  if (rc == 0) mctx_dist_stats_json(&w, &o.stats);
  mctx_buf_putc(&buf, '\0');
  outcome_free(&o);
  fixture_free(&f);
  ASSERT_EQ(rc, 0);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(buf.data, strlen(buf.data), NULL, &st);
  if (!doc) FAIL_AT("not JSON (%s): %s", st.reason, buf.data);
  const mctx_json *j = mctx_json_root(doc);
  static const char *const keys[] = {"duration_ms", "partition", "merge_strategy", "transport", "processes",
                                     "requested_devices", "present_devices", "used_devices", "reason",
                                     "communication_ms", "merge_ms", "optimized", "precision", "failed_devices",
                                     "reassigned_shares", "devices", NULL};
  for (int i = 0; keys[i]; i++)
    if (!mctx_json_get(j, keys[i])) {
      mctx_json_doc_free(doc);
      FAIL_AT("distributed_stats lacks %s: %s", keys[i], buf.data);
    }
  const mctx_json *devs = mctx_json_get(j, "devices");
  int ndev = devs->type == MCTX_JSON_ARRAY ? (int)devs->len : -1;
  const mctx_json *d0 = ndev > 0 ? &devs->u.items[0] : NULL;
  int has = d0 && mctx_json_get(d0, "simulations") && mctx_json_get(d0, "time_ms") && mctx_json_get(d0, "kind") &&
            mctx_json_get(d0, "host") && mctx_json_get(d0, "status") && mctx_json_get(d0, "precision");
  const mctx_json *ms = mctx_json_get(j, "merge_strategy"), *pr = mctx_json_get(j, "precision");
  int merge_ok = ms->type == MCTX_JSON_STRING && strcmp(ms->u.str, "consensus") == 0;
  int prec_ok = pr->type == MCTX_JSON_STRING && strcmp(pr->u.str, "bf16") == 0;
  mctx_json_doc_free(doc);
  mctx_buf_free(&buf);
  ASSERT_EQ(ndev, D);
  ASSERT(has);
  ASSERT(merge_ok);
  ASSERT(prec_ok);
}

#endif
