/* cuda/fast.cuh: the search kernel's hot path, specialized on K, the
 * children each lane holds (K * 32 >= the actions of a node).
 *
 * A selection step loads its node's children once into registers (every
 * load issued before the first use) and computes from there; reductions that
 * do not depend on each other share a butterfly. The path of a simulation is
 * recorded as it is walked (node, action, the node's visits and value, the
 * child's visits, reward and discount), so the backward pass needs no
 * pointer chasing: lane 0 runs the one truly sequential part (the discounted
 * return, leaf to root, in mctx's order) and the lanes write every level in
 * parallel. Arithmetic and reduction order are those of core/search.c, so the
 * results stay bit-identical to the CPU engine's. */
#ifndef MCTX_CUDA_FAST_CUH
#define MCTX_CUDA_FAST_CUH

#include "core/sparse-impl.h"
#include "cuda/kernel.cuh"
#include "cuda/local.cuh"

/* One level of a simulation's path. */
struct __align__(16) PathEntry {
  int32_t node, action, count, child_visits;
  float node_value, reward, discount, ret;
};

/* A node's children [0, n) held in registers: child lane + 32 k. */
template <int K>
struct Kids {
  float r[K], d[K], v[K], p[K], l[K];
  int32_t n[K], ci[K];   /* visits and child index (fetched with the rest) */
};

template <int K>
__device__ __forceinline__ void load_kids(const DevTree &t, size_t row, int32_t cnt, int lane, Kids<K> &c,
                                          bool logits) {
  /* One pointer per field for this lane's first child; the children
   * lane + 32 k are then at constant offsets, so every load is a single
   * instruction (predicated off past the node's children). */
  size_t x = row + (size_t)lane;
  const int32_t *vis = t.children_visits + x, *idx = t.children_index + x;
  const float *rew = t.children_rewards + x, *dis = t.children_discounts + x, *val = t.children_values + x;
  const float *pri = t.children_prior_probs + x, *lgt = t.children_prior_logits + x;
#pragma unroll
  for (int k = 0; k < K; k++) {
    bool in = lane + 32 * k < cnt;
    c.n[k] = -1;
    c.ci[k] = MCTX_UNVISITED;
    c.r[k] = c.d[k] = c.v[k] = c.p[k] = c.l[k] = 0.0f;
    if (in) {
      c.n[k] = vis[32 * k];
      c.ci[k] = idx[32 * k];
      c.r[k] = rew[32 * k];
      c.d[k] = dis[32 * k];
      c.v[k] = val[32 * k];
      c.p[k] = pri[32 * k];
      if (logits) c.l[k] = lgt[32 * k];
    }
  }
}

/* The root's invalid actions among this lane's children, as bits k. */
template <int K>
__device__ __forceinline__ uint32_t invalid_bits(const uint8_t *inv, int32_t cnt, int lane) {
  uint32_t bits = 0;
#pragma unroll
  for (int k = 0; k < K; k++)
    if (lane + 32 * k < cnt && inv[lane + 32 * k]) bits |= 1u << k;
  return bits;
}

/* The chosen child's statistics, from the lane that holds it (selects over
 * the K registers, then one shuffle each). */
struct Chosen {
  int32_t visits, index;
  float reward, discount;
};

template <int K>
__device__ __forceinline__ Chosen chosen_of(const Kids<K> &c, int32_t action) {
  int32_t kk = action >> 5, src = action & 31;
  Chosen o = {c.n[0], c.ci[0], c.r[0], c.d[0]};
#pragma unroll
  for (int k = 1; k < K; k++) {
    if (k == kk) {
      o.visits = c.n[k];
      o.index = c.ci[k];
      o.reward = c.r[k];
      o.discount = c.d[k];
    }
  }
  o.visits = __shfl_sync(MCTX_FULL_MASK, o.visits, src);
  o.index = __shfl_sync(MCTX_FULL_MASK, o.index, src);
  o.reward = __shfl_sync(MCTX_FULL_MASK, o.reward, src);
  o.discount = __shfl_sync(MCTX_FULL_MASK, o.discount, src);
  return o;
}

/* The chosen child's index alone (what a pick-only selection returns). */
template <int K>
__device__ __forceinline__ int32_t chosen_index(const Kids<K> &c, int32_t action) {
  int32_t kk = action >> 5, v = c.ci[0];
#pragma unroll
  for (int k = 1; k < K; k++)
    if (k == kk) v = c.ci[k];
  return __shfl_sync(MCTX_FULL_MASK, v, action & 31);
}

/* The warp's minimum and maximum (two independent one-instruction
 * reductions on sm_80 and later). */
__device__ __forceinline__ void warp_min_max(float &lo, float &hi) {
  lo = mctx__warp_min_fast(lo);
  hi = mctx__warp_max_fast(hi);
}

/* The q-transform constants of a node whose children are in c. sp_io (the
 * pipelined pick cache's root; NULL elsewhere): where *sp_io >= 0, the
 * visited children's prior mass (the completed-by-mix transform's first
 * float sum) as it was summed before for the same visited children, and
 * not summed again; else *sp_io receives it. */
