/* models/plugin.c: loading plugins (mctx/plugin.h) and running their models.
 *
 * Libraries: dlopen() by path, one mctx_plugin_lib per loaded file (a
 * process-wide table under a mutex, keyed by device and inode), reference
 * counted; the table the entry point returns is checked once (ABI version,
 * sizes, name, required functions). Models: an instance wraps the plugin's
 * instance; its vtable (one per library, named after the plugin) calls the
 * plugin with an error buffer and turns a failure into MCTX_EMODEL naming
 * the plugin, the function and the plugin's message. The engines check the
 * outputs for NaN and infinity as for every model. */
#include "models/plugin.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/jsonw.h"

struct mctx_plugin_lib {
  atomic_int refs;
  void *handle;
  const mctx_plugin *t;
  mctx_plugin_host host;
  char path[512];
  dev_t dev;
  ino_t ino;
  mctx_model_vtable vt;   /* the instances' vtable, named after the plugin */
  char name[64];
  mctx_plugin_lib *next;  /* in the table of loaded libraries */
};

static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static mctx_plugin_lib *libs;

static void (*user_logger)(void *, int, const char *, const char *);
static void *user_logger_ctx;

void mctx_plugin_set_logger(void (*fn)(void *ctx, int level, const char *plugin, const char *message), void *ctx) {
  user_logger = fn;
  user_logger_ctx = ctx;
}

static void host_log(void *host_ctx, int level, const char *message) {
  const mctx_plugin_lib *lib = host_ctx;
  /* before the entry point returns, the plugin has no name yet: its file's */
  const char *name = "?";
  if (lib && lib->name[0]) name = lib->name;
  else if (lib) name = strrchr(lib->path, '/') ? strrchr(lib->path, '/') + 1 : lib->path;
  if (user_logger) {
    user_logger(user_logger_ctx, level, name, message ? message : "");
    return;
  }
  if (level < MCTX_PLUGIN_LOG_INFO) return; /* debug lines only to a logger that asks for them */
  static const char *const levels[] = {"debug", "info", "warn", "error"};
  fprintf(stderr, "mctx plugin %s: %s: %s\n", name, levels[level >= 0 && level <= 3 ? level : 1],
          message ? message : "");
}

int mctx_plugin_loaded_count(void) {
  pthread_mutex_lock(&libs_lock);
  int n = 0;
  for (mctx_plugin_lib *l = libs; l; l = l->next) n++;
  pthread_mutex_unlock(&libs_lock);
  return n;
}

const mctx_plugin *mctx_plugin_lib_table(const mctx_plugin_lib *lib) { return lib->t; }
const char *mctx_plugin_lib_path(const mctx_plugin_lib *lib) { return lib->path; }

mctx_plugin_lib *mctx_plugin_lib_ref(mctx_plugin_lib *lib) {
  if (lib) atomic_fetch_add(&lib->refs, 1);
  return lib;
}

void mctx_plugin_lib_unref(mctx_plugin_lib *lib) {
  if (!lib) return;
  pthread_mutex_lock(&libs_lock);
  if (atomic_fetch_sub(&lib->refs, 1) != 1) {
    pthread_mutex_unlock(&libs_lock);
    return;
  }
  for (mctx_plugin_lib **p = &libs; *p; p = &(*p)->next)
    if (*p == lib) {
      *p = lib->next;
      break;
    }
  pthread_mutex_unlock(&libs_lock);
  if (lib->t && lib->t->unload) lib->t->unload();
  dlclose(lib->handle);
  free(lib);
}

/* ==== Instances ==== */

typedef struct plug_inst {
  mctx_plugin_lib *lib;
  void *inst;
} plug_inst;

static int plugin_failed(const plug_inst *p, const char *fn, char *err, mctx_status *st) {
  err[255] = '\0';
  for (char *c = err; *c; c++)
    if ((unsigned char)*c < 0x20) *c = ' ';
  return mctx_status_set(st, MCTX_EMODEL, "model", "plugin '%s' failed in %s: %s", p->lib->name, fn,
                         err[0] ? err : "(no message)");
}

static void pi_destroy(void *self) {
  plug_inst *p = self;
  if (!p) return;
  if (p->inst) p->lib->t->destroy(p->inst);
  mctx_plugin_lib_unref(p->lib);
  free(p);
}

static int pi_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                   void *emb_out, mctx_status *st) {
  plug_inst *p = self;
  char err[256] = "";
  if (p->lib->t->root(p->inst, n, first, emb_in, logits, value, emb_out, err, sizeof err) != 0)
    return plugin_failed(p, "root", err, st);
  return 0;
}

