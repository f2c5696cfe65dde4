/* tests/models/test-plugin.c: plugins (src/models/plugin.c) with the example
 * plugin of examples/plugin (Nim): load, call (a search that finds the
 * winning move), failures and NaN failing only the request at hand, unload
 * when the last user lets go, and the files that are not plugins. */
#include "test.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "mctx/engine.h"
#include "mctx/registry.h"
#include "models/plugin.h"

#ifndef MCTX_NIM_PLUGIN
#define MCTX_NIM_PLUGIN ""
#define MCTX_NIM_BADABI ""
#endif

static char logged[4096];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void logger(void *ctx, int level, const char *plugin, const char *message) {
  (void)ctx;
  pthread_mutex_lock(&log_lock);
  size_t n = strlen(logged);
  snprintf(logged + n, sizeof logged - n, "[%d %s] %s\n", level, plugin, message);
  pthread_mutex_unlock(&log_lock);
}

static mctx_model *make(mctx_plugin_lib *lib, const char *config, const char *params, int32_t A, int32_t B,
                        mctx_status *st) {
  mctx_json_doc *doc = params ? mctx_json_parse(params, strlen(params), NULL, st) : NULL;
  if (params && !doc) return NULL;
  mctx_model_ctx ctx = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = calloc(1, sizeof *m);
  if (mctx_plugin_model_create(lib, "nim-test", "/nonexistent", config, doc ? mctx_json_root(doc) : NULL, &ctx, m,
                               st) != 0) {
    free(m);
    m = NULL;
  }
  mctx_json_doc_free(doc);
  return m;
}

