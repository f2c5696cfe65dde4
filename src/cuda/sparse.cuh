/* cuda/sparse.cuh: the muzero search kernel that selects from each node's
 * visited children, kept in shared memory (core/sparse-impl.h).
 *
 * A deep muzero search spends its time walking down the tree: 800
 * simulations of the synthetic environment with 362 actions walk about
 * 80,000 levels, and at nearly every level the node has one to four visited
 * children. The fused kernel (cuda/fast.cuh) loads all of a node's children
 * from device memory at each level and reduces over them; this kernel keeps,
 * per node, its visits and value, up to MCTX_SP_CAP visited children and the
 * two largest priors of its unvisited ones in shared memory (with the
 * simulation's path, which the backward pass reads back), and with them the
 * node's pick: mctx__sp_pick's answer, computed again whenever a simulation
 * passes through the node or expands it (the only times its record
 * changes). One lane walks down along the cached picks, a shared-memory
 * word a level, and the warp fills in the path's levels together
 * afterwards. Where mctx__sp_pick cannot decide (a
 * near tie that mctx's tie-break noise settles, a node with more visited
 * children, the root of a request with invalid actions), the warp runs the
 * fused kernel's dense selection at that level, with the level's key derived
 * then (the keys of the levels walked sparsely are never needed).
 *
 * The tree in device memory is written as by the fused kernel (the records
 * only copy what selection reads), so the result, the tree and the dense
 * fallback are the fused kernel's; the trees are bit-identical to the CPU
 * engine's (tests/cuda/test-parity.c). Used for muzero with
 * qtransform_by_parent_and_siblings or qtransform_by_min_max on a fresh tree,
 * when one warp's records fit the shared memory of a block. */
#ifndef MCTX_CUDA_SPARSE_CUH
#define MCTX_CUDA_SPARSE_CUH

#include "cuda/fast.cuh"

/* Dynamic shared memory of a block: the scale table, then per warp its
 * nodes [N], their kept children [N][MCTX_SP_CAP], the simulation's path [N]
 * and the nodes' cached picks [N]. */
MCTX_HD static inline size_t mctx__sp_table_bytes(int32_t S) { return ((size_t)S + 2) * 4 / 16 * 16 + 16; }
MCTX_HD static inline size_t mctx__sp_kids_offset(int32_t N) {
  return ((size_t)N * sizeof(mctx__sp_node) + 15) / 16 * 16;
}
MCTX_HD static inline size_t mctx__sp_path_offset(int32_t N) {
  return mctx__sp_kids_offset(N) + (size_t)N * MCTX_SP_CAP * sizeof(mctx__sp_kid);
}
/* path_cap = N entries: read back by the backward pass at every level. */
MCTX_HD static inline size_t mctx__sp_hop_offset(int32_t N) {
  return mctx__sp_path_offset(N) + ((size_t)N * sizeof(PathEntry) + 15) / 16 * 16;
}
MCTX_HD static inline size_t mctx__sp_warp_bytes(int32_t N) {
  return mctx__sp_hop_offset(N) + ((size_t)N * sizeof(int2) + 15) / 16 * 16;
}
static_assert(MCTX_SP_CAP * sizeof(mctx__sp_kid) == 32 * sizeof(uint32_t),
              "a node's kept children are zeroed by one word a lane");

__device__ __forceinline__ float sp_scale(const DevSearch &s, const SpCtx &c, int32_t visits) {
  if (visits >= 0 && visits < c.scale_n) return c.scale[visits];
  return mctx__puct_scale(visits, mctx__pb_c(visits, s.pb_c_init, s.pb_c_base));
}

/* The two largest priors of a node's unvisited children (but `skip`), from
 * its row in device memory, into its record (warp; lane 0 writes). As
 * mctx__sp_top2: the first index of the largest, NaN priors skipped. */
__device__ void sp_set_top2(const DevTree &t, size_t row, int32_t n, int32_t skip, mctx__sp_node *m, int lane) {
  float v1 = MCTX_F32_NINF, v2 = MCTX_F32_NINF;
  int32_t i1 = MCTX_INT_MAX;
  for (int32_t i = lane; i < n; i += 32) {
    float p = t.children_prior_probs[row + (size_t)i];
    if (t.children_visits[row + (size_t)i] != 0 || i == skip || p != p) continue;
    if (i1 == MCTX_INT_MAX || p > v1) {
      if (i1 != MCTX_INT_MAX) v2 = v1 > v2 ? v1 : v2;
      v1 = p;
      i1 = i;
    } else {
      v2 = p > v2 ? p : v2;
    }
  }
  warp_top2(v1, i1, v2);
  if (lane == 0) {
    m->u1 = i1 == MCTX_INT_MAX ? -1 : i1;
    m->u1p = i1 == MCTX_INT_MAX ? MCTX_F32_NINF : v1;
    m->u2p = v2;
  }
  __syncwarp();
}

