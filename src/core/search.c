/* core/search.c: mctx's search, policies and action selection on the host.
 *
 * This file is the oracle every other engine is checked against. It follows
 * mctx (search.py, action_selection.py, policies.py, qtransforms.py) step by
 * step, in float32 with the same order of operations, using the shared
 * per-node formulas of core/node-impl.h, the canonical reductions of
 * core/reduce-impl.h and the PRNG of core/prng-impl.h.
 *
 * One call of mctx__search_slice() runs a whole search for a contiguous slice
 * of the batch: it prepares the roots (policy noise, masking), runs the
 * simulations (simulate, one batched model call per simulation, expand,
 * backward) and reads the action and action weights off the finished trees.
 * It touches only its slice's rows of the tree and the result. */
#include "core/search-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node-impl.h"
#include "core/prng-impl.h"
#include "core/reduce-impl.h"

struct mctx__work {
  int32_t cap;
  int32_t *parent, *action, *next, *index;
  mctx_key *rng, *final_key, *expand_key;
  int32_t *budget;            /* sequential halving budget per element */
  uint8_t *emb_in, *emb_out;
  float *reward, *discount, *value, *logits;
  int32_t b0;                 /* first element of the slice */
  int32_t group;              /* elements searched together (model batch) */
  float *q, *qs;              /* qtransform's scratch, A floats each */
  float *t0, *t1, *t2, *t3;   /* callers' scratch, A floats each */
  int32_t *sub;               /* stochastic: element indices of one kind */
  float *chance_logits;
};

/* ==== Helpers over the layout ==== */

static inline size_t node_at(const mctx_tree *t, int32_t b, int32_t n) {
  return (size_t)b * (size_t)t->num_nodes + (size_t)n;
}

static inline size_t row_at(const mctx_tree *t, int32_t b, int32_t n) {
  return node_at(t, b, n) * (size_t)t->num_actions;
}

/* A new node's children: unvisited, zero statistics (mctx's defaults). */
static void init_children(mctx_tree *t, size_t row) {
  size_t A = (size_t)t->num_actions;
  for (size_t a = 0; a < A; a++) t->children_index[row + a] = MCTX_UNVISITED;
  memset(t->children_visits + row, 0, A * sizeof(int32_t));
  memset(t->children_values + row, 0, A * sizeof(float));
  memset(t->children_rewards + row, 0, A * sizeof(float));
  memset(t->children_discounts + row, 0, A * sizeof(float));
}

/* Stores a node's prior logits and their softmax (over the decision part and,
 * for stochastic trees, the chance part separately, as mctx's masked trees
 * compute them). */
static void set_priors(const mctx__search *s, size_t row, const float *logits, int decision) {
  mctx_tree *t = s->tree;
  memcpy(t->children_prior_logits + row, logits, (size_t)s->A * sizeof(float));
  float *probs = t->children_prior_probs + row;
  if (s->C == 0) {
    mctx__softmax(logits, probs, s->A);
    return;
  }
  if (decision) {
    mctx__softmax(logits, probs, s->Ad);
    for (int32_t c = 0; c < s->C; c++) probs[s->Ad + c] = 0.0f;
  } else {
    for (int32_t a = 0; a < s->Ad; a++) probs[a] = 0.0f;
    mctx__softmax(logits + s->Ad, probs + s->Ad, s->C);
  }
}

/* ==== Q-transforms (qtransforms.py) ==== */

/* Fills out[0..n) with the transformed q-values of node (b, node) over the
 * children [off, off + n). Uses w->q and w->qs as scratch. */
static void qtransform(const mctx__search *s, mctx__work *w, int32_t b, int32_t node,
                       int32_t off, int32_t n, float *MCTX_RESTRICT out) {
  const mctx_tree *t = s->tree;
  size_t nb = node_at(t, b, node);
  size_t row = nb * (size_t)t->num_actions + (size_t)off;
  const int32_t *MCTX_RESTRICT vis = t->children_visits + row;
  const float *MCTX_RESTRICT r = t->children_rewards + row;
  const float *MCTX_RESTRICT d = t->children_discounts + row;
  const float *MCTX_RESTRICT v = t->children_values + row;
  float *MCTX_RESTRICT q = w->q;
  /* Loops compute every child unconditionally and then select, so that they
   * vectorize; unvisited children hold zeros (init_children). */
  for (int32_t i = 0; i < n; i++) q[i] = mctx__q(r[i], d[i], v[i]);
  const mctx_qtransform *qt = &s->qt;

  if (qt->kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) {
    float node_value = t->node_values[nb];
    float *MCTX_RESTRICT safe = w->qs;
    for (int32_t i = 0; i < n; i++) {
      float qi = q[i];
      safe[i] = vis[i] > 0 ? qi : node_value;
    }
    float lo = mctx__min_f32(safe, n), hi = mctx__max_f32(safe, n);
    lo = node_value < lo ? node_value : lo;
    hi = node_value > hi ? node_value : hi;
    for (int32_t i = 0; i < n; i++) out[i] = mctx__qt_parent_siblings(q[i], vis[i], lo, hi, qt->epsilon);
    return;
  }
  if (qt->kind == MCTX_QTRANSFORM_BY_MIN_MAX) {
    for (int32_t i = 0; i < n; i++) out[i] = mctx__qt_min_max(q[i], vis[i], qt->min_value, qt->max_value);
    return;
  }
  /* completed_by_mix_value */
  int32_t sum_visits = 0, max_visits = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t vi = vis[i];
    sum_visits += vi;
    max_visits = vi > max_visits ? vi : max_visits;
  }
  float value = t->raw_values[nb];
  if (qt->use_mixed_value) {
    const float *MCTX_RESTRICT probs = t->children_prior_probs + row;
    float *MCTX_RESTRICT tmp = w->qs;
    for (int32_t i = 0; i < n; i++) {
      float m = mctx__mix_prior(probs[i]);
      tmp[i] = vis[i] > 0 ? m : 0.0f;
    }
    float sum_probs = mctx__sum_canon(tmp, n);
    for (int32_t i = 0; i < n; i++) {
      float x = mctx__mix_prior(probs[i]) * q[i] / sum_probs;
      tmp[i] = vis[i] > 0 ? x : 0.0f;
    }
    float weighted_q = mctx__sum_canon(tmp, n);
    value = mctx__mixed_value(value, sum_visits, weighted_q);
  }
  for (int32_t i = 0; i < n; i++) {
    float qi = q[i];
    out[i] = vis[i] > 0 ? qi : value;
  }
  if (qt->rescale_values) {
    float lo = mctx__min_f32(out, n), hi = mctx__max_f32(out, n);
    for (int32_t i = 0; i < n; i++) out[i] = mctx__rescale(out[i], lo, hi, qt->epsilon);
  }
  float scale = mctx__mix_scale(qt->maxvisit_init, max_visits, qt->value_scale);
  for (int32_t i = 0; i < n; i++) out[i] = scale * out[i];
}

