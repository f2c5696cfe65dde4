/* cuda/pipeline.cuh: the pick cache with its choices made beside the
 * search (MCTX_CUDA_GP_PIPELINE=1; compiled in cuda/pipeline.cu).
 *
 * The pick cache of cuda/fast.cuh makes each simulation's new choices
 * between two block barriers: warp 0 walks, expands and backs up while the
 * other warps wait, then every warp makes one changed node's choice while
 * warp 0 waits for the slowest. Here warp 0 makes only the root's new choice
 * and walks on; the other changed nodes' choices (the path's interior nodes
 * and the leaf) are jobs for the remaining warps, the pickers, which make
 * them while warp 0 goes on: a walk waits only where it reaches a node whose
 * choice is still being made. The root's choice reads warp 0's copy of the
 * root in registers (GpRoot). The synthetic model's new row is still made by
 * warp 1 beside warp 0's backup. Choices, expansions and backups are those of
 * cuda/fast.cuh (the same functions, so the same arithmetic).
 *
 * Why every tree is still the serial search's: a choice reads its node's
 * record and row, which only a simulation through that node (or ending at
 * it) writes, and such a simulation's walk first waits for the node's
 * pending choice (at max_depth, the leaf's too). So a job's reads never meet
 * warp 0's writes, and every walk follows the choices the serial search
 * would. The signals between warps are shared-memory atomics, each store
 * after a fence and each read before one (gp_fence). */
#ifndef MCTX_CUDA_PIPELINE_CUH
#define MCTX_CUDA_PIPELINE_CUH

#include "cuda/fast.cuh"

#define MCTX_GP_PENDING (-1) /* pick[x].x while x's choice is being made */

/* The pipeline's counters, in shared memory. */
enum {
  GP_PUB,    /* root choices published (warp 1 walks simulation i once it is > i) */
  GP_ROWS,   /* simulations whose new row warp 1 has written */
  GP_TAIL,   /* jobs published */
  GP_TICKET, /* jobs claimed by the pickers */
  GP_STOP,   /* the simulations are over */
  GP_COUNTERS
};

/* fence.acq_rel.cta: orders this thread's memory operations for the block
 * (what the signals below need; __threadfence_block is the heavier
 * sequentially consistent fence). */
__device__ __forceinline__ void gp_fence() { asm volatile("fence.acq_rel.cta;" ::: "memory"); }
__device__ __forceinline__ int32_t gp_get(int32_t *p) { return atomicAdd(p, 0); }
__device__ __forceinline__ void gp_put(int32_t *p, int32_t v) { atomicExch(p, v); }
__device__ __forceinline__ int2 gp_get_pick(int2 *p) {
  /* a 64-bit compare-and-swap that never changes the word (a child is never
   * the root, so (0, 0) is no choice; were it there, it would be rewritten
   * as it was): one native instruction, where a 64-bit atomicAdd is a loop */
  unsigned long long v = atomicCAS((unsigned long long *)p, 0ull, 0ull);
  return make_int2((int32_t)(uint32_t)v, (int32_t)(uint32_t)(v >> 32));
}
__device__ __forceinline__ void gp_put_pick(int2 *p, int32_t action, int32_t child) {
  atomicExch((unsigned long long *)p, (unsigned long long)(uint32_t)action | (unsigned long long)(uint32_t)child << 32);
}

/* Lane 0 waits until *p >= v; then the warp sees what was published before
 * (lane 0's fence, then the warp's barrier). */
__device__ __forceinline__ void gp_wait(int32_t *p, int32_t v, int lane) {
  if (lane == 0) {
    while (gp_get(p) < v) {
    }
    gp_fence();
  }
  __syncwarp();
}

/* Node x's made choice (lane 0 waits while it is pending), to every lane. */
__device__ __forceinline__ int2 gp_wait_pick(int2 *pick, int32_t x, int lane) {
  int2 v = make_int2(0, 0);
  if (lane == 0)
    do v = gp_get_pick(pick + x);
    while (v.x == MCTX_GP_PENDING);
  v.x = __shfl_sync(MCTX_FULL_MASK, v.x, 0);
  v.y = __shfl_sync(MCTX_FULL_MASK, v.y, 0);
  return v;
}

/* The walk down the cached choices from the root, whose choice is pn: returns
 * the depth, the last level's node and action and the child it leads to
 * (MCTX_UNVISITED: not expanded yet). lvl: the levels (node, action), when
 * not NULL. A leaf at max_depth is an existing node, expanded again: its
 * pending choice is waited for too. */