static int pi_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                   mctx_step_out *out, mctx_status *st) {
  plug_inst *p = self;
  char err[256] = "";
  if (p->lib->t->step(p->inst, n, keys ? keys[0].k : NULL, actions, emb, out->reward, out->discount,
                      out->prior_logits, out->value, out->embeddings, err, sizeof err) != 0)
    return plugin_failed(p, "step", err, st);
  return 0;
}

static int pi_decision(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                       float *chance_logits, float *after_value, void *after_emb, mctx_status *st) {
  plug_inst *p = self;
  char err[256] = "";
  if (p->lib->t->decision(p->inst, n, keys ? keys[0].k : NULL, actions, emb, chance_logits, after_value, after_emb,
                          err, sizeof err) != 0)
    return plugin_failed(p, "decision", err, st);
  return 0;
}

static int pi_chance(void *self, int32_t n, const mctx_key *keys, const int32_t *outcomes, const void *emb,
                     float *logits, float *value, float *reward, float *discount, void *state_emb,
                     mctx_status *st) {
  plug_inst *p = self;
  char err[256] = "";
  if (p->lib->t->chance(p->inst, n, keys ? keys[0].k : NULL, outcomes, emb, logits, value, reward, discount,
                        state_emb, err, sizeof err) != 0)
    return plugin_failed(p, "chance", err, st);
  return 0;
}

/* mctx_key is two uint32 (prng.h): an array of keys is the [n][2] the ABI
 * promises. */
_Static_assert(sizeof(mctx_key) == 2 * sizeof(uint32_t), "mctx_key must be uint32[2]");

/* ==== Libraries ==== */

static int valid_name(const char *s) {
  if (!s || !s[0] || strlen(s) > 63) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

static int check_table(const mctx_plugin *t, const char *path, const char *field, mctx_status *st) {
  if (t->abi_version != MCTX_PLUGIN_ABI_VERSION)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, field,
                           "plugin %s was built for plugin ABI version %u; this host speaks version %u (rebuild it "
                           "against this mctx/plugin.h)",
                           path, (unsigned)t->abi_version, (unsigned)MCTX_PLUGIN_ABI_VERSION);
  if (t->struct_size < sizeof(mctx_plugin))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, field, "plugin %s: its table has %u bytes, version %u needs %zu",
                           path, (unsigned)t->struct_size, (unsigned)MCTX_PLUGIN_ABI_VERSION, sizeof(mctx_plugin));
  if (!valid_name(t->name))
    return mctx_status_set(st, MCTX_EINVALID, field, "plugin %s: its name must be 1-63 characters of [a-z0-9_]", path);
  if (!t->create || !t->destroy)
    return mctx_status_set(st, MCTX_EINVALID, field, "plugin %s: create and destroy are required", path);
  if (!t->step && !(t->decision && t->chance))
    return mctx_status_set(st, MCTX_EINVALID, field, "plugin %s: it needs step, or decision and chance", path);
  if ((t->decision != NULL) != (t->chance != NULL))
    return mctx_status_set(st, MCTX_EINVALID, field, "plugin %s: decision and chance come together", path);
  return 0;
}

