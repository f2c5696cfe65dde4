/* tests/models/test-mlp.c: the `mlp` model (src/models/mlp.c). A tiny
 * network whose outputs are computed by hand in the comments; the PyTorch
 * and flax layouts and F16/BF16 files give the same outputs; a larger
 * network against a plain triple-loop reference; the errors of bad weight
 * files; the model in a search; tools/mctx-mlp-weights and
 * tools/export_mlp.py against the C loader. */
#include "test.h"

#include <unistd.h>

#include "mctx/cuda.h"
#include "mctx/engine.h"
#include "mctx/registry.h"
#include "models/mlp.h"
#include "models/safetensors.h"

/* The tiny network (S = 2, A = 2, one hidden layer of 2 per part), JAX
 * layout [in][out]:
 *   p1   = [[1, -1], [0.5, 2]]          p1.bias   = [0, 0.5]
 *   pout = [[1, 0, 2], [0, 1, -1]]      pout.bias = [0.1, 0, 0]
 *   d1   = [[1, 0], [0, 1], [0.5, -3], [-1, 1]]   (rows: s0, s1, a0, a1)
 *   dout = [[1, 0, 0.5], [0, -1, 1]]    dout.bias = [0, 0, -0.25]
 * Representation (optional): r1 = [[1, 0], [0, 1], [1, 1]], rout = [[0.1, 0], [0, -0.2]]. */
static float P1[] = {1, -1, 0.5f, 2}, P1B[] = {0, 0.5f};
static float POUT[] = {1, 0, 2, 0, 1, -1}, POUTB[] = {0.1f, 0, 0};
static float D1[] = {1, 0, 0, 1, 0.5f, -3, -1, 1};
static float DOUT[] = {1, 0, 0.5f, 0, -1, 1}, DOUTB[] = {0, 0, -0.25f};
static float R1[] = {1, 0, 0, 1, 1, 1}, ROUT[] = {0.1f, 0, 0, -0.2f};

static void transpose(const float *a, int rows, int cols, float *out) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
}

static char tmpdir[64];

static const char *tmp(const char *name) {
  static char path[4][160];
  static int k;
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mctx-mlp-XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
  }
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
  return path[k];
}

/* layout: 0 JAX ("L"), 1 flax ("L.kernel"), 2 PyTorch ("L.weight" [out][in]) */
static int write_tiny(const char *path, int layout, mctx_st_dtype dt, int repr) {
  float tp1[4], tpout[6], td1[8], tdout[6], tr1[6], trout[4];
  transpose(P1, 2, 2, tp1);
  transpose(POUT, 2, 3, tpout);
  transpose(D1, 4, 2, td1);
  transpose(DOUT, 2, 3, tdout);
  transpose(R1, 3, 2, tr1);
  transpose(ROUT, 2, 2, trout);
  const char *sfx = layout == 0 ? "" : layout == 1 ? ".kernel" : ".weight";
  char n[6][32];
  const char *base[6] = {"p1", "pout", "d1", "dout", "r1", "rout"};
  for (int i = 0; i < 6; i++) snprintf(n[i], sizeof n[i], "%s%s", base[i], sfx);
  int t = layout == 2;
  mctx_st_out ts[10] = {
    {n[0], dt, 2, {2, 2}, t ? tp1 : P1},       {"p1.bias", dt, 1, {2}, P1B},
    {n[1], dt, 2, {t ? 3 : 2, t ? 2 : 3}, t ? tpout : POUT}, {"pout.bias", dt, 1, {3}, POUTB},
    {n[2], dt, 2, {t ? 2 : 4, t ? 4 : 2}, t ? td1 : D1},
    {n[3], dt, 2, {t ? 3 : 2, t ? 2 : 3}, t ? tdout : DOUT}, {"dout.bias", dt, 1, {3}, DOUTB},
    {n[4], dt, 2, {t ? 2 : 3, t ? 3 : 2}, t ? tr1 : R1},
    {n[5], dt, 2, {2, 2}, t ? trout : ROUT},
  };
  mctx_status st;
  return mctx_safetensors_write(path, ts, repr ? 9 : 7, NULL, &st);
}

