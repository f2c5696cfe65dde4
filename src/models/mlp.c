/* models/mlp.c: the `mlp` model of mlp.h: its weights (loaded from
 * safetensors, generated from a seed, saved), the CPU forward passes on
 * OpenBLAS, and the model instances the registry and the repository make.
 *
 * Weights are immutable once built and reference counted, so any number of
 * model instances and threads share one copy. A forward pass allocates its
 * own scratch rows, so the CPU engine may call a model from several threads
 * at once. OpenBLAS is told to run one thread per call (the engine already
 * spreads the batch over cores), unless OPENBLAS_NUM_THREADS says otherwise. */
#include "mctx/cuda.h"
#include "models/mlp.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prng-impl.h"
#include "mctx/prng.h"
#include "models/builtin.h"
#include "models/safetensors.h"

/* ==== Weights ==== */

static void free_layer(mctx_mlp_layer *L) {
  free(L->w);
  free(L->b);
  L->w = L->b = NULL;
}

static void weights_free(mctx_mlp_weights *w) {
  if (!w) return;
  for (int i = 0; i < MCTX_MLP_MAX_LAYERS; i++) {
    free_layer(&w->repr[i]);
    free_layer(&w->dyn[i]);
    free_layer(&w->pred[i]);
  }
  free(w);
}

mctx_mlp_weights *mctx_mlp_weights_ref(mctx_mlp_weights *w) {
  if (w) atomic_fetch_add(&w->refs, 1);
  return w;
}

void mctx_mlp_weights_unref(mctx_mlp_weights *w) {
  if (w && atomic_fetch_sub(&w->refs, 1) == 1) weights_free(w);
}

static mctx_mlp_weights *weights_new(void) {
  static _Atomic uint64_t generation;
  mctx_mlp_weights *w = calloc(1, sizeof *w);
  if (w) {
    atomic_init(&w->refs, 1);
    w->id = atomic_fetch_add(&generation, 1) + 1;
  }
  return w;
}

/* The file's tensor for layer `name` under any of its accepted names. */
static int find_layer(const mctx_safetensors *f, const char *name, const mctx_st_tensor **t, int *transposed,
                      const char *field, mctx_status *st) {
  char k1[64], k2[64];
  snprintf(k1, sizeof k1, "%s.kernel", name);
  snprintf(k2, sizeof k2, "%s.weight", name);
  const mctx_st_tensor *a = mctx_safetensors_find(f, name), *b = mctx_safetensors_find(f, k1),
                       *c = mctx_safetensors_find(f, k2);
  int found = (a != NULL) + (b != NULL) + (c != NULL);
  *t = NULL;
  *transposed = 0;
  if (found > 1)
    return mctx_status_set(st, MCTX_EPARSE, field, "%s: layer '%s' is given twice ('%s', '%s.kernel' or '%s.weight')",
                           f->path, name, name, name, name);
  if (a) *t = a;
  if (b) *t = b;
  if (c) {
    *t = c;
    *transposed = 1;
  }
  return 0;
}

