/* dist/nccl.c: the NCCL transport among GPUs, in one process or across the
 * processes of an MPI job.
 *
 * One communicator spans every GPU of every process (its rank is the GPU's
 * index in the mesh); each GPU has a stream of its own and its own thread
 * runs the GPU's searches (search.c). After a round, the GPUs' results are
 * uploaded to their GPUs and all-gathered by NCCL, headers first (fixed size),
 * then payloads padded to the largest; the process reads them back from its
 * first GPU. In one process the communicator is made with ncclCommInitRank
 * for each GPU inside one group; across processes rank 0's unique id travels
 * over MPI. NVLink multicast (NVLS) stays off: NCCL_NVLS_ENABLE is set to 0
 * before NCCL starts, whatever the environment said. Built without NCCL,
 * opening fails with the reason and the transport is never chosen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist-impl.h"

#if defined(MCTX_DIST_HAVE_NCCL)
#include <cuda_runtime_api.h>
#include <nccl.h>

struct mctx__nccl {
  int G;                                 /* GPUs over all processes */
  int first;                             /* this process's first GPU in the mesh */
  int nlocal;
  int ordinal[MCTX__DIST_MAX_GPUS];
  ncclComm_t comm[MCTX__DIST_MAX_GPUS];
  cudaStream_t stream[MCTX__DIST_MAX_GPUS];
  void *dsend[MCTX__DIST_MAX_GPUS];
  void *drecv[MCTX__DIST_MAX_GPUS];
  size_t send_cap, recv_cap;             /* bytes of each GPU's buffers */
  /* Pinned host staging, so that copies to and from the GPUs run at full speed. */
  void *hsend[MCTX__DIST_MAX_GPUS];
  void *hrecv;
  size_t hsend_cap, hrecv_cap;
};

int mctx_dist_have_nccl(void) { return 1; }

#define CU(call, what)                                                                      \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess)                                                                  \
      return mctx_status_set(st, MCTX_EDEVICE, "nccl", "%s: %s", (what), cudaGetErrorString(e_)); \
  } while (0)

static int nccl_fail(mctx_status *st, ncclResult_t r, const char *what) {
  return mctx_status_set(st, MCTX_EDEVICE, "nccl", "%s: %s", what, ncclGetErrorString(r));
}

int mctx__nccl_open(mctx_dist_mesh *m, mctx_status *st) {
  /* NVLink multicast must stay off. */
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  if (m->ngpus <= 0) return mctx_status_set(st, MCTX_EUNSUPPORTED, "nccl", "this process has no GPU");
  mctx__nccl *nc = calloc(1, sizeof *nc);
  if (!nc) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  for (int r = 0; r < m->nranks; r++) {
    if (r < m->rank) nc->first += m->ranks[r].ngpus;
    nc->G += m->ranks[r].ngpus;
  }
  nc->nlocal = m->ngpus;
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  int rc = 0;
  ncclResult_t nr = ncclSuccess;
  if (m->rank == 0 && (nr = ncclGetUniqueId(&id)) != ncclSuccess) rc = nccl_fail(st, nr, "ncclGetUniqueId");
  /* Every process must reach the broadcast, whatever happened above. */
  if (m->use_mpi) {
    mctx_status bst;
    if (mctx__mpi_bcast(&id, sizeof id, &bst) != 0 && rc == 0) {
      rc = bst.code;
      if (st) *st = bst;
    }
  }
  int all = mctx_dist_mesh_all(m, rc == 0);
  if (rc == 0 && !all) rc = mctx_status_set(st, MCTX_EDEVICE, "nccl", "another process could not start NCCL");
  if (rc != 0) {
    free(nc);
    return rc;
  }
  nr = ncclGroupStart();
  for (int i = 0; i < nc->nlocal && nr == ncclSuccess; i++) {
    nc->ordinal[i] = m->gpus[i].ordinal;
    if (cudaSetDevice(nc->ordinal[i]) != cudaSuccess) { nr = ncclUnhandledCudaError; break; }
    nr = ncclCommInitRank(&nc->comm[i], nc->G, id, nc->first + i);
  }
  ncclResult_t ne = ncclGroupEnd();
  if (nr == ncclSuccess) nr = ne;
  if (nr != ncclSuccess) {
    rc = nccl_fail(st, nr, "ncclCommInitRank");
    for (int i = 0; i < nc->nlocal; i++)
      if (nc->comm[i]) ncclCommDestroy(nc->comm[i]);
    free(nc);
    return rc;
  }
  for (int i = 0; i < nc->nlocal; i++) {
    cudaError_t e = cudaSetDevice(nc->ordinal[i]);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&nc->stream[i], cudaStreamNonBlocking);
    if (e != cudaSuccess) {
      rc = mctx_status_set(st, MCTX_EDEVICE, "nccl", "GPU %d: %s", nc->ordinal[i], cudaGetErrorString(e));
      break;
    }
  }
  m->nccl = nc;
  if (rc != 0) mctx__nccl_close(m);
  return rc;
}

