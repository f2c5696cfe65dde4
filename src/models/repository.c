/* models/repository.c: the model repository of repository.h.
 *
 * Loading: the directory's folders in name order, each folder's model.json
 * decoded and checked field by field, its weights or plugin loaded, and one
 * probe instance made; the result is a snapshot, an immutable array of
 * entries with a reference count. The repository holds the current snapshot
 * under a mutex; requests take a reference for as long as they need to make
 * their model, and each model instance keeps references on the weights or the
 * plugin it uses, so a reload never pulls anything from under a request.
 * This file touches only the repository's directory. */
#include "models/repository.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "models/builtin.h"
#include "models/games.h"
#include "models/mlp.h"
#include "models/plugin.h"
#include "util/jsonw.h"

enum { KIND_BUILTIN = 0, KIND_GAME, KIND_MLP, KIND_PLUGIN };
static const char *const KIND_NAMES[] = {"builtin", "game", "mlp", "plugin"};

typedef struct entry {
  char name[64];
  int kind;
  char target[64];          /* builtin: the registry's model; game: the game */
  char *description;
  char *params_text;        /* model.json "params" (JSON text) or NULL */
  char *config_text;        /* plugin: model.json "config" ("{}" when absent) */
  char dir[640];            /* the model's folder */
  char file[800];           /* mlp: the weights; plugin: the shared object */
  mctx_mlp_weights *weights;
  mctx_plugin_lib *lib;
  mctx_model_info info;     /* what the probe instance declared */
  int32_t declared_actions; /* model.json "num_actions", 0 when absent */
  int engines;              /* MCTX_ENGINE_* the model may run on */
  const char *precision;    /* "fp32", "fp16", "bf16" */
} entry;

typedef struct snapshot {
  atomic_int refs;
  entry *e;
  int n;
  uint64_t generation;
  int64_t loaded_at;        /* Unix seconds */
} snapshot;

struct mctx_model_repo {
  char dir[512];
  pthread_mutex_t lock;     /* guards cur */
  pthread_mutex_t reload;   /* one reload at a time */
  snapshot *cur;
  uint64_t generation;
};

const char *mctx_model_repo_env_dir(void) {
  const char *d = getenv("MCTX_MODEL_DIR");
  return d && d[0] ? d : NULL;
}

/* ==== Snapshots ==== */

static void entry_clear(entry *e) {
  free(e->description);
  free(e->params_text);
  free(e->config_text);
  mctx_mlp_weights_unref(e->weights);
  mctx_plugin_lib_unref(e->lib);
  memset(e, 0, sizeof *e);
}

static void snap_unref(snapshot *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  for (int i = 0; i < s->n; i++) entry_clear(&s->e[i]);
  free(s->e);
  free(s);
}

static snapshot *snap_get(mctx_model_repo *r) {
  pthread_mutex_lock(&r->lock);
  snapshot *s = r->cur;
  if (s) atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&r->lock);
  return s;
}

static const entry *snap_find(const snapshot *s, const char *name) {
  for (int i = 0; s && i < s->n; i++)
    if (strcmp(s->e[i].name, name) == 0) return &s->e[i];
  return NULL;
}

/* ==== Making instances ==== */

/* params of model.json under the request's: a new document (or NULL when
 * neither has any). */
