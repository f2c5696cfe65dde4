/* tests/models/test-repository.c: the model repository
 * (src/models/repository.c): a directory with a game, an mlp, a plugin and
 * a builtin model; the listing; parameters merged under a request's; broken
 * folders reported by name with the old set kept; a request in flight keeping
 * its model across a reload; and reloads under load from several threads
 * with no failed request. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mctx/engine.h"
#include "models/games.h"
#include "models/mlp.h"
#include "models/plugin.h"
#include "models/repository.h"
#include "models/safetensors.h"

#ifndef MCTX_NIM_PLUGIN
#define MCTX_NIM_PLUGIN ""
#endif

static char root[128];

static void put(const char *rel, const char *text) {
  char p[512], tmpp[520];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  snprintf(tmpp, sizeof tmpp, "%s.tmp", p);
  FILE *f = fopen(tmpp, "wb");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
  if (rename(tmpp, p) != 0) abort(); /* atomically, as the docs ask */
}

static void mkdir_in(const char *rel) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  mkdir(p, 0755);
}

static void rm_rf(const char *rel) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", root, rel);
  if (system(cmd) != 0) abort();
}

static int copy_file(const char *from, const char *rel) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", from, root, rel);
  return system(cmd);
}

static void weights(const char *rel, int32_t S, int32_t A, int32_t H, int64_t seed) {
  mctx_mlp_weights *w = NULL;
  mctx_status st;
  if (mctx_mlp_weights_random(S, A, H, seed, MCTX_PRNG_JAX, &w, &st) != 0) abort();
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  if (mctx_mlp_weights_save(w, p, MCTX_ST_F32, NULL, &st) != 0) abort();
  mctx_mlp_weights_unref(w);
}

static void setup(void) {
  if (root[0]) rm_rf("");
  snprintf(root, sizeof root, "/tmp/mctx-repo-XXXXXX");
  if (!mkdtemp(root)) abort();
  mkdir_in("c4");
  put("c4/model.json", "{\"kind\": \"game\", \"game\": \"connect4\", \"description\": \"connect four\","
                       " \"params\": {\"rollouts\": 2, \"position\": \"4\"}}");
  mkdir_in("net");
  weights("net/w1.safetensors", 8, 4, 16, 1);
  put("net/model.json", "{\"kind\": \"mlp\", \"weights\": \"w1.safetensors\", \"precision\": \"bf16\","
                        " \"engines\": [\"cpu\", \"cuda\"], \"num_actions\": 4, \"params\": {\"discount\": 0.99}}");
  mkdir_in("syn");
  put("syn/model.json", "{\"kind\": \"builtin\", \"model\": \"synthetic\"}");
  mkdir_in("_scratch"); /* ignored: starts with '_' */
  if (MCTX_NIM_PLUGIN[0]) {
    mkdir_in("nim");
    if (copy_file(MCTX_NIM_PLUGIN, "nim/libnim.so") != 0) abort();
    put("nim/model.json", "{\"kind\": \"plugin\", \"path\": \"libnim.so\", \"config\": {\"stones\": 5}}");
  }
}

static mctx_model *make(mctx_model_repo *r, const char *name, const char *params, int32_t A, int32_t B,
                        mctx_status *st) {
  mctx_json_doc *doc = params ? mctx_json_parse(params, strlen(params), NULL, st) : NULL;
  mctx_model_ctx ctx = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  mctx_model_repo_create(r, name, doc ? mctx_json_root(doc) : NULL, &ctx, &m, st);
  mctx_json_doc_free(doc);
  return m;
}

static int search(mctx_engine *e, const mctx_model *m, int32_t B, int32_t A, int32_t *actions, mctx_status *st) {
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_GUMBEL_MUZERO);
  p.num_simulations = 8;
  mctx_root root_ = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {actions, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  return mctx_engine_search(e, &p, m, &root_, 0, NULL, &res, st);
}

