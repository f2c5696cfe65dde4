/* cuda/kernel.cuh: the fused search kernel: roots, simulations (select, the
 * built-in model's step, expand, backward) and the reading of the action, all
 * in one launch, one warp per batch element. */
#ifndef MCTX_CUDA_KERNEL_CUH
#define MCTX_CUDA_KERNEL_CUH

#include "cuda/search.cuh"

/* ==== The built-in models' step, lane-parallel over the new row ==== */

/* Evaluates `action` from `parent` into node `next`'s row and embedding;
 * returns reward, discount and value through the pointers (same in every
 * lane). `decision_parent` is for stochastic trees. */
__device__ void d_model_step(const DevSearch &s, int32_t b, int32_t parent, int32_t action, int32_t next,
                             int decision_parent, float *reward, float *discount, float *value, int lane) {
  const DevTree &t = s.t;
  const uint8_t *ein = t.embeddings + d_node(t, b, parent) * (size_t)t.E;
  uint8_t *eout = t.embeddings + d_node(t, b, next) * (size_t)t.E;
  float *logits = t.children_prior_logits + d_row(t, b, next);
  int32_t Ad = t.Ad;
  switch (s.m.kind) {
    case MCTX_CUDA_MODEL_SYNTHETIC: {
      uint32_t st = *(const uint32_t *)ein;
      uint32_t nx = mctx__syn_next(st, (uint32_t)action);
      for (int32_t a = lane; a < Ad; a += 32) logits[a] = mctx__syn_logit(nx, (uint32_t)a);
      *value = mctx__syn_value(nx);
      *reward = mctx__syn_reward(nx);
      *discount = MCTX__SYN_DISCOUNT;
      __syncwarp();
      if (lane == 0) *(uint32_t *)eout = nx;
      break;
    }
    case MCTX_CUDA_MODEL_SYNTHETIC_STOCHASTIC: {
      uint32_t st = *(const uint32_t *)ein;
      int32_t C = t.A - Ad;
      uint32_t nx;
      if (decision_parent) {
        nx = mctx__syn_next(st, (uint32_t)action);
        for (int32_t a = lane; a < Ad; a += 32) logits[a] = MCTX_F32_NINF;
        for (int32_t c = lane; c < C; c += 32) logits[Ad + c] = mctx__syn_chance_logit(nx, (uint32_t)c);
        *value = mctx__syn_value(nx);
        *reward = 0.0f;
        *discount = 1.0f;
      } else {
        nx = mctx__syn_chance_next(st, (uint32_t)(action - Ad));
        for (int32_t a = lane; a < Ad; a += 32) logits[a] = mctx__syn_logit(nx, (uint32_t)a);
        for (int32_t c = lane; c < C; c += 32) logits[Ad + c] = MCTX_F32_NINF;
        *value = mctx__syn_value(nx);
        *reward = mctx__syn_reward(nx);
        *discount = MCTX__SYN_DISCOUNT;
      }
      __syncwarp();
      if (lane == 0) *(uint32_t *)eout = nx;
      break;
    }
    case MCTX_CUDA_MODEL_TEST_ENV: {
      mctx_key k;
      k.k[0] = ((const uint32_t *)ein)[0];
      k.k[1] = ((const uint32_t *)ein)[1];
      mctx_key nk = mctx__split_nth(s.m.prng, k, (uint32_t)Ad, (uint32_t)action);
      for (int32_t a = lane; a < Ad; a += 32) logits[a] = mctx__testenv_logit(s.m.prng, nk, Ad, a);
      *value = mctx__testenv_value(s.m.prng, nk);
      *reward = s.m.zero_reward ? 0.0f : mctx__testenv_reward(s.m.prng, nk);
      *discount = s.m.discount;
      __syncwarp();
      if (lane == 0) {
        ((uint32_t *)eout)[0] = nk.k[0];
        ((uint32_t *)eout)[1] = nk.k[1];
      }
      break;
    }
    case MCTX_CUDA_MODEL_MOCK: {
      float e = *(const float *)ein;
      for (int32_t a = lane; a < Ad; a += 32) logits[a] = 0.0f;
      *value = 0.0f;
      *reward = 1.0f;
      *discount = 1.0f;
      __syncwarp();
      if (lane == 0) *(float *)eout = e + 1.0f;
      break;
    }
    default: { /* MCTX_CUDA_MODEL_BANDIT: (depth, index) */
      int32_t depth = ((const int32_t *)ein)[0], index = ((const int32_t *)ein)[1];
      for (int32_t a = lane; a < Ad; a += 32) logits[a] = 0.0f;
      int ok = index >= 0 && index < s.m.qvalues_rows;
      *reward = depth == 0 && ok ? s.m.qvalues[(size_t)index * (size_t)Ad + (size_t)action] : 0.0f;
      *discount = 1.0f;
      *value = 0.0f;
      __syncwarp();
      if (lane == 0) {
        ((int32_t *)eout)[0] = depth + 1;
        ((int32_t *)eout)[1] = index;
      }
      break;
    }
  }
  __syncwarp();
}

