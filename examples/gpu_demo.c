/* examples/gpu_demo.c: the product notes' GPU optimization demo.
 *
 * Runs one batched gumbel_muzero search with the `mlp` network (a MuZero-style
 * dynamics and prediction network, weights drawn from a seed) on the GPU in
 * fp32, fp16 and bf16, with dimensions padded to tensor-core multiples and
 * without, and prints for each: the median time, simulations per second, how
 * many elements chose the fp32 search's action, and the memory report (the
 * device's memory, free before and after, the engine's peak, the launch's
 * chunk). The CPU engine's fp32 search runs first as the reference.
 *
 *   build/gpu_demo                               batch 1024, 64 actions, 64 sims
 *   build/gpu_demo --batch 256 --emb 64 --hidden 128 --repeat 5
 *
 * Without a usable GPU it runs the CPU reference alone and says why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mctx/cuda.h"
#include "mctx/engine.h"
#include "mctx/json.h"
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

typedef struct run {
  int32_t *action;
  double median_ms;
} run;

/* repeat searches of the same roots (after one warm-up); the median time and
 * the last actions */
static int measure(mctx_engine *e, const mctx_search_params *p, const mctx_model *m, const mctx_root *roots,
                   int repeat, run *out, mctx_status *st) {
  mctx_root root = *roots;
  mctx_result res = {out->action, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  double *t = calloc((size_t)repeat, sizeof *t);
  if (!t) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  int rc = mctx_engine_search(e, p, m, &root, 0, NULL, &res, st);
  for (int i = 0; rc == 0 && i < repeat; i++) {
    double t0 = now_ms();
    rc = mctx_engine_search(e, p, m, &root, 0, NULL, &res, st);
    t[i] = now_ms() - t0;
  }
  if (rc == 0) {
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    out->median_ms = t[repeat / 2];
  }
  free(t);
  return rc;
}

static void usage(void) {
  printf("usage: gpu_demo [--batch B] [--actions A] [--simulations S] [--emb E] [--hidden H]\n"
         "                [--repeat R] [--device N]\n");
}

int main(int argc, char **argv) {
  int B = 1024, A = 64, S = 64, emb = 128, hidden = 256, repeat = 10, device = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(); return 0; }
    if (!v) { usage(); return 2; }
    if (strcmp(a, "--batch") == 0) B = atoi(v);
    else if (strcmp(a, "--actions") == 0) A = atoi(v);
    else if (strcmp(a, "--simulations") == 0) S = atoi(v);
    else if (strcmp(a, "--emb") == 0) emb = atoi(v);
    else if (strcmp(a, "--hidden") == 0) hidden = atoi(v);
    else if (strcmp(a, "--repeat") == 0) repeat = atoi(v);
    else if (strcmp(a, "--device") == 0) device = atoi(v);
    else { usage(); return 2; }
    i++;
  }
  if (B < 1 || A < 2 || S < 1 || emb < 1 || hidden < 1 || repeat < 1) { usage(); return 2; }

  mctx_status st;
  char params[128];
  snprintf(params, sizeof params, "{\"seed\": 0, \"emb\": %d, \"hidden\": %d}", emb, hidden);
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, &st);
  mctx_model_ctx ctx = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  if (!doc || mctx_model_create("mlp", mctx_json_root(doc), &ctx, &m, &st) != 0) {
    fprintf(stderr, "gpu_demo: the mlp model: %s: %s\n", st.field, st.reason);
    return 1;
  }
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_GUMBEL_MUZERO);
  p.num_simulations = S;
  p.key = mctx_prng_key(0);

  printf("gumbel_muzero, mlp network (emb %d, hidden %d), batch %d, %d actions, %d simulations, median of %d\n\n",
         emb, hidden, B, A, S, repeat);
  /* The roots (the network's prediction on states drawn from the seed),
   * computed once on the CPU, as a caller's representation network would
   * hand them over; the searches below are what is timed. */
  int32_t E = m->info.embedding_bytes / 4;
  float *logits = malloc((size_t)B * (size_t)A * sizeof(float)), *value = malloc((size_t)B * sizeof(float));
  float *embedding = malloc((size_t)B * (size_t)E * sizeof(float));
  if (!logits || !value || !embedding || m->vt->root(m->self, B, 0, NULL, logits, value, embedding, &st) != 0) {
    fprintf(stderr, "gpu_demo: roots: %s\n", st.reason);
    return 1;
  }
  mctx_root roots = {B, A, logits, value, embedding, NULL, NULL};
  run ref = {malloc((size_t)B * sizeof(int32_t)), 0};
  run cur = {malloc((size_t)B * sizeof(int32_t)), 0};
  mctx_engine *cpu = mctx_engine_cpu_new(0, &st);
  int rc = cpu ? measure(cpu, &p, m, &roots, repeat < 3 ? repeat : 3, &ref, &st) : st.code;
  mctx_engine_free(cpu);
  if (rc != 0) {
    fprintf(stderr, "gpu_demo: CPU search: %s\n", st.reason);
    return 1;
  }
  printf("%-22s %10s %14s %12s\n", "engine / precision", "median ms", "simulations/s", "same action");
  printf("%-22s %10.3f %14.0f %12s\n", "cpu fp32 (reference)", ref.median_ms,
         (double)B * S / (ref.median_ms / 1e3), "-");

  mctx_engine *gpu = mctx_engine_cuda_new(device, &st);
  if (!gpu) {
    printf("\nno GPU run: %s\n", st.reason);
    free(ref.action); free(cur.action); free(logits); free(value); free(embedding);
    mctx_model_free(m);
    mctx_json_doc_free(doc);
    return 0;
  }
  static const char *const names[] = {"fp32", "fp16", "bf16"};
  mctx_cuda_memory mem[6];
  memset(mem, 0, sizeof mem);
  int status = 0;
  for (int prec = 0; prec < 3; prec++) {
    for (int aligned = 1; aligned >= 0; aligned--) {
      char label[32];
      snprintf(label, sizeof label, "gpu %s%s", names[prec], aligned ? " aligned" : "");
      if (mctx_model_set_gpu_numerics(m, prec, aligned, &st) != 0 ||
          measure(gpu, &p, m, &roots, repeat, &cur, &st) != 0) {
        printf("%-22s failed: %s\n", label, st.reason);
        status = 1;
        continue;
      }
      int same = 0;
      for (int32_t b = 0; b < B; b++) same += cur.action[b] == ref.action[b];
      mctx_engine_cuda_memory(gpu, &mem[prec * 2 + (1 - aligned)]);
      printf("%-22s %10.3f %14.0f %7d / %d\n", label, cur.median_ms, (double)B * S / (cur.median_ms / 1e3), same,
             B);
    }
  }
  const mctx_cuda_memory *g = &mem[0];
  const double MiB = 1024.0 * 1024.0;
  printf("\nmemory (%s, sm_%d): %.0f MiB on the device\n", g->device_name, g->compute_capability,
         (double)g->total_bytes / MiB);
  printf("%-22s %14s %14s %14s %8s\n", "run", "free before", "free after", "engine peak", "chunk");
  for (int i = 0; i < 6; i++) {
    const mctx_cuda_memory *x = &mem[i];
    if (!x->last_precision[0]) continue; /* that run failed */
    char label[32];
    snprintf(label, sizeof label, "gpu %s%s", x->last_precision, x->last_aligned ? " aligned" : "");
    printf("%-22s %10.1f MiB %10.1f MiB %10.1f MiB %8d\n", label, (double)x->free_before / MiB,
           (double)x->free_after / MiB, (double)x->peak_bytes / MiB, (int)x->last_chunk);
  }
  mctx_engine_free(gpu);
  free(ref.action);
  free(cur.action);
  free(logits);
  free(value);
  free(embedding);
  mctx_model_free(m);
  mctx_json_doc_free(doc);
  return status;
}
