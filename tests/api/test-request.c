/* tests/api/test-request.c: requests through the API layer.
 *   - every malformed or out-of-range request of bad-requests.jsonl gets the
 *     error code and the field the file names (data-driven: a new case is a
 *     new line);
 *   - results encode to JSON that reads back, and are deterministic;
 *   - jobs merged into one batched search get exactly their solo results;
 *   - return_tree "nested" reproduces mctx's stored tree (gumbel_muzero_tree)
 *     through the whole request path;
 *   - a repository model's declared precision is the default of a request
 *     that gives none (reported, recorded and set for the GPU's network);
 *   - the game models' illegal root moves are invalid actions: no visits,
 *     never chosen, whether or not the request gives invalid_actions. */
#include "test.h"
#include "api-env.h"

#include <sys/stat.h>

#include "api/api-impl.h"
#include "api/api.h"
#include "mctx/cuda.h"
#include "mctx/json.h"
#include "models/games.h"
#include "models/mlp.h"
#include "models/repository.h"
#include "models/safetensors.h"

#ifndef MCTX_TESTS_DIR
#define MCTX_TESTS_DIR "."
#endif

static mctx_api_env env;

static void setup(void) { mctx_test_api_env(&env, 2); }

TEST(bad_requests) {
  setup();
  size_t len;
  char *text = mctx_test_read_file(MCTX_TESTS_DIR "/api/bad-requests.jsonl", &len);
  ASSERT(text != NULL);
  int cases = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    mctx_status st;
    mctx_json_doc *doc = mctx_json_parse(line, strlen(line), NULL, &st);
    ASSERT(doc != NULL);
    const mctx_json *c = mctx_json_root(doc);
    const char *name = mctx_json_get(c, "name")->u.str;
    const mctx_json *raw = mctx_json_get(c, "raw");
    char *body;
    size_t blen;
    if (raw) {
      body = strdup(raw->u.str);
      blen = raw->len;
    } else {
      /* re-serialize the "request" member as the body */
      const char *p = strstr(line, "\"request\": ");
      ASSERT(p != NULL);
      p += strlen("\"request\": ");
      const char *end = strstr(p, ", \"field\"");
      ASSERT(end != NULL);
      blen = (size_t)(end - p);
      body = strndup(p, blen);
    }
    mctx_job *job = NULL;
    int rc = mctx_job_prepare(&env, body, blen, NULL, NULL, &job, &st);
    const char *want_code = mctx_json_get(c, "code")->u.str;
    const char *want_field = mctx_json_get(c, "field")->u.str;
    if (rc == 0) {
      /* some errors show only when the search runs (none expected here) */
      FAIL_AT("case \"%s\": accepted, expected %s", name, want_code);
    }
    if (strcmp(mctx_err_name(rc), want_code) != 0)
      FAIL_AT("case \"%s\": got %s (%s: %s), expected %s", name, mctx_err_name(rc), st.field, st.reason, want_code);
    if (strcmp(st.field, want_field) != 0)
      FAIL_AT("case \"%s\": field \"%s\", expected \"%s\" (%s)", name, st.field, want_field, st.reason);
    ASSERT(strlen(st.reason) > 5);
    /* the envelope names both */
    mctx_buf out;
    mctx_buf_init(&out, 1 << 16);
    mctx_error_json(&out, mctx_http_status(rc), &st);
    mctx_json_doc *env_doc = mctx_json_parse(out.data, out.len, NULL, &st);
    ASSERT(env_doc != NULL);
    const mctx_json *details = mctx_json_get(mctx_json_root(env_doc), "details");
    ASSERT(details && mctx_json_get(details, "reason")->type == MCTX_JSON_STRING);
    ASSERT_EQ(mctx_json_get(mctx_json_root(env_doc), "status_code")->i, mctx_http_status(rc));
    mctx_json_doc_free(env_doc);
    mctx_buf_free(&out);
    free(body);
    mctx_json_doc_free(doc);
    cases++;
  }
  ASSERT(cases >= 45);
  free(text);
}