int mctx_plugin_lib_open(const char *path, const char *field, mctx_plugin_lib **out, mctx_status *st) {
  *out = NULL;
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
    return mctx_status_set(st, MCTX_EIO, field, "plugin %s: no such file", path);
  pthread_mutex_lock(&libs_lock);
  for (mctx_plugin_lib *l = libs; l; l = l->next)
    if (l->dev == sb.st_dev && l->ino == sb.st_ino) {
      atomic_fetch_add(&l->refs, 1);
      pthread_mutex_unlock(&libs_lock);
      *out = l;
      return 0;
    }
  pthread_mutex_unlock(&libs_lock);

  mctx_plugin_lib *lib = calloc(1, sizeof *lib);
  if (!lib) return mctx_status_set(st, MCTX_ENOMEM, field, "out of memory");
  atomic_init(&lib->refs, 1);
  snprintf(lib->path, sizeof lib->path, "%s", path);
  lib->dev = sb.st_dev;
  lib->ino = sb.st_ino;
  dlerror();
  lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char *e = dlerror();
    int rc = mctx_status_set(st, MCTX_EIO, field, "cannot load plugin %s: %s", path, e ? e : "dlopen failed");
    free(lib);
    return rc;
  }
  mctx_plugin_entry_fn entry;
  void *sym = dlsym(lib->handle, MCTX_PLUGIN_ENTRY_SYMBOL);
  memcpy(&entry, &sym, sizeof entry);
  if (!sym) {
    dlclose(lib->handle);
    free(lib);
    return mctx_status_set(st, MCTX_EINVALID, field, "%s is not an mctx plugin: it exports no %s", path,
                           MCTX_PLUGIN_ENTRY_SYMBOL);
  }
  lib->host.struct_size = sizeof lib->host;
  lib->host.abi_version = MCTX_PLUGIN_ABI_VERSION;
  lib->host.host_version = "mctx 0.1.0";
  lib->host.plugin_path = lib->path;
  lib->host.log = host_log;
  lib->host.host_ctx = lib;
  lib->t = entry(&lib->host);
  int rc = 0;
  if (!lib->t)
    rc = mctx_status_set(st, MCTX_EUNSUPPORTED, field, "plugin %s refused to load (its entry point returned NULL)", path);
  else
    rc = check_table(lib->t, path, field, st);
  if (rc != 0) {
    dlclose(lib->handle);
    free(lib);
    return rc;
  }
  snprintf(lib->name, sizeof lib->name, "%s", lib->t->name);
  lib->vt.abi_version = MCTX_MODEL_ABI_VERSION;
  lib->vt.name = lib->name;
  lib->vt.destroy = pi_destroy;
  lib->vt.root = lib->t->root ? pi_root : NULL;
  lib->vt.step = lib->t->step ? pi_step : NULL;
  lib->vt.decision = lib->t->decision ? pi_decision : NULL;
  lib->vt.chance = lib->t->chance ? pi_chance : NULL;

  /* Another thread may have loaded the same file meanwhile: keep one. */
  pthread_mutex_lock(&libs_lock);
  for (mctx_plugin_lib *l = libs; l; l = l->next)
    if (l->dev == lib->dev && l->ino == lib->ino) {
      atomic_fetch_add(&l->refs, 1);
      pthread_mutex_unlock(&libs_lock);
      dlclose(lib->handle); /* the same handle: only its count drops */
      free(lib);
      *out = l;
      return 0;
    }
  lib->next = libs;
  libs = lib;
  pthread_mutex_unlock(&libs_lock);
  *out = lib;
  return 0;
}

/* ==== JSON text for the plugin ==== */

static void write_json(mctx_jw *w, const mctx_json *v) {
  switch (v->type) {
    case MCTX_JSON_NULL: mctx_jw_null(w); break;
    case MCTX_JSON_BOOL: mctx_jw_bool(w, v->boolean); break;
    case MCTX_JSON_NUMBER:
      if (v->is_int) mctx_jw_i64(w, v->i);
      else mctx_jw_f64(w, v->u.num);
      break;
    case MCTX_JSON_STRING: mctx_jw_strn(w, v->u.str, v->len); break;
    case MCTX_JSON_ARRAY:
      mctx_jw_arr(w);
      for (uint32_t i = 0; i < v->len; i++) write_json(w, &v->u.items[i]);
      mctx_jw_end(w);
      break;
    default:
      mctx_jw_obj(w);
      for (uint32_t i = 0; i < v->len; i++) {
        mctx_jw_key(w, v->u.members[i].key);
        write_json(w, &v->u.members[i].value);
      }
      mctx_jw_end(w);
  }
}

char *mctx__json_text(const mctx_json *v) {
  mctx_buf b;
  mctx_buf_init(&b, (size_t)64 << 20);
  if (!v) {
    mctx_buf_puts(&b, "null");
  } else {
    mctx_jw w;
    mctx_jw_init(&w, &b);
    write_json(&w, v);
  }
  if (b.failed) {
    mctx_buf_free(&b);
    return NULL;
  }
  return mctx_buf_steal(&b, NULL);
}

