/* dist/mesh.c: the device mesh of a process and of an MPI job.
 *
 * A process brings its GPUs (a CUDA engine each) and its CPU (one or more CPU
 * engines, `cpu_devices`). Under MPI, the GPUs of a machine are shared out
 * among its processes (local rank i takes the GPUs g with g % local_size == i,
 * or GPU i % count when there are more processes than GPUs), and every
 * process tells the others what it has (mctx__rank_info, one all-gather), so
 * every process can number all the devices of a search the same way: by
 * rank, then by local ordinal. When every process has GPUs of its own, an
 * NCCL communicator is opened over all of them. The file also keeps the
 * process's default mesh and the small collectives the CLI needs (a
 * broadcast of the request, an agreement to go on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/dist-impl.h"
#include "util/cpus.h"
#if defined(MCTX_DIST_HAVE_CUDA)
#include "mctx/cuda.h"
#endif

double mctx__dist_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void mctx_dist_mesh_options_init(mctx_dist_mesh_options *o) {
  memset(o, 0, sizeof *o);
  o->gpus = NULL;
  o->cpu_devices = 1;
  o->cpu_threads = 0;
  o->mpi = -1;
  o->nccl = -1;
}

/* ==== Who has what ==== */

int mctx__rank_uses_gpu(const mctx_dist_mesh *m, int r, mctx_dist_device_kind kind, int engines) {
  return kind != MCTX_DIST_DEVICE_CPU && (engines & MCTX_ENGINE_CUDA) && m->ranks[r].ngpus > 0;
}

int mctx__rank_devices(const mctx_dist_mesh *m, int r, mctx_dist_device_kind kind, int engines) {
  return mctx__rank_uses_gpu(m, r, kind, engines) ? m->ranks[r].ngpus : m->ranks[r].ncpus;
}

int mctx_dist_mesh_num_devices(const mctx_dist_mesh *m, mctx_dist_device_kind kind, int engines) {
  int n = 0;
  for (int r = 0; r < m->nranks; r++) n += mctx__rank_devices(m, r, kind, engines);
  return n;
}

int mctx_dist_mesh_rank(const mctx_dist_mesh *m) { return m->rank; }
int mctx_dist_mesh_num_ranks(const mctx_dist_mesh *m) { return m->nranks; }
int mctx_dist_mesh_uses_mpi(const mctx_dist_mesh *m) { return m->use_mpi; }
int mctx_dist_mesh_uses_nccl(const mctx_dist_mesh *m) { return m->nccl != NULL; }
const char *mctx_dist_mesh_nccl_reason(const mctx_dist_mesh *m) { return m->nccl ? "" : m->nccl_reason; }

/* ==== Building the mesh ==== */

/* Parses "0,2,3" into ordinals below `count`. */
static int parse_gpus(const char *s, int count, int *out, int *n, mctx_status *st) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0)
      return mctx_status_set(st, MCTX_EINVALID, "gpus", "must be auto, none or a list of GPU numbers, not '%s'", s);
    if (v >= count)
      return mctx_status_set(st, MCTX_EDEVICE, "gpus", "GPU %ld does not exist (%d present)", v, count);
    if (*n >= MCTX__DIST_MAX_GPUS)
      return mctx_status_set(st, MCTX_ELIMIT, "gpus", "at most %d GPUs per process", MCTX__DIST_MAX_GPUS);
    out[(*n)++] = (int)v;
    p = end;
    if (*p == ',') p++;
    else if (*p) return mctx_status_set(st, MCTX_EINVALID, "gpus", "must be a comma-separated list, not '%s'", s);
  }
  return 0;
}