static char *run_request(const char *body, int keep_tree, int nested, char **tree_json) {
  mctx_status st;
  mctx_job *job;
  if (mctx_job_prepare(&env, body, strlen(body), "req-test", NULL, &job, &st) != 0) {
    fprintf(stderr, "prepare: %s: %s\n", st.field, st.reason);
    return NULL;
  }
  if (keep_tree) mctx_job_keep_tree(job);
  mctx_job_run(&env, &job, 1);
  mctx_buf out;
  mctx_buf_init(&out, 1 << 26);
  mctx_job_encode(job, &out);
  if (tree_json) {
    mctx_buf tb;
    mctx_buf_init(&tb, 1 << 26);
    mctx_job_tree_json(job, nested, &tb);
    *tree_json = mctx_buf_steal(&tb, NULL);
  }
  mctx_job_free(job);
  return mctx_buf_steal(&out, NULL);
}

/* The result without its timing, for comparisons. */
static void strip_duration(char *s) {
  char *p = strstr(s, "\"duration_ms\":");
  if (!p) return;
  p += strlen("\"duration_ms\":");
  char *end = strchr(p, ',');
  if (!end) return;
  *p = '0';
  memmove(p + 1, end, strlen(end) + 1);
}

TEST(result_is_valid_json_and_deterministic) {
  setup();
  const char *body =
      "{\"search_type\": \"muzero\", \"root_input\": {\"batch_size\": 3, \"num_actions\": 5}, "
      "\"search_params\": {\"num_simulations\": 20, \"seed\": 7}}";
  char *a = run_request(body, 0, 0, NULL), *b = run_request(body, 0, 0, NULL);
  ASSERT(a && b);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(a, strlen(a), NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *r = mctx_json_root(doc);
  ASSERT_EQ(mctx_json_get(r, "action")->len, 3);
  ASSERT_EQ(mctx_json_get(r, "action_weights")->len, 3);
  const mctx_json *ss = mctx_json_get(r, "search_statistics");
  const char *fields[] = {"duration_ms", "num_expanded_nodes", "max_depth_reached", "search_type", "optimized",
                          "precision", "device", "seed", "root_value", "root_visit_counts", "root_qvalues"};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (!mctx_json_get(ss, fields[i])) FAIL_AT("search_statistics.%s missing", fields[i]);
  ASSERT_EQ(mctx_json_get(ss, "num_expanded_nodes")->i, 60);
  ASSERT(mctx_json_get(r, "distributed_stats")->type == MCTX_JSON_NULL);
  strip_duration(a);
  strip_duration(b);
  ASSERT_STREQ(a, b);
  mctx_json_doc_free(doc);
  free(a);
  free(b);
}

/* Merged jobs: three requests of different batch sizes and seeds, same batch
 * key, run as one search: each result equals the job's solo result. */
TEST(merged_jobs_get_their_solo_results) {
  setup();
  const char *bodies[] = {
      "{\"search_type\": \"muzero\", \"model\": {\"name\": \"mctx_test_env\"}, \"root_input\": {\"batch_size\": 2, "
      "\"num_actions\": 6}, \"search_params\": {\"num_simulations\": 24, \"seed\": 1}}",
      "{\"search_type\": \"muzero\", \"model\": {\"name\": \"mctx_test_env\"}, \"root_input\": {\"batch_size\": 3, "
      "\"num_actions\": 6}, \"search_params\": {\"num_simulations\": 24, \"seed\": 2}}",
      "{\"search_type\": \"muzero\", \"model\": {\"name\": \"mctx_test_env\"}, \"root_input\": {\"batch_size\": 1, "
      "\"num_actions\": 6}, \"search_params\": {\"num_simulations\": 24, \"seed\": 3}}",
  };
  mctx_status st;
  mctx_job *jobs[3];
  for (int i = 0; i < 3; i++) ASSERT_EQ(mctx_job_prepare(&env, bodies[i], strlen(bodies[i]), "req-test", NULL, &jobs[i], &st), 0);
  ASSERT(mctx_job_batch_key(jobs[0]) != NULL);
  ASSERT_STREQ(mctx_job_batch_key(jobs[0]), mctx_job_batch_key(jobs[1]));
  ASSERT_STREQ(mctx_job_batch_key(jobs[0]), mctx_job_batch_key(jobs[2]));
  ASSERT_EQ(mctx_job_run(&env, jobs, 3), 0);
  for (int i = 0; i < 3; i++) {
    mctx_buf merged;
    mctx_buf_init(&merged, 1 << 20);
    ASSERT_EQ(mctx_job_status(jobs[i])->code, 0);
    mctx_job_encode(jobs[i], &merged);
    char *solo = run_request(bodies[i], 0, 0, NULL);
    ASSERT(solo != NULL);
    char *m = mctx_buf_steal(&merged, NULL);
    strip_duration(m);
    strip_duration(solo);
    /* identical but for "batched_with" */
    char *bw = strstr(m, "\"batched_with\":");
    ASSERT(bw != NULL);
    ASSERT(bw[strlen("\"batched_with\":")] == '2');
    bw[strlen("\"batched_with\":")] = '0';
    ASSERT_STREQ(m, solo);
    free(m);
    free(solo);
    mctx_job_free(jobs[i]);
  }
}

TEST(different_parameters_do_not_merge) {
  setup();
  const char *a = "{\"root_input\": {\"batch_size\": 1, \"num_actions\": 4}, \"search_params\": {\"num_simulations\": 8}}";
  const char *b = "{\"root_input\": {\"batch_size\": 1, \"num_actions\": 4}, \"search_params\": {\"num_simulations\": 9}}";
  const char *c = "{\"root_input\": {\"batch_size\": 1, \"num_actions\": 4}, \"return_tree\": \"arrays\"}";
  mctx_status st;
  mctx_job *ja, *jb, *jc;
  ASSERT_EQ(mctx_job_prepare(&env, a, strlen(a), NULL, NULL, &ja, &st), 0);
  ASSERT_EQ(mctx_job_prepare(&env, b, strlen(b), NULL, NULL, &jb, &st), 0);
  ASSERT_EQ(mctx_job_prepare(&env, c, strlen(c), NULL, NULL, &jc, &st), 0);
  ASSERT(strcmp(mctx_job_batch_key(ja), mctx_job_batch_key(jb)) != 0);
  ASSERT(mctx_job_batch_key(jc) == NULL);
  mctx_job *pair[2] = {ja, jb};
  ASSERT_EQ(mctx_job_run(&env, pair, 2), MCTX_EINVALID);
  mctx_job_free(ja);
  mctx_job_free(jb);
  mctx_job_free(jc);
}

/* The request path reproduces mctx's stored gumbel_muzero tree. */
TEST(nested_tree_matches_mctx) {
  setup();
  const char *dir = mctx_test_reference_dir();
  if (!dir) SKIP("../shared/reference is absent: the nested tree export is not checked against mctx");
  char path[1200];
  snprintf(path, sizeof path, "%s/mctx_test_data/gumbel_muzero_tree.json", dir);
  size_t len;
  char *ref = mctx_test_read_file(path, &len);
  if (!ref) SKIP("%s is absent", path);
  mctx_status st;
  mctx_json_doc *want = mctx_json_parse(ref, len, NULL, &st);
  ASSERT(want != NULL);
  const mctx_json *w = mctx_json_get(mctx_json_root(want), "tree");
  int A = (int)mctx_json_get(w, "child_stats")->len, S = (int)mctx_json_get(w, "visit")->i - 1;
  /* tree_test.py's batch: invalid_actions[1, 1:] = invalid_actions[2, 2:] = 1 */
  char inv[3][2048];
  for (int row = 0; row < 3; row++) {
    size_t k = 0;
    for (int a = 0; a < A; a++)
      k += (size_t)snprintf(inv[row] + k, sizeof inv[row] - k, "%s%d", a ? "," : "", (row == 1 && a >= 1) || (row == 2 && a >= 2));
  }
  char body[8192];
  snprintf(body, sizeof body,
           "{\"search_type\": \"gumbel_muzero\", \"model\": {\"name\": \"mctx_test_env\", \"params\": "
           "{\"discount\": -1.0, \"zero_reward\": true}}, \"root_input\": {\"batch_size\": 3, \"num_actions\": %d, "
           "\"invalid_actions\": [[%s],[%s],[%s]]}, \"search_params\": {\"num_simulations\": %d, \"seed\": 1, "
           "\"prng\": \"jax_legacy\", \"gumbel_scale\": 0.0, \"max_num_considered_actions\": 16, \"qtransform\": "
           "{\"name\": \"completed_by_mix_value\", \"maxvisit_init\": 50.0, \"rescale_values\": false, "
           "\"value_scale\": 0.5}}}",
           A, inv[0], inv[1], inv[2], S);
  char *tree = NULL;
  char *res = run_request(body, 1, 1, &tree);
  ASSERT(res && tree);
  mctx_json_limits deep = {4096, 0};  /* a nested tree is as deep as the search went */
  mctx_json_doc *got = mctx_json_parse(tree, strlen(tree), &deep, &st);
  if (!got) FAIL_AT("tree JSON: %s", st.reason);
  const mctx_json *g = mctx_json_at(mctx_json_root(got), 0);
  ASSERT(w && g);
  /* walk both, comparing every key with atol 1e-3 (chex.assert_trees_all_close) */
  static const mctx_json *sw[1 << 16], *sg[1 << 16];
  int sp = 0, nodes = 0;
  sw[sp] = w;
  sg[sp++] = g;
  while (sp > 0) {
    const mctx_json *a = sw[--sp], *b = sg[sp];
    ASSERT(a->type == MCTX_JSON_OBJECT && b->type == MCTX_JSON_OBJECT);
    ASSERT_EQ(a->len, b->len);
    nodes++;
    for (uint32_t i = 0; i < a->len; i++) {
      const char *k = a->u.members[i].key;
      const mctx_json *av = &a->u.members[i].value, *bv = mctx_json_get(b, k);
      if (!bv) FAIL_AT("key %s missing", k);
      if (av->type != bv->type) FAIL_AT("key %s: types differ", k);
      if (av->type == MCTX_JSON_NUMBER) ASSERT_NEAR(av->u.num, bv->u.num, 1e-3);
      else if (av->type == MCTX_JSON_ARRAY) {
        if (av->len != bv->len) FAIL_AT("key %s: %u items, expected %u", k, bv->len, av->len);
        for (uint32_t c = 0; c < av->len && sp < (1 << 16) - 2; c++) {
          sw[sp] = &av->u.items[c];
          sg[sp++] = &bv->u.items[c];
        }
      }
    }
  }
  ASSERT(nodes > 100);
  mctx_json_doc_free(want);
  mctx_json_doc_free(got);
  free(res);
  free(tree);
  free(ref);
}

TEST(arrays_tree_has_every_field) {
  setup();
  const char *body = "{\"search_type\": \"stochastic_muzero\", \"model\": {\"name\": \"synthetic_stochastic\", "
                     "\"params\": {\"num_chance_outcomes\": 3}}, \"root_input\": {\"batch_size\": 2, \"num_actions\": "
                     "4}, \"search_params\": {\"num_simulations\": 10}, \"return_tree\": \"arrays\"}";
  char *res = run_request(body, 0, 0, NULL);
  ASSERT(res != NULL);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(res, strlen(res), NULL, &st);
  ASSERT(doc != NULL);
  const mctx_json *t = mctx_json_get(mctx_json_root(doc), "search_tree");
  ASSERT(t != NULL);
  const char *fields[] = {"node_visits", "raw_values", "node_values", "parents", "action_from_parent",
                          "children_index", "children_prior_logits", "children_visits", "children_rewards",
                          "children_discounts", "children_values", "root_invalid_actions", "embeddings"};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const mctx_json *f = mctx_json_get(t, fields[i]);
    if (!f) FAIL_AT("search_tree.%s missing", fields[i]);
    ASSERT_EQ(f->len, 2);
  }
  /* stochastic trees keep the decision actions only: 4 wide */
  ASSERT_EQ(mctx_json_at(mctx_json_at(mctx_json_get(t, "children_index"), 0), 0)->len, 4);
  ASSERT_EQ(mctx_json_at(mctx_json_get(t, "node_visits"), 0)->len, 11);
  mctx_json_doc_free(doc);
  free(res);
}