static int read_layer(const mctx_safetensors *f, const char *name, mctx_mlp_layer *L, int *dtypes_seen,
                      const char *field, mctx_status *st) {
  const mctx_st_tensor *t;
  int tr;
  int rc = find_layer(f, name, &t, &tr, field, st);
  if (rc != 0) return rc;
  if (!t) return mctx_status_set(st, MCTX_EMISSING, field, "%s: layer '%s' is missing (no tensor '%s', '%s.kernel' or '%s.weight')",
                                 f->path, name, name, name, name);
  if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > MCTX_MLP_MAX_DIM ||
      t->shape[1] > MCTX_MLP_MAX_DIM) {
    char dims[96] = "";
    size_t k = 0;
    for (int32_t d = 0; d < t->ndim && k < sizeof dims - 24; d++)
      k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    return mctx_status_set(st, MCTX_ESHAPE, field, "%s: tensor '%s' has shape [%s]; a layer is a matrix of 1..%d x 1..%d",
                           f->path, t->name, dims, MCTX_MLP_MAX_DIM, MCTX_MLP_MAX_DIM);
  }
  if (t->dtype != MCTX_ST_F32 && t->dtype != MCTX_ST_F16 && t->dtype != MCTX_ST_BF16 && t->dtype != MCTX_ST_F64)
    return mctx_status_set(st, MCTX_ETYPE, field, "%s: tensor '%s' has dtype %s; mlp weights are F32, F16 or BF16",
                           f->path, t->name, mctx_st_dtype_name(t->dtype));
  dtypes_seen[t->dtype] = 1;
  snprintf(L->name, sizeof L->name, "%s", name);
  L->in = (int32_t)(tr ? t->shape[1] : t->shape[0]);
  L->out = (int32_t)(tr ? t->shape[0] : t->shape[1]);
  size_t n = (size_t)L->in * (size_t)L->out;
  float *raw = malloc(n * sizeof(float));
  L->w = malloc(n * sizeof(float));
  if (!raw || !L->w) {
    free(raw);
    return mctx_status_set(st, MCTX_ENOMEM, field, "out of memory for layer '%s'", name);
  }
  rc = mctx_safetensors_read_f32(f, t, raw, field, st);
  if (rc != 0) {
    free(raw);
    return rc;
  }
  if (tr) {
    for (int32_t o = 0; o < L->out; o++)
      for (int32_t i = 0; i < L->in; i++) L->w[(size_t)i * (size_t)L->out + (size_t)o] = raw[(size_t)o * (size_t)L->in + (size_t)i];
    free(raw);
  } else {
    free(L->w);
    L->w = raw;
  }
  char bn[64];
  snprintf(bn, sizeof bn, "%s.bias", name);
  const mctx_st_tensor *bt = mctx_safetensors_find(f, bn);
  if (bt) {
    if (bt->ndim != 1 || bt->shape[0] != L->out)
      return mctx_status_set(st, MCTX_ESHAPE, field, "%s: tensor '%s' must have shape [%d] (the layer's outputs)", f->path,
                             bn, (int)L->out);
    if (bt->dtype != MCTX_ST_F32 && bt->dtype != MCTX_ST_F16 && bt->dtype != MCTX_ST_BF16 && bt->dtype != MCTX_ST_F64)
      return mctx_status_set(st, MCTX_ETYPE, field, "%s: tensor '%s' has dtype %s; mlp weights are F32, F16 or BF16",
                             f->path, bn, mctx_st_dtype_name(bt->dtype));
    dtypes_seen[bt->dtype] = 1;
    L->b = malloc((size_t)L->out * sizeof(float));
    if (!L->b) return mctx_status_set(st, MCTX_ENOMEM, field, "out of memory");
    rc = mctx_safetensors_read_f32(f, bt, L->b, field, st);
    if (rc != 0) return rc;
  }
  return 0;
}

static int has_layer(const mctx_safetensors *f, const char *name) {
  char k1[64], k2[64];
  snprintf(k1, sizeof k1, "%s.kernel", name);
  snprintf(k2, sizeof k2, "%s.weight", name);
  return mctx_safetensors_find(f, name) || mctx_safetensors_find(f, k1) || mctx_safetensors_find(f, k2);
}

/* Reads part `p` ('r', 'd' or 'p'): layers p1, p2, ... then pout. */
static int read_part(const mctx_safetensors *f, char p, mctx_mlp_layer *layers, int32_t *count, int *dtypes,
                     const char *what, const char *field, mctx_status *st) {
  int32_t k = 0;
  char name[16];
  for (;;) {
    snprintf(name, sizeof name, "%c%d", p, (int)k + 1);
    if (!has_layer(f, name)) break;
    if (k + 1 >= MCTX_MLP_MAX_LAYERS)
      return mctx_status_set(st, MCTX_ELIMIT, field, "%s: the %s has more than %d hidden layers", f->path, what,
                             MCTX_MLP_MAX_LAYERS - 1);
    int rc = read_layer(f, name, &layers[k], dtypes, field, st);
    if (rc != 0) return rc;
    k++;
  }
  snprintf(name, sizeof name, "%cout", p);
  int rc = read_layer(f, name, &layers[k], dtypes, field, st);
  if (rc != 0) return rc;
  k++;
  *count = k;
  for (int32_t i = 1; i < k; i++)
    if (layers[i].in != layers[i - 1].out)
      return mctx_status_set(st, MCTX_ESHAPE, field,
                             "%s: layer '%s' takes %d inputs but layer '%s' before it has %d outputs", f->path,
                             layers[i].name, (int)layers[i].in, layers[i - 1].name, (int)layers[i - 1].out);
  return 0;
}

static int is_layout_name(const char *n) {
  char p = n[0];
  if (p != 'r' && p != 'd' && p != 'p') return 0;
  const char *s = n + 1;
  if (strncmp(s, "out", 3) == 0) s += 3;
  else {
    if (*s < '1' || *s > '9') return 0;
    while (*s >= '0' && *s <= '9') s++;
  }
  return *s == '\0' || strcmp(s, ".kernel") == 0 || strcmp(s, ".weight") == 0 || strcmp(s, ".bias") == 0;
}

static int64_t count_params(const mctx_mlp_weights *w) {
  int64_t n = 0;
  const mctx_mlp_layer *parts[3] = {w->repr, w->dyn, w->pred};
  int32_t counts[3] = {w->n_repr, w->n_dyn, w->n_pred};
  for (int p = 0; p < 3; p++)
    for (int32_t i = 0; i < counts[p]; i++)
      n += (int64_t)parts[p][i].in * parts[p][i].out + (parts[p][i].b ? parts[p][i].out : 0);
  return n;
}

