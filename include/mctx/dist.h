/* mctx/dist.h: one search over several devices, processes and machines.
 *
 * A device is an engine (mctx/engine.h): a GPU (the CUDA engine) or a CPU (the
 * CPU engine over some threads), so everything here runs and is tested
 * without a GPU. The devices of a search form a mesh: the GPUs this process
 * sees (or, without any, its CPU, cut into `cpu_devices` devices), and, when
 * the program was started by `mpirun`, the devices of every process of the
 * MPI job, in rank order. Results travel between processes over MPI, or over
 * NCCL where every device of the search is a GPU (NVLink multicast stays
 * off: NCCL_NVLS_ENABLE=0).
 *
 * Two ways to cut a search (docs/DISTRIBUTED.md has the math):
 *   partition_batch   the batch is cut into contiguous shares whose sizes
 *                     differ by at most one; each device searches its share;
 *                     every element keeps its own PRNG key, group size and
 *                     index (mctx_elem_key), so the result is bit for bit
 *                     the result of one device.
 *   partition_search  root parallelism: every device searches every root
 *                     with S // D simulations (the first S % D one more) and
 *                     the key fold_in(key, device); the root statistics are
 *                     merged (sum_visits, max_value or consensus) and the
 *                     action and action weights are read off the merged
 *                     statistics as the policy reads them off one tree.
 *
 * A device that fails during a search (MCTX_EDEVICE, MCTX_ENOMEM) has its
 * share run by the devices that did not fail; the result is the same as
 * without the failure. Other errors (a model's NaN, a canceled search, bad
 * parameters) fail the search.
 *
 * Under MPI every process calls the same functions in the same order with the
 * same arguments (the same request): mctx_dist_mesh_new and mctx_dist_search
 * are collective. Every process gets the whole result. */
#ifndef MCTX_DIST_H
#define MCTX_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/engine.h"
#include "mctx/errors.h"
#include "mctx/model.h"
#include "mctx/search.h"
#include "mctx/tree.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mctx_dist_partition {
  MCTX_DIST_PARTITION_BATCH = 0,
  MCTX_DIST_PARTITION_SEARCH = 1
} mctx_dist_partition;

typedef enum mctx_dist_merge {
  MCTX_DIST_MERGE_SUM_VISITS = 0,  /* visits summed, values weighted by visits */
  MCTX_DIST_MERGE_MAX_VALUE = 1,   /* visits summed; root value and q-values of the device with the best root value */
  MCTX_DIST_MERGE_CONSENSUS = 2    /* element-wise median over devices */
} mctx_dist_merge;

/* Which devices a search runs on (the request's device_type). */
typedef enum mctx_dist_device_kind {
  MCTX_DIST_DEVICE_AUTO = 0,  /* GPUs where a process has them, else its CPU */
  MCTX_DIST_DEVICE_CPU = 1,
  MCTX_DIST_DEVICE_GPU = 2    /* GPUs; a process without one uses its CPU and says why */
} mctx_dist_device_kind;

/* ==== The mesh ==== */

typedef struct mctx_dist_mesh mctx_dist_mesh;

typedef struct mctx_dist_mesh_options {
  /* GPUs of this process: NULL or "auto" (every GPU it sees; under MPI the
   * GPU local_rank % count, one per process), "none", or a list "0,2". */
  const char *gpus;
  /* CPU devices of this process, each a CPU engine (default 1). More than one
   * lets a single process exercise several devices without a GPU. */
  int cpu_devices;
  /* Threads of each CPU device; <= 0: the cores of the machine shared among
   * the processes of this machine and their CPU devices (at least 1). */
  int cpu_threads;
  /* MPI: -1 when started by mpirun (the default), 0 never, 1 always. */
  int mpi;
  /* NCCL among GPUs: -1 when every process has GPUs of its own (default), 0 never. */
  int nccl;
} mctx_dist_mesh_options;

/* Fills o with the defaults above. */
void mctx_dist_mesh_options_init(mctx_dist_mesh_options *o);

