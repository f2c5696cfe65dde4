/* mctx/cuda.h: the CUDA engine, and what a model offers it.
 *
 * The CUDA engine runs the whole search on one GPU. For the built-in models
 * (synthetic, synthetic_stochastic, mctx_test_env, mock, bandit) each batch
 * element's search is one warp of a single kernel launch: selection, the
 * model's step, expansion and backup all stay on the device. A model of one's
 * own runs on the device by filling an mctx_cuda_model with `step` (and
 * optionally `root`): the engine then runs each simulation as a selection
 * kernel, the model's own kernels on the engine's stream with device
 * pointers, and an expansion kernel. Results equal the CPU engine's for
 * float32 models: same actions, visit counts and topology. */
#ifndef MCTX_CUDA_H
#define MCTX_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/engine.h"
#include "mctx/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  MCTX_CUDA_MODEL_CALLBACK = 0,        /* runs `step` on the engine's stream */
  MCTX_CUDA_MODEL_SYNTHETIC = 1,
  MCTX_CUDA_MODEL_SYNTHETIC_STOCHASTIC = 2,
  MCTX_CUDA_MODEL_TEST_ENV = 3,
  MCTX_CUDA_MODEL_MOCK = 4,
  MCTX_CUDA_MODEL_BANDIT = 5,
  MCTX_CUDA_MODEL_MLP = 6,             /* a dense network: the engine's cuBLASLt path */
  MCTX_CUDA_MODEL_GAME = 7             /* tictactoe or connect4: the rules on the device */
};

enum { MCTX_CUDA_GAME_TICTACTOE = 0, MCTX_CUDA_GAME_CONNECT4 = 1 };

/* One dense layer y = x @ w + b of a network the engine runs with cuBLASLt:
 * w is host float32 [in][out] row-major, b [out] or NULL. */
typedef struct mctx_cuda_dense {
  int32_t in, out;
  const float *w;
  const float *b;
} mctx_cuda_dense;

#define MCTX_CUDA_MAX_LAYERS 8

/* A MuZero-style network (models/mlp.h): dynamics [state S, one_hot(action)
 * A] -> ReLU layers -> [S + 1] (next state = tanh of the first S, reward the
 * last); prediction [S] -> ReLU layers -> [A + 1] (logits, value). The
 * embedding of a node holds the state in its first S floats. */
typedef struct mctx_cuda_mlp {
  int32_t state_dim, num_actions, emb_floats;
  int32_t n_dyn, n_pred;
  mctx_cuda_dense dyn[MCTX_CUDA_MAX_LAYERS];
  mctx_cuda_dense pred[MCTX_CUDA_MAX_LAYERS];
  float discount;
  const void *identity;        /* changes when the weights change (a cache key) */
  /* Numerics, set per search (the API sets them from the request's precision,
   * use_t4_optimizations and tensor_core_aligned): */
  int precision;               /* MCTX_CUDA_FP32, _FP16 or _BF16 (activations and
                                  weights; fp32 accumulation; tree statistics fp32) */
  int aligned;                 /* pad dimensions to multiples of 8 (same values) */
} mctx_cuda_mlp;

enum { MCTX_CUDA_FP32 = 0, MCTX_CUDA_FP16 = 1, MCTX_CUDA_BF16 = 2 };

