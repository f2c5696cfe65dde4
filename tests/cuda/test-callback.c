/* tests/cuda/test-callback.c: a model that brings its own device step
 * (MCTX_CUDA_MODEL_CALLBACK, include/mctx/cuda.h). The step here is the
 * `synthetic` environment's, as a kernel of the test's own
 * (syn-device-step.cu) launched on the engine's stream; the engine's callback
 * path must then give the CPU engine's results for the built-in model bit for
 * bit: every policy it runs, 1 to 12 children per lane, invalid actions,
 * max_depth, the returned tree. A step that fails, or returns NaN, fails the
 * search with a clear error. Without a GPU every test skips and says why. */
#include "test.h"

#include "mctx/cuda.h"
#include "mctx/engine.h"
#include "mctx/registry.h"
#include "models/games.h"
#include "test-callback.h"

static mctx_engine *gpu;
static char why[512];

static int setup(void) {
  if (gpu) return 1;
  if (why[0]) return 0;
  mctx_status st;
  gpu = mctx_engine_cuda_new(-1, &st);
  if (!gpu) snprintf(why, sizeof why, "no usable GPU (%s): the callback path is not checked here", st.reason);
  return gpu != NULL;
}

#define NEED_GPU() do { if (!setup()) SKIP("%s", why); } while (0)

/* The device model: roots from the built-in model (on the host), steps from
 * the test's kernel. */
static int dev_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                    void *emb_out, mctx_status *st) {
  const mctx_model *syn = self;
  return syn->vt->root(syn->self, n, first, emb_in, logits, value, emb_out, st);
}

static const mctx_model_vtable DEV_VT = {MCTX_MODEL_ABI_VERSION, "synthetic_device", NULL, dev_root, NULL, NULL,
                                         NULL};

static mctx_model *builtin(int32_t A, int32_t B) {
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse("{}", 2, NULL, &st);
  mctx_model_ctx ctx = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  if (mctx_model_create("synthetic", mctx_json_root(doc), &ctx, &m, &st) != 0) m = NULL;
  mctx_json_doc_free(doc);
  return m;
}

typedef struct outcome {
  int32_t action[64];
  float weights[64 * 300], root_value[64], visits[64 * 300], q[64 * 300];
} outcome;

static int run(mctx_engine *e, const mctx_search_params *p, const mctx_model *m, int32_t B, int32_t A,
               const uint8_t *invalid, mctx_tree *tree, outcome *o, mctx_status *st) {
  mctx_root root = {B, A, NULL, NULL, NULL, invalid, NULL};
  mctx_result res = {o->action, o->weights, o->root_value, o->visits, NULL, o->q, NULL, 0, 0, NULL};
  return mctx_engine_search(e, p, m, &root, 0, tree, &res, st);
}

/* Whether two trees are the same bits wherever a node was expanded (a slot
 * left unused, as at max_depth, holds whatever its engine left there). */
static const char *tree_differs(const mctx_tree *x, const mctx_tree *y) {
  size_t nodes = (size_t)x->batch_size * (size_t)x->num_nodes, A = (size_t)x->num_actions, E = (size_t)x->embedding_bytes;
  if (memcmp(x->node_visits, y->node_visits, nodes * 4)) return "node_visits";
  for (size_t i = 0; i < nodes; i++) {
    if (!x->node_visits[i]) continue;
    if (memcmp(&x->node_values[i], &y->node_values[i], 4) || memcmp(&x->raw_values[i], &y->raw_values[i], 4))
      return "node_values";
    if (x->parents[i] != y->parents[i] || x->action_from_parent[i] != y->action_from_parent[i]) return "parents";
    if (memcmp(x->children_index + i * A, y->children_index + i * A, A * 4)) return "children_index";
    if (memcmp(x->children_visits + i * A, y->children_visits + i * A, A * 4)) return "children_visits";
    if (memcmp(x->children_values + i * A, y->children_values + i * A, A * 4)) return "children_values";
    if (memcmp(x->children_prior_logits + i * A, y->children_prior_logits + i * A, A * 4)) return "prior_logits";
    if (memcmp(x->embeddings + i * E, y->embeddings + i * E, E)) return "embeddings";
  }
  return NULL;
}