__device__ __forceinline__ int32_t gp_walk(int2 *pick, int2 pn, int2 *lvl, int32_t max_depth, int lane,
                                           int32_t *node_out, int32_t *act_out, int32_t *leaf_out,
                                           unsigned long long *levels) {
  int32_t node = MCTX_ROOT_INDEX, depth = 0;
  for (;;) {
    if (lvl && lane == 0) lvl[depth] = make_int2(node, pn.x);
    depth++;
    if (pn.y == MCTX_UNVISITED || depth >= max_depth) break;
    node = pn.y;
    pn = gp_wait_pick(pick, node, lane);
  }
  if (pn.y != MCTX_UNVISITED) gp_wait_pick(pick, pn.y, lane);
  /* the choices were made before this warp writes what they read */
  if (lane == 0) gp_fence();
  __syncwarp();
  *levels += (unsigned long long)depth;
  *node_out = node;
  *act_out = pn.x;
  *leaf_out = pn.y;
  return depth;
}

/* Warp 0 publishes a simulation's changes: n jobs (node nodeof(j) for
 * j < n), each node's choice marked pending and the node listed in the ring
 * of N slots at the tail (a slot is taken again once its picker has emptied
 * it); the root's new choice; then, after one fence (the simulation's writes
 * to the tree too), the tail for the pickers and `pub` for warp 1 (GP_PUB).
 * tail: the jobs so far; tm: tail % N. */
template <typename F>
__device__ __forceinline__ void gp_publish(int2 *pick, int32_t *jobs, int32_t N, int32_t *gs, int32_t &tail,
                                           int32_t &tm, int32_t n, F nodeof, int2 root, int32_t pub, int lane) {
  for (int32_t j = lane; j < n; j += 32) {
    int32_t x = nodeof(j), slot = tm + j;
    slot = slot >= N ? slot - N : slot;
    gp_put_pick(pick + x, MCTX_GP_PENDING, MCTX_UNVISITED);
    while (gp_get(jobs + slot) != -1) {
    }
    gp_put(jobs + slot, x);
  }
  if (lane == 0) gp_put_pick(pick + MCTX_ROOT_INDEX, root.x, root.y);
  __syncwarp();
  gp_fence();
  tail += n;
  tm += n;
  tm = tm >= N ? tm - N : tm;
  if (lane == 0) {
    gp_put(gs + GP_TAIL, tail);
    gp_put(gs + GP_PUB, pub);
  }
}

/* A picker's loop: claim the next job, wait until it is published, make the
 * node's choice into pick[x] (.x the action, .y the child it leads to,
 * MCTX_UNVISITED until expanded); until the search stops. Out of line: the
 * simulation loop's code stays warp 0's alone. */
template <int K>
__device__ __noinline__ void gp_picker(const DevSearch &s, int32_t b, int lane, int w, int2 *pick, int32_t *jobs,
                                       int32_t *gs) {
  const int32_t N = s.t.N;
  for (;;) {
    int32_t x = -1;
    if (lane == 0) {
      int32_t ticket = atomicAdd(gs + GP_TICKET, 1);
      for (;;) {
        if (gp_get(gs + GP_TAIL) > ticket) {
          gp_fence();
          x = atomicExch(jobs + ticket % N, -1);
          break;
        }
        if (gp_get(gs + GP_STOP)) break;
        /* a picker sharing warp 0's scheduler polls gently */
        if ((w & 3) == 0) __nanosleep(32);
      }
    }
    x = __shfl_sync(MCTX_FULL_MASK, x, 0);
    if (x < 0) return;
    /* lane 0's fence above, then the barrier: the warp reads the node after
     * the job's publication */
    __syncwarp();
    int32_t child;
    int32_t a = f_select_gumbel_interior<K>(s, b, x, 1, lane, NULL, &child);
    __syncwarp();
    if (lane == 0) {
      gp_fence();
      gp_put_pick(pick + x, a, child);
    }
  }
}

/* Warp 0's copy of the root (up to 128 actions: in registers across the
 * simulations). Only warp 0's own backups change the root's record and row
 * (its priors, logits, noise and invalid actions are fixed for the search),
 * so each is applied to the copy as it is made (gp_root_apply), and the
 * root's choice reads no memory. A walk of more than 32 levels, backed up
 * by f_backward, reloads it. sp: the visited children's prior mass as last
 * summed, or -1 once the visited children changed (qt_prepare_k). */
template <int K>
struct GpRoot {
  Kids<K> c;
  float g[K], value, raw, sp;
  uint32_t invalid;
};

template <int K>
__device__ __forceinline__ void gp_root_load(const DevSearch &s, int32_t b, int lane, GpRoot<K> &R) {
  int32_t visits;
  load_root<K>(s.t, b, lane, R.c, R.g, &R.invalid, &visits, &R.value, &R.raw);
  R.sp = -1.0f;
}

/* The simulation's writes to the root (gp_expand_backup's level 0: action
 * a of a path of L levels ending at node `next`) applied to the copy. */
