/* api/job.c: jobs, from a request body to a finished search.
 *
 * mctx_job_prepare parses (util/json), decodes and validates
 * (request.c), makes the model and decodes the embeddings. mctx_job_run runs
 * one job, or several with the same batch key merged into one batched
 * search: each job's roots are made on its own (its model's default roots
 * count elements from 0 in its own request) and each element keeps its own
 * PRNG key, group size and index (mctx_elem_key), so a merged job gets
 * exactly the bits it would get alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-impl.h"
#include "mctx/cuda.h"
#include "mctx/registry.h"
#include "models/games.h"
#include "models/repository.h"
#include "util/jsonw.h"

void mctx_api_limits_default(mctx_api_limits *l) {
  l->max_batch_size = 65536;
  l->max_num_actions = 4096;
  l->max_num_simulations = 100000;
  l->max_tree_bytes = (size_t)4 << 30;
  l->max_json_depth = 64;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void make_request_id(char *out, size_t n) {
  static _Atomic unsigned long counter;
  unsigned long c = ++counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)c * 0x9E3779B97F4A7C15ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  snprintf(out, n, "req-%lx-%012llx", (unsigned long)ts.tv_sec, (unsigned long long)(x & 0xffffffffffffull));
}

/* Decodes root_input.embedding for the model's embedding type. */
static int decode_embeddings(const mctx_job *j, void *out, mctx_status *st) {
  const mctx_model_info *mi = &j->model->info;
  int32_t count = mi->embedding_count > 0 ? mi->embedding_count : 1;
  if (mi->embedding_kind == MCTX_EMB_BYTES || (size_t)count * 4 != (size_t)mi->embedding_bytes)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "root_input.embedding",
                           "model '%s' takes no embeddings from requests", j->model_name);
  for (int32_t b = 0; b < j->B; b++) {
    const mctx_json *e = &j->embedding->u.items[b];
    char f[96];
    snprintf(f, sizeof f, "root_input.embedding[%d]", (int)b);
    const mctx_json *items = e;
    uint32_t n = 1;
    if (e->type == MCTX_JSON_ARRAY) { items = e->u.items; n = e->len; }
    if ((int32_t)n != count || (e->type != MCTX_JSON_ARRAY && count != 1))
      return mctx_status_set(st, MCTX_ESHAPE, f, "model '%s' takes %d number%s per element", j->model_name, (int)count,
                             count == 1 ? "" : "s");
    for (uint32_t k = 0; k < n; k++) {
      const mctx_json *x = &items[k];
      if (x->type != MCTX_JSON_NUMBER) return mctx_status_set(st, MCTX_ETYPE, f, "must hold numbers, not %s", mctx_json_type_name(x->type));
      uint8_t *dst = (uint8_t *)out + ((size_t)b * (size_t)count + k) * 4;
      if (mi->embedding_kind == MCTX_EMB_U32) {
        if (!x->is_int || x->i < 0 || x->i > (int64_t)UINT32_MAX)
          return mctx_status_set(st, MCTX_ERANGE, f, "must hold integers in [0, 4294967295]");
        uint32_t u = (uint32_t)x->i;
        memcpy(dst, &u, 4);
      } else {
        if (!isfinite(x->u.num) || fabs(x->u.num) > 3.4e38) return mctx_status_set(st, MCTX_ENONFINITE, f, "must hold finite numbers");
        float v = (float)x->u.num;
        memcpy(dst, &v, 4);
      }
    }
  }
  return 0;
}

/* A game model's roots (tictactoe, connect4): the moves its rules forbid at
 * each root position are invalid actions, so that no simulation is spent on
 * them and none is chosen. They are added to the request's own
 * root_input.invalid_actions (OR: a request may forbid legal moves too, it
 * cannot allow an illegal one); an element left with no valid move is
 * refused. The positions are the request's embeddings when it gives them
 * (checked here as the model's root checks them), else its params.position. */
