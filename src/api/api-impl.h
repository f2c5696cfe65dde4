/* api/api-impl.h: the job behind api.h, shared by the files of src/api. */
#ifndef MCTX_API_API_IMPL_H
#define MCTX_API_API_IMPL_H

#include <stdatomic.h>

#include "api/api.h"
#include "mctx/dist.h"
#include "mctx/json.h"
#include "mctx/model.h"
#include "mctx/search.h"
#include "mctx/tree.h"
#include "util/jsonw.h"

enum { MCTX__DEV_AUTO = 0, MCTX__DEV_CPU = 1, MCTX__DEV_GPU = 2 };
enum { MCTX__TREE_NONE = 0, MCTX__TREE_ARRAYS = 1, MCTX__TREE_NESTED = 2 };
enum { MCTX__MERGE_SUM_VISITS = 0, MCTX__MERGE_MAX_VALUE = 1, MCTX__MERGE_CONSENSUS = 2 };

struct mctx_job {
  char request_id[64];
  char user[64];
  int64_t time_ms;
  mctx_json_doc *doc;            /* the request; model params and embeddings point into it */

  /* the search */
  mctx_search_params params;
  int64_t seed;
  int32_t B, A;
  float *prior_logits;           /* [B][A] or NULL (the model computes roots) */
  float *value;                  /* [B] or NULL */
  uint8_t *invalid;              /* [B][A] or NULL */
  const mctx_json *embedding;    /* root_input.embedding or NULL */
  char model_name[64];
  const mctx_json *model_params;
  char *model_params_text;       /* canonical text, for the batch key */
  mctx_model *model;

  /* the product notes' flags */
  int device;                    /* MCTX__DEV_* */
  int use_t4;
  char precision[8];             /* the request's, else the model's declared one, else fp32 */
  int precision_given;           /* search_params.precision was in the request */
  int tensor_core_aligned;
  int distributed;
  int32_t num_devices;
  int partition_batch;
  int partition_search;
  int merge_strategy;
  int return_tree;               /* MCTX__TREE_* */
  int store_tree;

  char *batch_key;               /* NULL: runs alone */

  /* the outcome */
  mctx_status status;
  int ran;
  int32_t *action;
  float *weights, *root_value, *visit_counts, *qvalues;
  mctx_tree *tree;               /* kept when return_tree */
  double duration_ms;
  int64_t expanded;
  int32_t depth_reached;
  const char *device_used;       /* "cpu" | "gpu" */
  char fallback_reason[160];
  int32_t merged_with;           /* jobs in the search it ran in */
  mctx_dist_stats dist_stats;    /* distributed jobs: what src/dist did */
  /* the GPU's side of the search, when it ran there */
  int gpu_ran;
  char gpu_name[128];
  double gpu_total_mib, gpu_free_before_mib, gpu_free_after_mib, gpu_engine_peak_mib;
  int32_t gpu_chunk;
  char gpu_path[16], gpu_precision[8];
  int gpu_aligned;

  atomic_int canceled;
};

/* request.c */
int mctx__job_decode(const mctx_api_env *env, mctx_job *j, const mctx_json *root, mctx_status *st);
const char *mctx__policy_name(mctx_policy p);

/* encode.c */
int mctx__encode_tree_arrays(mctx_jw *w, const mctx_tree *t, const mctx_model_info *info);
int mctx__encode_tree_nested(mctx_jw *w, const mctx_tree *t);

#endif
