/* cuda/net.cuh: the device side of the network path, for models whose step
 * is a dense network (MCTX_CUDA_MODEL_MLP). A simulation is: a selection
 * kernel (one warp per element: simulate, record the path, write the
 * dynamics input [state, one_hot(action)] in the network's precision), the
 * dynamics layers (cuBLASLt), a tanh kernel (the next state, the prediction's
 * input), the prediction layers (cuBLASLt), and an expansion kernel (one warp
 * per element: the new node, its priors, the backward pass). Selection,
 * expansion and backup are those of the fused kernel (cuda/fast.cuh); the
 * tree's statistics stay float32 whatever the network's precision.
 *
 * A model with its own device step (MCTX_CUDA_MODEL_CALLBACK) runs the same
 * way with its step in place of the layers: a selection kernel (the actions
 * and the parents' embeddings, dense), the model's kernels on the engine's
 * stream, and the expansion kernel. */
#ifndef MCTX_CUDA_NET_CUH
#define MCTX_CUDA_NET_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/fast.cuh"

/* Per element, between the kernels of a simulation. */
struct NetState {
  mctx_key rng, final_key;
  int32_t budget, base, sim, parent, action, next, depth, expanded, deepest;
};

template <typename T>
__device__ __forceinline__ T net_cast(float x);
template <>
__device__ __forceinline__ float net_cast<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half net_cast<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 net_cast<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

__global__ void __launch_bounds__(128) net_init_kernel(DevSearch s, NetState *ns) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  NetState st;
  st.budget = d_init_root(s, b, &st.rng, &st.final_key, lane);
  st.base = s.t.next_node[b];
  st.sim = 0;
  st.expanded = 0;
  st.deepest = 0;
  st.parent = st.action = st.next = st.depth = 0;
  if (lane == 0) ns[b] = st;
}

/* One simulation's selection for element b: walks the tree from the root,
 * records the path, and leaves in st the leaf's parent, the action, the node
 * the expansion fills and the depth. Every lane computes the same st. */
template <int K>
__device__ __forceinline__ void net_pick(const DevSearch &s, NetState &st, int32_t b, int lane) {
  PathEntry *path = s.path + (size_t)b * (size_t)s.path_cap;
  const bool gumbel = s.policy == MCTX_POLICY_GUMBEL_MUZERO;
  mctx_key key = st.rng;
  if (!gumbel) {
    mctx_elem_key ek = s.keys[b];
    mctx_key sim_key = mctx__split_nth(s.prng, st.rng, 3u, 1u);
    st.rng = mctx__split_nth(s.prng, st.rng, 3u, 0u);
    key = mctx__split_nth(s.prng, sim_key, (uint32_t)ek.group_size, (uint32_t)ek.group_index);
  }
  int32_t node = MCTX_ROOT_INDEX, depth = 0, parent, action, leaf;
  for (;;) {
    mctx_key level_key = key;
    if (!gumbel) key = mctx__split_nth(s.prng, key, 2u, 0u);
    int32_t next;
    int32_t a = f_select<K>(s, b, node, depth, level_key, st.budget, lane, path, &next);
    depth++;
    if (next == MCTX_UNVISITED || depth >= s.max_depth) {
      parent = node;
      action = a;
      leaf = next;
      break;
    }
    node = next;
  }
  st.parent = parent;
  st.action = action;
  st.next = leaf == MCTX_UNVISITED ? st.base + st.sim : leaf;
  st.depth = depth;
  st.deepest = depth > st.deepest ? depth : st.deepest;
}

/* One simulation's selection, and the dynamics input row
 * [state (the parent's first S embedding floats), one_hot(action), zeros]. */
template <int K, typename T>
__global__ void __launch_bounds__(128) net_select_kernel(DevSearch s, NetState *ns, T *x, int32_t ldx, int32_t S) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  const DevTree &t = s.t;
  NetState st = ns[b];
  net_pick<K>(s, st, b, lane);
  const float *emb = (const float *)(t.embeddings + d_node(t, b, st.parent) * (size_t)t.E);
  T *row = x + (size_t)b * (size_t)ldx;
  for (int32_t j = lane; j < ldx; j += 32) {
    float v = j < S ? emb[j] : (j - S == st.action ? 1.0f : 0.0f);
    if (j >= S + t.Ad) v = 0.0f;
    row[j] = net_cast<T>(v);
  }
  if (lane == 0) ns[b] = st;
}

/* One simulation's selection for a model with its own device step
 * (MCTX_CUDA_MODEL_CALLBACK): the action, and the parent's embedding
 * gathered into a dense [n][E] input. */
template <int K>
__global__ void __launch_bounds__(128) cb_select_kernel(DevSearch s, NetState *ns, int32_t *actions, uint8_t *emb_in) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  const DevTree &t = s.t;
  NetState st = ns[b];
  net_pick<K>(s, st, b, lane);
  const uint8_t *src = t.embeddings + d_node(t, b, st.parent) * (size_t)t.E;
  uint8_t *dst = emb_in + (size_t)b * (size_t)t.E;
  for (int32_t j = lane; j < t.E; j += 32) dst[j] = src[j];
  if (lane == 0) {
    actions[b] = st.action;
    ns[b] = st;
  }
}

/* The next state, tanh of the dynamics' first S outputs, as the
 * prediction's input. */