static void check_tiny(const mctx_mlp_weights *w, double tol) {
  mctx_status st;
  float state[4] = {1, 2, 0, 0}, logits[4], value[2];
  ASSERT_EQ(w->state_dim, 2);
  ASSERT_EQ(w->num_actions, 2);
  ASSERT_EQ(mctx_mlp_predict(w, 2, state, logits, value, &st), 0);
  /* state [1, 2]: h = relu([1 + 1, -1 + 4] + [0, 0.5]) = [2, 3.5];
   * out = [2 + 0.1, 3.5, 4 - 3.5] -> logits [2.1, 3.5], value 0.5 */
  ASSERT_NEAR(logits[0], 2.1, tol);
  ASSERT_NEAR(logits[1], 3.5, tol);
  ASSERT_NEAR(value[0], 0.5, tol);
  /* state [0, 0]: h = [0, 0.5]; out = [0.1, 0.5, -0.5] */
  ASSERT_NEAR(logits[2], 0.1, tol);
  ASSERT_NEAR(logits[3], 0.5, tol);
  ASSERT_NEAR(value[1], -0.5, tol);
  /* dynamics from [1, 2]:
   * action 0: x = [1, 2, 1, 0]: h = relu([1, 0] + [0, 2] + [0.5, -3]) = [1.5, 0];
   *   out = [1.5, 0, 0.75 - 0.25] -> next [tanh 1.5, 0] = [0.905148254, 0], reward 0.5
   * action 1: x = [1, 2, 0, 1]: h = relu([1, 0] + [0, 2] + [-1, 1]) = [0, 3];
   *   out = [0, -3, 3 - 0.25] -> next [0, tanh -3] = [0, -0.995054754], reward 2.75 */
  float s2[4] = {1, 2, 1, 2}, next[4], reward[2];
  int32_t actions[2] = {0, 1};
  ASSERT_EQ(mctx_mlp_dynamics(w, 2, s2, actions, next, reward, &st), 0);
  ASSERT_NEAR(next[0], 0.905148254, tol);
  ASSERT_NEAR(next[1], 0.0, tol);
  ASSERT_NEAR(reward[0], 0.5, tol);
  ASSERT_NEAR(next[2], 0.0, tol);
  ASSERT_NEAR(next[3], -0.995054754, tol);
  ASSERT_NEAR(reward[1], 2.75, tol);
  /* prediction at [0.905148254, 0]: h = relu([0.905148, -0.905148 + 0.5]) = [0.905148, 0];
   * out = [1.005148, 0, 1.810297] */
  ASSERT_EQ(mctx_mlp_predict(w, 1, next, logits, value, &st), 0);
  ASSERT_NEAR(logits[0], 1.005148254, tol);
  ASSERT_NEAR(logits[1], 0.0, tol);
  ASSERT_NEAR(value[0], 1.810296508, tol);
  int32_t bad = 2;
  ASSERT_EQ(mctx_mlp_dynamics(w, 1, s2, &bad, next, reward, &st), MCTX_EMODEL);
}

TEST(tiny_network_by_hand) {
  const char *path = tmp("tiny.safetensors");
  ASSERT_EQ(write_tiny(path, 0, MCTX_ST_F32, 0), 0);
  mctx_mlp_weights *w = NULL;
  mctx_status st;
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), 0);
  ASSERT_EQ(w->obs_dim, 0);
  ASSERT_EQ(w->n_pred, 2);
  ASSERT_STREQ(w->dtype, "F32");
  ASSERT_EQ(w->num_params, 4 + 2 + 6 + 3 + 8 + 6 + 3);
  check_tiny(w, 1e-6);
  mctx_mlp_weights_unref(w);
}

