/* mctx/engine.h: engines run searches.
 *
 * An engine takes a search description, a model and a batch of roots, and
 * fills a tree and a result. `cpu` runs the batch over a pool of threads;
 * `cuda` (when built) runs the whole search on one GPU. Both give the same
 * result for float32 models; the CPU engine is the oracle.
 *
 * The tree is the caller's: allocate it with mctx_tree_new() for at least
 * num_simulations + 1 nodes (more when continuing a reused tree), and keep it
 * to read the tree afterwards or to reuse it for the next search. */
#ifndef MCTX_ENGINE_H
#define MCTX_ENGINE_H

#include "mctx/errors.h"
#include "mctx/model.h"
#include "mctx/search.h"
#include "mctx/tree.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mctx_engine mctx_engine;

typedef struct mctx_engine_vtable {
  const char *name;
  int (*search)(mctx_engine *e, const mctx_search_params *p, const mctx_model *model,
                const mctx_root *root, int continue_tree, mctx_tree *tree,
                mctx_result *res, mctx_status *st);
  void (*destroy)(mctx_engine *e);
} mctx_engine_vtable;

struct mctx_engine {
  const mctx_engine_vtable *vt;
};

/* The CPU engine over `threads` threads (<= 0: one per core). */
mctx_engine *mctx_engine_cpu_new(int threads, mctx_status *st);
/* Threads the CPU engine runs. */
int mctx_engine_cpu_threads(const mctx_engine *e);

/* Runs a search (see mctx_engine_vtable.search). With continue_tree = 0 the
 * tree is reset from `root`; with 1 the tree (from mctx_tree_reuse) is
 * searched further: its root keeps its statistics, and root->prior_logits,
 * value and embeddings may be NULL. `tree` may be NULL when only the result
 * is wanted: the engine then uses a tree of its own (on the GPU, it never
 * copies the tree back). Returns 0 or an error with st filled. */
int mctx_engine_search(mctx_engine *e, const mctx_search_params *p, const mctx_model *model,
                       const mctx_root *root, int continue_tree, mctx_tree *tree,
                       mctx_result *res, mctx_status *st);
/* Frees the engine. NULL is a harmless no-op. */
void mctx_engine_free(mctx_engine *e);
/* The engine's name ("cpu", "cuda"). */
const char *mctx_engine_name(const mctx_engine *e);

#ifdef __cplusplus
}
#endif
#endif