/* ==== A model's declared precision ==== */

/* The environment of setup() with a model repository: three mlp networks
 * that declare bf16, fp16 and nothing, and the built-in mock model declared
 * bf16. The folder is removed once loaded (the repository holds the
 * weights). */
static mctx_api_env repo_env;

static void repo_setup(void) {
  if (repo_env.models) return;
  setup();
  char dir[64] = "/tmp/mctx-api-repo-XXXXXX";
  if (!mkdtemp(dir)) abort();
  static const char *const names[] = {"net-bf16", "net-fp16", "net-plain"};
  static const char *const decl[] = {", \"precision\": \"bf16\"", ", \"precision\": \"fp16\"", ""};
  mctx_status st;
  mctx_mlp_weights *w = NULL;
  if (mctx_mlp_weights_random(8, 4, 16, 1, MCTX_PRNG_JAX, &w, &st) != 0) abort();
  for (int i = 0; i < 3; i++) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    if (mkdir(p, 0755) != 0) abort();
    snprintf(p, sizeof p, "%s/%s/w.safetensors", dir, names[i]);
    if (mctx_mlp_weights_save(w, p, MCTX_ST_F32, NULL, &st) != 0) abort();
    snprintf(p, sizeof p, "%s/%s/model.json", dir, names[i]);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fprintf(f, "{\"kind\": \"mlp\", \"weights\": \"w.safetensors\", \"num_actions\": 4%s, "
               "\"engines\": [\"cpu\", \"cuda\"]}", decl[i]);
    fclose(f);
  }
  mctx_mlp_weights_unref(w);
  char p[256];
  snprintf(p, sizeof p, "%s/mock-bf16", dir);
  if (mkdir(p, 0755) != 0) abort();
  snprintf(p, sizeof p, "%s/mock-bf16/model.json", dir);
  FILE *f = fopen(p, "w");
  if (!f) abort();
  fputs("{\"kind\": \"builtin\", \"model\": \"mock\", \"precision\": \"bf16\"}", f);
  fclose(f);
  repo_env = env;
  if (mctx_model_repo_open(dir, &repo_env.models, &st) != 0) {
    fprintf(stderr, "repository: %s: %s\n", st.field, st.reason);
    abort();
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) abort();
}

