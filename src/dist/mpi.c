/* dist/mpi.c: the processes of a distributed search, over MPI (Open MPI).
 *
 * A rank per device set: every process of `mpirun -np N mctx ...` runs the
 * same program on the same request; this file initializes MPI (only the
 * calling thread talks to MPI: MPI_THREAD_FUNNELED), tells the processes of
 * one machine apart (for GPU and core assignment), and carries the
 * collectives the mesh and the search need: all-gathers of fixed and varying
 * sizes, a broadcast and an agreement. Payloads larger than 2 GiB travel in
 * blocks of MCTX__DIST_ALIGN bytes. The MPI transport of a search
 * (mctx__transport_mpi) lives here too. Built without MPI, the functions say
 * there is one process and the transport is never chosen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist-impl.h"

int mctx__mpi_launched(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS",
                                     NULL};
  for (int i = 0; vars[i]; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

#if defined(MCTX_DIST_HAVE_MPI)
#include <limits.h>
#include <mpi.h>

static int g_initialized_here;
static int g_finalized;

int mctx_dist_have_mpi(void) { return 1; }

static int mpi_error(mctx_status *st, int err, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", err);
  return mctx_status_set(st, MCTX_EDEVICE, "mpi", "%s: %s", what, msg);
}

int mctx__mpi_init(int want, int *used, mctx_status *st) {
  *used = 0;
  if (want == 0) return 0;
  if (want < 0 && !mctx__mpi_launched()) return 0;
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    int provided = 0;
    int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (err != MPI_SUCCESS) return mpi_error(st, err, "MPI_Init_thread");
    g_initialized_here = 1;
    /* Errors come back as codes, to be reported, not as an abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  *used = 1;
  return 0;
}

int mctx__mpi_rank(void) {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int mctx__mpi_size(void) {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void mctx__mpi_local(int *local_rank, int *local_size) {
  MPI_Comm node;
  *local_rank = 0;
  *local_size = 1;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return;
  MPI_Comm_rank(node, local_rank);
  MPI_Comm_size(node, local_size);
  MPI_Comm_free(&node);
}

int mctx__mpi_allgather(const void *send, size_t bytes, void *recv, mctx_status *st) {
  if (bytes > INT_MAX) return mctx_status_set(st, MCTX_ELIMIT, "mpi", "an all-gather of %zu bytes per process", bytes);
  int err = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
  return err == MPI_SUCCESS ? 0 : mpi_error(st, err, "MPI_Allgather");
}

int mctx__mpi_allgatherv(const void *send, const size_t *counts, void *recv, mctx_status *st) {
  int n = mctx__mpi_size(), r = mctx__mpi_rank();
  int *cnt = malloc((size_t)n * sizeof(int)), *dis = malloc((size_t)n * sizeof(int));
  if (!cnt || !dis) {
    free(cnt);
    free(dis);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  /* In blocks of MCTX__DIST_ALIGN bytes when every count allows it. */
  size_t unit = MCTX__DIST_ALIGN, total = 0;
  for (int i = 0; i < n; i++) {
    if (counts[i] % MCTX__DIST_ALIGN) unit = 1;
    total += counts[i];
  }
  int rc = 0;
  if (total / unit > INT_MAX)
    rc = mctx_status_set(st, MCTX_ELIMIT, "mpi", "an all-gather of %zu bytes", total);
  size_t off = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    cnt[i] = (int)(counts[i] / unit);
    dis[i] = (int)(off / unit);
    off += counts[i];
  }
  MPI_Datatype type = MPI_BYTE;
  if (rc == 0 && unit > 1) {
    if (MPI_Type_contiguous((int)unit, MPI_BYTE, &type) != MPI_SUCCESS || MPI_Type_commit(&type) != MPI_SUCCESS)
      rc = mctx_status_set(st, MCTX_EDEVICE, "mpi", "cannot make an MPI block type");
  }
  if (rc == 0) {
    int err = MPI_Allgatherv(send, cnt[r], type, recv, cnt, dis, type, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) rc = mpi_error(st, err, "MPI_Allgatherv");
  }
  if (type != MPI_BYTE) MPI_Type_free(&type);
  free(cnt);
  free(dis);
  return rc;
}

