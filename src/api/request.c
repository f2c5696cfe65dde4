/* api/request.c: decoding and validating a search request (DESIGN.md).
 *
 * Every field is checked for its type, range and shape before anything the
 * request sizes is allocated; an error names the field by its path
 * ("root_input.prior_logits[3][7]") and says why. Unknown fields are errors
 * too, so that a misspelt parameter is never silently ignored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-impl.h"
#include "util/jsonw.h"

/* ==== Small readers ==== */

static int is_null(const mctx_json *v) { return !v || v->type == MCTX_JSON_NULL; }

static int want_object(const mctx_json *v, const char *field, mctx_status *st) {
  if (v->type != MCTX_JSON_OBJECT)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be an object, not %s", mctx_json_type_name(v->type));
  return 0;
}

/* Rejects members of `obj` not in the NULL-terminated list. */
static int known_fields(const mctx_json *obj, const char *prefix, const char *const *known, mctx_status *st) {
  for (uint32_t i = 0; i < obj->len; i++) {
    const char *k = obj->u.members[i].key;
    int ok = 0;
    for (const char *const *p = known; *p && !ok; p++) ok = strcmp(*p, k) == 0;
    if (!ok) {
      char f[160];
      snprintf(f, sizeof f, "%s%s%.100s", prefix, prefix[0] ? "." : "", k);
      return mctx_status_set(st, MCTX_EINVALID, f, "unknown field");
    }
  }
  return 0;
}

static int get_int(const mctx_json *obj, const char *key, const char *field, int64_t dflt, int64_t lo, int64_t hi,
                   int64_t *out, mctx_status *st) {
  int rc = mctx_json_int(mctx_json_get(obj, key), dflt, out, field, st);
  if (rc != 0) return rc;
  if (*out < lo || *out > hi)
    return mctx_status_set(st, MCTX_ERANGE, field, "must be in [%lld, %lld], not %lld", (long long)lo, (long long)hi,
                           (long long)*out);
  return 0;
}

static int get_float(const mctx_json *obj, const char *key, const char *field, double dflt, double *out,
                     mctx_status *st) {
  int rc = mctx_json_number(mctx_json_get(obj, key), dflt, out, field, st);
  if (rc != 0) return rc;
  if (!isfinite(*out)) return mctx_status_set(st, MCTX_ENONFINITE, field, "must be a finite number");
  if (fabs(*out) > 3.4e38) return mctx_status_set(st, MCTX_ERANGE, field, "is outside float32 range");
  return 0;
}

static int get_bool(const mctx_json *obj, const char *key, const char *field, int dflt, int *out, mctx_status *st) {
  return mctx_json_bool(mctx_json_get(obj, key), dflt, out, field, st);
}

/* A string among `choices` (NULL-terminated); *index is its position. */
static int get_enum(const mctx_json *obj, const char *key, const char *field, int dflt, const char *const *choices,
                    int *index, mctx_status *st) {
  const mctx_json *v = mctx_json_get(obj, key);
  if (is_null(v)) { *index = dflt; return 0; }
  if (v->type != MCTX_JSON_STRING)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be a string, not %s", mctx_json_type_name(v->type));
  for (int i = 0; choices[i]; i++)
    if (strcmp(choices[i], v->u.str) == 0) { *index = i; return 0; }
  char list[256] = "";
  for (int i = 0; choices[i]; i++) {
    size_t n = strlen(list);
    snprintf(list + n, sizeof list - n, "%s\"%s\"", i ? ", " : "", choices[i]);
  }
  return mctx_status_set(st, MCTX_EINVALID, field, "unknown value \"%.60s\"; expected one of %s", v->u.str, list);
}

/* ==== Arrays ==== */