int mctx_mlp_weights_load(const char *path, const char *field, mctx_mlp_weights **out, mctx_status *st) {
  *out = NULL;
  mctx_safetensors *f = NULL;
  int rc = mctx_safetensors_open(path, (size_t)MCTX_MLP_MAX_PARAMS * 8 + ((size_t)16 << 20), field, &f, st);
  if (rc != 0) return rc;
  for (int32_t i = 0; i < f->num_tensors; i++)
    if (!is_layout_name(f->tensors[i].name)) {
      rc = mctx_status_set(st, MCTX_EPARSE, field,
                           "%s: tensor '%s' is not part of the mlp layout (r1.., rout, d1.., dout, p1.., pout, each "
                           "as L, L.kernel or L.weight, with L.bias)",
                           path, f->tensors[i].name);
      mctx_safetensors_free(f);
      return rc;
    }
  mctx_mlp_weights *w = weights_new();
  if (!w) {
    mctx_safetensors_free(f);
    return mctx_status_set(st, MCTX_ENOMEM, field, "out of memory");
  }
  int dtypes[MCTX_ST_NUM_DTYPES] = {0};
  rc = read_part(f, 'p', w->pred, &w->n_pred, dtypes, "prediction", field, st);
  if (rc == 0) rc = read_part(f, 'd', w->dyn, &w->n_dyn, dtypes, "dynamics", field, st);
  if (rc == 0 && (has_layer(f, "r1") || has_layer(f, "rout")))
    rc = read_part(f, 'r', w->repr, &w->n_repr, dtypes, "representation", field, st);
  if (rc == 0) {
    const mctx_mlp_layer *p0 = &w->pred[0], *pout = &w->pred[w->n_pred - 1];
    const mctx_mlp_layer *d0 = &w->dyn[0], *dout = &w->dyn[w->n_dyn - 1];
    int32_t S = p0->in, A = pout->out - 1;
    w->state_dim = S;
    w->num_actions = A;
    if (A < 1)
      rc = mctx_status_set(st, MCTX_ESHAPE, field, "%s: layer 'pout' has %d outputs; it needs num_actions + 1 (>= 2)",
                           path, (int)pout->out);
    else if (dout->out != S + 1)
      rc = mctx_status_set(st, MCTX_ESHAPE, field,
                           "%s: layer 'dout' has %d outputs; it needs state + reward = %d + 1 (the state size S = %d "
                           "comes from the prediction's first layer '%s')",
                           path, (int)dout->out, (int)S, (int)S, p0->name);
    else if (d0->in != S + A)
      rc = mctx_status_set(st, MCTX_ESHAPE, field,
                           "%s: layer '%s' takes %d inputs; the dynamics' first layer takes state + one-hot action = "
                           "%d + %d = %d",
                           path, d0->name, (int)d0->in, (int)S, (int)A, (int)(S + A));
    else if (w->n_repr > 0 && w->repr[w->n_repr - 1].out != S)
      rc = mctx_status_set(st, MCTX_ESHAPE, field, "%s: layer 'rout' has %d outputs; the state has %d", path,
                           (int)w->repr[w->n_repr - 1].out, (int)S);
    w->obs_dim = w->n_repr > 0 ? w->repr[0].in : 0;
  }
  if (rc == 0) {
    w->num_params = count_params(w);
    if (w->num_params > MCTX_MLP_MAX_PARAMS)
      rc = mctx_status_set(st, MCTX_ELIMIT, field, "%s: %lld parameters, at most %lld", path, (long long)w->num_params,
                           (long long)MCTX_MLP_MAX_PARAMS);
  }
  if (rc == 0) {
    int kinds = 0, last = MCTX_ST_F32;
    for (int d = 0; d < MCTX_ST_NUM_DTYPES; d++)
      if (dtypes[d]) { kinds++; last = d; }
    snprintf(w->dtype, sizeof w->dtype, "%s", kinds > 1 ? "mixed" : mctx_st_dtype_name((mctx_st_dtype)last));
    snprintf(w->source, sizeof w->source, "%s", path);
  }
  mctx_safetensors_free(f);
  if (rc != 0) {
    weights_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

static int random_layer(mctx_mlp_layer *L, const char *name, int32_t in, int32_t out, mctx_prng_mode mode,
                        mctx_key key) {
  snprintf(L->name, sizeof L->name, "%s", name);
  L->in = in;
  L->out = out;
  uint32_t n = (uint32_t)in * (uint32_t)out;
  L->w = malloc((size_t)n * sizeof(float));
  if (!L->w) return -1;
  mctx_prng_normal(mode, key, n, L->w);
  float scale = sqrtf((float)in);
  for (uint32_t i = 0; i < n; i++) L->w[i] = L->w[i] / scale;
  return 0;
}

int mctx_mlp_weights_random(int32_t S, int32_t A, int32_t H, int64_t seed, mctx_prng_mode mode,
                            mctx_mlp_weights **out, mctx_status *st) {
  *out = NULL;
  if (S < 1 || A < 1 || H < 1 || S + A > MCTX_MLP_MAX_DIM || H > MCTX_MLP_MAX_DIM)
    return mctx_status_set(st, MCTX_ERANGE, "model.params", "emb (%d), num_actions (%d) and hidden (%d) must be >= 1, "
                           "emb + num_actions and hidden at most %d", (int)S, (int)A, (int)H, MCTX_MLP_MAX_DIM);
  int64_t params = (int64_t)(S + A) * H + (int64_t)H * H + (int64_t)H * (S + 1) + (int64_t)S * H + (int64_t)H * H +
                   (int64_t)H * (A + 1);
  if (params > MCTX_MLP_MAX_PARAMS)
    return mctx_status_set(st, MCTX_ELIMIT, "model.params.hidden", "%lld parameters, at most %lld", (long long)params,
                           (long long)MCTX_MLP_MAX_PARAMS);
  mctx_mlp_weights *w = weights_new();
  if (!w) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  mctx_key ks[8];
  mctx_prng_split(mode, mctx_prng_key(seed), 8, ks);
  int bad = 0;
  bad |= random_layer(&w->dyn[0], "d1", S + A, H, mode, ks[0]);
  bad |= random_layer(&w->dyn[1], "d2", H, H, mode, ks[1]);
  bad |= random_layer(&w->dyn[2], "dout", H, S + 1, mode, ks[2]);
  bad |= random_layer(&w->pred[0], "p1", S, H, mode, ks[3]);
  bad |= random_layer(&w->pred[1], "p2", H, H, mode, ks[4]);
  bad |= random_layer(&w->pred[2], "pout", H, A + 1, mode, ks[5]);
  if (bad) {
    weights_free(w);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %lld parameters", (long long)params);
  }
  w->n_dyn = 3;
  w->n_pred = 3;
  w->state_dim = S;
  w->num_actions = A;
  w->num_params = params;
  snprintf(w->dtype, sizeof w->dtype, "F32");
  snprintf(w->source, sizeof w->source, "seed %lld (%s)", (long long)seed, mode == MCTX_PRNG_JAX ? "jax" : "jax_legacy");
  *out = w;
  return 0;
}

int mctx_mlp_weights_save(const mctx_mlp_weights *w, const char *path, int dtype, const char *metadata_json,
                          mctx_status *st) {
  mctx_st_out ts[6 * MCTX_MLP_MAX_LAYERS];
  char names[6 * MCTX_MLP_MAX_LAYERS][32];
  int32_t n = 0;
  const mctx_mlp_layer *parts[3] = {w->repr, w->dyn, w->pred};
  int32_t counts[3] = {w->n_repr, w->n_dyn, w->n_pred};
  for (int p = 0; p < 3; p++)
    for (int32_t i = 0; i < counts[p]; i++) {
      const mctx_mlp_layer *L = &parts[p][i];
      ts[n] = (mctx_st_out){L->name, (mctx_st_dtype)dtype, 2, {L->in, L->out}, L->w};
      n++;
      if (L->b) {
        snprintf(names[n], sizeof names[n], "%s.bias", L->name);
        ts[n] = (mctx_st_out){names[n], (mctx_st_dtype)dtype, 1, {L->out}, L->b};
        n++;
      }
    }
  return mctx_safetensors_write(path, ts, n, metadata_json, st);
}

/* ==== Forward passes ==== */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void) {
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
}

static int32_t max_width(const mctx_mlp_layer *L, int32_t n) {
  int32_t m = 0;
  for (int32_t i = 0; i < n; i++) {
    if (L[i].out > m) m = L[i].out;
    if (L[i].in > m) m = L[i].in;
  }
  return m;
}

/* y[n][out] = x[n][in] @ W (+ b), then ReLU when relu. x may be given with a
 * row stride ldx >= in. */
static void dense(const mctx_mlp_layer *L, int32_t n, const float *x, int32_t ldx, float *y, int relu) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, L->out, L->in, 1.0f, x, ldx, L->w, L->out, 0.0f, y,
              L->out);
  size_t total = (size_t)n * (size_t)L->out;
  if (L->b)
    for (int32_t r = 0; r < n; r++)
      for (int32_t o = 0; o < L->out; o++) y[(size_t)r * (size_t)L->out + (size_t)o] += L->b[o];
  if (relu)
    for (size_t i = 0; i < total; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

/* Runs layers[1..count) after the first layer's output in a, ReLU on all but
 * the last; returns the buffer holding the last output. */
static float *run_rest(const mctx_mlp_layer *L, int32_t count, int32_t n, float *a, float *b) {
  for (int32_t i = 1; i < count; i++) {
    dense(&L[i], n, a, L[i].in, b, i + 1 < count);
    float *t = a;
    a = b;
    b = t;
  }
  return a;
}

static float *scratch(int32_t n, int32_t width, mctx_status *st) {
  float *s = malloc((size_t)2 * (size_t)n * (size_t)(width > 0 ? width : 1) * sizeof(float));
  if (!s) mctx_status_set(st, MCTX_ENOMEM, "model", "out of memory for the mlp's activations (%d rows)", (int)n);
  return s;
}

int mctx_mlp_represent(const mctx_mlp_weights *w, int32_t n, const float *obs, float *state, mctx_status *st) {
  if (w->n_repr == 0) return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "this network has no representation");
  pthread_once(&blas_once, blas_init);
  int32_t W = max_width(w->repr, w->n_repr);
  float *s = scratch(n, W, st);
  if (!s) return MCTX_ENOMEM;
  float *a = s, *b = s + (size_t)n * (size_t)W;
  dense(&w->repr[0], n, obs, w->repr[0].in, a, w->n_repr > 1);
  float *o = run_rest(w->repr, w->n_repr, n, a, b);
  size_t total = (size_t)n * (size_t)w->state_dim;
  for (size_t i = 0; i < total; i++) state[i] = tanhf(o[i]);
  free(s);
  return 0;
}

