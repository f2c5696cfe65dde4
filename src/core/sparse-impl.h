/* core/sparse-impl.h: muzero's action selection at a node from its visited
 * children alone, when that gives the dense selection's answer for sure.
 *
 * muzero_action_selection scores every child of a node:
 *   visited (n > 0):  qtransform(q) + sqrt(N) pb_c p / (n + 1)
 *   unvisited:        qtransform(.) + sqrt(N) pb_c p
 * Under qtransform_by_parent_and_siblings and qtransform_by_min_max an
 * unvisited child's transformed value is (lo - lo) / den, which is +0 for
 * every unvisited child whenever den > 0, so the unvisited children's scores
 * are 0 + scale * p: one increasing function of the prior (float rounding is
 * monotone). Among them only the two largest priors can be the best or the
 * second best score. A node that keeps its visited children (a few, as in a
 * deep line of search) and the two largest priors of its unvisited children
 * therefore has every score that can matter.
 *
 * The dense selection adds 1e-7 * uniform noise (mctx's tie-break) and takes
 * the argmax; the engines draw the noise only when a second score comes
 * within mctx__noise_margin of the best, because otherwise the noise cannot
 * change the argmax. mctx__sp_pick decides only in that case: the best score
 * is unique and every other score is below best - margin; it computes each
 * candidate's score with the same formulas and operations as the dense path,
 * so the best and the second best are the dense path's own. Everything else
 * (a second score within the margin, a non-finite best, a NaN anywhere, a
 * node with more visited children than it keeps, den <= 0) is left to the
 * dense selection, which then runs exactly as before. The argument holds for
 * any tree: tests/core/test-sparse.c checks it against the dense scores on
 * random nodes, and the GPU engine's parity tests against the CPU engine.
 *
 * The CUDA engine keeps these records in shared memory (cuda/sparse.cuh);
 * the structures are plain data so the host tests can build them. */
#ifndef MCTX_CORE_SPARSE_IMPL_H
#define MCTX_CORE_SPARSE_IMPL_H

#include "core/hd.h"
#include "core/node-impl.h"
#include "mctx/search.h"

/* Visited children a node keeps; a node with more is selected densely. */
#define MCTX_SP_CAP 4
/* In mctx__sp_node.k: the node is always selected densely (its prior row
 * changed after its children were recorded: a leaf evaluated again). */
#define MCTX_SP_DENSE 0x40000000

/* A node: its visits and value (the tree's node_visits and node_values), the
 * number k of visited children it keeps (> MCTX_SP_CAP: dense), and the two
 * largest priors of its unvisited children (u1: the first index of the
 * largest, u1p its prior, u2p the second largest; u1 = -1 and u1p, u2p = -inf
 * where there are none). */
typedef struct mctx__sp_node {
  int32_t visits;
  float value;
  int32_t k;
  int32_t u1;
  float u1p, u2p;
} mctx__sp_node;

/* A visited child as its parent's row holds it: children_visits,
 * children_values, children_rewards, children_discounts,
 * children_prior_probs, the action and children_index. */
typedef struct mctx__sp_kid {
  int32_t visits;
  float value, reward, discount, prior;
  int32_t action, child, pad;
} mctx__sp_kid;

#define MCTX_SP_FALLBACK (-2)
#define MCTX_SP_UNVISITED (-1)

/* The two largest priors among a node's unvisited children, from its row:
 * u1 the first index of the largest (as jnp.argmax), u2p the largest of the
 * others (equal to u1p on a tie). `skip` (>= 0) counts as visited (a child
 * being added). Host version; the device merges lanes with a butterfly. */
MCTX_HD static inline void mctx__sp_top2(const int32_t *visits, const float *probs, int32_t n, int32_t skip,
                                         int32_t *u1, float *u1p, float *u2p) {
  int32_t i1 = -1;
  float p1 = MCTX_F32_NINF, p2 = MCTX_F32_NINF;
  for (int32_t i = 0; i < n; i++) {
    float p = probs[i];
    /* a NaN prior never wins a comparison: it is skipped, as the dense
     * selection's comparisons skip its score */
    if (visits[i] != 0 || i == skip || p != p) continue;
    if (i1 < 0 || p > p1) {
      if (i1 >= 0) p2 = p1 > p2 ? p1 : p2;
      i1 = i;
      p1 = p;
    } else {
      p2 = p > p2 ? p : p2;
    }
  }
  *u1 = i1;
  *u1p = p1;
  *u2p = p2;
}