TEST(load_list_and_use) {
  setup();
  mctx_status st;
  mctx_model_repo *r = NULL;
  if (mctx_model_repo_open(root, &r, &st) != 0) FAIL_AT("%s: %s", st.field, st.reason);
  ASSERT_EQ(mctx_model_repo_count(r), MCTX_NIM_PLUGIN[0] ? 4 : 3);
  ASSERT_EQ(mctx_model_repo_generation(r), 1);
  ASSERT(mctx_model_repo_has(r, "net"));
  ASSERT(!mctx_model_repo_has(r, "_scratch"));
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  ASSERT_EQ(mctx_model_repo_list_json(r, 1, &b), 0);
  const char *j = mctx_buf_cstr(&b);
  ASSERT_CONTAINS(j, "{\"name\":\"c4\",\"kind\":\"game\",\"source\":\"repository\",\"description\":\"connect four\","
                     "\"num_actions\":7,\"embedding_size\":6,\"embedding_type\":\"uint32\"");
  /* the games' rules run on the GPU too (MCTX_CUDA_MODEL_GAME) */
  ASSERT(strstr(j, "\"name\":\"c4\"") && strstr(strstr(j, "\"name\":\"c4\""), "\"engines\":[\"cpu\",\"cuda\"]"));
  ASSERT_CONTAINS(j, "\"name\":\"net\",\"kind\":\"mlp\"");
  ASSERT_CONTAINS(j, "\"precision\":\"bf16\",\"engines\":[\"cpu\",\"cuda\"]"); /* the mlp runs on both engines */
  ASSERT_CONTAINS(j, "\"state_size\":8");
  ASSERT_CONTAINS(j, "{\"name\":\"d1\",\"in\":12,\"out\":16,\"bias\":false}");
  ASSERT_CONTAINS(j, "\"name\":\"synthetic\",\"kind\":\"builtin\",\"source\":\"builtin\"");
  if (MCTX_NIM_PLUGIN[0]) ASSERT_CONTAINS(j, "\"plugin\":\"nim\",\"version\":\"1.0.0\",\"abi_version\":1");
  /* the JSON parses */
  mctx_json_doc *doc = mctx_json_parse(j, b.len, NULL, &st);
  ASSERT(doc);
  mctx_json_doc_free(doc);
  mctx_buf_free(&b);

  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  int32_t actions[2];
  /* game: model.json's params under the request's */
  mctx_model *m = make(r, "c4", "{\"position\": \"44\"}", 7, 2, &st);
  ASSERT(m);
  uint32_t w[6];
  ASSERT_EQ(mctx_game_model_position(m, 0, w, &st), 0);
  ASSERT_EQ(w[4], 2); /* the request's position, two plies */
  ASSERT_EQ(search(e, m, 2, 7, actions, &st), 0);
  mctx_model_free(m);
  m = make(r, "c4", NULL, 7, 1, &st);
  ASSERT_EQ(mctx_game_model_position(m, 0, w, &st), 0);
  ASSERT_EQ(w[4], 1); /* model.json's */
  mctx_model_free(m);
  ASSERT(!make(r, "c4", "{\"position\": \"9\"}", 7, 1, &st));
  ASSERT_STREQ(st.field, "model.params.position");
  /* mlp: precision from model.json, discount from its params, a request's seed */
  m = make(r, "net", "{\"seed\": 3}", 4, 2, &st);
  ASSERT(m);
  ASSERT_STREQ(m->info.precision, "bf16");
  ASSERT_EQ(search(e, m, 2, 4, actions, &st), 0);
  mctx_model_free(m);
  ASSERT(!make(r, "net", "{\"weights\": \"/etc/passwd\"}", 4, 1, &st));
  ASSERT_STREQ(st.field, "model.params.weights");
  ASSERT(!make(r, "net", "[1]", 4, 1, &st));
  ASSERT_STREQ(st.field, "model.params");
  /* builtin, and the registry's models by their own names */
  m = make(r, "syn", NULL, 5, 2, &st);
  ASSERT(m);
  ASSERT_EQ(search(e, m, 2, 5, actions, &st), 0);
  mctx_model_free(m);
  m = make(r, "mctx_test_env", NULL, 5, 1, &st);
  ASSERT(m);
  mctx_model_free(m);
  ASSERT(!make(r, "nope", NULL, 5, 1, &st));
  ASSERT_EQ(st.code, MCTX_ENOTFOUND);
  if (MCTX_NIM_PLUGIN[0]) {
    m = make(r, "nim", NULL, 3, 2, &st);
    ASSERT(m);
    ASSERT_EQ(search(e, m, 2, 3, actions, &st), 0);
    mctx_model_free(m);
  }
  mctx_engine_free(e);
  mctx_model_repo_free(r);
  ASSERT_EQ(mctx_plugin_loaded_count(), 0);
}

