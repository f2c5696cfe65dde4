/* bench/bench-codec.c: the HTTP-free cost of the JSON API for one large
 * request: decoding and validating a batch 1024 x 64 actions request (with
 * prior logits, values and invalid actions), and encoding its result. Prints
 * the median of --repeat runs of each. A benchmark, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <time.h>

#include "api/api.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int B = 1024, A = 64, repeat = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--actions")) A = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
  }
  /* As the service does: keep freed memory for the next request. */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  /* A request as a client would send it: logits with 9 significant digits. */
  mctx_buf req;
  mctx_buf_init(&req, 0);
  uint64_t s = 88172645463325252ull;
  mctx_buf_printf(&req, "{\"search_type\": \"gumbel_muzero\", \"root_input\": {\"batch_size\": %d, \"num_actions\": %d, "
                        "\"prior_logits\": [", B, A);
  for (int b = 0; b < B; b++) {
    mctx_buf_puts(&req, b ? ",[" : "[");
    for (int a = 0; a < A; a++) {
      s ^= s << 13; s ^= s >> 7; s ^= s << 17;
      mctx_buf_printf(&req, "%s%.9g", a ? "," : "", ((double)(s % 2000001) / 1e6 - 1.0) * 2.3);
    }
    mctx_buf_putc(&req, ']');
  }
  mctx_buf_puts(&req, "], \"value\": [");
  for (int b = 0; b < B; b++) mctx_buf_printf(&req, "%s%.9g", b ? "," : "", (double)(b % 200) / 100.0 - 1.0);
  mctx_buf_puts(&req, "], \"invalid_actions\": [");
  for (int b = 0; b < B; b++) {
    mctx_buf_puts(&req, b ? ",[" : "[");
    for (int a = 0; a < A; a++) mctx_buf_printf(&req, "%s%d", a ? "," : "", (a + b) % 7 == 3);
    mctx_buf_putc(&req, ']');
  }
  mctx_buf_puts(&req, "]}, \"search_params\": {\"num_simulations\": 2}}");

  mctx_api_env env;
  memset(&env, 0, sizeof env);
  mctx_api_limits_default(&env.limits);
  env.default_model = "synthetic";
  mctx_status st;
  if (mctx_api_engines_open(&env, "cpu", 0, &st) != 0) { fprintf(stderr, "%s\n", st.reason); return 1; }
  double *dec = malloc((size_t)repeat * sizeof(double)), *enc = malloc((size_t)repeat * sizeof(double));
  size_t out_bytes = 0;
  for (int r = 0; r < repeat; r++) {
    mctx_job *job;
    double t0 = now_ms();
    if (mctx_job_prepare(&env, req.data, req.len, NULL, NULL, &job, &st) != 0) {
      fprintf(stderr, "%s: %s\n", st.field, st.reason);
      return 1;
    }
    dec[r] = now_ms() - t0;
    mctx_job_run(&env, &job, 1);
    mctx_buf out;
    mctx_buf_init(&out, 0);
    t0 = now_ms();
    mctx_job_encode(job, &out);
    enc[r] = now_ms() - t0;
    out_bytes = out.len;
    mctx_buf_free(&out);
    mctx_job_free(job);
  }
  qsort(dec, (size_t)repeat, sizeof(double), cmp);
  qsort(enc, (size_t)repeat, sizeof(double), cmp);
  printf("{\"batch\": %d, \"actions\": %d, \"request_bytes\": %zu, \"result_bytes\": %zu, "
         "\"decode_validate_ms\": %.3f, \"encode_ms\": %.3f, \"total_ms\": %.3f}\n",
         B, A, req.len, out_bytes, dec[repeat / 2], enc[repeat / 2], dec[repeat / 2] + enc[repeat / 2]);
  mctx_api_engines_close(&env);
  mctx_buf_free(&req);
  free(dec);
  free(enc);
  return 0;
}