/* Opens this process's GPUs, filling m->gpus and ri. */
static int open_gpus(mctx_dist_mesh *m, const mctx_dist_mesh_options *o, mctx__rank_info *ri, mctx_status *st) {
  const char *spec = o->gpus && o->gpus[0] ? o->gpus : "auto";
  if (strcmp(spec, "none") == 0) {
    snprintf(ri->no_gpu, sizeof ri->no_gpu, "GPUs were turned off (gpus: none)");
    return 0;
  }
  int count = mctx__gpu_count(ri->no_gpu, sizeof ri->no_gpu);
  if (count <= 0) {
    if (strcmp(spec, "auto") != 0)
      return mctx_status_set(st, MCTX_EDEVICE, "gpus", "GPUs %s were asked for: %s", spec, ri->no_gpu);
    return 0;
  }
  int ord[MCTX__DIST_MAX_GPUS], n = 0;
  if (strcmp(spec, "auto") == 0) {
    if (m->local_size > count) {
      ord[n++] = m->local_rank % count;
    } else {
      for (int g = 0; g < count && n < MCTX__DIST_MAX_GPUS; g++)
        if (g % m->local_size == m->local_rank) ord[n++] = g;
    }
  } else {
    int rc = parse_gpus(spec, count, ord, &n, st);
    if (rc) return rc;
  }
#if defined(MCTX_DIST_HAVE_CUDA)
  for (int i = 0; i < n; i++) {
    mctx_status gst;
    mctx_engine *e = mctx_engine_cuda_new(ord[i], &gst);
    if (!e) {
      snprintf(ri->no_gpu, sizeof ri->no_gpu, "GPU %d: %.140s", ord[i], gst.reason);
      continue;
    }
    mctx__dev *d = &m->gpus[m->ngpus];
    d->kind = MCTX_DIST_DEVICE_GPU;
    d->ordinal = ord[i];
    d->engine = e;
    mctx_cuda_memory mem;
    mctx_engine_cuda_memory(e, &mem);
    snprintf(d->name, sizeof d->name, "%.90s", mem.device_name);
    ri->gpu_ordinal[m->ngpus] = ord[i];
    snprintf(ri->gpu_name[m->ngpus], sizeof ri->gpu_name[0], "%.60s", mem.device_name);
    mctx__gpu_bus_id(ord[i], ri->gpu_bus[m->ngpus], sizeof ri->gpu_bus[0]);
    m->ngpus++;
  }
  /* Models made after the mesh (weights on a GPU) land on this process's first GPU. */
  if (m->ngpus > 0) mctx__gpu_use(m->gpus[0].ordinal);
#else
  (void)ord;
  snprintf(ri->no_gpu, sizeof ri->no_gpu, "this build has no CUDA engine");
#endif
  ri->ngpus = m->ngpus;
  return 0;
}

static int open_cpus(mctx_dist_mesh *m, const mctx_dist_mesh_options *o, mctx__rank_info *ri, mctx_status *st) {
  int threads = o->cpu_threads;
  if (threads <= 0) {
    long cores = mctx_cpu_count();
    threads = (int)(cores / ((long)m->local_size * o->cpu_devices));
    if (threads < 1) threads = 1;
  }
  for (int i = 0; i < o->cpu_devices; i++) {
    mctx__dev *d = &m->cpus[i];
    d->engine = mctx_engine_cpu_new(threads, st);
    if (!d->engine) return st ? st->code : MCTX_ENOMEM;
    d->kind = MCTX_DIST_DEVICE_CPU;
    d->ordinal = i;
    d->threads = threads;
    snprintf(d->name, sizeof d->name, "cpu %d (%d thread%s)", i, threads, threads == 1 ? "" : "s");
    m->ncpus++;
  }
  ri->ncpus = m->ncpus;
  ri->cpu_threads = threads;
  return 0;
}

/* Decides on NCCL the same way on every process; opens it when it applies. */
static void open_nccl(mctx_dist_mesh *m, const mctx_dist_mesh_options *o) {
  char *why = m->nccl_reason;
  size_t n = sizeof m->nccl_reason;
  if (o->nccl == 0) { snprintf(why, n, "NCCL was turned off"); return; }
  if (!mctx_dist_have_nccl()) { snprintf(why, n, "this build has no NCCL"); return; }
  for (int r = 0; r < m->nranks; r++) {
    if (m->ranks[r].ngpus == 0) {
      snprintf(why, n, "process %d has no GPU (%.160s)", r, m->ranks[r].no_gpu);
      return;
    }
  }
  /* NCCL takes a GPU once per communicator: processes sharing a card exchange over MPI. */
  for (int r = 0; r < m->nranks; r++)
    for (int i = 0; i < m->ranks[r].ngpus; i++)
      for (int s = r; s < m->nranks; s++)
        for (int j = (s == r ? i + 1 : 0); j < m->ranks[s].ngpus; j++)
          if (strcmp(m->ranks[r].host, m->ranks[s].host) == 0 && m->ranks[r].gpu_bus[i][0] &&
              strcmp(m->ranks[r].gpu_bus[i], m->ranks[s].gpu_bus[j]) == 0) {
            snprintf(why, n, "processes %d and %d share GPU %.31s on %.63s (NCCL needs a GPU per process)", r, s,
                     m->ranks[r].gpu_bus[i], m->ranks[r].host);
            return;
          }
  mctx_status st;
  mctx_status_clear(&st);
  int rc = mctx__nccl_open(m, &st);
  int all = mctx_dist_mesh_all(m, rc == 0);
  if (rc != 0 || !all) {
    if (rc == 0) {
      mctx__nccl_close(m);
      snprintf(why, n, "NCCL did not start on every process");
    } else {
      snprintf(why, n, "NCCL did not start: %.200s", st.reason);
    }
  }
}

static void at_exit_finalize(void) { mctx__mpi_finalize(); }