template <int K>
__device__ __forceinline__ void gp_root_apply(GpRoot<K> &R, int32_t a, int32_t L, int32_t next,
                                              const GpRootCell &cell, int lane) {
  const int32_t kk = a >> 5;
  const bool mine = (a & 31) == lane;
#pragma unroll
  for (int k = 0; k < K; k++) {
    if (k == kk && mine) {
      R.c.n[k] = cell.child_visits;
      R.c.v[k] = cell.child_value;
      R.c.r[k] = cell.reward;
      R.c.d[k] = cell.discount;
      if (L == 1) R.c.ci[k] = next; /* the expansion's parent was the root */
    }
  }
  R.value = cell.value;
  if (cell.child_visits == 1) R.sp = -1.0f; /* a child's first visit */
}

/* Warp 0's choice for the root: .x the action, .y the child it leads to.
 * RREG: from the copy in R (else read from memory). */
template <int K, bool RREG>
__device__ __forceinline__ int2 gp_root_choice(const DevSearch &s, int32_t b, int32_t budget, int lane,
                                               const ConsideredTable &ct, GpRoot<K> &R) {
  int32_t child, a;
  if constexpr (RREG) {
    a = gumbel_root_choice<K>(s, R.c, R.g, R.invalid, R.value, R.raw, budget, lane, &ct, &R.sp);
    child = chosen_index<K>(R.c, a);
  } else {
    a = f_select_gumbel_root<K>(s, b, budget, lane, NULL, &child, &ct);
  }
  return make_int2(a, child);
}

/* Warp 1's loop for the synthetic model: each simulation's walk (once warp
 * 0 has published the root's choice for it) and its new row (gp_expand,
 * GP_ROW), counted in GP_ROWS. Out of line, as gp_picker. */
template <int K>
__device__ __noinline__ void gp_rows(const DevSearch &s, int32_t b, int32_t base, int lane, int2 *pick,
                                     int32_t *gs) {
  for (int32_t sim = 0; sim < s.S; sim++) {
    gp_wait(gs + GP_PUB, sim + 1, lane);
    int2 root = gp_wait_pick(pick, MCTX_ROOT_INDEX, lane);
    int32_t node, act, leaf;
    unsigned long long levels = 0;
    int32_t depth = gp_walk(pick, root, NULL, s.max_depth, lane, &node, &act, &leaf, &levels);
    if (depth <= 32) {
      /* deeper walks: warp 0 expands alone (gp_deep) */
      float r_, d_, v_;
      int32_t next = leaf == MCTX_UNVISITED ? base + sim : leaf;
      gp_expand<K, true>(s, b, node, act, next, leaf == MCTX_UNVISITED, GP_ROW, lane, &r_, &d_, &v_);
    }
    gp_fence();
    if (lane == 0) gp_put(gs + GP_ROWS, sim + 1);
  }
}

/* Element b's whole search by the block's W warps. gp: the block's dynamic
 * shared memory (mctx__gpp_smem_bytes). SYN: the synthetic model, with its
 * expansion split between warps 0 and 1 when there are three warps or more
 * (the kernel for the other models leaves the split out). */
