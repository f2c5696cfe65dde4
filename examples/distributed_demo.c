/* examples/distributed_demo.c: the product notes' distributed demo.
 *
 * Runs the same batched search on 1, 2, 4, ... devices of the mesh and prints
 * a table: time, speedup over one device, parallel efficiency, time spent
 * communicating, simulations per second, and whether the result equals the
 * one-device result (partition_batch must give the same bits).
 *
 *   build/distributed_demo                         CPU devices of this process
 *   build/distributed_demo --devices 1,2 --batch 2048
 *   mpirun -np 4 build/distributed_demo            a device per MPI process
 *   build/distributed_demo --partition search      root parallelism
 *
 * On a machine with GPUs each GPU is a device (--gpus none keeps to the CPU).
 * Only rank 0 prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mctx/dist.h"
#include "mctx/registry.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void usage(void) {
  printf("usage: distributed_demo [--policy P] [--batch B] [--actions A] [--simulations S]\n"
         "                        [--model NAME] [--devices 1,2,4] [--partition batch|search]\n"
         "                        [--merge sum_visits|max_value|consensus] [--repeat R]\n"
         "                        [--cpu-devices N] [--threads N] [--gpus auto|none|LIST]\n");
}

int main(int argc, char **argv) {
  const char *policy = "gumbel_muzero", *model_name = "synthetic", *devices = NULL, *partition = "batch";
  const char *merge = "sum_visits", *gpus = NULL;
  int B = 1024, A = 64, S = 64, repeat = 5, cpu_devices = 0, threads = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(); return 0; }
    if (!v) { usage(); return 2; }
    if (strcmp(a, "--policy") == 0) policy = v;
    else if (strcmp(a, "--batch") == 0) B = atoi(v);
    else if (strcmp(a, "--actions") == 0) A = atoi(v);
    else if (strcmp(a, "--simulations") == 0) S = atoi(v);
    else if (strcmp(a, "--model") == 0) model_name = v;
    else if (strcmp(a, "--devices") == 0) devices = v;
    else if (strcmp(a, "--partition") == 0) partition = v;
    else if (strcmp(a, "--merge") == 0) merge = v;
    else if (strcmp(a, "--repeat") == 0) repeat = atoi(v);
    else if (strcmp(a, "--cpu-devices") == 0) cpu_devices = atoi(v);
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else if (strcmp(a, "--gpus") == 0) gpus = v;
    else { usage(); return 2; }
    i++;
  }
  if (B < 1 || A < 1 || S < 1 || repeat < 1) { usage(); return 2; }
  int counts[16], ncounts = 0;
  for (const char *p = devices ? devices : "1,2,4,8"; *p && ncounts < 16;) {
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || n < 1) { usage(); return 2; }
    counts[ncounts++] = (int)n;
    p = *end == ',' ? end + 1 : end;
  }
  int most = 1;
  for (int i = 0; i < ncounts; i++) most = counts[i] > most ? counts[i] : most;

  mctx_status st;
  mctx_dist_mesh_options mo;
  mctx_dist_mesh_options_init(&mo);
  mo.gpus = gpus;
  mo.cpu_threads = threads;
  /* One process without MPI: as many CPU devices as the largest count. */
  mo.cpu_devices = cpu_devices > 0 ? cpu_devices : 1;
  mctx_dist_mesh *mesh = NULL;
  if (mctx_dist_mesh_new(&mo, &mesh, &st) != 0) {
    fprintf(stderr, "distributed_demo: %s\n", st.reason);
    return 1;
  }
  if (cpu_devices <= 0 && mctx_dist_mesh_num_ranks(mesh) == 1 &&
      mctx_dist_mesh_num_devices(mesh, MCTX_DIST_DEVICE_AUTO, MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA) < most) {
    mctx_dist_mesh_free(mesh);
    mo.cpu_devices = most;
    if (mctx_dist_mesh_new(&mo, &mesh, &st) != 0) {
      fprintf(stderr, "distributed_demo: %s\n", st.reason);
      return 1;
    }
  }
  int rank = mctx_dist_mesh_rank(mesh);

  mctx_search_params p;
  mctx_policy pol = strcmp(policy, "muzero") == 0 ? MCTX_POLICY_MUZERO
                    : strcmp(policy, "stochastic_muzero") == 0 ? MCTX_POLICY_STOCHASTIC_MUZERO
                                                               : MCTX_POLICY_GUMBEL_MUZERO;
  mctx_search_params_init(&p, pol);
  p.num_simulations = S;
  p.key = mctx_prng_key(42);
  mctx_model_ctx mc = {A, B, p.prng};
  mctx_model *model = NULL;
  if (mctx_model_create(model_name, NULL, &mc, &model, &st) != 0) {
    fprintf(stderr, "distributed_demo: %s: %s\n", st.field, st.reason);
    mctx_dist_mesh_free(mesh);
    mctx_dist_shutdown();
    return 1;
  }
  int present = mctx_dist_mesh_num_devices(mesh, MCTX_DIST_DEVICE_AUTO, model->info.engines);
  int32_t *action = malloc((size_t)B * sizeof(int32_t) * 2);
  float *weights = malloc((size_t)B * (size_t)A * sizeof(float) * 2);
  double *times = malloc((size_t)repeat * sizeof(double));
  if (!action || !weights || !times) return 1;
  int32_t *action1 = action + B;
  float *weights1 = weights + (size_t)B * (size_t)A;
  mctx_root root = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_dist_config cfg;
  mctx_dist_config_init(&cfg);
  cfg.partition = strcmp(partition, "search") == 0 ? MCTX_DIST_PARTITION_SEARCH : MCTX_DIST_PARTITION_BATCH;
  if (mctx_dist_merge_parse(merge, &cfg.merge) != 0) { usage(); return 2; }

  if (rank == 0) {
    printf("%s, model %s, batch %d, %d actions, %d simulations, partition_%s%s%s\n", policy, model_name, B, A, S,
           partition, cfg.partition == MCTX_DIST_PARTITION_SEARCH ? ", merge " : "",
           cfg.partition == MCTX_DIST_PARTITION_SEARCH ? merge : "");
    int np = mctx_dist_mesh_num_ranks(mesh);
    printf("%d process%s, %d devices present, median of %d runs\n\n", np, np == 1 ? "" : "es", present, repeat);
    printf("%8s %10s %8s %10s %8s %12s %9s  %s\n", "devices", "time_ms", "speedup", "efficiency", "comm_ms",
           "sims/s", "same", "transport");
  }
  double base = 0.0;
  int rc = 0;
  for (int c = 0; c < ncounts && rc == 0; c++) {
    if (counts[c] > present) {
      if (rank == 0) printf("%8d %10s   (only %d devices present)\n", counts[c], "-", present);
      continue;
    }
    cfg.num_devices = counts[c];
    mctx_dist_stats stats;
    double comm = 0.0;
    const char *transport = "";
    char tbuf[16] = "";
    for (int i = 0; i < repeat + 1 && rc == 0; i++) {
      mctx_result res = {action, weights, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
      double t0 = now_ms();
      rc = mctx_dist_search(mesh, &cfg, &p, model, &root, NULL, &res, &stats, &st);
      double dt = now_ms() - t0;
      if (rc) break;
      if (i > 0) {
        times[i - 1] = dt;
        comm += stats.communication_ms;
      }
      snprintf(tbuf, sizeof tbuf, "%s", stats.transport);
      transport = tbuf;
      mctx_dist_stats_free(&stats);
    }
    if (rc) {
      if (rank == 0) fprintf(stderr, "distributed_demo: %s: %s\n", st.field, st.reason);
      break;
    }
    qsort(times, (size_t)repeat, sizeof(double), cmp_double);
    double med = repeat % 2 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
    const char *same = "-";
    if (c == 0) {
      base = med * counts[c];
      memcpy(action1, action, (size_t)B * sizeof(int32_t));
      memcpy(weights1, weights, (size_t)B * (size_t)A * sizeof(float));
    } else if (cfg.partition == MCTX_DIST_PARTITION_BATCH) {
      same = memcmp(action1, action, (size_t)B * sizeof(int32_t)) == 0 &&
                     memcmp(weights1, weights, (size_t)B * (size_t)A * sizeof(float)) == 0
                 ? "yes"
                 : "NO";
    }
    double speedup = base / med;
    if (rank == 0)
      printf("%8d %10.2f %8.2f %9.0f%% %8.2f %12.0f %9s  %s\n", counts[c], med, speedup,
             100.0 * speedup / counts[c], comm / repeat, (double)B * S / (med / 1e3), same, transport);
  }
  free(action);
  free(weights);
  free(times);
  mctx_model_free(model);
  mctx_dist_mesh_free(mesh);
  mctx_dist_shutdown();
  return rc ? 1 : 0;
}