/* ==== Expansion and backup ==== */

/* Returns 1 when a new node was created. */
__device__ int d_expand(const DevSearch &s, int32_t b, int32_t parent, int32_t action, int32_t next, int lane) {
  const DevTree &t = s.t;
  size_t nn = d_node(t, b, next);
  int fresh = t.node_visits[nn] == 0;
  size_t row = nn * (size_t)t.A;
  int decision_parent = t.is_decision ? t.is_decision[d_node(t, b, parent)] : 1;
  __syncwarp();
  if (fresh) d_init_children(t, row, lane);
  float reward, discount, value;
  d_model_step(s, b, parent, action, next, decision_parent, &reward, &discount, &value, lane);
  int decision = t.is_decision ? !decision_parent : 1;
  d_set_probs(t, row, decision, lane);
  if (lane == 0) {
    t.raw_values[nn] = value;
    t.node_values[nn] = value;
    t.node_visits[nn] = t.node_visits[nn] + 1;
    if (t.is_decision) t.is_decision[nn] = (uint8_t)decision;
    size_t prow = d_row(t, b, parent) + (size_t)action;
    t.children_index[prow] = next;
    t.children_rewards[prow] = reward;
    t.children_discounts[prow] = discount;
    t.parents[nn] = parent;
    t.action_from_parent[nn] = action;
  }
  __syncwarp();
  return fresh;
}

/* search.backward, by lane 0. */
__device__ void d_backward(const DevTree &t, int32_t b, int32_t leaf, int lane) {
  if (lane == 0) {
    size_t base = d_node(t, b, 0);
    float leaf_value = t.node_values[base + leaf];
    int32_t index = leaf;
    while (index != MCTX_ROOT_INDEX) {
      int32_t parent = t.parents[base + index];
      int32_t count = t.node_visits[base + parent];
      int32_t action = t.action_from_parent[base + index];
      size_t cell = (base + (size_t)parent) * (size_t)t.A + (size_t)action;
      leaf_value = mctx__q(t.children_rewards[cell], t.children_discounts[cell], leaf_value);
      float parent_value = mctx__backup_value(t.node_values[base + parent], count, leaf_value);
      t.children_values[cell] = t.node_values[base + index];
      t.children_visits[cell] = t.children_visits[cell] + 1;
      t.node_values[base + parent] = parent_value;
      t.node_visits[base + parent] = count + 1;
      index = parent;
    }
  }
  __syncwarp();
}

/* ==== Roots (policies.py) ==== */

/* Element b's root: policy treatment of its logits into the tree's row, its
 * keys and (gumbel) its noise. The output rows weights[b] and
 * visit_counts[b] serve as scratch. Returns the sequential halving budget. */