/* Reads a [rows][cols] array of finite numbers into out (float32). */
static int read_matrix(const mctx_json *v, const char *field, int32_t rows, int32_t cols, float *out,
                       mctx_status *st) {
  if (v->type != MCTX_JSON_ARRAY)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be an array of %d rows, not %s", (int)rows,
                           mctx_json_type_name(v->type));
  if ((int32_t)v->len != rows)
    return mctx_status_set(st, MCTX_ESHAPE, field, "has %u rows; batch_size is %d", v->len, (int)rows);
  for (int32_t r = 0; r < rows; r++) {
    const mctx_json *row = &v->u.items[r];
    char f[160];
    if (row->type != MCTX_JSON_ARRAY || (int32_t)row->len != cols) {
      snprintf(f, sizeof f, "%s[%d]", field, (int)r);
      if (row->type != MCTX_JSON_ARRAY)
        return mctx_status_set(st, MCTX_ETYPE, f, "must be an array of %d numbers, not %s", (int)cols,
                               mctx_json_type_name(row->type));
      return mctx_status_set(st, MCTX_ESHAPE, f, "has %u entries; num_actions is %d", row->len, (int)cols);
    }
    for (int32_t c = 0; c < cols; c++) {
      const mctx_json *x = &row->u.items[c];
      if (x->type != MCTX_JSON_NUMBER || !isfinite(x->u.num) || fabs(x->u.num) > 3.4e38) {
        snprintf(f, sizeof f, "%s[%d][%d]", field, (int)r, (int)c);
        if (x->type != MCTX_JSON_NUMBER)
          return mctx_status_set(st, MCTX_ETYPE, f, "must be a number, not %s", mctx_json_type_name(x->type));
        return mctx_status_set(st, MCTX_ENONFINITE, f, "must be a finite float32 number");
      }
      out[(size_t)r * (size_t)cols + (size_t)c] = (float)x->u.num;
    }
  }
  return 0;
}

static int read_vector(const mctx_json *v, const char *field, int32_t n, float *out, mctx_status *st) {
  if (v->type != MCTX_JSON_ARRAY)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be an array of %d numbers, not %s", (int)n,
                           mctx_json_type_name(v->type));
  if ((int32_t)v->len != n)
    return mctx_status_set(st, MCTX_ESHAPE, field, "has %u entries; batch_size is %d", v->len, (int)n);
  for (int32_t i = 0; i < n; i++) {
    const mctx_json *x = &v->u.items[i];
    if (x->type != MCTX_JSON_NUMBER || !isfinite(x->u.num) || fabs(x->u.num) > 3.4e38) {
      char f[160];
      snprintf(f, sizeof f, "%s[%d]", field, (int)i);
      if (x->type != MCTX_JSON_NUMBER)
        return mctx_status_set(st, MCTX_ETYPE, f, "must be a number, not %s", mctx_json_type_name(x->type));
      return mctx_status_set(st, MCTX_ENONFINITE, f, "must be a finite float32 number");
    }
    out[i] = (float)x->u.num;
  }
  return 0;
}

static int read_mask(const mctx_json *v, const char *field, int32_t rows, int32_t cols, uint8_t *out,
                     mctx_status *st) {
  if (v->type != MCTX_JSON_ARRAY)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be an array of %d rows, not %s", (int)rows,
                           mctx_json_type_name(v->type));
  if ((int32_t)v->len != rows)
    return mctx_status_set(st, MCTX_ESHAPE, field, "has %u rows; batch_size is %d", v->len, (int)rows);
  for (int32_t r = 0; r < rows; r++) {
    const mctx_json *row = &v->u.items[r];
    char f[160];
    snprintf(f, sizeof f, "%s[%d]", field, (int)r);
    if (row->type != MCTX_JSON_ARRAY)
      return mctx_status_set(st, MCTX_ETYPE, f, "must be an array of %d flags, not %s", (int)cols,
                             mctx_json_type_name(row->type));
    if ((int32_t)row->len != cols)
      return mctx_status_set(st, MCTX_ESHAPE, f, "has %u entries; num_actions is %d", row->len, (int)cols);
    int32_t valid = 0;
    for (int32_t c = 0; c < cols; c++) {
      const mctx_json *x = &row->u.items[c];
      int flag;
      if (x->type == MCTX_JSON_BOOL) flag = x->boolean;
      else if (x->type == MCTX_JSON_NUMBER && (x->u.num == 0.0 || x->u.num == 1.0)) flag = x->u.num != 0.0;
      else {
        snprintf(f, sizeof f, "%s[%d][%d]", field, (int)r, (int)c);
        return mctx_status_set(st, MCTX_EINVALID, f, "must be 0, 1, true or false");
      }
      out[(size_t)r * (size_t)cols + (size_t)c] = (uint8_t)flag;
      valid += !flag;
    }
    if (valid == 0)
      return mctx_status_set(st, MCTX_EINVALID, f, "every action of batch element %d is invalid: nothing to search",
                             (int)r);
  }
  return 0;
}