/* muzero's choice at node m (not the root of a request with invalid
 * actions) from its kept children, or MCTX_SP_FALLBACK. Returns the kid's
 * slot, or MCTX_SP_UNVISITED for the unvisited child m->u1. `scale` is
 * mctx__puct_scale(m->visits, pb_c).
 *
 * Every slot is computed, kept or not, and masked afterwards: no branch
 * depends on the number of children, so one GPU thread (which walks the tree
 * alone) overlaps the slots' independent chains of loads and divisions. A
 * slot past k holds whatever its memory holds; its results are never used. */
MCTX_HD static inline int mctx__sp_pick(const mctx__sp_node *m, const mctx__sp_kid *kids, float scale,
                                        mctx_qtransform qtv) {
  const mctx_qtransform *qt = &qtv;
  int32_t k = m->k;
  int ps = qt->kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
  if (k > MCTX_SP_CAP || (!ps && qt->kind != MCTX_QTRANSFORM_BY_MIN_MAX)) return MCTX_SP_FALLBACK;
  float q[MCTX_SP_CAP], prior[MCTX_SP_CAP];
  int32_t n[MCTX_SP_CAP];
  float lo = qt->min_value, hi = qt->max_value;
  if (ps) lo = hi = m->value;
  int bad = m->value != m->value;
  for (int j = 0; j < MCTX_SP_CAP; j++) {
    mctx__sp_kid c = kids[j];
    int in = j < k;
    q[j] = mctx__q(c.reward, c.discount, c.value);
    prior[j] = c.prior;
    n[j] = in ? c.visits : 0;
    bad |= in && q[j] != q[j];
    int use = ps && in && n[j] > 0;
    lo = use && q[j] < lo ? q[j] : lo;
    hi = use && q[j] > hi ? q[j] : hi;
  }
  /* The unvisited children's transformed value: +0 exactly when den > 0. */
  float num = lo - lo;
  float den = hi - lo;
  if (ps) den = den > qt->epsilon ? den : qt->epsilon;
  bad |= !(num == 0.0f && den > 0.0f);
  float q_unvisited = 0.0f;
  float x[MCTX_SP_CAP];
  for (int j = 0; j < MCTX_SP_CAP; j++) {
    float visited = (ps ? mctx__qt_parent_siblings(q[j], n[j], lo, hi, qt->epsilon)
                        : mctx__qt_min_max(q[j], n[j], lo, hi)) +
                    mctx__policy_score(scale, prior[j], n[j]);
    x[j] = n[j] > 0 ? visited : q_unvisited + scale * prior[j];
    bad |= j < k && x[j] != x[j];
  }
  float v1 = MCTX_F32_NINF, v2 = MCTX_F32_NINF;
  int best = MCTX_SP_FALLBACK;
  for (int j = 0; j < MCTX_SP_CAP; j++) {
    int in = j < k;
    int gt = in && x[j] > v1;
    float loser = gt ? v1 : x[j];
    v2 = in && loser > v2 ? loser : v2;
    v1 = gt ? x[j] : v1;
    best = gt ? j : best;
  }
  if (m->u1 >= 0) {
    float xu = q_unvisited + scale * m->u1p;
    float yu = q_unvisited + scale * m->u2p;
    bad |= xu != xu || yu != yu;
    int gt = xu > v1;
    float loser = gt ? v1 : xu;
    v2 = loser > v2 ? loser : v2;
    v1 = gt ? xu : v1;
    best = gt ? MCTX_SP_UNVISITED : best;
    v2 = yu > v2 ? yu : v2;
  }
  /* A finite, unique best, every other score beyond the noise margin. */
  if (bad || !(v1 > MCTX_F32_NINF && v1 < MCTX_F32_INF)) return MCTX_SP_FALLBACK;
  float cut = v1 - mctx__noise_margin(v1);
  if (v2 >= cut) return MCTX_SP_FALLBACK;
  return best;
}

#endif
