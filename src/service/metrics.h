/* service/metrics.h: the service's counters and histograms, and their
 * Prometheus text rendering (GET /metrics).
 *
 * Everything the hot path touches is a relaxed atomic: counting a request or
 * a search costs a few uncontended increments and no lock. Values that
 * belong to other parts (queue depth, tasks, the spool's backlog, process
 * memory) are read at render time and passed in as gauges. All names start
 * with mctx_. */
#ifndef MCTX_SERVICE_METRICS_H
#define MCTX_SERVICE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define MCTX_METRICS_MAX_ROUTES 48
#define MCTX_HIST_BUCKETS 19     /* finite upper bounds; +Inf is implied */
#define MCTX_BATCH_BUCKETS 12

enum { MCTX_SEARCH_TYPES = 4, MCTX_DEVICES = 3 };
enum { MCTX_FAIL_ERROR = 0, MCTX_FAIL_EXPIRED, MCTX_FAIL_CANCELED, MCTX_FAIL_SHUTDOWN, MCTX_FAIL_KINDS };
enum { MCTX_REJECT_QUEUE_FULL = 0, MCTX_REJECT_RATE_LIMITED, MCTX_REJECT_DRAINING, MCTX_REJECT_TASKS_FULL,
       MCTX_REJECT_QUEUE_WAIT, MCTX_REJECT_KINDS };

typedef struct mctx_hist {
  atomic_ullong bucket[MCTX_HIST_BUCKETS + 1];  /* non-cumulative; the last is +Inf */
  atomic_ullong count;
  atomic_ullong sum_ns;
} mctx_hist;

typedef struct mctx_metrics {
  size_t nroutes;                               /* routes + 1 ("unmatched") */
  const char *route_names[MCTX_METRICS_MAX_ROUTES + 1];
  atomic_ullong requests[MCTX_METRICS_MAX_ROUTES + 1][24];  /* by status slot */
  mctx_hist request_seconds[MCTX_METRICS_MAX_ROUTES + 1];

  atomic_ullong searches[MCTX_SEARCH_TYPES][MCTX_DEVICES];
  atomic_ullong search_failures[MCTX_FAIL_KINDS];
  atomic_ullong rejections[MCTX_REJECT_KINDS];
  atomic_ullong client_gone;
  atomic_ullong records_failed;
  mctx_hist queue_seconds;                      /* enqueued -> taken by a worker */
  mctx_hist compute_seconds;                    /* the (merged) search run */
  atomic_ullong batch_jobs[MCTX_BATCH_BUCKETS + 1];
  atomic_ullong batch_elems[MCTX_BATCH_BUCKETS + 1];
  atomic_ullong batch_runs, batch_jobs_sum, batch_elems_sum;
  atomic_ullong simulations;                    /* batch elements x num_simulations */
  atomic_ullong search_count;                   /* successful searches, every type */
  atomic_ullong rate_bits[2];                   /* doubles: simulations/s, searches/s */
} mctx_metrics;

/* What the rest of the service reports at render time. */
typedef struct mctx_metrics_gauges {
  int64_t http_in_flight, searches_running, queue_depth, queue_capacity;
  double queue_wait_bound_s;      /* --max-queue-wait-us in seconds; 0: none */
  double job_seconds;             /* the batcher's moving average of a search's time per job */
  int64_t suspended;
  int64_t tasks[5];
  int64_t task_bytes;
  int ready, draining;
  double uptime_s;
  int workers, engine_threads, http_threads;
  int auth_enabled;
  int have_spool;
  uint64_t spool_appended, spool_written, spool_dropped, spool_retries, spool_depth;
  double spool_oldest_age_s;
  int64_t record_queue;           /* records waiting to enter the spool */
  int db_ok;
  const char *db_backend;
  int gpu_available;
  uint64_t record_groups, record_group_records;  /* spool appends by the recorder, and their records */
  uint64_t trees_stored, trees_skipped;
  /* the GPU engine's device memory (have_gpu_memory: a CUDA engine is in use) */
  int have_gpu_memory;
  double gpu_total_bytes, gpu_free_before_bytes, gpu_free_after_bytes, gpu_engine_bytes, gpu_engine_peak_bytes;
  /* NVIDIA's management library (NVML, opened at run time), per GPU; NULL or
   * not available: the gauges are not rendered */
  const struct mctx_dash_gpu *nvml;
} mctx_metrics_gauges;

/* Zeroes m and names the routes (route_names[i] for route index i; the
 * label of index n is "unmatched"). n <= MCTX_METRICS_MAX_ROUTES. */
void mctx_metrics_init(mctx_metrics *m, const char *const *route_names, size_t n);

/* A request answered `status` after `seconds`; route index n is "unmatched". */
void mctx_metrics_request(mctx_metrics *m, size_t route, int status, double seconds);
/* A search answered successfully. */
void mctx_metrics_search(mctx_metrics *m, const char *search_type, const char *device, int64_t simulations,
                         double queue_s, double compute_s);
void mctx_metrics_search_failed(mctx_metrics *m, int kind, double queue_s);
/* A merged search ran: jobs merged, batch elements. */
void mctx_metrics_batch(mctx_metrics *m, int jobs, int32_t elems);
void mctx_metrics_reject(mctx_metrics *m, int kind);
/* Sets the rates (the housekeeping thread samples the counters). */
void mctx_metrics_set_rates(mctx_metrics *m, double sims_per_s, double searches_per_s);
void mctx_metrics_get_rates(mctx_metrics *m, double *sims_per_s, double *searches_per_s);

/* Appends the Prometheus text (format 0.0.4). */
void mctx_metrics_render(mctx_metrics *m, const mctx_metrics_gauges *g, mctx_buf *out);

/* Resident and virtual memory of this process in bytes (0 when unknown). */
void mctx_process_memory(double *rss, double *vsize);

#endif
