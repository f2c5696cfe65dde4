/* mctx/tree.h: the search tree, laid out as DeepMind's mctx lays it out.
 *
 * A structure of arrays over B batch elements, N node slots per element and A
 * actions, with mctx's field names, shapes and sentinels, so a tree can be
 * compared with mctx's field by field. Index [b][n] is b * N + n and
 * [b][n][a] is (b * N + n) * A + a. Fixed-width types only: the CUDA engine
 * uses the same layout on the device (core/hd.h).
 *
 * Node 0 is the root. A node first expanded by simulation i (counting from 0)
 * of a fresh search has index i + 1. Slots that no simulation filled (when a
 * simulation hit max_depth and evaluated an existing leaf again, as mctx does)
 * keep node_visits 0. Rows [b][n][*] of a node that was never expanded are
 * not initialized in memory; mctx_tree_node_used() tells which are, and the
 * exporters write mctx's defaults (index -1, zeros) for the others.
 *
 * For stochastic_muzero, the action axis holds A decision actions followed by
 * C chance outcomes (num_actions = A + C, num_decision_actions = A), and
 * is_decision marks decision nodes; what a policy returns, as in mctx, keeps
 * only the decision actions. */
#ifndef MCTX_TREE_H
#define MCTX_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCTX_ROOT_INDEX 0
#define MCTX_NO_PARENT (-1)
#define MCTX_UNVISITED (-1)

typedef struct mctx_tree {
  int32_t batch_size;            /* B */
  int32_t num_nodes;             /* N: node slots per element */
  int32_t num_actions;           /* A (A + C for stochastic trees) */
  int32_t num_decision_actions;  /* A */
  int32_t embedding_bytes;       /* E: bytes of one node's embedding */

  int32_t *node_visits;          /* [B][N] */
  float *raw_values;             /* [B][N] */
  float *node_values;            /* [B][N] */
  int32_t *parents;              /* [B][N] */
  int32_t *action_from_parent;   /* [B][N] */
  int32_t *children_index;       /* [B][N][A] */
  float *children_prior_logits;  /* [B][N][A] */
  int32_t *children_visits;      /* [B][N][A] */
  float *children_rewards;       /* [B][N][A] */
  float *children_discounts;     /* [B][N][A] */
  float *children_values;        /* [B][N][A] */
  uint8_t *embeddings;           /* [B][N][E] */
  uint8_t *root_invalid_actions; /* [B][A]: 1 = invalid */

  /* Beyond mctx's fields: */
  float *children_prior_probs;   /* [B][N][A]: softmax of the logits, cached */
  uint8_t *is_decision;          /* [B][N]: stochastic trees only, else NULL */
  float *root_gumbel;            /* [B][A]: gumbel_muzero's noise, else NULL */
  int32_t *next_node;            /* [B]: first slot the next simulation uses */
  int32_t max_depth_reached;     /* deepest simulation of the last search */
  int64_t num_expanded_nodes;    /* nodes created by the last search */
} mctx_tree;

/* Allocates a tree of B x N x A with E-byte embeddings. `stochastic` adds
 * is_decision; `gumbel` adds root_gumbel. Returns NULL (st filled) when
 * the size overflows or memory runs out. Free with mctx_tree_free(). */
mctx_tree *mctx_tree_new(int32_t B, int32_t N, int32_t A, int32_t A_decision,
                         int32_t E, int stochastic, int gumbel, mctx_status *st);
/* Frees the tree. NULL is a harmless no-op. */
void mctx_tree_free(mctx_tree *t);
/* Bytes mctx_tree_new would allocate for these dimensions (0 on overflow). */
size_t mctx_tree_bytes(int32_t B, int32_t N, int32_t A, int32_t E, int stochastic, int gumbel);

/* Whether node n of element b holds data (its rows are initialized). */
int mctx_tree_node_used(const mctx_tree *t, int32_t b, int32_t n);

/* Root statistics as mctx's Tree.summary(), over the decision actions:
 * visit_counts[B][A], visit_probs[B][A], value[B], qvalues[B][A]. Any output
 * may be NULL. */
void mctx_tree_summary(const mctx_tree *t, float *visit_counts, float *visit_probs,
                       float *value, float *qvalues);

/* Tree reuse (mctx issues #51 and #86): makes `dst` hold, for each element
 * b, the subtree of `src` under the root's child actions[b] as a tree of its
 * own, with every statistic kept, its nodes renumbered in order, and room for
 * `extra_nodes` more. The chosen child must have been expanded. `dst` is
 * allocated here; free it with mctx_tree_free(). */
int mctx_tree_reuse(const mctx_tree *src, const int32_t *actions, int32_t extra_nodes,
                    mctx_tree **dst, mctx_status *st);

/* Checks the invariants of a finished tree: parents, actions and children
 * agree; visits add up (without max_depth: each expanded node's visits = 1 +
 * the sum over its children); no invalid root action was visited. Returns 0
 * or MCTX_EINTERNAL with st naming the first violation. */
int mctx_tree_check(const mctx_tree *t, int max_depth_used, mctx_status *st);

#ifdef __cplusplus
}
#endif
#endif
