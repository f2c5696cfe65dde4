/* core/tree.c: allocation of mctx_tree, its summary, tree reuse and the
 * invariant checks that tests and debug builds run on finished trees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"
#include "core/node-impl.h"
#include "core/reduce-impl.h"
#include "mctx/tree.h"

/* Multiplies with overflow detection; returns 0 on overflow. */
static size_t mul3(size_t a, size_t b, size_t c) {
  if (a && b > SIZE_MAX / a) return 0;
  size_t ab = a * b;
  if (ab && c > SIZE_MAX / ab) return 0;
  return ab * c;
}

size_t mctx_tree_bytes(int32_t B, int32_t N, int32_t A, int32_t E, int stochastic, int gumbel) {
  if (B <= 0 || N <= 0 || A <= 0 || E < 0) return 0;
  size_t bn = mul3((size_t)B, (size_t)N, 1);
  size_t bna = mul3((size_t)B, (size_t)N, (size_t)A);
  size_t bne = mul3((size_t)B, (size_t)N, (size_t)E);
  if (!bn || !bna || (E && !bne)) return 0;
  size_t total = 0;
  size_t parts[] = {
    bn * 4 * 5,                 /* visits, raw, values, parents, action_from_parent */
    bna * 4 * 7,                /* six children arrays + the prior probs cache */
    bne,                        /* embeddings */
    (size_t)B * (size_t)A,      /* root invalid actions */
    stochastic ? bn : 0,
    gumbel ? (size_t)B * (size_t)A * 4 : 0,
    (size_t)B * 4,
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (parts[i] > SIZE_MAX - total) return 0;
    total += parts[i];
  }
  return total;
}

mctx_tree *mctx_tree_new(int32_t B, int32_t N, int32_t A, int32_t A_decision, int32_t E,
                         int stochastic, int gumbel, mctx_status *st) {
  size_t bytes = mctx_tree_bytes(B, N, A, E, stochastic, gumbel);
  if (!bytes || A_decision <= 0 || A_decision > A) {
    mctx_status_set(st, MCTX_ERANGE, NULL, "invalid tree dimensions %d x %d x %d", (int)B, (int)N, (int)A);
    return NULL;
  }
  mctx_tree *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  t->batch_size = B;
  t->num_nodes = N;
  t->num_actions = A;
  t->num_decision_actions = A_decision;
  t->embedding_bytes = E;
  size_t bn = (size_t)B * (size_t)N, bna = bn * (size_t)A;
  t->node_visits = calloc(bn, sizeof(int32_t));
  t->raw_values = malloc(bn * sizeof(float));
  t->node_values = malloc(bn * sizeof(float));
  t->parents = malloc(bn * sizeof(int32_t));
  t->action_from_parent = malloc(bn * sizeof(int32_t));
  t->children_index = malloc(bna * sizeof(int32_t));
  t->children_prior_logits = malloc(bna * sizeof(float));
  t->children_visits = malloc(bna * sizeof(int32_t));
  t->children_rewards = malloc(bna * sizeof(float));
  t->children_discounts = malloc(bna * sizeof(float));
  t->children_values = malloc(bna * sizeof(float));
  t->children_prior_probs = malloc(bna * sizeof(float));
  t->embeddings = malloc(E ? bn * (size_t)E : 1);
  t->root_invalid_actions = calloc((size_t)B * (size_t)A, 1);
  t->next_node = calloc((size_t)B, sizeof(int32_t));
  if (stochastic) t->is_decision = calloc(bn, 1);
  if (gumbel) t->root_gumbel = calloc((size_t)B * (size_t)A, sizeof(float));
  if (!t->node_visits || !t->raw_values || !t->node_values || !t->parents || !t->action_from_parent ||
      !t->children_index || !t->children_prior_logits || !t->children_visits || !t->children_rewards ||
      !t->children_discounts || !t->children_values || !t->children_prior_probs || !t->embeddings ||
      !t->root_invalid_actions || !t->next_node || (stochastic && !t->is_decision) ||
      (gumbel && !t->root_gumbel)) {
    mctx_tree_free(t);
    goto oom;
  }
  return t;
oom:
  mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for a tree of %zu bytes", bytes);
  return NULL;
}

void mctx_tree_free(mctx_tree *t) {
  if (!t) return;
  free(t->node_visits); free(t->raw_values); free(t->node_values); free(t->parents);
  free(t->action_from_parent); free(t->children_index); free(t->children_prior_logits);
  free(t->children_visits); free(t->children_rewards); free(t->children_discounts);
  free(t->children_values); free(t->children_prior_probs); free(t->embeddings);
  free(t->root_invalid_actions); free(t->next_node); free(t->is_decision); free(t->root_gumbel);
  free(t);
}

int mctx_tree_node_used(const mctx_tree *t, int32_t b, int32_t n) {
  return t->node_visits[(size_t)b * (size_t)t->num_nodes + (size_t)n] > 0;
}