int mctx_mlp_predict(const mctx_mlp_weights *w, int32_t n, const float *state, float *logits, float *value,
                     mctx_status *st) {
  pthread_once(&blas_once, blas_init);
  int32_t W = max_width(w->pred, w->n_pred);
  float *s = scratch(n, W, st);
  if (!s) return MCTX_ENOMEM;
  float *a = s, *b = s + (size_t)n * (size_t)W;
  dense(&w->pred[0], n, state, w->pred[0].in, a, w->n_pred > 1);
  float *o = run_rest(w->pred, w->n_pred, n, a, b);
  int32_t A = w->num_actions;
  for (int32_t r = 0; r < n; r++) {
    memcpy(logits + (size_t)r * (size_t)A, o + (size_t)r * (size_t)(A + 1), (size_t)A * sizeof(float));
    value[r] = o[(size_t)r * (size_t)(A + 1) + (size_t)A];
  }
  free(s);
  return 0;
}

int mctx_mlp_dynamics(const mctx_mlp_weights *w, int32_t n, const float *state, const int32_t *actions,
                      float *next, float *reward, mctx_status *st) {
  pthread_once(&blas_once, blas_init);
  int32_t S = w->state_dim, A = w->num_actions;
  for (int32_t r = 0; r < n; r++)
    if (actions[r] < 0 || actions[r] >= A)
      return mctx_status_set(st, MCTX_EMODEL, "model", "mlp: action %d out of range [0, %d)", (int)actions[r], (int)A);
  int32_t W = max_width(w->dyn, w->n_dyn);
  float *s = scratch(n, W, st);
  if (!s) return MCTX_ENOMEM;
  float *a = s, *b = s + (size_t)n * (size_t)W;
  /* [state, one_hot(action)] @ W1 = state @ W1[:S] + W1[S + action] */
  const mctx_mlp_layer *L = &w->dyn[0];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, L->out, S, 1.0f, state, S, L->w, L->out, 0.0f, a,
              L->out);
  for (int32_t r = 0; r < n; r++) {
    float *y = a + (size_t)r * (size_t)L->out;
    const float *row = L->w + (size_t)(S + actions[r]) * (size_t)L->out;
    for (int32_t o = 0; o < L->out; o++) {
      float v = y[o] + row[o];
      if (L->b) v += L->b[o];
      y[o] = w->n_dyn > 1 && v < 0.0f ? 0.0f : v;
    }
  }
  float *o = run_rest(w->dyn, w->n_dyn, n, a, b);
  for (int32_t r = 0; r < n; r++) {
    const float *row = o + (size_t)r * (size_t)(S + 1);
    for (int32_t i = 0; i < S; i++) next[(size_t)r * (size_t)S + (size_t)i] = tanhf(row[i]);
    reward[r] = row[S];
  }
  free(s);
  return 0;
}

