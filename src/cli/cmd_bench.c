/* cli/cmd_bench.c: `mctx bench`, the timing of whole searches.
 * Runs one warm-up search, then --repeat timed searches on the same engine,
 * model and tree (as a service would), and prints the median and best wall
 * time, simulations per second and peak memory. Figures from here go into
 * docs/BENCHMARKS.md; tests never time anything.
 *
 * --distributed times the same searches over the device mesh (src/dist):
 * this process's CPU devices or GPUs and, under `mpirun -np N`, every
 * process's; rank 0 prints, with the time spent communicating and each
 * device's share and time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"
#include "mctx/dist.h"
#include "mctx/registry.h"
#include "util/buf.h"
#include "util/jsonw.h"
#if defined(MCTX_HAVE_CUDA)
#include "mctx/cuda.h"
#endif

static void help(void) {
  printf(
      "usage: mctx bench --policy P --batch B --actions A --simulations S --model NAME\n"
      "                  [--engine cpu|cuda] [--threads N] [--repeat R] [--warmup W]\n"
      "                  [--seed N] [--prng jax|jax_legacy] [--model-params JSON] [--json]\n"
      "                  [--precision fp32|fp16|bf16] [--aligned 0|1]\n"
      "                  [--distributed [--num-devices N] [--partition batch|search]\n"
      "                   [--merge S] [--gpus auto|none|LIST] [--cpu-devices N] [--nccl auto|off]\n"
      "                   [--fail-device K]]\n\n"
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
      "  --precision P      networks on the GPU: fp32 (default), fp16 or bf16\n"
      "  --aligned 0|1      networks on the GPU: pad dimensions to tensor-core multiples (default 1)\n"
      "  --json             print one JSON object (median_ms, sims_per_s, ...)\n\n"
      "Distributed (docs/DISTRIBUTED.md); also `mpirun -np N mctx bench --distributed ...`:\n"
      "  --distributed      time the searches over the device mesh: this process's CPU devices\n"
      "                     (--engine cpu) or GPUs (--engine cuda) and, under mpirun, every\n"
      "                     process's; rank 0 prints. --threads sets each CPU device's threads\n"
      "  --num-devices N    devices to use (default: every device of the mesh)\n"
      "  --partition P      batch (partition_batch, the default) or search (partition_search)\n"
      "  --merge S          sum_visits (default), max_value or consensus (partition_search)\n"
      "  --gpus G           this process's GPUs: auto, none or a list such as 0,2 (default auto)\n"
      "  --cpu-devices N    CPU devices of this process (default 1)\n"
      "  --nccl auto|off    gather GPU results through NCCL where every process has GPUs of its\n"
      "                     own (default auto); off: in place, or over MPI between processes\n"
      "  --fail-device K    make device K fail in every search (its share runs on the others)\n");
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

/* The --distributed flags. */
typedef struct dist_bench {
  int on;
  int num_devices;
  const char *partition, *merge, *gpus, *fail_device, *nccl;
  int cpu_devices;
} dist_bench;