void mctx__nccl_close(mctx_dist_mesh *m) {
  mctx__nccl *nc = m->nccl;
  if (!nc) return;
  for (int i = 0; i < nc->nlocal; i++) {
    cudaSetDevice(nc->ordinal[i]);
    if (nc->comm[i]) ncclCommDestroy(nc->comm[i]);
    if (nc->stream[i]) cudaStreamDestroy(nc->stream[i]);
    if (nc->dsend[i]) cudaFree(nc->dsend[i]);
    if (nc->drecv[i]) cudaFree(nc->drecv[i]);
    if (nc->hsend[i]) cudaFreeHost(nc->hsend[i]);
  }
  if (nc->hrecv) cudaFreeHost(nc->hrecv);
  free(nc);
  m->nccl = NULL;
}

/* Grows every GPU's buffers, and the pinned staging, to `send` and `recv` bytes. */
static int ensure(mctx__nccl *nc, size_t send, size_t recv, mctx_status *st) {
  if (send > nc->hsend_cap || recv > nc->hrecv_cap) {
    size_t s = send > nc->hsend_cap ? send : nc->hsend_cap, r = recv > nc->hrecv_cap ? recv : nc->hrecv_cap;
    for (int i = 0; i < nc->nlocal; i++) {
      if (nc->hsend[i]) cudaFreeHost(nc->hsend[i]);
      nc->hsend[i] = NULL;
    }
    if (nc->hrecv) cudaFreeHost(nc->hrecv);
    nc->hrecv = NULL;
    nc->hsend_cap = nc->hrecv_cap = 0;
    for (int i = 0; i < nc->nlocal; i++) CU(cudaMallocHost(&nc->hsend[i], s), "cudaMallocHost");
    CU(cudaMallocHost(&nc->hrecv, r), "cudaMallocHost");
    nc->hsend_cap = s;
    nc->hrecv_cap = r;
  }
  if (send <= nc->send_cap && recv <= nc->recv_cap) return 0;
  size_t s = send > nc->send_cap ? send : nc->send_cap, r = recv > nc->recv_cap ? recv : nc->recv_cap;
  for (int i = 0; i < nc->nlocal; i++) {
    CU(cudaSetDevice(nc->ordinal[i]), "cudaSetDevice");
    if (nc->dsend[i]) cudaFree(nc->dsend[i]);
    if (nc->drecv[i]) cudaFree(nc->drecv[i]);
    nc->dsend[i] = nc->drecv[i] = NULL;
    nc->send_cap = nc->recv_cap = 0;
    CU(cudaMalloc(&nc->dsend[i], s), "cudaMalloc");
    CU(cudaMalloc(&nc->drecv[i], r), "cudaMalloc");
  }
  nc->send_cap = s;
  nc->recv_cap = r;
  return 0;
}

/* Every GPU's `bytes` bytes (from host memory send[i], of which len[i] are
 * meaningful) all-gathered by NCCL; the result, G blocks of `bytes`, is read
 * back from this process's first GPU into the pinned nc->hrecv. */
