/* api/encode.c: a job's result as JSON (DESIGN.md), the tree in mctx's two
 * forms, the error envelope, and the records the service stores.
 *
 *   arrays: every field of mctx's Tree by its name, as nested lists
 *           ([B][N] and [B][N][A]); for stochastic trees the action axis keeps
 *           the decision actions, as mctx's stochastic_muzero_policy returns.
 *   nested: per batch element, the root's node dictionary in the format of
 *           mctx's tests/test_data (prior, visit, value_view, raw_value_view,
 *           child_stats, evaluation_index, action, reward).
 * Node slots no simulation filled get mctx's defaults (visits 0, parent -1,
 * unvisited children -1, zeros). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-impl.h"
#include "util/jsonw.h"

int mctx_http_status(int code) {
  switch (code) {
    case MCTX_OK: return 200;
    case MCTX_EINVALID: case MCTX_ERANGE: case MCTX_ESHAPE: case MCTX_ETYPE: case MCTX_EMISSING:
    case MCTX_EPARSE: case MCTX_ENONFINITE: case MCTX_EUNSUPPORTED: case MCTX_ELIMIT:
      return 400;
    case MCTX_ENOTFOUND: return 400;  /* an unknown model named in a request */
    case MCTX_ENOMEM: case MCTX_EBUSY: case MCTX_ETIMEOUT: case MCTX_EDB: return 503;
    case MCTX_ECANCELED: return 499;
    default: return 500;
  }
}

static const char *status_message(int http) {
  switch (http) {
    case 400: return "invalid request";
    case 401: return "authentication required";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "request body too large";
    case 415: return "unsupported media type";
    case 429: return "too many requests";
    case 499: return "request canceled";
    case 503: return "service unavailable";
    default: return http >= 500 ? "internal error" : "error";
  }
}

void mctx_error_json(mctx_buf *out, int http_status, const mctx_status *st) {
  mctx_jw w;
  mctx_jw_init(&w, out);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "status_code", mctx_jw_i64, http_status);
  char msg[600];
  if (st && st->field[0]) snprintf(msg, sizeof msg, "%s: %s", st->field, st->reason);
  else if (st && st->reason[0]) snprintf(msg, sizeof msg, "%s", st->reason);
  else snprintf(msg, sizeof msg, "%s", status_message(http_status));
  MCTX_JW_KV(&w, "message", mctx_jw_str, msg);
  mctx_jw_key(&w, "details");
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "field");
  if (st && st->field[0]) mctx_jw_str(&w, st->field);
  else mctx_jw_null(&w);
  MCTX_JW_KV(&w, "reason", mctx_jw_str, st && st->reason[0] ? st->reason : status_message(http_status));
  if (st && st->code) MCTX_JW_KV(&w, "code", mctx_jw_str, mctx_err_name(st->code));
  mctx_jw_end(&w);
  mctx_jw_end(&w);
}

/* ==== Trees ==== */

static size_t node_of(const mctx_tree *t, int32_t b, int32_t n) { return (size_t)b * (size_t)t->num_nodes + (size_t)n; }

typedef enum { F_VISITS, F_RAW, F_VALUES, F_PARENTS, F_AFP } node_field;
typedef enum { C_INDEX, C_LOGITS, C_VISITS, C_REWARDS, C_DISCOUNTS, C_VALUES } child_field;

