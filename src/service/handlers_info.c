/* service/handlers_info.c: the routes that describe the service rather than
 * search: health (the product notes' route and the two probes), /metrics,
 * /openapi.json, and the token route that turns an API key into a bearer
 * token. None of them touches the search queue or the database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/json.h"
#if defined(MCTX_HAVE_CUDA)
#include "mctx/cuda.h"
#endif
#include "service/dashboard.h"
#include "service/log.h"
#include "service/server.h"
#include "util/jsonw.h"

static const char *state_name(int st) {
  return st == MCTX_STATE_READY ? "ready" : st == MCTX_STATE_STARTING ? "starting" : "draining";
}

/* The spool's view of the database, or zeros before it is open. */
static void spool_stats(mctx_server *s, mctx_spool_stats *ss) {
  memset(ss, 0, sizeof *ss);
  if (s->spool) mctx_spool_get_stats(s->spool, ss);
}

/* Starts a 503 body: the error envelope's members, left open for more. */
static void open_unavailable(mctx_jw *w, const char *message, const char *reason) {
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "status_code", mctx_jw_i64, 503);
  MCTX_JW_KV(w, "message", mctx_jw_str, message);
  mctx_jw_key(w, "details");
  mctx_jw_obj(w);
  mctx_jw_key(w, "field");
  mctx_jw_null(w);
  MCTX_JW_KV(w, "reason", mctx_jw_str, reason);
  mctx_jw_end(w);
}

static void write_database(mctx_jw *w, mctx_server *s) {
  mctx_spool_stats ss;
  spool_stats(s, &ss);
  mctx_jw_key(w, "database");
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "backend", mctx_jw_str, s->store_write ? mctx_store_backend(s->store_write) : "none");
  MCTX_JW_KV(w, "status", mctx_jw_str, !s->spool ? "starting" : ss.db_ok ? "ok" : "degraded");
  MCTX_JW_KV(w, "backlog", mctx_jw_i64, (int64_t)ss.depth);
  MCTX_JW_KV(w, "oldest_age_s", mctx_jw_f64, ss.oldest_age_s);
  MCTX_JW_KV(w, "written", mctx_jw_i64, (int64_t)ss.written);
  MCTX_JW_KV(w, "dropped", mctx_jw_i64, (int64_t)ss.dropped);
  if (!ss.db_ok && ss.last_error[0]) MCTX_JW_KV(w, "last_error", mctx_jw_str, ss.last_error);
  mctx_jw_end(w);
}

void mctx_h_health(mctx_server *s, mctx_svc_req *r) {
  int st = atomic_load(&s->state);
  int ok = st == MCTX_STATE_READY;
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  if (ok) mctx_jw_obj(&w);
  else open_unavailable(&w, st == MCTX_STATE_STARTING ? "the service is starting" : "the service is shutting down",
                        state_name(st));
  MCTX_JW_KV(&w, "status", mctx_jw_str, ok ? "healthy" : state_name(st));
  MCTX_JW_KV(&w, "version", mctx_jw_str, "0.1.0");
  MCTX_JW_KV(&w, "uptime_s", mctx_jw_f64, (double)(mctx_now_ns() - s->started_ns) / 1e9);
  char ts[32];
  mctx_iso8601(mctx_unix_ms(), ts);
  MCTX_JW_KV(&w, "timestamp", mctx_jw_str, ts);
  MCTX_JW_KV(&w, "gpu_available", mctx_jw_bool, s->env.gpu != NULL);
  MCTX_JW_KV(&w, "device", mctx_jw_str, s->env.gpu ? "gpu" : "cpu");
  mctx_jw_key(&w, "engines");
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "cpu");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "threads", mctx_jw_i64, s->engine_threads);
  mctx_jw_end(&w);
  mctx_jw_key(&w, "gpu");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "available", mctx_jw_bool, s->env.gpu != NULL);
  if (!s->env.gpu && s->env.gpu_unavailable) MCTX_JW_KV(&w, "reason", mctx_jw_str, s->env.gpu_unavailable);
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  mctx_jw_key(&w, "queue");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "depth", mctx_jw_i64, s->batcher ? (int64_t)mctx_batcher_depth(s->batcher) : 0);
  MCTX_JW_KV(&w, "capacity", mctx_jw_i64, s->cfg.queue_size);
  MCTX_JW_KV(&w, "running", mctx_jw_i64, s->batcher ? (int64_t)mctx_batcher_running(s->batcher) : 0);
  MCTX_JW_KV(&w, "workers", mctx_jw_i64, s->workers);
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "in_flight", mctx_jw_i64, mctx_http_in_flight(s->http));
  write_database(&w, s);
  MCTX_JW_KV(&w, "auth", mctx_jw_str, mctx_auth_enabled(s->auth) ? "on" : "off");
  mctx_jw_end(&w);
  mctx_svc_json(r, ok ? 200 : 503);
  if (!ok) mctx_http_header(&r->http, "Retry-After", st == MCTX_STATE_STARTING ? "1" : "5");
}

