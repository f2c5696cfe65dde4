/* tests/dist/test-nccl.c: the distributed search on GPUs, through NCCL.
 *
 * The same tests as test-dist.c, with every device a GPU (the CUDA engine)
 * and the results gathered by NCCL, checked against the CUDA engine alone on
 * GPU 0. Without a GPU (or without NCCL in the build) every test skips and
 * says why. Under `mpirun -np N` with a GPU per process the exchange is NCCL
 * across processes; processes sharing a GPU exchange over MPI. */
#include "mctx/cuda.h"
#include "mctx/engine.h"

static const char *gpu_missing(void);
#define SUITE_KIND MCTX_DIST_DEVICE_GPU
#define SUITE_SKIP_REASON gpu_missing
#include "dist-suite.h"

static mctx_engine *suite_ref_engine(void) {
  static mctx_engine *e;
  if (!e) e = mctx_engine_cuda_new(0, NULL);
  return e;
}

/* Why the NCCL path cannot run here, or NULL: every process needs a GPU. */
static const char *gpu_missing(void) {
  static char why[600];
  if (!mctx_dist_have_nccl()) return "this build has no NCCL: the NCCL path cannot run";
  if (!mesh()) {
    snprintf(why, sizeof why, "no mesh: %s", g_mesh_error);
    return why;
  }
  for (int r = 0; r < mctx_dist_mesh_num_ranks(mesh()); r++)
    if (mesh()->ranks[r].ngpus == 0) {
      snprintf(why, sizeof why, "no GPU in process %d, the NCCL path cannot run (%s)", r, mesh()->ranks[r].no_gpu);
      return why;
    }
  return NULL;
}

/* Every device of a search is a GPU, and the exchange is NCCL's wherever each
 * process has GPUs of its own. */
TEST(nccl_carries_the_exchange) {
  NEED_MESH();
  fixture f;
  fixture_init(&f, MCTX_POLICY_GUMBEL_MUZERO, 8, 4, 8, 0, 0);
  mctx_dist_config cfg = config(present(f.model), MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  outcome o;
  run_dist(&cfg, &f.p, f.model, &f.root, 0, &o);
  int rc = o.rc;
  char transport[16], kind[8];
  snprintf(transport, sizeof transport, "%s", o.stats.transport);
  snprintf(kind, sizeof kind, "%s", o.stats.num_devices ? o.stats.devices[0].kind : "");
  outcome_free(&o);
  fixture_free(&f);
  ASSERT_EQ(rc, 0);
  ASSERT_STREQ(kind, "gpu");
  if (mctx_dist_mesh_uses_nccl(mesh())) ASSERT(strstr(transport, "nccl") != NULL);
  else fprintf(stderr, "note: no NCCL communicator: %s\n", mctx_dist_mesh_nccl_reason(mesh()));
}

/* Distributed and reduced precision at once: the mlp network on every GPU of
 * the mesh in bf16 (the network's numerics set on the model, as the API sets
 * them from the request), and each device says it ran bf16. The tree stays
 * fp32: visits still sum to the simulations. */
TEST(reduced_precision_on_every_gpu) {
  NEED_MESH();
  const int32_t B = 24, A = 8, S = 12;
  mctx_status st;
  const char *params = "{\"seed\": 4, \"emb\": 16, \"hidden\": 32}";
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, &st);
  mctx_model_ctx mc = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  ASSERT_EQ(mctx_model_create("mlp", mctx_json_root(doc), &mc, &m, &st), 0);
  ASSERT_EQ(mctx_model_set_gpu_numerics(m, MCTX_CUDA_BF16, 1, &st), 0);
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_GUMBEL_MUZERO);
  p.num_simulations = S;
  mctx_root root = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_dist_config cfg = config(present(m), MCTX_DIST_PARTITION_BATCH, MCTX_DIST_MERGE_SUM_VISITS);
  cfg.precision = "bf16";
  outcome o;
  run_dist(&cfg, &p, m, &root, 0, &o);
  int ok = o.rc == 0;
  if (!ok) fprintf(stderr, "distributed bf16 search: %s: %s\n", o.st.field, o.st.reason);
  int devices = ok ? o.stats.num_devices : 0, bf16 = 0;
  for (int i = 0; i < devices; i++) bf16 += strcmp(o.stats.devices[i].precision, "bf16") == 0;
  int sums = 1;
  for (int32_t b = 0; ok && b < B; b++) {
    float sum = 0;
    for (int32_t a = 0; a < A; a++) sum += o.visit_counts[(size_t)b * A + a];
    sums &= (int)sum == S;
  }
  fprintf(stderr, "%d of %d devices ran bf16\n", bf16, devices);
  outcome_free(&o);
  mctx_model_free(m);
  mctx_json_doc_free(doc);
  ASSERT(ok);
  ASSERT(devices >= 1);
  ASSERT_EQ(bf16, devices);
  ASSERT(sums);
}