template <int K>
__device__ __forceinline__ QtNode qt_prepare_k(const DevSearch &s, const Kids<K> &c, float q[K], float node_value,
                                               float raw_value, int32_t *sum_visits_out, float *sp_io = NULL) {
  QtNode o;
  o.kind = s.qt.kind;
  o.eps = s.qt.epsilon;
  o.rescale = 0;
  o.scale = 1.0f;
  o.value = 0.0f;
  o.rlo = o.rhi = 0.0f;
#pragma unroll
  for (int k = 0; k < K; k++) q[k] = mctx__q(c.r[k], c.d[k], c.v[k]);
  if (o.kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) {
    float lo = MCTX_F32_INF, hi = MCTX_F32_NINF;
#pragma unroll
    for (int k = 0; k < K; k++) {
      if (c.n[k] < 0) continue;
      float safe = c.n[k] > 0 ? q[k] : node_value;
      lo = safe < lo ? safe : lo;
      hi = safe > hi ? safe : hi;
    }
    warp_min_max(lo, hi);
    o.lo = node_value < lo ? node_value : lo;
    o.hi = node_value > hi ? node_value : hi;
    return o;
  }
  if (o.kind == MCTX_QTRANSFORM_BY_MIN_MAX) {
    o.lo = s.qt.min_value;
    o.hi = s.qt.max_value;
    return o;
  }
  int32_t sum_visits = 0, max_visits = 0;
  float sp = 0.0f;
  /* the rescaling's minimum and maximum over the visited children's q now,
   * beside the sums; the unvisited children's (mixed) value joins them
   * below, once known: min and max are the same in any order */
  float vlo = MCTX_F32_INF, vhi = MCTX_F32_NINF;
  int unvisited = 0;
#pragma unroll
  for (int k = 0; k < K; k++) {
    if (c.n[k] < 0) continue;
    sum_visits += c.n[k];
    max_visits = c.n[k] > max_visits ? c.n[k] : max_visits;
    sp = sp + (c.n[k] > 0 ? mctx__mix_prior(c.p[k]) : 0.0f);
    if (c.n[k] > 0) {
      vlo = q[k] < vlo ? q[k] : vlo;
      vhi = q[k] > vhi ? q[k] : vhi;
    } else {
      unvisited = 1;
    }
  }
  if (s.qt.rescale_values) {
    warp_min_max(vlo, vhi);
    unvisited = __any_sync(MCTX_FULL_MASK, unvisited);
  }
  if (sp_io && *sp_io >= 0.0f) {
    /* the same children's priors, summed in the same order: the same bits */
    sum_visits = mctx__warp_sum_i_fast(sum_visits);
    max_visits = mctx__warp_max_i_fast(max_visits);
    sp = *sp_io;
  } else {
    for (int off = 16; off > 0; off >>= 1) {
      int32_t a = __shfl_xor_sync(MCTX_FULL_MASK, sum_visits, off);
      int32_t m = __shfl_xor_sync(MCTX_FULL_MASK, max_visits, off);
      float p = __shfl_xor_sync(MCTX_FULL_MASK, sp, off);
      sum_visits += a;
      max_visits = m > max_visits ? m : max_visits;
      sp = sp + p;
    }
    if (sp_io) *sp_io = sp;
  }
  if (sum_visits_out) *sum_visits_out = sum_visits;
  float value = raw_value;
  if (s.qt.use_mixed_value) {
    float wq = 0.0f;
#pragma unroll
    for (int k = 0; k < K; k++) {
      if (c.n[k] < 0) continue;
      float x = mctx__mix_prior(c.p[k]) * q[k] / sp;
      wq = wq + (c.n[k] > 0 ? x : 0.0f);
    }
    value = mctx__mixed_value(value, sum_visits, mctx__warp_sum(wq));
  }
  o.value = value;
  o.rescale = s.qt.rescale_values;
  if (o.rescale) {
    /* as each lane's own loop compares (a NaN value never wins), then as
     * the warp's reduction keys them (-0 as +0) */
    o.rlo = mctx__key_f32(mctx__f32_key(unvisited && value < vlo ? value : vlo));
    o.rhi = mctx__key_f32(mctx__f32_key(unvisited && value > vhi ? value : vhi));
  }
  o.scale = mctx__mix_scale(s.qt.maxvisit_init, max_visits, s.qt.value_scale);
  return o;
}

/* Records path level `depth` (lane 0 writes it) and returns the index of
 * the child to descend to. */
template <int K>
__device__ __forceinline__ int32_t record(PathEntry *path, int32_t depth, int32_t node, int32_t action,
                                          int32_t count, float node_value, const Kids<K> &c, int lane) {
  Chosen ch = chosen_of<K>(c, action);
  if (lane == 0) {
    PathEntry e;
    e.node = node;
    e.action = action;
    e.count = count;
    e.child_visits = ch.visits;
    e.node_value = node_value;
    e.reward = ch.reward;
    e.discount = ch.discount;
    e.ret = 0.0f;
    path[depth] = e;
  }
  return ch.index;
}

/* The best (value, index) and the second-best value, merged over the warp:
 * ties go to the lower index, as jnp.argmax. */
__device__ __forceinline__ void warp_top2(float &v1, int32_t &i1, float &v2) {
  for (int off = 16; off > 0; off >>= 1) {
    float ov1 = __shfl_xor_sync(MCTX_FULL_MASK, v1, off);
    int32_t oi1 = __shfl_xor_sync(MCTX_FULL_MASK, i1, off);
    float ov2 = __shfl_xor_sync(MCTX_FULL_MASK, v2, off);
    bool other = ov1 > v1 || (ov1 == v1 && oi1 < i1);
    float lose = other ? v1 : ov1;
    if (other) { v1 = ov1; i1 = oi1; }
    v2 = ov2 > v2 ? ov2 : v2;
    v2 = lose > v2 ? lose : v2;
  }
}

/* qt_child(c, 0, 0) for an unvisited child: under the parent-and-siblings
 * and min-max transforms that is (lo - lo) / den, +0 whenever den > 0 (the
 * division is skipped then: its zero numerator takes the slow path). */
__device__ __forceinline__ float qt_unvisited(const QtNode &c) {
  if (c.kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS || c.kind == MCTX_QTRANSFORM_BY_MIN_MAX) {
    float num = c.lo - c.lo;
    float den = c.hi - c.lo;
    if (c.kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) den = den > c.eps ? den : c.eps;
    if (num == 0.0f && den > 0.0f) return 0.0f;
  }
  return qt_child(c, 0.0f, 0);
}

/* muzero_action_selection. Every field of the node's children is fetched in
 * one round trip; an unvisited child's score is the node's constant q-term
 * plus scale * prior (its policy score's division by 1 is exact), so only
 * visited children pay for divisions. When no other child comes within the
 * tie-break margin of the best, the noise cannot change the argmax and is not
 * drawn; otherwise it is drawn, as mctx draws it, for the children that could
 * still win. */