void mctx_tree_summary(const mctx_tree *t, float *visit_counts, float *visit_probs, float *value,
                       float *qvalues) {
  int32_t Ad = t->num_decision_actions;
  float *counts = malloc((size_t)Ad * sizeof(float));
  if (!counts) return;
  for (int32_t b = 0; b < t->batch_size; b++) {
    size_t root = (size_t)b * (size_t)t->num_nodes;
    size_t row = root * (size_t)t->num_actions;
    size_t ob = (size_t)b * (size_t)Ad;
    for (int32_t a = 0; a < Ad; a++) counts[a] = (float)t->children_visits[row + (size_t)a];
    float total = mctx__sum_canon(counts, Ad);
    for (int32_t a = 0; a < Ad; a++) {
      if (visit_counts) visit_counts[ob + (size_t)a] = counts[a];
      if (visit_probs)
        visit_probs[ob + (size_t)a] = total > 0.0f ? counts[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
      if (qvalues) {
        size_t c = row + (size_t)a;
        qvalues[ob + (size_t)a] = t->children_visits[c] > 0
            ? mctx__q(t->children_rewards[c], t->children_discounts[c], t->children_values[c]) : 0.0f;
      }
    }
    if (value) value[b] = t->node_values[root];
  }
  free(counts);
}

/* ==== Tree reuse ==== */

int mctx_tree_reuse(const mctx_tree *src, const int32_t *actions, int32_t extra_nodes, mctx_tree **dst,
                    mctx_status *st) {
  *dst = NULL;
  int32_t B = src->batch_size, N = src->num_nodes, A = src->num_actions, E = src->embedding_bytes;
  if (extra_nodes < 0) return mctx_status_set(st, MCTX_ERANGE, "extra_nodes", "must be >= 0");
  if (src->is_decision)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type", "tree reuse is for muzero and gumbel_muzero trees");
  int32_t *keep = malloc((size_t)N * sizeof(int32_t));    /* new index of each old node, -1: dropped */
  int32_t *count = malloc((size_t)B * sizeof(int32_t));
  if (!keep || !count) { free(keep); free(count); return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); }
  int32_t most = 1;
  for (int32_t b = 0; b < B; b++) {
    int32_t a = actions[b];
    if (a < 0 || a >= A) {
      free(keep); free(count);
      return mctx_status_set(st, MCTX_ERANGE, "action", "action %d of element %d is not in [0, %d)", (int)a, (int)b, (int)A);
    }
    int32_t child = src->children_index[(size_t)b * (size_t)N * (size_t)A + (size_t)a];
    if (child == MCTX_UNVISITED) {
      free(keep); free(count);
      return mctx_status_set(st, MCTX_EINVALID, "action", "action %d of element %d was never expanded: no subtree to keep",
                             (int)a, (int)b);
    }
    /* In an mctx tree a parent's index is below its children's, so one pass
     * in index order finds the whole subtree. */
    size_t base = (size_t)b * (size_t)N;
    int32_t k = 0;
    for (int32_t n = 0; n < N; n++) {
      keep[n] = -1;
      if (n < child || src->node_visits[base + (size_t)n] == 0) continue;
      if (n == child || (keep[src->parents[base + (size_t)n]] >= 0 && src->parents[base + (size_t)n] >= child))
        keep[n] = k++;
    }
    count[b] = k;
    most = k > most ? k : most;
  }
  if (extra_nodes > INT32_MAX - most) {
    free(keep); free(count);
    return mctx_status_set(st, MCTX_ERANGE, "num_simulations", "tree too large");
  }
  mctx_tree *t = mctx_tree_new(B, most + extra_nodes, A, src->num_decision_actions, E, 0, src->root_gumbel != NULL, st);
  if (!t) { free(keep); free(count); return st ? st->code : MCTX_ENOMEM; }
  for (int32_t b = 0; b < B; b++) {
    int32_t child = src->children_index[(size_t)b * (size_t)N * (size_t)A + (size_t)actions[b]];
    size_t base = (size_t)b * (size_t)N, nbase = (size_t)b * (size_t)t->num_nodes;
    int32_t k = 0;
    for (int32_t n = 0; n < N; n++) {
      keep[n] = -1;
      if (n < child || src->node_visits[base + (size_t)n] == 0) continue;
      if (n == child || (src->parents[base + (size_t)n] >= child && keep[src->parents[base + (size_t)n]] >= 0))
        keep[n] = k++;
    }
    for (int32_t n = 0; n < N; n++) {
      int32_t m = keep[n];
      if (m < 0) continue;
      size_t o = base + (size_t)n, q = nbase + (size_t)m;
      t->node_visits[q] = src->node_visits[o];
      t->raw_values[q] = src->raw_values[o];
      t->node_values[q] = src->node_values[o];
      t->parents[q] = m == 0 ? MCTX_NO_PARENT : keep[src->parents[o]];
      t->action_from_parent[q] = m == 0 ? MCTX_NO_PARENT : src->action_from_parent[o];
      size_t orow = o * (size_t)A, nrow = q * (size_t)A;
      for (int32_t a = 0; a < A; a++) {
        int32_t ci = src->children_index[orow + (size_t)a];
        t->children_index[nrow + (size_t)a] = ci == MCTX_UNVISITED ? MCTX_UNVISITED : keep[ci];
        t->children_visits[nrow + (size_t)a] = src->children_visits[orow + (size_t)a];
        if (ci != MCTX_UNVISITED) {
          t->children_rewards[nrow + (size_t)a] = src->children_rewards[orow + (size_t)a];
          t->children_discounts[nrow + (size_t)a] = src->children_discounts[orow + (size_t)a];
          t->children_values[nrow + (size_t)a] = src->children_values[orow + (size_t)a];
        }
      }
      memcpy(t->children_prior_logits + nrow, src->children_prior_logits + orow, (size_t)A * sizeof(float));
      memcpy(t->children_prior_probs + nrow, src->children_prior_probs + orow, (size_t)A * sizeof(float));
      if (E) memcpy(t->embeddings + q * (size_t)E, src->embeddings + o * (size_t)E, (size_t)E);
    }
    t->next_node[b] = count[b];
  }
  free(keep);
  free(count);
  *dst = t;
  return 0;
}