/* What a request to `model` with search_params `sp` ran with: the
 * precision search_statistics reports, the one the history records
 * (config), and the network numerics set for the GPU on the model. */
typedef struct prec_seen {
  char reported[16], recorded[16];
  int gpu;  /* MCTX_CUDA_FP32 / FP16 / BF16, or -1 */
} prec_seen;

static int run_precision(const char *model, const char *sp, prec_seen *out) {
  char body[512];
  snprintf(body, sizeof body,
           "{\"search_type\": \"muzero\", \"model\": \"%s\", \"root_input\": {\"batch_size\": 2, \"num_actions\": 4}, "
           "\"search_params\": {\"num_simulations\": 6%s%s}}",
           model, sp[0] ? ", " : "", sp);
  mctx_status st;
  mctx_job *job;
  if (mctx_job_prepare(&repo_env, body, strlen(body), NULL, NULL, &job, &st) != 0) {
    fprintf(stderr, "prepare %s: %s: %s\n", body, st.field, st.reason);
    return -1;
  }
  mctx_job_run(&repo_env, &job, 1);
  int rc = mctx_job_status(job)->code;
  mctx_buf b;
  mctx_buf_init(&b, 1 << 20);
  mctx_job_encode(job, &b);
  mctx_json_doc *res = mctx_json_parse(b.data, b.len, NULL, &st);
  char *cfg = mctx_job_config_json(job);
  mctx_json_doc *rec = cfg ? mctx_json_parse(cfg, strlen(cfg), NULL, &st) : NULL;
  const mctx_json *rp = res ? mctx_json_get(mctx_json_get(mctx_json_root(res), "search_statistics"), "precision") : NULL;
  const mctx_json *cp = rec ? mctx_json_get(mctx_json_root(rec), "precision") : NULL;
  snprintf(out->reported, sizeof out->reported, "%s", rp && rp->type == MCTX_JSON_STRING ? rp->u.str : "?");
  snprintf(out->recorded, sizeof out->recorded, "%s", cp && cp->type == MCTX_JSON_STRING ? cp->u.str : "?");
  const mctx_cuda_model *dm = job->model ? job->model->device : NULL;
  out->gpu = dm && dm->mlp ? dm->mlp->precision : -1;
  if (rc == 0 && (!res || !rec)) rc = -1;
  mctx_json_doc_free(res);
  mctx_json_doc_free(rec);
  free(cfg);
  mctx_buf_free(&b);
  mctx_job_free(job);
  return rc;
}