template <int K>
__device__ int32_t f_select_muzero(const DevSearch &s, int32_t b, int32_t node, int32_t depth, mctx_key key,
                                   int32_t n, int lane, PathEntry *path, int32_t *next) {
  const DevTree &t = s.t;
  size_t nb = d_node(t, b, node);
  size_t row = nb * (size_t)t.A;
  Kids<K> c;
  load_kids<K>(t, row, n, lane, c, false);
  int32_t node_visit = t.node_visits[nb];
  float node_value = t.node_values[nb];
  float raw_value = t.raw_values[nb];
  float q[K];
  QtNode qn = qt_prepare_k<K>(s, c, q, node_value, raw_value, NULL);
  float pb_c = mctx__pb_c(node_visit, s.pb_c_init, s.pb_c_base);
  float scale = mctx__puct_scale(node_visit, pb_c);
  float q_unvisited = qt_unvisited(qn);
  uint32_t invalid = depth == 0 ? invalid_bits<K>(t.root_invalid + (size_t)b * (size_t)t.A, n, lane) : 0u;
  float sc[K];
  float v1 = MCTX_F32_NINF, v2 = MCTX_F32_NINF;
  int32_t i1 = MCTX_INT_MAX;
#pragma unroll
  for (int k = 0; k < K; k++) {
    /* unvisited: the node's constant q-term plus scale * prior (a division
     * by 1 is exact); visited children pay for their divisions */
    float x = q_unvisited + scale * c.p[k];
    if (c.n[k] > 0) x = qt_child(qn, q[k], c.n[k]) + mctx__policy_score(scale, c.p[k], c.n[k]);
    if (c.n[k] < 0 || ((invalid >> k) & 1u)) x = MCTX_F32_NINF;
    sc[k] = x;
    bool gt = x > v1;
    v2 = gt ? v1 : (x > v2 ? x : v2);
    i1 = gt ? lane + 32 * k : i1;
    v1 = gt ? x : v1;
  }
  warp_top2(v1, i1, v2);
  int32_t action = 0;
  if (v1 != MCTX_F32_NINF) {
    float cut = v1 - mctx__noise_margin(v1);
    if (!(v2 >= cut)) {
      action = i1;
    } else {
      mctx_key sel = mctx__split_nth(s.prng, key, 2u, 1u);
      float bv = MCTX_F32_NINF;
      int32_t bi = MCTX_INT_MAX;
#pragma unroll
      for (int k = 0; k < K; k++) {
        if (!(sc[k] >= cut)) continue;
        int32_t i = lane + 32 * k;
        float u = mctx__uniform_bits(mctx__bits_nth(s.prng, sel, (uint32_t)n, (uint32_t)i), 0.0f, 1.0f);
        float x = sc[k] + 1e-7f * u;
        if (x > bv || (x == bv && i < bi)) { bv = x; bi = i; }
      }
      action = mctx__warp_argmax(bv, bi);
    }
  }
  *next = record<K>(path, depth, node, action, node_visit, node_value, c, lane);
  return action;
}

/* Sequential halving's considered visit counts, tabled for one search (the
 * pick cache below): entry i is mctx__considered_visit(m, budget, first + i)
 * for the root's considered count m, which is fixed for the search (the
 * root's valid actions do not change). */
struct ConsideredTable {
  const int32_t *visit;
  int32_t first, count;
};

/* The root's children (c), their gumbel noise (g) and invalid bits, and
 * the root's record, as f_select_gumbel_root reads them. */
template <int K>
__device__ __forceinline__ void load_root(const DevTree &t, int32_t b, int lane, Kids<K> &c, float g[K],
                                          uint32_t *invalid, int32_t *node_visit, float *node_value,
                                          float *raw_value) {
  const int32_t A = t.A;
  size_t nb = d_node(t, b, 0);
  load_kids<K>(t, nb * (size_t)A, A, lane, c, true);
  *node_visit = t.node_visits[nb];
  *node_value = t.node_values[nb];
  *raw_value = t.raw_values[nb];
  *invalid = invalid_bits<K>(t.root_invalid + (size_t)b * (size_t)A, A, lane);
  const float *gumbel = t.root_gumbel + (size_t)b * (size_t)A + (size_t)lane;
#pragma unroll
  for (int k = 0; k < K; k++) g[k] = lane + 32 * k < A ? gumbel[32 * k] : 0.0f;
}

/* gumbel_muzero's choice at the root from what load_root reads (sp_io: see
 * qt_prepare_k). */
template <int K>
__device__ __forceinline__ int32_t gumbel_root_choice(const DevSearch &s, const Kids<K> &c, const float g[K],
                                                      uint32_t invalid, float node_value, float raw_value,
                                                      int32_t budget, int lane, const ConsideredTable *ct,
                                                      float *sp_io = NULL) {
  float q[K];
  QtNode qn = qt_prepare_k<K>(s, c, q, node_value, raw_value, NULL, sp_io);
  int32_t valid = 0, sim_index = 0;
  float max_logit = MCTX_F32_NINF;
#pragma unroll
  for (int k = 0; k < K; k++) {
    if (c.n[k] < 0) continue;
    valid += ((invalid >> k) & 1u) ? 0 : 1;
    sim_index += c.n[k];
    max_logit = c.l[k] > max_logit ? c.l[k] : max_logit;
  }
  valid = mctx__warp_sum_i_fast(valid);
  sim_index = mctx__warp_sum_i_fast(sim_index);
  max_logit = mctx__warp_max_fast(max_logit);
  int32_t nc = s.considered < valid ? s.considered : valid;
  int32_t ti = sim_index - (ct ? ct->first : 0);
  int32_t considered = ct && ti >= 0 && ti < ct->count ? ct->visit[ti] : mctx__considered_visit(nc, budget, sim_index);
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
#pragma unroll
  for (int k = 0; k < K; k++) {
    if (c.n[k] < 0) continue;
    int32_t a = lane + 32 * k;
    float x = mctx__score_considered(g[k], c.l[k], max_logit, qt_child(qn, q[k], c.n[k]), c.n[k], considered);
    if ((invalid >> k) & 1u) x = MCTX_F32_NINF;
    if (x > bv || (x == bv && a < bi)) { bv = x; bi = a; }
  }
  return mctx__warp_argmax_fast(bv, bi);
}

/* The gumbel selections record the level when `path` is not NULL; with
 * NULL they only return the action and the chosen child's index (the pick
 * cache below). */
template <int K>
__device__ int32_t f_select_gumbel_root(const DevSearch &s, int32_t b, int32_t budget, int lane, PathEntry *path,
                                        int32_t *next, const ConsideredTable *ct = NULL) {
  Kids<K> c;
  float g[K], node_value, raw_value;
  uint32_t invalid;
  int32_t node_visit;
  load_root<K>(s.t, b, lane, c, g, &invalid, &node_visit, &node_value, &raw_value);
  int32_t action = gumbel_root_choice<K>(s, c, g, invalid, node_value, raw_value, budget, lane, ct);
  *next = path ? record<K>(path, 0, 0, action, node_visit, node_value, c, lane) : chosen_index<K>(c, action);
  return action;
}