static int merge_params(const char *base_text, const mctx_json *req, mctx_json_doc **out, mctx_status *st) {
  *out = NULL;
  if (req && req->type != MCTX_JSON_NULL && req->type != MCTX_JSON_OBJECT)
    return mctx_status_set(st, MCTX_ETYPE, "model.params", "must be an object, not %s", mctx_json_type_name(req->type));
  int has_req = req && req->type == MCTX_JSON_OBJECT;
  if (!base_text && !has_req) return 0;
  mctx_status pst;
  mctx_json_doc *base = base_text ? mctx_json_parse(base_text, strlen(base_text), NULL, &pst) : NULL;
  const mctx_json *b = base ? mctx_json_root(base) : NULL;
  mctx_buf buf;
  mctx_buf_init(&buf, (size_t)64 << 20);
  mctx_jw w;
  mctx_jw_init(&w, &buf);
  mctx_jw_obj(&w);
  for (uint32_t i = 0; b && b->type == MCTX_JSON_OBJECT && i < b->len; i++) {
    const char *k = b->u.members[i].key;
    if (has_req && mctx_json_get(req, k)) continue;
    char *t = mctx__json_text(&b->u.members[i].value);
    mctx_jw_key(&w, k);
    if (t) mctx_jw_raw(&w, t, strlen(t));
    else buf.failed = 1;
    free(t);
  }
  for (uint32_t i = 0; has_req && i < req->len; i++) {
    char *t = mctx__json_text(&req->u.members[i].value);
    mctx_jw_key(&w, req->u.members[i].key);
    if (t) mctx_jw_raw(&w, t, strlen(t));
    else buf.failed = 1;
    free(t);
  }
  mctx_jw_end(&w);
  mctx_json_doc_free(base);
  if (buf.failed) {
    mctx_buf_free(&buf);
    return mctx_status_set(st, MCTX_ENOMEM, "model.params", "out of memory");
  }
  *out = mctx_json_parse(buf.data, buf.len, NULL, st);
  mctx_buf_free(&buf);
  return *out ? 0 : st->code;
}

static int entry_create(const entry *e, const mctx_json *req_params, const mctx_model_ctx *ctx, mctx_model **out,
                        mctx_status *st) {
  *out = NULL;
  if (e->kind == KIND_PLUGIN) {
    if (req_params && req_params->type != MCTX_JSON_NULL && req_params->type != MCTX_JSON_OBJECT)
      return mctx_status_set(st, MCTX_ETYPE, "model.params", "must be an object, not %s",
                             mctx_json_type_name(req_params->type));
    mctx_model *m = calloc(1, sizeof *m);
    if (!m) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    int rc = mctx_plugin_model_create(e->lib, e->name, e->dir, e->config_text, req_params, ctx, m, st);
    if (rc != 0) {
      free(m);
      return rc;
    }
    *out = m;
  } else {
    mctx_json_doc *doc = NULL;
    int rc = merge_params(e->params_text, req_params, &doc, st);
    if (rc != 0) return rc;
    const mctx_json *params = doc ? mctx_json_root(doc) : NULL;
    if (e->kind == KIND_MLP) {
      static const char *const known[] = {"discount", "seed", NULL};
      rc = mctx__param_known(params, known, st);
      mctx_model *m = rc == 0 ? calloc(1, sizeof *m) : NULL;
      if (rc == 0 && !m) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
      if (rc == 0) rc = mctx_mlp_model_create(e->weights, params, ctx, m, st);
      if (rc == 0) *out = m;
      else free(m);
    } else {
      rc = mctx_model_create(e->target, params, ctx, out, st);
    }
    mctx_json_doc_free(doc);
    if (rc != 0) return rc;
  }
  mctx_model *m = *out;
  m->info.engines &= e->engines;
  if (!m->info.engines) {
    mctx_model_free(m);
    *out = NULL;
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model.name", "model '%s' may run on no engine this model supports",
                           e->name);
  }
  if (e->precision) m->info.precision = e->precision;
  return 0;
}

int mctx_model_repo_create(mctx_model_repo *r, const char *name, const mctx_json *params,
                           const mctx_model_ctx *ctx, mctx_model **out, mctx_status *st) {
  *out = NULL;
  snapshot *s = r ? snap_get(r) : NULL;
  const entry *e = snap_find(s, name);
  int rc = e ? entry_create(e, params, ctx, out, st) : mctx_model_create(name, params, ctx, out, st);
  snap_unref(s);
  return rc;
}

/* ==== Loading ==== */

#define FAIL(code, key, ...)                                                                         \
  do {                                                                                               \
    char f_[128];                                                                                    \
    snprintf(f_, sizeof f_, "model_dir.%.60s%s%s", e->name, (key)[0] ? "." : "", (key));           \
    mctx_status_set(st, (code), f_, __VA_ARGS__);                                                    \
    goto fail;                                                                                       \
  } while (0)