/* Infers a dimension from an array when the request does not state it. */
static int32_t array_len(const mctx_json *v) { return v && v->type == MCTX_JSON_ARRAY ? (int32_t)v->len : -1; }

/* ==== Sections ==== */

static const char *const POLICIES[] = {"muzero", "gumbel_muzero", "stochastic_muzero", NULL};

const char *mctx__policy_name(mctx_policy p) {
  return p >= MCTX_POLICY_MUZERO && p <= MCTX_POLICY_STOCHASTIC_MUZERO ? POLICIES[p] : "unknown";
}

static int decode_qtransform(const mctx_json *q, mctx_search_params *p, mctx_status *st) {
  if (is_null(q)) return 0;
  const char *f = "search_params.qtransform";
  /* A bare name is accepted too: "qtransform": "completed_by_mix_value". */
  if (q->type != MCTX_JSON_STRING) {
    int rc = want_object(q, f, st);
    if (rc) return rc;
  }
  static const char *const names[] = {"by_parent_and_siblings", "by_min_max", "completed_by_mix_value",
                                      "qtransform_by_parent_and_siblings", "qtransform_by_min_max",
                                      "qtransform_completed_by_mix_value", NULL};
  int idx = -1;
  if (q->type == MCTX_JSON_STRING) {
    for (int i = 0; names[i]; i++)
      if (strcmp(names[i], q->u.str) == 0) idx = i;
    if (idx < 0) return mctx_status_set(st, MCTX_EINVALID, f, "unknown q-transform \"%.60s\"", q->u.str);
  } else {
    const mctx_json *name = mctx_json_get(q, "name");
    if (is_null(name)) return mctx_status_set(st, MCTX_EMISSING, "search_params.qtransform.name", "is required");
    int rc = get_enum(q, "name", "search_params.qtransform.name", -1, names, &idx, st);
    if (rc) return rc;
  }
  int kind = idx % 3;
  p->qtransform.kind = kind == 0 ? MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS
                     : kind == 1 ? MCTX_QTRANSFORM_BY_MIN_MAX : MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE;
  if (q->type == MCTX_JSON_STRING) {
    if (kind == 1)
      return mctx_status_set(st, MCTX_EMISSING, "search_params.qtransform.min_value",
                             "by_min_max needs min_value and max_value: give the q-transform as an object");
    return 0;
  }
  static const char *const k_ps[] = {"name", "epsilon", NULL};
  static const char *const k_mm[] = {"name", "min_value", "max_value", NULL};
  static const char *const k_mix[] = {"name", "value_scale", "maxvisit_init", "rescale_values", "use_mixed_value",
                                      "epsilon", NULL};
  int rc = known_fields(q, f, kind == 0 ? k_ps : kind == 1 ? k_mm : k_mix, st);
  if (rc) return rc;
  double x;
  if (kind == 0 || kind == 2) {
    if ((rc = get_float(q, "epsilon", "search_params.qtransform.epsilon", 1e-8, &x, st))) return rc;
    if (x < 0) return mctx_status_set(st, MCTX_ERANGE, "search_params.qtransform.epsilon", "must be >= 0");
    p->qtransform.epsilon = (float)x;
  }
  if (kind == 1) {
    if (is_null(mctx_json_get(q, "min_value")))
      return mctx_status_set(st, MCTX_EMISSING, "search_params.qtransform.min_value", "is required for by_min_max");
    if (is_null(mctx_json_get(q, "max_value")))
      return mctx_status_set(st, MCTX_EMISSING, "search_params.qtransform.max_value", "is required for by_min_max");
    if ((rc = get_float(q, "min_value", "search_params.qtransform.min_value", 0, &x, st))) return rc;
    p->qtransform.min_value = (float)x;
    if ((rc = get_float(q, "max_value", "search_params.qtransform.max_value", 0, &x, st))) return rc;
    p->qtransform.max_value = (float)x;
    if (!(p->qtransform.max_value > p->qtransform.min_value))
      return mctx_status_set(st, MCTX_ERANGE, "search_params.qtransform.max_value", "must be greater than min_value");
  }
  if (kind == 2) {
    if ((rc = get_float(q, "value_scale", "search_params.qtransform.value_scale", 0.1, &x, st))) return rc;
    p->qtransform.value_scale = (float)x;
    if ((rc = get_float(q, "maxvisit_init", "search_params.qtransform.maxvisit_init", 50.0, &x, st))) return rc;
    p->qtransform.maxvisit_init = (float)x;
    int b;
    if ((rc = get_bool(q, "rescale_values", "search_params.qtransform.rescale_values", 1, &b, st))) return rc;
    p->qtransform.rescale_values = b;
    if ((rc = get_bool(q, "use_mixed_value", "search_params.qtransform.use_mixed_value", 1, &b, st))) return rc;
    p->qtransform.use_mixed_value = b;
  }
  return 0;
}

