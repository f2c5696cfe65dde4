/* cuda/local.cuh: a batch element's whole tree in shared memory.
 *
 * A search of a small batch (one element, say) runs one warp on one SM; each
 * of its steps waits for the tree's memory (select, expand, back up), so the
 * round trips to device memory set its time. When the element's tree, with
 * its path scratch, fits the shared memory of a block, the kernels can run
 * on a copy of the element's DevSearch whose tree arrays point into shared
 * memory (generic addresses: every device function works unchanged), and
 * write the tree to device memory once at the end, where the host and a
 * later search (tree reuse) read it.
 *
 * The copy's pointers are shifted so that the kernels' own indexing (element
 * b's node n at b * N + n) lands in the element's shared copy: the shift is
 * integer arithmetic on the generic address; only element b's range is ever
 * dereferenced. */
#ifndef MCTX_CUDA_LOCAL_CUH
#define MCTX_CUDA_LOCAL_CUH

#include "cuda/search.cuh"

/* The element's tree in shared memory, in this order, each part 16-byte
 * aligned: node arrays [N] x 5, children arrays [N][A] x 7, embeddings
 * [N][E], is_decision [N] (stochastic), root_invalid [A], root_gumbel [A]
 * (gumbel), next_node, the path [N]. */
struct LocalPlan {
  size_t node, kids, emb, dec, inv, gum, next, path, total;
};

MCTX_HD static inline size_t mctx__local_align(size_t x) { return (x + 15) / 16 * 16; }

MCTX_HD static inline LocalPlan mctx__local_plan(int32_t N, int32_t A, int32_t E, int stochastic, int gumbel,
                                                 size_t path_entry_bytes) {
  LocalPlan p;
  size_t n = (size_t)N, na = n * (size_t)A, o = 0;
  p.node = o; o += 5 * mctx__local_align(n * 4);
  p.kids = o; o += 7 * mctx__local_align(na * 4);
  p.emb = o; o += mctx__local_align(n * (size_t)(E ? E : 1));
  p.dec = o; o += stochastic ? mctx__local_align(n) : 0;
  p.inv = o; o += mctx__local_align((size_t)A);
  p.gum = o; o += gumbel ? mctx__local_align((size_t)A * 4) : 0;
  p.next = o; o += 16;
  p.path = o; o += mctx__local_align(n * path_entry_bytes);
  p.total = o;
  return p;
}

/* Copies `bytes` with the lanes of a warp (16, 4 or 1 byte at a time, as the
 * addresses allow). */
__device__ __forceinline__ void local_copy(void *dst, const void *src, size_t bytes, int lane) {
  uintptr_t a = (uintptr_t)dst | (uintptr_t)src | (uintptr_t)bytes;
  if ((a & 15) == 0) {
    uint4 *d = (uint4 *)dst;
    const uint4 *s = (const uint4 *)src;
    for (size_t i = (size_t)lane; i < bytes / 16; i += 32) d[i] = s[i];
  } else if ((a & 3) == 0) {
    uint32_t *d = (uint32_t *)dst;
    const uint32_t *s = (const uint32_t *)src;
    for (size_t i = (size_t)lane; i < bytes / 4; i += 32) d[i] = s[i];
  } else {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (size_t i = (size_t)lane; i < bytes; i += 32) d[i] = s[i];
  }
}

/* A pointer p with p + b * stride == base (element b's range in shared
 * memory under the kernels' global indexing). */
template <typename T>
__device__ __forceinline__ T *local_shift(unsigned char *base, int32_t b, size_t stride) {
  return (T *)((uintptr_t)base - (uintptr_t)b * (uintptr_t)stride * sizeof(T));
}

/* Points l's tree (and path) at element b's copy in shared memory `sm`;
 * copies in what the search reads before it writes: the root's invalid
 * actions always, the whole tree when it continues a tree. `g` is the
 * kernel's own DevSearch (device memory). */