int mctx_plugin_model_create(mctx_plugin_lib *lib, const char *model_name, const char *model_dir,
                             const char *config_json, const mctx_json *params, const mctx_model_ctx *ctx,
                             mctx_model *m, mctx_status *st) {
  char *params_json = mctx__json_text(params);
  plug_inst *p = calloc(1, sizeof *p);
  if (!params_json || !p) {
    free(params_json);
    free(p);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  p->lib = mctx_plugin_lib_ref(lib);
  mctx_plugin_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.struct_size = sizeof cfg;
  cfg.model_name = model_name ? model_name : lib->name;
  cfg.model_dir = model_dir;
  cfg.config_json = config_json ? config_json : "{}";
  cfg.params_json = params_json;
  cfg.num_actions = ctx->num_actions;
  cfg.batch_size = ctx->batch_size;
  cfg.prng_mode = (int32_t)ctx->prng;
  mctx_plugin_model_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  char err[256] = "";
  int rc = lib->t->create(&cfg, &p->inst, &info, err, sizeof err);
  free(params_json);
  if (rc != 0) {
    err[255] = '\0';
    p->inst = NULL;
    pi_destroy(p);
    return mctx_status_set(st, MCTX_EINVALID, "model.params", "plugin '%s': %s", lib->name, err[0] ? err : "create failed");
  }
  const char *bad = NULL;
  if (info.num_actions < 0 || info.num_actions > 1 << 20) bad = "num_actions";
  else if (info.num_chance_outcomes < 0 || info.num_chance_outcomes > 1 << 20) bad = "num_chance_outcomes";
  else if (info.num_chance_outcomes > 0 && !lib->t->decision) bad = "num_chance_outcomes (without decision/chance)";
  else if (info.num_chance_outcomes == 0 && !lib->t->step) bad = "num_chance_outcomes (0, without step)";
  else if (info.embedding_bytes < 0 || info.embedding_bytes > 1 << 20) bad = "embedding_bytes";
  else if (info.embedding_kind < 0 || info.embedding_kind > 2) bad = "embedding_kind";
  else if (info.embedding_kind != MCTX_PLUGIN_EMB_BYTES && info.embedding_count * 4 != info.embedding_bytes)
    bad = "embedding_count (count x 4 must equal embedding_bytes)";
  if (bad) {
    pi_destroy(p);
    return mctx_status_set(st, MCTX_EMODEL, "model", "plugin '%s' declared an invalid %s", lib->name, bad);
  }
  m->vt = &lib->vt;
  m->self = p;
  m->device = NULL;
  m->info.num_actions = info.num_actions;
  m->info.num_chance_outcomes = info.num_chance_outcomes;
  m->info.embedding_bytes = info.embedding_bytes;
  m->info.embedding_kind = info.embedding_kind;
  m->info.embedding_count = info.embedding_count;
  m->info.engines = MCTX_ENGINE_CPU;
  m->info.precision = "fp32";
  m->info.preferred_batch = 0;
  m->info.batch_dependent = 1; /* its code may compute across the batch */
  return 0;
}

/* ==== Registered plugins (by flag, for the life of the process) ==== */

#define MAX_REGISTERED 16
static mctx_plugin_lib *registered[MAX_REGISTERED];
static mctx_model_factory reg_factories[MAX_REGISTERED];
static char reg_desc[MAX_REGISTERED][800];
static int nregistered;

#define TRAMPOLINE(i)                                                                                   \
  static int reg_create_##i(const mctx_json *params, const mctx_model_ctx *ctx, mctx_model *m,           \
                            mctx_status *st) {                                                          \
    return mctx_plugin_model_create(registered[i], NULL, NULL, NULL, params, ctx, m, st);               \
  }
TRAMPOLINE(0) TRAMPOLINE(1) TRAMPOLINE(2) TRAMPOLINE(3) TRAMPOLINE(4) TRAMPOLINE(5) TRAMPOLINE(6) TRAMPOLINE(7)
TRAMPOLINE(8) TRAMPOLINE(9) TRAMPOLINE(10) TRAMPOLINE(11) TRAMPOLINE(12) TRAMPOLINE(13) TRAMPOLINE(14)
TRAMPOLINE(15)

static int (*const reg_create[MAX_REGISTERED])(const mctx_json *, const mctx_model_ctx *, mctx_model *,
                                               mctx_status *) = {
  reg_create_0, reg_create_1, reg_create_2, reg_create_3, reg_create_4, reg_create_5, reg_create_6, reg_create_7,
  reg_create_8, reg_create_9, reg_create_10, reg_create_11, reg_create_12, reg_create_13, reg_create_14,
  reg_create_15};

int mctx_plugin_register(const char *path, mctx_status *st) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  mctx_plugin_lib *lib = NULL;
  int rc = mctx_plugin_lib_open(path, "plugin", &lib, st);
  if (rc != 0) return rc;
  pthread_mutex_lock(&lock);
  if (nregistered == MAX_REGISTERED) {
    pthread_mutex_unlock(&lock);
    mctx_plugin_lib_unref(lib);
    return mctx_status_set(st, MCTX_ELIMIT, "plugin", "at most %d plugins can be registered", MAX_REGISTERED);
  }
  int i = nregistered++;
  registered[i] = lib;
  snprintf(reg_desc[i], sizeof reg_desc[i], "plugin %s: %.250s", lib->path,
           lib->t->description ? lib->t->description : "");
  reg_factories[i].name = lib->name;
  reg_factories[i].description = reg_desc[i];
  reg_factories[i].create = reg_create[i];
  pthread_mutex_unlock(&lock);
  return mctx_model_register(&reg_factories[i]);
}