int mctx_dist_mesh_new(const mctx_dist_mesh_options *opt, mctx_dist_mesh **out, mctx_status *st) {
  *out = NULL;
  mctx_dist_mesh_options o;
  if (opt) o = *opt;
  else mctx_dist_mesh_options_init(&o);
  if (o.cpu_devices < 1 || o.cpu_devices > MCTX__DIST_MAX_CPUS)
    return mctx_status_set(st, MCTX_ERANGE, "cpu_devices", "must be in [1, %d], not %d", MCTX__DIST_MAX_CPUS,
                           o.cpu_devices);
  mctx_dist_mesh *m = calloc(1, sizeof *m);
  if (!m) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  pthread_mutex_init(&m->lock, NULL);
  m->nranks = 1;
  m->local_size = 1;
  int rc = mctx__mpi_init(o.mpi, &m->use_mpi, st);
  if (rc) {
    pthread_mutex_destroy(&m->lock);
    free(m);
    return rc;
  }
  if (m->use_mpi) {
    static int registered;
    if (!registered) {
      registered = 1;
      atexit(at_exit_finalize);
    }
    m->rank = mctx__mpi_rank();
    m->nranks = mctx__mpi_size();
    mctx__mpi_local(&m->local_rank, &m->local_size);
  }
  mctx__rank_info ri;
  memset(&ri, 0, sizeof ri);
  ri.local_rank = m->local_rank;
  if (gethostname(ri.host, sizeof ri.host - 1) != 0) snprintf(ri.host, sizeof ri.host, "localhost");
  rc = open_gpus(m, &o, &ri, st);
  if (rc == 0) rc = open_cpus(m, &o, &ri, st);
  /* Every process reaches the all-gather: a process that failed says so there. */
  if (m->use_mpi) {
    int all = mctx_dist_mesh_all(m, rc == 0);
    if (rc == 0 && !all) rc = mctx_status_set(st, MCTX_EDEVICE, "mesh", "another process could not open its devices");
  }
  if (rc == 0) {
    m->ranks = calloc((size_t)m->nranks, sizeof *m->ranks);
    if (!m->ranks) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  if (rc == 0) {
    if (m->use_mpi) rc = mctx__mpi_allgather(&ri, sizeof ri, m->ranks, st);
    else m->ranks[0] = ri;
  }
  if (rc == 0) open_nccl(m, &o);
  if (rc != 0) {
    mctx_dist_mesh_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void mctx_dist_mesh_free(mctx_dist_mesh *m) {
  if (!m) return;
  mctx__nccl_close(m);
  for (int i = 0; i < m->ngpus; i++) mctx_engine_free(m->gpus[i].engine);
  for (int i = 0; i < m->ncpus; i++) {
    mctx_engine_free(m->cpus[i].engine);
    mctx_tree_free(m->cpus[i].tree);
  }
  free(m->ranks);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* ==== Small collectives ==== */

int mctx_dist_mesh_bcast(mctx_dist_mesh *m, char **data, size_t *len, mctx_status *st) {
  if (!m->use_mpi || m->nranks == 1) return 0;
  uint64_t n = m->rank == 0 ? (uint64_t)*len : 0;
  int rc = mctx__mpi_bcast(&n, sizeof n, st);
  if (rc) return rc;
  if (m->rank != 0) {
    *data = malloc((size_t)n + 1);
    if (!*data) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %llu bytes", (unsigned long long)n);
    (*data)[n] = '\0';
    *len = (size_t)n;
  }
  return mctx__mpi_bcast(*data, (size_t)n, st);
}

int mctx_dist_mesh_all(mctx_dist_mesh *m, int ok) {
  if (!m->use_mpi || m->nranks == 1) return ok != 0;
  return mctx__mpi_all(ok);
}

/* ==== The default mesh ==== */

static pthread_mutex_t g_default_lock = PTHREAD_MUTEX_INITIALIZER;
static mctx_dist_mesh *g_default;

mctx_dist_mesh *mctx_dist_default_mesh(mctx_status *st) {
  pthread_mutex_lock(&g_default_lock);
  if (!g_default) mctx_dist_mesh_new(NULL, &g_default, st);
  mctx_dist_mesh *m = g_default;
  pthread_mutex_unlock(&g_default_lock);
  return m;
}

void mctx_dist_set_default_mesh(mctx_dist_mesh *m) {
  pthread_mutex_lock(&g_default_lock);
  mctx_dist_mesh *old = g_default;
  g_default = m;
  pthread_mutex_unlock(&g_default_lock);
  if (old && old != m) mctx_dist_mesh_free(old);
}

void mctx_dist_shutdown(void) {
  mctx_dist_set_default_mesh(NULL);
  mctx__mpi_finalize();
}