/* A model's device side, pointed to by mctx_model.device. */
typedef struct mctx_cuda_model {
  int kind;                    /* MCTX_CUDA_MODEL_* */
  /* built-in models' parameters */
  float discount;              /* mctx_test_env */
  int zero_reward;             /* mctx_test_env */
  int prng;                    /* mctx_test_env: mctx_prng_mode */
  int32_t num_chance_outcomes; /* synthetic_stochastic */
  const float *qvalues;        /* bandit: host [rows][A], uploaded by the engine */
  int32_t qvalues_rows;
  const mctx_cuda_mlp *mlp;    /* MCTX_CUDA_MODEL_MLP */
  /* MCTX_CUDA_MODEL_CALLBACK: a model's own step on the device, the way to
   * run any model in the CUDA engine with kernels of its own. The engine
   * calls it once per simulation for the n elements of a launch, from the
   * search's host thread, with `stream` (a cudaStream_t: the engine's) and
   * device pointers, all dense and row-major:
   *   in:  actions [n] (int32), embeddings [n][E] (E = info.embedding_bytes,
   *        the parents' embeddings as the model wrote them);
   *   out: reward [n], discount [n], prior_logits [n][A] (A = the request's
   *        num_actions), value [n], next_embeddings [n][E].
   * Launch kernels on `stream` that fill every output, and return 0; do not
   * synchronize, allocate per call or keep the pointers (they change between
   * searches). The engine's next kernel on the stream reads the outputs. A
   * nonzero return (st filled) fails the search with that error; a launch
   * error, or a NaN or infinite output, fails it with MCTX_EMODEL. Roots
   * come from the model's host `root` (or the request). muzero and
   * gumbel_muzero; selection, expansion and backup stay the engine's.
   * tests/cuda/syn-device-step.cu is a complete example. */
  int (*step)(void *self, void *stream, int32_t n, const int32_t *actions, const void *embeddings,
              float *reward, float *discount, float *prior_logits, float *value, void *next_embeddings,
              mctx_status *st);
  void *self;
  /* MCTX_CUDA_MODEL_GAME (the built-in games' rules, src/models/tictactoe-impl.h and connect4-impl.h,
   * compiled for the device) */
  int game;                    /* MCTX_CUDA_GAME_* */
  int32_t rollouts;            /* rollouts per leaf value */
  uint32_t seed;
  int tactical;                /* prior: 1 tactical, 0 uniform */
  int tactical_rollouts;       /* rollouts: 1 tactical, 0 random */
} mctx_cuda_model;

/* Sets the numerics of a model's network on the GPU: precision
 * (MCTX_CUDA_FP32, _FP16 or _BF16: weights and activations; accumulation and
 * the tree stay fp32) and aligned (dimensions padded to multiples of 8 for the
 * tensor cores; the same values). They apply to the model's next searches on
 * the CUDA engine; the CPU engine always computes in fp32. Returns 0, or
 * MCTX_EUNSUPPORTED when the model has no network on the device (the built-in
 * environments), MCTX_ERANGE for an unknown precision. Not thread-safe
 * against a running search of the same model. Available in CPU-only builds
 * too (it only records the choice). */
int mctx_model_set_gpu_numerics(mctx_model *m, int precision, int aligned, mctx_status *st);

/* Device memory as the engine sees it. */
typedef struct mctx_cuda_memory {
  size_t total_bytes;          /* the device's memory */
  size_t free_before;          /* free when the last search started */
  size_t free_after;           /* free when it ended */
  size_t engine_bytes;         /* held by the engine's workspace now */
  size_t peak_bytes;           /* the most the engine held for one search */
  int32_t last_chunk;          /* batch elements per launch of the last search */
  const char *last_path;       /* "fused" or "batched" (network models) */
  char last_precision[8];      /* the network path's precision: fp32, fp16, bf16 */
  int last_aligned;            /* its dimensions padded to tensor-core multiples */
  char device_name[128];
  int compute_capability;      /* 90 for sm_90 */
} mctx_cuda_memory;

/* The CUDA engine on GPU `device` (-1: the current device, 0 by default).
 * Returns NULL with st saying why when no GPU is usable. */
mctx_engine *mctx_engine_cuda_new(int device, mctx_status *st);
/* Whether e is a CUDA engine. */
int mctx_engine_is_cuda(const mctx_engine *e);
void mctx_engine_cuda_memory(mctx_engine *e, mctx_cuda_memory *out);
/* Caps the batch elements of one launch (0: sized from free memory). Tests
 * use it to check that chunked searches give identical results. */
void mctx_engine_cuda_set_max_chunk(mctx_engine *e, int32_t max_chunk);

/* Runs the engine's network path once on n states (tests), in net's
 * precision: state [n][S] -> logits [n][A], value [n]; and, with actions,
 * next state [n][S] and reward [n] through the dynamics. Host pointers. */
int mctx_engine_cuda_mlp_eval(mctx_engine *e, const mctx_cuda_mlp *net, int32_t n, const float *state,
                              const int32_t *actions, float *logits, float *value, float *next, float *reward,
                              mctx_status *st);

#ifdef __cplusplus
}
#endif
#endif