static int decode_search_params(const mctx_api_env *env, mctx_job *j, const mctx_json *sp, mctx_status *st) {
  mctx_search_params *p = &j->params;
  strcpy(j->precision, "fp32");
  j->tensor_core_aligned = 1;
  j->num_devices = 1;
  j->partition_batch = 1;
  if (is_null(sp)) return 0;
  int rc = want_object(sp, "search_params", st);
  if (rc) return rc;
  static const char *const known[] = {
    "num_simulations", "max_depth", "max_num_considered_actions", "dirichlet_fraction", "dirichlet_alpha",
    "use_t4_optimizations", "precision", "tensor_core_aligned", "distributed", "num_devices", "partition_batch",
    "seed", "prng", "pb_c_init", "pb_c_base", "temperature", "gumbel_scale", "qtransform", "partition_search",
    "merge_strategy", NULL};
  if ((rc = known_fields(sp, "search_params", known, st))) return rc;
  int64_t i64;
  double x;
  int b;
  if ((rc = get_int(sp, "num_simulations", "search_params.num_simulations", 32, 1, env->limits.max_num_simulations,
                    &i64, st)))
    return rc;
  p->num_simulations = (int32_t)i64;
  if (!is_null(mctx_json_get(sp, "max_depth"))) {
    if ((rc = get_int(sp, "max_depth", "search_params.max_depth", 0, 1, INT32_MAX, &i64, st))) return rc;
    p->max_depth = (int32_t)i64;
  }
  if ((rc = get_int(sp, "max_num_considered_actions", "search_params.max_num_considered_actions", 16, 1, INT32_MAX,
                    &i64, st)))
    return rc;
  p->max_num_considered_actions = (int32_t)i64;
  if ((rc = get_float(sp, "dirichlet_fraction", "search_params.dirichlet_fraction", 0.25, &x, st))) return rc;
  if (x < 0 || x > 1) return mctx_status_set(st, MCTX_ERANGE, "search_params.dirichlet_fraction", "must be in [0, 1], not %g", x);
  mctx_search_params_set_dirichlet_fraction(p, x);
  if ((rc = get_float(sp, "dirichlet_alpha", "search_params.dirichlet_alpha", 0.3, &x, st))) return rc;
  if (!(x > 0)) return mctx_status_set(st, MCTX_ERANGE, "search_params.dirichlet_alpha", "must be > 0, not %g", x);
  p->dirichlet_alpha = (float)x;
  if ((rc = get_float(sp, "pb_c_init", "search_params.pb_c_init", 1.25, &x, st))) return rc;
  p->pb_c_init = (float)x;
  if ((rc = get_float(sp, "pb_c_base", "search_params.pb_c_base", 19652, &x, st))) return rc;
  if (!(x > 0)) return mctx_status_set(st, MCTX_ERANGE, "search_params.pb_c_base", "must be > 0, not %g", x);
  p->pb_c_base = (float)x;
  if ((rc = get_float(sp, "temperature", "search_params.temperature", 1.0, &x, st))) return rc;
  if (x < 0) return mctx_status_set(st, MCTX_ERANGE, "search_params.temperature", "must be >= 0, not %g", x);
  p->temperature = (float)x;
  if ((rc = get_float(sp, "gumbel_scale", "search_params.gumbel_scale", 1.0, &x, st))) return rc;
  if (x < 0) return mctx_status_set(st, MCTX_ERANGE, "search_params.gumbel_scale", "must be >= 0, not %g", x);
  p->gumbel_scale = (float)x;
  if ((rc = get_int(sp, "seed", "search_params.seed", 0, INT64_MIN, INT64_MAX, &i64, st))) return rc;
  j->seed = i64;
  p->key = mctx_prng_key(i64);
  static const char *const prngs[] = {"jax", "jax_legacy", NULL};
  int idx;
  if ((rc = get_enum(sp, "prng", "search_params.prng", 0, prngs, &idx, st))) return rc;
  p->prng = idx == 0 ? MCTX_PRNG_JAX : MCTX_PRNG_JAX_LEGACY;
  if ((rc = decode_qtransform(mctx_json_get(sp, "qtransform"), p, st))) return rc;

  if ((rc = get_bool(sp, "use_t4_optimizations", "search_params.use_t4_optimizations", 0, &b, st))) return rc;
  j->use_t4 = b;
  static const char *const precisions[] = {"fp32", "fp16", "bf16", "float32", "float16", "bfloat16", NULL};
  if ((rc = get_enum(sp, "precision", "search_params.precision", 0, precisions, &idx, st))) return rc;
  strcpy(j->precision, precisions[idx % 3]);
  /* Absent is not fp32: without one, the model's declared precision applies
   * (mctx_job_prepare, once the model is known). */
  j->precision_given = !is_null(mctx_json_get(sp, "precision"));
  if ((rc = get_bool(sp, "tensor_core_aligned", "search_params.tensor_core_aligned", 1, &b, st))) return rc;
  j->tensor_core_aligned = b;
  if ((rc = get_bool(sp, "distributed", "search_params.distributed", 0, &b, st))) return rc;
  j->distributed = b;
  if ((rc = get_int(sp, "num_devices", "search_params.num_devices", 1, 1, 1024, &i64, st))) return rc;
  j->num_devices = (int32_t)i64;
  if ((rc = get_bool(sp, "partition_batch", "search_params.partition_batch", 1, &b, st))) return rc;
  j->partition_batch = b;
  if ((rc = get_bool(sp, "partition_search", "search_params.partition_search", 0, &b, st))) return rc;
  j->partition_search = b;
  static const char *const merges[] = {"sum_visits", "max_value", "consensus", NULL};
  if ((rc = get_enum(sp, "merge_strategy", "search_params.merge_strategy", 0, merges, &idx, st))) return rc;
  j->merge_strategy = idx;
  return 0;
}

