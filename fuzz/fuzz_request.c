/* fuzz/fuzz_request.c: the search request, from bytes to the answer.
 *
 * The input is a request body. It is decoded and validated
 * (mctx_job_prepare: util/json, then api/request.c), and when it is
 * valid and small it runs on the CPU engine and its result, configuration
 * and summary are encoded, exactly as the service and `mctx search` do. A
 * refused body must come back with an error code, a field or a reason, and
 * an error envelope that fits its buffer; nothing may crash, leak or read
 * out of bounds (AddressSanitizer, UBSan).
 *
 * A valid request that may be merged with others (it has a batch key) is
 * also prepared twice more and the two run as one merged search: each must
 * get exactly the result the request got alone (the summary: actions and
 * root values, bit for bit), which is what the service's dynamic batching
 * promises.
 *
 * Limits are small (batch 16, 64 actions, 64 simulations, a 4 MiB tree) so
 * that every valid input runs in well under a millisecond. */
#include <string.h>

#include "api/api.h"
#include "fuzz.h"
#include "util/buf.h"

static mctx_api_env g_env;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  mctx_api_limits_default(&g_env.limits);
  g_env.limits.max_batch_size = 16;
  g_env.limits.max_num_actions = 64;
  g_env.limits.max_num_simulations = 64;
  g_env.limits.max_tree_bytes = (size_t)4 << 20;
  g_env.limits.max_json_depth = 64;
  g_env.default_model = "synthetic";
  mctx_status st;
  mctx_status_clear(&st);
  if (mctx_api_engines_open(&g_env, "cpu", 1, &st) != 0) {
    fprintf(stderr, "fuzz_request: no CPU engine: %s\n", st.reason);
    abort();
  }
  return 0;
}

/* The same request twice, merged into one search: each must get what the
 * request got alone. */
static void check_merged(const uint8_t *data, size_t size, const mctx_job *alone, const char *alone_sum) {
  mctx_status st;
  mctx_job *pair[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    int rc = mctx_job_prepare(&g_env, (const char *)data, size, i ? "fuzz-merged-b" : "fuzz-merged-a", "fuzz",
                              &pair[i], &st);
    FUZZ_CHECK(rc == 0, "the same body prepared again was refused: %s", st.reason);
  }
  FUZZ_CHECK(strcmp(mctx_job_batch_key(pair[0]), mctx_job_batch_key(alone)) == 0 &&
                 strcmp(mctx_job_batch_key(pair[1]), mctx_job_batch_key(alone)) == 0,
             "the same body has another batch key");
  FUZZ_CHECK(mctx_job_run(&g_env, pair, 2) == 0, "a merged run refused its arguments");
  for (int i = 0; i < 2; i++) {
    FUZZ_CHECK(mctx_job_http_status(pair[i]) == 200, "merged job %d failed (%s) where alone it ran", i,
               mctx_job_status(pair[i])->reason);
    char *sum = mctx_job_summary_json(pair[i]);
    FUZZ_CHECK(sum && strcmp(sum, alone_sum) == 0, "merged job %d got %s, alone %s", i, sum ? sum : "(none)",
               alone_sum);
    free(sum);
    mctx_job_free(pair[i]);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  mctx_status st;
  mctx_status_clear(&st);
  mctx_job *job = NULL;
  int rc = mctx_job_prepare(&g_env, (const char *)data, size, "fuzz-request", "fuzz", &job, &st);
  mctx_buf out;
  mctx_buf_init(&out, (size_t)8 << 20);
  if (rc != 0) {
    FUZZ_CHECK(job == NULL, "a refused request left a job");
    FUZZ_CHECK(st.code != 0 && st.code == rc, "refused with code %d but status code %d", rc, st.code);
    FUZZ_CHECK(st.reason[0] != '\0', "refused without a reason (code %d, field '%s')", rc, st.field);
    int http = mctx_http_status(rc);
    FUZZ_CHECK(http >= 400 && http < 600, "error %d maps to HTTP %d", rc, http);
    mctx_error_json(&out, http, &st);
    FUZZ_CHECK(!out.failed && out.len > 0, "the error envelope does not fit");
    mctx_buf_free(&out);
    return 0;
  }
  FUZZ_CHECK(job != NULL, "accepted without a job");
  mctx_job_info info;
  mctx_job_get_info(job, &info);
  FUZZ_CHECK(info.batch_size >= 1 && info.batch_size <= g_env.limits.max_batch_size, "batch %d", info.batch_size);
  FUZZ_CHECK(info.num_actions >= 1 && info.num_actions <= g_env.limits.max_num_actions, "actions %d",
             info.num_actions);
  FUZZ_CHECK(info.num_simulations >= 0 && info.num_simulations <= g_env.limits.max_num_simulations,
             "simulations %d", info.num_simulations);
  char *cfg = mctx_job_config_json(job);
  free(cfg);
  /* run it: alone, as a search that stores no tree would */
  mctx_job *jobs[1] = {job};
  rc = mctx_job_run(&g_env, jobs, 1);
  FUZZ_CHECK(rc == 0, "mctx_job_run refused its arguments (%d)", rc);
  int http = mctx_job_http_status(job);
  FUZZ_CHECK(http == 200 || (http >= 400 && http < 600), "HTTP status %d", http);
  if (mctx_job_encode(job, &out) == 0) FUZZ_CHECK(out.len > 0, "an empty answer");
  if (http == 200) {
    char *sum = mctx_job_summary_json(job);
    FUZZ_CHECK(sum != NULL, "no summary");
    mctx_job_get_info(job, &info);
    FUZZ_CHECK(info.num_expanded_nodes >= 0, "expanded %lld", (long long)info.num_expanded_nodes);
    /* Every model the service would merge (the mlp model, whose CPU forward
     * pass rounds a row differently with the number of rows, is never merged:
     * mctx_model_info.batch_dependent). */
    if (mctx_job_batch_key(job) && info.batch_size <= 8)
      check_merged(data, size, job, sum);
    free(sum);
  }
  mctx_buf_free(&out);
  mctx_job_free(job);
  return 0;
}