static int game_root_mask(mctx_job *j, const void *embs, mctx_status *st) {
  const mctx_game *g = mctx_game_of_model(j->model);
  if (!g) return 0;
  if (j->A != g->num_actions)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "model '%s' has %d actions, not %d",
                           j->model_name, (int)g->num_actions, (int)j->A);
  size_t A = (size_t)j->A, W = (size_t)g->words;
  uint8_t *rules = malloc((size_t)j->B * A);
  if (!rules) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  int rc = 0;
  for (int32_t b = 0; b < j->B && rc == 0; b++) {
    uint32_t w[MCTX_GAME_MAX_WORDS];
    if (embs) {
      char f[64];
      snprintf(f, sizeof f, "root_input.embedding[%d]", (int)b);
      memcpy(w, (const uint8_t *)embs + (size_t)b * W * 4, W * 4);
      rc = mctx_game_check_state(g, w, 0, f, st);
    } else {
      rc = mctx_game_model_position(j->model, b, w, st);
    }
    if (rc == 0) rc = mctx_game_invalid_actions(j->model, 1, w, rules + (size_t)b * A, st);
  }
  if (rc != 0) { free(rules); return rc; }
  if (!j->invalid) {
    j->invalid = rules;
    return 0;
  }
  for (int32_t b = 0; b < j->B && rc == 0; b++) {
    uint8_t *row = j->invalid + (size_t)b * A;
    const uint8_t *illegal = rules + (size_t)b * A;
    int any = 0;
    for (size_t a = 0; a < A; a++) {
      row[a] |= illegal[a];
      any |= !row[a];
    }
    if (!any) {
      char list[96] = "";
      for (size_t a = 0; a < A; a++)
        if (!illegal[a]) {
          size_t n = strlen(list);
          snprintf(list + n, sizeof list - n, "%s%d", n ? ", " : "", (int)a);
        }
      char f[64];
      snprintf(f, sizeof f, "root_input.invalid_actions[%d]", (int)b);
      rc = mctx_status_set(st, MCTX_EINVALID, f,
                           "marks every legal move of batch element %d invalid (its legal actions are %s): nothing "
                           "to search", (int)b, list);
    }
  }
  free(rules);
  return rc;
}

static char *make_batch_key(const mctx_job *j) {
  if (j->return_tree || j->store_tree || j->distributed) return NULL;
  /* merged only where each element's outputs are its own (mctx_model_info) */
  if (j->model && j->model->info.batch_dependent) return NULL;
  const mctx_search_params *p = &j->params;
  mctx_qtransform q = mctx_search_qtransform(p);
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  /* %a prints a float exactly: equal keys mean bit-equal parameters. */
  mctx_buf_printf(&b, "%d|%d|%d|%s|%d|%d|%d|%d|%a|%a|%a|%a|%a|%a|%a|%d|%a|%a|%a|%a|%a|%d%d|%d|%s|%d|%d|",
                  (int)p->policy, (int)j->A, j->device, j->model_name, (int)p->num_simulations, (int)p->max_depth,
                  (int)p->max_num_considered_actions, j->invalid != NULL, (double)p->dirichlet_fraction,
                  (double)p->one_minus_dirichlet_fraction, (double)p->dirichlet_alpha, (double)p->pb_c_init,
                  (double)p->pb_c_base, (double)p->temperature, (double)p->gumbel_scale, (int)q.kind,
                  (double)q.epsilon, (double)q.min_value, (double)q.max_value, (double)q.value_scale,
                  (double)q.maxvisit_init, q.rescale_values, q.use_mixed_value, (int)p->prng, j->precision, j->use_t4,
                  j->tensor_core_aligned);
  mctx_buf_puts(&b, j->model_params_text ? j->model_params_text : "null");
  if (b.failed) { mctx_buf_free(&b); return NULL; }
  return mctx_buf_steal(&b, NULL);
}

