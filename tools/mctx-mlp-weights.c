/* tools/mctx-mlp-weights.c: writes a weights file for the `mlp` model from a
 * seed, so that tests, examples and benchmarks need no download.
 *
 * The weights are those of shared/bench/bench_mctx.py's make_mlp_recurrent_fn
 * (ks = split(PRNGKey(seed), 8); each layer normal(ks[i], shape) / sqrt(in);
 * layers d1, d2, dout, p1, p2, pout; no biases), drawn with JAX's PRNG bit for
 * bit (src/core/prng). --representation O adds r1 [O, H] and rout [H, S]
 * drawn the same way from split(ks[7], 2); --bias adds biases (normal / 10
 * from split(ks[7], 16)[2..]). The file is a safetensors file in F32, F16 or
 * BF16 with the names of docs/MODELS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/prng.h"
#include "models/mlp.h"
#include "models/safetensors.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mctx-mlp-weights --out FILE [--emb S] [--hidden H] [--actions A] [--seed N]\n"
          "                        [--dtype f32|f16|bf16] [--prng jax|jax_legacy]\n"
          "                        [--representation O] [--bias]\n\n"
          "Writes the weights of a MuZero-style MLP (the `mlp` model) as a safetensors file:\n"
          "the network of shared/bench/bench_mctx.py with JAX's random draws for the seed.\n\n"
          "  --out FILE            the file to write (required)\n"
          "  --emb S               state size (default 128)\n"
          "  --hidden H            hidden width (default 256)\n"
          "  --actions A           number of actions (default 64)\n"
          "  --seed N              jax.random.PRNGKey(N) (default 0)\n"
          "  --dtype D             f32, f16 or bf16 (default f32)\n"
          "  --prng M              jax (JAX >= 0.5, default) or jax_legacy\n"
          "  --representation O    add a representation from O observation floats\n"
          "  --bias                add biases to every layer\n");
}

static int add_layer(mctx_mlp_layer *L, const char *name, int32_t in, int32_t out, mctx_prng_mode mode, mctx_key key) {
  snprintf(L->name, sizeof L->name, "%s", name);
  L->in = in;
  L->out = out;
  L->w = malloc((size_t)in * (size_t)out * sizeof(float));
  if (!L->w) return -1;
  mctx_prng_normal(mode, key, (uint32_t)in * (uint32_t)out, L->w);
  float scale = sqrtf((float)in);
  for (size_t i = 0; i < (size_t)in * (size_t)out; i++) L->w[i] = L->w[i] / scale;
  return 0;
}

int main(int argc, char **argv) {
  const char *out = NULL, *dtype = "f32", *prng = "jax";
  long emb = 128, hidden = 256, actions = 64, seed = 0, obs = 0;
  int bias = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 0; }
    if (strcmp(a, "--bias") == 0) { bias = 1; continue; }
    if (!v) { fprintf(stderr, "mctx-mlp-weights: %s needs a value\n", a); return 2; }
    if (strcmp(a, "--out") == 0) out = v;
    else if (strcmp(a, "--emb") == 0) emb = strtol(v, NULL, 10);
    else if (strcmp(a, "--hidden") == 0) hidden = strtol(v, NULL, 10);
    else if (strcmp(a, "--actions") == 0) actions = strtol(v, NULL, 10);
    else if (strcmp(a, "--seed") == 0) seed = strtol(v, NULL, 10);
    else if (strcmp(a, "--dtype") == 0) dtype = v;
    else if (strcmp(a, "--prng") == 0) prng = v;
    else if (strcmp(a, "--representation") == 0) obs = strtol(v, NULL, 10);
    else { fprintf(stderr, "mctx-mlp-weights: unknown flag '%s' (see --help)\n", a); return 2; }
    i++;
  }
  if (!out) { usage(stderr); return 2; }
  int dt = strcmp(dtype, "f32") == 0 ? MCTX_ST_F32 : strcmp(dtype, "f16") == 0 ? MCTX_ST_F16
           : strcmp(dtype, "bf16") == 0 ? MCTX_ST_BF16 : -1;
  if (dt < 0) { fprintf(stderr, "mctx-mlp-weights: --dtype must be f32, f16 or bf16, not '%s'\n", dtype); return 2; }
  mctx_prng_mode mode = strcmp(prng, "jax_legacy") == 0 ? MCTX_PRNG_JAX_LEGACY : MCTX_PRNG_JAX;
  if (strcmp(prng, "jax") != 0 && mode == MCTX_PRNG_JAX) {
    fprintf(stderr, "mctx-mlp-weights: --prng must be jax or jax_legacy\n");
    return 2;
  }
  if (obs < 0 || obs > MCTX_MLP_MAX_DIM || seed < 0 || seed > 2147483647L) {
    fprintf(stderr, "mctx-mlp-weights: --representation must be in [0, %d], --seed in [0, 2147483647]\n",
            MCTX_MLP_MAX_DIM);
    return 2;
  }
  mctx_status st;
  mctx_mlp_weights *w = NULL;
  if (mctx_mlp_weights_random((int32_t)emb, (int32_t)actions, (int32_t)hidden, seed, mode, &w, &st) != 0) {
    fprintf(stderr, "mctx-mlp-weights: %s\n", st.reason);
    return 2;
  }
  mctx_key ks[8];
  mctx_prng_split(mode, mctx_prng_key(seed), 8, ks);
  mctx_key extra[16];
  mctx_prng_split(mode, ks[7], 16, extra);
  int bad = 0;
  if (obs > 0) {
    bad |= add_layer(&w->repr[0], "r1", (int32_t)obs, (int32_t)hidden, mode, extra[0]);
    bad |= add_layer(&w->repr[1], "rout", (int32_t)hidden, (int32_t)emb, mode, extra[1]);
    w->n_repr = 2;
    w->obs_dim = (int32_t)obs;
  }
  if (bias) {
    mctx_mlp_layer *parts[3] = {w->repr, w->dyn, w->pred};
    int32_t counts[3] = {w->n_repr, w->n_dyn, w->n_pred};
    int k = 2;
    for (int p = 0; p < 3; p++)
      for (int32_t i = 0; i < counts[p]; i++, k++) {
        mctx_mlp_layer *L = &parts[p][i];
        L->b = malloc((size_t)L->out * sizeof(float));
        if (!L->b) { bad = 1; continue; }
        mctx_prng_normal(mode, extra[k], (uint32_t)L->out, L->b);
        for (int32_t o = 0; o < L->out; o++) L->b[o] = L->b[o] / 10.0f;
      }
  }
  if (bad) {
    fprintf(stderr, "mctx-mlp-weights: out of memory\n");
    mctx_mlp_weights_unref(w);
    return 1;
  }
  char meta[512];
  snprintf(meta, sizeof meta,
           "{\"format\":\"mctx-mlp\",\"emb\":\"%ld\",\"hidden\":\"%ld\",\"num_actions\":\"%ld\",\"observation\":\"%ld\","
           "\"seed\":\"%ld\",\"prng\":\"%s\",\"writer\":\"mctx-mlp-weights\"}",
           emb, hidden, actions, obs, seed, mode == MCTX_PRNG_JAX ? "jax" : "jax_legacy");
  int rc = mctx_mlp_weights_save(w, out, dt, meta, &st);
  mctx_mlp_weights_unref(w);
  if (rc != 0) {
    fprintf(stderr, "mctx-mlp-weights: %s\n", st.reason);
    return 1;
  }
  printf("wrote %s: emb %ld, hidden %ld, actions %ld%s%s, %s\n", out, emb, hidden, actions,
         obs ? ", representation" : "", bias ? ", biases" : "", dtype);
  return 0;
}