__device__ int32_t d_init_root(const DevSearch &s, int32_t b, mctx_key *rng, mctx_key *final_key, int lane) {
  const DevTree &t = s.t;
  int32_t A = t.A, Ad = t.Ad;
  mctx_elem_key ek = s.keys[b];
  size_t n0 = d_node(t, b, 0);
  size_t row = n0 * (size_t)A;
  mctx_key noise_key;
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO) {
    *rng = mctx__split_nth(s.prng, ek.key, 2u, 0u);
    noise_key = mctx__split_nth(s.prng, ek.key, 2u, 1u);
    *final_key = *rng;
  } else {
    *final_key = mctx__split_nth(s.prng, ek.key, 3u, 0u);
    noise_key = mctx__split_nth(s.prng, ek.key, 3u, 1u);
    *rng = mctx__split_nth(s.prng, ek.key, 3u, 2u);
  }
  uint8_t *inv = t.root_invalid + (size_t)b * (size_t)A;
  /* root_invalid was uploaded (zeros when the request gave none) */
  float *s1 = s.weights + (size_t)b * (size_t)Ad;
  float *s2 = s.visit_counts + (size_t)b * (size_t)Ad;
  const float *in = s.continue_tree ? t.children_prior_logits + row : s.root_logits + (size_t)b * (size_t)Ad;

  if (!s.continue_tree) {
    for (int32_t n = lane; n < t.N; n += 32) t.node_visits[n0 + n] = 0;
    __syncwarp();
  }
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO) {
    for (int32_t a = lane; a < Ad; a += 32) s1[a] = in[a];
    __syncwarp();
  } else {
    d_softmax(in, s1, Ad, lane);  /* probs */
    if (s.dirichlet_fraction != 0.0f) {
      uint32_t total = (uint32_t)ek.group_size * (uint32_t)Ad;
      for (int32_t a = lane; a < Ad; a += 32) {
        mctx_key k = mctx__split_nth(s.prng, noise_key, total, (uint32_t)ek.group_index * (uint32_t)Ad + (uint32_t)a);
        s2[a] = mctx__loggamma_one(s.prng, k, s.dirichlet_alpha);
      }
      __syncwarp();
      d_softmax(s2, s2, Ad, lane);
      for (int32_t a = lane; a < Ad; a += 32)
        s1[a] = mctx__logit_of_prob(s.one_minus_dirichlet_fraction * s1[a] + s.dirichlet_fraction * s2[a]);
    } else {
      for (int32_t a = lane; a < Ad; a += 32) s1[a] = mctx__logit_of_prob(s1[a]);
    }
    __syncwarp();
  }
  if (s.has_invalid) {
    float m = MCTX_F32_NINF;
    for (int32_t a = lane; a < Ad; a += 32) m = s1[a] > m ? s1[a] : m;
    m = mctx__warp_max(m);
    __syncwarp();
    for (int32_t a = lane; a < Ad; a += 32) s1[a] = mctx__mask_logit(s1[a], m, inv[a]);
    __syncwarp();
  }
  /* the root node itself */
  if (!s.continue_tree) {
    d_init_children(t, row, lane);
    if (lane == 0) {
      t.raw_values[n0] = s.root_value[b];
      t.node_values[n0] = s.root_value[b];
      t.node_visits[n0] = 1;
      t.parents[n0] = MCTX_NO_PARENT;
      t.action_from_parent[n0] = MCTX_NO_PARENT;
      t.next_node[b] = 1;
    }
    for (int32_t e = lane; e < t.E; e += 32) t.embeddings[n0 * (size_t)t.E + e] = s.root_emb[(size_t)b * (size_t)t.E + e];
  }
  if (t.is_decision && lane == 0) t.is_decision[n0] = 1;
  __syncwarp();
  for (int32_t a = lane; a < Ad; a += 32) t.children_prior_logits[row + a] = s1[a];
  for (int32_t c = Ad + lane; c < A; c += 32) t.children_prior_logits[row + c] = MCTX_F32_NINF;
  __syncwarp();
  d_set_probs(t, row, 1, lane);

  int32_t budget = s.S;
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO) {
    uint32_t total = (uint32_t)ek.group_size * (uint32_t)A;
    for (int32_t a = lane; a < A; a += 32) {
      uint32_t bits = mctx__bits_nth(s.prng, noise_key, total, (uint32_t)ek.group_index * (uint32_t)A + (uint32_t)a);
      t.root_gumbel[(size_t)b * (size_t)A + a] = s.gumbel_scale * mctx__gumbel_bits(bits);
    }
    if (s.continue_tree) {
      int32_t v = 0;
      for (int32_t a = lane; a < A; a += 32) v += t.children_visits[row + a];
      budget += mctx__warp_sum_i(v);
    }
  }
  __syncwarp();
  return budget;
}