static double median_of(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The distributed bench: the same searches through mctx_dist_search. */
static int bench_distributed(const dist_bench *db, const char *policy, mctx_policy pol, int B, int A, int S,
                             const char *model_name, const char *model_params, const char *engine, int threads,
                             int repeat, int warmup, long long seed, const char *prng, const char *precision,
                             int aligned, int json) {
  mctx_status st;
  mctx_dist_mesh_options o;
  mctx_dist_mesh_options_init(&o);
  o.gpus = strcmp(engine, "cpu") == 0 ? "none" : db->gpus;
  o.cpu_devices = db->cpu_devices > 0 ? db->cpu_devices : 1;
  o.cpu_threads = threads;
  o.nccl = db->nccl && strcmp(db->nccl, "off") == 0 ? 0 : -1;
  mctx_dist_mesh *mesh = NULL;
  if (mctx_dist_mesh_new(&o, &mesh, &st) != 0) {
    mctx_cli_error("bench", "%s%s%s", st.field, st.field[0] ? ": " : "", st.reason);
    return 1;
  }
  int rank = mctx_dist_mesh_rank(mesh);
  mctx_json_doc *pdoc = NULL;
  mctx_model *m = NULL;
  int rc = 0;
  if (model_params) {
    pdoc = mctx_json_parse(model_params, strlen(model_params), NULL, &st);
    if (!pdoc) { mctx_cli_error("bench", "--model-params: %s", st.reason); rc = 2; }
  }
  mctx_search_params p;
  mctx_search_params_init(&p, pol);
  p.num_simulations = S;
  p.key = mctx_prng_key(seed);
  p.prng = strcmp(prng, "jax_legacy") == 0 ? MCTX_PRNG_JAX_LEGACY : MCTX_PRNG_JAX;
  mctx_model_ctx mc = {A, B, p.prng};
  if (rc == 0 && mctx_model_create(model_name, pdoc ? mctx_json_root(pdoc) : NULL, &mc, &m, &st) != 0) {
    mctx_cli_error("bench", "%s: %s", st.field, st.reason);
    rc = 2;
  }
  mctx_dist_config cfg;
  mctx_dist_config_init(&cfg);
  cfg.device = strcmp(engine, "cpu") == 0 ? MCTX_DIST_DEVICE_CPU : MCTX_DIST_DEVICE_GPU;
  /* Both at once: every device runs the network in the precision asked for. */
  cfg.precision = precision;
#if defined(MCTX_HAVE_CUDA)
  if (m && m->device && ((const mctx_cuda_model *)m->device)->kind == MCTX_CUDA_MODEL_MLP) {
    mctx_cuda_mlp *net = (mctx_cuda_mlp *)((const mctx_cuda_model *)m->device)->mlp;
    net->precision = strcmp(precision, "fp16") == 0 ? MCTX_CUDA_FP16 : strcmp(precision, "bf16") == 0 ? MCTX_CUDA_BF16
                                                                                                         : MCTX_CUDA_FP32;
    net->aligned = aligned;
  }
#else
  (void)aligned;
#endif
  cfg.partition = db->partition && strcmp(db->partition, "search") == 0 ? MCTX_DIST_PARTITION_SEARCH
                                                                         : MCTX_DIST_PARTITION_BATCH;
  if (db->merge && mctx_dist_merge_parse(db->merge, &cfg.merge) != 0) {
    mctx_cli_error("bench", "--merge must be sum_visits, max_value or consensus");
    rc = 2;
  }
  if (rc == 0)
    cfg.num_devices = db->num_devices > 0 ? db->num_devices : mctx_dist_mesh_num_devices(mesh, cfg.device, m->info.engines);
  int32_t *action = malloc((size_t)B * sizeof(int32_t));
  float *weights = malloc((size_t)B * (size_t)A * sizeof(float));
  double *times = malloc((size_t)repeat * sizeof(double)), *comm = malloc((size_t)repeat * sizeof(double));
  if (rc == 0 && (!action || !weights || !times || !comm)) {
    mctx_cli_error("bench", "out of memory");
    rc = 1;
  }
  /* Every process goes on only if every process could start. */
  if (!mctx_dist_mesh_all(mesh, rc == 0) && rc == 0) rc = 1;
  mctx_root r = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  mctx_dist_stats stats;
  memset(&stats, 0, sizeof stats);
  for (int i = 0; rc == 0 && i < warmup + repeat; i++) {
    mctx_dist_stats_free(&stats);
    double t0 = now_ms();
    if (mctx_dist_search(mesh, &cfg, &p, m, &r, NULL, &res, &stats, &st) != 0) {
      if (rank == 0) mctx_cli_error("bench", "search failed: %s%s%s", st.field, st.field[0] ? ": " : "", st.reason);
      rc = 1;
      break;
    }
    double dt = now_ms() - t0;
    if (i >= warmup) {
      times[i - warmup] = dt;
      comm[i - warmup] = stats.communication_ms;
    }
  }
  if (rc == 0 && rank == 0) {
    double best = 1e300, worst = 0;
    for (int i = 0; i < repeat; i++) {
      best = times[i] < best ? times[i] : best;
      worst = times[i] > worst ? times[i] : worst;
    }
    double median = median_of(times, repeat), comm_median = median_of(comm, repeat);
    double sims = (double)B * S / (median / 1e3);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mib = (double)ru.ru_maxrss / 1024.0;
    if (json) {
      mctx_buf b;
      mctx_buf_init(&b, 1 << 24);
      mctx_jw w;
      mctx_jw_init(&w, &b);
      mctx_dist_stats_json(&w, &stats);
      printf("{\"policy\": \"%s\", \"batch\": %d, \"actions\": %d, \"simulations\": %d, \"model\": \"%s\", "
             "\"engine\": \"%s\", \"threads\": %d, \"repeat\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
             "\"max_ms\": %.4f, \"sims_per_s\": %.1f, \"peak_rss_mib\": %.1f, \"expanded_nodes\": %lld, "
             "\"max_depth_reached\": %d, \"distributed\": true, \"processes\": %d, \"devices\": %d, "
             "\"communication_median_ms\": %.4f, \"last_distributed_stats\": %.*s}\n",
             policy, B, A, S, model_name, engine, threads, repeat, median, best, worst, sims, rss_mib,
             (long long)res.num_expanded_nodes, (int)res.max_depth_reached, mctx_dist_mesh_num_ranks(mesh),
             (int)stats.used_devices, comm_median, (int)b.len, b.data);
      mctx_buf_free(&b);
    } else {
      printf("%s B=%d A=%d S=%d model=%s engine=%s distributed: partition_%s%s%s, %d process%s, %d of %d devices, "
             "transport %s\n",
             policy, B, A, S, model_name, engine, mctx_dist_partition_name(cfg.partition),
             cfg.partition == MCTX_DIST_PARTITION_SEARCH ? " merge " : "",
             cfg.partition == MCTX_DIST_PARTITION_SEARCH ? mctx_dist_merge_name(cfg.merge) : "",
             mctx_dist_mesh_num_ranks(mesh), mctx_dist_mesh_num_ranks(mesh) == 1 ? "" : "es", (int)stats.used_devices,
             (int)stats.present_devices, stats.transport);
      if (stats.reason[0]) printf("  (%s)\n", stats.reason);
      printf("  median %.3f ms (best %.3f, worst %.3f, %d runs)\n  %.0f simulations/s\n"
             "  communication: median %.3f ms per search; last search: roots %.3f ms, merge %.3f ms\n"
             "  peak RSS %.1f MiB (rank 0)\n",
             median, best, worst, repeat, sims, comm_median, stats.roots_ms, stats.merge_ms, rss_mib);
      printf("  last search, device by device:\n");
      for (int32_t d = 0; d < stats.num_devices; d++) {
        const mctx_dist_device_stats *ds = &stats.devices[d];
        printf("    %2d  rank %d %-24s %s share %d, ran %d, %.3f ms%s%s\n", (int)ds->index, (int)ds->rank, ds->name,
               cfg.partition == MCTX_DIST_PARTITION_SEARCH ? "simulations" : "elements", (int)ds->share_size,
               (int)ds->ran_size, ds->time_ms, ds->failed ? ", FAILED: " : "", ds->failed ? ds->error : "");
      }
    }
  }
  mctx_dist_stats_free(&stats);
  free(action); free(weights); free(times); free(comm);
  mctx_model_free(m);
  mctx_json_doc_free(pdoc);
  mctx_dist_mesh_free(mesh);
  mctx_dist_shutdown();
  return rc;
}

int mctx_cmd_bench(int argc, char **argv) {
  const char *policy = "gumbel_muzero", *model_name = "synthetic", *engine = "cpu", *model_params = NULL;
  const char *prng = "jax", *precision = "fp32";
  int aligned = 1;
  int B = 1024, A = 64, S = 64, threads = 0, repeat = 10, warmup = 1, json = 0;
  long long seed = 42;
  dist_bench db;
  memset(&db, 0, sizeof db);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { help(); return 0; }
    if (strcmp(a, "--json") == 0) { json = 1; continue; }
    if (strcmp(a, "--distributed") == 0) { db.on = 1; continue; }
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
    else if (strcmp(a, "--precision") == 0) precision = v;
    else if (strcmp(a, "--aligned") == 0) aligned = atoi(v);
    else if (strcmp(a, "--num-devices") == 0) db.num_devices = atoi(v);
    else if (strcmp(a, "--partition") == 0) db.partition = v;
    else if (strcmp(a, "--merge") == 0) db.merge = v;
    else if (strcmp(a, "--gpus") == 0) db.gpus = v;
    else if (strcmp(a, "--cpu-devices") == 0) db.cpu_devices = atoi(v);
    else if (strcmp(a, "--fail-device") == 0) db.fail_device = v;
    else if (strcmp(a, "--nccl") == 0) db.nccl = v;
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
  if (!db.on && (db.num_devices || db.partition || db.merge || db.gpus || db.cpu_devices || db.fail_device || db.nccl)) {
    mctx_cli_error("bench", "--num-devices, --partition, --merge, --gpus, --cpu-devices, --nccl and --fail-device go "
                            "with --distributed");
    return 2;
  }
  if (db.on) {
    if ((db.partition && strcmp(db.partition, "batch") != 0 && strcmp(db.partition, "search") != 0) ||
        (db.nccl && strcmp(db.nccl, "auto") != 0 && strcmp(db.nccl, "off") != 0) || db.num_devices < 0 ||
        db.cpu_devices < 0) {
      mctx_cli_error("bench", "--partition must be batch or search, --nccl auto or off; --num-devices and "
                              "--cpu-devices positive");
      return 2;
    }
    if (db.fail_device) setenv("MCTX_DIST_FAIL_DEVICE", db.fail_device, 1);
    return bench_distributed(&db, policy, pol, B, A, S, model_name, model_params, engine, threads, repeat, warmup,
                             seed, prng, precision, aligned, json);
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
  float *root_logits = NULL, *root_value = NULL;
  void *root_emb = NULL;
  if (!t || !action || !weights || !times) {
    mctx_cli_error("bench", "out of memory");
    rc = 1;
    goto out;
  }
  /* The roots are the model's, made once outside the timing, as
   * shared/bench/bench_mctx.py makes mctx's (a search's input). */
  root_logits = malloc((size_t)B * (size_t)A * sizeof(float));
  root_value = malloc((size_t)B * sizeof(float));
  root_emb = malloc((size_t)B * (size_t)(m->info.embedding_bytes ? m->info.embedding_bytes : 1));
  mctx_status_clear(&st);
  if (!root_logits || !root_value || !root_emb || !m->vt->root ||
      m->vt->root(m->self, B, 0, NULL, root_logits, root_value, root_emb, &st) != 0) {
    mctx_cli_error("bench", "model '%s' made no roots%s%s", model_name, st.reason[0] ? ": " : "", st.reason);
    rc = 1;
    goto out;
  }
  mctx_root r = {B, A, root_logits, root_value, m->info.embedding_bytes ? root_emb : NULL, NULL, NULL};
  mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
#if !defined(MCTX_HAVE_CUDA)
  (void)precision;
  (void)aligned;
#else
  /* The network path's numerics (the request's precision and alignment). */
  if (m->device && ((const mctx_cuda_model *)m->device)->kind == MCTX_CUDA_MODEL_MLP) {
    mctx_cuda_mlp *net = (mctx_cuda_mlp *)((const mctx_cuda_model *)m->device)->mlp;
    net->precision = strcmp(precision, "fp16") == 0 ? MCTX_CUDA_FP16 : strcmp(precision, "bf16") == 0 ? MCTX_CUDA_BF16
                                                                                                         : MCTX_CUDA_FP32;
    net->aligned = aligned;
  }
#endif
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
  char gpu[512] = "";
#if defined(MCTX_HAVE_CUDA)
  if (mctx_engine_is_cuda(e)) {
    mctx_cuda_memory mem;
    mctx_engine_cuda_memory(e, &mem);
    snprintf(gpu, sizeof gpu,
             ", \"device\": \"%s\", \"path\": \"%s\", \"precision\": \"%s\", \"aligned\": %d, "
             "\"device_free_before_mib\": %.1f, \"device_free_after_mib\": %.1f, \"engine_peak_mib\": %.1f, "
             "\"chunk\": %d",
             mem.device_name, mem.last_path ? mem.last_path : "", mem.last_precision, mem.last_aligned,
             (double)mem.free_before / 1048576.0, (double)mem.free_after / 1048576.0,
             (double)mem.peak_bytes / 1048576.0, (int)mem.last_chunk);
  }
#endif
  if (json) {
    printf("{\"policy\": \"%s\", \"batch\": %d, \"actions\": %d, \"simulations\": %d, \"model\": \"%s\", "
           "\"engine\": \"%s\", \"threads\": %d, \"repeat\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
           "\"max_ms\": %.4f, \"sims_per_s\": %.1f, \"peak_rss_mib\": %.1f, \"expanded_nodes\": %lld, "
           "\"max_depth_reached\": %d%s}\n",
           policy, B, A, S, model_name, engine, nthreads, repeat, median, times[0], times[repeat - 1], sims, rss_mib,
           (long long)res.num_expanded_nodes, (int)res.max_depth_reached, gpu);
  } else {
    printf("%s B=%d A=%d S=%d model=%s engine=%s", policy, B, A, S, model_name, engine);
    if (nthreads) printf(" threads=%d", nthreads);
    printf("\n  median %.3f ms (best %.3f, worst %.3f, %d runs)\n  %.0f simulations/s\n  peak RSS %.1f MiB\n", median,
           times[0], times[repeat - 1], repeat, sims, rss_mib);
  }
out:
  free(action); free(weights); free(times);
  free(root_logits); free(root_value); free(root_emb);
  mctx_tree_free(t);
  mctx_model_free(m);
  mctx_json_doc_free(pdoc);
  mctx_api_engines_close(&env);
  return rc;
}