TEST(callback_step_gives_the_builtin_trees) {
  NEED_GPU();
  static outcome cpu_out, gpu_out;
  const int32_t actions[] = {20, 50, 100, 300};
  mctx_engine *cpu = mctx_engine_cpu_new(2, NULL);
  ASSERT(cpu);
  int cases = 0;
  for (int ai = 0; ai < 4; ai++) {
    for (int pol = 0; pol < 2; pol++) {
      for (int variant = 0; variant < 2; variant++) {
        const int32_t A = actions[ai], B = 19;
        mctx_status st;
        mctx_model *syn = builtin(A, B);
        ASSERT(syn);
        syn_device_cfg cfg = {A, 0, 0};
        mctx_cuda_model dm;
        memset(&dm, 0, sizeof dm);
        dm.kind = MCTX_CUDA_MODEL_CALLBACK;
        dm.step = syn_device_step;
        dm.self = &cfg;
        mctx_model dev = *syn;
        dev.vt = &DEV_VT;
        dev.self = syn;
        dev.device = &dm;
        dev.info.engines = MCTX_ENGINE_CUDA;
        mctx_search_params p;
        mctx_search_params_init(&p, pol ? MCTX_POLICY_GUMBEL_MUZERO : MCTX_POLICY_MUZERO);
        p.num_simulations = 30 + ai;
        p.key = mctx_prng_key(100 + ai * 4 + pol * 2 + variant);
        uint8_t invalid[19 * 300];
        memset(invalid, 0, sizeof invalid);
        if (variant) {
          p.max_depth = 4;
          for (int32_t i = 0; i < B * A; i++) invalid[i] = (i * 7) % 5 == 0 && (i % A) != 1;
        }
        mctx_tree *ct = mctx_tree_new(B, p.num_simulations + 1, A, A, 4, 0, pol, &st);
        mctx_tree *gt = mctx_tree_new(B, p.num_simulations + 1, A, A, 4, 0, pol, &st);
        ASSERT(ct && gt);
        if (run(cpu, &p, syn, B, A, variant ? invalid : NULL, ct, &cpu_out, &st) != 0)
          FAIL_AT("cpu: %s: %s", st.field, st.reason);
        if (run(gpu, &p, &dev, B, A, variant ? invalid : NULL, gt, &gpu_out, &st) != 0)
          FAIL_AT("gpu callback (A=%d policy %d): %s: %s", A, pol, st.field, st.reason);
        ASSERT(memcmp(cpu_out.action, gpu_out.action, (size_t)B * 4) == 0);
        ASSERT(memcmp(cpu_out.weights, gpu_out.weights, (size_t)B * (size_t)A * 4) == 0);
        ASSERT(memcmp(cpu_out.visits, gpu_out.visits, (size_t)B * (size_t)A * 4) == 0);
        ASSERT(memcmp(cpu_out.root_value, gpu_out.root_value, (size_t)B * 4) == 0);
        ASSERT(memcmp(cpu_out.q, gpu_out.q, (size_t)B * (size_t)A * 4) == 0);
        const char *d = tree_differs(ct, gt);
        if (d) FAIL_AT("A=%d policy %d variant %d: the trees differ in %s", A, pol, variant, d);
        mctx_cuda_memory mem;
        mctx_engine_cuda_memory(gpu, &mem);
        ASSERT_STREQ(mem.last_path, "callback");
        mctx_tree_free(ct);
        mctx_tree_free(gt);
        mctx_model_free(syn);
        cases++;
      }
    }
  }
  fprintf(stderr, "%d searches through the callback path, bit-identical to the CPU engine's\n", cases);
  mctx_engine_free(cpu);
}

TEST(failing_or_nonfinite_steps_fail_the_search) {
  NEED_GPU();
  static outcome out;
  const int32_t A = 8, B = 5;
  mctx_status st;
  mctx_model *syn = builtin(A, B);
  ASSERT(syn);
  syn_device_cfg cfg = {A, 1, 0};
  mctx_cuda_model dm;
  memset(&dm, 0, sizeof dm);
  dm.kind = MCTX_CUDA_MODEL_CALLBACK;
  dm.step = syn_device_step;
  dm.self = &cfg;
  mctx_model dev = *syn;
  dev.vt = &DEV_VT;
  dev.self = syn;
  dev.device = &dm;
  dev.info.engines = MCTX_ENGINE_CUDA;
  mctx_search_params p;
  mctx_search_params_init(&p, MCTX_POLICY_MUZERO);
  p.num_simulations = 6;
  ASSERT_EQ(run(gpu, &p, &dev, B, A, NULL, NULL, &out, &st), MCTX_EMODEL);
  ASSERT_CONTAINS(st.reason, "failing on purpose");
  cfg.fail = 0;
  cfg.poison = 1;
  ASSERT_EQ(run(gpu, &p, &dev, B, A, NULL, NULL, &out, &st), MCTX_EMODEL);
  ASSERT_CONTAINS(st.reason, "non-finite");
  /* the engine is still good afterwards */
  cfg.poison = 0;
  ASSERT_EQ(run(gpu, &p, &dev, B, A, NULL, NULL, &out, &st), 0);
  /* a callback model without a step is refused */
  dm.step = NULL;
  ASSERT_EQ(run(gpu, &p, &dev, B, A, NULL, NULL, &out, &st), MCTX_EINVALID);
  mctx_model_free(syn);
}