template <int K>
__device__ int32_t f_select_gumbel_interior(const DevSearch &s, int32_t b, int32_t node, int32_t depth, int lane,
                                            PathEntry *path, int32_t *next) {
  const DevTree &t = s.t;
  int32_t A = t.A;
  size_t nb = d_node(t, b, node);
  size_t row = nb * (size_t)A;
  Kids<K> c;
  load_kids<K>(t, row, A, lane, c, true);
  int32_t node_visit = t.node_visits[nb];
  float node_value = t.node_values[nb];
  float raw_value = t.raw_values[nb];
  float q[K];
  int32_t sum_visits = 0;
  QtNode qn = qt_prepare_k<K>(s, c, q, node_value, raw_value, &sum_visits);
  if (qn.kind != MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE) {
    int32_t sv = 0;
#pragma unroll
    for (int k = 0; k < K; k++) sv += c.n[k] > 0 ? c.n[k] : 0;
    sum_visits = mctx__warp_sum_i_fast(sv);
  }
  float x[K];
  float m = MCTX_F32_NINF;
#pragma unroll
  for (int k = 0; k < K; k++) {
    x[k] = c.l[k] + qt_child(qn, q[k], c.n[k]);
    if (c.n[k] >= 0) m = x[k] > m ? x[k] : m;
  }
  m = mctx__warp_max_fast(m);
  float z = 0.0f;
#pragma unroll
  for (int k = 0; k < K; k++) {
    x[k] = mctx_expf(x[k] - m);
    if (c.n[k] >= 0) z = z + x[k];
  }
  z = mctx__warp_sum(z);
  float bv = MCTX_F32_NINF;
  int32_t bi = MCTX_INT_MAX;
#pragma unroll
  for (int k = 0; k < K; k++) {
    if (c.n[k] < 0) continue;
    int32_t a = lane + 32 * k;
    float sc = mctx__gumbel_interior_score(x[k] / z, c.n[k], sum_visits);
    if (sc > bv || (sc == bv && a < bi)) { bv = sc; bi = a; }
  }
  int32_t action = mctx__warp_argmax_fast(bv, bi);
  *next = path ? record<K>(path, depth, node, action, node_visit, node_value, c, lane) : chosen_index<K>(c, action);
  return action;
}

/* Path level for (node, action), read from the tree: the record of a
 * chance step and of the pick cache's deep paths. */
__device__ __forceinline__ PathEntry d_path_entry(const DevTree &t, int32_t b, int32_t node, int32_t action) {
  size_t nb = d_node(t, b, node);
  size_t cell = nb * (size_t)t.A + (size_t)action;
  PathEntry e;
  e.node = node;
  e.action = action;
  e.count = t.node_visits[nb];
  e.child_visits = t.children_visits[cell];
  e.node_value = t.node_values[nb];
  e.reward = t.children_rewards[cell];
  e.discount = t.children_discounts[cell];
  e.ret = 0.0f;
  return e;
}

/* Chance nodes (few outcomes): streamed; recorded by lane 0. */
__device__ int32_t f_select_chance(const DevSearch &s, int32_t b, int32_t node, int32_t depth, int lane,
                                   PathEntry *path, int32_t *next) {
  const DevTree &t = s.t;
  int32_t a = d_select_chance(s, b, node, lane);
  *next = t.children_index[d_row(t, b, node) + (size_t)a];
  if (lane == 0) path[depth] = d_path_entry(t, b, node, a);
  return a;
}

template <int K>
__device__ __forceinline__ int32_t f_select(const DevSearch &s, int32_t b, int32_t node, int32_t depth, mctx_key key,
                                            int32_t budget, int lane, PathEntry *path, int32_t *next) {
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO)
    return depth == 0 ? f_select_gumbel_root<K>(s, b, budget, lane, path, next)
                      : f_select_gumbel_interior<K>(s, b, node, depth, lane, path, next);
  if (s.policy == MCTX_POLICY_STOCHASTIC_MUZERO) {
    if (!s.t.is_decision[d_node(s.t, b, node)]) return f_select_chance(s, b, node, depth, lane, path, next);
    return f_select_muzero<K>(s, b, node, depth, key, s.t.Ad, lane, path, next);
  }
  return f_select_muzero<K>(s, b, node, depth, key, s.t.A, lane, path, next);
}

#define MCTX_SEG 256 /* path levels staged in shared memory at once */

/* search.backward from the leaf at path depth L (the leaf's parent is
 * path[L - 1].node): the discounted return, leaf to root in mctx's order, is
 * the one sequential part: lane 0 runs it over rewards and discounts staged
 * in shared memory; every level's writes are then made in parallel. */
/* The shared-memory records of cuda/sparse.cuh (NULL for the other kernels). */
struct SpCtx {
  mctx__sp_node *sn;    /* [N] */
  mctx__sp_kid *kids;   /* [N][MCTX_SP_CAP] */
  int2 *hop;            /* [N] each node's cached pick: .x the mctx__sp_pick result, .y the next node */
  const float *scale;   /* mctx__puct_scale of visits 0 .. scale_n - 1 */
  int32_t scale_n;
};

__device__ void f_backward(const DevTree &t, int32_t b, int32_t L, float leaf_value, PathEntry *path, int lane,
                           float *sm_r, float *sm_d, const SpCtx *sp = NULL) {
  size_t base = d_node(t, b, 0);
  float ret = leaf_value;
  for (int32_t hi = L; hi > 0; hi -= MCTX_SEG) {
    int32_t lo = hi - MCTX_SEG > 0 ? hi - MCTX_SEG : 0;
    for (int32_t j = lo + lane; j < hi; j += 32) {
      sm_r[j - lo] = path[j].reward;
      sm_d[j - lo] = path[j].discount;
    }
    __syncwarp();
    if (lane == 0) {
      for (int32_t j = hi - 1; j >= lo; j--) {
        ret = mctx__q(sm_r[j - lo], sm_d[j - lo], ret);
        sm_r[j - lo] = ret;
      }
    }
    __syncwarp();
    for (int32_t j = lo + lane; j < hi; j += 32) path[j].ret = sm_r[j - lo];
    ret = __shfl_sync(MCTX_FULL_MASK, ret, 0);
    __syncwarp();
  }
  /* New values first (each level's own), then what the parents keep of their
   * children (the child's new value). */
  for (int32_t j = lane; j < L; j += 32) {
    PathEntry e = path[j];
    float pv = mctx__backup_value(e.node_value, e.count, e.ret);
    path[j].node_value = pv;
    t.node_values[base + e.node] = pv;
    t.node_visits[base + e.node] = e.count + 1;
    if (sp) {
      sp->sn[e.node].value = pv;
      sp->sn[e.node].visits = e.count + 1;
    }
  }
  __syncwarp();
  for (int32_t j = lane; j < L; j += 32) {
    PathEntry e = path[j];
    float child_value = j + 1 < L ? path[j + 1].node_value : leaf_value;
    size_t cell = (base + (size_t)e.node) * (size_t)t.A + (size_t)e.action;
    t.children_values[cell] = child_value;
    t.children_visits[cell] = e.child_visits + 1;
    if (sp) {
      /* the parent's kept child, when it keeps it (the path's nodes differ,
       * so no two lanes write one record) */
      int32_t k = sp->sn[e.node].k;
      mctx__sp_kid *kids = sp->kids + (size_t)e.node * MCTX_SP_CAP;
      for (int32_t i = 0; i < MCTX_SP_CAP && i < k; i++) {
        if (kids[i].action != e.action) continue;
        kids[i].value = child_value;
        kids[i].visits = e.child_visits + 1;
      }
    }
  }
  __syncwarp();
}