TEST(broken_folders_are_named_and_a_failed_reload_keeps_the_old_set) {
  setup();
  mctx_status st;
  mctx_model_repo *r = NULL;
  ASSERT_EQ(mctx_model_repo_open(root, &r, &st), 0);
  static const struct { const char *json; const char *want; } cases[] = {
    {NULL, "bad/model.json: missing (every model folder needs a model.json)"},
    {"{\"kind\": ", "bad/model.json: not valid JSON"},
    {"{\"game\": \"connect4\"}", "\"kind\" is required: builtin, game, mlp or plugin"},
    {"{\"kind\": \"onnx\"}", "\"kind\" must be builtin, game, mlp or plugin, not 'onnx'"},
    {"{\"kind\": \"game\", \"game\": \"chess\"}", "\"game\" must be tictactoe or connect4, not 'chess'"},
    {"{\"kind\": \"game\", \"game\": \"connect4\", \"weights\": \"x\"}", "unknown field \"weights\" for a model of kind game"},
    {"{\"kind\": \"game\", \"game\": \"connect4\", \"num_actions\": 9}", "\"num_actions\" is 9 but the model has 7 actions"},
    {"{\"kind\": \"game\", \"game\": \"connect4\", \"params\": {\"position\": \"1212121\"}}",
     "the model cannot be made: model.params.position: the game is already over"},
    {"{\"kind\": \"game\", \"game\": \"connect4\", \"engines\": [\"tpu\"]}", "\"engines\"[0] must be \"cpu\" or \"cuda\""},
    {"{\"kind\": \"mlp\", \"weights\": \"missing.safetensors\"}", "cannot open"},
    {"{\"kind\": \"mlp\", \"weights\": \"../net/w1.safetensors\"}", "\"weights\" must name a file in the model's folder"},
    {"{\"kind\": \"plugin\", \"path\": \"/usr/lib/libc.so\"}", "\"path\" must name a file in the model's folder"},
    {"{\"kind\": \"plugin\", \"path\": \"model.json\"}", "cannot load plugin"},
    {"{\"kind\": \"builtin\", \"model\": \"nosuch\"}", "unknown model 'nosuch'"},
  };
  mkdir_in("bad");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].json) put("bad/model.json", cases[i].json);
    mctx_status_clear(&st);
    if (mctx_model_repo_reload(r, &st) == 0) FAIL_AT("case %zu loaded", i);
    ASSERT_CONTAINS(st.field, "model_dir.bad");
    ASSERT_CONTAINS(st.reason, cases[i].want);
    /* the old set still serves */
    ASSERT_EQ(mctx_model_repo_generation(r), 1);
    mctx_model *m = make(r, "net", NULL, 4, 1, &st);
    ASSERT(m);
    mctx_model_free(m);
  }
  /* the same folder is reported when the repository is first opened */
  mctx_model_repo *r2 = NULL;
  ASSERT_NE(mctx_model_repo_open(root, &r2, &st), 0);
  ASSERT_CONTAINS(st.reason, "unknown model 'nosuch'");
  rm_rf("bad");
  ASSERT_EQ(mctx_model_repo_reload(r, &st), 0);
  ASSERT_EQ(mctx_model_repo_generation(r), 2);
  ASSERT_EQ(mctx_model_repo_open("/nonexistent/models", &r2, &st), MCTX_EIO);
  ASSERT_CONTAINS(st.reason, "cannot open the model repository /nonexistent/models");
  mctx_model_repo_free(r);
}

TEST(a_request_in_flight_keeps_its_model) {
  setup();
  mctx_status st;
  mctx_model_repo *r = NULL;
  ASSERT_EQ(mctx_model_repo_open(root, &r, &st), 0);
  mctx_model *old_net = make(r, "net", NULL, 4, 2, &st);
  mctx_model *old_nim = MCTX_NIM_PLUGIN[0] ? make(r, "nim", NULL, 3, 2, &st) : NULL;
  const mctx_mlp_weights *held = mctx_mlp_of_model(old_net);
  /* new weights of another size under a new name; the plugin goes away */
  weights("net/w2.safetensors", 16, 4, 8, 2);
  put("net/model.json", "{\"kind\": \"mlp\", \"weights\": \"w2.safetensors\"}");
  rm_rf("nim");
  ASSERT_EQ(mctx_model_repo_reload(r, &st), 0);
  ASSERT(!mctx_model_repo_has(r, "nim"));
  mctx_model *new_net = make(r, "net", NULL, 4, 2, &st);
  ASSERT(new_net);
  ASSERT_EQ(new_net->info.embedding_bytes, 64);
  ASSERT_EQ(old_net->info.embedding_bytes, 32);
  ASSERT(mctx_mlp_of_model(old_net) == held);
  ASSERT_EQ(held->state_dim, 8);
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  int32_t actions[2];
  ASSERT_EQ(search(e, old_net, 2, 4, actions, &st), 0);
  ASSERT_EQ(search(e, new_net, 2, 4, actions, &st), 0);
  if (old_nim) {
    ASSERT_EQ(mctx_plugin_loaded_count(), 1); /* still loaded for the request in flight */
    ASSERT_EQ(search(e, old_nim, 2, 3, actions, &st), 0);
    mctx_model_free(old_nim);
    ASSERT_EQ(mctx_plugin_loaded_count(), 0); /* unloaded with its last user */
  }
  mctx_engine_free(e);
  mctx_model_free(old_net);
  mctx_model_free(new_net);
  mctx_model_repo_free(r);
}