static char *read_small(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
    fclose(f);
    errno = EFBIG;
    return NULL;
  }
  char *b = malloc((size_t)sb.st_size + 1);
  size_t n = b ? fread(b, 1, (size_t)sb.st_size, f) : 0;
  fclose(f);
  if (!b) return NULL;
  b[n] = '\0';
  *len = n;
  return b;
}

static int valid_model_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
          *s == '-' || *s == '.'))
      return 0;
  return 1;
}

/* A file named in model.json: a plain name inside the model's folder. */
static int inside_name(const char *s) {
  return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 128;
}

static const char *str_of(const mctx_json *v) { return v && v->type == MCTX_JSON_STRING ? v->u.str : NULL; }

static int load_entry(const char *root, const char *name, entry *e, mctx_status *st) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  snprintf(e->dir, sizeof e->dir, "%s/%s", root, name);
  char path[800];
  snprintf(path, sizeof path, "%s/model.json", e->dir);
  mctx_json_doc *doc = NULL;
  size_t len = 0;
  char *text = NULL;
  if (!valid_model_name(name))
    FAIL(MCTX_EINVALID, "", "%s: a model's folder name is 1-63 characters of [A-Za-z0-9._-]", name);
  text = read_small(path, MCTX_REPO_MAX_CONFIG_BYTES, &len);
  if (!text)
    FAIL(MCTX_EIO, "", "%s: %s", path,
         errno == EFBIG ? "not a regular file of at most 1 MiB" : errno == ENOENT ? "missing (every model folder needs a model.json)" : strerror(errno));
  mctx_json_limits lim = {32, 0};
  mctx_status js;
  doc = mctx_json_parse(text, len, &lim, &js);
  if (!doc) FAIL(MCTX_EPARSE, "", "%s: not valid JSON: %s", path, js.reason);
  const mctx_json *c = mctx_json_root(doc);
  if (c->type != MCTX_JSON_OBJECT) FAIL(MCTX_EPARSE, "", "%s: must be a JSON object", path);

  const char *kind = str_of(mctx_json_get(c, "kind"));
  if (!kind) FAIL(MCTX_EMISSING, "kind", "%s: \"kind\" is required: builtin, game, mlp or plugin", path);
  e->kind = -1;
  for (int k = 0; k < 4; k++)
    if (strcmp(kind, KIND_NAMES[k]) == 0) e->kind = k;
  if (e->kind < 0) FAIL(MCTX_EINVALID, "kind", "%s: \"kind\" must be builtin, game, mlp or plugin, not '%.40s'", path, kind);
  static const char *const common[] = {"kind", "description", "num_actions", "precision", "engines", NULL};
  static const char *const per_kind[4][3] = {{"model", "params", NULL}, {"game", "params", NULL},
                                             {"weights", "params", NULL}, {"path", "config", NULL}};
  for (uint32_t i = 0; i < c->len; i++) {
    const char *k = c->u.members[i].key;
    int ok = 0;
    for (const char *const *p = common; *p; p++) ok |= strcmp(*p, k) == 0;
    for (const char *const *p = per_kind[e->kind]; *p; p++) ok |= strcmp(*p, k) == 0;
    if (!ok) FAIL(MCTX_EINVALID, k, "%s: unknown field \"%.40s\" for a model of kind %s", path, k, kind);
  }
  const mctx_json *v = mctx_json_get(c, "description");
  if (v && !str_of(v)) FAIL(MCTX_ETYPE, "description", "%s: \"description\" must be a string", path);
  e->description = strdup(v ? v->u.str : "");
  v = mctx_json_get(c, "num_actions");
  if (v && (v->type != MCTX_JSON_NUMBER || !v->is_int || v->i < 1 || v->i > 65536))
    FAIL(MCTX_ERANGE, "num_actions", "%s: \"num_actions\" must be an integer in [1, 65536]", path);
  e->declared_actions = v ? (int32_t)v->i : 0;
  v = mctx_json_get(c, "precision");
  e->precision = NULL;
  if (v) {
    const char *p = str_of(v);
    if (p && strcmp(p, "fp32") == 0) e->precision = "fp32";
    else if (p && strcmp(p, "fp16") == 0) e->precision = "fp16";
    else if (p && strcmp(p, "bf16") == 0) e->precision = "bf16";
    else FAIL(MCTX_EINVALID, "precision", "%s: \"precision\" must be fp32, fp16 or bf16", path);
  }
  e->engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  v = mctx_json_get(c, "engines");
  if (v) {
    if (v->type != MCTX_JSON_ARRAY || v->len == 0)
      FAIL(MCTX_ETYPE, "engines", "%s: \"engines\" must be a non-empty array of \"cpu\" and \"cuda\"", path);
    e->engines = 0;
    for (uint32_t i = 0; i < v->len; i++) {
      const char *g = str_of(&v->u.items[i]);
      if (g && strcmp(g, "cpu") == 0) e->engines |= MCTX_ENGINE_CPU;
      else if (g && (strcmp(g, "cuda") == 0 || strcmp(g, "gpu") == 0)) e->engines |= MCTX_ENGINE_CUDA;
      else FAIL(MCTX_EINVALID, "engines", "%s: \"engines\"[%u] must be \"cpu\" or \"cuda\"", path, (unsigned)i);
    }
  }
  v = mctx_json_get(c, "params");
  if (v) {
    if (v->type != MCTX_JSON_OBJECT) FAIL(MCTX_ETYPE, "params", "%s: \"params\" must be an object", path);
    e->params_text = mctx__json_text(v);
  }

  if (e->kind == KIND_BUILTIN || e->kind == KIND_GAME) {
    const char *key = e->kind == KIND_BUILTIN ? "model" : "game";
    const char *t = str_of(mctx_json_get(c, key));
    if (!t) FAIL(MCTX_EMISSING, key, "%s: \"%s\" is required for a model of kind %s", path, key, kind);
    if (e->kind == KIND_GAME && !mctx_game_find(t))
      FAIL(MCTX_EINVALID, "game", "%s: \"game\" must be tictactoe or connect4, not '%.40s'", path, t);
    if (e->kind == KIND_BUILTIN && (strcmp(t, "tictactoe") == 0 || strcmp(t, "connect4") == 0 || strcmp(t, "mlp") == 0))
      FAIL(MCTX_EINVALID, "model", "%s: use kind \"%s\" for '%s'", path, strcmp(t, "mlp") == 0 ? "mlp" : "game", t);
    snprintf(e->target, sizeof e->target, "%.63s", t);
  } else if (e->kind == KIND_MLP) {
    const char *wf = str_of(mctx_json_get(c, "weights"));
    if (!wf) FAIL(MCTX_EMISSING, "weights", "%s: \"weights\" (a safetensors file in the folder) is required", path);
    if (!inside_name(wf)) FAIL(MCTX_EINVALID, "weights", "%s: \"weights\" must name a file in the model's folder", path);
    snprintf(e->file, sizeof e->file, "%s/%s", e->dir, wf);
    char field[128];
    snprintf(field, sizeof field, "model_dir.%.60s.weights", e->name);
    if (mctx_mlp_weights_load(e->file, field, &e->weights, st) != 0) goto fail;
    snprintf(e->target, sizeof e->target, "mlp");
  } else {
    const char *pf = str_of(mctx_json_get(c, "path"));
    if (!pf) FAIL(MCTX_EMISSING, "path", "%s: \"path\" (the plugin's shared object in the folder) is required", path);
    if (!inside_name(pf)) FAIL(MCTX_EINVALID, "path", "%s: \"path\" must name a file in the model's folder", path);
    v = mctx_json_get(c, "config");
    if (v && v->type != MCTX_JSON_OBJECT) FAIL(MCTX_ETYPE, "config", "%s: \"config\" must be an object", path);
    e->config_text = v ? mctx__json_text(v) : strdup("{}");
    snprintf(e->file, sizeof e->file, "%s/%s", e->dir, pf);
    char field[128];
    snprintf(field, sizeof field, "model_dir.%.60s.path", e->name);
    if (mctx_plugin_lib_open(e->file, field, &e->lib, st) != 0) goto fail;
    snprintf(e->target, sizeof e->target, "%s", mctx_plugin_lib_table(e->lib)->name);
  }
  if (!e->description || (mctx_json_get(c, "params") && !e->params_text) || (e->kind == KIND_PLUGIN && !e->config_text))
    FAIL(MCTX_ENOMEM, "", "out of memory");

  /* The probe: one instance with the model's own parameters. */
  {
    int32_t A = e->declared_actions;
    if (!A && e->kind == KIND_GAME) A = mctx_game_find(e->target)->num_actions;
    if (!A && e->kind == KIND_MLP) A = e->weights->num_actions;
    if (!A) A = 8;
    mctx_model_ctx ctx = {A, 1, MCTX_PRNG_JAX};
    mctx_model *m = NULL;
    mctx_status pst;
    int saved = e->engines;
    e->engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA; /* probe whatever the model supports */
    if (entry_create(e, NULL, &ctx, &m, &pst) != 0)
      FAIL(pst.code, "", "%s: the model cannot be made: %s%s%s", path, pst.field, pst.field[0] ? ": " : "", pst.reason);
    e->engines = saved;
    e->info = m->info;
    e->info.precision = NULL;
    if (e->declared_actions && m->info.num_actions > 0 && m->info.num_actions != e->declared_actions) {
      int32_t has = m->info.num_actions;
      mctx_model_free(m);
      FAIL(MCTX_ESHAPE, "num_actions", "%s: \"num_actions\" is %d but the model has %d actions", path,
           (int)e->declared_actions, (int)has);
    }
    int supported = m->info.engines;
    mctx_model_free(m);
    if (!(supported & e->engines))
      FAIL(MCTX_EUNSUPPORTED, "engines", "%s: the model runs on %s only", path,
           supported & MCTX_ENGINE_CPU ? "the CPU" : "the GPU");
    e->engines &= supported;
  }
  free(text);
  mctx_json_doc_free(doc);
  return 0;