void mctx_h_live(mctx_server *s, mctx_svc_req *r) {
  (void)s;
  mctx_buf_puts(&r->http.resp, "{\"status\":\"alive\"}");
  mctx_svc_json(r, 200);
}

void mctx_h_ready(mctx_server *s, mctx_svc_req *r) {
  int st = atomic_load(&s->state);
  int ok = st == MCTX_STATE_READY;
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  if (ok) mctx_jw_obj(&w);
  else open_unavailable(&w, st == MCTX_STATE_STARTING ? "the service is starting" : "the service is shutting down",
                        state_name(st));
  MCTX_JW_KV(&w, "status", mctx_jw_str, state_name(st));
  write_database(&w, s);
  mctx_jw_end(&w);
  mctx_svc_json(r, ok ? 200 : 503);
  if (!ok) mctx_http_header(&r->http, "Retry-After", st == MCTX_STATE_STARTING ? "1" : "5");
}

/* The CUDA engine's view of device memory (the same numbers a GPU search's
 * search_statistics.gpu carries). Without a GPU engine nothing is set and
 * the gauges are not rendered. */
static void gpu_memory(mctx_server *s, mctx_metrics_gauges *g) {
#if defined(MCTX_HAVE_CUDA)
  if (!s->env.gpu || !mctx_engine_is_cuda(s->env.gpu)) return;
  mctx_cuda_memory mem;
  mctx_engine_cuda_memory(s->env.gpu, &mem);
  g->have_gpu_memory = 1;
  g->gpu_total_bytes = (double)mem.total_bytes;
  g->gpu_free_before_bytes = (double)mem.free_before;
  g->gpu_free_after_bytes = (double)mem.free_after;
  g->gpu_engine_bytes = (double)mem.engine_bytes;
  g->gpu_engine_peak_bytes = (double)mem.peak_bytes;
#else
  (void)s;
  (void)g;
#endif
}

void mctx_h_metrics(mctx_server *s, mctx_svc_req *r) {
  mctx_metrics_gauges g;
  memset(&g, 0, sizeof g);
  g.http_in_flight = mctx_http_in_flight(s->http);
  g.suspended = (int64_t)mctx_http_scan_suspended(s->http, NULL);
  if (s->batcher) {
    g.queue_depth = (int64_t)mctx_batcher_depth(s->batcher);
    g.searches_running = (int64_t)mctx_batcher_running(s->batcher);
    g.queue_wait_bound_s = mctx_batcher_max_wait_s(s->batcher);
    g.job_seconds = mctx_batcher_job_seconds(s->batcher);
  }
  g.queue_capacity = s->cfg.queue_size;
  size_t bytes = 0;
  mctx_tasks_counts(s->tasks, g.tasks, &bytes);
  g.task_bytes = (int64_t)bytes;
  int st = atomic_load(&s->state);
  g.ready = st == MCTX_STATE_READY;
  g.draining = st == MCTX_STATE_DRAINING;
  g.uptime_s = (double)(mctx_now_ns() - s->started_ns) / 1e9;
  g.workers = s->workers;
  g.engine_threads = s->engine_threads;
  g.http_threads = s->http_threads;
  g.auth_enabled = mctx_auth_enabled(s->auth);
  g.gpu_available = s->env.gpu != NULL;
  g.db_backend = s->store_write ? mctx_store_backend(s->store_write) : NULL;
  if (s->spool) {
    mctx_spool_stats ss;
    mctx_spool_get_stats(s->spool, &ss);
    g.have_spool = 1;
    g.spool_appended = ss.appended;
    g.spool_written = ss.written;
    g.spool_dropped = ss.dropped;
    g.spool_retries = ss.retries;
    g.spool_depth = ss.depth;
    g.spool_oldest_age_s = ss.oldest_age_s;
    g.db_ok = ss.db_ok;
  }
  if (s->recorder) {
    g.record_queue = (int64_t)mctx_recorder_depth(s->recorder);
    unsigned long long groups, recs;
    mctx_recorder_counts(s->recorder, &groups, &recs);
    g.record_groups = groups;
    g.record_group_records = recs;
  }
  g.trees_stored = atomic_load_explicit(&s->trees_stored, memory_order_relaxed);
  g.trees_skipped = atomic_load_explicit(&s->trees_skipped, memory_order_relaxed);
  gpu_memory(s, &g);
  /* GPU utilization where NVIDIA's management library is (loaded at run
   * time: without a driver nothing is rendered) */
  mctx_dash_gpu nvml;
  mctx_dash_gpu_read(&nvml);
  g.nvml = &nvml;
  mctx_metrics_render(&s->metrics, &g, &r->http.resp);
  if (r->http.resp.failed) {
    mctx_svc_error(r, 500, NULL, "the metrics are larger than the response cap");
    return;
  }
  r->http.content_type = "text/plain; version=0.0.4; charset=utf-8";
  mctx_http_answer(&r->http, 200);
}