#define EXPECT_PRECISION(model, sp, want, want_gpu)        \
  do {                                                     \
    prec_seen s_;                                          \
    ASSERT_EQ(run_precision(model, sp, &s_), 0);           \
    ASSERT_STREQ(s_.reported, want);                       \
    ASSERT_STREQ(s_.recorded, want);                       \
    ASSERT_EQ(s_.gpu, want_gpu);                           \
  } while (0)

/* docs/MODELS.md: model.json "precision" is what the model runs in on the
 * GPU unless the request asks for another; the CPU computes in fp32 and
 * reports the precision chosen, as it does for a request's own. */
TEST(model_precision_is_the_default) {
  repo_setup();
  /* silent requests: the model's declared precision */
  EXPECT_PRECISION("net-bf16", "", "bf16", MCTX_CUDA_BF16);
  EXPECT_PRECISION("net-fp16", "", "fp16", MCTX_CUDA_FP16);
  EXPECT_PRECISION("net-plain", "", "fp32", MCTX_CUDA_FP32);
  EXPECT_PRECISION("net-bf16", "\"precision\": null", "bf16", MCTX_CUDA_BF16);
  /* the request's own precision wins, in either spelling */
  EXPECT_PRECISION("net-bf16", "\"precision\": \"fp32\"", "fp32", MCTX_CUDA_FP32);
  EXPECT_PRECISION("net-bf16", "\"precision\": \"float32\"", "fp32", MCTX_CUDA_FP32);
  EXPECT_PRECISION("net-bf16", "\"precision\": \"fp16\"", "fp16", MCTX_CUDA_FP16);
  EXPECT_PRECISION("net-plain", "\"precision\": \"bf16\"", "bf16", MCTX_CUDA_BF16);
  /* use_t4_optimizations without a precision keeps its rule: fp32 asked
   * (reported), fp16 on the GPU; with one, the request's */
  EXPECT_PRECISION("net-bf16", "\"use_t4_optimizations\": true", "fp32", MCTX_CUDA_FP16);
  EXPECT_PRECISION("net-bf16", "\"use_t4_optimizations\": true, \"precision\": \"bf16\"", "bf16", MCTX_CUDA_BF16);
  /* models without a network: their declared precision is reported (what
   * was chosen), nothing is set on a device */
  prec_seen s;
  ASSERT_EQ(run_precision("mock", "", &s), 0);
  ASSERT_STREQ(s.reported, "fp32");
  ASSERT_EQ(s.gpu, -1);
  ASSERT_EQ(run_precision("mock-bf16", "", &s), 0);
  ASSERT_STREQ(s.reported, "bf16");
  ASSERT_STREQ(s.recorded, "bf16");
  ASSERT_EQ(s.gpu, -1);
}