/* ==== Reading the finished tree ==== */

__device__ void d_finish(const DevSearch &s, int32_t b, mctx_key final_key, int lane) {
  const DevTree &t = s.t;
  int32_t A = t.A, Ad = t.Ad;
  size_t row = d_row(t, b, 0);
  const uint8_t *inv = t.root_invalid + (size_t)b * (size_t)A;
  float *weights = s.weights + (size_t)b * (size_t)Ad;
  float *counts = s.visit_counts + (size_t)b * (size_t)Ad;
  int32_t action;
  if (s.policy == MCTX_POLICY_GUMBEL_MUZERO) {
    QtNode c = qt_prepare(s, b, 0, 0, A, lane);
    const float *logits = t.children_prior_logits + row;
    const float *gumbel = t.root_gumbel + (size_t)b * (size_t)A;
    int32_t considered = 0;
    float max_logit = MCTX_F32_NINF;
    for (int32_t a = lane; a < A; a += 32) {
      int32_t v = t.children_visits[row + a];
      considered = v > considered ? v : considered;
      max_logit = logits[a] > max_logit ? logits[a] : max_logit;
    }
    considered = mctx__warp_max_i(considered);
    max_logit = mctx__warp_max(max_logit);
    float bv = MCTX_F32_NINF, m = MCTX_F32_NINF;
    int32_t bi = MCTX_INT_MAX;
    for (int32_t a = lane; a < A; a += 32) {
      int32_t v = t.children_visits[row + a];
      float cq = qt_child(c, d_q(t, row + a), v);
      float sc = mctx__score_considered(gumbel[a], logits[a], max_logit, cq, v, considered);
      if (s.has_invalid && inv[a]) sc = MCTX_F32_NINF;
      if (sc > bv || (sc == bv && a < bi)) { bv = sc; bi = a; }
      float x = logits[a] + cq;
      m = x > m ? x : m;
    }
    action = mctx__warp_argmax(bv, bi);
    m = mctx__warp_max(m);
    /* weights = softmax(mask(logits + cq)) */
    float m2 = m;
    if (s.has_invalid) {
      m2 = MCTX_F32_NINF;
      for (int32_t a = lane; a < A; a += 32) {
        float x = mctx__mask_logit(logits[a] + qt_child(c, d_q(t, row + a), t.children_visits[row + a]), m, inv[a]);
        m2 = x > m2 ? x : m2;
      }
      m2 = mctx__warp_max(m2);
    }
    float z = 0.0f;
    for (int32_t a = lane; a < A; a += 32) {
      float x = logits[a] + qt_child(c, d_q(t, row + a), t.children_visits[row + a]);
      if (s.has_invalid) x = mctx__mask_logit(x, m, inv[a]);
      z = z + mctx_expf(x - m2);
    }
    z = mctx__warp_sum(z);
    for (int32_t a = lane; a < A; a += 32) {
      float x = logits[a] + qt_child(c, d_q(t, row + a), t.children_visits[row + a]);
      if (s.has_invalid) x = mctx__mask_logit(x, m, inv[a]);
      weights[a] = mctx_expf(x - m2) / z;
    }
  } else {
    float total = 0.0f;
    for (int32_t a = lane; a < Ad; a += 32) total = total + (float)t.children_visits[row + a];
    total = mctx__warp_sum(total);
    float m = MCTX_F32_NINF;
    for (int32_t a = lane; a < Ad; a += 32) {
      float c = (float)t.children_visits[row + a];
      float w = total > 0.0f ? c / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
      weights[a] = w;
      float l = mctx__logit_of_prob(w);
      m = l > m ? l : m;
    }
    m = mctx__warp_max(m);
    mctx_elem_key ek = s.keys[b];
    uint32_t total_n = (uint32_t)ek.group_size * (uint32_t)Ad;
    float bv = MCTX_F32_NINF;
    int32_t bi = MCTX_INT_MAX;
    for (int32_t a = lane; a < Ad; a += 32) {
      float l = mctx__temper(mctx__logit_of_prob(weights[a]), m, s.temperature);
      uint32_t bits = mctx__bits_nth(s.prng, final_key, total_n, (uint32_t)ek.group_index * (uint32_t)Ad + (uint32_t)a);
      float v = mctx__gumbel_bits(bits) + l;
      if (v > bv || (v == bv && a < bi)) { bv = v; bi = a; }
    }
    action = mctx__warp_argmax(bv, bi);
  }
  for (int32_t a = lane; a < Ad; a += 32) {
    int32_t v = t.children_visits[row + a];
    counts[a] = (float)v;
    s.qvalues[(size_t)b * (size_t)Ad + a] = v > 0 ? d_q(t, row + a) : 0.0f;
  }
  if (lane == 0) {
    s.action[b] = action;
    s.root_values[b] = t.node_values[d_node(t, b, 0)];
  }
}

