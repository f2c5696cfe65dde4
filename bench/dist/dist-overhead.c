/* bench/dist/dist-overhead.c: what the distributed layer costs on one device.
 *
 *   build/dist-overhead [cpu|cuda] [BATCH] [SIMULATIONS]
 *
 * In one process, times the same gumbel_muzero search on the synthetic model
 * (64 actions) back to back: on the engine alone (keys implicit, then
 * explicit) and through mctx_dist_search on a mesh of that one device (no
 * NCCL), five sets of nine timed searches each after one warm-up, and prints
 * each set's median. Differences between separate processes (CPU placement,
 * GPU clocks) do not enter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mctx/dist.h"
#include "mctx/registry.h"
#if defined(MCTX_HAVE_CUDA)
#include "mctx/cuda.h"
#endif

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int gpu = argc > 1 && strcmp(argv[1], "cuda") == 0;
  int B = argc > 2 ? atoi(argv[2]) : 4096, A = 64, S = argc > 3 ? atoi(argv[3]) : 64;
  mctx_status st;
  mctx_engine *e = NULL;
#if defined(MCTX_HAVE_CUDA)
  if (gpu) e = mctx_engine_cuda_new(0, &st);
#endif
  if (!gpu) e = mctx_engine_cpu_new(1, &st);
  if (!e) { fprintf(stderr, "dist-overhead: %s\n", gpu ? "no GPU" : st.reason); return 1; }
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_GUMBEL_MUZERO);
  p.num_simulations = S;
  p.key = mctx_prng_key(42);
  mctx_model_ctx mc = {A, B, p.prng};
  mctx_model *m = NULL;
  if (mctx_model_create("synthetic", NULL, &mc, &m, &st) != 0) return 1;
  mctx_elem_key *keys = malloc((size_t)B * sizeof *keys);
  int32_t *act = malloc((size_t)B * sizeof(int32_t));
  float *w = malloc((size_t)B * (size_t)A * sizeof(float));
  mctx_tree *t = gpu ? NULL : mctx_tree_new(B, S + 1, A, A, m->info.embedding_bytes, 0, 1, &st);
  for (int b = 0; b < B; b++) {
    keys[b].key = p.key;
    keys[b].group_size = B;
    keys[b].group_index = b;
  }
  mctx_dist_mesh_options o;
  mctx_dist_mesh_options_init(&o);
  o.nccl = 0;
  o.mpi = 0;
  o.gpus = gpu ? "0" : "none";
  o.cpu_threads = 1;
  mctx_dist_mesh *mesh = NULL;
  if (mctx_dist_mesh_new(&o, &mesh, &st) != 0) { fprintf(stderr, "dist-overhead: %s\n", st.reason); return 1; }
  mctx_dist_config cfg;
  mctx_dist_config_init(&cfg);
  cfg.device = gpu ? MCTX_DIST_DEVICE_GPU : MCTX_DIST_DEVICE_CPU;
  static const char *const names[] = {"engine alone", "engine alone, explicit keys", "mctx_dist_search, 1 device"};
  printf("%s, batch %d, %d actions, %d simulations: median of 9 searches, five sets\n", gpu ? "cuda" : "cpu", B, A, S);
  for (int set = 0; set < 5; set++) {
    for (int mode = 0; mode < 3; mode++) {
      double ts[9];
      for (int i = 0; i < 10; i++) {
        mctx_root r = {B, A, NULL, NULL, NULL, NULL, mode == 1 ? keys : NULL};
        mctx_result res = {act, w, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
        double t0 = now_ms();
        int rc = mode < 2 ? mctx_engine_search(e, &p, m, &r, 0, t, &res, &st)
                          : mctx_dist_search(mesh, &cfg, &p, m, &r, NULL, &res, NULL, &st);
        if (rc) { fprintf(stderr, "dist-overhead: %s\n", st.reason); return 1; }
        if (i) ts[i - 1] = now_ms() - t0;
      }
      qsort(ts, 9, sizeof(double), cmp);
      printf("  set %d  %-30s %8.3f ms\n", set, names[mode], ts[4]);
    }
  }
  mctx_dist_mesh_free(mesh);
  mctx_tree_free(t);
  mctx_engine_free(e);
  mctx_model_free(m);
  free(keys); free(act); free(w);
  mctx_dist_shutdown();
  return 0;
}