/* Requests merge only with requests that run in the same precision: a
 * silent request to a model declared bf16 merges with an explicit bf16 one,
 * not with an fp32 one. */
TEST(model_precision_in_the_batch_key) {
  repo_setup();
  const char *fmt = "{\"model\": \"mock-bf16\", \"root_input\": {\"batch_size\": 1, \"num_actions\": 4}, "
                    "\"search_params\": {\"num_simulations\": 4%s}}";
  char silent[256], bf16[256], fp32[256];
  snprintf(silent, sizeof silent, fmt, "");
  snprintf(bf16, sizeof bf16, fmt, ", \"precision\": \"bf16\"");
  snprintf(fp32, sizeof fp32, fmt, ", \"precision\": \"fp32\"");
  mctx_status st;
  mctx_job *a, *b, *c;
  ASSERT_EQ(mctx_job_prepare(&repo_env, silent, strlen(silent), NULL, NULL, &a, &st), 0);
  ASSERT_EQ(mctx_job_prepare(&repo_env, bf16, strlen(bf16), NULL, NULL, &b, &st), 0);
  ASSERT_EQ(mctx_job_prepare(&repo_env, fp32, strlen(fp32), NULL, NULL, &c, &st), 0);
  ASSERT(mctx_job_batch_key(a) != NULL && mctx_job_batch_key(c) != NULL);
  ASSERT_STREQ(mctx_job_batch_key(a), mctx_job_batch_key(b));
  ASSERT(strcmp(mctx_job_batch_key(a), mctx_job_batch_key(c)) != 0);
  mctx_job_free(a);
  mctx_job_free(b);
  mctx_job_free(c);
}

