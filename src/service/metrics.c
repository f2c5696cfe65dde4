/* service/metrics.c: counters, histograms and the Prometheus rendering of
 * metrics.h.
 *
 * Histograms keep non-cumulative bucket counts (one increment per
 * observation) and are made cumulative when rendered. Durations are summed in
 * nanoseconds as integers, so no atomic floating point is needed. */
#include "service/metrics.h"
#include "service/dashboard.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const double HIST_BOUNDS[MCTX_HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
static const int BATCH_BOUNDS[MCTX_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

/* The statuses counted by name; anything else is "other" (the last slot). */
static const int STATUSES[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413,
                               414, 415, 429, 431, 499, 500, 501, 503, 504, 507};
#define NSTATUS (sizeof STATUSES / sizeof STATUSES[0])
_Static_assert(NSTATUS + 1 <= 24, "the request table has 24 status slots");

static const char *const TYPES[MCTX_SEARCH_TYPES] = {"muzero", "gumbel_muzero", "stochastic_muzero", "other"};
static const char *const DEVICES[MCTX_DEVICES] = {"cpu", "gpu", "other"};
static const char *const FAILS[MCTX_FAIL_KINDS] = {"error", "expired", "canceled", "shutdown"};
static const char *const REJECTS[MCTX_REJECT_KINDS] = {"queue_full", "rate_limited", "draining", "tasks_full",
                                                              "queue_wait"};

#define RLX memory_order_relaxed

void mctx_metrics_init(mctx_metrics *m, const char *const *route_names, size_t n) {
  memset(m, 0, sizeof *m);
  if (n > MCTX_METRICS_MAX_ROUTES) n = MCTX_METRICS_MAX_ROUTES;
  for (size_t i = 0; i < n; i++) m->route_names[i] = route_names[i];
  m->route_names[n] = "unmatched";
  m->nroutes = n + 1;
}

static void observe(mctx_hist *h, double seconds) {
  if (seconds < 0) seconds = 0;
  int b = 0;
  while (b < MCTX_HIST_BUCKETS && seconds > HIST_BOUNDS[b]) b++;
  atomic_fetch_add_explicit(&h->bucket[b], 1, RLX);
  atomic_fetch_add_explicit(&h->count, 1, RLX);
  atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(seconds * 1e9), RLX);
}

void mctx_metrics_request(mctx_metrics *m, size_t route, int status, double seconds) {
  if (route >= m->nroutes) route = m->nroutes - 1;
  size_t s = NSTATUS;
  for (size_t i = 0; i < NSTATUS; i++)
    if (STATUSES[i] == status) { s = i; break; }
  atomic_fetch_add_explicit(&m->requests[route][s], 1, RLX);
  observe(&m->request_seconds[route], seconds);
}

static int index_of(const char *const *names, int n, const char *s) {
  if (s)
    for (int i = 0; i < n - 1; i++)
      if (strcmp(names[i], s) == 0) return i;
  return n - 1;
}

void mctx_metrics_search(mctx_metrics *m, const char *search_type, const char *device, int64_t simulations,
                         double queue_s, double compute_s) {
  int t = index_of(TYPES, MCTX_SEARCH_TYPES, search_type);
  int d = index_of(DEVICES, MCTX_DEVICES, device);
  atomic_fetch_add_explicit(&m->searches[t][d], 1, RLX);
  atomic_fetch_add_explicit(&m->search_count, 1, RLX);
  if (simulations > 0) atomic_fetch_add_explicit(&m->simulations, (unsigned long long)simulations, RLX);
  observe(&m->queue_seconds, queue_s);
  observe(&m->compute_seconds, compute_s);
}

void mctx_metrics_search_failed(mctx_metrics *m, int kind, double queue_s) {
  if (kind < 0 || kind >= MCTX_FAIL_KINDS) kind = MCTX_FAIL_ERROR;
  atomic_fetch_add_explicit(&m->search_failures[kind], 1, RLX);
  observe(&m->queue_seconds, queue_s);
}

static int batch_bucket(int64_t v) {
  int b = 0;
  while (b < MCTX_BATCH_BUCKETS && v > BATCH_BOUNDS[b]) b++;
  return b;
}