/* ==== The model ==== */

typedef struct mlp_model {
  mctx_mlp_weights *w;
  float discount;
  int32_t B;         /* the request's batch size (default roots) */
  int32_t in_dim;    /* the root input: O with a representation, else S */
  int32_t E;         /* floats per embedding: max(S, O) */
  mctx_prng_mode mode;
  mctx_key root_key; /* split(PRNGKey(seed), 8)[6] */
  mctx_cuda_mlp net; /* the CUDA engine's view of the same weights */
  mctx_cuda_model dev;
} mlp_model;

static void mm_destroy(void *self) {
  mlp_model *m = self;
  if (!m) return;
  mctx_mlp_weights_unref(m->w);
  free(m);
}

static int mm_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                   void *emb_out, mctx_status *st) {
  mlp_model *m = self;
  const mctx_mlp_weights *w = m->w;
  int32_t S = w->state_dim, IN = m->in_dim, E = m->E;
  float *in = malloc((size_t)n * (size_t)IN * sizeof(float));
  float *state = malloc((size_t)n * (size_t)S * sizeof(float));
  if (!in || !state) {
    free(in);
    free(state);
    return mctx_status_set(st, MCTX_ENOMEM, "model", "out of memory for %d roots", (int)n);
  }
  for (int32_t r = 0; r < n; r++) {
    float *row = in + (size_t)r * (size_t)IN;
    if (emb_in) {
      memcpy(row, (const float *)emb_in + (size_t)r * (size_t)E, (size_t)IN * sizeof(float));
    } else {
      /* element (b, j) of normal(root_key, (B, IN)), as the benchmark's roots */
      uint32_t total = (uint32_t)m->B * (uint32_t)IN;
      uint32_t b = (uint32_t)(first + r);
      if (first + r >= m->B) {
        free(in);
        free(state);
        return mctx_status_set(st, MCTX_ERANGE, "root_input.batch_size", "mlp: no default root for element %d",
                               (int)(first + r));
      }
      for (int32_t j = 0; j < IN; j++)
        row[j] = mctx__normal_bits(mctx__bits_nth(m->mode, m->root_key, total, b * (uint32_t)IN + (uint32_t)j));
    }
  }
  int rc = 0;
  if (w->n_repr > 0) rc = mctx_mlp_represent(w, n, in, state, st);
  else memcpy(state, in, (size_t)n * (size_t)S * sizeof(float));
  if (rc == 0) rc = mctx_mlp_predict(w, n, state, logits, value, st);
  if (rc == 0) {
    float *out = emb_out;
    for (int32_t r = 0; r < n; r++) {
      memcpy(out + (size_t)r * (size_t)E, state + (size_t)r * (size_t)S, (size_t)S * sizeof(float));
      for (int32_t j = S; j < E; j++) out[(size_t)r * (size_t)E + (size_t)j] = 0.0f;
    }
  }
  free(in);
  free(state);
  return rc;
}