fail:
  free(text);
  mctx_json_doc_free(doc);
  entry_clear(e);
  return st->code ? st->code : MCTX_EINVALID;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_snapshot(const char *dir, snapshot **out, mctx_status *st) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) return mctx_status_set(st, MCTX_EIO, "model_dir", "cannot open the model repository %s: %s", dir, strerror(errno));
  char *names[MCTX_REPO_MAX_MODELS + 1];
  int n = 0, rc = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || de->d_name[0] == '_') continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
    if (n == MCTX_REPO_MAX_MODELS) {
      rc = mctx_status_set(st, MCTX_ELIMIT, "model_dir", "%s holds more than %d models", dir, MCTX_REPO_MAX_MODELS);
      break;
    }
    names[n] = strdup(de->d_name);
    if (!names[n]) {
      rc = mctx_status_set(st, MCTX_ENOMEM, "model_dir", "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  snapshot *s = NULL;
  if (rc == 0) {
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    s = calloc(1, sizeof *s);
    if (s) s->e = calloc((size_t)(n ? n : 1), sizeof *s->e);
    if (!s || !s->e) {
      free(s);
      s = NULL;
      rc = mctx_status_set(st, MCTX_ENOMEM, "model_dir", "out of memory");
    }
  }
  for (int i = 0; rc == 0 && i < n; i++) {
    rc = load_entry(dir, names[i], &s->e[i], st);
    if (rc == 0) s->n++;
  }
  for (int i = 0; i < n; i++) free(names[i]);
  if (rc != 0) {
    if (s) {
      atomic_init(&s->refs, 1);
      snap_unref(s);
    }
    return rc;
  }
  atomic_init(&s->refs, 1);
  s->loaded_at = (int64_t)time(NULL);
  *out = s;
  return 0;
}

int mctx_model_repo_open(const char *dir, mctx_model_repo **out, mctx_status *st) {
  *out = NULL;
  if (!dir || !dir[0] || strlen(dir) >= 400)
    return mctx_status_set(st, MCTX_EINVALID, "model_dir", "the model repository must be a directory name of 1-399 bytes");
  mctx_model_repo *r = calloc(1, sizeof *r);
  if (!r) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  pthread_mutex_init(&r->lock, NULL);
  pthread_mutex_init(&r->reload, NULL);
  int rc = load_snapshot(dir, &r->cur, st);
  if (rc != 0) {
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->reload);
    free(r);
    return rc;
  }
  r->generation = 1;
  r->cur->generation = 1;
  *out = r;
  return 0;
}