TEST(every_layout_and_dtype_gives_the_same_network) {
  for (int layout = 0; layout < 3; layout++)
    for (int d = 0; d < 3; d++) {
      mctx_st_dtype dt = d == 0 ? MCTX_ST_F32 : d == 1 ? MCTX_ST_F16 : MCTX_ST_BF16;
      const char *path = tmp("layout.safetensors");
      ASSERT_EQ(write_tiny(path, layout, dt, 1), 0);
      mctx_mlp_weights *w = NULL;
      mctx_status st;
      if (mctx_mlp_weights_load(path, "weights", &w, &st) != 0) FAIL_AT("layout %d dtype %d: %s", layout, d, st.reason);
      ASSERT_STREQ(w->dtype, mctx_st_dtype_name(dt));
      /* 0.1 and tanh are not exact in F16/BF16: the outputs move a little */
      check_tiny(w, d == 0 ? 1e-6 : d == 1 ? 2e-3 : 2e-2);
      /* representation: obs [1, -1, 2]: h = relu([1 + 2, -1 + 2]) = [3, 1];
       * out = [0.3, -0.2] -> state [tanh 0.3, tanh -0.2] = [0.291312612, -0.197375320] */
      ASSERT_EQ(w->obs_dim, 3);
      float obs[3] = {1, -1, 2}, state[2];
      ASSERT_EQ(mctx_mlp_represent(w, 1, obs, state, &st), 0);
      ASSERT_NEAR(state[0], 0.291312612, d == 0 ? 1e-6 : 2e-3);
      ASSERT_NEAR(state[1], -0.197375320, d == 0 ? 1e-6 : 2e-3);
      mctx_mlp_weights_unref(w);
    }
}

/* A plain reference: y = x @ W + b with loops in double. */
static void ref_dense(const mctx_mlp_layer *L, const float *x, float *y, int relu) {
  for (int32_t o = 0; o < L->out; o++) {
    double s = L->b ? L->b[o] : 0.0;
    for (int32_t i = 0; i < L->in; i++) s += (double)x[i] * L->w[(size_t)i * (size_t)L->out + (size_t)o];
    y[o] = relu && s < 0 ? 0.0f : (float)s;
  }
}

