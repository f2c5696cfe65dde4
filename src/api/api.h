/* api/api.h: the search request and result of DESIGN.md, shared by the CLI
 * and the service.
 *
 * A request body becomes a job: parsed by util/json, validated field by field
 * (errors name the field and the reason), bound to its model and checked
 * against the limits before anything large is allocated. Jobs run alone or,
 * when their batch keys match, merged into one batched search (each gets
 * exactly the result it would get alone), and encode their result or their
 * error envelope. The service adds HTTP, queues and storage around this; the
 * CLI reads a file and prints. */
#ifndef MCTX_API_API_H
#define MCTX_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/engine.h"
#include "mctx/errors.h"
#include "util/buf.h"

/* Bounds on what a request may ask for; all configurable (flags, MCTX_*). */
typedef struct mctx_api_limits {
  int32_t max_batch_size;       /* default 65536 */
  int32_t max_num_actions;      /* default 4096 */
  int32_t max_num_simulations;  /* default 100000 */
  size_t max_tree_bytes;        /* memory budget of one search's tree; default 4 GiB */
  int max_json_depth;           /* default 64 */
} mctx_api_limits;

void mctx_api_limits_default(mctx_api_limits *l);

struct mctx_model_repo;

/* What jobs run with. Engines and the model repository are borrowed. */
typedef struct mctx_api_env {
  mctx_api_limits limits;
  const char *default_model;      /* model of requests that name none: "synthetic" */
  mctx_engine *cpu;               /* required */
  mctx_engine *gpu;               /* NULL when no GPU is usable */
  const char *gpu_unavailable;    /* why gpu is NULL, for fallback_reason */
  struct mctx_model_repo *models; /* (optional) the model repository (models/repository.h);
                                     requests' model names look there first */
} mctx_api_env;

/* Opens the engines of env: the CPU engine with `threads` threads (<= 0: one
 * per core) and, when `engine` is "auto" or "cuda" and this build has CUDA
 * and a GPU is present, the CUDA engine. "cuda" without a usable GPU is an
 * error; "auto" records why in env->gpu_unavailable. Returns 0 or an error. */
int mctx_api_engines_open(mctx_api_env *env, const char *engine, int threads, mctx_status *st);
/* Frees the engines opened by mctx_api_engines_open. */
void mctx_api_engines_close(mctx_api_env *env);

typedef struct mctx_job mctx_job;

/* Decodes and validates a request body. `request_id` may be NULL (one is
 * made). On success *out is a job (free with mctx_job_free); on failure
 * returns the error code with st naming the field and the reason. */
int mctx_job_prepare(const mctx_api_env *env, const char *body, size_t len, const char *request_id,
                     const char *user, mctx_job **out, mctx_status *st);

/* Jobs whose batch keys are equal may run as one batched search
 * (mctx_job_run with n > 1): the same model and parameters, policy, action
 * count, search parameters and device. NULL: the job must run alone (it asks
 * for its tree, for distribution, or has model parameters tied to its batch). */
const char *mctx_job_batch_key(const mctx_job *j);
int32_t mctx_job_batch_size(const mctx_job *j);

/* Runs jobs[0..n) as one search. n == 1 runs a job alone. Each job gets its
 * own result or error (mctx_job_status); returns 0 unless the arguments are
 * wrong. Jobs of one call must share a batch key. */
int mctx_job_run(const mctx_api_env *env, mctx_job **jobs, size_t n);

/* Makes the job keep its search tree after it runs (for mctx_job_tree_json
 * or storage); jobs that keep their tree run alone. Call before running. */
void mctx_job_keep_tree(mctx_job *j);
/* Appends the tree of a finished job that kept it: nested = 1 for mctx's
 * test-data dictionaries, 0 for every field as arrays. Returns 0, -1 when the
 * buffer's cap was reached, MCTX_ENOTFOUND when the job kept no tree. */
int mctx_job_tree_json(const mctx_job *j, int nested, mctx_buf *out);

/* Asks a job to stop: a running search stops at the next simulation when
 * every job merged into it was canceled. Thread-safe. */
void mctx_job_cancel(mctx_job *j);
int mctx_job_canceled(const mctx_job *j);

/* The job's outcome: code 0 once it ran successfully. */
const mctx_status *mctx_job_status(const mctx_job *j);
/* The HTTP status of the outcome (200 on success). */
int mctx_job_http_status(const mctx_job *j);
/* Appends the result JSON (or the error envelope) to out. Returns 0, or -1
 * when out's cap was reached. */
int mctx_job_encode(const mctx_job *j, mctx_buf *out);

/* What the service records and counts. Strings are borrowed from the job. */
typedef struct mctx_job_info {
  const char *request_id;
  const char *user;
  const char *search_type;    /* "muzero", ... */
  const char *model;
  const char *device;         /* "cpu", "gpu" */
  const char *precision;      /* "fp32", "fp16", "bf16" */
  int32_t batch_size, num_actions, num_simulations;
  int32_t max_depth;          /* -1 when null */
  int gpu_optimized;          /* use_t4_optimizations */
  int distributed;
  int32_t num_devices;
  double duration_ms;         /* the search itself */
  int64_t num_expanded_nodes;
  int32_t max_depth_reached;
  int64_t time_ms;            /* when the job was prepared, Unix ms */
} mctx_job_info;

void mctx_job_get_info(const mctx_job *j, mctx_job_info *out);
/* The request's configuration as JSON (search_params, flags, model) and a
 * summary of the result (actions, root values), for the history table.
 * malloc'd; free() them. NULL when out of memory. */
char *mctx_job_config_json(const mctx_job *j);
char *mctx_job_summary_json(const mctx_job *j);

void mctx_job_free(mctx_job *j);

/* ==== Errors ==== */

/* The HTTP status for an mctx error code (400 for bad input, 500 for model
 * and internal failures, 503 for transient ones). */
int mctx_http_status(int code);
/* Appends {"status_code": N, "message": "...", "details": {"field", "reason"}}. */
void mctx_error_json(mctx_buf *out, int http_status, const mctx_status *st);

#endif