/* Node x's pick, cached: mctx__sp_pick of its record and kept children,
 * and the node it leads to (a kept child's index; MCTX_UNVISITED for the
 * unvisited child). A node's record and kept children change only when a
 * simulation passes through it or expands it, so the pick is computed again
 * then (sp_search), and the walk down reads one word a level. */
__device__ __forceinline__ void sp_repick(const DevSearch &s, const SpCtx &c, int32_t x) {
  const mctx__sp_kid *kids = c.kids + (size_t)x * MCTX_SP_CAP;
  int32_t visits = c.sn[x].visits;
  int pick = mctx__sp_pick(c.sn + x, kids, sp_scale(s, c, visits), s.qt);
  int2 h;
  h.x = pick;
  h.y = pick >= 0 ? kids[pick].child : MCTX_UNVISITED;
  c.hop[x] = h;
}

/* Lane 0: walks down from node *x at depth *d along the cached picks,
 * writing each level's node into the path (sp_fill writes the rest).
 * Returns 1 at the end of the simulation (*x the leaf's parent, *leaf the
 * child or MCTX_UNVISITED, *d the depth), 0 where node *x at depth *d needs
 * the dense selection. */
__device__ __forceinline__ int sp_walk(const DevSearch &s, const SpCtx &c, bool root_dense, PathEntry *path,
                                       int32_t *x_io, int32_t *d_io, int32_t *leaf) {
  int32_t x = *x_io, d = *d_io;
  if (!(d == 0 && root_dense)) {
    for (;;) {
      int2 h = c.hop[x];
      if (h.x == MCTX_SP_FALLBACK) break;
      path[d].node = x;
      d++;
      if (h.y == MCTX_UNVISITED || d >= s.max_depth) {
        *x_io = x;
        *d_io = d;
        *leaf = h.y;
        return 1;
      }
      x = h.y;
    }
  }
  *x_io = x;
  *d_io = d;
  return 0;
}

/* The path's levels d0 .. d - 1 that sp_walk walked, as the dense selection
 * records a level (warp, one level a lane). */
__device__ __forceinline__ void sp_fill(const SpCtx &c, PathEntry *path, int32_t d0, int32_t d, int lane) {
  for (int32_t j = d0 + lane; j < d; j += 32) {
    int32_t x = path[j].node;
    int32_t pick = c.hop[x].x;
    mctx__sp_node m = c.sn[x];
    PathEntry e;
    if (pick == MCTX_SP_UNVISITED) {
      e.action = m.u1;
      e.child_visits = 0;
      e.reward = 0.0f;   /* the row's values until the expansion writes the model's */
      e.discount = 0.0f;
    } else {
      mctx__sp_kid k = c.kids[(size_t)x * MCTX_SP_CAP + (size_t)pick];
      e.action = k.action;
      e.child_visits = k.visits;
      e.reward = k.reward;
      e.discount = k.discount;
    }
    e.node = x;
    e.count = m.visits;
    e.node_value = m.value;
    e.ret = 0.0f;
    path[j] = e;
  }
}