int mctx_job_prepare(const mctx_api_env *env, const char *body, size_t len, const char *request_id,
                     const char *user, mctx_job **out, mctx_status *st) {
  *out = NULL;
  mctx_status_clear(st);
  mctx_job *j = calloc(1, sizeof *j);
  if (!j) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  atomic_init(&j->canceled, 0);
  j->time_ms = now_ms();
  if (request_id && request_id[0]) snprintf(j->request_id, sizeof j->request_id, "%s", request_id);
  else make_request_id(j->request_id, sizeof j->request_id);
  snprintf(j->user, sizeof j->user, "%s", user && user[0] ? user : "anonymous");
  mctx_json_limits lim = {env->limits.max_json_depth, 0};
  j->doc = mctx_json_parse(body, len, &lim, st);
  int rc = j->doc ? 0 : st->code;
  if (rc == 0) rc = mctx__job_decode(env, j, mctx_json_root(j->doc), st);
  if (rc == 0) {
    mctx_model_ctx mc = {j->A, j->B, j->params.prng};
    rc = mctx_model_repo_create(env->models, j->model_name, j->model_params, &mc, &j->model, st);
  }
  if (rc == 0) {
    const mctx_model_info *mi = &j->model->info;
    int stochastic = j->params.policy == MCTX_POLICY_STOCHASTIC_MUZERO;
    if (stochastic && mi->num_chance_outcomes <= 0)
      rc = mctx_status_set(st, MCTX_EINVALID, "search_type",
                           "stochastic_muzero needs a stochastic model (synthetic_stochastic, ...); '%s' is not one",
                           j->model_name);
    else if (!stochastic && !j->model->vt->step)
      rc = mctx_status_set(st, MCTX_EINVALID, "search_type", "model '%s' is stochastic: use stochastic_muzero",
                           j->model_name);
    else if (mi->num_actions > 0 && mi->num_actions != j->A)
      rc = mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "model '%s' has %d actions, not %d",
                           j->model_name, (int)mi->num_actions, (int)j->A);
    else if (!j->prior_logits && !j->model->vt->root)
      rc = mctx_status_set(st, MCTX_EMISSING, "root_input.prior_logits",
                           "model '%s' computes no roots: give prior_logits and value", j->model_name);
    if (rc == 0) {
      int32_t C = stochastic ? mi->num_chance_outcomes : 0;
      size_t bytes = mctx_tree_bytes(j->B, j->params.num_simulations + 1, j->A + C, mi->embedding_bytes, stochastic,
                                     j->params.policy == MCTX_POLICY_GUMBEL_MUZERO);
      if (bytes == 0 || bytes > env->limits.max_tree_bytes)
        rc = mctx_status_set(st, MCTX_ELIMIT, "search_params.num_simulations",
                             "the search tree needs %.1f MiB, over the %.1f MiB budget", (double)bytes / 1048576.0,
                             (double)env->limits.max_tree_bytes / 1048576.0);
    }
    void *tmp = NULL;
    if (rc == 0 && j->embedding) {
      tmp = malloc((size_t)j->B * (size_t)(mi->embedding_bytes ? mi->embedding_bytes : 1));
      if (!tmp) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
      else rc = decode_embeddings(j, tmp, st);
    }
    if (rc == 0) rc = game_root_mask(j, tmp, st);
    free(tmp);
    /* A model's declared precision (model.json "precision") is the default
     * of a request that gives none; use_t4_optimizations without a precision
     * keeps its own rule (fp16 on the GPU, see mctx_job_run). */
    if (rc == 0 && !j->precision_given && !j->use_t4 && mi->precision &&
        (strcmp(mi->precision, "fp16") == 0 || strcmp(mi->precision, "bf16") == 0 || strcmp(mi->precision, "fp32") == 0))
      snprintf(j->precision, sizeof j->precision, "%s", mi->precision);
  }
  if (rc != 0) {
    mctx_job_free(j);
    return rc;
  }
  j->batch_key = make_batch_key(j);
  *out = j;
  return 0;
}

const char *mctx_job_batch_key(const mctx_job *j) { return j->batch_key; }
int32_t mctx_job_batch_size(const mctx_job *j) { return j->B; }

void mctx_job_keep_tree(mctx_job *j) {
  j->store_tree = 1;
  free(j->batch_key);
  j->batch_key = NULL;
}