/* ==== Action selection (action_selection.py) ==== */

/* muzero_action_selection over children [off, off + n) (the decision part of
 * a stochastic node). The tie-break noise is drawn only where it can matter
 * (see mctx__noise_margin). */
static int32_t select_muzero(const mctx__search *s, mctx__work *w, int32_t b, int32_t node,
                             int32_t depth, mctx_key key, int32_t n) {
  const mctx_tree *t = s->tree;
  size_t nb = node_at(t, b, node);
  size_t row = nb * (size_t)t->num_actions;
  const int32_t *MCTX_RESTRICT vis = t->children_visits + row;
  const float *MCTX_RESTRICT probs = t->children_prior_probs + row;
  int32_t node_visit = t->node_visits[nb];
  float pb_c = mctx__pb_c(node_visit, s->p->pb_c_init, s->p->pb_c_base);
  float scale = mctx__puct_scale(node_visit, pb_c);
  float *MCTX_RESTRICT score = w->t0;
  qtransform(s, w, b, node, 0, n, score);
  for (int32_t i = 0; i < n; i++) score[i] = score[i] + mctx__policy_score(scale, probs[i], vis[i]);
  if (depth == 0) {
    const uint8_t *MCTX_RESTRICT inv = t->root_invalid_actions + (size_t)b * (size_t)t->num_actions;
    for (int32_t i = 0; i < n; i++) {
      float sc = score[i];
      score[i] = inv[i] ? MCTX_F32_NINF : sc;
    }
  }
  float best = mctx__max_f32(score, n);
  if (best == MCTX_F32_NINF) return 0;
  float cut = best - mctx__noise_margin(best);
  int32_t arg = -1;
  float argv = MCTX_F32_NINF;
  for (int32_t i = 0; i < n; i++) {
    if (!(score[i] >= cut)) continue;
    float u = mctx__uniform_bits(mctx__bits_nth(s->p->prng, key, (uint32_t)n, (uint32_t)i), 0.0f, 1.0f);
    float v = score[i] + 1e-7f * u;
    if (arg < 0 || v > argv) { arg = i; argv = v; }
  }
  return arg;
}

/* gumbel_muzero_root_action_selection: sequential halving with Gumbel. */
static int32_t select_gumbel_root(const mctx__search *s, mctx__work *w, int32_t b) {
  const mctx_tree *t = s->tree;
  int32_t A = s->A;
  size_t row = row_at(t, b, 0);
  const int32_t *vis = t->children_visits + row;
  const float *logits = t->children_prior_logits + row;
  const uint8_t *inv = t->root_invalid_actions + (size_t)b * (size_t)A;
  const float *gumbel = t->root_gumbel + (size_t)b * (size_t)A;
  float *cq = w->t0;
  qtransform(s, w, b, 0, 0, A, cq);
  int32_t num_valid = 0, sim_index = 0;
  for (int32_t a = 0; a < A; a++) {
    num_valid += inv[a] ? 0 : 1;
    sim_index += vis[a];
  }
  int32_t m = s->p->max_num_considered_actions;
  int32_t nc = m < num_valid ? m : num_valid;
  int32_t considered = mctx__considered_visit(nc, w->budget[b - w->b0], sim_index);
  float max_logit = mctx__max_f32(logits, A);
  float *score = w->t1;
  for (int32_t a = 0; a < A; a++) {
    float sc = mctx__score_considered(gumbel[a], logits[a], max_logit, cq[a], vis[a], considered);
    score[a] = inv[a] ? MCTX_F32_NINF : sc;
  }
  return mctx__argmax_f32(score, A);
}

/* gumbel_muzero_interior_action_selection: deterministic, toward
 * softmax(prior_logits + completed_qvalues). */