void mctx_metrics_batch(mctx_metrics *m, int jobs, int32_t elems) {
  atomic_fetch_add_explicit(&m->batch_jobs[batch_bucket(jobs)], 1, RLX);
  atomic_fetch_add_explicit(&m->batch_elems[batch_bucket(elems)], 1, RLX);
  atomic_fetch_add_explicit(&m->batch_runs, 1, RLX);
  atomic_fetch_add_explicit(&m->batch_jobs_sum, (unsigned long long)jobs, RLX);
  atomic_fetch_add_explicit(&m->batch_elems_sum, (unsigned long long)elems, RLX);
}

void mctx_metrics_reject(mctx_metrics *m, int kind) {
  if (kind >= 0 && kind < MCTX_REJECT_KINDS) atomic_fetch_add_explicit(&m->rejections[kind], 1, RLX);
}

static unsigned long long dbits(double d) {
  unsigned long long u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static double bitsd(unsigned long long u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

void mctx_metrics_set_rates(mctx_metrics *m, double sims_per_s, double searches_per_s) {
  atomic_store_explicit(&m->rate_bits[0], dbits(sims_per_s), RLX);
  atomic_store_explicit(&m->rate_bits[1], dbits(searches_per_s), RLX);
}

void mctx_metrics_get_rates(mctx_metrics *m, double *sims_per_s, double *searches_per_s) {
  if (sims_per_s) *sims_per_s = bitsd(atomic_load_explicit(&m->rate_bits[0], RLX));
  if (searches_per_s) *searches_per_s = bitsd(atomic_load_explicit(&m->rate_bits[1], RLX));
}

void mctx_process_memory(double *rss, double *vsize) {
  *rss = 0;
  *vsize = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return;
  unsigned long long size = 0, res = 0;
  if (fscanf(f, "%llu %llu", &size, &res) == 2) {
    double page = (double)sysconf(_SC_PAGESIZE);
    *rss = (double)res * page;
    *vsize = (double)size * page;
  }
  fclose(f);
}

/* ==== Rendering ==== */

static void help(mctx_buf *o, const char *name, const char *type, const char *text) {
  mctx_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static unsigned long long ld(atomic_ullong *a) { return atomic_load_explicit(a, RLX); }

static void render_hist(mctx_buf *o, const char *name, const char *labels, mctx_hist *h) {
  unsigned long long cum = 0;
  const char *sep = labels && *labels ? "," : "";
  for (int b = 0; b < MCTX_HIST_BUCKETS; b++) {
    cum += ld(&h->bucket[b]);
    mctx_buf_printf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels ? labels : "", sep, HIST_BOUNDS[b], cum);
  }
  cum += ld(&h->bucket[MCTX_HIST_BUCKETS]);
  mctx_buf_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels ? labels : "", sep, cum);
  const char *open = labels && *labels ? "{" : "", *close = labels && *labels ? "}" : "";
  mctx_buf_printf(o, "%s_sum%s%s%s %.9f\n", name, open, labels ? labels : "", close, (double)ld(&h->sum_ns) / 1e9);
  mctx_buf_printf(o, "%s_count%s%s%s %llu\n", name, open, labels ? labels : "", close, ld(&h->count));
}

static void render_counts(mctx_buf *o, const char *name, atomic_ullong *buckets, unsigned long long sum) {
  unsigned long long cum = 0;
  for (int b = 0; b < MCTX_BATCH_BUCKETS; b++) {
    cum += ld(&buckets[b]);
    mctx_buf_printf(o, "%s_bucket{le=\"%d\"} %llu\n", name, BATCH_BOUNDS[b], cum);
  }
  cum += ld(&buckets[MCTX_BATCH_BUCKETS]);
  mctx_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu\n%s_count %llu\n", name, cum, name, sum, name, cum);
}

void mctx_metrics_render(mctx_metrics *m, const mctx_metrics_gauges *g, mctx_buf *o) {
  help(o, "mctx_up", "gauge", "1 while the process serves");
  mctx_buf_printf(o, "mctx_up 1\n");
  help(o, "mctx_ready", "gauge", "1 when ready for searches (0 while starting or draining)");
  mctx_buf_printf(o, "mctx_ready %d\n", g->ready);
  help(o, "mctx_draining", "gauge", "1 while shutting down");
  mctx_buf_printf(o, "mctx_draining %d\n", g->draining);
  help(o, "mctx_uptime_seconds", "gauge", "seconds since the service started");
  mctx_buf_printf(o, "mctx_uptime_seconds %.3f\n", g->uptime_s);
  help(o, "mctx_info", "gauge", "configuration of this process");
  mctx_buf_printf(o, "mctx_info{version=\"0.1.0\",workers=\"%d\",engine_threads=\"%d\",http_threads=\"%d\","
                  "auth=\"%s\",gpu=\"%s\",db=\"%s\"} 1\n", g->workers, g->engine_threads, g->http_threads,
                  g->auth_enabled ? "on" : "off", g->gpu_available ? "yes" : "no",
                  g->db_backend ? g->db_backend : "none");

  help(o, "mctx_http_requests_total", "counter", "HTTP requests answered, by route and status");
  for (size_t r = 0; r < m->nroutes; r++)
    for (size_t s = 0; s <= NSTATUS; s++) {
      unsigned long long v = ld(&m->requests[r][s]);
      if (!v) continue;
      if (s < NSTATUS)
        mctx_buf_printf(o, "mctx_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->route_names[r],
                        STATUSES[s], v);
      else
        mctx_buf_printf(o, "mctx_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", m->route_names[r], v);
    }
  help(o, "mctx_http_request_duration_seconds", "histogram", "time from the request's headers to its answer");
  for (size_t r = 0; r < m->nroutes; r++) {
    if (!ld(&m->request_seconds[r].count)) continue;
    char labels[160];
    snprintf(labels, sizeof labels, "route=\"%s\"", m->route_names[r]);
    render_hist(o, "mctx_http_request_duration_seconds", labels, &m->request_seconds[r]);
  }
  help(o, "mctx_http_in_flight", "gauge", "HTTP requests begun and not yet answered");
  mctx_buf_printf(o, "mctx_http_in_flight %lld\n", (long long)g->http_in_flight);
  help(o, "mctx_http_suspended", "gauge", "requests waiting for a search (their connections are parked)");
  mctx_buf_printf(o, "mctx_http_suspended %lld\n", (long long)g->suspended);

  help(o, "mctx_searches_total", "counter", "searches answered successfully, by search type and device");
  for (int t = 0; t < MCTX_SEARCH_TYPES; t++)
    for (int d = 0; d < MCTX_DEVICES; d++)
      mctx_buf_printf(o, "mctx_searches_total{search_type=\"%s\",device=\"%s\"} %llu\n", TYPES[t], DEVICES[d],
                      ld(&m->searches[t][d]));
  help(o, "mctx_search_failures_total", "counter", "searches that did not answer a result, by reason");
  for (int k = 0; k < MCTX_FAIL_KINDS; k++)
    mctx_buf_printf(o, "mctx_search_failures_total{reason=\"%s\"} %llu\n", FAILS[k], ld(&m->search_failures[k]));
  help(o, "mctx_rejected_total", "counter", "requests refused before running, by reason");
  for (int k = 0; k < MCTX_REJECT_KINDS; k++)
    mctx_buf_printf(o, "mctx_rejected_total{reason=\"%s\"} %llu\n", REJECTS[k], ld(&m->rejections[k]));
  help(o, "mctx_client_gone_total", "counter", "searches canceled because their client disconnected");
  mctx_buf_printf(o, "mctx_client_gone_total %llu\n", ld(&m->client_gone));
  help(o, "mctx_search_queue_seconds", "histogram", "time a search waited in the queue");
  render_hist(o, "mctx_search_queue_seconds", NULL, &m->queue_seconds);
  help(o, "mctx_search_compute_seconds", "histogram", "time of the (merged) search a request ran in");
  render_hist(o, "mctx_search_compute_seconds", NULL, &m->compute_seconds);
  help(o, "mctx_queue_depth", "gauge", "searches waiting for a worker");
  mctx_buf_printf(o, "mctx_queue_depth %lld\n", (long long)g->queue_depth);
  help(o, "mctx_queue_capacity", "gauge", "searches the queue holds at most");
  mctx_buf_printf(o, "mctx_queue_capacity %lld\n", (long long)g->queue_capacity);
  help(o, "mctx_queue_wait_bound_seconds", "gauge",
       "admission by queue wait: the longest a search may wait for a worker (--max-queue-wait-us); 0: no bound");
  mctx_buf_printf(o, "mctx_queue_wait_bound_seconds %.6f\n", g->queue_wait_bound_s);
  help(o, "mctx_search_seconds_per_job", "gauge",
       "moving average of a search's time per request, from which admission estimates the queue's wait");
  mctx_buf_printf(o, "mctx_search_seconds_per_job %.6f\n", g->job_seconds);
  help(o, "mctx_searches_running", "gauge", "searches being run by workers");
  mctx_buf_printf(o, "mctx_searches_running %lld\n", (long long)g->searches_running);
  help(o, "mctx_batch_jobs", "histogram", "requests merged into one search (dynamic batching)");
  render_counts(o, "mctx_batch_jobs", m->batch_jobs, ld(&m->batch_jobs_sum));
  help(o, "mctx_batch_size", "histogram", "batch elements of each search run");
  render_counts(o, "mctx_batch_size", m->batch_elems, ld(&m->batch_elems_sum));
  help(o, "mctx_simulations_total", "counter", "simulations run (batch elements x num_simulations)");
  mctx_buf_printf(o, "mctx_simulations_total %llu\n", ld(&m->simulations));
  double sps, qps;
  mctx_metrics_get_rates(m, &sps, &qps);
  help(o, "mctx_simulations_per_second", "gauge", "simulations per second over the last 5 seconds");
  mctx_buf_printf(o, "mctx_simulations_per_second %.3f\n", sps);
  help(o, "mctx_searches_per_second", "gauge", "searches per second over the last 5 seconds");
  mctx_buf_printf(o, "mctx_searches_per_second %.3f\n", qps);

  help(o, "mctx_tasks", "gauge", "async tasks in the table, by state");
  static const char *const ST[5] = {"pending", "running", "done", "failed", "canceled"};
  for (int s = 0; s < 5; s++) mctx_buf_printf(o, "mctx_tasks{state=\"%s\"} %lld\n", ST[s], (long long)g->tasks[s]);
  help(o, "mctx_task_result_bytes", "gauge", "bytes of task results kept");
  mctx_buf_printf(o, "mctx_task_result_bytes %lld\n", (long long)g->task_bytes);

  help(o, "mctx_db_up", "gauge", "1 when the last database write or ping succeeded");
  mctx_buf_printf(o, "mctx_db_up %d\n", g->have_spool ? g->db_ok : 0);
  help(o, "mctx_db_spool_depth", "gauge", "records waiting in the spool for the database (write backlog)");
  mctx_buf_printf(o, "mctx_db_spool_depth %llu\n", (unsigned long long)g->spool_depth);
  help(o, "mctx_db_record_queue", "gauge", "records made and waiting to be appended to the spool");
  mctx_buf_printf(o, "mctx_db_record_queue %lld\n", (long long)g->record_queue);
  help(o, "mctx_db_spool_oldest_age_seconds", "gauge", "age of the oldest record waiting in the spool");
  mctx_buf_printf(o, "mctx_db_spool_oldest_age_seconds %.3f\n", g->spool_oldest_age_s);
  help(o, "mctx_db_records_appended_total", "counter", "records accepted by the spool");
  mctx_buf_printf(o, "mctx_db_records_appended_total %llu\n", (unsigned long long)g->spool_appended);
  help(o, "mctx_db_records_written_total", "counter", "records written to the database");
  mctx_buf_printf(o, "mctx_db_records_written_total %llu\n", (unsigned long long)g->spool_written);
  help(o, "mctx_db_records_dropped_total", "counter", "records the spool could not keep (disk full, ...)");
  mctx_buf_printf(o, "mctx_db_records_dropped_total %llu\n", (unsigned long long)g->spool_dropped);
  help(o, "mctx_db_records_unbuilt_total", "counter", "records that could not be made (out of memory)");
  mctx_buf_printf(o, "mctx_db_records_unbuilt_total %llu\n", ld(&m->records_failed));
  help(o, "mctx_db_write_retries_total", "counter", "database writes retried");
  mctx_buf_printf(o, "mctx_db_write_retries_total %llu\n", (unsigned long long)g->spool_retries);
  help(o, "mctx_db_spool_group_appends_total", "counter",
       "spool appends made by the recorder (one write and one fsync each, shared when they overlap)");
  mctx_buf_printf(o, "mctx_db_spool_group_appends_total %llu\n", (unsigned long long)g->record_groups);
  help(o, "mctx_db_spool_group_records_total", "counter", "records in those appends");
  mctx_buf_printf(o, "mctx_db_spool_group_records_total %llu\n", (unsigned long long)g->record_group_records);
  help(o, "mctx_trees_stored_total", "counter", "search trees handed to the spool for the trees table");
  mctx_buf_printf(o, "mctx_trees_stored_total %llu\n", (unsigned long long)g->trees_stored);
  help(o, "mctx_trees_skipped_total", "counter", "trees asked for but not stored (over --max-response-bytes, ...)");
  mctx_buf_printf(o, "mctx_trees_skipped_total %llu\n", (unsigned long long)g->trees_skipped);

  if (g->have_gpu_memory) {
    help(o, "mctx_gpu_memory_total_bytes", "gauge", "device memory of the GPU the CUDA engine runs on");
    mctx_buf_printf(o, "mctx_gpu_memory_total_bytes %.0f\n", g->gpu_total_bytes);
    help(o, "mctx_gpu_memory_free_before_bytes", "gauge", "free device memory when the last GPU search started");
    mctx_buf_printf(o, "mctx_gpu_memory_free_before_bytes %.0f\n", g->gpu_free_before_bytes);
    help(o, "mctx_gpu_memory_free_after_bytes", "gauge", "free device memory when the last GPU search ended");
    mctx_buf_printf(o, "mctx_gpu_memory_free_after_bytes %.0f\n", g->gpu_free_after_bytes);
    help(o, "mctx_gpu_engine_memory_bytes", "gauge", "device memory the engine's workspace holds now");
    mctx_buf_printf(o, "mctx_gpu_engine_memory_bytes %.0f\n", g->gpu_engine_bytes);
    help(o, "mctx_gpu_engine_peak_memory_bytes", "gauge", "the most device memory the engine held for one search");
    mctx_buf_printf(o, "mctx_gpu_engine_peak_memory_bytes %.0f\n", g->gpu_engine_peak_bytes);
  }

  if (g->nvml && g->nvml->available && g->nvml->count > 0) {
    const mctx_dash_gpu *n = g->nvml;
    help(o, "mctx_gpu_utilization_percent", "gauge",
         "percent of the last sample period a kernel ran on the GPU (NVML)");
    for (unsigned i = 0; i < n->count; i++)
      if (n->dev[i].utilization_gpu >= 0)
        mctx_buf_printf(o, "mctx_gpu_utilization_percent{gpu=\"%u\"} %d\n", n->dev[i].index, n->dev[i].utilization_gpu);
    help(o, "mctx_gpu_memory_utilization_percent", "gauge",
         "percent of the last sample period the GPU's memory was read or written (NVML)");
    for (unsigned i = 0; i < n->count; i++)
      if (n->dev[i].utilization_memory >= 0)
        mctx_buf_printf(o, "mctx_gpu_memory_utilization_percent{gpu=\"%u\"} %d\n", n->dev[i].index,
                        n->dev[i].utilization_memory);
    help(o, "mctx_gpu_memory_used_bytes", "gauge", "device memory in use on the GPU, all processes (NVML)");
    for (unsigned i = 0; i < n->count; i++)
      mctx_buf_printf(o, "mctx_gpu_memory_used_bytes{gpu=\"%u\"} %llu\n", n->dev[i].index,
                      (unsigned long long)n->dev[i].memory_used);
  }

  double rss, vsz;
  mctx_process_memory(&rss, &vsz);
  help(o, "mctx_process_resident_memory_bytes", "gauge", "resident memory of the process");
  mctx_buf_printf(o, "mctx_process_resident_memory_bytes %.0f\n", rss);
  help(o, "mctx_process_virtual_memory_bytes", "gauge", "virtual memory of the process");
  mctx_buf_printf(o, "mctx_process_virtual_memory_bytes %.0f\n", vsz);
}