template <typename T>
__global__ void net_tanh_kernel(const float *dout, int32_t ld_dout, T *pin, int32_t ld_pin, int32_t n, int32_t S) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)n * ld_pin) return;
  int32_t r = (int32_t)(i / ld_pin), j = (int32_t)(i % ld_pin);
  pin[i] = net_cast<T>(j < S ? tanhf(dout[(size_t)r * (size_t)ld_dout + (size_t)j]) : 0.0f);
}

/* The new node st.next from a step's outputs (prior logits po[Ad], value,
 * reward, discount), then the backward pass; emb(nn, lane) writes the node's
 * embedding. Sets *bad when an output is NaN or infinite (the search then
 * fails). */
template <typename EmbWriter>
__device__ __forceinline__ void net_expand_node(const DevSearch &s, NetState &st, int32_t b, int lane, const float *po,
                                                float value, float reward, float discount, EmbWriter emb, int *bad,
                                                float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  PathEntry *path = s.path + (size_t)b * (size_t)s.path_cap;
  int32_t Ad = t.Ad;
  size_t nn = d_node(t, b, st.next);
  size_t row = nn * (size_t)t.A;
  int fresh = t.node_visits[nn] == 0;
  __syncwarp();
  if (fresh) d_init_children(t, row, lane);
  int nonfinite = 0;
  for (int32_t a = lane; a < Ad; a += 32) {
    float l = po[a];
    nonfinite |= !(l - l == 0.0f) && !(l == MCTX_F32_NINF);
    t.children_prior_logits[row + a] = l;
  }
  emb(nn, lane);
  nonfinite |= !(value - value == 0.0f) || !(reward - reward == 0.0f) || !(discount - discount == 0.0f);
  if (__any_sync(MCTX_FULL_MASK, nonfinite) && lane == 0) atomicExch(bad, 1);
  __syncwarp();
  d_set_probs(t, row, 1, lane);
  if (lane == 0) {
    t.raw_values[nn] = value;
    t.node_values[nn] = value;
    t.node_visits[nn] = t.node_visits[nn] + 1;
    size_t prow = d_row(t, b, st.parent) + (size_t)st.action;
    t.children_index[prow] = st.next;
    t.children_rewards[prow] = reward;
    t.children_discounts[prow] = discount;
    t.parents[nn] = st.parent;
    t.action_from_parent[nn] = st.action;
    path[st.depth - 1].reward = reward;
    path[st.depth - 1].discount = discount;
  }
  __syncwarp();
  f_backward(t, b, st.depth, value, path, lane, sm_r, sm_d);
  st.expanded += fresh;
  st.sim++;
}

/* The mlp's expansion: the next state is tanh of the dynamics' first S
 * outputs, the reward its last; logits and value from the prediction. */
struct MlpEmb {
  const DevTree *t;
  const float *dd;
  int32_t S;
  __device__ void operator()(size_t nn, int lane) const {
    float *emb = (float *)(t->embeddings + nn * (size_t)t->E);
    for (int32_t j = lane; j < t->E / 4; j += 32) emb[j] = j < S ? tanhf(dd[j]) : 0.0f;
  }
};

template <int K>
__global__ void __launch_bounds__(128) net_expand_kernel(DevSearch s, NetState *ns, const float *dout, int32_t ld_dout,
                                                         const float *pout, int32_t ld_pout, int32_t S, float discount,
                                                         int *bad) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  __shared__ float sm_r[4][MCTX_SEG], sm_d[4][MCTX_SEG];
  int w = (int)(threadIdx.x >> 5);
  NetState st = ns[b];
  const float *po = pout + (size_t)b * (size_t)ld_pout;
  const float *dd = dout + (size_t)b * (size_t)ld_dout;
  MlpEmb emb = {&s.t, dd, S};
  net_expand_node(s, st, b, lane, po, po[s.t.Ad], dd[S], discount, emb, bad, sm_r[w], sm_d[w]);
  if (lane == 0) ns[b] = st;
}

/* A callback model's expansion: its outputs as given, the next embedding
 * copied as bytes. */
struct CopyEmb {
  const DevTree *t;
  const uint8_t *src;
  __device__ void operator()(size_t nn, int lane) const {
    uint8_t *dst = t->embeddings + nn * (size_t)t->E;
    for (int32_t j = lane; j < t->E; j += 32) dst[j] = src[j];
  }
};

template <int K>
__global__ void __launch_bounds__(128) cb_expand_kernel(DevSearch s, NetState *ns, const float *reward,
                                                        const float *discount, const float *logits,
                                                        const float *value, const uint8_t *emb_out, int *bad) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  __shared__ float sm_r[4][MCTX_SEG], sm_d[4][MCTX_SEG];
  int w = (int)(threadIdx.x >> 5);
  NetState st = ns[b];
  CopyEmb emb = {&s.t, emb_out + (size_t)b * (size_t)s.t.E};
  net_expand_node(s, st, b, lane, logits + (size_t)b * (size_t)s.t.Ad, value[b], reward[b], discount[b], emb, bad,
                  sm_r[w], sm_d[w]);
  if (lane == 0) ns[b] = st;
}

__global__ void __launch_bounds__(128) net_finish_kernel(DevSearch s, NetState *ns) {
  int32_t b = (int32_t)((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  int lane = (int)(threadIdx.x & 31);
  if (b >= s.t.B) return;
  NetState st = ns[b];
  if (lane == 0) {
    s.t.next_node[b] = st.base + st.sim;
    s.expanded[b] = st.expanded;
    s.depth[b] = st.deepest;
  }
  __syncwarp();
  d_finish(s, b, st.final_key, lane);
}

#endif