/* ==== Games: illegal root moves ==== */

/* Runs `body` and checks every element against the game's rules at its
 * root position (pos[b], or the start): an illegal move, or one the
 * request's extra mask forbids (extra[b], bit a), has no visits and no
 * weight, is not the action, and is in the tree's root_invalid_actions;
 * every visit goes to a legal move. */
static void check_game_masks(const char *body, const mctx_game *g, const char *const *pos, int32_t B,
                             const unsigned *extra) {
  char *tree = NULL;
  char *res = run_request(body, 1, 0, &tree);
  ASSERT(res != NULL && tree != NULL);
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(res, strlen(res), NULL, &st);
  mctx_json_limits lim = {64, 0};
  mctx_json_doc *tdoc = mctx_json_parse(tree, strlen(tree), &lim, &st);
  ASSERT(doc != NULL && tdoc != NULL);
  const mctx_json *r = mctx_json_root(doc);
  if (mctx_json_get(r, "status_code")) FAIL_AT("request failed: %s", res);
  const mctx_json *ss = mctx_json_get(r, "search_statistics");
  const mctx_json *visits = mctx_json_get(ss, "root_visit_counts");
  const mctx_json *weights = mctx_json_get(r, "action_weights");
  const mctx_json *action = mctx_json_get(r, "action");
  const mctx_json *rinv = mctx_json_get(mctx_json_root(tdoc), "root_invalid_actions");
  ASSERT(visits && weights && action && rinv);
  int sims = (int)mctx_json_get(ss, "num_simulations")->i;
  for (int32_t b = 0; b < B; b++) {
    uint32_t w[MCTX_GAME_MAX_WORDS];
    uint8_t legal[MCTX_GAME_MAX_ACTIONS];
    ASSERT_EQ(mctx_game_parse(g, pos[b], 0, w, "position", &st), 0);
    g->legal(w, legal);
    int64_t total = 0;
    int chosen = (int)mctx_json_at(action, b)->i;
    for (int32_t a = 0; a < g->num_actions; a++) {
      int masked = !legal[a] || (extra && ((extra[b] >> a) & 1u));
      int64_t v = mctx_json_at(mctx_json_at(visits, b), a)->i;
      double wt = mctx_json_at(mctx_json_at(weights, b), a)->u.num;
      total += v;
      if (masked && (v != 0 || wt != 0.0 || chosen == a))
        FAIL_AT("element %d (position \"%s\"): masked action %d has %lld visits, weight %g%s: %s", (int)b, pos[b],
                (int)a, (long long)v, wt, chosen == a ? " and was chosen" : "", body);
      ASSERT_EQ(mctx_json_at(mctx_json_at(rinv, b), a)->i, masked);
    }
    ASSERT_EQ(total, sims);
  }
  mctx_json_doc_free(doc);
  mctx_json_doc_free(tdoc);
  free(res);
  free(tree);
}

/* Connect four with a full column (the column 4 of "444444"), two full
 * columns, and the start; tic-tac-toe with occupied cells: the full
 * columns and occupied cells get no visits and are never chosen, with
 * muzero and gumbel_muzero, at several simulation counts and seeds. */