int mctx_model_repo_reload(mctx_model_repo *r, mctx_status *st) {
  pthread_mutex_lock(&r->reload);
  snapshot *s = NULL;
  int rc = load_snapshot(r->dir, &s, st);
  if (rc == 0) {
    pthread_mutex_lock(&r->lock);
    snapshot *old = r->cur;
    s->generation = ++r->generation;
    r->cur = s;
    pthread_mutex_unlock(&r->lock);
    snap_unref(old);
  }
  pthread_mutex_unlock(&r->reload);
  return rc;
}

void mctx_model_repo_free(mctx_model_repo *r) {
  if (!r) return;
  snap_unref(r->cur);
  pthread_mutex_destroy(&r->lock);
  pthread_mutex_destroy(&r->reload);
  free(r);
}

int mctx_model_repo_has(mctx_model_repo *r, const char *name) {
  snapshot *s = r ? snap_get(r) : NULL;
  int has = snap_find(s, name) != NULL;
  snap_unref(s);
  return has;
}

int mctx_model_repo_count(mctx_model_repo *r) {
  snapshot *s = r ? snap_get(r) : NULL;
  int n = s ? s->n : 0;
  snap_unref(s);
  return n;
}

uint64_t mctx_model_repo_generation(mctx_model_repo *r) {
  snapshot *s = r ? snap_get(r) : NULL;
  uint64_t g = s ? s->generation : 0;
  snap_unref(s);
  return g;
}