static int mm_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                   mctx_step_out *out, mctx_status *st) {
  (void)keys;
  mlp_model *m = self;
  const mctx_mlp_weights *w = m->w;
  int32_t S = w->state_dim, E = m->E;
  const float *state = emb;
  float *tmp_in = NULL, *next = out->embeddings;
  if (E != S) {
    tmp_in = malloc((size_t)n * (size_t)S * 2 * sizeof(float));
    if (!tmp_in) return mctx_status_set(st, MCTX_ENOMEM, "model", "out of memory");
    for (int32_t r = 0; r < n; r++)
      memcpy(tmp_in + (size_t)r * (size_t)S, (const float *)emb + (size_t)r * (size_t)E, (size_t)S * sizeof(float));
    state = tmp_in;
    next = tmp_in + (size_t)n * (size_t)S;
  }
  int rc = mctx_mlp_dynamics(w, n, state, actions, next, out->reward, st);
  if (rc == 0) rc = mctx_mlp_predict(w, n, next, out->prior_logits, out->value, st);
  if (rc == 0) {
    for (int32_t r = 0; r < n; r++) out->discount[r] = m->discount;
    if (E != S) {
      float *dst = out->embeddings;
      for (int32_t r = 0; r < n; r++) {
        memcpy(dst + (size_t)r * (size_t)E, next + (size_t)r * (size_t)S, (size_t)S * sizeof(float));
        for (int32_t j = S; j < E; j++) dst[(size_t)r * (size_t)E + (size_t)j] = 0.0f;
      }
    }
  }
  free(tmp_in);
  return rc;
}

static const mctx_model_vtable MLP_VT = {
  MCTX_MODEL_ABI_VERSION, "mlp", mm_destroy, mm_root, mm_step, NULL, NULL
};

const mctx_mlp_weights *mctx_mlp_of_model(const mctx_model *m) {
  return m && m->vt == &MLP_VT ? ((const mlp_model *)m->self)->w : NULL;
}