TEST(game_illegal_moves_are_masked) {
  setup();
  static const char *const c4[] = {"444444", "4444441111117", ""};
  static const char *const ttt[] = {"5", "513", "X.O/.X./..."};
  static const char *const policies[] = {"muzero", "gumbel_muzero"};
  static const int sims[] = {8, 64, 200};
  for (int p = 0; p < 2; p++)
    for (int k = 0; k < 3; k++)
      for (int seed = 0; seed < 3; seed++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"search_type\": \"%s\", \"model\": {\"name\": \"connect4\", \"params\": {\"position\": "
                 "[\"%s\", \"%s\", \"%s\"], \"rollouts\": 4}}, \"root_input\": {\"batch_size\": 3, \"num_actions\": 7}, "
                 "\"search_params\": {\"num_simulations\": %d, \"seed\": %d}}",
                 policies[p], c4[0], c4[1], c4[2], sims[k], seed);
        check_game_masks(body, &mctx_game_connect4, c4, 3, NULL);
        snprintf(body, sizeof body,
                 "{\"search_type\": \"%s\", \"model\": {\"name\": \"tictactoe\", \"params\": {\"position\": "
                 "[\"%s\", \"%s\", \"%s\"], \"rollouts\": 4}}, \"root_input\": {\"batch_size\": 3, \"num_actions\": 9}, "
                 "\"search_params\": {\"num_simulations\": %d, \"seed\": %d}}",
                 policies[p], ttt[0], ttt[1], ttt[2], sims[k], seed);
        check_game_masks(body, &mctx_game_tictactoe, ttt, 3, NULL);
      }
}

/* The same from a position given as root_input.embedding, with the
 * request's own prior_logits (which favour the full column), and with the
 * request's invalid_actions added to the rules' (OR). */
TEST(game_masks_with_embeddings_logits_and_request_masks) {
  setup();
  static const char *const full4[] = {"444444", "444444"};
  /* "444444": X and O alternate in column 4 (index 3): bitboard bits 21..26 */
  uint32_t w[MCTX_GAME_MAX_WORDS];
  mctx_status st;
  ASSERT_EQ(mctx_game_parse(&mctx_game_connect4, "444444", 0, w, "position", &st), 0);
  for (int p = 0; p < 2; p++) {
    const char *pol = p ? "gumbel_muzero" : "muzero";
    char body[2048];
    snprintf(body, sizeof body,
             "{\"search_type\": \"%s\", \"model\": \"connect4\", \"root_input\": {\"batch_size\": 2, "
             "\"num_actions\": 7, \"embedding\": [[%u, %u, %u, %u, %u, %u], [%u, %u, %u, %u, %u, %u]], "
             "\"prior_logits\": [[0, 0, 0, 9, 0, 0, 0], [0, 0, 0, 9, 0, 0, 0]], \"value\": [0, 0]}, "
             "\"search_params\": {\"num_simulations\": 48, \"seed\": 5}}",
             pol, w[0], w[1], w[2], w[3], w[4], w[5], w[0], w[1], w[2], w[3], w[4], w[5]);
    check_game_masks(body, &mctx_game_connect4, full4, 2, NULL);
    /* the request forbids column 1 in element 0 and says column 4 is
     * valid in element 1: both stay invalid */
    static const unsigned extra[] = {1u, 0u};
    snprintf(body, sizeof body,
             "{\"search_type\": \"%s\", \"model\": {\"name\": \"connect4\", \"params\": {\"position\": \"444444\"}}, "
             "\"root_input\": {\"batch_size\": 2, \"num_actions\": 7, \"invalid_actions\": "
             "[[1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]]}, \"search_params\": {\"num_simulations\": 48}}",
             pol);
    check_game_masks(body, &mctx_game_connect4, full4, 2, extra);
  }
  /* a request that forbids every legal move leaves nothing to search */
  const char *none = "{\"model\": {\"name\": \"connect4\", \"params\": {\"position\": \"444444\"}}, \"root_input\": "
                     "{\"batch_size\": 1, \"num_actions\": 7, \"invalid_actions\": [[1, 1, 1, 0, 1, 1, 1]]}}";
  mctx_job *job = NULL;
  ASSERT_EQ(mctx_job_prepare(&env, none, strlen(none), NULL, NULL, &job, &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "root_input.invalid_actions[0]");
  ASSERT_CONTAINS(st.reason, "every legal move");
}