const char *mctx_model_repo_dir(const mctx_model_repo *r) { return r ? r->dir : NULL; }

/* ==== Listing ==== */

static void engines_json(mctx_jw *w, int engines) {
  mctx_jw_key(w, "engines");
  mctx_jw_arr(w);
  if (engines & MCTX_ENGINE_CPU) mctx_jw_str(w, "cpu");
  if (engines & MCTX_ENGINE_CUDA) mctx_jw_str(w, "cuda");
  mctx_jw_end(w);
}

static void entry_json(mctx_jw *w, const entry *e) {
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "name", mctx_jw_str, e->name);
  MCTX_JW_KV(w, "kind", mctx_jw_str, KIND_NAMES[e->kind]);
  MCTX_JW_KV(w, "source", mctx_jw_str, "repository");
  MCTX_JW_KV(w, "description", mctx_jw_str, e->description ? e->description : "");
  mctx_jw_key(w, "num_actions");
  int32_t A = e->info.num_actions > 0 ? e->info.num_actions : e->declared_actions;
  if (A > 0) mctx_jw_i64(w, A);
  else mctx_jw_null(w);
  MCTX_JW_KV(w, "embedding_size", mctx_jw_i64, e->info.embedding_count);
  MCTX_JW_KV(w, "embedding_type", mctx_jw_str,
             e->info.embedding_kind == MCTX_EMB_U32 ? "uint32" : e->info.embedding_kind == MCTX_EMB_F32 ? "float32" : "bytes");
  MCTX_JW_KV(w, "num_chance_outcomes", mctx_jw_i64, e->info.num_chance_outcomes);
  MCTX_JW_KV(w, "precision", mctx_jw_str, e->precision ? e->precision : "fp32");
  engines_json(w, e->engines);
  mctx_jw_key(w, "detail");
  mctx_jw_obj(w);
  if (e->kind == KIND_BUILTIN) MCTX_JW_KV(w, "model", mctx_jw_str, e->target);
  if (e->kind == KIND_GAME) MCTX_JW_KV(w, "game", mctx_jw_str, e->target);
  if (e->kind == KIND_MLP) {
    const mctx_mlp_weights *wt = e->weights;
    MCTX_JW_KV(w, "weights", mctx_jw_str, e->file);
    MCTX_JW_KV(w, "dtype", mctx_jw_str, wt->dtype);
    MCTX_JW_KV(w, "state_size", mctx_jw_i64, wt->state_dim);
    MCTX_JW_KV(w, "observation_size", mctx_jw_i64, wt->obs_dim);
    MCTX_JW_KV(w, "num_params", mctx_jw_i64, wt->num_params);
    mctx_jw_key(w, "layers");
    mctx_jw_arr(w);
    const mctx_mlp_layer *parts[3] = {wt->repr, wt->dyn, wt->pred};
    int32_t counts[3] = {wt->n_repr, wt->n_dyn, wt->n_pred};
    for (int p = 0; p < 3; p++)
      for (int32_t i = 0; i < counts[p]; i++) {
        mctx_jw_obj(w);
        MCTX_JW_KV(w, "name", mctx_jw_str, parts[p][i].name);
        MCTX_JW_KV(w, "in", mctx_jw_i64, parts[p][i].in);
        MCTX_JW_KV(w, "out", mctx_jw_i64, parts[p][i].out);
        MCTX_JW_KV(w, "bias", mctx_jw_bool, parts[p][i].b != NULL);
        mctx_jw_end(w);
      }
    mctx_jw_end(w);
  }
  if (e->kind == KIND_PLUGIN) {
    const mctx_plugin *t = mctx_plugin_lib_table(e->lib);
    MCTX_JW_KV(w, "path", mctx_jw_str, e->file);
    MCTX_JW_KV(w, "plugin", mctx_jw_str, t->name);
    MCTX_JW_KV(w, "version", mctx_jw_str, t->version ? t->version : "");
    MCTX_JW_KV(w, "abi_version", mctx_jw_i64, t->abi_version);
  }
  mctx_jw_end(w);
  mctx_jw_end(w);
}