template <int K, bool SYN>
__device__ __forceinline__ void f_search_gpp(const DevSearch &s, int32_t b, int lane, int w, int W, int2 *gp,
                                            float *sm_r, float *sm_d) {
  const DevTree &t = s.t;
  const int32_t N = t.N;
  int2 *pick = gp;                                 /* [N] each node's cached choice */
  int2 *lvl = gp + N;                              /* [N] the simulation's path: node, action */
  int32_t *jobs = (int32_t *)(gp + 2 * (size_t)N); /* [N] the pickers' ring of nodes (-1: empty) */
  int32_t *ctab = jobs + N;                        /* [S + 1] considered visits */
  __shared__ int32_t sh[4]; /* budget, first free node, considered count, root visits */
  __shared__ int32_t gs[GP_COUNTERS];
  const bool split = SYN && W >= 3;
  mctx_key final_key;
  const bool counting = s.stats != NULL && w == 0;
  unsigned long long st[MCTX_SP_STATS];
  long long cy0 = mctx__trace_start(st, counting), cy = cy0;
  /* every choice pending, the ring empty, the counters 0 (before gp_start's
   * last barrier) */
  for (int32_t i = (int32_t)threadIdx.x; i < N; i += (int32_t)blockDim.x) {
    pick[i] = make_int2(MCTX_GP_PENDING, MCTX_UNVISITED);
    jobs[i] = -1;
  }
  if (threadIdx.x < GP_COUNTERS) gs[threadIdx.x] = 0;
  const ConsideredTable ct = gp_start(s, b, lane, w, sh, ctab, &final_key);
  const int32_t budget = sh[0], base = sh[1];
  if (w != 0) {
    if (split && w == 1) gp_rows<K>(s, b, base, lane, pick, gs);
    else gp_picker<K>(s, b, lane, w, pick, jobs, gs);
    return;
  }
  /* The choices of every node there is (a reused tree's too): the root's
   * here, the others' by the pickers. */
  int32_t tail = 0, tm = 0;
  constexpr bool RREG = K <= 4; /* the root's copy in registers (GpRoot) */
  GpRoot<K> R;
  if constexpr (RREG) gp_root_load<K>(s, b, lane, R);
  int2 root = gp_root_choice<K, RREG>(s, b, budget, lane, ct, R);
  gp_publish(pick, jobs, N, gs, tail, tm, base - 1, [](int32_t j) { return j + 1; }, root, 1, lane);
  MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_ROOT);
  int32_t expanded = 0, deepest = 0;
  for (int32_t sim = 0; sim < s.S; sim++) {
    int32_t node, act, leaf;
    int32_t depth = gp_walk(pick, root, lvl, s.max_depth, lane, &node, &act, &leaf, &st[MCTX_SP_STAT_DENSE]);
    int32_t next = leaf == MCTX_UNVISITED ? base + sim : leaf;
    deepest = depth > deepest ? depth : deepest;
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_WALK);
    if (depth <= 32) {
      GpRootCell cell;
      expanded += gp_expand_backup<K, SYN, RREG>(s, b, lvl, depth, next, split ? GP_RECORD : GP_ALL, lane, &cell);
      if constexpr (RREG) gp_root_apply<K>(R, root.x, depth, next, cell, lane);
      MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_EXPAND);
    } else {
      expanded += gp_deep<K, SYN>(s, b, lvl, depth, node, act, next, lane, sm_r, sm_d);
      if constexpr (RREG) gp_root_load<K>(s, b, lane, R);
    }
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_BACKUP);
    if (sim + 1 == s.S) break;
    /* The changed nodes' choices: the root's here, first (the next walk
     * starts from it; the backup's stores drain meanwhile, so the fence
     * that publishes them is short); the path's interior nodes' and the
     * leaf's by the pickers (the leaf's reads the new row: warp 1's). */
    root = gp_root_choice<K, RREG>(s, b, budget, lane, ct, R);
    if (split) gp_wait(gs + GP_ROWS, sim + 1, lane);
    gp_publish(pick, jobs, N, gs, tail, tm, depth, [&](int32_t j) { return j + 1 < depth ? lvl[j + 1].x : next; },
               root, sim + 2, lane);
    MCTX_LAP(counting, st, cy, MCTX_SP_STAT_CY_DENSE);
  }
  if (lane == 0) gp_put(gs + GP_STOP, 1);
  /* a copy for the call: st itself stays in registers */
  unsigned long long fin[MCTX_SP_STATS];
#pragma unroll
  for (int i = 0; i < MCTX_SP_STATS; i++) fin[i] = st[i];
  gp_end(s, b, base, expanded, deepest, final_key, lane, counting, fin, cy, cy0);
}

/* The pick cache's dynamic shared memory: the cached choices and the path,
 * [N] int2 each, the pickers' ring, [N] int32, then the considered visits,
 * [S + 1] int32. */
MCTX_HD static inline size_t mctx__gpp_smem_bytes(int32_t N, int32_t S) {
  return 2 * (size_t)N * 8 + (size_t)N * 4 + ((size_t)S + 1) * 4;
}

/* One block of 2 to MCTX_GP_WARPS_MAX warps per element; dynamic shared
 * memory: mctx__gpp_smem_bytes. SYN: see f_search_gpp. */
template <int K, bool SYN>
__global__ void __launch_bounds__(32 * MCTX_GP_WARPS_MAX) mctx__search_kernel_gpp(const __grid_constant__ DevSearch s) {
  int32_t b = (int32_t)blockIdx.x;
  if (b >= s.t.B) return;
  extern __shared__ __align__(16) int2 gpp_smem[];
  __shared__ float sm_r[MCTX_SEG], sm_d[MCTX_SEG];
  f_search_gpp<K, SYN>(s, b, (int)(threadIdx.x & 31), (int)(threadIdx.x >> 5), (int)(blockDim.x >> 5), gpp_smem,
                       sm_r, sm_d);
}

#ifndef MCTX_CUDA_PIPELINE_TU
/* The pipelined pick cache's kernel for A actions (syn: the synthetic
 * model's, else the other models'), for cudaLaunchKernel with the
 * DevSearch as its one argument: one block of 2 to MCTX_GP_WARPS_MAX warps
 * per element, dynamic shared memory mctx__gpp_smem_bytes; cuda/pipeline.cu. */
const void *mctx__gpp_kernel(int32_t A, bool syn);
#endif

#endif
