/* tests/core/test-sparse.c: muzero's selection from a node's visited
 * children (core/sparse-impl.h) against the dense selection of every child,
 * on random nodes: whenever the sparse pick decides, the dense scores have a
 * unique best beyond the tie-break noise's margin and it is the same child;
 * whenever the dense scores need the noise, the sparse pick declines. */
#include "test.h"

#include "core/node-impl.h"
#include "core/prng-impl.h"
#include "core/sparse-impl.h"

/* xorshift: the test's own draws */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t draw(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 32);
}
static float unit(void) { return (float)(draw() >> 8) / 16777216.0f; }

typedef struct node {
  int32_t A, node_visits;
  float node_value;
  int32_t visits[64];
  float reward[64], discount[64], value[64], prob[64];
} node;

/* The dense selection (core/search.c's select_muzero without the noise):
 * returns the action when exactly one score reaches best - margin, else -1. */
static int32_t dense_decided(const node *x, const mctx_qtransform *qt, float scale) {
  float q[64], score[64];
  float lo = qt->min_value, hi = qt->max_value;
  int ps = qt->kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
  if (ps) {
    lo = MCTX_F32_INF;
    hi = MCTX_F32_NINF;
  }
  for (int32_t i = 0; i < x->A; i++) {
    q[i] = mctx__q(x->reward[i], x->discount[i], x->value[i]);
    float safe = x->visits[i] > 0 ? q[i] : x->node_value;
    if (ps) {
      lo = safe < lo ? safe : lo;
      hi = safe > hi ? safe : hi;
    }
  }
  if (ps) {
    lo = x->node_value < lo ? x->node_value : lo;
    hi = x->node_value > hi ? x->node_value : hi;
  }
  float best = MCTX_F32_NINF;
  for (int32_t i = 0; i < x->A; i++) {
    float t = ps ? mctx__qt_parent_siblings(q[i], x->visits[i], lo, hi, qt->epsilon)
                 : mctx__qt_min_max(q[i], x->visits[i], lo, hi);
    score[i] = t + mctx__policy_score(scale, x->prob[i], x->visits[i]);
    best = score[i] > best ? score[i] : best;
  }
  if (best == MCTX_F32_NINF) return -1;
  float cut = best - mctx__noise_margin(best);
  int32_t n = 0, arg = -1;
  for (int32_t i = 0; i < x->A; i++)
    if (score[i] >= cut) { n++; arg = i; }
  return n == 1 ? arg : -1;
}

/* A random node: some visited children (possibly more than the cap), priors
 * with ties now and then, values that repeat now and then. */
static void random_node(node *x, int32_t *nvisited) {
  x->A = 2 + (int32_t)(draw() % 40);
  int32_t want = (int32_t)(draw() % (MCTX_SP_CAP + 2));
  if (want > x->A) want = x->A;
  float psum = 0.0f;
  int ties = draw() % 4 == 0;
  for (int32_t i = 0; i < x->A; i++) {
    x->visits[i] = 0;
    x->reward[i] = x->discount[i] = x->value[i] = 0.0f;
    x->prob[i] = ties && i > 0 && draw() % 3 == 0 ? x->prob[i - 1] : unit() + 1e-3f;
    psum += x->prob[i];
  }
  for (int32_t i = 0; i < x->A; i++) x->prob[i] = x->prob[i] / psum;
  int32_t total = 0;
  *nvisited = 0;
  for (int32_t j = 0; j < want; j++) {
    int32_t a = (int32_t)(draw() % (uint32_t)x->A);
    if (x->visits[a]) continue;
    x->visits[a] = 1 + (int32_t)(draw() % 30);
    total += x->visits[a];
    x->reward[a] = draw() % 5 == 0 ? 0.0f : unit() * 0.2f - 0.1f;
    x->discount[a] = draw() % 2 ? 0.997f : -1.0f;
    x->value[a] = draw() % 6 == 0 && j > 0 ? 0.5f : unit() * 2.0f - 1.0f;
    (*nvisited)++;
  }
  x->node_visits = total + 1;
  x->node_value = unit() * 2.0f - 1.0f;
}

/* The node's sparse record from its row. */
static void sparse_of(const node *x, int32_t nvisited, mctx__sp_node *m, mctx__sp_kid *kids) {
  m->visits = x->node_visits;
  m->value = x->node_value;
  m->k = nvisited;
  int32_t j = 0;
  for (int32_t a = 0; a < x->A && j < MCTX_SP_CAP; a++) {
    if (!x->visits[a]) continue;
    kids[j].visits = x->visits[a];
    kids[j].value = x->value[a];
    kids[j].reward = x->reward[a];
    kids[j].discount = x->discount[a];
    kids[j].prior = x->prob[a];
    kids[j].action = a;
    kids[j].child = 1 + a;
    j++;
  }
  mctx__sp_top2(x->visits, x->prob, x->A, -1, &m->u1, &m->u1p, &m->u2p);
}