void mctx_job_cancel(mctx_job *j) { atomic_store(&j->canceled, 1); }
int mctx_job_canceled(const mctx_job *j) { return atomic_load(&((mctx_job *)j)->canceled); }

typedef struct stop_set {
  mctx_job **jobs;
  size_t n;
} stop_set;

static int all_canceled(void *arg) {
  stop_set *s = arg;
  for (size_t i = 0; i < s->n; i++)
    if (!atomic_load(&s->jobs[i]->canceled)) return 0;
  return 1;
}

/* Fills the job's slice of the merged roots: its own logits and values (or
 * its model's), embeddings, invalid actions and keys. */
static int job_roots(mctx_job *j, float *logits, float *values, uint8_t *embs, uint8_t *inv, mctx_elem_key *keys,
                     mctx_status *st) {
  const mctx_model_info *mi = &j->model->info;
  size_t E = (size_t)mi->embedding_bytes;
  int rc = 0;
  void *given = NULL;
  if (j->embedding) {
    given = malloc((size_t)j->B * (E ? E : 1));
    if (!given) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    rc = decode_embeddings(j, given, st);
  }
  int need_model = !j->prior_logits || (E && !given);
  if (rc == 0 && need_model) {
    rc = j->model->vt->root(j->model->self, j->B, 0, given, logits, values, embs, st);
    if (rc == 0) {
      for (size_t i = 0; i < (size_t)j->B * (size_t)j->A && rc == 0; i++)
        if (isnan(logits[i]) || logits[i] == INFINITY)
          rc = mctx_status_set(st, MCTX_EMODEL, "model", "model '%s' returned non-finite root logits", j->model_name);
      for (int32_t b = 0; b < j->B && rc == 0; b++)
        if (!isfinite(values[b]))
          rc = mctx_status_set(st, MCTX_EMODEL, "model", "model '%s' returned a non-finite root value", j->model_name);
    }
  } else if (rc == 0 && given && E) {
    memcpy(embs, given, (size_t)j->B * E);
  }
  if (rc == 0 && j->prior_logits) {
    memcpy(logits, j->prior_logits, (size_t)j->B * (size_t)j->A * sizeof(float));
    memcpy(values, j->value, (size_t)j->B * sizeof(float));
  }
  free(given);
  if (rc != 0) return rc;
  if (inv) {
    if (j->invalid) memcpy(inv, j->invalid, (size_t)j->B * (size_t)j->A);
    else memset(inv, 0, (size_t)j->B * (size_t)j->A);
  }
  for (int32_t b = 0; b < j->B; b++) {
    keys[b].key = j->params.key;
    keys[b].group_size = j->B;
    keys[b].group_index = b;
  }
  return 0;
}

static void fail_all(mctx_job **jobs, size_t n, const mctx_status *st) {
  for (size_t i = 0; i < n; i++) {
    jobs[i]->status = *st;
    jobs[i]->ran = 1;
  }
}

