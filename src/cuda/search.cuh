/* cuda/search.cuh: the per-element search on the device, one warp per batch
 * element, written over the shared formulas of core/node-impl.h, the PRNG of
 * core/prng-impl.h and the environments of models/ *-impl.h. It follows
 * core/search.c step by step; where the CPU loops over a node's children, a
 * warp's lanes take children l, l + 32, ... and reduce in the canonical order.
 * Node-level values (qtransform constants, sums) are recomputed from the tree
 * rather than kept in scratch arrays, so any number of actions fits. */
#ifndef MCTX_CUDA_SEARCH_CUH
#define MCTX_CUDA_SEARCH_CUH

#include "core/node-impl.h"
#include "core/prng-impl.h"
#include "cuda/common.cuh"
#include "mctx/cuda.h"
#include "mctx/search.h"
#include "models/synthetic-impl.h"
#include "models/testenv-impl.h"

/* The tree of a chunk of the batch, on the device ([b][n][a] as mctx_tree). */
struct DevTree {
  int32_t B, N, A, Ad, E;
  int32_t *node_visits;
  float *raw_values, *node_values;
  int32_t *parents, *action_from_parent;
  int32_t *children_index, *children_visits;
  float *children_prior_logits, *children_prior_probs;
  float *children_rewards, *children_discounts, *children_values;
  uint8_t *embeddings;
  uint8_t *root_invalid;
  uint8_t *is_decision;   /* stochastic only */
  float *root_gumbel;     /* gumbel only */
  int32_t *next_node;
};

struct DevModel {
  int kind;
  float discount;
  int zero_reward;
  int prng;
  const float *qvalues;   /* bandit, device [rows][Ad] */
  int32_t qvalues_rows;
};

struct PathEntry;

struct DevSearch {
  DevTree t;
  DevModel m;
  int policy;
  int32_t S, max_depth, considered;
  float dirichlet_fraction, one_minus_dirichlet_fraction, dirichlet_alpha;
  float pb_c_init, pb_c_base, temperature, gumbel_scale;
  mctx_qtransform qt;
  int prng;
  int continue_tree;
  int has_invalid;        /* the request gave invalid actions (mctx masks only then) */
  /* inputs, [chunk] */
  const float *root_logits;    /* [B][Ad]; unused when continuing */
  const float *root_value;     /* [B] */
  const uint8_t *root_emb;     /* [B][E] */
  const mctx_elem_key *keys;   /* [B] */
  /* outputs, [chunk] */
  int32_t *action;
  float *weights, *root_values, *visit_counts, *qvalues;
  int32_t *expanded, *depth;   /* per element */
  PathEntry *path;             /* [chunk][path_cap] (cuda/fast.cuh) */
  int32_t path_cap;
  /* MCTX_CUDA_TRACE: the sparse kernel's counters (cuda/sparse.cuh,
   * MCTX_SP_STAT_*), summed over the batch; NULL: not counted */
  unsigned long long *stats;
};

#define MCTX_INT_MAX 0x7fffffff

__device__ __forceinline__ size_t d_node(const DevTree &t, int32_t b, int32_t n) {
  return (size_t)b * (size_t)t.N + (size_t)n;
}
__device__ __forceinline__ size_t d_row(const DevTree &t, int32_t b, int32_t n) {
  return d_node(t, b, n) * (size_t)t.A;
}

/* ==== Q-transforms ==== */

/* A node's constants for its children's transformed q-values. */
struct QtNode {
  int kind;
  float lo, hi, eps, value, scale, rlo, rhi;
  int rescale;
};

__device__ __forceinline__ float d_q(const DevTree &t, size_t c) {
  return mctx__q(t.children_rewards[c], t.children_discounts[c], t.children_values[c]);
}

