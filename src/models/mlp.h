/* models/mlp.h: the `mlp` model, a MuZero-style network, and its weights.
 *
 * The network is the one of shared/bench/bench_mctx.py's
 * make_mlp_recurrent_fn, with an optional representation and optional biases:
 *
 *   representation (optional): obs [O] -> r1 .. rK (ReLU) -> rout -> tanh -> state [S]
 *   dynamics:   [state S, one_hot(action) A] -> d1 .. dK (ReLU) -> dout [S + 1]
 *               next state = tanh(dout[:S]), reward = dout[S]
 *   prediction: state [S] -> p1 .. pK (ReLU) -> pout [A + 1]
 *               prior logits = pout[:A], value = pout[A]
 *
 * A layer computes y = x @ W + b with W of shape [in, out] (JAX's layout).
 * In a safetensors file a layer L is one of
 *   "L" [in, out]  or  "L.kernel" [in, out]  (JAX / flax)  or
 *   "L.weight" [out, in]  (PyTorch nn.Linear, transposed on load),
 * with an optional "L.bias" [out]; dtypes F32, F16, BF16 (or F64), all
 * converted to float32 on load. Hidden layers are numbered from 1 ("d1",
 * "d2", ...) and there may be 1 to MCTX_MLP_MAX_LAYERS - 1 of them per part.
 * docs/MODELS.md describes the layout and the export from PyTorch or flax.
 *
 * The loaded weights are host float32 arrays, row-major [in][out], shared by
 * every model instance (reference counted) and exposed here so that the CUDA
 * engine's cuBLASLt path can upload the very same weights. */
#ifndef MCTX_MODELS_MLP_H
#define MCTX_MODELS_MLP_H

#include <stdatomic.h>
#include <stdint.h>

#include "mctx/registry.h"

#define MCTX_MLP_MAX_LAYERS 8        /* per part, the output layer included */
#define MCTX_MLP_MAX_DIM 8192        /* any layer's input or output */
#define MCTX_MLP_MAX_PARAMS ((int64_t)1 << 27)  /* 512 MiB of float32 */
#define MCTX_MLP_MAX_GENERATED ((int64_t)1 << 24) /* networks a request has generated: 64 MiB */

typedef struct mctx_mlp_layer {
  char name[16];      /* "d1", "dout", ... */
  int32_t in, out;
  float *w;           /* [in][out], row-major */
  float *b;           /* [out], or NULL (no bias) */
} mctx_mlp_layer;

typedef struct mctx_mlp_weights {
  int32_t state_dim;    /* S ("emb") */
  int32_t num_actions;  /* A */
  int32_t obs_dim;      /* O: the representation's input; 0 without one */
  int32_t n_repr, n_dyn, n_pred;  /* layers of each part, the output layer last */
  mctx_mlp_layer repr[MCTX_MLP_MAX_LAYERS];
  mctx_mlp_layer dyn[MCTX_MLP_MAX_LAYERS];
  mctx_mlp_layer pred[MCTX_MLP_MAX_LAYERS];
  int64_t num_params;
  char dtype[8];        /* the file's dtype: "F32", "F16", "BF16", "mixed" */
  char source[600];     /* the file, or "seed N" for generated weights */
  uint64_t id;          /* unique per loaded set in this process (a cache key) */
  atomic_int refs;
} mctx_mlp_weights;

/* Loads and checks weights from a safetensors file. Errors name `field`
 * and say which tensor is missing or has which wrong shape or dtype. Returns
 * 0 and *out with one reference (release with mctx_mlp_weights_unref). */
int mctx_mlp_weights_load(const char *path, const char *field, mctx_mlp_weights **out, mctx_status *st);

/* The weights bench_mctx.py's make_mlp_recurrent_fn makes:
 * ks = split(PRNGKey(seed), 8); layer i = normal(ks[i], shape) / sqrt(in)
 * for d1, d2, dout, p1, p2, pout with hidden width H, no biases, no
 * representation. `mode` is the PRNG mode (JAX's default: MCTX_PRNG_JAX).
 * Deterministic: the same arguments give the same bits. */
int mctx_mlp_weights_random(int32_t S, int32_t A, int32_t H, int64_t seed, mctx_prng_mode mode,
                            mctx_mlp_weights **out, mctx_status *st);

/* Writes w to a safetensors file in `dtype` (F32, F16 or BF16) with the
 * names "L" / "L.bias" (JAX layout) and metadata describing the shapes. */
int mctx_mlp_weights_save(const mctx_mlp_weights *w, const char *path, int dtype, const char *metadata_json,
                          mctx_status *st);

/* Reference counting: a loaded set of weights lives until its last user
 * (model instance, repository entry) lets go. unref(NULL) is a no-op. */
mctx_mlp_weights *mctx_mlp_weights_ref(mctx_mlp_weights *w);
void mctx_mlp_weights_unref(mctx_mlp_weights *w);

/* ==== Forward passes on the CPU (OpenBLAS), n rows at a time ==== */

/* obs [n][O] -> state [n][S]. Only with a representation. */
int mctx_mlp_represent(const mctx_mlp_weights *w, int32_t n, const float *obs, float *state, mctx_status *st);
/* state [n][S] -> logits [n][A], value [n]. */
int mctx_mlp_predict(const mctx_mlp_weights *w, int32_t n, const float *state, float *logits, float *value,
                     mctx_status *st);
/* state [n][S], actions [n] -> next state [n][S], reward [n]. */
int mctx_mlp_dynamics(const mctx_mlp_weights *w, int32_t n, const float *state, const int32_t *actions,
                      float *next, float *reward, mctx_status *st);

/* ==== The model ==== */

/* Makes an `mlp` model instance on weights w (takes a new reference).
 * params: "discount" (0.997), "seed" (0: the default roots'
 * normal(split(PRNGKey(seed), 8)[6], (B, input)) draws). */
int mctx_mlp_model_create(mctx_mlp_weights *w, const mctx_json *params, const mctx_model_ctx *ctx,
                          mctx_model *m, mctx_status *st);
/* The weights of an mlp model instance, or NULL for other models (borrowed:
 * valid while the model lives). */
const mctx_mlp_weights *mctx_mlp_of_model(const mctx_model *m);

/* Whether the `mlp` factory of the registry may load a file named by a
 * request's "model.params.weights": off by default (a service must not open
 * paths that clients choose; serve files through the model repository). A
 * trusted local tool (the arena, the CLI) may turn it on. */
void mctx_mlp_allow_weight_paths(int allow);

/* The registry's `mlp` factory: params "weights" (a file, see above) or
 * generated weights "seed", "emb" (128), "hidden" (256); and "discount". */
extern const mctx_model_factory mctx__model_mlp;

#endif