int mctx_job_run(const mctx_api_env *env, mctx_job **jobs, size_t n) {
  if (n == 0) return MCTX_EINVALID;
  for (size_t i = 1; i < n; i++)
    if (!jobs[0]->batch_key || !jobs[i]->batch_key || strcmp(jobs[0]->batch_key, jobs[i]->batch_key) != 0)
      return MCTX_EINVALID;
  mctx_job *j0 = jobs[0];
  mctx_status st;
  mctx_status_clear(&st);
  const mctx_model *model = j0->model;
  const mctx_model_info *mi = &model->info;
  int stochastic = j0->params.policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int gumbel = j0->params.policy == MCTX_POLICY_GUMBEL_MUZERO;
  int32_t A = j0->A, C = stochastic ? mi->num_chance_outcomes : 0;
  size_t E = (size_t)mi->embedding_bytes;
  int64_t total = 0;
  for (size_t i = 0; i < n; i++) total += jobs[i]->B;
  if (total > INT32_MAX) {
    mctx_status_set(&st, MCTX_ELIMIT, "root_input.batch_size", "merged batch too large");
    fail_all(jobs, n, &st);
    return 0;
  }
  int32_t B = (int32_t)total;

  /* The engine: the GPU when asked for (or left to us) and usable. */
  mctx_engine *engine = env->cpu;
  const char *device = "cpu";
  char fallback[160] = "";
  int gpu_ok = env->gpu && (mi->engines & MCTX_ENGINE_CUDA);
  if (j0->device != MCTX__DEV_CPU && gpu_ok) {
    engine = env->gpu;
    device = "gpu";
  } else if (j0->device == MCTX__DEV_GPU) {
    if (!env->gpu)
      snprintf(fallback, sizeof fallback, "no GPU is usable: %s", env->gpu_unavailable ? env->gpu_unavailable : "none found");
    else
      snprintf(fallback, sizeof fallback, "model '%s' runs on the CPU only", j0->model_name);
  }

  float *logits = malloc((size_t)B * (size_t)A * sizeof(float));
  float *values = malloc((size_t)B * sizeof(float));
  uint8_t *embs = malloc((size_t)B * (E ? E : 1));
  uint8_t *inv = j0->invalid ? malloc((size_t)B * (size_t)A) : NULL;
  mctx_elem_key *keys = malloc((size_t)B * sizeof(mctx_elem_key));
  int32_t *action = malloc((size_t)B * sizeof(int32_t) * 3);
  float *out = malloc((size_t)B * (size_t)A * 4 * sizeof(float) + (size_t)B * sizeof(float));
  mctx_tree *tree = NULL;
  mctx_job **live = NULL;
  if (!logits || !values || !embs || (j0->invalid && !inv) || !keys || !action || !out) {
    mctx_status_set(&st, MCTX_ENOMEM, NULL, "out of memory for a batch of %d", (int)B);
    fail_all(jobs, n, &st);
    goto done;
  }
  /* Roots, job by job: a job whose model fails fails alone, and the next
   * job's rows take its place. */
  live = malloc(n * sizeof *live);
  if (!live) {
    mctx_status_set(&st, MCTX_ENOMEM, NULL, "out of memory");
    fail_all(jobs, n, &st);
    goto done;
  }
  int32_t off = 0;
  size_t nl = 0;
  for (size_t i = 0; i < n; i++) {
    mctx_job *j = jobs[i];
    int rc = job_roots(j, logits + (size_t)off * (size_t)A, values + off, embs + (size_t)off * E,
                       inv ? inv + (size_t)off * (size_t)A : NULL, keys + off, &j->status);
    if (rc != 0) { j->ran = 1; continue; }
    live[nl++] = j;
    off += j->B;
  }
  jobs = live;
  n = nl;
  B = off;
  if (n == 0) goto done;

  /* The CPU searches in a tree of ours; the GPU keeps its own on the device
   * unless the job wants the tree. */
  /* A distributed search keeps its devices' trees unless the job wants one
   * (partition_batch only: partition_search leaves one tree per device). */
  int dist_tree = j0->distributed && (j0->return_tree || j0->store_tree) && !j0->partition_search;
  if (j0->distributed ? dist_tree : (engine == env->cpu || j0->return_tree || j0->store_tree)) {
    tree = mctx_tree_new(B, j0->params.num_simulations + 1, A + C, A, (int32_t)E, stochastic, gumbel, &st);
    if (!tree) { fail_all(jobs, n, &st); goto done; }
  }
  /* A network on the GPU computes in the job's precision (the request's,
   * else the model's declared one, else fp32: mctx_job_prepare): fp16 or bf16
   * when asked, fp16 for use_t4_optimizations with fp32 asked (a T4 has no
   * bf16; the engine falls back to fp16 there by itself). Set for every job,
   * distributed ones included (each GPU of the mesh reads it); the CPU
   * computes in fp32 whatever it says. Models without a network say
   * MCTX_EUNSUPPORTED, which is no error here. */
  {
    int prec = strcmp(j0->precision, "fp16") == 0 ? MCTX_CUDA_FP16
             : strcmp(j0->precision, "bf16") == 0 ? MCTX_CUDA_BF16 : MCTX_CUDA_FP32;
    if (j0->use_t4 && prec == MCTX_CUDA_FP32) prec = MCTX_CUDA_FP16;
    mctx_status ignored;
    (void)mctx_model_set_gpu_numerics(j0->model, prec, j0->tensor_core_aligned, &ignored);
  }
  mctx_search_params p = j0->params;
  stop_set ss = {jobs, n};
  p.should_stop = all_canceled;
  p.should_stop_arg = &ss;
  mctx_root root = {B, A, logits, values, E ? embs : NULL, inv, keys};
  float *w = out, *rv = out + (size_t)B * (size_t)A, *vc = rv + B, *qv = vc + (size_t)B * (size_t)A;
  int32_t *elem_expanded = action + B, *elem_depth = action + 2 * (size_t)B;
  mctx_result res = {action, w, rv, vc, NULL, qv, elem_expanded, 0, 0, elem_depth};
  double t0 = mono_ms();
  int rc;
  if (j0->distributed) {
    /* Over the process's device mesh (and, under mpirun, every process's). */
    mctx_dist_mesh *mesh = mctx_dist_default_mesh(&st);
    rc = mesh ? 0 : (st.code ? st.code : MCTX_EDEVICE);
    if (rc == 0) {
      mctx_dist_config cfg;
      mctx_dist_config_init(&cfg);
      cfg.num_devices = j0->num_devices;
      cfg.partition = j0->partition_search ? MCTX_DIST_PARTITION_SEARCH : MCTX_DIST_PARTITION_BATCH;
      cfg.merge = j0->merge_strategy == MCTX__MERGE_MAX_VALUE   ? MCTX_DIST_MERGE_MAX_VALUE
                  : j0->merge_strategy == MCTX__MERGE_CONSENSUS ? MCTX_DIST_MERGE_CONSENSUS
                                                                : MCTX_DIST_MERGE_SUM_VISITS;
      cfg.device = j0->device == MCTX__DEV_CPU   ? MCTX_DIST_DEVICE_CPU
                   : j0->device == MCTX__DEV_GPU ? MCTX_DIST_DEVICE_GPU
                                                 : MCTX_DIST_DEVICE_AUTO;
      cfg.optimized = j0->use_t4;
      cfg.precision = j0->precision;
      rc = mctx_dist_search(mesh, &cfg, &p, model, &root, tree, &res, &j0->dist_stats, &st);
    }
    if (rc == 0) {
      const mctx_dist_stats *ds = &j0->dist_stats;
      device = ds->num_devices > 0 && strcmp(ds->devices[0].kind, "gpu") == 0 ? "gpu" : "cpu";
      fallback[0] = '\0';
      if (j0->device == MCTX__DEV_GPU && strcmp(device, "gpu") != 0)
        snprintf(fallback, sizeof fallback, "%.159s", ds->reason);
    }
  } else {
    rc = mctx_engine_search(engine, &p, model, &root, 0, tree, &res, &st);
  }
  double dt = mono_ms() - t0;
  if (rc != 0) { fail_all(jobs, n, &st); goto done; }
#if defined(MCTX_HAVE_CUDA)
  mctx_cuda_memory mem;
  int on_gpu = engine == env->gpu && mctx_engine_is_cuda(engine);
  if (on_gpu) mctx_engine_cuda_memory(engine, &mem);
#endif

  off = 0;
  for (size_t i = 0; i < n; i++) {
    mctx_job *j = jobs[i];
    size_t b = (size_t)j->B, ba = b * (size_t)A;
    j->action = malloc(b * sizeof(int32_t));
    j->weights = malloc(ba * sizeof(float));
    j->root_value = malloc(b * sizeof(float));
    j->visit_counts = malloc(ba * sizeof(float));
    j->qvalues = malloc(ba * sizeof(float));
    j->ran = 1;
    if (!j->action || !j->weights || !j->root_value || !j->visit_counts || !j->qvalues) {
      mctx_status_set(&j->status, MCTX_ENOMEM, NULL, "out of memory");
      off += j->B;
      continue;
    }
    memcpy(j->action, action + off, b * sizeof(int32_t));
    memcpy(j->weights, w + (size_t)off * (size_t)A, ba * sizeof(float));
    memcpy(j->root_value, rv + off, b * sizeof(float));
    memcpy(j->visit_counts, vc + (size_t)off * (size_t)A, ba * sizeof(float));
    memcpy(j->qvalues, qv + (size_t)off * (size_t)A, ba * sizeof(float));
    j->duration_ms = dt;
    j->expanded = 0;
    for (int32_t k = 0; k < j->B; k++) j->expanded += elem_expanded[off + k];
    /* Its own elements' deepest simulation: what it reaches alone, merged or not. */
    j->depth_reached = 0;
    for (int32_t k = 0; k < j->B; k++)
      if (elem_depth[off + k] > j->depth_reached) j->depth_reached = elem_depth[off + k];
    j->device_used = device;
    snprintf(j->fallback_reason, sizeof j->fallback_reason, "%s", fallback);
    j->merged_with = (int32_t)n;
#if defined(MCTX_HAVE_CUDA)
    if (on_gpu) {
      j->gpu_ran = 1;
      snprintf(j->gpu_name, sizeof j->gpu_name, "%s", mem.device_name);
      j->gpu_total_mib = (double)mem.total_bytes / 1048576.0;
      j->gpu_free_before_mib = (double)mem.free_before / 1048576.0;
      j->gpu_free_after_mib = (double)mem.free_after / 1048576.0;
      j->gpu_engine_peak_mib = (double)mem.peak_bytes / 1048576.0;
      j->gpu_chunk = mem.last_chunk;
      snprintf(j->gpu_path, sizeof j->gpu_path, "%s", mem.last_path ? mem.last_path : "");
      snprintf(j->gpu_precision, sizeof j->gpu_precision, "%s", mem.last_precision);
      j->gpu_aligned = mem.last_aligned;
    }
#endif
    off += j->B;
  }
  if (n == 1 && (j0->return_tree || j0->store_tree)) {
    j0->tree = tree;
    tree = NULL;
  }
done:
  mctx_tree_free(tree);
  free(logits); free(values); free(embs); free(inv); free(keys); free(action); free(out); free(live);
  return 0;
}