static int32_t select_gumbel_interior(const mctx__search *s, mctx__work *w, int32_t b, int32_t node) {
  const mctx_tree *t = s->tree;
  int32_t A = s->A;
  size_t row = row_at(t, b, node);
  const int32_t *vis = t->children_visits + row;
  const float *logits = t->children_prior_logits + row;
  float *x = w->t0;
  qtransform(s, w, b, node, 0, A, x);
  int32_t sum_visits = 0;
  for (int32_t a = 0; a < A; a++) {
    x[a] = logits[a] + x[a];
    sum_visits += vis[a];
  }
  float *probs = w->t1;
  mctx__softmax(x, probs, A);
  for (int32_t a = 0; a < A; a++) probs[a] = mctx__gumbel_interior_score(probs[a], vis[a], sum_visits);
  return mctx__argmax_f32(probs, A);
}

/* Stochastic MuZero's chance node selection: argmax of prob / (visits + 1). */
static int32_t select_chance(const mctx__search *s, mctx__work *w, int32_t b, int32_t node) {
  const mctx_tree *t = s->tree;
  size_t row = row_at(t, b, node) + (size_t)s->Ad;
  const int32_t *vis = t->children_visits + row;
  const float *probs = t->children_prior_probs + row;
  float *score = w->t0;
  for (int32_t c = 0; c < s->C; c++) score[c] = probs[c] / (float)(vis[c] + 1);
  return s->Ad + mctx__argmax_f32(score, s->C);
}

static int32_t select_action(const mctx__search *s, mctx__work *w, int32_t b, int32_t node,
                             int32_t depth, mctx_key key) {
  switch (s->p->policy) {
    case MCTX_POLICY_GUMBEL_MUZERO:
      return depth == 0 ? select_gumbel_root(s, w, b) : select_gumbel_interior(s, w, b, node);
    case MCTX_POLICY_STOCHASTIC_MUZERO:
      if (!s->tree->is_decision[node_at(s->tree, b, node)]) return select_chance(s, w, b, node);
      return select_muzero(s, w, b, node, depth, key, s->Ad);
    default:
      return select_muzero(s, w, b, node, depth, key, s->A);
  }
}

/* search.simulate: from the root down to an unvisited action or max_depth.
 * Returns the depth reached; *parent and *action say what to expand. */
static int32_t simulate(const mctx__search *s, mctx__work *w, int32_t b, mctx_key key,
                        int32_t *parent, int32_t *action) {
  const mctx_tree *t = s->tree;
  int32_t node = MCTX_ROOT_INDEX, depth = 0;
  for (;;) {
    mctx_key sel = mctx__split_nth(s->p->prng, key, 2u, 1u);
    key = mctx__split_nth(s->p->prng, key, 2u, 0u);
    int32_t a = select_action(s, w, b, node, depth, sel);
    int32_t next = t->children_index[row_at(t, b, node) + (size_t)a];
    depth++;
    if (next == MCTX_UNVISITED || depth >= s->max_depth) {
      *parent = node;
      *action = a;
      return depth;
    }
    node = next;
  }
}

/* ==== Expansion and backup (search.py) ==== */

/* update_tree_node + the topology updates of expand. Returns 1 when a new
 * node was created (0 when max_depth made it evaluate an existing leaf). */
static int expand(const mctx__search *s, int32_t b, int32_t parent, int32_t action, int32_t next,
                  float reward, float discount, const float *logits, float value,
                  const void *embedding, int decision) {
  mctx_tree *t = s->tree;
  size_t nn = node_at(t, b, next);
  int fresh = t->node_visits[nn] == 0;
  size_t row = nn * (size_t)t->num_actions;
  if (fresh) init_children(t, row);
  set_priors(s, row, logits, decision);
  t->raw_values[nn] = value;
  t->node_values[nn] = value;
  t->node_visits[nn] = t->node_visits[nn] + 1;
  if (s->E) memcpy(t->embeddings + nn * (size_t)s->E, embedding, (size_t)s->E);
  if (t->is_decision) t->is_decision[nn] = (uint8_t)decision;
  size_t prow = row_at(t, b, parent) + (size_t)action;
  t->children_index[prow] = next;
  t->children_rewards[prow] = reward;
  t->children_discounts[prow] = discount;
  t->parents[nn] = parent;
  t->action_from_parent[nn] = action;
  return fresh;
}

static void backward(mctx_tree *t, int32_t b, int32_t leaf) {
  size_t base = node_at(t, b, 0);
  float leaf_value = t->node_values[base + (size_t)leaf];
  int32_t index = leaf;
  while (index != MCTX_ROOT_INDEX) {
    int32_t parent = t->parents[base + (size_t)index];
    int32_t count = t->node_visits[base + (size_t)parent];
    int32_t action = t->action_from_parent[base + (size_t)index];
    size_t cell = (base + (size_t)parent) * (size_t)t->num_actions + (size_t)action;
    leaf_value = mctx__q(t->children_rewards[cell], t->children_discounts[cell], leaf_value);
    float parent_value = mctx__backup_value(t->node_values[base + (size_t)parent], count, leaf_value);
    t->children_values[cell] = t->node_values[base + (size_t)index];
    t->children_visits[cell] = t->children_visits[cell] + 1;
    t->node_values[base + (size_t)parent] = parent_value;
    t->node_visits[base + (size_t)parent] = count + 1;
    index = parent;
  }
}

