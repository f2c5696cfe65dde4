/* cli/cmd_bench.c: `mctx bench`, the timing of whole searches.
 * Runs one warm-up search, then --repeat timed searches on the same engine,
 * model and tree (as a service would), and prints the median and best wall
 * time, simulations per second and peak memory. Figures from here go into
 * docs/BENCHMARKS.md; tests never time anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"
#include "mctx/registry.h"

static void help(void) {
  printf(
      "usage: mctx bench --policy P --batch B --actions A --simulations S --model NAME\n"
      "                  [--engine cpu|cuda] [--threads N] [--repeat R] [--warmup W]\n"
      "                  [--seed N] [--prng jax|jax_legacy] [--model-params JSON] [--json]\n\n"
      "Times whole searches on synthetic roots (the model's own) and prints the median\n"
      "and best time, simulations per second and peak memory.\n\n"
      "  --policy P         muzero, gumbel_muzero or stochastic_muzero (default gumbel_muzero)\n"
      "  --batch B          batch size (default 1024)\n"
      "  --actions A        number of actions (default 64)\n"
      "  --simulations S    simulations per search (default 64)\n"
      "  --model NAME       a registered model (default synthetic)\n"
      "  --model-params J   the model's parameters as a JSON object\n"
      "  --engine E         cpu or cuda (default cpu)\n"
      "  --threads N        CPU engine threads (default: one per core)\n"
      "  --repeat R         timed searches (default 10)\n"
      "  --warmup W         untimed searches first (default 1)\n"
      "  --seed N           PRNG seed (default 42)\n"
      "  --prng MODE        jax (default) or jax_legacy\n"
      "  --json             print one JSON object (median_ms, sims_per_s, ...)\n");
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int mctx_cmd_bench(int argc, char **argv) {
  const char *policy = "gumbel_muzero", *model_name = "synthetic", *engine = "cpu", *model_params = NULL;
  const char *prng = "jax";
  int B = 1024, A = 64, S = 64, threads = 0, repeat = 10, warmup = 1, json = 0;
  long long seed = 42;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { help(); return 0; }
    if (strcmp(a, "--json") == 0) { json = 1; continue; }
    int used = v != NULL;
    if (!v) used = 0;
    else if (strcmp(a, "--policy") == 0) policy = v;
    else if (strcmp(a, "--batch") == 0) B = atoi(v);
    else if (strcmp(a, "--actions") == 0) A = atoi(v);
    else if (strcmp(a, "--simulations") == 0) S = atoi(v);
    else if (strcmp(a, "--model") == 0) model_name = v;
    else if (strcmp(a, "--model-params") == 0) model_params = v;
    else if (strcmp(a, "--engine") == 0) engine = v;
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else if (strcmp(a, "--repeat") == 0) repeat = atoi(v);
    else if (strcmp(a, "--warmup") == 0) warmup = atoi(v);
    else if (strcmp(a, "--seed") == 0) seed = atoll(v);
    else if (strcmp(a, "--prng") == 0) prng = v;
    else used = 0;
    if (!used) { mctx_cli_error("bench", "unknown or incomplete flag '%s' (see mctx bench --help)", a); return 2; }
    i++;
  }
  mctx_policy pol;
  if (strcmp(policy, "muzero") == 0) pol = MCTX_POLICY_MUZERO;
  else if (strcmp(policy, "gumbel_muzero") == 0) pol = MCTX_POLICY_GUMBEL_MUZERO;
  else if (strcmp(policy, "stochastic_muzero") == 0) pol = MCTX_POLICY_STOCHASTIC_MUZERO;
  else { mctx_cli_error("bench", "unknown --policy '%s'", policy); return 2; }
  if (B < 1 || A < 1 || S < 1 || repeat < 1 || warmup < 0) {
    mctx_cli_error("bench", "--batch, --actions, --simulations and --repeat must be >= 1");
    return 2;
  }
  if (strcmp(engine, "cpu") != 0 && strcmp(engine, "cuda") != 0) {
    mctx_cli_error("bench", "--engine must be cpu or cuda");
    return 2;
  }
  mctx_status st;
  mctx_api_env env;
  memset(&env, 0, sizeof env);
  if (mctx_api_engines_open(&env, engine, threads, &st) != 0) {
    mctx_cli_error("bench", "%s", st.reason);
    return 1;
  }
  mctx_engine *e = strcmp(engine, "cuda") == 0 ? env.gpu : env.cpu;
  mctx_json_doc *pdoc = NULL;
  if (model_params) {
    pdoc = mctx_json_parse(model_params, strlen(model_params), NULL, &st);
    if (!pdoc) { mctx_cli_error("bench", "--model-params: %s", st.reason); mctx_api_engines_close(&env); return 2; }
  }
  mctx_search_params p;
  mctx_search_params_init(&p, pol);
  p.num_simulations = S;
  p.key = mctx_prng_key(seed);
  p.prng = strcmp(prng, "jax_legacy") == 0 ? MCTX_PRNG_JAX_LEGACY : MCTX_PRNG_JAX;
  mctx_model_ctx mc = {A, B, p.prng};
  mctx_model *m = NULL;
  if (mctx_model_create(model_name, pdoc ? mctx_json_root(pdoc) : NULL, &mc, &m, &st) != 0) {
    mctx_cli_error("bench", "%s: %s", st.field, st.reason);
    mctx_json_doc_free(pdoc);
    mctx_api_engines_close(&env);
    return 2;
  }
  int stochastic = pol == MCTX_POLICY_STOCHASTIC_MUZERO;
  int32_t C = stochastic ? m->info.num_chance_outcomes : 0;
  mctx_tree *t = mctx_tree_new(B, S + 1, A + C, A, m->info.embedding_bytes, stochastic,
                               pol == MCTX_POLICY_GUMBEL_MUZERO, &st);
  int32_t *action = malloc((size_t)B * sizeof(int32_t));
  float *weights = malloc((size_t)B * (size_t)A * sizeof(float));
  double *times = malloc((size_t)repeat * sizeof(double));
  int rc = 0;
  if (!t || !action || !weights || !times) {
    mctx_cli_error("bench", "out of memory");
    rc = 1;
    goto out;
  }
  mctx_root r = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0};
  for (int i = 0; i < warmup + repeat; i++) {
    double t0 = now_ms();
    /* The GPU keeps its tree on the device: no copy back (as the service). */
    mctx_tree *tt = strcmp(engine, "cuda") == 0 ? NULL : t;
    if (mctx_engine_search(e, &p, m, &r, 0, tt, &res, &st) != 0) {
      mctx_cli_error("bench", "search failed: %s%s%s", st.field, st.field[0] ? ": " : "", st.reason);
      rc = 1;
      goto out;
    }
    double dt = now_ms() - t0;
    if (i >= warmup) times[i - warmup] = dt;
  }
  qsort(times, (size_t)repeat, sizeof(double), cmp_double);
  double median = repeat % 2 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
  double sims = (double)B * S / (median / 1e3);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss_mib = (double)ru.ru_maxrss / 1024.0;
  int nthreads = strcmp(engine, "cpu") == 0 ? mctx_engine_cpu_threads(e) : 0;
  if (json) {
    printf("{\"policy\": \"%s\", \"batch\": %d, \"actions\": %d, \"simulations\": %d, \"model\": \"%s\", "
           "\"engine\": \"%s\", \"threads\": %d, \"repeat\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
           "\"max_ms\": %.4f, \"sims_per_s\": %.1f, \"peak_rss_mib\": %.1f, \"expanded_nodes\": %lld, "
           "\"max_depth_reached\": %d}\n",
           policy, B, A, S, model_name, engine, nthreads, repeat, median, times[0], times[repeat - 1], sims, rss_mib,
           (long long)res.num_expanded_nodes, (int)res.max_depth_reached);
  } else {
    printf("%s B=%d A=%d S=%d model=%s engine=%s", policy, B, A, S, model_name, engine);
    if (nthreads) printf(" threads=%d", nthreads);
    printf("\n  median %.3f ms (best %.3f, worst %.3f, %d runs)\n  %.0f simulations/s\n  peak RSS %.1f MiB\n", median,
           times[0], times[repeat - 1], repeat, sims, rss_mib);
  }
out:
  free(action); free(weights); free(times);
  mctx_tree_free(t);
  mctx_model_free(m);
  mctx_json_doc_free(pdoc);
  mctx_api_engines_close(&env);
  return rc;
}