static void node_array(mctx_jw *w, const mctx_tree *t, node_field f) {
  mctx_jw_arr(w);
  for (int32_t b = 0; b < t->batch_size; b++) {
    mctx_jw_arr(w);
    for (int32_t n = 0; n < t->num_nodes; n++) {
      size_t i = node_of(t, b, n);
      int used = t->node_visits[i] > 0;
      switch (f) {
        case F_VISITS: mctx_jw_i64(w, t->node_visits[i]); break;
        case F_RAW: mctx_jw_f32(w, used ? t->raw_values[i] : 0.0f); break;
        case F_VALUES: mctx_jw_f32(w, used ? t->node_values[i] : 0.0f); break;
        case F_PARENTS: mctx_jw_i64(w, used ? t->parents[i] : -1); break;
        case F_AFP: mctx_jw_i64(w, used ? t->action_from_parent[i] : -1); break;
      }
    }
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
}

static void child_array(mctx_jw *w, const mctx_tree *t, child_field f) {
  int32_t A = t->num_decision_actions;
  mctx_jw_arr(w);
  for (int32_t b = 0; b < t->batch_size; b++) {
    mctx_jw_arr(w);
    for (int32_t n = 0; n < t->num_nodes; n++) {
      size_t i = node_of(t, b, n);
      int used = t->node_visits[i] > 0;
      size_t row = i * (size_t)t->num_actions;
      mctx_jw_arr(w);
      for (int32_t a = 0; a < A; a++) {
        size_t c = row + (size_t)a;
        int child = used && t->children_index[c] >= 0;
        switch (f) {
          case C_INDEX: mctx_jw_i64(w, used ? t->children_index[c] : -1); break;
          case C_VISITS: mctx_jw_i64(w, used ? t->children_visits[c] : 0); break;
          case C_LOGITS: {
            float v = used ? t->children_prior_logits[c] : 0.0f;
            /* -inf (a stochastic tree's padding) does not exist in JSON:
             * the lowest float32 stands for it. */
            mctx_jw_f32(w, isinf(v) ? (v < 0 ? -3.4028234663852886e38f : 3.4028234663852886e38f) : v);
            break;
          }
          case C_REWARDS: mctx_jw_f32(w, child ? t->children_rewards[c] : 0.0f); break;
          case C_DISCOUNTS: mctx_jw_f32(w, child ? t->children_discounts[c] : 0.0f); break;
          case C_VALUES: mctx_jw_f32(w, child ? t->children_values[c] : 0.0f); break;
        }
      }
      mctx_jw_end(w);
    }
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
}

int mctx__encode_tree_arrays(mctx_jw *w, const mctx_tree *t, const mctx_model_info *info) {
  mctx_jw_obj(w);
  mctx_jw_key(w, "node_visits"); node_array(w, t, F_VISITS);
  mctx_jw_key(w, "raw_values"); node_array(w, t, F_RAW);
  mctx_jw_key(w, "node_values"); node_array(w, t, F_VALUES);
  mctx_jw_key(w, "parents"); node_array(w, t, F_PARENTS);
  mctx_jw_key(w, "action_from_parent"); node_array(w, t, F_AFP);
  mctx_jw_key(w, "children_index"); child_array(w, t, C_INDEX);
  mctx_jw_key(w, "children_prior_logits"); child_array(w, t, C_LOGITS);
  mctx_jw_key(w, "children_visits"); child_array(w, t, C_VISITS);
  mctx_jw_key(w, "children_rewards"); child_array(w, t, C_REWARDS);
  mctx_jw_key(w, "children_discounts"); child_array(w, t, C_DISCOUNTS);
  mctx_jw_key(w, "children_values"); child_array(w, t, C_VALUES);
  mctx_jw_key(w, "root_invalid_actions");
  mctx_jw_arr(w);
  for (int32_t b = 0; b < t->batch_size; b++) {
    mctx_jw_arr(w);
    for (int32_t a = 0; a < t->num_decision_actions; a++)
      mctx_jw_i64(w, t->root_invalid_actions[(size_t)b * (size_t)t->num_actions + (size_t)a]);
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
  if (info && t->embedding_bytes > 0 && info->embedding_kind != MCTX_EMB_BYTES && info->embedding_count > 0 &&
      (size_t)info->embedding_count * 4 == (size_t)t->embedding_bytes) {
    mctx_jw_key(w, "embeddings");
    mctx_jw_arr(w);
    for (int32_t b = 0; b < t->batch_size; b++) {
      mctx_jw_arr(w);
      for (int32_t n = 0; n < t->num_nodes; n++) {
        size_t i = node_of(t, b, n);
        const uint8_t *e = t->embeddings + i * (size_t)t->embedding_bytes;
        int used = t->node_visits[i] > 0;
        if (info->embedding_count > 1) mctx_jw_arr(w);
        for (int32_t k = 0; k < info->embedding_count; k++) {
          if (!used) { mctx_jw_i64(w, 0); continue; }
          if (info->embedding_kind == MCTX_EMB_U32) {
            uint32_t u;
            memcpy(&u, e + 4 * k, 4);
            mctx_jw_i64(w, u);
          } else {
            float f;
            memcpy(&f, e + 4 * k, 4);
            mctx_jw_f32(w, f);
          }
        }
        if (info->embedding_count > 1) mctx_jw_end(w);
      }
      mctx_jw_end(w);
    }
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
  return w->buf->failed ? -1 : 0;
}

/* One node's dictionary, its children in turn, with an explicit stack (a
 * deep tree must not exhaust the C stack). */
typedef struct frame {
  int32_t node;
  int32_t next_action;
} frame;

static void node_open(mctx_jw *w, const mctx_tree *t, int32_t b, int32_t node, float prior, int32_t action,
                      float reward, int has_reward) {
  size_t i = node_of(t, b, node);
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "prior", mctx_jw_f32, prior);
  MCTX_JW_KV(w, "visit", mctx_jw_i64, t->node_visits[i]);
  MCTX_JW_KV(w, "value_view", mctx_jw_f32, t->node_values[i]);
  MCTX_JW_KV(w, "raw_value_view", mctx_jw_f32, t->raw_values[i]);
  MCTX_JW_KV(w, "evaluation_index", mctx_jw_i64, node);
  if (action >= 0) MCTX_JW_KV(w, "action", mctx_jw_i64, action);
  if (has_reward) MCTX_JW_KV(w, "reward", mctx_jw_f32, reward);
  mctx_jw_key(w, "child_stats");
  mctx_jw_arr(w);
}

int mctx__encode_tree_nested(mctx_jw *w, const mctx_tree *t) {
  int32_t A = t->num_decision_actions;
  frame *stack = malloc((size_t)t->num_nodes * sizeof(frame) + sizeof(frame));
  if (!stack) { w->buf->failed = 1; return -1; }
  mctx_jw_arr(w);
  for (int32_t b = 0; b < t->batch_size; b++) {
    int depth = 0;
    node_open(w, t, b, 0, 1.0f, -1, 0.0f, 0);
    stack[depth++] = (frame){0, 0};
    while (depth > 0 && !w->buf->failed) {
      frame *f = &stack[depth - 1];
      if (f->next_action == A) {
        mctx_jw_end(w);  /* child_stats */
        mctx_jw_end(w);  /* node */
        depth--;
        continue;
      }
      int32_t a = f->next_action++;
      size_t c = node_of(t, b, f->node) * (size_t)t->num_actions + (size_t)a;
      float prior = t->children_prior_probs[c];
      if (!(prior == prior)) prior = 0.0f;
      int32_t child = t->children_index[c];
      if (child < 0) {
        mctx_jw_obj(w);
        MCTX_JW_KV(w, "prior", mctx_jw_f32, prior);
        mctx_jw_key(w, "child_stats");
        mctx_jw_arr(w);
        mctx_jw_end(w);
        MCTX_JW_KV(w, "action", mctx_jw_i64, a);
        mctx_jw_end(w);
        continue;
      }
      if (w->depth + 4 >= MCTX_JW_MAX_DEPTH) { w->buf->failed = 1; break; }
      node_open(w, t, b, child, prior, a, t->children_rewards[c], 1);
      stack[depth++] = (frame){child, 0};
    }
  }
  mctx_jw_end(w);
  free(stack);
  return w->buf->failed ? -1 : 0;
}

int mctx_job_tree_json(const mctx_job *j, int nested, mctx_buf *out) {
  if (!j->tree) return MCTX_ENOTFOUND;
  mctx_jw w;
  mctx_jw_init(&w, out);
  return nested ? mctx__encode_tree_nested(&w, j->tree) : mctx__encode_tree_arrays(&w, j->tree, &j->model->info);
}

/* ==== The result ==== */

static void f32_rows(mctx_jw *w, const float *v, int32_t rows, int32_t cols) {
  mctx_jw_arr(w);
  for (int32_t r = 0; r < rows; r++) mctx_jw_f32_array(w, v + (size_t)r * (size_t)cols, (size_t)cols);
  mctx_jw_end(w);
}

static void int_rows(mctx_jw *w, const float *v, int32_t rows, int32_t cols) {
  mctx_jw_arr(w);
  for (int32_t r = 0; r < rows; r++) {
    mctx_jw_arr(w);
    for (int32_t c = 0; c < cols; c++) mctx_jw_i64(w, (int64_t)v[(size_t)r * (size_t)cols + (size_t)c]);
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
}

/* distributed_stats: what src/dist did (docs/DISTRIBUTED.md), null for a
 * search on one device. */
static void write_distributed(mctx_jw *w, const mctx_job *j) {
  if (!j->distributed) { mctx_jw_null(w); return; }
  mctx_dist_stats_json(w, &j->dist_stats);
}

int mctx_job_encode(const mctx_job *j, mctx_buf *out) {
  if (j->status.code != 0 || !j->ran) {
    mctx_status st = j->status;
    if (!j->ran && !st.code) mctx_status_set(&st, MCTX_EINTERNAL, NULL, "the search did not run");
    mctx_error_json(out, mctx_http_status(st.code), &st);
    return out->failed ? -1 : 0;
  }
  int32_t B = j->B, A = j->A;
  mctx_jw w;
  mctx_jw_init(&w, out);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "request_id", mctx_jw_str, j->request_id);
  mctx_jw_key(&w, "action");
  mctx_jw_i32_array(&w, j->action, (size_t)B);
  mctx_jw_key(&w, "action_weights");
  f32_rows(&w, j->weights, B, A);
  mctx_jw_key(&w, "search_statistics");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "duration_ms", mctx_jw_f64, j->duration_ms);
  MCTX_JW_KV(&w, "num_expanded_nodes", mctx_jw_i64, j->expanded);
  MCTX_JW_KV(&w, "max_depth_reached", mctx_jw_i64, j->depth_reached);
  MCTX_JW_KV(&w, "search_type", mctx_jw_str, mctx__policy_name(j->params.policy));
  MCTX_JW_KV(&w, "num_simulations", mctx_jw_i64, j->params.num_simulations);
  MCTX_JW_KV(&w, "batch_size", mctx_jw_i64, B);
  MCTX_JW_KV(&w, "num_actions", mctx_jw_i64, A);
  MCTX_JW_KV(&w, "model", mctx_jw_str, j->model_name);
  MCTX_JW_KV(&w, "optimized", mctx_jw_bool, j->use_t4);
  MCTX_JW_KV(&w, "precision", mctx_jw_str, j->precision);
  MCTX_JW_KV(&w, "tensor_core_aligned", mctx_jw_bool, j->tensor_core_aligned);
  MCTX_JW_KV(&w, "device", mctx_jw_str, j->device_used ? j->device_used : "cpu");
  mctx_jw_key(&w, "fallback_reason");
  if (j->fallback_reason[0]) mctx_jw_str(&w, j->fallback_reason);
  else mctx_jw_null(&w);
  MCTX_JW_KV(&w, "seed", mctx_jw_i64, j->seed);
  MCTX_JW_KV(&w, "prng", mctx_jw_str, j->params.prng == MCTX_PRNG_JAX ? "jax" : "jax_legacy");
  MCTX_JW_KV(&w, "batched_with", mctx_jw_i64, j->merged_with > 0 ? j->merged_with - 1 : 0);
  if (j->gpu_ran) {
    /* Device memory before and after, the engine's own peak, and how the
     * batch was cut (docs/GPU.md). */
    mctx_jw_key(&w, "gpu");
    mctx_jw_obj(&w);
    MCTX_JW_KV(&w, "name", mctx_jw_str, j->gpu_name);
    MCTX_JW_KV(&w, "memory_total_mib", mctx_jw_f64, j->gpu_total_mib);
    MCTX_JW_KV(&w, "memory_free_before_mib", mctx_jw_f64, j->gpu_free_before_mib);
    MCTX_JW_KV(&w, "memory_free_after_mib", mctx_jw_f64, j->gpu_free_after_mib);
    MCTX_JW_KV(&w, "engine_peak_mib", mctx_jw_f64, j->gpu_engine_peak_mib);
    MCTX_JW_KV(&w, "chunk_size", mctx_jw_i64, j->gpu_chunk);
    MCTX_JW_KV(&w, "path", mctx_jw_str, j->gpu_path);
    MCTX_JW_KV(&w, "network_precision", mctx_jw_str, j->gpu_precision);
    MCTX_JW_KV(&w, "tensor_core_aligned", mctx_jw_bool, j->gpu_aligned);
    mctx_jw_end(&w);
  }
  mctx_jw_key(&w, "root_value");
  mctx_jw_f32_array(&w, j->root_value, (size_t)B);
  mctx_jw_key(&w, "root_visit_counts");
  int_rows(&w, j->visit_counts, B, A);
  mctx_jw_key(&w, "root_qvalues");
  f32_rows(&w, j->qvalues, B, A);
  mctx_jw_end(&w);
  mctx_jw_key(&w, "distributed_stats");
  write_distributed(&w, j);
  if (j->return_tree && j->tree) {
    mctx_jw_key(&w, "search_tree");
    if (j->return_tree == MCTX__TREE_NESTED) mctx__encode_tree_nested(&w, j->tree);
    else mctx__encode_tree_arrays(&w, j->tree, &j->model->info);
  }
  mctx_jw_end(&w);
  return out->failed ? -1 : 0;
}

/* ==== Records ==== */

char *mctx_job_config_json(const mctx_job *j) {
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  const mctx_search_params *p = &j->params;
  mctx_qtransform q = mctx_search_qtransform(p);
  static const char *const qnames[] = {"default", "by_parent_and_siblings", "by_min_max", "completed_by_mix_value"};
  static const char *const devices[] = {"auto", "cpu", "gpu"};
  static const char *const merges[] = {"sum_visits", "max_value", "consensus"};
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "search_type", mctx_jw_str, mctx__policy_name(p->policy));
  MCTX_JW_KV(&w, "batch_size", mctx_jw_i64, j->B);
  MCTX_JW_KV(&w, "num_actions", mctx_jw_i64, j->A);
  MCTX_JW_KV(&w, "num_simulations", mctx_jw_i64, p->num_simulations);
  mctx_jw_key(&w, "max_depth");
  if (p->max_depth > 0) mctx_jw_i64(&w, p->max_depth); else mctx_jw_null(&w);
  MCTX_JW_KV(&w, "max_num_considered_actions", mctx_jw_i64, p->max_num_considered_actions);
  MCTX_JW_KV(&w, "dirichlet_fraction", mctx_jw_f32, p->dirichlet_fraction);
  MCTX_JW_KV(&w, "dirichlet_alpha", mctx_jw_f32, p->dirichlet_alpha);
  MCTX_JW_KV(&w, "pb_c_init", mctx_jw_f32, p->pb_c_init);
  MCTX_JW_KV(&w, "pb_c_base", mctx_jw_f32, p->pb_c_base);
  MCTX_JW_KV(&w, "temperature", mctx_jw_f32, p->temperature);
  MCTX_JW_KV(&w, "gumbel_scale", mctx_jw_f32, p->gumbel_scale);
  mctx_jw_key(&w, "qtransform");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "name", mctx_jw_str, qnames[q.kind]);
  if (q.kind == MCTX_QTRANSFORM_BY_MIN_MAX) {
    MCTX_JW_KV(&w, "min_value", mctx_jw_f32, q.min_value);
    MCTX_JW_KV(&w, "max_value", mctx_jw_f32, q.max_value);
  } else {
    MCTX_JW_KV(&w, "epsilon", mctx_jw_f32, q.epsilon);
  }
  if (q.kind == MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE) {
    MCTX_JW_KV(&w, "value_scale", mctx_jw_f32, q.value_scale);
    MCTX_JW_KV(&w, "maxvisit_init", mctx_jw_f32, q.maxvisit_init);
    MCTX_JW_KV(&w, "rescale_values", mctx_jw_bool, q.rescale_values);
    MCTX_JW_KV(&w, "use_mixed_value", mctx_jw_bool, q.use_mixed_value);
  }
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "seed", mctx_jw_i64, j->seed);
  MCTX_JW_KV(&w, "prng", mctx_jw_str, p->prng == MCTX_PRNG_JAX ? "jax" : "jax_legacy");
  MCTX_JW_KV(&w, "use_t4_optimizations", mctx_jw_bool, j->use_t4);
  MCTX_JW_KV(&w, "precision", mctx_jw_str, j->precision);
  MCTX_JW_KV(&w, "tensor_core_aligned", mctx_jw_bool, j->tensor_core_aligned);
  MCTX_JW_KV(&w, "distributed", mctx_jw_bool, j->distributed);
  MCTX_JW_KV(&w, "num_devices", mctx_jw_i64, j->num_devices);
  MCTX_JW_KV(&w, "partition_batch", mctx_jw_bool, j->partition_batch);
  MCTX_JW_KV(&w, "partition_search", mctx_jw_bool, j->partition_search);
  MCTX_JW_KV(&w, "merge_strategy", mctx_jw_str, merges[j->merge_strategy]);
  MCTX_JW_KV(&w, "device_type", mctx_jw_str, devices[j->device]);
  mctx_jw_key(&w, "model");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "name", mctx_jw_str, j->model_name);
  if (j->model_params_text && strcmp(j->model_params_text, "null") != 0 && strlen(j->model_params_text) < 65536) {
    mctx_jw_key(&w, "params");
    mctx_jw_raw(&w, j->model_params_text, strlen(j->model_params_text));
  }
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  if (b.failed) { mctx_buf_free(&b); return NULL; }
  return mctx_buf_steal(&b, NULL);
}

char *mctx_job_summary_json(const mctx_job *j) {
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "ok", mctx_jw_bool, j->status.code == 0 && j->ran);
  if (j->status.code == 0 && j->action) {
    size_t shown = j->B < 64 ? (size_t)j->B : 64;
    mctx_jw_key(&w, "action");
    mctx_jw_i32_array(&w, j->action, shown);
    mctx_jw_key(&w, "root_value");
    mctx_jw_f32_array(&w, j->root_value, shown);
    double mean = 0;
    for (int32_t i = 0; i < j->B; i++) mean += j->root_value[i];
    MCTX_JW_KV(&w, "root_value_mean", mctx_jw_f64, mean / j->B);
    MCTX_JW_KV(&w, "truncated", mctx_jw_bool, shown < (size_t)j->B);
  } else {
    MCTX_JW_KV(&w, "error", mctx_jw_str, j->status.reason);
  }
  mctx_jw_end(&w);
  if (b.failed) { mctx_buf_free(&b); return NULL; }
  return mctx_buf_steal(&b, NULL);
}