/* ==== The kernel ==== */

/* (cuda/pipeline.cu, which compiles these headers a second time for its own
 * kernels, leaves it out) */
#ifndef MCTX_CUDA_PIPELINE_TU
__global__ void __launch_bounds__(128) mctx__search_kernel(DevSearch s) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  const DevTree &t = s.t;
  mctx_key rng, final_key;
  int32_t budget = d_init_root(s, b, &rng, &final_key, lane);
  mctx_elem_key ek = s.keys[b];
  int32_t expanded = 0, deepest = 0;
  int32_t base = t.next_node[b];
  for (int32_t sim = 0; sim < s.S; sim++) {
    mctx_key sim_key = mctx__split_nth(s.prng, rng, 3u, 1u);
    rng = mctx__split_nth(s.prng, rng, 3u, 0u);
    mctx_key key = mctx__split_nth(s.prng, sim_key, (uint32_t)ek.group_size, (uint32_t)ek.group_index);
    /* simulate */
    int32_t node = MCTX_ROOT_INDEX, depth = 0, parent, action;
    for (;;) {
      mctx_key sel = mctx__split_nth(s.prng, key, 2u, 1u);
      key = mctx__split_nth(s.prng, key, 2u, 0u);
      int32_t a = d_select(s, b, node, depth, sel, budget, lane);
      int32_t next = t.children_index[d_row(t, b, node) + (size_t)a];
      depth++;
      if (next == MCTX_UNVISITED || depth >= s.max_depth) {
        parent = node;
        action = a;
        break;
      }
      node = next;
    }
    deepest = depth > deepest ? depth : deepest;
    int32_t next = t.children_index[d_row(t, b, parent) + (size_t)action];
    if (next == MCTX_UNVISITED) next = base + sim;
    expanded += d_expand(s, b, parent, action, next, lane);
    d_backward(t, b, next, lane);
  }
  if (lane == 0) {
    t.next_node[b] = base + s.S;
    s.expanded[b] = expanded;
    s.depth[b] = deepest;
  }
  __syncwarp();
  d_finish(s, b, final_key, lane);
}

#endif /* MCTX_CUDA_PIPELINE_TU */

#endif