/* The built-in games on the GPU (MCTX_CUDA_MODEL_GAME: their rules compiled
 * for the device, run as a model step): the CPU engine's trees, bit for bit,
 * rollouts and the tactical prior included, with the illegal moves masked at
 * the root as the arena does. */
static void game_case(const char *name, const char *params, int32_t B, int policy, int32_t S) {
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, &st);
  mctx_model_ctx ctx = {0, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  if (!doc || mctx_model_create(name, mctx_json_root(doc), &ctx, &m, &st) != 0) FAIL_AT("%s: %s", name, st.reason);
  const int32_t A = m->info.num_actions, E = m->info.embedding_bytes;
  float *logits = malloc((size_t)B * (size_t)A * 4), *value = malloc((size_t)B * 4);
  uint8_t *emb = malloc((size_t)B * (size_t)E), *invalid = malloc((size_t)B * (size_t)A);
  ASSERT_EQ(m->vt->root(m->self, B, 0, NULL, logits, value, emb, &st), 0);
  ASSERT_EQ(mctx_game_invalid_actions(m, B, emb, invalid, &st), 0);
  mctx_search_params p;
  mctx_search_params_init(&p, policy ? MCTX_POLICY_GUMBEL_MUZERO : MCTX_POLICY_MUZERO);
  p.num_simulations = S;
  p.key = mctx_prng_key(7 + policy);
  mctx_root root = {B, A, logits, value, emb, invalid, NULL};
  static outcome c, g;
  mctx_result rc_ = {c.action, c.weights, c.root_value, c.visits, NULL, c.q, NULL, 0, 0, NULL};
  mctx_result rg = {g.action, g.weights, g.root_value, g.visits, NULL, g.q, NULL, 0, 0, NULL};
  mctx_tree *ct = mctx_tree_new(B, S + 1, A, A, E, 0, policy, &st), *gt = mctx_tree_new(B, S + 1, A, A, E, 0, policy, &st);
  ASSERT(ct && gt);
  mctx_engine *cpu = mctx_engine_cpu_new(2, &st);
  ASSERT_EQ(mctx_engine_search(cpu, &p, m, &root, 0, ct, &rc_, &st), 0);
  if (mctx_engine_search(gpu, &p, m, &root, 0, gt, &rg, &st) != 0) FAIL_AT("%s on the GPU: %s", name, st.reason);
  mctx_cuda_memory mem;
  mctx_engine_cuda_memory(gpu, &mem);
  ASSERT_STREQ(mem.last_path, "game");
  ASSERT(memcmp(c.action, g.action, (size_t)B * 4) == 0);
  ASSERT(memcmp(c.weights, g.weights, (size_t)B * (size_t)A * 4) == 0);
  ASSERT(memcmp(c.visits, g.visits, (size_t)B * (size_t)A * 4) == 0);
  ASSERT(memcmp(c.root_value, g.root_value, (size_t)B * 4) == 0);
  const char *d = tree_differs(ct, gt);
  if (d) FAIL_AT("%s %s: the trees differ in %s", name, params, d);
  mctx_engine_free(cpu);
  mctx_tree_free(ct);
  mctx_tree_free(gt);
  free(logits); free(value); free(emb); free(invalid);
  mctx_model_free(m);
  mctx_json_doc_free(doc);
}

TEST(games_on_the_gpu_give_the_cpu_trees) {
  NEED_GPU();
  for (int policy = 0; policy < 2; policy++) {
    game_case("tictactoe", "{}", 3, policy, 200);
    game_case("tictactoe", "{\"position\": [\"51\", \"519\", \"1593\"], \"rollout\": \"tactical\"}", 3,
              policy, 120);
    game_case("connect4", "{}", 2, policy, 200);
    game_case("connect4", "{\"position\": [\"4455\", \"123456\"], \"rollouts\": 4, \"seed\": 9}", 2, policy,
              150);
    if (mctx_test_failed_) return;
  }
}