const mctx_status *mctx_job_status(const mctx_job *j) { return &j->status; }

int mctx_job_http_status(const mctx_job *j) {
  return j->status.code == 0 ? 200 : mctx_http_status(j->status.code);
}

void mctx_job_get_info(const mctx_job *j, mctx_job_info *o) {
  memset(o, 0, sizeof *o);
  o->request_id = j->request_id;
  o->user = j->user;
  o->search_type = mctx__policy_name(j->params.policy);
  o->model = j->model_name;
  o->device = j->device_used ? j->device_used : (j->device == MCTX__DEV_GPU ? "gpu" : "cpu");
  o->precision = j->precision;
  o->batch_size = j->B;
  o->num_actions = j->A;
  o->num_simulations = j->params.num_simulations;
  o->max_depth = j->params.max_depth > 0 ? j->params.max_depth : -1;
  o->gpu_optimized = j->use_t4;
  o->distributed = j->distributed;
  o->num_devices = j->num_devices;
  o->duration_ms = j->duration_ms;
  o->num_expanded_nodes = j->expanded;
  o->max_depth_reached = j->depth_reached;
  o->time_ms = j->time_ms;
}

void mctx_job_free(mctx_job *j) {
  if (!j) return;
  mctx_model_free(j->model);
  mctx_json_doc_free(j->doc);
  mctx_tree_free(j->tree);
  mctx_dist_stats_free(&j->dist_stats);
  free(j->prior_logits); free(j->value); free(j->invalid); free(j->model_params_text); free(j->batch_key);
  free(j->action); free(j->weights); free(j->root_value); free(j->visit_counts); free(j->qvalues);
  free(j);
}