/* MCTX_CUDA_TRACE: the search kernels' counters (summed over the batch).
 * The sparse kernel (cuda/sparse.cuh): levels walked sparsely, levels
 * selected densely, the key splits those needed; both kernels: levels
 * selected densely and lane 0's clock cycles in each phase (the root's
 * preparation, selection walks, dense selections, expansions, backups, the
 * root's result, the whole search). */
enum {
  MCTX_SP_STAT_SPARSE, MCTX_SP_STAT_DENSE, MCTX_SP_STAT_DENSE_ROOT, MCTX_SP_STAT_DENSE_WIDE, MCTX_SP_STAT_SPLITS,
  MCTX_SP_STAT_CY_ROOT, MCTX_SP_STAT_CY_WALK, MCTX_SP_STAT_CY_DENSE, MCTX_SP_STAT_CY_EXPAND, MCTX_SP_STAT_CY_BACKUP,
  MCTX_SP_STAT_CY_FINISH, MCTX_SP_STAT_CY_TOTAL, MCTX_SP_STATS
};
/* The counters zeroed (in registers: the loop is unrolled) and, when
 * counting, lane 0's clock at the start. */
__device__ __forceinline__ long long mctx__trace_start(unsigned long long *st, bool counting) {
#pragma unroll
  for (int i = 0; i < MCTX_SP_STATS; i++) st[i] = 0;
  return counting ? clock64() : 0;
}

/* Adds the cycles since `cy` to counter k (when counting) and restarts. */
#define MCTX_LAP(counting, st, cy, k)                 \
  do {                                                \
    if (counting) {                                   \
      long long now_ = clock64();                     \
      (st)[k] += (unsigned long long)(now_ - (cy));   \
      (cy) = now_;                                    \
    }                                                 \
  } while (0)

/* Expands the simulation's leaf (child `action` of `parent`, as node
 * `next`) and gives the path's last level the model's new reward and
 * discount. Returns 1 when a node was made. */
__device__ __forceinline__ int f_expand_leaf(const DevSearch &s, int32_t b, int32_t parent, int32_t action,
                                             int32_t next, PathEntry *path, int32_t depth, int lane) {
  int fresh = d_expand(s, b, parent, action, next, lane);
  size_t cell = d_row(s.t, b, parent) + (size_t)action;
  if (lane == 0) {
    path[depth - 1].reward = s.t.children_rewards[cell];
    path[depth - 1].discount = s.t.children_discounts[cell];
  }
  __syncwarp();
  return fresh;
}

/* An element's end, by its warp: its counts, the root's result and (when
 * counting) lane 0's cycle counters added to the batch's. */
__device__ __forceinline__ void f_end(const DevSearch &s, int32_t b, int32_t base, int32_t expanded, int32_t deepest,
                                      mctx_key final_key, int lane, bool counting, unsigned long long *st,
                                      long long cy, long long cy0) {
  if (lane == 0) {
    s.t.next_node[b] = base + s.S;
    s.expanded[b] = expanded;
    s.depth[b] = deepest;
  }
  __syncwarp();
  d_finish(s, b, final_key, lane);
  if (counting && lane == 0) {
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_FINISH);
    st[MCTX_SP_STAT_CY_TOTAL] = (unsigned long long)(clock64() - cy0);
    for (int i = 0; i < MCTX_SP_STATS; i++) atomicAdd(&s.stats[i], st[i]);
  }
}

/* Element b's whole search, one warp (sm_r, sm_d: the warp's staging). */
template <int K>
__device__ __forceinline__ void f_search(const DevSearch &s, int32_t b, int lane, float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  PathEntry *path = s.path + (size_t)b * (size_t)s.path_cap;
  mctx_key rng, final_key;
  const bool counting = s.stats != NULL;
  unsigned long long st[MCTX_SP_STATS];
  for (int i = 0; i < MCTX_SP_STATS; i++) st[i] = 0;
  long long cy0 = counting ? clock64() : 0, cy = cy0;
  int32_t budget = d_init_root(s, b, &rng, &final_key, lane);
  MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_ROOT);
  mctx_elem_key ek = s.keys[b];
  int32_t expanded = 0, deepest = 0;
  int32_t base = t.next_node[b];
  /* gumbel_muzero draws nothing during simulations (its selection is
   * deterministic), so it derives no keys there. */
  const bool gumbel = s.policy == MCTX_POLICY_GUMBEL_MUZERO;
  for (int32_t sim = 0; sim < s.S; sim++) {
    mctx_key key = rng;
    if (!gumbel) {
      mctx_key sim_key = mctx__split_nth(s.prng, rng, 3u, 1u);
      rng = mctx__split_nth(s.prng, rng, 3u, 0u);
      key = mctx__split_nth(s.prng, sim_key, (uint32_t)ek.group_size, (uint32_t)ek.group_index);
    }
    int32_t node = MCTX_ROOT_INDEX, depth = 0, parent, action, leaf;
    for (;;) {
      /* The level's key: split(key) = (next key, selection key); the
       * selection key is derived only if the tie-break noise is needed. */
      mctx_key level_key = key;
      if (!gumbel) key = mctx__split_nth(s.prng, key, 2u, 0u);
      int32_t next;
      int32_t a = f_select<K>(s, b, node, depth, level_key, budget, lane, path, &next);
      if (counting) st[MCTX_SP_STAT_DENSE]++;
      depth++;
      if (next == MCTX_UNVISITED || depth >= s.max_depth) {
        parent = node;
        action = a;
        leaf = next;
        break;
      }
      node = next;
    }
    deepest = depth > deepest ? depth : deepest;
    int32_t next = leaf;
    if (next == MCTX_UNVISITED) next = base + sim;
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_DENSE);
    /* The leaf level's reward and discount are the model's new ones. */
    expanded += f_expand_leaf(s, b, parent, action, next, path, depth, lane);
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_EXPAND);
    f_backward(t, b, depth, t.node_values[d_node(t, b, next)], path, lane, sm_r, sm_d);
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_BACKUP);
  }
  f_end(s, b, base, expanded, deepest, final_key, lane, counting, st, cy, cy0);
}

