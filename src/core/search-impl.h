/* core/search-impl.h: the search loop of mctx over a slice of the batch.
 *
 * The CPU engine cuts the batch into contiguous slices and runs
 * mctx__search_slice() on each from its own thread. Every batch element
 * derives its own random draws (mctx_elem_key), so the result does not depend
 * on how the batch is cut: one thread or many give the same bits. */
#ifndef MCTX_CORE_SEARCH_IMPL_H
#define MCTX_CORE_SEARCH_IMPL_H

#include "mctx/engine.h"
#include "mctx/model.h"
#include "mctx/search.h"
#include "mctx/tree.h"

/* A search shared by the threads that run its slices (read-only there, but
 * for the per-element arrays each slice owns). */
typedef struct mctx__search {
  const mctx_search_params *p;
  mctx_qtransform qt;
  const mctx_model *model;
  const mctx_root *root;
  mctx_tree *tree;
  mctx_result *res;
  int continue_tree;
  int32_t S;           /* simulations */
  int32_t max_depth;   /* effective: num_simulations when none */
  int32_t A;           /* the tree's action axis (A + C when stochastic) */
  int32_t Ad;          /* decision actions */
  int32_t C;           /* chance outcomes */
  int32_t E;
  int32_t group;       /* elements searched together */
} mctx__search;

/* Per-slice scratch, sized for `cap` elements. */
typedef struct mctx__work mctx__work;

mctx__work *mctx__work_new(const mctx__search *s, int32_t cap);
void mctx__work_free(mctx__work *w);

/* Runs the whole search for elements [b0, b1). Returns 0, or an error with st
 * filled; the slice's statistics go to *expanded and *max_depth. */
int mctx__search_slice(const mctx__search *s, int32_t b0, int32_t b1, mctx__work *w,
                       int64_t *expanded, int32_t *max_depth, mctx_status *st);

/* Checks that the search fits the tree and the model; fills s. */
int mctx__search_prepare(mctx__search *s, const mctx_search_params *p, const mctx_model *model,
                         const mctx_root *root, int continue_tree, mctx_tree *tree,
                         mctx_result *res, mctx_status *st);

#endif