/* ==== Roots (policies.py) ==== */

static mctx_elem_key elem_key(const mctx__search *s, int32_t b) {
  if (s->root->keys) return s->root->keys[b];
  mctx_elem_key k;
  k.key = s->p->key;
  k.group_size = s->tree->batch_size;
  k.group_index = b;
  return k;
}

/* The root's prior logits after the policy's treatment: Dirichlet noise for
 * muzero and stochastic_muzero, invalid actions masked (only when the request
 * gave a mask, as mctx). Writes Ad logits to out. */
static void root_logits(const mctx__search *s, mctx__work *w, int32_t b, const float *in,
                        mctx_key noise_key, const mctx_elem_key *ek, float *out) {
  int32_t A = s->Ad;
  const mctx_search_params *p = s->p;
  const uint8_t *inv = s->root->invalid_actions ? s->root->invalid_actions + (size_t)b * (size_t)A : NULL;
  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    memcpy(out, in, (size_t)A * sizeof(float));
  } else {
    float *probs = w->t1;
    mctx__softmax(in, probs, A);
    if (p->dirichlet_fraction != 0.0f) {
      float *noise = w->t2;
      uint32_t total = (uint32_t)ek->group_size * (uint32_t)A;
      for (int32_t a = 0; a < A; a++) {
        mctx_key k = mctx__split_nth(p->prng, noise_key, total, (uint32_t)ek->group_index * (uint32_t)A + (uint32_t)a);
        noise[a] = mctx__loggamma_one(p->prng, k, p->dirichlet_alpha);
      }
      mctx__softmax_inplace(noise, A);
      for (int32_t a = 0; a < A; a++)
        probs[a] = p->one_minus_dirichlet_fraction * probs[a] + p->dirichlet_fraction * noise[a];
    }
    for (int32_t a = 0; a < A; a++) out[a] = mctx__logit_of_prob(probs[a]);
  }
  if (inv) {
    float m = mctx__max_f32(out, A);
    for (int32_t a = 0; a < A; a++) out[a] = mctx__mask_logit(out[a], m, inv[a]);
  }
}

/* Prepares element b's root and its keys. `logits`, `value` and `emb` are the
 * root's model outputs (NULL when continuing a reused tree). */
static void init_root(const mctx__search *s, mctx__work *w, int32_t b, const float *logits,
                      float value, const void *emb) {
  mctx_tree *t = s->tree;
  const mctx_search_params *p = s->p;
  mctx_elem_key ek = elem_key(s, b);
  size_t n0 = node_at(t, b, 0);
  size_t row = n0 * (size_t)t->num_actions;
  int32_t A = s->A;

  mctx_key rng, noise_key;
  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    rng = mctx__split_nth(p->prng, ek.key, 2u, 0u);
    noise_key = mctx__split_nth(p->prng, ek.key, 2u, 1u);
    w->rng[b - w->b0] = rng;
  } else {
    rng = mctx__split_nth(p->prng, ek.key, 3u, 0u);
    noise_key = mctx__split_nth(p->prng, ek.key, 3u, 1u);
    w->rng[b - w->b0] = mctx__split_nth(p->prng, ek.key, 3u, 2u);
  }
  w->final_key[b - w->b0] = rng;

  uint8_t *inv = t->root_invalid_actions + (size_t)b * (size_t)A;
  memset(inv, 0, (size_t)A);
  if (s->root->invalid_actions) memcpy(inv, s->root->invalid_actions + (size_t)b * (size_t)s->Ad, (size_t)s->Ad);

  if (!s->continue_tree) {
    for (int32_t n = 0; n < t->num_nodes; n++) t->node_visits[n0 + (size_t)n] = 0;
    init_children(t, row);
    t->raw_values[n0] = value;
    t->node_values[n0] = value;
    t->node_visits[n0] = 1;
    t->parents[n0] = MCTX_NO_PARENT;
    t->action_from_parent[n0] = MCTX_NO_PARENT;
    if (s->E) memcpy(t->embeddings + n0 * (size_t)s->E, emb, (size_t)s->E);
    t->next_node[b] = 1;
  } else {
    logits = t->children_prior_logits + row;  /* the node's own (raw) logits */
  }
  if (t->is_decision) t->is_decision[n0] = 1;

  float *full = w->t3;
  root_logits(s, w, b, logits, noise_key, &ek, full);
  for (int32_t c = 0; c < s->C; c++) full[s->Ad + c] = MCTX_F32_NINF;
  set_priors(s, row, full, 1);

  w->budget[b - w->b0] = s->S;
  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    float *g = t->root_gumbel + (size_t)b * (size_t)A;
    uint32_t total = (uint32_t)ek.group_size * (uint32_t)A;
    for (int32_t a = 0; a < A; a++) {
      uint32_t bits = mctx__bits_nth(p->prng, noise_key, total, (uint32_t)ek.group_index * (uint32_t)A + (uint32_t)a);
      g[a] = p->gumbel_scale * mctx__gumbel_bits(bits);
    }
    if (s->continue_tree) {
      const int32_t *vis = t->children_visits + row;
      for (int32_t a = 0; a < A; a++) w->budget[b - w->b0] += vis[a];
    }
  }
}

/* ==== Reading the finished tree ==== */

