/* cpu/engine.c: the CPU engine. The batch is cut into contiguous slices, one
 * per thread of a pool (the calling thread included); each slice runs the
 * whole search of core/search.c for its elements. Elements draw their own
 * random numbers, so any number of threads gives the same result. */
#include <stdlib.h>
#include <unistd.h>

#include "core/search-impl.h"
#include "util/cpus.h"
#include "cpu/pool.h"
#include "mctx/engine.h"

typedef struct cpu_engine {
  mctx_engine base;
  int threads;
  mctx_pool *pool;
} cpu_engine;

typedef struct slice_job {
  const mctx__search *s;
  int nslices;
  int32_t B;
  int *rc;
  int64_t *expanded;
  int32_t *depth;
  mctx_status *st;
} slice_job;

static void run_slice(void *ctx, int i) {
  slice_job *j = ctx;
  int32_t b0 = (int32_t)((int64_t)j->B * i / j->nslices);
  int32_t b1 = (int32_t)((int64_t)j->B * (i + 1) / j->nslices);
  mctx__work *w = mctx__work_new(j->s, b1 - b0);
  if (!w) {
    j->rc[i] = mctx_status_set(&j->st[i], MCTX_ENOMEM, NULL, "out of memory for the search's work area");
    return;
  }
  j->rc[i] = mctx__search_slice(j->s, b0, b1, w, &j->expanded[i], &j->depth[i], &j->st[i]);
  mctx__work_free(w);
}

static int cpu_search(mctx_engine *e, const mctx_search_params *p, const mctx_model *model,
                      const mctx_root *root, int continue_tree, mctx_tree *tree, mctx_result *res,
                      mctx_status *st) {
  cpu_engine *ce = (cpu_engine *)e;
  if (!(model->info.engines & MCTX_ENGINE_CPU))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "model '%s' does not run on the CPU", model->vt->name);
  /* Without a tree of the caller's, the search uses one of its own. */
  mctx_tree *own = NULL;
  if (!tree) {
    if (continue_tree)
      return mctx_status_set(st, MCTX_EINVALID, "tree", "continuing a search needs the reused tree");
    int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
    int32_t C = stochastic ? model->info.num_chance_outcomes : 0;
    if (p->num_simulations < 1 || root->num_actions < 1 || root->batch_size < 1)
      return mctx_search_params_check(p, root->num_actions, st) ? st->code
             : mctx_status_set(st, MCTX_ERANGE, "root_input.batch_size", "must be >= 1");
    own = tree = mctx_tree_new(root->batch_size, p->num_simulations + 1, root->num_actions + (C > 0 ? C : 0),
                               root->num_actions, model->info.embedding_bytes, stochastic,
                               p->policy == MCTX_POLICY_GUMBEL_MUZERO, st);
    if (!tree) return st ? st->code : MCTX_ENOMEM;
  }
  mctx__search s;
  int rc = mctx__search_prepare(&s, p, model, root, continue_tree, tree, res, st);
  if (rc != 0) { mctx_tree_free(own); return rc; }
  int32_t B = tree->batch_size;
  /* Small batches stay on the calling thread: a slice should be worth a hand-off. */
  int nslices = ce->threads;
  if (nslices > B) nslices = B;
  if ((int64_t)B * p->num_simulations < 4096) nslices = 1;
  int *rcs = calloc((size_t)nslices, sizeof(int));
  int64_t *expanded = calloc((size_t)nslices, sizeof(int64_t));
  int32_t *depth = calloc((size_t)nslices, sizeof(int32_t));
  mctx_status *sts = calloc((size_t)nslices, sizeof(mctx_status));
  if (!rcs || !expanded || !depth || !sts) {
    free(rcs); free(expanded); free(depth); free(sts);
    mctx_tree_free(own);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  slice_job job = {&s, nslices, B, rcs, expanded, depth, sts};
  mctx_pool_run(ce->pool, nslices, run_slice, &job);
  rc = 0;
  int64_t total = 0;
  int32_t most = 0;
  for (int i = 0; i < nslices; i++) {
    if (rcs[i] != 0 && rc == 0) {
      rc = rcs[i];
      if (st) *st = sts[i];
    }
    total += expanded[i];
    most = depth[i] > most ? depth[i] : most;
  }
  tree->num_expanded_nodes = total;
  tree->max_depth_reached = most;
  res->num_expanded_nodes = total;
  res->max_depth_reached = most;
  free(rcs); free(expanded); free(depth); free(sts);
  mctx_tree_free(own);
  return rc;
}

static void cpu_destroy(mctx_engine *e) {
  cpu_engine *ce = (cpu_engine *)e;
  mctx_pool_free(ce->pool);
  free(ce);
}

static const mctx_engine_vtable CPU_VT = {"cpu", cpu_search, cpu_destroy};

mctx_engine *mctx_engine_cpu_new(int threads, mctx_status *st) {
  if (threads <= 0) {
    threads = mctx_cpu_count();
  }
  if (threads > 1024) threads = 1024;
  cpu_engine *ce = calloc(1, sizeof *ce);
  if (!ce) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  ce->base.vt = &CPU_VT;
  ce->threads = threads;
  ce->pool = mctx_pool_new(threads - 1);
  if (!ce->pool) {
    free(ce);
    mctx_status_set(st, MCTX_ENOMEM, NULL, "cannot start %d threads", threads);
    return NULL;
  }
  return &ce->base;
}

int mctx_engine_cpu_threads(const mctx_engine *e) { return ((const cpu_engine *)e)->threads; }

int mctx_engine_search(mctx_engine *e, const mctx_search_params *p, const mctx_model *model,
                       const mctx_root *root, int continue_tree, mctx_tree *tree, mctx_result *res,
                       mctx_status *st) {
  mctx_status_clear(st);
  return e->vt->search(e, p, model, root, continue_tree, tree, res, st);
}

void mctx_engine_free(mctx_engine *e) {
  if (e) e->vt->destroy(e);
}

const char *mctx_engine_name(const mctx_engine *e) { return e->vt->name; }