/* ==== gumbel_muzero on small batches: cached picks, recomputed in parallel ====
 *
 * gumbel_muzero's selection is deterministic, and a node's choice depends
 * only on its own record and its children's (the root's also on the
 * simulation's place in sequential halving, read from its children's visits
 * and the search's budget). A simulation changes exactly the nodes on its
 * path and its leaf. So each element runs as a block of several warps
 * with each node's choice cached in shared memory: warp 0 walks down the
 * cached choices (no reductions), expands the leaf and backs up with
 * f_search's arithmetic, the path's levels held one per lane (gp_expand_backup;
 * the synthetic model's new row made by warp 1 meanwhile); then every warp
 * recomputes the choice of one of the
 * changed nodes (the root and the path's interior nodes, and the leaf),
 * with the same functions and so the same arithmetic as f_select: the
 * selections' dependent chains of warp reductions run side by side on the
 * SM's schedulers instead of one after another. */
#define MCTX_GP_WARPS_MAX 8

/* Node x's choice into pick[x]: .x the action, .y the child it leads to
 * (MCTX_UNVISITED until expanded). Expanding that child writes x's own
 * children_index, and x is then on the simulation's path, so its choice and
 * child are computed again before the next walk. */
template <int K>
__device__ __forceinline__ void gp_pick(const DevSearch &s, int32_t b, int32_t x, int32_t budget, int lane,
                                        int2 *pick, const ConsideredTable &ct) {
  int32_t child;
  int32_t a = x == MCTX_ROOT_INDEX ? f_select_gumbel_root<K>(s, b, budget, lane, NULL, &child, &ct)
                                   : f_select_gumbel_interior<K>(s, b, x, 1, lane, NULL, &child);
  if (lane == 0) pick[x] = make_int2(a, child);
}

/* The new node's row: its children's statistics cleared (a new node), its
 * priors the softmax of the logits in l. */
template <int K>
__device__ __forceinline__ void gp_row(const DevTree &t, size_t row, int fresh, float l[K], int lane) {
  const int32_t A = t.A;
  if (fresh) d_init_children(t, row, lane);
  float m = MCTX_F32_NINF;
#pragma unroll
  for (int k = 0; k < K; k++)
    if (lane + 32 * k < A) m = l[k] > m ? l[k] : m;
  m = mctx__warp_max_fast(m);
  float z = 0.0f;
#pragma unroll
  for (int k = 0; k < K; k++) {
    l[k] = mctx_expf(l[k] - m);
    if (lane + 32 * k < A) z = z + l[k];
  }
  z = mctx__warp_sum(z);
#pragma unroll
  for (int k = 0; k < K; k++)
    if (lane + 32 * k < A) t.children_prior_probs[row + lane + 32 * k] = l[k] / z;
}

/* What gp_expand does: the whole expansion, or (the synthetic model, whose
 * step is a few hashes) one of its two halves, each by its own warp: the new
 * node's record with its parent's cell and the model's value, reward and
 * discount (what the backup waits for), or the new node's row of children
 * (logits, priors, cleared statistics: what only the new node's own choice
 * reads). */
enum { GP_ALL, GP_RECORD, GP_ROW };

/* d_expand for the pick cache (no chance nodes, so A == Ad), with the
 * model's outputs returned in registers and the new row's softmax computed
 * from registers: one exp per child, the maximum in one reduction. The
 * synthetic model's logits are made in the registers that the softmax reads.
 * Same arithmetic, same order, same bits as d_expand + d_set_probs. Returns
 * 1 when the node is new: as d_expand, from its visits, but for GP_ROW,
 * which takes `fresh` (the walk ended at an unexpanded child) and does not
 * read the visits that GP_RECORD's warp writes. */
template <int K, bool SYN>
__device__ __forceinline__ int gp_expand(const DevSearch &s, int32_t b, int32_t parent, int32_t action,
                                         int32_t next, int fresh, int part, int lane, float *reward,
                                         float *discount, float *value) {
  const DevTree &t = s.t;
  const int32_t A = t.A;
  const size_t nn = d_node(t, b, next), row = nn * (size_t)A;
  const int32_t visits = part == GP_ROW ? 0 : t.node_visits[nn];
  float l[K];
  if (SYN || s.m.kind == MCTX_CUDA_MODEL_SYNTHETIC) {
    uint32_t st = *(const uint32_t *)(t.embeddings + d_node(t, b, parent) * (size_t)t.E);
    uint32_t nx = mctx__syn_next(st, (uint32_t)action);
    if (part != GP_RECORD) {
#pragma unroll
      for (int k = 0; k < K; k++) {
        int32_t a = lane + 32 * k;
        l[k] = mctx__syn_logit(nx, (uint32_t)a);
        if (a < A) t.children_prior_logits[row + a] = l[k];
      }
    }
    *value = mctx__syn_value(nx);
    *reward = mctx__syn_reward(nx);
    *discount = MCTX__SYN_DISCOUNT;
    if (part != GP_ROW && lane == 0) *(uint32_t *)(t.embeddings + nn * (size_t)t.E) = nx;
  } else {
    /* part is GP_ALL: the model's step writes the row */
    d_model_step(s, b, parent, action, next, 1, reward, discount, value, lane);
#pragma unroll
    for (int k = 0; k < K; k++) {
      int32_t a = lane + 32 * k;
      l[k] = a < A ? t.children_prior_logits[row + a] : 0.0f;
    }
  }
  if (part != GP_ROW) fresh = visits == 0;
  if (part != GP_RECORD) gp_row<K>(t, row, fresh, l, lane);
  if (part != GP_ROW && lane == 0) {
    t.raw_values[nn] = *value;
    t.node_values[nn] = *value;
    t.node_visits[nn] = visits + 1;
    size_t prow = d_row(t, b, parent) + (size_t)action;
    t.children_index[prow] = next;
    t.children_rewards[prow] = *reward;
    t.children_discounts[prow] = *discount;
    t.parents[nn] = parent;
    t.action_from_parent[nn] = action;
  }
  __syncwarp();
  return fresh;
}

/* What a simulation wrote to the root (gp_expand_backup, ROOT): its record
 * and its chosen child's cell. */
struct GpRootCell {
  int32_t child_visits; /* the chosen child's new visits */
  float value, child_value, reward, discount; /* the root's new value; the child's cell */
};

/* A simulation's expansion and backup for a path of L <= 32 levels (lvl:
 * each level's node and action, in shared memory), lane j holding level j:
 * the levels' records are fetched in one round trip, before the expansion;
 * the discounted return runs leaf to root in mctx's order (every lane
 * computes it, the level's lane keeps its own); then every level's writes
 * at once. f_backward's arithmetic, without the path's trips to memory. */