TEST(blas_matches_a_plain_reference) {
  mctx_mlp_weights *w = NULL;
  mctx_status st;
  ASSERT_EQ(mctx_mlp_weights_random(16, 5, 32, 3, MCTX_PRNG_JAX, &w, &st), 0);
  ASSERT_STREQ(w->source, "seed 3 (jax)");
  /* add biases so that they are covered too */
  for (int32_t i = 0; i < w->n_dyn; i++) {
    w->dyn[i].b = malloc((size_t)w->dyn[i].out * sizeof(float));
    for (int32_t o = 0; o < w->dyn[i].out; o++) w->dyn[i].b[o] = 0.01f * (float)(o % 7) - 0.02f;
  }
  enum { N = 9 };
  float state[N * 16], next[N * 16], reward[N], logits[N * 5], value[N];
  int32_t actions[N];
  for (int i = 0; i < N * 16; i++) state[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
  for (int i = 0; i < N; i++) actions[i] = (i * 3) % 5;
  ASSERT_EQ(mctx_mlp_dynamics(w, N, state, actions, next, reward, &st), 0);
  ASSERT_EQ(mctx_mlp_predict(w, N, next, logits, value, &st), 0);
  for (int r = 0; r < N; r++) {
    float x[21], h1[32], h2[32], o[17], p1[32], p2[32], po[6];
    memcpy(x, state + r * 16, 16 * sizeof(float));
    for (int a = 0; a < 5; a++) x[16 + a] = a == actions[r] ? 1.0f : 0.0f;
    ref_dense(&w->dyn[0], x, h1, 1);
    ref_dense(&w->dyn[1], h1, h2, 1);
    ref_dense(&w->dyn[2], h2, o, 0);
    float nx[16];
    for (int i = 0; i < 16; i++) {
      nx[i] = tanhf(o[i]);
      ASSERT_NEAR(next[r * 16 + i], nx[i], 1e-5);
    }
    ASSERT_NEAR(reward[r], o[16], 1e-5);
    ref_dense(&w->pred[0], nx, p1, 1);
    ref_dense(&w->pred[1], p1, p2, 1);
    ref_dense(&w->pred[2], p2, po, 0);
    for (int a = 0; a < 5; a++) ASSERT_NEAR(logits[r * 5 + a], po[a], 1e-5);
    ASSERT_NEAR(value[r], po[5], 1e-5);
  }
  /* generated weights are deterministic, and normal / sqrt(in) */
  mctx_mlp_weights *w2 = NULL;
  ASSERT_EQ(mctx_mlp_weights_random(16, 5, 32, 3, MCTX_PRNG_JAX, &w2, &st), 0);
  ASSERT(memcmp(w->pred[2].w, w2->pred[2].w, 32 * 6 * sizeof(float)) == 0);
  mctx_key ks[8];
  mctx_prng_split(MCTX_PRNG_JAX, mctx_prng_key(3), 8, ks);
  float d1[21 * 32];
  mctx_prng_normal(MCTX_PRNG_JAX, ks[0], 21 * 32, d1);
  ASSERT_NEAR(w2->dyn[0].w[100], d1[100] / sqrtf(21.0f), 0);
  mctx_mlp_weights_unref(w2);
  mctx_mlp_weights_unref(w);
}

static int write_raw(const char *path, const char *header, size_t data_len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint64_t h = strlen(header);
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(h >> (8 * i));
  fwrite(len8, 1, 8, f);
  fwrite(header, 1, h, f);
  for (size_t i = 0; i < data_len; i++) fputc(0, f);
  return fclose(f);
}

TEST(bad_weight_files) {
  mctx_mlp_weights *w = NULL;
  mctx_status st;
  const char *path = tmp("bad.safetensors");
  /* no pout */
  float z[64] = {0};
  mctx_st_out a[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"d1", MCTX_ST_F32, 2, {4, 2}, z}, {"dout", MCTX_ST_F32, 2, {2, 3}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, a, 3, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "models.net.weights", &w, &st), MCTX_EMISSING);
  ASSERT_STREQ(st.field, "models.net.weights");
  ASSERT_CONTAINS(st.reason, "layer 'pout' is missing (no tensor 'pout', 'pout.kernel' or 'pout.weight')");
  /* the dynamics' first layer takes the wrong number of inputs */
  mctx_st_out b[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"pout", MCTX_ST_F32, 2, {2, 3}, z},
                     {"d1", MCTX_ST_F32, 2, {5, 2}, z}, {"dout", MCTX_ST_F32, 2, {2, 3}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, b, 4, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ESHAPE);
  ASSERT_CONTAINS(st.reason, "layer 'd1' takes 5 inputs; the dynamics' first layer takes state + one-hot action = 2 + 2 = 4");
  /* dout with the wrong width; a chain that does not fit; a 3-d tensor; a bias of the wrong size */
  mctx_st_out c[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"pout", MCTX_ST_F32, 2, {2, 3}, z},
                     {"d1", MCTX_ST_F32, 2, {4, 2}, z}, {"dout", MCTX_ST_F32, 2, {2, 4}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, c, 4, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ESHAPE);
  ASSERT_CONTAINS(st.reason, "layer 'dout' has 4 outputs; it needs state + reward = 2 + 1");
  mctx_st_out d[] = {{"p1", MCTX_ST_F32, 2, {2, 3}, z}, {"pout", MCTX_ST_F32, 2, {2, 3}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, d, 2, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ESHAPE);
  ASSERT_CONTAINS(st.reason, "layer 'pout' takes 2 inputs but layer 'p1' before it has 3 outputs");
  mctx_st_out e[] = {{"p1", MCTX_ST_F32, 3, {2, 2, 1}, z}, {"pout", MCTX_ST_F32, 2, {2, 3}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, e, 2, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ESHAPE);
  ASSERT_CONTAINS(st.reason, "tensor 'p1' has shape [2, 2, 1]; a layer is a matrix");
  mctx_st_out f[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"p1.bias", MCTX_ST_F32, 1, {3}, z},
                     {"pout", MCTX_ST_F32, 2, {2, 3}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, f, 3, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ESHAPE);
  ASSERT_CONTAINS(st.reason, "tensor 'p1.bias' must have shape [2]");
  /* names outside the layout; a layer given twice */
  mctx_st_out g[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"value_head", MCTX_ST_F32, 2, {2, 1}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, g, 2, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "tensor 'value_head' is not part of the mlp layout");
  mctx_st_out h[] = {{"p1", MCTX_ST_F32, 2, {2, 2}, z}, {"p1.weight", MCTX_ST_F32, 2, {2, 2}, z}};
  ASSERT_EQ(mctx_safetensors_write(path, h, 2, NULL, &st), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "layer 'p1' is given twice");
  /* a wrong dtype */
  ASSERT_EQ(write_raw(path, "{\"p1\": {\"dtype\": \"I32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
                            " \"pout\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [16, 40]}}", 40), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_ETYPE);
  ASSERT_CONTAINS(st.reason, "tensor 'p1' has dtype I32; mlp weights are F32, F16 or BF16");
  /* a truncated file and a bad header come from the safetensors reader */
  ASSERT_EQ(write_raw(path, "{\"p1\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 10), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "truncated file?");
  ASSERT_EQ(write_raw(path, "{\"p1\": }", 0), 0);
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "not valid JSON");
  ASSERT(!w);
}

static mctx_model *make(const char *params, int32_t A, int32_t B, mctx_status *st) {
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, st);
  if (!doc) return NULL;
  mctx_model_ctx ctx = {A, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  mctx_model_create("mlp", mctx_json_root(doc), &ctx, &m, st);
  mctx_json_doc_free(doc);
  return m;
}

static int search(mctx_model *m, int32_t B, int32_t A, int policy, int32_t *actions, mctx_status *st) {
  mctx_engine *e = mctx_engine_cpu_new(2, st);
  if (!e) return st->code;
  mctx_search_params p;
  mctx_search_params_init(&p, policy ? MCTX_POLICY_GUMBEL_MUZERO : MCTX_POLICY_MUZERO);
  p.num_simulations = 16;
  mctx_root root = {B, A, NULL, NULL, NULL, NULL, NULL};
  mctx_result res = {actions, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  int rc = mctx_engine_search(e, &p, m, &root, 0, NULL, &res, st);
  mctx_engine_free(e);
  return rc;
}

TEST(the_model_in_a_search) {
  mctx_status st;
  /* generated weights: the same request twice gives the same search */
  mctx_model *m = make("{\"seed\": 1, \"emb\": 8, \"hidden\": 16}", 4, 3, &st);
  ASSERT(m);
  ASSERT_EQ(m->info.num_actions, 4);
  ASSERT_EQ(m->info.embedding_bytes, 32);
  const mctx_mlp_weights *w = mctx_mlp_of_model(m);
  ASSERT(w);
  int32_t a1[3], a2[3];
  ASSERT_EQ(search(m, 3, 4, 1, a1, &st), 0);
  mctx_model *m2 = make("{\"seed\": 1, \"emb\": 8, \"hidden\": 16}", 4, 3, &st);
  ASSERT(m2);
  ASSERT(mctx_mlp_of_model(m2) == w); /* shared from the cache */
  ASSERT_EQ(search(m2, 3, 4, 1, a2, &st), 0);
  ASSERT(memcmp(a1, a2, sizeof a1) == 0);
  mctx_model_free(m2);
  /* the default roots are normal(split(PRNGKey(seed), 8)[6], (B, S)) */
  float logits[3 * 4], value[3], emb[3 * 8], row[24];
  ASSERT_EQ(m->vt->root(m->self, 3, 0, NULL, logits, value, emb, &st), 0);
  mctx_key ks[8];
  mctx_prng_split(MCTX_PRNG_JAX, mctx_prng_key(1), 8, ks);
  mctx_prng_normal(MCTX_PRNG_JAX, ks[6], 24, row);
  ASSERT(memcmp(emb, row, sizeof row) == 0);
  mctx_model_free(m);
  ASSERT(!make("{\"emb\": 0}", 4, 1, &st));
  ASSERT_STREQ(st.field, "model.params.emb");
  ASSERT(!make("{\"emb\": 4096, \"hidden\": 4096}", 4, 1, &st));
  ASSERT_EQ(st.code, MCTX_ELIMIT);
  ASSERT_CONTAINS(st.reason, "generated networks have at most");
  ASSERT(!make("{\"hiden\": 3}", 4, 1, &st));
  ASSERT_STREQ(st.field, "model.params.hiden");

  /* a weights file named by a request: refused unless the process allows it */
  const char *path = tmp("tiny2.safetensors");
  ASSERT_EQ(write_tiny(path, 2, MCTX_ST_F32, 1), 0);
  char params[256];
  snprintf(params, sizeof params, "{\"weights\": \"%s\", \"discount\": -1}", path);
  ASSERT(!make(params, 2, 2, &st));
  ASSERT_EQ(st.code, MCTX_EUNSUPPORTED);
  ASSERT_STREQ(st.field, "model.params.weights");
  mctx_mlp_allow_weight_paths(1);
  m = make(params, 2, 2, &st);
  mctx_mlp_allow_weight_paths(0);
  ASSERT(m);
  ASSERT_EQ(m->info.embedding_bytes, 12); /* max(S = 2, O = 3) floats */
  /* a root from an observation, and a step */
  float obs[6] = {1, -1, 2, 0, 0, 0}, lg[4], v[2], e[6];
  ASSERT_EQ(m->vt->root(m->self, 2, 0, obs, lg, v, e, &st), 0);
  ASSERT_NEAR(e[0], 0.291312612, 1e-6);
  ASSERT_NEAR(e[2], 0.0, 0); /* padding */
  float estep[6] = {1, 2, 0, 1, 2, 0}, r[2], d[2], nl[4], nv[2], ne[6];
  int32_t acts[2] = {0, 1};
  mctx_step_out out = {r, d, nl, nv, ne};
  ASSERT_EQ(m->vt->step(m->self, 2, NULL, acts, estep, &out, &st), 0);
  ASSERT_NEAR(d[0], -1.0, 0);
  ASSERT_NEAR(r[0], 0.5, 1e-6);
  ASSERT_NEAR(r[1], 2.75, 1e-6);
  ASSERT_NEAR(ne[3], 0.0, 1e-6);
  ASSERT_NEAR(ne[4], -0.995054754, 1e-6);
  ASSERT_NEAR(nv[0], 1.810296508, 1e-6);
  mctx_model_free(m);
}

TEST(gpu_numerics_are_set_on_the_model) {
  mctx_status st;
  mctx_model *m = make("{\"seed\": 2, \"emb\": 8, \"hidden\": 16}", 4, 2, &st);
  ASSERT(m);
  const mctx_cuda_mlp *net = ((const mctx_cuda_model *)m->device)->mlp;
  ASSERT_EQ(net->precision, MCTX_CUDA_FP32);
  ASSERT_EQ(mctx_model_set_gpu_numerics(m, MCTX_CUDA_BF16, 0, &st), 0);
  ASSERT_EQ(net->precision, MCTX_CUDA_BF16);
  ASSERT_EQ(net->aligned, 0);
  ASSERT_EQ(mctx_model_set_gpu_numerics(m, 7, 1, &st), MCTX_ERANGE);
  ASSERT_STREQ(st.field, "precision");
  ASSERT_EQ(net->precision, MCTX_CUDA_BF16);
  /* a model without a network on the device */
  mctx_json_doc *doc = mctx_json_parse("{}", 2, NULL, &st);
  mctx_model_ctx ctx = {4, 2, MCTX_PRNG_JAX};
  mctx_model *syn = NULL;
  ASSERT_EQ(mctx_model_create("synthetic", mctx_json_root(doc), &ctx, &syn, &st), 0);
  ASSERT_EQ(mctx_model_set_gpu_numerics(syn, MCTX_CUDA_FP16, 1, &st), MCTX_EUNSUPPORTED);
  ASSERT_CONTAINS(st.reason, "synthetic");
  mctx_model_free(syn);
  mctx_json_doc_free(doc);
  mctx_model_free(m);
}

TEST(nan_weights_fail_the_search_with_a_clear_error) {
  mctx_mlp_weights *w = NULL;
  mctx_status st;
  ASSERT_EQ(mctx_mlp_weights_random(4, 3, 8, 0, MCTX_PRNG_JAX, &w, &st), 0);
  w->pred[2].w[5] = NAN; /* pout: every value is NaN */
  mctx_model m;
  memset(&m, 0, sizeof m);
  mctx_model_ctx ctx = {3, 2, MCTX_PRNG_JAX};
  ASSERT_EQ(mctx_mlp_model_create(w, NULL, &ctx, &m, &st), 0);
  mctx_mlp_weights_unref(w); /* the model holds its own reference */
  int32_t actions[2];
  ASSERT_EQ(search(&m, 2, 3, 0, actions, &st), MCTX_EMODEL);
  ASSERT_CONTAINS(st.reason, "model 'mlp' returned a non-finite");
  m.vt->destroy(m.self);
}

TEST(weights_tool_and_export_script) {
#ifdef MCTX_MLP_WEIGHTS_TOOL
  const char *path = tmp("tool.safetensors");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s --out %s --emb 8 --hidden 16 --actions 4 --seed 1 --dtype bf16 --bias "
           "--representation 5 >/dev/null", MCTX_MLP_WEIGHTS_TOOL, path);
  ASSERT_EQ(system(cmd), 0);
  mctx_mlp_weights *w = NULL, *ref = NULL;
  mctx_status st;
  ASSERT_EQ(mctx_mlp_weights_load(path, "weights", &w, &st), 0);
  ASSERT_EQ(w->state_dim, 8);
  ASSERT_EQ(w->num_actions, 4);
  ASSERT_EQ(w->obs_dim, 5);
  ASSERT_STREQ(w->dtype, "BF16");
  ASSERT(w->dyn[0].b && w->repr[1].b);
  /* the file holds the generated weights, rounded to bfloat16 */
  ASSERT_EQ(mctx_mlp_weights_random(8, 4, 16, 1, MCTX_PRNG_JAX, &ref, &st), 0);
  for (int i = 0; i < 12 * 16; i++)
    ASSERT_NEAR(w->dyn[0].w[i], mctx_bf16_to_f32(mctx_f32_to_bf16(ref->dyn[0].w[i])), 0);
  mctx_mlp_weights_unref(ref);
  mctx_mlp_weights_unref(w);
  snprintf(cmd, sizeof cmd, "%s --out %s --dtype f64 2>/dev/null", MCTX_MLP_WEIGHTS_TOOL, path);
  ASSERT_NE(system(cmd), 0);
#endif
#ifdef MCTX_SOURCE_DIR
  if (system("python3 -c 'import json, struct, array' 2>/dev/null") != 0) SKIP("python3 is not installed");
  const char *pyout = tmp("export.safetensors");
  for (int d = 0; d < 3; d++) {
    const char *dt = d == 0 ? "f32" : d == 1 ? "f16" : "bf16";
    char cmd2[768];
    snprintf(cmd2, sizeof cmd2, "python3 %s/tools/export_mlp.py --self-test --out %s --dtype %s >/dev/null",
             MCTX_SOURCE_DIR, pyout, dt);
    ASSERT_EQ(system(cmd2), 0);
    mctx_mlp_weights *pw = NULL;
    mctx_status st2;
    if (mctx_mlp_weights_load(pyout, "weights", &pw, &st2) != 0) FAIL_AT("%s: %s", dt, st2.reason);
    check_tiny(pw, d == 0 ? 1e-6 : d == 1 ? 2e-3 : 2e-2);
    mctx_mlp_weights_unref(pw);
  }
#endif
}