/* Canonical text of a JSON value (for batch keys): members in their order. */
static void canon(mctx_jw *w, const mctx_json *v) {
  switch (v->type) {
    case MCTX_JSON_NULL: mctx_jw_null(w); break;
    case MCTX_JSON_BOOL: mctx_jw_bool(w, v->boolean); break;
    case MCTX_JSON_NUMBER: mctx_jw_f64(w, v->u.num); break;
    case MCTX_JSON_STRING: mctx_jw_strn(w, v->u.str, v->len); break;
    case MCTX_JSON_ARRAY:
      mctx_jw_arr(w);
      for (uint32_t i = 0; i < v->len; i++) canon(w, &v->u.items[i]);
      mctx_jw_end(w);
      break;
    default:
      mctx_jw_obj(w);
      for (uint32_t i = 0; i < v->len; i++) {
        mctx_jw_key(w, v->u.members[i].key);
        canon(w, &v->u.members[i].value);
      }
      mctx_jw_end(w);
  }
}

int mctx__job_decode(const mctx_api_env *env, mctx_job *j, const mctx_json *root, mctx_status *st) {
  int rc = want_object(root, "", st);
  if (rc) { snprintf(st->reason, sizeof st->reason, "the request must be a JSON object, not %s", mctx_json_type_name(root->type)); return rc; }
  static const char *const known[] = {"root_input", "search_params", "search_type", "device_type", "model",
                                      "return_tree", "store_tree", NULL};
  if ((rc = known_fields(root, "", known, st))) return rc;

  int policy;
  if ((rc = get_enum(root, "search_type", "search_type", MCTX_POLICY_GUMBEL_MUZERO, POLICIES, &policy, st))) return rc;
  mctx_search_params_init(&j->params, (mctx_policy)policy);
  if ((rc = decode_search_params(env, j, mctx_json_get(root, "search_params"), st))) return rc;

  static const char *const devices[] = {"auto", "cpu", "gpu", NULL};
  if ((rc = get_enum(root, "device_type", "device_type", MCTX__DEV_AUTO, devices, &j->device, st))) return rc;

  const mctx_json *rt = mctx_json_get(root, "return_tree");
  if (is_null(rt) || (rt->type == MCTX_JSON_BOOL && !rt->boolean)) j->return_tree = MCTX__TREE_NONE;
  else if (rt->type == MCTX_JSON_BOOL) j->return_tree = MCTX__TREE_ARRAYS;
  else if (rt->type == MCTX_JSON_STRING && strcmp(rt->u.str, "arrays") == 0) j->return_tree = MCTX__TREE_ARRAYS;
  else if (rt->type == MCTX_JSON_STRING && strcmp(rt->u.str, "nested") == 0) j->return_tree = MCTX__TREE_NESTED;
  else return mctx_status_set(st, MCTX_EINVALID, "return_tree", "must be false, true, \"arrays\" or \"nested\"");
  if ((rc = get_bool(root, "store_tree", "store_tree", 0, &j->store_tree, st))) return rc;
  /* Root parallelism leaves one tree per device, not one tree. */
  if (j->distributed && j->partition_search && (j->return_tree != MCTX__TREE_NONE || j->store_tree))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, j->return_tree != MCTX__TREE_NONE ? "return_tree" : "store_tree",
                           "a distributed search with partition_search keeps one tree per device: no single tree "
                           "to return or store (use partition_batch)");

  /* model */
  const mctx_json *model = mctx_json_get(root, "model");
  snprintf(j->model_name, sizeof j->model_name, "%s", env->default_model ? env->default_model : "synthetic");
  if (!is_null(model)) {
    if (model->type == MCTX_JSON_STRING) {
      if (model->len >= sizeof j->model_name) return mctx_status_set(st, MCTX_EINVALID, "model", "name too long");
      snprintf(j->model_name, sizeof j->model_name, "%s", model->u.str);
    } else {
      if ((rc = want_object(model, "model", st))) return rc;
      static const char *const mk[] = {"name", "params", NULL};
      if ((rc = known_fields(model, "model", mk, st))) return rc;
      const mctx_json *name = mctx_json_get(model, "name");
      if (!is_null(name)) {
        if (name->type != MCTX_JSON_STRING)
          return mctx_status_set(st, MCTX_ETYPE, "model.name", "must be a string, not %s", mctx_json_type_name(name->type));
        if (name->len >= sizeof j->model_name) return mctx_status_set(st, MCTX_EINVALID, "model.name", "name too long");
        snprintf(j->model_name, sizeof j->model_name, "%s", name->u.str);
      }
      j->model_params = mctx_json_get(model, "params");
      if (is_null(j->model_params)) j->model_params = NULL;
      else if (j->model_params->type != MCTX_JSON_OBJECT)
        return mctx_status_set(st, MCTX_ETYPE, "model.params", "must be an object, not %s",
                               mctx_json_type_name(j->model_params->type));
    }
  }

  /* root_input: shapes first, then the arrays */
  const mctx_json *ri = mctx_json_get(root, "root_input");
  if (is_null(ri)) return mctx_status_set(st, MCTX_EMISSING, "root_input", "is required (batch_size and num_actions at least)");
  if ((rc = want_object(ri, "root_input", st))) return rc;
  static const char *const rk[] = {"prior_logits", "value", "embedding", "batch_size", "num_actions",
                                   "invalid_actions", NULL};
  if ((rc = known_fields(ri, "root_input", rk, st))) return rc;
  const mctx_json *logits = mctx_json_get(ri, "prior_logits");
  const mctx_json *value = mctx_json_get(ri, "value");
  const mctx_json *inv = mctx_json_get(ri, "invalid_actions");
  if (is_null(logits)) logits = NULL;
  if (is_null(value)) value = NULL;
  if (is_null(inv)) inv = NULL;
  int64_t B = -1, A = -1;
  const mctx_json *bj = mctx_json_get(ri, "batch_size"), *aj = mctx_json_get(ri, "num_actions");
  if (!is_null(bj)) {
    if ((rc = get_int(ri, "batch_size", "root_input.batch_size", 0, 1, env->limits.max_batch_size, &B, st))) return rc;
  } else {
    B = array_len(logits);
    if (B < 0) B = array_len(value);
    if (B < 0) return mctx_status_set(st, MCTX_EMISSING, "root_input.batch_size", "is required");
    if (B < 1 || B > env->limits.max_batch_size)
      return mctx_status_set(st, MCTX_ERANGE, "root_input.batch_size", "must be in [1, %d], not %lld",
                             (int)env->limits.max_batch_size, (long long)B);
  }
  if (!is_null(aj)) {
    if ((rc = get_int(ri, "num_actions", "root_input.num_actions", 0, 1, env->limits.max_num_actions, &A, st))) return rc;
  } else {
    A = logits ? array_len(logits->len ? &logits->u.items[0] : NULL) : -1;
    if (A < 0) return mctx_status_set(st, MCTX_EMISSING, "root_input.num_actions", "is required");
    if (A < 1 || A > env->limits.max_num_actions)
      return mctx_status_set(st, MCTX_ERANGE, "root_input.num_actions", "must be in [1, %d], not %lld",
                             (int)env->limits.max_num_actions, (long long)A);
  }
  j->B = (int32_t)B;
  j->A = (int32_t)A;
  if ((logits == NULL) != (value == NULL))
    return mctx_status_set(st, MCTX_EMISSING, logits ? "root_input.value" : "root_input.prior_logits",
                           "prior_logits and value go together: give both, or neither for the model's own roots");
  j->embedding = mctx_json_get(ri, "embedding");
  if (is_null(j->embedding)) j->embedding = NULL;
  else if (j->embedding->type != MCTX_JSON_ARRAY || (int64_t)j->embedding->len != B)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.embedding", "must be an array of %lld entries (batch_size)",
                           (long long)B);

  /* The tree must fit the memory budget before anything is allocated. */
  int32_t C = 0;  /* chance outcomes are checked again once the model is known */
  size_t bytes = mctx_tree_bytes(j->B, j->params.num_simulations + 1, j->A + C, 16, 1, 1);
  if (bytes == 0 || bytes > env->limits.max_tree_bytes)
    return mctx_status_set(st, MCTX_ELIMIT, "search_params.num_simulations",
                           "a tree of %d x %d x %d needs %.1f MiB, over the %.1f MiB budget", (int)j->B,
                           (int)j->params.num_simulations + 1, (int)j->A, (double)bytes / 1048576.0,
                           (double)env->limits.max_tree_bytes / 1048576.0);

  if (logits) {
    j->prior_logits = malloc((size_t)B * (size_t)A * sizeof(float));
    j->value = malloc((size_t)B * sizeof(float));
    if (!j->prior_logits || !j->value) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    if ((rc = read_matrix(logits, "root_input.prior_logits", j->B, j->A, j->prior_logits, st))) return rc;
    if ((rc = read_vector(value, "root_input.value", j->B, j->value, st))) return rc;
  }
  if (inv) {
    j->invalid = malloc((size_t)B * (size_t)A);
    if (!j->invalid) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    if ((rc = read_mask(inv, "root_input.invalid_actions", j->B, j->A, j->invalid, st))) return rc;
  }
  rc = mctx_search_params_check(&j->params, j->A, st);
  if (rc) return rc;

  /* canonical model params for the batch key */
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  if (j->model_params) canon(&w, j->model_params);
  else mctx_jw_null(&w);
  if (b.failed) { mctx_buf_free(&b); return mctx_status_set(st, MCTX_ELIMIT, "model.params", "too large"); }
  j->model_params_text = mctx_buf_steal(&b, NULL);
  return 0;
}