template <typename PE>
__device__ void local_enter(const DevSearch &g, DevSearch &l, unsigned char *sm, int32_t b, int lane) {
  const DevTree &t = g.t;
  LocalPlan p = mctx__local_plan(t.N, t.A, t.E, t.is_decision != NULL, t.root_gumbel != NULL, sizeof(PE));
  size_t N = (size_t)t.N, NA = N * (size_t)t.A, E = (size_t)(t.E ? t.E : 1), A = (size_t)t.A;
  size_t na4 = mctx__local_align(NA * 4), n4 = mctx__local_align(N * 4);
  DevTree &d = l.t;
  d.node_visits = local_shift<int32_t>(sm + p.node, b, N);
  d.raw_values = local_shift<float>(sm + p.node + n4, b, N);
  d.node_values = local_shift<float>(sm + p.node + 2 * n4, b, N);
  d.parents = local_shift<int32_t>(sm + p.node + 3 * n4, b, N);
  d.action_from_parent = local_shift<int32_t>(sm + p.node + 4 * n4, b, N);
  d.children_index = local_shift<int32_t>(sm + p.kids, b, NA);
  d.children_visits = local_shift<int32_t>(sm + p.kids + na4, b, NA);
  d.children_prior_logits = local_shift<float>(sm + p.kids + 2 * na4, b, NA);
  d.children_prior_probs = local_shift<float>(sm + p.kids + 3 * na4, b, NA);
  d.children_rewards = local_shift<float>(sm + p.kids + 4 * na4, b, NA);
  d.children_discounts = local_shift<float>(sm + p.kids + 5 * na4, b, NA);
  d.children_values = local_shift<float>(sm + p.kids + 6 * na4, b, NA);
  d.embeddings = local_shift<uint8_t>(sm + p.emb, b, N * E);
  d.is_decision = t.is_decision ? local_shift<uint8_t>(sm + p.dec, b, N) : NULL;
  d.root_invalid = local_shift<uint8_t>(sm + p.inv, b, A);
  d.root_gumbel = t.root_gumbel ? local_shift<float>(sm + p.gum, b, A) : NULL;
  d.next_node = local_shift<int32_t>(sm + p.next, b, 1);
  l.path = (PathEntry *)local_shift<PE>(sm + p.path, b, (size_t)g.path_cap);
  local_copy(sm + p.inv, t.root_invalid + (size_t)b * A, A, lane);
  if (g.continue_tree) {
    size_t nb = (size_t)b * N;
    local_copy(sm + p.node, t.node_visits + nb, N * 4, lane);
    local_copy(sm + p.node + n4, t.raw_values + nb, N * 4, lane);
    local_copy(sm + p.node + 2 * n4, t.node_values + nb, N * 4, lane);
    local_copy(sm + p.node + 3 * n4, t.parents + nb, N * 4, lane);
    local_copy(sm + p.node + 4 * n4, t.action_from_parent + nb, N * 4, lane);
    const void *kids[7] = {t.children_index, t.children_visits, t.children_prior_logits, t.children_prior_probs,
                           t.children_rewards, t.children_discounts, t.children_values};
    for (int k = 0; k < 7; k++) local_copy(sm + p.kids + (size_t)k * na4, (const char *)kids[k] + nb * A * 4, NA * 4, lane);
    local_copy(sm + p.emb, t.embeddings + nb * E, N * E, lane);
    if (t.is_decision) local_copy(sm + p.dec, t.is_decision + nb, N, lane);
    if (t.root_gumbel) local_copy(sm + p.gum, t.root_gumbel + (size_t)b * A, A * 4, lane);
    local_copy(sm + p.next, t.next_node + b, 4, lane);
  }
  __syncwarp();
}

/* Writes element b's tree from shared memory to device memory: the node
 * arrays whole, the rows of the nodes made so far (0 .. next_node). */
template <typename PE>
__device__ void local_leave(const DevSearch &g, unsigned char *sm, int32_t b, int lane) {
  __syncwarp();
  const DevTree &t = g.t;
  LocalPlan p = mctx__local_plan(t.N, t.A, t.E, t.is_decision != NULL, t.root_gumbel != NULL, sizeof(PE));
  size_t N = (size_t)t.N, NA = N * (size_t)t.A, E = (size_t)(t.E ? t.E : 1), A = (size_t)t.A;
  size_t na4 = mctx__local_align(NA * 4), n4 = mctx__local_align(N * 4);
  size_t nb = (size_t)b * N;
  int32_t used = *(const int32_t *)(sm + p.next);
  size_t rows = used < 0 ? 0 : (size_t)used > N ? N : (size_t)used;
  local_copy(t.node_visits + nb, sm + p.node, N * 4, lane);
  local_copy(t.raw_values + nb, sm + p.node + n4, N * 4, lane);
  local_copy(t.node_values + nb, sm + p.node + 2 * n4, N * 4, lane);
  local_copy(t.parents + nb, sm + p.node + 3 * n4, N * 4, lane);
  local_copy(t.action_from_parent + nb, sm + p.node + 4 * n4, N * 4, lane);
  void *kids[7] = {t.children_index, t.children_visits, t.children_prior_logits, t.children_prior_probs,
                   t.children_rewards, t.children_discounts, t.children_values};
  for (int k = 0; k < 7; k++) local_copy((char *)kids[k] + nb * A * 4, sm + p.kids + (size_t)k * na4, rows * A * 4, lane);
  local_copy(t.embeddings + nb * E, sm + p.emb, rows * E, lane);
  if (t.is_decision) local_copy(t.is_decision + nb, sm + p.dec, N, lane);
  if (t.root_gumbel) local_copy(t.root_gumbel + (size_t)b * A, sm + p.gum, A * 4, lane);
  local_copy(t.next_node + b, sm + p.next, 4, lane);
  __syncwarp();
}

#endif
