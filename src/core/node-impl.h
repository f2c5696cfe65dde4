/* core/node-impl.h: the per-node formulas of mctx, once, for host and device.
 *
 * Each function here computes one child's term (or combines a node's
 * reductions) exactly as mctx's JAX code does, in float32 and in the same
 * order of operations. The CPU search (core/search.c) loops over a node's
 * children calling them; the CUDA engine calls the same functions from the
 * lanes of a warp. Reductions follow core/reduce-impl.h. */
#ifndef MCTX_CORE_NODE_IMPL_H
#define MCTX_CORE_NODE_IMPL_H

#include "core/fmath-impl.h"
#include "core/hd.h"

/* Tree.qvalues: reward + discount * value. */
MCTX_HD static inline float mctx__q(float reward, float discount, float value) {
  return reward + discount * value;
}

/* muzero_action_selection's exploration constant:
 * pb_c_init + log((node_visit + pb_c_base + 1) / pb_c_base). */
MCTX_HD static inline float mctx__pb_c(int32_t node_visit, float pb_c_init, float pb_c_base) {
  return pb_c_init + mctx_logf((((float)node_visit + pb_c_base) + 1.0f) / pb_c_base);
}

/* sqrt(node_visit) * pb_c, the factor shared by every child's policy score. */
MCTX_HD static inline float mctx__puct_scale(int32_t node_visit, float pb_c) {
  return mctx__sqrtf((float)node_visit) * pb_c;
}

/* A child's policy score: sqrt(N) * pb_c * prior / (visits + 1). */
MCTX_HD static inline float mctx__policy_score(float scale, float prior, int32_t visits) {
  return scale * prior / (float)(visits + 1);
}

/* qtransform_by_parent_and_siblings, one child, given the node's value and
 * min/max over it and its visited children's q (unvisited count as the node's
 * value). */
MCTX_HD static inline float mctx__qt_parent_siblings(float q, int32_t visits, float min_value,
                                                     float max_value, float epsilon) {
  float completed = visits > 0 ? q : min_value;
  float den = max_value - min_value;
  den = den > epsilon ? den : epsilon;
  return (completed - min_value) / den;
}

/* qtransform_by_min_max, one child. */
MCTX_HD static inline float mctx__qt_min_max(float q, int32_t visits, float min_value, float max_value) {
  float v = visits > 0 ? q : min_value;
  return (v - min_value) / (max_value - min_value);
}

/* _compute_mixed_value's terms. The caller sums, over visited children,
 * max(tiny, prior) (sum_probs), then prior * q / sum_probs (weighted_q). */
MCTX_HD static inline float mctx__mix_prior(float prior) {
  float tiny = MCTX_F32_TINY;
  return prior > tiny ? prior : tiny;
}

MCTX_HD static inline float mctx__mixed_value(float raw_value, int32_t sum_visits, float weighted_q) {
  return (raw_value + (float)sum_visits * weighted_q) / (float)(sum_visits + 1);
}

/* qtransform_completed_by_mix_value's final scale:
 * (maxvisit_init + max(visits)) * value_scale. */
MCTX_HD static inline float mctx__mix_scale(float maxvisit_init, int32_t max_visits, float value_scale) {
  return (maxvisit_init + (float)max_visits) * value_scale;
}

/* _rescale_qvalues, one child. */
MCTX_HD static inline float mctx__rescale(float q, float min_q, float max_q, float epsilon) {
  float den = max_q - min_q;
  den = den > epsilon ? den : epsilon;
  return (q - min_q) / den;
}

/* seq_halving.score_considered, one child, given max(logits) of the node:
 * max(-1e9, gumbel + (logit - max_logit) + q) + (visits == considered ? 0 : -inf). */
MCTX_HD static inline float mctx__score_considered(float gumbel, float logit, float max_logit,
                                                   float q, int32_t visits, int32_t considered) {
  float s = gumbel + (logit - max_logit) + q;
  s = s > -1e9f ? s : -1e9f;
  return visits == considered ? s : MCTX_F32_NINF;
}

/* _prepare_argmax_input, one child: prob - visits / (1 + sum(visits)). */
MCTX_HD static inline float mctx__gumbel_interior_score(float prob, int32_t visits, int32_t sum_visits) {
  return prob - (float)visits / (float)(1 + sum_visits);
}

/* The backward step at a parent: the new parent value. */
MCTX_HD static inline float mctx__backup_value(float parent_value, int32_t count, float leaf_value) {
  return (parent_value * (float)count + leaf_value) / ((float)count + 1.0f);
}

/* _mask_invalid_actions, one logit, given max over the row. */
MCTX_HD static inline float mctx__mask_logit(float logit, float max_logit, int invalid) {
  return invalid ? MCTX_F32_LOWEST : logit - max_logit;
}

/* _get_logits_from_probs: log(max(p, tiny)). */
MCTX_HD static inline float mctx__logit_of_prob(float p) {
  float tiny = MCTX_F32_TINY;
  return mctx_logf(p > tiny ? p : tiny);
}

/* _apply_temperature, one logit, given max over the row. */
MCTX_HD static inline float mctx__temper(float logit, float max_logit, float temperature) {
  float tiny = MCTX_F32_TINY;
  return (logit - max_logit) / (temperature > tiny ? temperature : tiny);
}

/* The 1e-7 tie-break noise of muzero_action_selection is drawn only for the
 * children that could still win: a child whose score is below the best score
 * minus this margin loses whatever its noise (the noise is below 1e-7 and one
 * float32 addition moves a value by at most half an ulp of the sum). */
MCTX_HD static inline float mctx__noise_margin(float best) {
  float a = best < 0.0f ? -best : best;
  return 2e-7f + a * 5e-7f;
}

/* Sequential halving (seq_halving.get_sequence_of_considered_visits):
 * element `index` of the sequence of visit counts considered for m actions and
 * a budget of `budget` simulations, computed directly. Within a phase all
 * considered actions share one visit count c, and the sequence is c repeated k
 * times, then c + 1 repeated k times, ..., `extra` times; from k = 2 on every
 * phase is alike. Past the budget, the sequence goes on as if it were longer
 * (used when a reused tree's root already has visits). */
MCTX_HD static inline int32_t mctx__considered_visit(int32_t m, int32_t budget, int32_t index) {
  if (m <= 1) return index;
  int log2max = 0;
  while ((1 << log2max) < m) log2max++;
  int32_t k = m, pos = 0, c = 0;
  for (;;) {
    int32_t extra = (int32_t)((double)budget / (double)(log2max * k));
    if (extra < 1) extra = 1;
    int32_t span = extra * k;
    if (index < pos + span) return c + (index - pos) / k;
    pos += span;
    c += extra;
    if (k == 2) {
      int32_t r = index - pos;
      int32_t q = r / span;
      return c + q * extra + (r - q * span) / k;
    }
    k = k / 2 > 2 ? k / 2 : 2;
  }
}

#endif