static void finish(const mctx__search *s, mctx__work *w, int32_t b) {
  const mctx_tree *t = s->tree;
  const mctx_search_params *p = s->p;
  mctx_result *res = s->res;
  int32_t Ad = s->Ad, A = s->A;
  size_t row = row_at(t, b, 0);
  const int32_t *vis = t->children_visits + row;
  const uint8_t *inv = t->root_invalid_actions + (size_t)b * (size_t)A;
  const uint8_t *req_inv = s->root->invalid_actions;
  float *weights = w->t1;
  float *counts = w->t2;
  for (int32_t a = 0; a < Ad; a++) counts[a] = (float)vis[a];
  int32_t action;

  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    float *cq = w->t0;
    qtransform(s, w, b, 0, 0, A, cq);
    const float *logits = t->children_prior_logits + row;
    const float *gumbel = t->root_gumbel + (size_t)b * (size_t)A;
    int32_t considered = 0;
    for (int32_t a = 0; a < A; a++) considered = vis[a] > considered ? vis[a] : considered;
    float max_logit = mctx__max_f32(logits, A);
    float *score = w->t3;
    for (int32_t a = 0; a < A; a++) {
      score[a] = mctx__score_considered(gumbel[a], logits[a], max_logit, cq[a], vis[a], considered);
      if (req_inv && inv[a]) score[a] = MCTX_F32_NINF;
    }
    action = mctx__argmax_f32(score, A);
    for (int32_t a = 0; a < A; a++) score[a] = logits[a] + cq[a];
    if (req_inv) {
      float m = mctx__max_f32(score, A);
      for (int32_t a = 0; a < A; a++) score[a] = mctx__mask_logit(score[a], m, inv[a]);
    }
    mctx__softmax(score, weights, A);
  } else {
    float total = mctx__sum_canon(counts, Ad);
    for (int32_t a = 0; a < Ad; a++)
      weights[a] = total > 0.0f ? counts[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
    float *logits = w->t0;
    for (int32_t a = 0; a < Ad; a++) logits[a] = mctx__logit_of_prob(weights[a]);
    float m = mctx__max_f32(logits, Ad);
    for (int32_t a = 0; a < Ad; a++) logits[a] = mctx__temper(logits[a], m, p->temperature);
    mctx_elem_key ek = elem_key(s, b);
    uint32_t total_n = (uint32_t)ek.group_size * (uint32_t)Ad;
    action = 0;
    float best = MCTX_F32_NINF;
    for (int32_t a = 0; a < Ad; a++) {
      uint32_t bits = mctx__bits_nth(p->prng, w->final_key[b - w->b0], total_n, (uint32_t)ek.group_index * (uint32_t)Ad + (uint32_t)a);
      float v = mctx__gumbel_bits(bits) + logits[a];
      if (a == 0 || v > best) { best = v; action = a; }
    }
  }
  res->action[b] = action;
  size_t ob = (size_t)b * (size_t)Ad;
  if (res->action_weights) memcpy(res->action_weights + ob, weights, (size_t)Ad * sizeof(float));
  if (res->visit_counts) memcpy(res->visit_counts + ob, counts, (size_t)Ad * sizeof(float));
  if (res->visit_probs) {
    float total = mctx__sum_canon(counts, Ad);
    for (int32_t a = 0; a < Ad; a++)
      res->visit_probs[ob + (size_t)a] = total > 0.0f ? counts[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
  }
  if (res->root_value) res->root_value[b] = t->node_values[node_at(t, b, 0)];
  if (res->qvalues) {
    for (int32_t a = 0; a < Ad; a++) {
      size_t cell = row + (size_t)a;
      res->qvalues[ob + (size_t)a] = vis[a] > 0 ? mctx__q(t->children_rewards[cell], t->children_discounts[cell],
                                                            t->children_values[cell])
                                                : 0.0f;
    }
  }
}

/* ==== The loop ==== */

static int check_outputs(const mctx__search *s, int32_t n, const float *reward, const float *discount,
                         const float *value, const float *logits, int32_t nlogits, int32_t b0,
                         const int32_t *which, mctx_status *st) {
  for (int32_t i = 0; i < n; i++) {
    int32_t b = which ? which[i] : b0 + i;
    const char *bad = NULL;
    if (reward && !(reward[i] - reward[i] == 0.0f)) bad = "reward";
    else if (discount && !(discount[i] - discount[i] == 0.0f)) bad = "discount";
    else if (!(value[i] - value[i] == 0.0f)) bad = "value";
    else {
      const float *row = logits + (size_t)i * (size_t)nlogits;
      for (int32_t a = 0; a < nlogits; a++)
        if (mctx__isnan(row[a]) || row[a] == MCTX_F32_INF) { bad = "prior_logits"; break; }
    }
    if (bad)
      return mctx_status_set(st, MCTX_EMODEL, "model", "model '%s' returned a non-finite %s for batch element %d",
                             s->model->vt->name, bad, (int)b);
  }
  return 0;
}

static int run_roots(const mctx__search *s, mctx__work *w, int32_t b0, int32_t b1, mctx_status *st) {
  int32_t n = b1 - b0;
  const mctx_root *root = s->root;
  const float *logits = root->prior_logits ? root->prior_logits + (size_t)b0 * (size_t)s->Ad : NULL;
  const float *values = root->value ? root->value + b0 : NULL;
  const uint8_t *embs = root->embeddings ? (const uint8_t *)root->embeddings + (size_t)b0 * (size_t)s->E : NULL;
  float *mlogits = NULL, *mvalues = NULL;
  uint8_t *membs = NULL;
  int need_model = !s->continue_tree && (!logits || !values || (s->E && !embs));
  if (need_model) {
    if (!s->model->vt->root)
      return mctx_status_set(st, MCTX_EMISSING, "root_input.prior_logits",
                             "model '%s' computes no roots: give prior_logits and value", s->model->vt->name);
    mlogits = malloc((size_t)n * (size_t)s->Ad * sizeof(float));
    mvalues = malloc((size_t)n * sizeof(float));
    membs = malloc((size_t)n * (size_t)(s->E ? s->E : 1));
    if (!mlogits || !mvalues || !membs) {
      free(mlogits); free(mvalues); free(membs);
      return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %d roots", (int)n);
    }
    int rc = s->model->vt->root(s->model->self, n, b0, embs, mlogits, mvalues, membs, st);
    if (rc == 0) rc = check_outputs(s, n, NULL, NULL, mvalues, mlogits, s->Ad, b0, NULL, st);
    if (rc != 0) { free(mlogits); free(mvalues); free(membs); return rc; }
    /* The request's logits and values win over the model's defaults. */
    if (!logits || !values) {
      logits = mlogits;
      values = mvalues;
    }
    if (!embs) embs = membs;
  }
  for (int32_t i = 0; i < n; i++) {
    int32_t b = b0 + i;
    if (s->continue_tree) init_root(s, w, b, NULL, 0.0f, NULL);
    else init_root(s, w, b, logits + (size_t)i * (size_t)s->Ad, values[i], embs ? embs + (size_t)i * (size_t)s->E : NULL);
  }
  free(mlogits); free(mvalues); free(membs);
  return 0;
}

/* Calls the model for the n elements [b0, b0 + n) of this simulation. */
static int call_model(const mctx__search *s, mctx__work *w, int32_t b0, int32_t n, mctx_status *st) {
  const mctx_model *m = s->model;
  if (s->C == 0) {
    mctx_step_out out = {w->reward, w->discount, w->logits, w->value, w->emb_out};
    int rc = m->vt->step(m->self, n, w->expand_key, w->action, w->emb_in, &out, st);
    if (rc != 0) return rc;
    return check_outputs(s, n, w->reward, w->discount, w->value, w->logits, s->A, b0, NULL, st);
  }
  /* Stochastic: decision parents go through `decision`, chance parents through
   * `chance`; each call gets its elements packed, then outputs are spread
   * into rows of A + C logits. */
  mctx_tree *t = s->tree;
  int32_t A = s->A, Ad = s->Ad, C = s->C, E = s->E;
  for (int kind = 1; kind >= 0; kind--) {
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
      int dec = t->is_decision[node_at(t, b0 + i, w->parent[i])];
      if (dec == kind) w->sub[k++] = i;
    }
    if (k == 0) continue;
    /* pack inputs at the front of the scratch areas (past the live rows) */
    int32_t *acts = w->index + w->cap;      /* second half of index[] */
    mctx_key *keys = w->expand_key + w->cap;
    uint8_t *ein = w->emb_in + (size_t)w->cap * (size_t)E;
    uint8_t *eout = w->emb_out + (size_t)w->cap * (size_t)E;
    float *lg = w->chance_logits;
    float *val = w->value + w->cap, *rew = w->reward + w->cap, *dis = w->discount + w->cap;
    for (int32_t j = 0; j < k; j++) {
      int32_t i = w->sub[j];
      acts[j] = kind ? w->action[i] : w->action[i] - Ad;
      keys[j] = w->expand_key[i];
      if (E) memcpy(ein + (size_t)j * (size_t)E, w->emb_in + (size_t)i * (size_t)E, (size_t)E);
    }
    int rc;
    if (kind) {
      rc = m->vt->decision(m->self, k, keys, acts, ein, lg, val, eout, st);
      for (int32_t j = 0; j < k && rc == 0; j++) { rew[j] = 0.0f; dis[j] = 1.0f; }
      if (rc == 0) rc = check_outputs(s, k, NULL, NULL, val, lg, C, b0, w->sub, st);
    } else {
      rc = m->vt->chance(m->self, k, keys, acts, ein, lg, val, rew, dis, eout, st);
      if (rc == 0) rc = check_outputs(s, k, rew, dis, val, lg, Ad, b0, w->sub, st);
    }
    if (rc != 0) return rc;
    for (int32_t j = 0; j < k; j++) {
      int32_t i = w->sub[j];
      float *row = w->logits + (size_t)i * (size_t)A;
      if (kind) {
        for (int32_t a = 0; a < Ad; a++) row[a] = MCTX_F32_NINF;
        memcpy(row + Ad, lg + (size_t)j * (size_t)C, (size_t)C * sizeof(float));
      } else {
        memcpy(row, lg + (size_t)j * (size_t)Ad, (size_t)Ad * sizeof(float));
        for (int32_t c = 0; c < C; c++) row[Ad + c] = MCTX_F32_NINF;
      }
      w->value[i] = val[j];
      w->reward[i] = rew[j];
      w->discount[i] = dis[j];
      if (E) memcpy(w->emb_out + (size_t)i * (size_t)E, eout + (size_t)j * (size_t)E, (size_t)E);
    }
  }
  return 0;
}

