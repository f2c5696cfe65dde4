/* dist/dist-impl.h: the mesh behind mctx/dist.h, shared by the files of
 * src/dist.
 *
 * mesh.c builds the mesh (local devices, what the other processes hold,
 * NCCL); search.c runs a search over it in rounds (each device runs its
 * shares, the transport exchanges every device's results, failed shares move
 * to healthy devices); merge.c merges partition_search's root statistics and
 * reads the action off them; stats.c writes distributed_stats. The processes
 * talk through mpi.c (stubs when MPI is absent); the GPUs through gpu.c and
 * nccl.c (stubs when CUDA or NCCL is absent). */
#ifndef MCTX_DIST_DIST_IMPL_H
#define MCTX_DIST_DIST_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "mctx/dist.h"
#include "mctx/engine.h"

#define MCTX__DIST_MAX_GPUS 16
#define MCTX__DIST_MAX_CPUS 64
/* Payloads are padded to this many bytes, so that MPI can count them in
 * blocks (more than 2 GiB fit in an int count of blocks). */
#define MCTX__DIST_ALIGN 64

/* ==== The mesh ==== */

/* A device of this process. */
typedef struct mctx__dev {
  mctx_dist_device_kind kind;   /* CPU or GPU */
  int ordinal;                  /* GPU ordinal, or the CPU device's number */
  int threads;                  /* CPU devices */
  mctx_engine *engine;
  mctx_tree *tree;              /* CPU devices: the tree of the last search, kept for the next */
  char name[96];
} mctx__dev;

/* What a process tells the others about itself when the mesh is built.
 * Plain bytes: every process runs the same binary. */
typedef struct mctx__rank_info {
  int32_t ngpus;
  int32_t ncpus;
  int32_t cpu_threads;
  int32_t local_rank;
  char host[64];
  char no_gpu[160];                                  /* why it has no GPU */
  int32_t gpu_ordinal[MCTX__DIST_MAX_GPUS];
  char gpu_name[MCTX__DIST_MAX_GPUS][64];
  char gpu_bus[MCTX__DIST_MAX_GPUS][32];             /* PCI bus id */
} mctx__rank_info;

typedef struct mctx__nccl mctx__nccl;

struct mctx_dist_mesh {
  int rank, nranks;
  int use_mpi;
  int local_rank, local_size;       /* among the processes of this machine */
  mctx__dev gpus[MCTX__DIST_MAX_GPUS];
  int ngpus;
  mctx__dev cpus[MCTX__DIST_MAX_CPUS];
  int ncpus;
  mctx__rank_info *ranks;           /* [nranks] */
  mctx__nccl *nccl;                 /* NULL: none */
  char nccl_reason[256];
  pthread_mutex_t lock;             /* one search at a time */
};

/* Whether process r runs a search of `kind` on its GPUs (else its CPU). */
int mctx__rank_uses_gpu(const mctx_dist_mesh *m, int r, mctx_dist_device_kind kind, int engines);
/* Devices process r brings to such a search. */
int mctx__rank_devices(const mctx_dist_mesh *m, int r, mctx_dist_device_kind kind, int engines);

/* ==== Exchanging results ==== */

/* What a device tells every process after a round. Plain bytes. */
typedef struct mctx__dev_header {
  int32_t device;
  int32_t rc;                 /* 0, or the error that stopped it */
  int32_t shares;             /* shares it completed this round */
  int32_t pad_;
  int64_t payload_bytes;      /* multiple of MCTX__DIST_ALIGN */
  double busy_ms;             /* time it searched this round */
  char field[128];
  char precision[8];          /* what its model ran in ("bf16": a GPU's network path) */
  char reason[408];
} mctx__dev_header;

_Static_assert(sizeof(mctx__dev_header) % MCTX__DIST_ALIGN == 0, "headers travel in aligned blocks");

/* One exchange: every process gives its devices' headers and payloads and
 * gets every device's. */
typedef struct mctx__xchg {
  int32_t D;                        /* devices of the search, all processes */
  const int32_t *dev_rank;          /* [D]: each device's process */
  int32_t first_local, nlocal;      /* this process's devices, contiguous */
  mctx__dev_header *hdr;            /* [D]: local entries in, all out */
  uint8_t *const *send;             /* [nlocal]: local payloads */
  uint8_t *recv;                    /* out: malloc'd, freed by the caller unless borrowed */
  int recv_borrowed;                /* out: recv is the transport's, valid until its next exchange */
  size_t *offset;                   /* [D] out: where each device's payload starts in recv */
} mctx__xchg;