/* ==== Reload under load ==== */

typedef struct load_ctx {
  mctx_model_repo *r;
  atomic_int stop;
  atomic_int requests;
  atomic_int failures;
  char first_error[640];
  pthread_mutex_t lock;
} load_ctx;

static void *client(void *arg) {
  load_ctx *c = arg;
  mctx_status st;
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  static const char *const names[] = {"net", "c4", "syn", "nim"};
  int k = 0;
  while (!atomic_load(&c->stop)) {
    const char *name = names[k++ % (MCTX_NIM_PLUGIN[0] ? 4 : 3)];
    int32_t A = strcmp(name, "c4") == 0 ? 7 : strcmp(name, "nim") == 0 ? 3 : 4;
    int32_t actions[2];
    mctx_model *m = make(c->r, name, NULL, A, 2, &st);
    int rc = m ? search(e, m, 2, A, actions, &st) : st.code;
    mctx_model_free(m);
    atomic_fetch_add(&c->requests, 1);
    if (rc != 0) {
      pthread_mutex_lock(&c->lock);
      if (atomic_fetch_add(&c->failures, 1) == 0)
        snprintf(c->first_error, sizeof c->first_error, "%s: %s: %s", name, st.field, st.reason);
      pthread_mutex_unlock(&c->lock);
    }
  }
  mctx_engine_free(e);
  return NULL;
}

TEST(reload_under_load_fails_no_request) {
  setup();
  mctx_status st;
  load_ctx c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.lock, NULL);
  ASSERT_EQ(mctx_model_repo_open(root, &c.r, &st), 0);
  weights("net/w2.safetensors", 16, 4, 8, 2);
  enum { THREADS = 4, RELOADS = 30 };
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, client, &c);
  for (int i = 0; i < RELOADS; i++) {
    /* swap the network's weights, change the game's parameters, add and
     * remove a model */
    put("net/model.json", i % 2 ? "{\"kind\": \"mlp\", \"weights\": \"w1.safetensors\"}"
                                : "{\"kind\": \"mlp\", \"weights\": \"w2.safetensors\"}");
    put("c4/model.json", i % 2 ? "{\"kind\": \"game\", \"game\": \"connect4\", \"params\": {\"rollouts\": 1}}"
                               : "{\"kind\": \"game\", \"game\": \"connect4\", \"params\": {\"position\": \"4444\"}}");
    if (i % 3 == 0) {
      mkdir_in("extra");
      put("extra/model.json", "{\"kind\": \"game\", \"game\": \"tictactoe\"}");
    } else {
      rm_rf("extra");
    }
    int before = atomic_load(&c.requests);
    if (mctx_model_repo_reload(c.r, &st) != 0) FAIL_AT("reload %d: %s", i, st.reason);
    ASSERT_EQ(mctx_model_repo_generation(c.r), (uint64_t)i + 2);
    /* let requests run on this generation */
    while (atomic_load(&c.requests) < before + 8) usleep(200);
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  if (atomic_load(&c.failures) != 0)
    FAIL_AT("%d of %d requests failed; the first: %s", atomic_load(&c.failures), atomic_load(&c.requests), c.first_error);
  ASSERT(atomic_load(&c.requests) >= RELOADS * 8);
  /* the last generation is what new requests get: w1 (emb 8) after an odd i */
  mctx_model *m = make(c.r, "net", NULL, 4, 1, &st);
  ASSERT(m);
  ASSERT_EQ(m->info.embedding_bytes, 32);
  mctx_model_free(m);
  mctx_model_repo_free(c.r);
  ASSERT_EQ(mctx_plugin_loaded_count(), 0);
  pthread_mutex_destroy(&c.lock);
  rm_rf("");
}