/* Runs every simulation for the elements [g0, g1), a group small enough that
 * its trees stay in the cache while the group is searched. */
static int run_group(const mctx__search *s, mctx__work *w, int32_t g0, int32_t g1, int64_t *expanded,
                     int32_t *max_depth, mctx_status *st) {
  mctx_tree *t = s->tree;
  const mctx_search_params *p = s->p;
  int32_t n = g1 - g0;
  int rc = 0;
  for (int32_t sim = 0; rc == 0 && sim < s->S; sim++) {
    if (p->should_stop && (sim & 7) == 0 && p->should_stop(p->should_stop_arg))
      return mctx_status_set(st, MCTX_ECANCELED, NULL, "the search was canceled");
    for (int32_t i = 0; i < n; i++) {
      int32_t b = g0 + i;
      mctx_elem_key ek = elem_key(s, b);
      mctx_key k = w->rng[b - w->b0];
      mctx_key sim_key = mctx__split_nth(p->prng, k, 3u, 1u);
      w->expand_key[i] = mctx__split_nth(p->prng, k, 3u, 2u);
      w->rng[b - w->b0] = mctx__split_nth(p->prng, k, 3u, 0u);
      mctx_key sk = mctx__split_nth(p->prng, sim_key, (uint32_t)ek.group_size, (uint32_t)ek.group_index);
      int32_t depth = simulate(s, w, b, sk, &w->parent[i], &w->action[i]);
      if (depth > *max_depth) *max_depth = depth;
      if (s->res->elem_depth && depth > s->res->elem_depth[b]) s->res->elem_depth[b] = depth;
      int32_t next = t->children_index[row_at(t, b, w->parent[i]) + (size_t)w->action[i]];
      w->next[i] = next == MCTX_UNVISITED ? t->next_node[b] + sim : next;
      if (s->E)
        memcpy(w->emb_in + (size_t)i * (size_t)s->E, t->embeddings + node_at(t, b, w->parent[i]) * (size_t)s->E,
               (size_t)s->E);
    }
    rc = call_model(s, w, g0, n, st);
    if (rc != 0) break;
    for (int32_t i = 0; i < n; i++) {
      int32_t b = g0 + i;
      int decision = 1;
      if (t->is_decision) decision = !t->is_decision[node_at(t, b, w->parent[i])];
      int fresh = expand(s, b, w->parent[i], w->action[i], w->next[i], w->reward[i], w->discount[i],
                         w->logits + (size_t)i * (size_t)s->A, w->value[i],
                         w->emb_out + (size_t)i * (size_t)s->E, decision);
      *expanded += fresh;
      if (s->res->elem_expanded) s->res->elem_expanded[b] += fresh;
      backward(t, b, w->next[i]);
    }
  }
  if (rc == 0) {
    for (int32_t b = g0; b < g1; b++) {
      t->next_node[b] += s->S;
      finish(s, w, b);
    }
  }
  return rc;
}

