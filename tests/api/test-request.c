/* tests/api/test-request.c: requests through the API layer.
 *   - every malformed or out-of-range request of bad-requests.jsonl gets the
 *     error code and the field the file names (data-driven: a new case is a
 *     new line);
 *   - results encode to JSON that reads back, and are deterministic;
 *   - jobs merged into one batched search get exactly their solo results;
 *   - return_tree "nested" reproduces mctx's stored tree (gumbel_muzero_tree)
 *     through the whole request path. */
#include "test.h"

#include "api/api.h"
#include "mctx/json.h"

#ifndef MCTX_TESTS_DIR
#define MCTX_TESTS_DIR "."
#endif

static mctx_api_env env;

static void setup(void) {
  if (env.cpu) return;
  memset(&env, 0, sizeof env);
  mctx_api_limits_default(&env.limits);
  env.default_model = "synthetic";
  mctx_status st;
  mctx_api_engines_open(&env, "cpu", 2, &st);
}

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