template <int K, bool SYN, bool ROOT = false>
__device__ __forceinline__ int gp_expand_backup(const DevSearch &s, int32_t b, const int2 *lvl, int32_t L,
                                                int32_t next, int part, int lane, GpRootCell *root = NULL) {
  const DevTree &t = s.t;
  const size_t nb0 = d_node(t, b, 0);
  int2 me = lvl[lane < L ? lane : 0];
  const size_t nb = nb0 + (size_t)me.x, cell = nb * (size_t)t.A + (size_t)me.y;
  int32_t count = 0, child_visits = 0;
  float node_value = 0.0f, r = 0.0f, d = 0.0f;
  if (lane < L) {
    count = t.node_visits[nb];
    node_value = t.node_values[nb];
    child_visits = t.children_visits[cell];
    r = t.children_rewards[cell];
    d = t.children_discounts[cell];
  }
  const int2 last = lvl[L - 1];
  float reward, discount, value;
  int fresh = gp_expand<K, SYN>(s, b, last.x, last.y, next, 0, part, lane, &reward, &discount, &value);
  /* the leaf level's reward and discount are the model's new ones */
  if (lane == L - 1) {
    r = reward;
    d = discount;
  }
  float ret = value, mine = 0.0f;
  for (int32_t j = L - 1; j >= 0; j--) {
    float rj = __shfl_sync(MCTX_FULL_MASK, r, j), dj = __shfl_sync(MCTX_FULL_MASK, d, j);
    ret = mctx__q(rj, dj, ret);
    if (lane == j) mine = ret;
  }
  float pv = mctx__backup_value(node_value, count, mine);
  float child_value = __shfl_down_sync(MCTX_FULL_MASK, pv, 1);
  if (lane == L - 1) child_value = value;
  if (lane < L) {
    t.node_values[nb] = pv;
    t.node_visits[nb] = count + 1;
    t.children_values[cell] = child_value;
    t.children_visits[cell] = child_visits + 1;
  }
  if constexpr (ROOT) {
    /* level 0, from lane 0, to every lane */
    root->child_visits = __shfl_sync(MCTX_FULL_MASK, child_visits + 1, 0);
    root->value = __shfl_sync(MCTX_FULL_MASK, pv, 0);
    root->child_value = __shfl_sync(MCTX_FULL_MASK, child_value, 0);
    root->reward = __shfl_sync(MCTX_FULL_MASK, r, 0);
    root->discount = __shfl_sync(MCTX_FULL_MASK, d, 0);
  }
  __syncwarp();
  return fresh;
}

/* The pick cache kernel's once-a-search parts, out of line (__noinline__):
 * the search loop's code stays small and contiguous (the root's noise and
 * the final policy draw from the PRNG: with the exp and log, most of the
 * kernel's code, run once). The kernel's DevSearch is a __grid_constant__
 * parameter, so `s` refers to it where it is, without a copy.
 *
 * gp_begin, by warp 0: the root (d_init_root), and in sh the budget, the
 * first free node, the considered count and the root's children's visits. */
__device__ __noinline__ void gp_begin(const DevSearch &s, int32_t b, int lane, int32_t *sh, mctx_key *final_key) {
  const DevTree &t = s.t;
  mctx_key rng;
  int32_t budget0 = d_init_root(s, b, &rng, final_key, lane);
  /* the root's valid actions and children's visits, for the table */
  const size_t row0 = d_row(t, b, 0);
  const uint8_t *inv = t.root_invalid + (size_t)b * (size_t)t.A;
  int32_t valid = 0, visits = 0;
  for (int32_t a = lane; a < t.A; a += 32) {
    valid += inv[a] ? 0 : 1;
    visits += t.children_visits[row0 + a];
  }
  valid = mctx__warp_sum_i(valid);
  visits = mctx__warp_sum_i(visits);
  if (lane == 0) {
    sh[0] = budget0;
    sh[1] = t.next_node[b];
    sh[2] = s.considered < valid ? s.considered : valid;
    sh[3] = visits;
  }
}

/* The pick cache's start, by the whole block: warp 0 prepares the root
 * (gp_begin: sh[0] the budget, sh[1] the first free node); then every thread
 * fills sequential halving's table of considered visits (ctab, S + 1). */
__device__ __forceinline__ ConsideredTable gp_start(const DevSearch &s, int32_t b, int lane, int w, int32_t *sh,
                                                    int32_t *ctab, mctx_key *final_key) {
  if (w == 0) gp_begin(s, b, lane, sh, final_key);
  __syncthreads();
  /* each simulation adds one visit to the root's children */
  const ConsideredTable ct = {ctab, sh[3], s.S + 1};
  for (int32_t i = (int32_t)threadIdx.x; i <= s.S; i += (int32_t)blockDim.x)
    ctab[i] = mctx__considered_visit(sh[2], sh[0], sh[3] + i);
  __syncthreads();
  return ct;
}

/* gp_end, by warp 0: the element's counts and the root's result (f_end);
 * st is a copy of the loop's counters. */
__device__ __noinline__ void gp_end(const DevSearch &s, int32_t b, int32_t base, int32_t expanded, int32_t deepest,
                                    mctx_key final_key, int lane, bool counting, unsigned long long *st,
                                    long long cy, long long cy0) {
  f_end(s, b, base, expanded, deepest, final_key, lane, counting, st, cy, cy0);
}

/* A walk of more than 32 levels (the levels in lvl): the fused kernel's
 * expansion and staged backup, by warp 0. Returns 1 when a node was made.
 * SYN: the synthetic model's expansion (gp_expand: same bits as d_expand).
 * Inline: a call inside the simulation loop would move the values live
 * across it (the trace's counters) to local memory. */
template <int K, bool SYN>
__device__ __forceinline__ int gp_deep(const DevSearch &s, int32_t b, const int2 *lvl, int32_t depth, int32_t node,
                                       int32_t act, int32_t next, int lane, float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  PathEntry *path = s.path + (size_t)b * (size_t)s.path_cap;
  for (int32_t j = lane; j < depth; j += 32) path[j] = d_path_entry(t, b, lvl[j].x, lvl[j].y);
  __syncwarp();
  int fresh;
  float leaf_value;
  if constexpr (SYN) {
    float reward, discount;
    fresh = gp_expand<K, SYN>(s, b, node, act, next, 0, GP_ALL, lane, &reward, &discount, &leaf_value);
    if (lane == 0) {
      path[depth - 1].reward = reward;
      path[depth - 1].discount = discount;
    }
    __syncwarp();
  } else {
    fresh = f_expand_leaf(s, b, node, act, next, path, depth, lane);
    leaf_value = t.node_values[d_node(t, b, next)];
  }
  f_backward(t, b, depth, leaf_value, path, lane, sm_r, sm_d);
  return fresh;
}