int mctx__search_slice(const mctx__search *s, int32_t b0, int32_t b1, mctx__work *w,
                       int64_t *expanded, int32_t *max_depth, mctx_status *st) {
  *expanded = 0;
  *max_depth = 0;
  if (b1 <= b0) return 0;
  w->b0 = b0;
  if (s->res->elem_expanded)
    for (int32_t b = b0; b < b1; b++) s->res->elem_expanded[b] = 0;
  if (s->res->elem_depth)
    for (int32_t b = b0; b < b1; b++) s->res->elem_depth[b] = 0;
  int rc = run_roots(s, w, b0, b1, st);
  for (int32_t g0 = b0; rc == 0 && g0 < b1; g0 += w->group) {
    int32_t g1 = g0 + w->group < b1 ? g0 + w->group : b1;
    rc = run_group(s, w, g0, g1, expanded, max_depth, st);
  }
  return rc;
}

/* ==== Setup ==== */

mctx__work *mctx__work_new(const mctx__search *s, int32_t cap) {
  mctx__work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  size_t slice = (size_t)(cap > 0 ? cap : 1);
  size_t c = (size_t)s->group < slice ? (size_t)s->group : slice;
  size_t A = (size_t)s->A, E = (size_t)(s->E ? s->E : 1);
  size_t scratch = A > 32 ? A : 32;
  w->cap = (int32_t)c;
  w->group = (int32_t)c;
  w->parent = malloc(c * sizeof(int32_t));
  w->action = malloc(c * sizeof(int32_t));
  w->next = malloc(c * sizeof(int32_t));
  w->index = malloc(2 * c * sizeof(int32_t));
  w->sub = malloc(c * sizeof(int32_t));
  w->rng = malloc(slice * sizeof(mctx_key));
  w->final_key = malloc(slice * sizeof(mctx_key));
  w->expand_key = malloc(2 * c * sizeof(mctx_key));
  w->budget = malloc(slice * sizeof(int32_t));
  w->emb_in = malloc(2 * c * E);
  w->emb_out = malloc(2 * c * E);
  w->reward = malloc(2 * c * sizeof(float));
  w->discount = malloc(2 * c * sizeof(float));
  w->value = malloc(2 * c * sizeof(float));
  w->logits = malloc(c * A * sizeof(float));
  w->chance_logits = malloc(c * A * sizeof(float));
  w->q = malloc(scratch * sizeof(float));
  w->t0 = malloc(scratch * sizeof(float));
  w->t1 = malloc(scratch * sizeof(float));
  w->t2 = malloc(scratch * sizeof(float));
  w->t3 = malloc(scratch * sizeof(float));
  w->qs = malloc(scratch * sizeof(float));
  if (!w->parent || !w->action || !w->next || !w->index || !w->sub || !w->rng || !w->final_key ||
      !w->expand_key || !w->budget || !w->emb_in || !w->emb_out || !w->reward || !w->discount ||
      !w->value || !w->logits || !w->chance_logits || !w->q || !w->qs || !w->t0 || !w->t1 || !w->t2 ||
      !w->t3) {
    mctx__work_free(w);
    return NULL;
  }
  return w;
}