/* ==== Invariants ==== */

#define CHECK(cond, ...) do { if (!(cond)) { \
    int rc_ = mctx_status_set(st, MCTX_EINTERNAL, "tree", __VA_ARGS__); \
    free(sum); \
    return rc_; } } while (0)

int mctx_tree_check(const mctx_tree *t, int max_depth_used, mctx_status *st) {
  int32_t B = t->batch_size, N = t->num_nodes, A = t->num_actions;
  int64_t *sum = malloc((size_t)N * sizeof(int64_t));
  if (!sum) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  for (int32_t b = 0; b < B; b++) {
    size_t base = (size_t)b * (size_t)N;
    CHECK(t->node_visits[base] > 0, "element %d: the root was never visited", (int)b);
    CHECK(t->parents[base] == MCTX_NO_PARENT, "element %d: the root has a parent", (int)b);
    for (int32_t n = 0; n < N; n++) {
      sum[n] = 0;
      int32_t v = t->node_visits[base + (size_t)n];
      CHECK(v >= 0, "element %d node %d: negative visits", (int)b, (int)n);
      if (v == 0 || n == 0) continue;
      int32_t p = t->parents[base + (size_t)n], a = t->action_from_parent[base + (size_t)n];
      CHECK(p >= 0 && p < n, "element %d node %d: parent %d is not an earlier node", (int)b, (int)n, (int)p);
      CHECK(a >= 0 && a < A, "element %d node %d: action_from_parent %d", (int)b, (int)n, (int)a);
      CHECK(t->node_visits[base + (size_t)p] > 0, "element %d node %d: parent %d unused", (int)b, (int)n, (int)p);
      CHECK(t->children_index[(base + (size_t)p) * (size_t)A + (size_t)a] == n,
            "element %d node %d: parent %d's child for action %d is %d", (int)b, (int)n, (int)p, (int)a,
            (int)t->children_index[(base + (size_t)p) * (size_t)A + (size_t)a]);
    }
    for (int32_t n = 0; n < N; n++) {
      if (t->node_visits[base + (size_t)n] == 0) continue;
      size_t row = (base + (size_t)n) * (size_t)A;
      for (int32_t a = 0; a < A; a++) {
        int32_t c = t->children_index[row + (size_t)a];
        int32_t cv = t->children_visits[row + (size_t)a];
        if (c == MCTX_UNVISITED) {
          CHECK(cv == 0, "element %d node %d action %d: unexpanded child with %d visits", (int)b, (int)n, (int)a, (int)cv);
          continue;
        }
        CHECK(c > n && c < N, "element %d node %d action %d: child index %d", (int)b, (int)n, (int)a, (int)c);
        CHECK(t->parents[base + (size_t)c] == n && t->action_from_parent[base + (size_t)c] == a,
              "element %d node %d action %d: child %d points elsewhere", (int)b, (int)n, (int)a, (int)c);
        CHECK(cv == t->node_visits[base + (size_t)c], "element %d node %d action %d: %d child visits, node has %d",
              (int)b, (int)n, (int)a, (int)cv, (int)t->node_visits[base + (size_t)c]);
        CHECK(t->children_values[row + (size_t)a] == t->node_values[base + (size_t)c],
              "element %d node %d action %d: children_values differs from the child's value", (int)b, (int)n, (int)a);
        sum[n] += cv;
      }
      if (!max_depth_used)
        CHECK(t->node_visits[base + (size_t)n] == 1 + sum[n], "element %d node %d: %d visits, 1 + children's = %lld",
              (int)b, (int)n, (int)t->node_visits[base + (size_t)n], (long long)(1 + sum[n]));
      else
        CHECK(t->node_visits[base + (size_t)n] >= 1 + sum[n], "element %d node %d: fewer visits than its children",
              (int)b, (int)n);
    }
    const uint8_t *inv = t->root_invalid_actions + (size_t)b * (size_t)A;
    for (int32_t a = 0; a < A; a++)
      CHECK(!inv[a] || t->children_visits[base * (size_t)A + (size_t)a] == 0,
            "element %d: invalid root action %d was visited", (int)b, (int)a);
  }
  free(sum);
  return 0;
}