/* Element b's whole search by the block's W warps. gp: the block's dynamic
 * shared memory (mctx__gp_smem_bytes). SYN: the synthetic model, with its
 * expansion split between warps 0 and 1 (the kernel for the other models
 * leaves the split out). */
template <int K, bool SYN>
__device__ __forceinline__ void f_search_gp(const DevSearch &s, int32_t b, int lane, int w, int W, int2 *gp,
                                            float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  int2 *pick = gp;                          /* [N] each node's cached choice */
  int2 *lvl = gp + t.N;                     /* [N] the simulation's path: node, action */
  int32_t *ctab = (int32_t *)(gp + 2 * (size_t)t.N); /* [S + 1] considered visits */
  __shared__ int32_t sh[6]; /* budget, first free node, considered count, root visits; path length, leaf */
  mctx_key final_key;
  const bool counting = s.stats != NULL && w == 0;
  unsigned long long st[MCTX_SP_STATS];
  long long cy0 = mctx__trace_start(st, counting), cy = cy0;
  const ConsideredTable ct = gp_start(s, b, lane, w, sh, ctab, &final_key);
  const int32_t budget = sh[0], base = sh[1];
  int32_t expanded = 0, deepest = 0;
  /* Round -1 computes the choice of every node there is (a reused tree's
   * too); each simulation then those of the nodes it changed. One loop, so
   * the selections' code is in the kernel once. */
  for (int32_t sim = -1; sim < s.S; sim++) {
    if (sim >= 0) {
      if (w == 0 || (SYN && w == 1)) {
        /* The walk: each level's choice and child are cached (one shared
         * word a level); warp 0's lane 0 lists the levels. */
        int32_t node = MCTX_ROOT_INDEX, depth = 0, leaf, act;
        for (;;) {
          int2 pn = pick[node];
          if (w == 0 && lane == 0) lvl[depth] = make_int2(node, pn.x);
          if (counting) st[MCTX_SP_STAT_DENSE]++;
          depth++;
          if (pn.y == MCTX_UNVISITED || depth >= s.max_depth) {
            leaf = pn.y;
            act = pn.x;
            break;
          }
          node = pn.y;
        }
        int32_t next = leaf == MCTX_UNVISITED ? base + sim : leaf;
        if (SYN && w == 1) {
          /* warp 1 makes the new node's row while warp 0 backs up */
          if (depth <= 32) {
            float r_, d_, v_;
            gp_expand<K, SYN>(s, b, node, act, next, leaf == MCTX_UNVISITED, GP_ROW, lane, &r_, &d_, &v_);
          }
        } else {
          __syncwarp();
          deepest = depth > deepest ? depth : deepest;
          MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_WALK);
          if (depth <= 32) {
            expanded += gp_expand_backup<K, SYN>(s, b, lvl, depth, next, SYN ? GP_RECORD : GP_ALL, lane);
            MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_EXPAND);
          } else {
            expanded += gp_deep<K, SYN>(s, b, lvl, depth, node, act, next, lane, sm_r, sm_d);
          }
          MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_BACKUP);
          if (lane == 0) {
            sh[4] = depth;
            sh[5] = next;
          }
        }
      }
      __syncthreads();
    }
    /* The changed nodes' choices: the path's levels (the root first) and
     * the leaf; in round -1 nodes 0 .. base - 1. */
    const int32_t L = sim < 0 ? base - 1 : sh[4], leafn = sim < 0 ? 0 : sh[5];
    for (int32_t j = w; j <= L; j += W) {
      int32_t x = sim < 0 ? j : j < L ? lvl[j].x : leafn;
      gp_pick<K>(s, b, x, budget, lane, pick, ct);
    }
    __syncthreads();
    MCTX_LAP(counting, st, cy, sim < 0 ? MCTX_SP_STAT_CY_ROOT : MCTX_SP_STAT_CY_DENSE);
  }
  if (w != 0) return;
  /* a copy for the call: st itself stays in registers */
  unsigned long long fin[MCTX_SP_STATS];
#pragma unroll
  for (int i = 0; i < MCTX_SP_STATS; i++) fin[i] = st[i];
  gp_end(s, b, base, expanded, deepest, final_key, lane, counting, fin, cy, cy0);
}

/* The pick cache's dynamic shared memory: the cached choices and the path,
 * [N] int2 each, then the considered visits, [S + 1] int32. */
MCTX_HD static inline size_t mctx__gp_smem_bytes(int32_t N, int32_t S) {
  return 2 * (size_t)N * 8 + ((size_t)S + 1) * 4;
}

/* One block of 2 to MCTX_GP_WARPS_MAX warps per element; dynamic shared
 * memory: mctx__gp_smem_bytes. SYN: see f_search_gp. */
template <int K, bool SYN>
__global__ void __launch_bounds__(32 * MCTX_GP_WARPS_MAX) mctx__search_kernel_gp(const __grid_constant__ DevSearch s) {
  int32_t b = (int32_t)blockIdx.x;
  if (b >= s.t.B) return;
  extern __shared__ __align__(16) int2 gp_picks[];
  __shared__ float sm_r[MCTX_SEG], sm_d[MCTX_SEG];
  f_search_gp<K, SYN>(s, b, (int)(threadIdx.x & 31), (int)(threadIdx.x >> 5), (int)(blockDim.x >> 5), gp_picks, sm_r,
                 sm_d);
}

/* The fused kernel: one warp per batch element; LOCAL: one warp per block,
 * with the element's tree in the block's shared memory (cuda/local.cuh). */
template <int K, bool LOCAL>
__global__ void __launch_bounds__(128) mctx__search_kernel_k(DevSearch s) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  __shared__ float sm_r[4][MCTX_SEG], sm_d[4][MCTX_SEG];
  int w = (int)(threadIdx.x >> 5);
  if constexpr (LOCAL) {
    extern __shared__ __align__(16) unsigned char f_local[];
    DevSearch l = s;
    local_enter<PathEntry>(s, l, f_local, b, lane);
    f_search<K>(l, b, lane, sm_r[w], sm_d[w]);
    local_leave<PathEntry>(s, f_local, b, lane);
  } else {
    f_search<K>(s, b, lane, sm_r[w], sm_d[w]);
  }
}

#endif