/* Builds this process's part of the mesh: initializes MPI when it applies
 * (MPI is finalized by mctx_dist_shutdown or at exit), opens the engines of
 * the local devices, learns the devices of the other processes and, when all
 * are GPUs of their own, opens an NCCL communicator over them. Collective
 * under MPI. Returns 0 and *out (free with mctx_dist_mesh_free), or an error. */
int mctx_dist_mesh_new(const mctx_dist_mesh_options *o, mctx_dist_mesh **out, mctx_status *st);
/* Frees the mesh and its engines. NULL is a harmless no-op. Collective under
 * MPI when the mesh holds an NCCL communicator. */
void mctx_dist_mesh_free(mctx_dist_mesh *m);

/* This process's MPI rank (0 without MPI) and the number of processes. */
int mctx_dist_mesh_rank(const mctx_dist_mesh *m);
int mctx_dist_mesh_num_ranks(const mctx_dist_mesh *m);
/* Devices of every process together, of the kind a search of `kind` runs on
 * with a model that supports the engines `engines` (MCTX_ENGINE_* bits). */
int mctx_dist_mesh_num_devices(const mctx_dist_mesh *m, mctx_dist_device_kind kind, int engines);
/* Whether MPI and NCCL are in use, and whether this build has them. */
int mctx_dist_mesh_uses_mpi(const mctx_dist_mesh *m);
int mctx_dist_mesh_uses_nccl(const mctx_dist_mesh *m);
int mctx_dist_have_mpi(void);
int mctx_dist_have_nccl(void);
/* Why there is no NCCL communicator ("" when there is one). Borrowed. */
const char *mctx_dist_mesh_nccl_reason(const mctx_dist_mesh *m);

/* Rank 0's bytes to every process (collective; a no-op without MPI). On rank
 * 0, *data and *len are read; on the others *data receives a malloc'd copy
 * (NUL-terminated; the caller frees it) and *len its length. Lets one process
 * read a request from stdin, which mpirun gives to rank 0 only. */
int mctx_dist_mesh_bcast(mctx_dist_mesh *m, char **data, size_t *len, mctx_status *st);
/* Whether `ok` is non-zero on every process (collective; `ok` itself without
 * MPI). Lets the processes agree to go on before a collective call. */
int mctx_dist_mesh_all(mctx_dist_mesh *m, int ok);

/* The process's default mesh, made on first use with the default options
 * unless mctx_dist_set_default_mesh gave one. NULL with st filled when it
 * cannot be made. The API layer runs distributed requests on it. */
mctx_dist_mesh *mctx_dist_default_mesh(mctx_status *st);
/* Makes m the default mesh (taking ownership; a previous default is freed).
 * m may be NULL. */
void mctx_dist_set_default_mesh(mctx_dist_mesh *m);
/* Frees the default mesh and finalizes MPI if this library initialized it.
 * Call once, at the end of the program; also registered with atexit. */
void mctx_dist_shutdown(void);

/* ==== A distributed search ==== */

/* Returns the model device `ordinal` of kind `kind` runs (a model whose
 * weights live on one GPU needs one per GPU), or NULL to run the shared one. */
typedef const mctx_model *(*mctx_dist_model_fn)(void *arg, mctx_dist_device_kind kind, int ordinal);

typedef struct mctx_dist_config {
  int32_t num_devices;             /* search_params.num_devices: devices asked for (>= 1) */
  mctx_dist_partition partition;   /* partition_search ? SEARCH : BATCH */
  mctx_dist_merge merge;           /* search_params.merge_strategy */
  mctx_dist_device_kind device;    /* device_type */
  int optimized;                   /* use_t4_optimizations: recorded, and each device runs the
                                      model it is given (its reduced-precision path) */
  const char *precision;           /* "fp32", "fp16", "bf16" (NULL: the model's) */
  /* Failure injection: device indices (over the whole mesh) that fail during
   * their first share of each search; -1 ends the list. The environment
   * variable MCTX_DIST_FAIL_DEVICE="k[,j...]" adds to it. A CPU device fails
   * in its second model step (after a simulation has run); a GPU device
   * before its search starts. */
  int32_t fail_devices[8];
  mctx_dist_model_fn model_for_device; /* (optional) */
  void *model_arg;
} mctx_dist_config;