/* After d_expand: the leaf's record, and its parent's record of the child. */
__device__ void sp_expanded(const DevSearch &s, const SpCtx &c, int32_t b, int32_t parent, int32_t action,
                            int32_t leaf, int fresh, int lane) {
  const DevTree &t = s.t;
  mctx__sp_node *m = c.sn + leaf;
  if (fresh) {
    /* its kept children's slots start as zeros (the pick reads every slot) */
    ((uint32_t *)(c.kids + (size_t)leaf * MCTX_SP_CAP))[lane] = 0u;
    sp_set_top2(t, d_row(t, b, leaf), t.A, -1, m, lane);
    if (lane == 0) {
      m->visits = t.node_visits[d_node(t, b, leaf)];
      m->value = t.node_values[d_node(t, b, leaf)];
      m->k = 0;
    }
  } else if (lane == 0) {
    /* evaluated again (max_depth): new priors, so no longer sparse */
    m->visits = t.node_visits[d_node(t, b, leaf)];
    m->value = t.node_values[d_node(t, b, leaf)];
    m->k |= MCTX_SP_DENSE;
  }
  int32_t u1 = 0;
  if (lane == 0) {
    mctx__sp_node *p = c.sn + parent;
    mctx__sp_kid *kids = c.kids + (size_t)parent * MCTX_SP_CAP;
    size_t cell = d_row(t, b, parent) + (size_t)action;
    int32_t k = p->k, slot = -1;
    for (int32_t i = 0; i < MCTX_SP_CAP && i < k; i++)
      if (kids[i].action == action) slot = i;
    if (slot >= 0) {
      kids[slot].reward = t.children_rewards[cell];
      kids[slot].discount = t.children_discounts[cell];
    } else if (fresh) {
      if (k < MCTX_SP_CAP) {
        mctx__sp_kid n;
        n.visits = 0;  /* the backward pass counts this simulation */
        n.value = 0.0f;
        n.reward = t.children_rewards[cell];
        n.discount = t.children_discounts[cell];
        n.prior = t.children_prior_probs[cell];
        n.action = action;
        n.child = leaf;
        n.pad = 0;
        kids[k] = n;
      }
      p->k = k + 1;
    }
    u1 = p->u1;
  }
  u1 = __shfl_sync(MCTX_FULL_MASK, u1, 0);
  __syncwarp();
  /* The parent's largest unvisited prior was just taken: the next two. */
  if (fresh && u1 == action) sp_set_top2(t, d_row(t, b, parent), t.A, action, c.sn + parent, lane);
}

/* Element b's search with its records in c (one warp). */
template <int K>
__device__ __forceinline__ void sp_search(const DevSearch &s, const SpCtx &c, PathEntry *path, int32_t b, int lane,
                                          float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  mctx_key rng, final_key;
  d_init_root(s, b, &rng, &final_key, lane);
  if (lane == 0) {
    c.sn[0].visits = t.node_visits[d_node(t, b, 0)];
    c.sn[0].value = t.node_values[d_node(t, b, 0)];
    c.sn[0].k = 0;
  }
  ((uint32_t *)c.kids)[lane] = 0u;  /* the root's slots (the pick reads every slot) */
  sp_set_top2(t, d_row(t, b, 0), t.A, -1, c.sn, lane);
  if (lane == 0) sp_repick(s, c, 0);
  __syncwarp();
  /* The root's invalid actions are masked at depth 0 only: there the dense
   * selection applies the mask. */
  const bool root_dense = s.has_invalid != 0;
  mctx_elem_key ek = s.keys[b];
  int32_t expanded = 0, deepest = 0;
  int32_t base = t.next_node[b];
  const bool counting = s.stats != NULL;
  unsigned long long st[MCTX_SP_STATS];
  for (int i = 0; i < MCTX_SP_STATS; i++) st[i] = 0;
  long long cy0 = counting ? clock64() : 0, cy = cy0;
#define SP_LAP(k) MCTX_LAP(counting, st, cy, k)
  for (int32_t sim = 0; sim < s.S; sim++) {
    mctx_key sim_key = mctx__split_nth(s.prng, rng, 3u, 1u);
    rng = mctx__split_nth(s.prng, rng, 3u, 0u);
    /* The level keys: key(d + 1) = split(key(d))[0], derived only up to a
     * level that needs the dense selection. */
    mctx_key kc = mctx__split_nth(s.prng, sim_key, (uint32_t)ek.group_size, (uint32_t)ek.group_index);
    int32_t kd = 0;
    int32_t node = MCTX_ROOT_INDEX, depth = 0, parent, action, leaf;
    for (;;) {
      int done = 0;
      int32_t x = node, d = depth, l = 0;
      if (lane == 0) done = sp_walk(s, c, root_dense, path, &x, &d, &l);
      done = __shfl_sync(MCTX_FULL_MASK, done, 0);
      x = __shfl_sync(MCTX_FULL_MASK, x, 0);
      d = __shfl_sync(MCTX_FULL_MASK, d, 0);
      __syncwarp();
      sp_fill(c, path, depth, d, lane);
      __syncwarp();
      if (counting) {
        st[MCTX_SP_STAT_SPARSE] += (unsigned long long)(d - depth);
        if (!done) {
          st[MCTX_SP_STAT_DENSE]++;
          if (d == 0 && root_dense) st[MCTX_SP_STAT_DENSE_ROOT]++;
          else if ((c.sn[x].k & ~MCTX_SP_DENSE) > MCTX_SP_CAP || (c.sn[x].k & MCTX_SP_DENSE)) st[MCTX_SP_STAT_DENSE_WIDE]++;
          st[MCTX_SP_STAT_SPLITS] += (unsigned long long)(d - kd);
        }
      }
      SP_LAP(MCTX_SP_STAT_CY_WALK);
      if (done) {
        parent = x;
        depth = d;
        action = path[d - 1].action;
        leaf = __shfl_sync(MCTX_FULL_MASK, l, 0);
        break;
      }
      node = x;
      depth = d;
      while (kd < depth) {
        kc = mctx__split_nth(s.prng, kc, 2u, 0u);
        kd++;
      }
      __syncwarp();
      int32_t next;
      int32_t sel = f_select_muzero<K>(s, b, node, depth, kc, t.A, lane, path, &next);
      SP_LAP(MCTX_SP_STAT_CY_DENSE);
      depth++;
      if (next == MCTX_UNVISITED || depth >= s.max_depth) {
        parent = node;
        action = sel;
        leaf = next;
        break;
      }
      node = next;
    }
    deepest = depth > deepest ? depth : deepest;
    int32_t next = leaf;
    if (next == MCTX_UNVISITED) next = base + sim;
    __syncwarp();
    int fresh = d_expand(s, b, parent, action, next, lane);
    expanded += fresh;
    sp_expanded(s, c, b, parent, action, next, fresh, lane);
    SP_LAP(MCTX_SP_STAT_CY_EXPAND);
    size_t cell = d_row(t, b, parent) + (size_t)action;
    if (lane == 0) {
      path[depth - 1].reward = t.children_rewards[cell];
      path[depth - 1].discount = t.children_discounts[cell];
    }
    __syncwarp();
    f_backward(t, b, depth, t.node_values[d_node(t, b, next)], path, lane, sm_r, sm_d, &c);
    /* The records that changed: the path's nodes and the leaf. */
    for (int32_t j = lane; j <= depth; j += 32) sp_repick(s, c, j < depth ? path[j].node : next);
    __syncwarp();
    SP_LAP(MCTX_SP_STAT_CY_BACKUP);
  }
#undef SP_LAP
  f_end(s, b, base, expanded, deepest, final_key, lane, counting, st, cy, cy0);
}