static int search(const mctx_model *m, int32_t B, int32_t A, int sims, int32_t *actions, mctx_status *st) {
  mctx_engine *e = mctx_engine_cpu_new(2, st);
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = sims;
  p.temperature = 0.0f;
  mctx_search_params_set_dirichlet_fraction(&p, 0.0);
  mctx_root root = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {actions, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  int rc = mctx_engine_search(e, &p, m, &root, 0, NULL, &res, st);
  mctx_engine_free(e);
  return rc;
}

TEST(load_call_and_unload) {
  if (!MCTX_NIM_PLUGIN[0]) SKIP("the example plugin was not built");
  mctx_plugin_set_logger(logger, NULL);
  mctx_status st;
  mctx_plugin_lib *lib = NULL, *again = NULL;
  ASSERT_EQ(mctx_plugin_lib_open(MCTX_NIM_PLUGIN, "models.nim.path", &lib, &st), 0);
  ASSERT_STREQ(mctx_plugin_lib_table(lib)->name, "nim");
  ASSERT_EQ(mctx_plugin_lib_table(lib)->abi_version, MCTX_PLUGIN_ABI_VERSION);
  ASSERT_CONTAINS(logged, "[0 libmctx_nim.so] nim 1.0.0 loaded");
  ASSERT_EQ(mctx_plugin_loaded_count(), 1);
  /* the same file again: the same library */
  ASSERT_EQ(mctx_plugin_lib_open(MCTX_NIM_PLUGIN, "models.nim.path", &again, &st), 0);
  ASSERT(again == lib);
  ASSERT_EQ(mctx_plugin_loaded_count(), 1);
  mctx_plugin_lib_unref(again);

  /* call: the roots and a step by hand */
  mctx_model *m = make(lib, "{\"stones\": 7}", "{\"stones\": 5}", 3, 4, &st);
  ASSERT(m);
  ASSERT_STREQ(m->vt->name, "nim");
  ASSERT_EQ(m->info.embedding_bytes, 8);
  float logits[12], value[4];
  uint32_t emb[8];
  ASSERT_EQ(m->vt->root(m->self, 4, 0, NULL, logits, value, emb, &st), 0);
  ASSERT_EQ(emb[0], 5); /* the request's parameter wins over the config */
  uint32_t two[2] = {2, 0};
  float r, d, lg[3], v;
  uint32_t next[2];
  int32_t take3 = 2;
  mctx_step_out out = {&r, &d, lg, &v, next};
  ASSERT_EQ(m->vt->step(m->self, 1, NULL, &take3, two, &out, &st), 0);
  ASSERT_NEAR(r, -1.0, 0); /* taking 3 of 2 loses */
  ASSERT_NEAR(d, 0.0, 0);
  /* a search (CPU engine, 2 threads) takes 1 from 5, leaving a lost 4 */
  int32_t actions[4];
  ASSERT_EQ(search(m, 4, 3, 200, actions, &st), 0);
  for (int i = 0; i < 4; i++) ASSERT_EQ(actions[i], 0);

  /* the library stays while a model uses it */
  mctx_plugin_lib_unref(lib);
  ASSERT_EQ(mctx_plugin_loaded_count(), 1);
  void *h = dlopen(MCTX_NIM_PLUGIN, RTLD_NOW | RTLD_NOLOAD);
  ASSERT(h != NULL);
  dlclose(h);
  mctx_model_free(m);
  ASSERT_EQ(mctx_plugin_loaded_count(), 0);
  h = dlopen(MCTX_NIM_PLUGIN, RTLD_NOW | RTLD_NOLOAD);
  ASSERT(h == NULL); /* unloaded */
  ASSERT(!strstr(logged, "unloaded with live instances"));
  mctx_plugin_set_logger(NULL, NULL);
}

TEST(failures_fail_the_request_only) {
  if (!MCTX_NIM_PLUGIN[0]) SKIP("the example plugin was not built");
  mctx_status st;
  mctx_plugin_lib *lib = NULL;
  ASSERT_EQ(mctx_plugin_lib_open(MCTX_NIM_PLUGIN, "plugin", &lib, &st), 0);
  /* create refuses bad parameters with the plugin's message */
  ASSERT(!make(lib, NULL, "{\"fail\": \"create\"}", 3, 1, &st));
  ASSERT_EQ(st.code, MCTX_EINVALID);
  ASSERT_STREQ(st.field, "model.params");
  ASSERT_CONTAINS(st.reason, "plugin 'nim': injected failure in create");
  ASSERT(!make(lib, NULL, "{\"value\": \"best\"}", 3, 1, &st));
  ASSERT_CONTAINS(st.reason, "\"value\" must be \"zero\" or \"exact\", not \"best\"");
  /* a failing step, a failing root, NaN outputs: MCTX_EMODEL with the reason */
  static const struct { const char *params; const char *want; } cases[] = {
    {"{\"fail\": \"step\"}", "plugin 'nim' failed in step: injected failure in step"},
    {"{\"fail\": \"root\"}", "plugin 'nim' failed in root: injected failure in root"},
    {"{\"nan\": \"step\"}", "model 'nim' returned a non-finite value"},
    {"{\"nan\": \"root\"}", "model 'nim' returned a non-finite value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mctx_model *m = make(lib, NULL, cases[i].params, 3, 2, &st);
    ASSERT(m);
    int32_t actions[2];
    mctx_status_clear(&st);
    ASSERT_EQ(search(m, 2, 3, 16, actions, &st), MCTX_EMODEL);
    ASSERT_CONTAINS(st.reason, cases[i].want);
    mctx_model_free(m);
    /* and the next request is served */
    m = make(lib, NULL, "{\"stones\": 6}", 3, 2, &st);
    ASSERT(m);
    ASSERT_EQ(search(m, 2, 3, 100, actions, &st), 0);
    ASSERT_EQ(actions[0], 1); /* take 2 from 6, leaving 4 */
    mctx_model_free(m);
  }
  mctx_plugin_lib_unref(lib);
  ASSERT_EQ(mctx_plugin_loaded_count(), 0);
}

TEST(files_that_are_not_plugins) {
  mctx_status st;
  mctx_plugin_lib *lib = NULL;
  ASSERT_EQ(mctx_plugin_lib_open("/nonexistent/libx.so", "models.x.path", &lib, &st), MCTX_EIO);
  ASSERT_STREQ(st.field, "models.x.path");
  ASSERT_CONTAINS(st.reason, "no such file");
  char path[] = "/tmp/mctx-notaplugin-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  ASSERT_EQ(write(fd, "not an ELF file", 15), 15);
  close(fd);
  ASSERT_EQ(mctx_plugin_lib_open(path, "plugin", &lib, &st), MCTX_EIO);
  ASSERT_CONTAINS(st.reason, "cannot load plugin");
  remove(path);
  /* a real shared object without the entry point: the C library */
  Dl_info info;
  void *fn = (void *)&strlen;
  ASSERT(dladdr(fn, &info) && info.dli_fname);
  ASSERT_EQ(mctx_plugin_lib_open(info.dli_fname, "plugin", &lib, &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "is not an mctx plugin: it exports no mctx_plugin_entry");
  if (!MCTX_NIM_BADABI[0]) SKIP("the example plugin was not built");
  ASSERT_EQ(mctx_plugin_lib_open(MCTX_NIM_BADABI, "plugin", &lib, &st), MCTX_EUNSUPPORTED);
  ASSERT_CONTAINS(st.reason, "was built for plugin ABI version 99; this host speaks version 1");
  ASSERT_EQ(mctx_plugin_loaded_count(), 0);
}

TEST(registered_by_name) {
  if (!MCTX_NIM_PLUGIN[0]) SKIP("the example plugin was not built");
  mctx_status st;
  ASSERT_EQ(mctx_plugin_register(MCTX_NIM_PLUGIN, &st), 0);
  const char *params = "{\"stones\": 9, \"value\": \"exact\"}";
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, &st);
  mctx_model_ctx ctx = {3, 1, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  ASSERT_EQ(mctx_model_create("nim", mctx_json_root(doc), &ctx, &m, &st), 0);
  mctx_json_doc_free(doc);
  float logits[3], value;
  uint32_t emb[2];
  ASSERT_EQ(m->vt->root(m->self, 1, 0, NULL, logits, &value, emb, &st), 0);
  ASSERT_NEAR(value, 1.0, 0); /* 9 % 4 != 0: a win for the mover */
  mctx_model_free(m);
}