int mctx_mlp_model_create(mctx_mlp_weights *w, const mctx_json *params, const mctx_model_ctx *ctx,
                          mctx_model *m, mctx_status *st) {
  double discount = 0.997, seed = 0;
  int rc = mctx__param_number(params, "discount", 0.997, &discount, st);
  if (rc == 0) rc = mctx__param_number(params, "seed", 0, &seed, st);
  if (rc != 0) return rc;
  if (discount < -1.0 || discount > 1.0)
    return mctx_status_set(st, MCTX_ERANGE, "model.params.discount", "must be in [-1, 1], not %g", discount);
  if (seed != (double)(int64_t)seed || seed < 0 || seed > 2147483647.0)
    return mctx_status_set(st, MCTX_ERANGE, "model.params.seed", "must be an integer in [0, 2147483647]");
  int32_t IN = w->n_repr > 0 ? w->obs_dim : w->state_dim;
  if (ctx->batch_size > 0 && (uint64_t)ctx->batch_size * (uint64_t)IN > UINT32_MAX)
    return mctx_status_set(st, MCTX_ELIMIT, "root_input.batch_size", "too large for the mlp's default roots");
  mlp_model *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  s->w = mctx_mlp_weights_ref(w);
  s->discount = (float)discount;
  s->B = ctx->batch_size > 0 ? ctx->batch_size : 1;
  s->in_dim = IN;
  s->E = w->obs_dim > w->state_dim ? w->obs_dim : w->state_dim;
  s->mode = ctx->prng;
  mctx_key ks[8];
  mctx_prng_split(s->mode, mctx_prng_key((int64_t)seed), 8, ks);
  s->root_key = ks[6];
  m->vt = &MLP_VT;
  m->self = s;
  m->device = NULL;
  m->info.num_actions = w->num_actions;
  m->info.num_chance_outcomes = 0;
  m->info.embedding_bytes = s->E * 4;
  m->info.embedding_kind = MCTX_EMB_F32;
  m->info.embedding_count = s->E;
  m->info.engines = MCTX_ENGINE_CPU;
  m->info.precision = "fp32";
  m->info.preferred_batch = 0;
  m->info.batch_dependent = 1; /* the CPU forward pass is one sgemm over the rows */
  /* The CUDA engine runs the dynamics and prediction on the GPU with
   * cuBLASLt (the representation, when there is one, runs at the root on the
   * CPU: embeddings hold states). */
  if (w->n_dyn <= MCTX_CUDA_MAX_LAYERS && w->n_pred <= MCTX_CUDA_MAX_LAYERS) {
    mctx_cuda_mlp *net = &s->net;
    net->state_dim = w->state_dim;
    net->num_actions = w->num_actions;
    net->emb_floats = s->E;
    net->n_dyn = w->n_dyn;
    net->n_pred = w->n_pred;
    for (int32_t i = 0; i < w->n_dyn; i++)
      net->dyn[i] = (mctx_cuda_dense){w->dyn[i].in, w->dyn[i].out, w->dyn[i].w, w->dyn[i].b};
    for (int32_t i = 0; i < w->n_pred; i++)
      net->pred[i] = (mctx_cuda_dense){w->pred[i].in, w->pred[i].out, w->pred[i].w, w->pred[i].b};
    net->discount = s->discount;
    net->identity = (const void *)(uintptr_t)w->id;  /* never reused, unlike an address */
    net->precision = MCTX_CUDA_FP32;
    net->aligned = 1;
    s->dev.kind = MCTX_CUDA_MODEL_MLP;
    s->dev.mlp = net;
    m->device = &s->dev;
    m->info.engines |= MCTX_ENGINE_CUDA;
  }
  return 0;
}

int mctx_model_set_gpu_numerics(mctx_model *m, int precision, int aligned, mctx_status *st) {
  if (precision != MCTX_CUDA_FP32 && precision != MCTX_CUDA_FP16 && precision != MCTX_CUDA_BF16)
    return mctx_status_set(st, MCTX_ERANGE, "precision", "unknown precision %d (fp32 0, fp16 1, bf16 2)", precision);
  if (!m || m->vt != &MLP_VT || !m->device)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "precision", "model '%s' has no network on the GPU",
                           m && m->vt && m->vt->name ? m->vt->name : "?");
  mlp_model *s = m->self;
  s->net.precision = precision;
  s->net.aligned = aligned ? 1 : 0;
  return 0;
}

/* ==== The registry's factory ==== */

static atomic_int allow_paths;

void mctx_mlp_allow_weight_paths(int allow) { atomic_store(&allow_paths, allow ? 1 : 0); }

/* Generated weights are cached (a few sets), so that requests naming the same
 * seed and sizes share one copy instead of drawing it again. */