int mctx_model_repo_list_json(mctx_model_repo *r, int include_builtins, mctx_buf *out) {
  snapshot *s = r ? snap_get(r) : NULL;
  mctx_jw w;
  mctx_jw_init(&w, out);
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "dir");
  if (r) mctx_jw_str(&w, r->dir);
  else mctx_jw_null(&w);
  MCTX_JW_KV(&w, "generation", mctx_jw_i64, (int64_t)(s ? s->generation : 0));
  mctx_jw_key(&w, "loaded_at");
  if (s) {
    char ts[32];
    time_t t = (time_t)s->loaded_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    mctx_jw_str(&w, ts);
  } else {
    mctx_jw_null(&w);
  }
  mctx_jw_key(&w, "models");
  mctx_jw_arr(&w);
  for (int i = 0; s && i < s->n; i++) entry_json(&w, &s->e[i]);
  if (include_builtins) {
    size_t n;
    const mctx_model_factory *const *f = mctx_model_factories(&n);
    for (size_t i = 0; i < n; i++) {
      if (snap_find(s, f[i]->name)) continue;
      mctx_jw_obj(&w);
      MCTX_JW_KV(&w, "name", mctx_jw_str, f[i]->name);
      MCTX_JW_KV(&w, "kind", mctx_jw_str, mctx_game_find(f[i]->name) ? "game" : strcmp(f[i]->name, "mlp") == 0 ? "mlp" : "builtin");
      MCTX_JW_KV(&w, "source", mctx_jw_str, "builtin");
      MCTX_JW_KV(&w, "description", mctx_jw_str, f[i]->description ? f[i]->description : "");
      mctx_jw_end(&w);
    }
  }
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  snap_unref(s);
  return out->failed ? -1 : 0;
}