static int allgather(mctx__nccl *nc, const void *const *send, const size_t *len, size_t bytes, mctx_status *st) {
  int rc = ensure(nc, bytes, bytes * (size_t)nc->G, st);
  if (rc) return rc;
  for (int i = 0; i < nc->nlocal; i++) {
    CU(cudaSetDevice(nc->ordinal[i]), "cudaSetDevice");
    if (len[i]) {
      memcpy(nc->hsend[i], send[i], len[i]);
      CU(cudaMemcpyAsync(nc->dsend[i], nc->hsend[i], len[i], cudaMemcpyHostToDevice, nc->stream[i]), "cudaMemcpyAsync");
    }
  }
  ncclResult_t nr = ncclGroupStart();
  for (int i = 0; i < nc->nlocal && nr == ncclSuccess; i++)
    nr = ncclAllGather(nc->dsend[i], nc->drecv[i], bytes, ncclChar, nc->comm[i], nc->stream[i]);
  ncclResult_t ne = ncclGroupEnd();
  if (nr == ncclSuccess) nr = ne;
  if (nr != ncclSuccess) return nccl_fail(st, nr, "ncclAllGather");
  CU(cudaSetDevice(nc->ordinal[0]), "cudaSetDevice");
  CU(cudaMemcpyAsync(nc->hrecv, nc->drecv[0], bytes * (size_t)nc->G, cudaMemcpyDeviceToHost, nc->stream[0]),
     "cudaMemcpyAsync");
  for (int i = 0; i < nc->nlocal; i++) {
    CU(cudaSetDevice(nc->ordinal[i]), "cudaSetDevice");
    CU(cudaStreamSynchronize(nc->stream[i]), "cudaStreamSynchronize");
  }
  return 0;
}

static int nccl_exchange(mctx_dist_mesh *m, mctx__xchg *x, mctx_status *st) {
  mctx__nccl *nc = m->nccl;
  if (!nc || x->D != nc->G || x->first_local != nc->first || x->nlocal != nc->nlocal)
    return mctx_status_set(st, MCTX_EINTERNAL, "nccl", "the search's devices are not the communicator's GPUs");
  const void *hs[MCTX__DIST_MAX_GPUS];
  size_t hl[MCTX__DIST_MAX_GPUS];
  for (int i = 0; i < nc->nlocal; i++) {
    hs[i] = &x->hdr[x->first_local + i];
    hl[i] = sizeof(mctx__dev_header);
  }
  int rc = allgather(nc, hs, hl, sizeof(mctx__dev_header), st);
  if (rc) return rc;
  memcpy(x->hdr, nc->hrecv, (size_t)x->D * sizeof(mctx__dev_header));
  size_t most = 0;
  for (int32_t d = 0; d < x->D; d++)
    most = (size_t)x->hdr[d].payload_bytes > most ? (size_t)x->hdr[d].payload_bytes : most;
  for (int32_t d = 0; d < x->D; d++) x->offset[d] = (size_t)d * most;
  if (most == 0) {
    x->recv = NULL;
    x->recv_borrowed = 1;
    return 0;
  }
  const void *ps[MCTX__DIST_MAX_GPUS];
  size_t pl[MCTX__DIST_MAX_GPUS];
  for (int i = 0; i < nc->nlocal; i++) {
    ps[i] = x->send[i];
    pl[i] = (size_t)x->hdr[x->first_local + i].payload_bytes;
  }
  rc = allgather(nc, ps, pl, most, st);
  x->recv = nc->hrecv;
  x->recv_borrowed = 1;
  return rc;
}

const mctx__transport mctx__transport_nccl = {"nccl", 1, nccl_exchange};
const mctx__transport mctx__transport_mpi_nccl = {"mpi+nccl", 1, nccl_exchange};

#else /* no NCCL */

int mctx_dist_have_nccl(void) { return 0; }

int mctx__nccl_open(mctx_dist_mesh *m, mctx_status *st) {
  (void)m;
  return mctx_status_set(st, MCTX_EUNSUPPORTED, "nccl", "this build has no NCCL");
}

void mctx__nccl_close(mctx_dist_mesh *m) { (void)m; }

const mctx__transport mctx__transport_nccl = {"nccl", 1, NULL};
const mctx__transport mctx__transport_mpi_nccl = {"mpi+nccl", 1, NULL};

#endif