__device__ QtNode qt_prepare(const DevSearch &s, int32_t b, int32_t node, int32_t off, int32_t n, int lane) {
  const DevTree &t = s.t;
  size_t nb = d_node(t, b, node);
  size_t row = nb * (size_t)t.A + (size_t)off;
  QtNode c;
  c.kind = s.qt.kind;
  c.eps = s.qt.epsilon;
  c.rescale = 0;
  c.scale = 1.0f;
  c.value = 0.0f;
  c.rlo = c.rhi = 0.0f;
  if (c.kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) {
    float node_value = t.node_values[nb];
    float lo = MCTX_F32_INF, hi = MCTX_F32_NINF;
    for (int32_t i = lane; i < n; i += 32) {
      float q = d_q(t, row + i);
      float safe = t.children_visits[row + i] > 0 ? q : node_value;
      lo = safe < lo ? safe : lo;
      hi = safe > hi ? safe : hi;
    }
    lo = mctx__warp_min(lo);
    hi = mctx__warp_max(hi);
    c.lo = node_value < lo ? node_value : lo;
    c.hi = node_value > hi ? node_value : hi;
    return c;
  }
  if (c.kind == MCTX_QTRANSFORM_BY_MIN_MAX) {
    c.lo = s.qt.min_value;
    c.hi = s.qt.max_value;
    return c;
  }
  int32_t sum_visits = 0, max_visits = 0;
  for (int32_t i = lane; i < n; i += 32) {
    int32_t v = t.children_visits[row + i];
    sum_visits += v;
    max_visits = v > max_visits ? v : max_visits;
  }
  sum_visits = mctx__warp_sum_i(sum_visits);
  max_visits = mctx__warp_max_i(max_visits);
  float value = t.raw_values[nb];
  if (s.qt.use_mixed_value) {
    float p = 0.0f;
    for (int32_t i = lane; i < n; i += 32) {
      float m = mctx__mix_prior(t.children_prior_probs[row + i]);
      p = p + (t.children_visits[row + i] > 0 ? m : 0.0f);
    }
    float sum_probs = mctx__warp_sum(p);
    float wq = 0.0f;
    for (int32_t i = lane; i < n; i += 32) {
      float x = mctx__mix_prior(t.children_prior_probs[row + i]) * d_q(t, row + i) / sum_probs;
      wq = wq + (t.children_visits[row + i] > 0 ? x : 0.0f);
    }
    value = mctx__mixed_value(value, sum_visits, mctx__warp_sum(wq));
  }
  c.value = value;
  c.rescale = s.qt.rescale_values;
  if (c.rescale) {
    float lo = MCTX_F32_INF, hi = MCTX_F32_NINF;
    for (int32_t i = lane; i < n; i += 32) {
      float q = d_q(t, row + i);
      float v = t.children_visits[row + i] > 0 ? q : value;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    c.rlo = mctx__warp_min(lo);
    c.rhi = mctx__warp_max(hi);
  }
  c.scale = mctx__mix_scale(s.qt.maxvisit_init, max_visits, s.qt.value_scale);
  return c;
}

/* One child's transformed q-value (the CPU's qtransform out[i]). */
__device__ __forceinline__ float qt_child(const QtNode &c, float q, int32_t visits) {
  if (c.kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) return mctx__qt_parent_siblings(q, visits, c.lo, c.hi, c.eps);
  if (c.kind == MCTX_QTRANSFORM_BY_MIN_MAX) return mctx__qt_min_max(q, visits, c.lo, c.hi);
  float v = visits > 0 ? q : c.value;
  if (c.rescale) v = mctx__rescale(v, c.rlo, c.rhi, c.eps);
  return c.scale * v;
}

/* ==== Action selection ==== */

__device__ int32_t d_select_muzero(const DevSearch &s, int32_t b, int32_t node, int32_t depth, mctx_key key,
                                   int32_t n, int lane) {
  const DevTree &t = s.t;
  size_t nb = d_node(t, b, node);
  size_t row = nb * (size_t)t.A;
  QtNode c = qt_prepare(s, b, node, 0, n, lane);
  int32_t node_visit = t.node_visits[nb];
  float pb_c = mctx__pb_c(node_visit, s.pb_c_init, s.pb_c_base);
  float scale = mctx__puct_scale(node_visit, pb_c);
  const uint8_t *inv = t.root_invalid + (size_t)b * (size_t)t.A;
  float best = MCTX_F32_NINF;
  for (int32_t i = lane; i < n; i += 32) {
    int32_t v = t.children_visits[row + i];
    float sc = qt_child(c, d_q(t, row + i), v) + mctx__policy_score(scale, t.children_prior_probs[row + i], v);
    if (depth == 0 && inv[i]) sc = MCTX_F32_NINF;
    best = sc > best ? sc : best;
  }
  best = mctx__warp_max(best);
  if (best == MCTX_F32_NINF) return 0;
  float cut = best - mctx__noise_margin(best);
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
  for (int32_t i = lane; i < n; i += 32) {
    int32_t v = t.children_visits[row + i];
    float sc = qt_child(c, d_q(t, row + i), v) + mctx__policy_score(scale, t.children_prior_probs[row + i], v);
    if (depth == 0 && inv[i]) sc = MCTX_F32_NINF;
    if (!(sc >= cut)) continue;
    float u = mctx__uniform_bits(mctx__bits_nth(s.prng, key, (uint32_t)n, (uint32_t)i), 0.0f, 1.0f);
    float x = sc + 1e-7f * u;
    if (x > bv || (x == bv && i < bi)) { bv = x; bi = i; }
  }
  return mctx__warp_argmax(bv, bi);
}

__device__ int32_t d_select_gumbel_root(const DevSearch &s, int32_t b, int32_t budget, int lane) {
  const DevTree &t = s.t;
  int32_t A = t.A;
  size_t row = d_row(t, b, 0);
  const uint8_t *inv = t.root_invalid + (size_t)b * (size_t)A;
  const float *gumbel = t.root_gumbel + (size_t)b * (size_t)A;
  QtNode c = qt_prepare(s, b, 0, 0, A, lane);
  int32_t valid = 0, sim_index = 0;
  float max_logit = MCTX_F32_NINF;
  for (int32_t a = lane; a < A; a += 32) {
    valid += inv[a] ? 0 : 1;
    sim_index += t.children_visits[row + a];
    float l = t.children_prior_logits[row + a];
    max_logit = l > max_logit ? l : max_logit;
  }
  valid = mctx__warp_sum_i(valid);
  sim_index = mctx__warp_sum_i(sim_index);
  max_logit = mctx__warp_max(max_logit);
  int32_t nc = s.considered < valid ? s.considered : valid;
  int32_t considered = mctx__considered_visit(nc, budget, sim_index);
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
  for (int32_t a = lane; a < A; a += 32) {
    int32_t v = t.children_visits[row + a];
    float sc = mctx__score_considered(gumbel[a], t.children_prior_logits[row + a], max_logit,
                                      qt_child(c, d_q(t, row + a), v), v, considered);
    if (inv[a]) sc = MCTX_F32_NINF;
    if (sc > bv || (sc == bv && a < bi)) { bv = sc; bi = a; }
  }
  return mctx__warp_argmax(bv, bi);
}

__device__ int32_t d_select_gumbel_interior(const DevSearch &s, int32_t b, int32_t node, int lane) {
  const DevTree &t = s.t;
  int32_t A = t.A;
  size_t row = d_row(t, b, node);
  QtNode c = qt_prepare(s, b, node, 0, A, lane);
  int32_t sum_visits = 0;
  float m = MCTX_F32_NINF;
  for (int32_t a = lane; a < A; a += 32) {
    int32_t v = t.children_visits[row + a];
    sum_visits += v;
    float x = t.children_prior_logits[row + a] + qt_child(c, d_q(t, row + a), v);
    m = x > m ? x : m;
  }
  sum_visits = mctx__warp_sum_i(sum_visits);
  m = mctx__warp_max(m);
  float z = 0.0f;
  for (int32_t a = lane; a < A; a += 32) {
    int32_t v = t.children_visits[row + a];
    float x = t.children_prior_logits[row + a] + qt_child(c, d_q(t, row + a), v);
    z = z + mctx_expf(x - m);
  }
  z = mctx__warp_sum(z);
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
  for (int32_t a = lane; a < A; a += 32) {
    int32_t v = t.children_visits[row + a];
    float x = t.children_prior_logits[row + a] + qt_child(c, d_q(t, row + a), v);
    float sc = mctx__gumbel_interior_score(mctx_expf(x - m) / z, v, sum_visits);
    if (sc > bv || (sc == bv && a < bi)) { bv = sc; bi = a; }
  }
  return mctx__warp_argmax(bv, bi);
}

__device__ int32_t d_select_chance(const DevSearch &s, int32_t b, int32_t node, int lane) {
  const DevTree &t = s.t;
  size_t row = d_row(t, b, node) + (size_t)t.Ad;
  int32_t C = t.A - t.Ad;
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
  for (int32_t c = lane; c < C; c += 32) {
    float sc = t.children_prior_probs[row + c] / (float)(t.children_visits[row + c] + 1);
    if (sc > bv || (sc == bv && c < bi)) { bv = sc; bi = c; }
  }
  return t.Ad + mctx__warp_argmax(bv, bi);
}

__device__ int32_t d_select(const DevSearch &s, int32_t b, int32_t node, int32_t depth, mctx_key key,
                            int32_t budget, int lane) {
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO)
    return depth == 0 ? d_select_gumbel_root(s, b, budget, lane) : d_select_gumbel_interior(s, b, node, lane);
  if (s.policy == MCTX_POLICY_STOCHASTIC_MUZERO) {
    if (!s.t.is_decision[d_node(s.t, b, node)]) return d_select_chance(s, b, node, lane);
    return d_select_muzero(s, b, node, depth, key, s.t.Ad, lane);
  }
  return d_select_muzero(s, b, node, depth, key, s.t.A, lane);
}

