/* mctx/model.h: the model a search calls, behind a table of functions.
 *
 * A model is mctx's root and recurrent functions for a batch: given the
 * embeddings of n nodes and an action for each, it returns rewards,
 * discounts, prior logits, values and the next embeddings. Models are made by
 * name from JSON parameters (mctx/registry.h); a model is an instance of a
 * vtable plus its private state.
 *
 * Threads: the CPU engine calls `step` from several threads at once, each on a
 * disjoint slice of the batch; a model's functions must allow that (they may
 * not write shared state without their own locking).
 *
 * Errors: a function returns 0, or an error code with st filled; a model that
 * produces NaN or infinity fails the search with MCTX_EMODEL (the engines
 * check). */
#ifndef MCTX_MODEL_H
#define MCTX_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"
#include "mctx/prng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCTX_MODEL_ABI_VERSION 1

enum {
  MCTX_ENGINE_CPU = 1,
  MCTX_ENGINE_CUDA = 2
};

/* Outputs of a step for n elements; rows are A floats. */
typedef struct mctx_step_out {
  float *reward;        /* [n] */
  float *discount;      /* [n] */
  float *prior_logits;  /* [n][A] */
  float *value;         /* [n] */
  void *embeddings;     /* [n][E] */
} mctx_step_out;

typedef struct mctx_model_vtable {
  uint32_t abi_version;       /* MCTX_MODEL_ABI_VERSION */
  const char *name;

  /* Frees the model's state. */
  void (*destroy)(void *self);

  /* (optional) The roots for elements first_index .. first_index + n - 1 of
   * the request: prior logits [n][A], values [n] and embeddings [n][E].
   * `embeddings_in` holds the request's embeddings, or is NULL when the
   * request gave none (then the model's default roots are used). */
  int (*root)(void *self, int32_t n, int32_t first_index, const void *embeddings_in,
              float *prior_logits, float *value, void *embeddings_out, mctx_status *st);

  /* The recurrent function (deterministic models ignore `keys`). keys[i] is
   * the expand key mctx passes for element i's group. */
  int (*step)(void *self, int32_t n, const mctx_key *keys, const int32_t *actions,
              const void *embeddings, mctx_step_out *out, mctx_status *st);

  /* (optional, stochastic models) mctx's decision_recurrent_fn: actions ->
   * chance logits [n][C], afterstate values, afterstate embeddings. */
  int (*decision)(void *self, int32_t n, const mctx_key *keys, const int32_t *actions,
                  const void *state_embeddings, float *chance_logits, float *afterstate_value,
                  void *afterstate_embeddings, mctx_status *st);
  /* (optional, stochastic models) mctx's chance_recurrent_fn: outcomes ->
   * action logits [n][A], values, rewards, discounts, state embeddings. */
  int (*chance)(void *self, int32_t n, const mctx_key *keys, const int32_t *outcomes,
                const void *afterstate_embeddings, float *action_logits, float *value,
                float *reward, float *discount, void *state_embeddings, mctx_status *st);
} mctx_model_vtable;

/* What a model declares about itself. */
typedef struct mctx_model_info {
  int32_t num_actions;          /* A it produces; 0: any (taken from the request) */
  int32_t num_chance_outcomes;  /* C (stochastic models); 0 otherwise */
  int32_t embedding_bytes;      /* E */
  int32_t embedding_kind;       /* MCTX_EMB_* : how to print an embedding */
  int32_t embedding_count;      /* elements of that kind in one embedding */
  int engines;                  /* MCTX_ENGINE_* bits it can run on */
  const char *precision;        /* "fp32", "fp16", "bf16" */
  int32_t preferred_batch;      /* elements per step call it runs best with; 0: any */
  /* 1 when an element's outputs may depend on the other elements of the
   * step's batch (a BLAS rounds a row differently with the number of rows;
   * a plugin's code is unknown): the service then never merges requests for
   * this model into one search (dynamic batching), so that each gets exactly
   * the result it gets alone. 0 (the default): outputs are per element. */
  int batch_dependent;
} mctx_model_info;

enum { MCTX_EMB_BYTES = 0, MCTX_EMB_U32 = 1, MCTX_EMB_F32 = 2 };

typedef struct mctx_model {
  const mctx_model_vtable *vt;
  void *self;
  mctx_model_info info;
  const void *device;  /* (optional) the CUDA engine's table for this model */
} mctx_model;

/* Frees a model made by the registry. NULL is a harmless no-op. */
void mctx_model_free(mctx_model *m);

#ifdef __cplusplus
}
#endif
#endif