static void check(const mctx_qtransform *qt, int rounds, int *decided_out) {
  int decided = 0;
  for (int r = 0; r < rounds; r++) {
    node x;
    int32_t nv;
    random_node(&x, &nv);
    mctx__sp_node m;
    mctx__sp_kid kids[MCTX_SP_CAP];
    memset(kids, 0, sizeof kids);
    sparse_of(&x, nv, &m, kids);
    float scale = mctx__puct_scale(x.node_visits, mctx__pb_c(x.node_visits, 1.25f, 19652.0f));
    int32_t want = dense_decided(&x, qt, scale);
    int pick = mctx__sp_pick(&m, kids, scale, *qt);
    if (pick == MCTX_SP_FALLBACK) continue;
    decided++;
    int32_t got = pick == MCTX_SP_UNVISITED ? m.u1 : kids[pick].action;
    if (want < 0) FAIL_AT("round %d: the sparse pick chose %d where the dense scores need the noise", r, got);
    if (got != want) FAIL_AT("round %d: sparse %d, dense %d (A %d, %d visited)", r, got, want, x.A, nv);
  }
  *decided_out = decided;
}

TEST(parent_and_siblings_agrees_with_dense) {
  mctx_qtransform qt = {MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS, 1e-8f, 0, 0, 0, 0, 0, 0};
  int decided = 0;
  check(&qt, 200000, &decided);
  /* most random nodes are decided without the dense scores */
  if (decided < 100000) FAIL_AT("only %d of 200000 nodes decided sparsely", decided);
}

TEST(min_max_agrees_with_dense) {
  mctx_qtransform qt = {MCTX_QTRANSFORM_BY_MIN_MAX, 1e-8f, -1.5f, 1.5f, 0, 0, 0, 0};
  int decided = 0;
  check(&qt, 200000, &decided);
  if (decided < 100000) FAIL_AT("only %d of 200000 nodes decided sparsely", decided);
}

TEST(declines_what_it_cannot_decide) {
  mctx_qtransform ps = {MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS, 1e-8f, 0, 0, 0, 0, 0, 0};
  mctx_qtransform mm0 = {MCTX_QTRANSFORM_BY_MIN_MAX, 1e-8f, 0.5f, 0.5f, 0, 0, 0, 0};
  mctx_qtransform mix = {MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE, 1e-8f, 0, 0, 0.1f, 50, 1, 1};
  mctx__sp_node m = {3, 0.25f, 1, 2, 0.4f, 0.1f};
  /* the pick reads every slot (a slot past k is masked, not skipped) */
  mctx__sp_kid kid[MCTX_SP_CAP] = {{2, 0.5f, 0.0f, 1.0f, 0.3f, 0, 1, 0}};
  float scale = 1.0f;
  ASSERT(mctx__sp_pick(&m, kid, scale, ps) != MCTX_SP_FALLBACK);
  /* min == max: the unvisited children's value is NaN in mctx */
  ASSERT_EQ(mctx__sp_pick(&m, kid, scale, mm0), MCTX_SP_FALLBACK);
  /* completed_by_mix_value needs every child */
  ASSERT_EQ(mctx__sp_pick(&m, kid, scale, mix), MCTX_SP_FALLBACK);
  /* more children than kept, or marked dense */
  mctx__sp_node wide = m;
  wide.k = MCTX_SP_CAP + 1;
  ASSERT_EQ(mctx__sp_pick(&wide, kid, scale, ps), MCTX_SP_FALLBACK);
  wide.k = 1 | MCTX_SP_DENSE;
  ASSERT_EQ(mctx__sp_pick(&wide, kid, scale, ps), MCTX_SP_FALLBACK);
  /* two unvisited children with the same prior: the noise decides */
  mctx__sp_node tie = {3, 0.25f, 0, 2, 0.4f, 0.4f};
  ASSERT_EQ(mctx__sp_pick(&tie, kid, scale, ps), MCTX_SP_FALLBACK);
  /* a NaN value */
  mctx__sp_kid nan_kid[MCTX_SP_CAP] = {kid[0]};
  nan_kid[0].value = MCTX_F32_NAN;
  ASSERT_EQ(mctx__sp_pick(&m, nan_kid, scale, ps), MCTX_SP_FALLBACK);
  /* a NaN in a slot past k does not matter */
  mctx__sp_kid late_nan[MCTX_SP_CAP] = {kid[0]};
  late_nan[2].value = MCTX_F32_NAN;
  ASSERT(mctx__sp_pick(&m, late_nan, scale, ps) != MCTX_SP_FALLBACK);
}

TEST(top2_of_unvisited) {
  int32_t visits[6] = {0, 3, 0, 0, 1, 0};
  float probs[6] = {0.1f, 0.5f, 0.2f, 0.2f, 0.3f, 0.05f};
  int32_t u1;
  float u1p, u2p;
  mctx__sp_top2(visits, probs, 6, -1, &u1, &u1p, &u2p);
  ASSERT_EQ(u1, 2); /* the first of the two 0.2 */
  ASSERT(u1p == 0.2f && u2p == 0.2f);
  mctx__sp_top2(visits, probs, 6, 2, &u1, &u1p, &u2p);
  ASSERT_EQ(u1, 3);
  ASSERT(u1p == 0.2f && u2p == 0.1f);
  int32_t all[2] = {1, 1};
  mctx__sp_top2(all, probs, 2, -1, &u1, &u1p, &u2p);
  ASSERT_EQ(u1, -1);
  ASSERT(u1p == MCTX_F32_NINF && u2p == MCTX_F32_NINF);
}
