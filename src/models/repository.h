/* models/repository.h: the model repository, models that users bring.
 *
 * A repository is a directory (the `--model-dir` flag or MCTX_MODEL_DIR)
 * with one folder per model; the folder's name is the model's name in
 * requests, and its model.json says what the model is:
 *
 *   {"kind": "mlp", "weights": "weights.safetensors", "params": {"discount": 0.997}}
 *   {"kind": "game", "game": "connect4", "params": {"rollouts": 32}}
 *   {"kind": "plugin", "path": "libmctx_nim.so", "config": {"stones": 21}}
 *   {"kind": "builtin", "model": "synthetic", "params": {}}
 *
 * with, for every kind, optional "description", "num_actions" (checked
 * against the model), "precision" ("fp32", "fp16", "bf16": what the model
 * runs in on the GPU when a request gives no search_params.precision, set in
 * info.precision; the CPU computes in fp32) and "engines" (["cpu",
 * "cuda"]: where it may run). docs/MODELS.md has the full format.
 *
 * Loading reads every folder, loads weights and plugins and makes one probe
 * instance of each model, so a broken model is reported when the repository
 * is (re)loaded rather than when a request first uses it. A load is all or
 * nothing: reload() on a directory with one broken model fails with an
 * error naming it and keeps serving the models it had.
 *
 * Reloads are atomic: requests take the current set of models under a lock
 * (a reference-counted snapshot) and each model instance holds its own
 * references on what it uses (weights, plugin library), so a request in
 * flight keeps its model, and the old weights and plugins go away when the
 * last request that uses them ends. Update a model by writing its new files
 * under new names or by rename(), then reload. All functions are
 * thread-safe. */
#ifndef MCTX_MODELS_REPOSITORY_H
#define MCTX_MODELS_REPOSITORY_H

#include <stdint.h>

#include "mctx/registry.h"
#include "util/buf.h"

#define MCTX_REPO_MAX_MODELS 256
#define MCTX_REPO_MAX_CONFIG_BYTES (1 << 20)

typedef struct mctx_model_repo mctx_model_repo;

/* Opens the repository at `dir` and loads every model in it. Returns 0 and
 * *out (free with mctx_model_repo_free), or an error naming the model folder
 * and what is wrong with it ("models/net/model.json: ..."). */
int mctx_model_repo_open(const char *dir, mctx_model_repo **out, mctx_status *st);
/* Reads the directory again and, when every model loads, makes the new set
 * current in one step. On failure the current set stays. Returns 0 or the
 * error. */
int mctx_model_repo_reload(mctx_model_repo *r, mctx_status *st);
/* Frees the repository. Model instances made from it stay valid (they hold
 * their own references). NULL is a harmless no-op. */
void mctx_model_repo_free(mctx_model_repo *r);

/* Makes the model `name` for a request: the repository's model of that name
 * when there is one (its model.json "params" merged under the request's
 * model.params), else the registry's (mctx_model_create). r may be NULL.
 * Returns 0 and *out (free with mctx_model_free), or MCTX_ENOTFOUND / the
 * model's error. */
int mctx_model_repo_create(mctx_model_repo *r, const char *name, const mctx_json *params,
                           const mctx_model_ctx *ctx, mctx_model **out, mctx_status *st);
/* Whether the repository has a model called `name` now. */
int mctx_model_repo_has(mctx_model_repo *r, const char *name);
/* How many models the current set has, and its generation (1 after open,
 * +1 per successful reload). */
int mctx_model_repo_count(mctx_model_repo *r);
uint64_t mctx_model_repo_generation(mctx_model_repo *r);
const char *mctx_model_repo_dir(const mctx_model_repo *r);

/* Appends the JSON of GET /api/v1/models:
 *   {"dir": "...", "generation": N, "loaded_at": "2024-...Z",
 *    "models": [{"name", "kind", "source": "repository", "description",
 *                "num_actions", "embedding_size", "embedding_type",
 *                "precision", "engines": [...], "detail": {...}}, ...]}
 * With include_builtins, the registry's models follow ("source": "builtin";
 * those whose name a repository model takes are left out). r may be NULL.
 * Returns 0, or -1 when the buffer's cap was reached. */
int mctx_model_repo_list_json(mctx_model_repo *r, int include_builtins, mctx_buf *out);

/* The directory the environment names (MCTX_MODEL_DIR), or NULL. */
const char *mctx_model_repo_env_dir(void);

#endif