/* The sparse kernel: up to 4 warps per block, one batch element each, their
 * records in the block's dynamic shared memory after the scale table; LOCAL
 * (one warp per block): the element's tree too, after its records
 * (cuda/local.cuh). */
template <int K, bool LOCAL>
__global__ void __launch_bounds__(128) mctx__search_kernel_sp(DevSearch s) {
  extern __shared__ __align__(16) unsigned char sp_smem[];
  __shared__ float sm_r[4][MCTX_SEG], sm_d[4][MCTX_SEG];
  int warps = (int)(blockDim.x >> 5);
  int w = (int)(threadIdx.x >> 5);
  int lane = (int)(threadIdx.x & 31);
  /* The scale of a node with n visits, n = 0 .. S + 1 (the most a node of a
   * fresh tree has), computed once per block with the dense path's formula. */
  float *scale = (float *)sp_smem;
  int32_t scale_n = s.S + 2;
  for (int32_t n = (int32_t)threadIdx.x; n < scale_n; n += (int32_t)blockDim.x)
    scale[n] = mctx__puct_scale(n, mctx__pb_c(n, s.pb_c_init, s.pb_c_base));
  __syncthreads();
  int32_t b = (int32_t)blockIdx.x * warps + w;
  if (b >= s.t.B) return;
  unsigned char *mine = sp_smem + mctx__sp_table_bytes(s.S) + (size_t)w * mctx__sp_warp_bytes(s.t.N);
  SpCtx c;
  c.sn = (mctx__sp_node *)mine;
  c.kids = (mctx__sp_kid *)(mine + mctx__sp_kids_offset(s.t.N));
  PathEntry *path = (PathEntry *)(mine + mctx__sp_path_offset(s.t.N));
  c.hop = (int2 *)(mine + mctx__sp_hop_offset(s.t.N));
  c.scale = scale;
  c.scale_n = scale_n;
  if constexpr (LOCAL) {
    unsigned char *tree = mine + mctx__sp_warp_bytes(s.t.N);
    DevSearch l = s;
    local_enter<PathEntry>(s, l, tree, b, lane);
    sp_search<K>(l, c, path, b, lane, sm_r[w], sm_d[w]);
    local_leave<PathEntry>(s, tree, b, lane);
  } else {
    sp_search<K>(s, c, path, b, lane, sm_r[w], sm_d[w]);
  }
}

#endif