void mctx__work_free(mctx__work *w) {
  if (!w) return;
  free(w->parent); free(w->action); free(w->next); free(w->index); free(w->sub);
  free(w->rng); free(w->final_key); free(w->expand_key); free(w->budget);
  free(w->emb_in); free(w->emb_out); free(w->reward); free(w->discount); free(w->value);
  free(w->logits); free(w->chance_logits); free(w->q); free(w->qs); free(w->t0); free(w->t1); free(w->t2); free(w->t3);
  free(w);
}

int mctx__search_prepare(mctx__search *s, const mctx_search_params *p, const mctx_model *model,
                         const mctx_root *root, int continue_tree, mctx_tree *tree,
                         mctx_result *res, mctx_status *st) {
  memset(s, 0, sizeof *s);
  int rc = mctx_search_params_check(p, root->num_actions, st);
  if (rc != 0) return rc;
  int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t C = stochastic ? model->info.num_chance_outcomes : 0;
  if (stochastic && (C <= 0 || !model->vt->decision || !model->vt->chance))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model",
                           "stochastic_muzero needs a stochastic model; '%s' is not one", model->vt->name);
  if (!stochastic && !model->vt->step)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "model '%s' has no recurrent step", model->vt->name);
  if (root->batch_size != tree->batch_size)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.batch_size", "the tree holds %d elements, the roots %d",
                           (int)tree->batch_size, (int)root->batch_size);
  if (tree->num_actions != root->num_actions + C || tree->num_decision_actions != root->num_actions)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "the tree has %d actions, the roots %d",
                           (int)tree->num_decision_actions, (int)root->num_actions);
  if (model->info.num_actions > 0 && model->info.num_actions != root->num_actions)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "model '%s' has %d actions, the request %d",
                           model->vt->name, (int)model->info.num_actions, (int)root->num_actions);
  if (tree->embedding_bytes != model->info.embedding_bytes)
    return mctx_status_set(st, MCTX_ESHAPE, "model", "the tree keeps %d-byte embeddings, model '%s' makes %d",
                           (int)tree->embedding_bytes, model->vt->name, (int)model->info.embedding_bytes);
  if (stochastic != (tree->is_decision != NULL) ||
      (p->policy == MCTX_POLICY_GUMBEL_MUZERO) != (tree->root_gumbel != NULL))
    return mctx_status_set(st, MCTX_EINVALID, "search_type", "the tree was not allocated for this policy");
  if (continue_tree && stochastic)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type",
                           "tree reuse is for muzero and gumbel_muzero (a stochastic tree's next root depends on the chance outcome)");
  int32_t need_nodes = p->num_simulations + 1;
  if (continue_tree) {
    int32_t most = 0;
    for (int32_t b = 0; b < tree->batch_size; b++) most = tree->next_node[b] > most ? tree->next_node[b] : most;
    need_nodes = most + p->num_simulations;
  }
  if (tree->num_nodes < need_nodes)
    return mctx_status_set(st, MCTX_ESHAPE, "search_params.num_simulations",
                           "the tree has %d node slots, the search needs %d", (int)tree->num_nodes, (int)need_nodes);
  if (root->invalid_actions) {
    for (int32_t b = 0; b < root->batch_size; b++) {
      const uint8_t *inv = root->invalid_actions + (size_t)b * (size_t)root->num_actions;
      int32_t valid = 0;
      for (int32_t a = 0; a < root->num_actions; a++) valid += inv[a] ? 0 : 1;
      if (valid == 0) {
        char f[64];
        snprintf(f, sizeof f, "root_input.invalid_actions[%d]", (int)b);
        return mctx_status_set(st, MCTX_EINVALID, f, "every action of batch element %d is invalid", (int)b);
      }
    }
  }
  s->p = p;
  s->qt = mctx_search_qtransform(p);
  s->model = model;
  s->root = root;
  s->tree = tree;
  s->res = res;
  s->continue_tree = continue_tree;
  s->S = p->num_simulations;
  s->max_depth = p->max_depth > 0 ? p->max_depth : p->num_simulations;
  s->A = tree->num_actions;
  s->Ad = tree->num_decision_actions;
  s->C = C;
  s->E = tree->embedding_bytes;
  /* Elements are searched a few at a time, so that their trees stay in the
   * cache; a model that wants larger batches (a network) gets them. */
  size_t per = mctx_tree_bytes(1, tree->num_nodes, tree->num_actions, tree->embedding_bytes, stochastic,
                               tree->root_gumbel != NULL);
  int32_t g = per ? (int32_t)((size_t)384 * 1024 / per) : 1;
  if (g < 1) g = 1;
  if (g > 256) g = 256;
  if (model->info.preferred_batch > g) g = model->info.preferred_batch;
  s->group = g;
  return 0;
}
