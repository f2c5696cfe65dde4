/* dist/merge.c: partition_search's merge of root statistics, and the
 * policies' last step read off merged statistics.
 *
 * Root parallelism leaves each device with its own root statistics for every
 * batch element: visit counts N_t[a], q-values Q_t[a] (0 where unvisited) and
 * the root value v_t. mctx__merge_stats combines them (sum_visits, max_value,
 * consensus; docs/DISTRIBUTED.md has the formulas), in device order and in
 * double precision, so every process computes the same bits.
 * mctx__finish_root then does what core/search.c's finish() does with one
 * tree's root: the visit-count policy with temperature and the categorical
 * draw (muzero, stochastic_muzero), or the completed-Q softmax and the
 * considered-visit argmax (gumbel_muzero). It uses the per-node formulas of
 * core/node-impl.h, the reductions of core/reduce-impl.h and the PRNG of
 * core/prng-impl.h, the very functions finish() uses, so the statistics of one
 * tree read here give that tree's action and weights bit for bit (a test
 * checks it). Nothing here touches a tree, a device or a process. */
#include <stdlib.h>
#include <string.h>

#include "core/node-impl.h"
#include "core/prng-impl.h"
#include "core/reduce-impl.h"
#include "dist/dist-impl.h"

/* ==== Merging ==== */