/* A transport: how the devices of a search exchange their results. */
typedef struct mctx__transport {
  const char *name;
  /* 1: the results of this process's devices are read back from the exchange
   * too (they went through the GPUs); 0: they stay where the devices wrote
   * them. */
  int unpack_local;
  /* (optional) NULL: nothing to exchange (one process, host memory). */
  int (*exchange)(mctx_dist_mesh *m, mctx__xchg *x, mctx_status *st);
} mctx__transport;

extern const mctx__transport mctx__transport_local;
extern const mctx__transport mctx__transport_mpi;
extern const mctx__transport mctx__transport_nccl;
extern const mctx__transport mctx__transport_mpi_nccl;

/* ==== Processes: mpi.c ==== */

/* Initializes MPI when `want` says so (-1: when started by mpirun, 1:
 * always, 0: never); *used says whether it is in use. */
int mctx__mpi_init(int want, int *used, mctx_status *st);
int mctx__mpi_rank(void);
int mctx__mpi_size(void);
/* Rank and number of processes on this machine. */
void mctx__mpi_local(int *local_rank, int *local_size);
/* Every process's `bytes` bytes, in rank order, into recv. */
int mctx__mpi_allgather(const void *send, size_t bytes, void *recv, mctx_status *st);
/* Every process's counts[r] bytes, in rank order, into recv. */
int mctx__mpi_allgatherv(const void *send, const size_t *counts, void *recv, mctx_status *st);
/* Rank 0's bytes to every process. */
int mctx__mpi_bcast(void *buf, size_t bytes, mctx_status *st);
/* Logical and of ok over the processes. */
int mctx__mpi_all(int ok);
/* Finalizes MPI if this library initialized it (once). */
void mctx__mpi_finalize(void);
/* Whether this process was started by an MPI launcher. */
int mctx__mpi_launched(void);

/* ==== GPUs: gpu.c and nccl.c ==== */

/* GPUs this process sees; 0 with why filled when none (or no CUDA build). */
int mctx__gpu_count(char *why, size_t n);
/* The PCI bus id of GPU `ordinal` ("" when unknown). */
void mctx__gpu_bus_id(int ordinal, char *out, size_t n);
/* Makes GPU `ordinal` the calling thread's current device (where models made
 * afterwards put their weights). */
void mctx__gpu_use(int ordinal);

/* Opens an NCCL communicator over every GPU of every process (collective).
 * Returns 0 (m->nccl set) or an error. */
int mctx__nccl_open(mctx_dist_mesh *m, mctx_status *st);
void mctx__nccl_close(mctx_dist_mesh *m);

/* ==== Merging: merge.c ==== */

/* Merges T devices' root statistics of B elements over A actions:
 * visits[t], qvalues[t] ([B][A]) and root_value[t] ([B]), as `how` says,
 * into visits_out [B][A] (int), qvalues_out [B][A] and root_value_out [B].
 * Returns 0 or MCTX_ENOMEM. */
int mctx__merge_stats(mctx_dist_merge how, int32_t T, const float *const *visits,
                      const float *const *qvalues, const float *const *root_value, int32_t B, int32_t A,
                      int32_t *visits_out, float *qvalues_out, float *root_value_out, mctx_status *st);

/* What the policy reads off one root's statistics. */
typedef struct mctx__root_stats {
  const int32_t *visits;         /* [A] */
  const float *qvalues;          /* [A]: 0 where unvisited */
  float value;                   /* the root's value (node_values[root]) */
  float raw_value;               /* the root's model value (raw_values[root]) */
  const float *prior_logits;     /* [A]: the root's logits as given (before masking) */
  const uint8_t *invalid;        /* [A] or NULL (the request gave no mask) */
  mctx_elem_key key;             /* the element's own key */
} mctx__root_stats;

/* Reads the action and action weights off one root's statistics as the
 * policy of p does at the end of a search (core/search.c's finish). scratch
 * holds 6 * A floats. Fills *action, weights [A] and, when not NULL,
 * visit_probs [A]. */
void mctx__finish_root(const mctx_search_params *p, int32_t A, const mctx__root_stats *rs, float *scratch,
                       int32_t *action, float *weights, float *visit_probs);

/* ==== Time ==== */

double mctx__dist_now_ms(void);

#endif