#define RANDOM_CACHE 4
static struct {
  int32_t S, A, H;
  int64_t seed;
  int mode;
  mctx_mlp_weights *w;
} cache[RANDOM_CACHE];
static int cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int random_cached(int32_t S, int32_t A, int32_t H, int64_t seed, mctx_prng_mode mode, mctx_mlp_weights **out,
                         mctx_status *st) {
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < RANDOM_CACHE; i++)
    if (cache[i].w && cache[i].S == S && cache[i].A == A && cache[i].H == H && cache[i].seed == seed &&
        cache[i].mode == (int)mode) {
      *out = mctx_mlp_weights_ref(cache[i].w);
      pthread_mutex_unlock(&cache_lock);
      return 0;
    }
  pthread_mutex_unlock(&cache_lock);
  int rc = mctx_mlp_weights_random(S, A, H, seed, mode, out, st);
  if (rc != 0) return rc;
  pthread_mutex_lock(&cache_lock);
  int i = cache_next;
  cache_next = (cache_next + 1) % RANDOM_CACHE;
  mctx_mlp_weights *old = cache[i].w;
  cache[i].S = S;
  cache[i].A = A;
  cache[i].H = H;
  cache[i].seed = seed;
  cache[i].mode = (int)mode;
  cache[i].w = mctx_mlp_weights_ref(*out);
  pthread_mutex_unlock(&cache_lock);
  mctx_mlp_weights_unref(old);
  return 0;
}

static int int_param(const mctx_json *params, const char *key, double dflt, double lo, double hi, double *out,
                     mctx_status *st) {
  int rc = mctx__param_number(params, key, dflt, out, st);
  if (rc == 0 && (*out < lo || *out > hi || *out != (double)(int64_t)*out)) {
    char f[64];
    snprintf(f, sizeof f, "model.params.%s", key);
    rc = mctx_status_set(st, MCTX_ERANGE, f, "must be an integer in [%.0f, %.0f], not %g", lo, hi, *out);
  }
  return rc;
}

static int mlp_create(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st) {
  static const char *const known[] = {"weights", "seed", "emb", "hidden", "discount", NULL};
  int rc = mctx__param_known(params, known, st);
  if (rc != 0) return rc;
  const mctx_json *path = mctx_json_get(params, "weights");
  mctx_mlp_weights *w = NULL;
  if (path && path->type != MCTX_JSON_NULL) {
    if (path->type != MCTX_JSON_STRING)
      return mctx_status_set(st, MCTX_ETYPE, "model.params.weights", "must be a file name, not %s",
                             mctx_json_type_name(path->type));
    if (!atomic_load(&allow_paths))
      return mctx_status_set(st, MCTX_EUNSUPPORTED, "model.params.weights",
                             "this server does not load weight files named by requests; serve the network from the "
                             "model repository (MCTX_MODEL_DIR) and name it as the model");
    if (mctx_json_get(params, "emb") || mctx_json_get(params, "hidden"))
      return mctx_status_set(st, MCTX_EINVALID, "model.params.emb",
                             "the sizes come from the weights file; give either weights or emb/hidden");
    rc = mctx_mlp_weights_load(path->u.str, "model.params.weights", &w, st);
  } else {
    double emb, hidden, seed;
    rc = int_param(params, "emb", 128, 1, 4096, &emb, st);
    if (rc == 0) rc = int_param(params, "hidden", 256, 1, 4096, &hidden, st);
    if (rc == 0) rc = int_param(params, "seed", 0, 0, 2147483647.0, &seed, st);
    if (rc == 0 && (ctx->num_actions < 1 || ctx->num_actions > 4096))
      rc = mctx_status_set(st, MCTX_ERANGE, "root_input.num_actions", "the mlp needs 1..4096 actions");
    if (rc == 0) {
      /* generated weights cost memory and time that the request chooses */
      int64_t S = (int64_t)emb, H = (int64_t)hidden, A = ctx->num_actions;
      int64_t n = (S + A) * H + 2 * H * H + H * (S + 1) + S * H + H * (A + 1);
      if (n > MCTX_MLP_MAX_GENERATED)
        rc = mctx_status_set(st, MCTX_ELIMIT, "model.params.hidden",
                             "emb %lld and hidden %lld make %lld parameters; generated networks have at most %lld",
                             (long long)S, (long long)H, (long long)n, (long long)MCTX_MLP_MAX_GENERATED);
    }
    if (rc == 0) rc = random_cached((int32_t)emb, ctx->num_actions, (int32_t)hidden, (int64_t)seed, ctx->prng, &w, st);
  }
  if (rc != 0) return rc;
  rc = mctx_mlp_model_create(w, params, ctx, m, st);
  mctx_mlp_weights_unref(w);
  return rc;
}

const mctx_model_factory mctx__model_mlp = {
  "mlp",
  "MuZero-style MLP (dynamics d1.., dout; prediction p1.., pout; optional representation r1.., rout); params: "
  "seed (0), emb (128), hidden (256) for generated weights as bench_mctx.py makes them, discount (0.997); "
  "embedding: the state (emb float32)",
  mlp_create};