static int cmp_f64(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of n values (sorted in place): the middle one, or the mean of the two
 * middle ones. */
static double median(double *x, int32_t n) {
  if (n <= 16) {
    for (int32_t i = 1; i < n; i++) {
      double v = x[i];
      int32_t j = i;
      while (j > 0 && x[j - 1] > v) { x[j] = x[j - 1]; j--; }
      x[j] = v;
    }
  } else {
    qsort(x, (size_t)n, sizeof(double), cmp_f64);
  }
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int mctx__merge_stats(mctx_dist_merge how, int32_t T, const float *const *visits,
                      const float *const *qvalues, const float *const *root_value, int32_t B, int32_t A,
                      int32_t *visits_out, float *qvalues_out, float *root_value_out, mctx_status *st) {
  double *tmp = malloc((size_t)(T > 0 ? T : 1) * sizeof(double));
  double *tmp2 = malloc((size_t)(T > 0 ? T : 1) * sizeof(double));
  if (!tmp || !tmp2) {
    free(tmp);
    free(tmp2);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory merging %d devices", (int)T);
  }
  for (int32_t b = 0; b < B; b++) {
    size_t row = (size_t)b * (size_t)A;
    /* max_value: the device with the largest root value (the first of equals,
     * in device order) gives the element's root value and q-values. */
    int32_t best = 0;
    if (how == MCTX_DIST_MERGE_MAX_VALUE)
      for (int32_t t = 1; t < T; t++)
        if (root_value[t][b] > root_value[best][b]) best = t;
    for (int32_t a = 0; a < A; a++) {
      size_t i = row + (size_t)a;
      int64_t n_sum = 0;
      for (int32_t t = 0; t < T; t++) n_sum += (int64_t)visits[t][i];
      int32_t n_out;
      float q_out = 0.0f;
      if (how == MCTX_DIST_MERGE_CONSENSUS) {
        for (int32_t t = 0; t < T; t++) tmp[t] = (double)visits[t][i];
        /* visits are counts: the median, rounded down for an even number of devices */
        n_out = (int32_t)median(tmp, T);
        int32_t k = 0;
        for (int32_t t = 0; t < T; t++)
          if (visits[t][i] > 0.0f) tmp2[k++] = (double)qvalues[t][i];
        if (n_out > 0 && k > 0) q_out = (float)median(tmp2, k);
      } else {
        n_out = (int32_t)n_sum;
        if (n_sum > 0) {
          if (how == MCTX_DIST_MERGE_SUM_VISITS) {
            double acc = 0.0;
            for (int32_t t = 0; t < T; t++) acc += (double)visits[t][i] * (double)qvalues[t][i];
            q_out = (float)(acc / (double)n_sum);
          } else {
            /* the best device's q-value, as it reported it (0 where it did
             * not visit the action) */
            q_out = qvalues[best][i];
          }
        }
      }
      visits_out[i] = n_out;
      qvalues_out[i] = n_out > 0 ? q_out : 0.0f;
    }
    /* The root value. */
    float v_out;
    if (how == MCTX_DIST_MERGE_SUM_VISITS) {
      /* weighted by each device's root visits: 1 + its simulations */
      double acc = 0.0, wsum = 0.0;
      for (int32_t t = 0; t < T; t++) {
        double w = 1.0;
        for (int32_t a = 0; a < A; a++) w += (double)visits[t][row + (size_t)a];
        acc += w * (double)root_value[t][b];
        wsum += w;
      }
      v_out = (float)(acc / wsum);
    } else if (how == MCTX_DIST_MERGE_MAX_VALUE) {
      v_out = root_value[best][b];
    } else {
      for (int32_t t = 0; t < T; t++) tmp[t] = (double)root_value[t][b];
      v_out = (float)median(tmp, T);
    }
    root_value_out[b] = v_out;
  }
  free(tmp);
  free(tmp2);
  return 0;
}

/* ==== The policies' last step ==== */

/* qtransforms.py over one root's children, from statistics instead of a tree:
 * the same formulas and order as core/search.c's qtransform(). probs are the
 * softmax of the root's (masked) logits. scratch: 2 * n floats. */
static void qtransform_root(const mctx_qtransform *qt, const int32_t *vis, const float *q, float node_value,
                            float raw_value, const float *probs, int32_t n, float *scratch, float *out) {
  float *safe = scratch, *tmp = scratch + n;
  if (qt->kind == MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS) {
    for (int32_t i = 0; i < n; i++) safe[i] = vis[i] > 0 ? q[i] : node_value;
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
  int32_t sum_visits = 0, max_visits = 0;
  for (int32_t i = 0; i < n; i++) {
    sum_visits += vis[i];
    max_visits = vis[i] > max_visits ? vis[i] : max_visits;
  }
  float value = raw_value;
  if (qt->use_mixed_value) {
    for (int32_t i = 0; i < n; i++) tmp[i] = vis[i] > 0 ? mctx__mix_prior(probs[i]) : 0.0f;
    float sum_probs = mctx__sum_canon(tmp, n);
    for (int32_t i = 0; i < n; i++) {
      float x = mctx__mix_prior(probs[i]) * q[i] / sum_probs;
      tmp[i] = vis[i] > 0 ? x : 0.0f;
    }
    float weighted_q = mctx__sum_canon(tmp, n);
    value = mctx__mixed_value(value, sum_visits, weighted_q);
  }
  for (int32_t i = 0; i < n; i++) out[i] = vis[i] > 0 ? q[i] : value;
  if (qt->rescale_values) {
    float lo = mctx__min_f32(out, n), hi = mctx__max_f32(out, n);
    for (int32_t i = 0; i < n; i++) out[i] = mctx__rescale(out[i], lo, hi, qt->epsilon);
  }
  float scale = mctx__mix_scale(qt->maxvisit_init, max_visits, qt->value_scale);
  for (int32_t i = 0; i < n; i++) out[i] = scale * out[i];
}

void mctx__finish_root(const mctx_search_params *p, int32_t A, const mctx__root_stats *rs, float *scratch,
                       int32_t *action, float *weights, float *visit_probs) {
  float *counts = scratch, *t0 = scratch + A, *t1 = scratch + 2 * (size_t)A, *t2 = scratch + 3 * (size_t)A;
  const int32_t *vis = rs->visits;
  const uint8_t *inv = rs->invalid;
  for (int32_t a = 0; a < A; a++) counts[a] = (float)vis[a];
  const mctx_elem_key *ek = &rs->key;

  if (p->policy == MCTX_POLICY_GUMBEL_MUZERO) {
    /* The root's logits as the search stored them (masked when a mask was
     * given), their softmax, the completed q-values. */
    float *logits = t0, *probs = t1, *cq = t2, *qs = scratch + 4 * (size_t)A;
    memcpy(logits, rs->prior_logits, (size_t)A * sizeof(float));
    if (inv) {
      float m = mctx__max_f32(logits, A);
      for (int32_t a = 0; a < A; a++) logits[a] = mctx__mask_logit(logits[a], m, inv[a]);
    }
    mctx__softmax(logits, probs, A);
    mctx_qtransform qt = mctx_search_qtransform(p);
    qtransform_root(&qt, vis, rs->qvalues, rs->value, rs->raw_value, probs, A, qs, cq);
    /* The Gumbel noise of the element's own key (init_root's draw). */
    mctx_key noise_key = mctx__split_nth(p->prng, ek->key, 2u, 1u);
    uint32_t total = (uint32_t)ek->group_size * (uint32_t)A;
    int32_t considered = 0;
    for (int32_t a = 0; a < A; a++) considered = vis[a] > considered ? vis[a] : considered;
    float max_logit = mctx__max_f32(logits, A);
    float *score = probs; /* probs are no longer needed */
    for (int32_t a = 0; a < A; a++) {
      uint32_t bits = mctx__bits_nth(p->prng, noise_key, total, (uint32_t)ek->group_index * (uint32_t)A + (uint32_t)a);
      float g = p->gumbel_scale * mctx__gumbel_bits(bits);
      score[a] = mctx__score_considered(g, logits[a], max_logit, cq[a], vis[a], considered);
      if (inv && inv[a]) score[a] = MCTX_F32_NINF;
    }
    *action = mctx__argmax_f32(score, A);
    for (int32_t a = 0; a < A; a++) score[a] = logits[a] + cq[a];
    if (inv) {
      float m = mctx__max_f32(score, A);
      for (int32_t a = 0; a < A; a++) score[a] = mctx__mask_logit(score[a], m, inv[a]);
    }
    mctx__softmax(score, weights, A);
  } else {
    float total = mctx__sum_canon(counts, A);
    for (int32_t a = 0; a < A; a++)
      weights[a] = total > 0.0f ? counts[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)A;
    float *logits = t0;
    for (int32_t a = 0; a < A; a++) logits[a] = mctx__logit_of_prob(weights[a]);
    float m = mctx__max_f32(logits, A);
    for (int32_t a = 0; a < A; a++) logits[a] = mctx__temper(logits[a], m, p->temperature);
    /* The categorical draw with the element's own final key. */
    mctx_key final_key = mctx__split_nth(p->prng, ek->key, 3u, 0u);
    uint32_t total_n = (uint32_t)ek->group_size * (uint32_t)A;
    int32_t best_a = 0;
    float best = MCTX_F32_NINF;
    for (int32_t a = 0; a < A; a++) {
      uint32_t bits = mctx__bits_nth(p->prng, final_key, total_n, (uint32_t)ek->group_index * (uint32_t)A + (uint32_t)a);
      float v = mctx__gumbel_bits(bits) + logits[a];
      if (a == 0 || v > best) { best = v; best_a = a; }
    }
    *action = best_a;
  }
  if (visit_probs) {
    float total = mctx__sum_canon(counts, A);
    for (int32_t a = 0; a < A; a++)
      visit_probs[a] = total > 0.0f ? counts[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)A;
  }
}