int mctx__mpi_bcast(void *buf, size_t bytes, mctx_status *st) {
  char *p = buf;
  while (bytes > 0) {
    int n = bytes > (size_t)(1 << 30) ? 1 << 30 : (int)bytes;
    int err = MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) return mpi_error(st, err, "MPI_Bcast");
    p += n;
    bytes -= (size_t)n;
  }
  return 0;
}

int mctx__mpi_all(int ok) {
  int in = ok ? 1 : 0, out = 0;
  if (MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD) != MPI_SUCCESS) return 0;
  return out;
}

void mctx__mpi_finalize(void) {
  if (!g_initialized_here || g_finalized) return;
  int flag = 0;
  MPI_Finalized(&flag);
  if (!flag) MPI_Finalize();
  g_finalized = 1;
}

/* ==== The MPI transport ==== */

/* Every process sends its devices' headers, then their payloads, in one
 * all-gather each. */
static int mpi_exchange(mctx_dist_mesh *m, mctx__xchg *x, mctx_status *st) {
  int R = m->nranks;
  size_t *counts = calloc((size_t)R, sizeof(size_t));
  if (!counts) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  for (int32_t d = 0; d < x->D; d++) counts[x->dev_rank[d]] += sizeof(mctx__dev_header);
  /* MPI wants distinct send and receive buffers. */
  mctx__dev_header *mine_hdr = malloc((size_t)(x->nlocal > 0 ? x->nlocal : 1) * sizeof(mctx__dev_header));
  if (!mine_hdr) {
    free(counts);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  if (x->nlocal > 0) memcpy(mine_hdr, x->hdr + x->first_local, (size_t)x->nlocal * sizeof(mctx__dev_header));
  int rc = mctx__mpi_allgatherv(mine_hdr, counts, x->hdr, st);
  free(mine_hdr);
  if (rc == 0) {
    /* Headers arrive in device order, since devices are numbered by rank. */
    size_t total = 0;
    for (int r = 0; r < R; r++) counts[r] = 0;
    for (int32_t d = 0; d < x->D; d++) {
      x->offset[d] = total;
      total += (size_t)x->hdr[d].payload_bytes;
      counts[x->dev_rank[d]] += (size_t)x->hdr[d].payload_bytes;
    }
    size_t mine = counts[m->rank];
    uint8_t *send = malloc(mine ? mine : 1);
    x->recv = malloc(total ? total : 1);
    if (!send || !x->recv) {
      rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %zu bytes of results", total);
    } else {
      size_t off = 0;
      for (int32_t i = 0; i < x->nlocal; i++) {
        size_t n = (size_t)x->hdr[x->first_local + i].payload_bytes;
        if (n) memcpy(send + off, x->send[i], n);
        off += n;
      }
      rc = mctx__mpi_allgatherv(send, counts, x->recv, st);
    }
    free(send);
  }
  free(counts);
  return rc;
}

const mctx__transport mctx__transport_mpi = {"mpi", 0, mpi_exchange};

#else /* no MPI */

int mctx_dist_have_mpi(void) { return 0; }

int mctx__mpi_init(int want, int *used, mctx_status *st) {
  *used = 0;
  if (want == 1)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "mpi", "this build has no MPI (install libopenmpi-dev and rebuild)");
  return 0;
}
int mctx__mpi_rank(void) { return 0; }
int mctx__mpi_size(void) { return 1; }
void mctx__mpi_local(int *local_rank, int *local_size) {
  *local_rank = 0;
  *local_size = 1;
}
int mctx__mpi_allgather(const void *send, size_t bytes, void *recv, mctx_status *st) {
  (void)st;
  memmove(recv, send, bytes);
  return 0;
}
int mctx__mpi_allgatherv(const void *send, const size_t *counts, void *recv, mctx_status *st) {
  (void)st;
  memmove(recv, send, counts[0]);
  return 0;
}
int mctx__mpi_bcast(void *buf, size_t bytes, mctx_status *st) {
  (void)buf; (void)bytes; (void)st;
  return 0;
}
int mctx__mpi_all(int ok) { return ok; }
void mctx__mpi_finalize(void) {}

const mctx__transport mctx__transport_mpi = {"mpi", 0, NULL};

#endif
