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
 * mctx__puct_scale(m->visits, pb_c). */
MCTX_HD static inline int mctx__sp_pick(const mctx__sp_node *m, const mctx__sp_kid *kids, float scale,
                                        mctx_qtransform qtv) {
  const mctx_qtransform *qt = &qtv;
  int32_t k = m->k;
  if (k > MCTX_SP_CAP) return MCTX_SP_FALLBACK;
  int ps = qt->kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
  if (!ps && qt->kind != MCTX_QTRANSFORM_BY_MIN_MAX) return MCTX_SP_FALLBACK;
  float q[MCTX_SP_CAP] = {0.0f, 0.0f, 0.0f, 0.0f};
  float lo = qt->min_value, hi = qt->max_value;
  if (ps) lo = hi = m->value;
  int bad = 0;
  for (int j = 0; j < MCTX_SP_CAP; j++) {
    if (j >= k) break;
    q[j] = mctx__q(kids[j].reward, kids[j].discount, kids[j].value);
    if (q[j] != q[j]) bad = 1;
    if (ps && kids[j].visits > 0) {
      lo = q[j] < lo ? q[j] : lo;
      hi = q[j] > hi ? q[j] : hi;
    }
  }
  if (bad || m->value != m->value) return MCTX_SP_FALLBACK;
  /* The unvisited children's transformed value: +0 exactly when den > 0. */
  float num = lo - lo;
  float den = hi - lo;
  if (ps) den = den > qt->epsilon ? den : qt->epsilon;
  if (!(num == 0.0f && den > 0.0f)) return MCTX_SP_FALLBACK;
  float q_unvisited = 0.0f;
  float v1 = MCTX_F32_NINF, v2 = MCTX_F32_NINF;
  int best = MCTX_SP_FALLBACK;
  for (int j = 0; j < MCTX_SP_CAP; j++) {
    if (j >= k) break;
    int32_t n = kids[j].visits;
    float x;
    if (n > 0) {
      x = (ps ? mctx__qt_parent_siblings(q[j], n, lo, hi, qt->epsilon) : mctx__qt_min_max(q[j], n, lo, hi)) +
          mctx__policy_score(scale, kids[j].prior, n);
    } else {
      x = q_unvisited + scale * kids[j].prior;
    }
    if (x != x) return MCTX_SP_FALLBACK;
    if (x > v1) { v2 = v1; v1 = x; best = j; }
    else if (x > v2) v2 = x;
  }
  if (m->u1 >= 0) {
    float x = q_unvisited + scale * m->u1p;
    if (x != x) return MCTX_SP_FALLBACK;
    if (x > v1) { v2 = v1; v1 = x; best = MCTX_SP_UNVISITED; }
    else if (x > v2) v2 = x;
    float y = q_unvisited + scale * m->u2p;
    if (y != y) return MCTX_SP_FALLBACK;
    v2 = y > v2 ? y : v2;
  }
  /* A finite, unique best, every other score beyond the noise margin. */
  if (!(v1 > MCTX_F32_NINF && v1 < MCTX_F32_INF)) return MCTX_SP_FALLBACK;
  float cut = v1 - mctx__noise_margin(v1);
  if (v2 >= cut) return MCTX_SP_FALLBACK;
  return best;
}

#endif