void mctx_h_openapi(mctx_server *s, mctx_svc_req *r) {
  mctx_buf_append(&r->http.resp, s->openapi, s->openapi_len);
  mctx_svc_json(r, 200);
}

void mctx_h_token(mctx_server *s, mctx_svc_req *r) {
  if (!mctx_auth_enabled(s->auth)) {
    mctx_svc_error(r, 400, "X-API-Key", "the service runs without API keys, so it issues no tokens");
    return;
  }
  if (!r->who.via || strcmp(r->who.via, "api_key") != 0) {
    mctx_http_header(&r->http, "WWW-Authenticate", "Bearer realm=\"mctx\"");
    mctx_svc_error(r, 401, "X-API-Key", "tokens are issued for an API key (X-API-Key), not for another token");
    return;
  }
  int ttl = mctx_auth_ttl(s->auth);
  if (r->http.body.len > 0) {
    mctx_status st;
    mctx_status_clear(&st);
    mctx_json_limits lim = {8, 65536};
    mctx_json_doc *doc = mctx_json_parse(r->http.body.data, r->http.body.len, &lim, &st);
    if (!doc) {
      mctx_svc_error_st(r, 400, &st);
      return;
    }
    const mctx_json *root = mctx_json_root(doc);
    if (root->type != MCTX_JSON_OBJECT) {
      mctx_json_doc_free(doc);
      mctx_svc_error(r, 400, "body", "expected an object, got %s", mctx_json_type_name(root->type));
      return;
    }
    int64_t v;
    if (mctx_json_int(mctx_json_get(root, "expires_in"), ttl, &v, "expires_in", &st) != 0) {
      mctx_json_doc_free(doc);
      mctx_svc_error_st(r, 400, &st);
      return;
    }
    mctx_json_doc_free(doc);
    if (v < 1 || v > ttl) {
      mctx_svc_error(r, 400, "expires_in", "must be in [1, %d] seconds", ttl);
      return;
    }
    ttl = (int)v;
  }
  int64_t exp = 0;
  char *tok = mctx_auth_issue(s->auth, &r->who, ttl, &exp);
  if (!tok) {
    mctx_svc_error(r, 500, NULL, "the token could not be made");
    return;
  }
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "access_token", mctx_jw_str, tok);
  MCTX_JW_KV(&w, "token_type", mctx_jw_str, "Bearer");
  MCTX_JW_KV(&w, "expires_in", mctx_jw_i64, ttl);
  MCTX_JW_KV(&w, "expires_at", mctx_jw_i64, exp);
  MCTX_JW_KV(&w, "user", mctx_jw_str, r->who.name);
  MCTX_JW_KV(&w, "role", mctx_jw_str, mctx_role_name(r->who.role));
  mctx_jw_end(&w);
  free(tok);
  mctx_http_header(&r->http, "Cache-Control", "no-store");
  mctx_svc_json(r, 200);
}