/* Fills c: 1 device, partition_batch, sum_visits, auto, fp32, no failures. */
void mctx_dist_config_init(mctx_dist_config *c);

/* One device's part in a search. */
typedef struct mctx_dist_device_stats {
  int32_t index;                 /* in the mesh of this search */
  int32_t rank;                  /* MPI rank of its process */
  int32_t ordinal;               /* GPU ordinal, or CPU device number in its process */
  char kind[8];                  /* "cpu" or "gpu" */
  char host[64];
  char name[96];                 /* "NVIDIA H100 80GB HBM3", "cpu 0 (2 threads)" */
  char precision[8];             /* what its model ran in: "fp32", or a network's "bf16" */
  int32_t share_begin;           /* partition_batch: first element of its share */
  int32_t share_size;            /* elements (batch) or simulations (search) of its share */
  int32_t ran_size;              /* elements or simulations it ran, taken-over shares included */
  int32_t shares_run;            /* shares it ran */
  double time_ms;                /* time it spent searching */
  int failed;
  char error[192];               /* why it failed */
} mctx_dist_device_stats;

/* What a distributed search did (filled by mctx_dist_search; free with
 * mctx_dist_stats_free). */
typedef struct mctx_dist_stats {
  double duration_ms;            /* the whole call, on this process */
  double communication_ms;       /* exchanging results between devices and processes */
  double merge_ms;               /* merging root statistics (partition_search) */
  double roots_ms;               /* computing the roots once for all devices (0 when given) */
  mctx_dist_partition partition;
  mctx_dist_merge merge;
  char transport[16];            /* "local", "mpi", "nccl", "mpi+nccl" */
  int32_t num_ranks;
  int32_t requested_devices;
  int32_t present_devices;
  int32_t used_devices;
  char reason[384];              /* why fewer devices were used than asked for; "" when none */
  int optimized;
  char precision[8];
  int32_t failed_devices;
  int32_t reassigned_shares;     /* shares run again on another device */
  int32_t num_devices;           /* entries of devices[] (the used devices) */
  mctx_dist_device_stats *devices;
} mctx_dist_stats;

/* Frees stats->devices and zeroes it. NULL is a harmless no-op. */
void mctx_dist_stats_free(mctx_dist_stats *stats);

/* Runs one search over the mesh.
 *
 * p, model and root are as for mctx_engine_search (a fresh search; the roots
 * may leave prior_logits, value or embeddings to the model, which then
 * computes them once for the whole batch). res is filled for the whole batch
 * on every process (any array but action may be NULL). tree may be NULL;
 * given (partition_batch only), it receives every element's tree as one
 * device would build it. stats may be NULL; given, it is filled (free it with
 * mctx_dist_stats_free). One search at a time runs on a mesh (others wait).
 *
 * Returns 0, or an error with st naming the field ("search_params.num_devices")
 * and the reason; all processes return the same code. */
int mctx_dist_search(mctx_dist_mesh *mesh, const mctx_dist_config *cfg, const mctx_search_params *p,
                     const mctx_model *model, const mctx_root *root, mctx_tree *tree, mctx_result *res,
                     mctx_dist_stats *stats, mctx_status *st);

/* The shares of a partition: n items over d devices, share i is
 * [*begin, *begin + *size), sizes n / d and, for the first n % d, one more. */
void mctx_dist_share(int32_t n, int32_t d, int32_t i, int32_t *begin, int32_t *size);

/* Names: "batch"/"search", "sum_visits"/"max_value"/"consensus". */
const char *mctx_dist_partition_name(mctx_dist_partition p);
const char *mctx_dist_merge_name(mctx_dist_merge m);
/* Parses a merge strategy name; returns 0 or MCTX_EINVALID. */
int mctx_dist_merge_parse(const char *name, mctx_dist_merge *out);

struct mctx_jw;
/* Writes stats as the result's "distributed_stats" object with the JSON
 * writer of util/jsonw.h. */
void mctx_dist_stats_json(struct mctx_jw *w, const mctx_dist_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