/* ==== Rows ==== */

/* softmax(src[0..n)) into dst[0..n) (either may be tree rows). */
__device__ void d_softmax(const float *src, float *dst, int32_t n, int lane) {
  float m = MCTX_F32_NINF;
  for (int32_t i = lane; i < n; i += 32) m = src[i] > m ? src[i] : m;
  m = mctx__warp_max(m);
  float z = 0.0f;
  for (int32_t i = lane; i < n; i += 32) {
    float e = mctx_expf(src[i] - m);
    z = z + e;
  }
  z = mctx__warp_sum(z);
  __syncwarp();
  for (int32_t i = lane; i < n; i += 32) dst[i] = mctx_expf(src[i] - m) / z;
  __syncwarp();
}

/* Prior probabilities of a node's row from its logits (decision and chance
 * parts apart in stochastic trees). */
__device__ void d_set_probs(const DevTree &t, size_t row, int decision, int lane) {
  if (t.A == t.Ad) {
    d_softmax(t.children_prior_logits + row, t.children_prior_probs + row, t.A, lane);
    return;
  }
  int32_t C = t.A - t.Ad;
  if (decision) {
    d_softmax(t.children_prior_logits + row, t.children_prior_probs + row, t.Ad, lane);
    for (int32_t c = lane; c < C; c += 32) t.children_prior_probs[row + t.Ad + c] = 0.0f;
  } else {
    for (int32_t a = lane; a < t.Ad; a += 32) t.children_prior_probs[row + a] = 0.0f;
    d_softmax(t.children_prior_logits + row + t.Ad, t.children_prior_probs + row + t.Ad, C, lane);
  }
  __syncwarp();
}

__device__ void d_init_children(const DevTree &t, size_t row, int lane) {
  for (int32_t a = lane; a < t.A; a += 32) {
    t.children_index[row + a] = MCTX_UNVISITED;
    t.children_visits[row + a] = 0;
    t.children_values[row + a] = 0.0f;
    t.children_rewards[row + a] = 0.0f;
    t.children_discounts[row + a] = 0.0f;
  }
}

#endif
