/* service/server.c: the service's lifecycle and its request pipeline.
 *
 * Start: the HTTP layer first (so that probes see "starting"), then the
 * store and the spool, then the search workers; the service is ready when
 * mctx_server_start returns. Every request then passes, on an HTTP thread:
 * route (404, 405), authentication (401) and role (403), rate limit (429),
 * readiness of search routes (503), body size (413) and content type (415),
 * and reaches its handler with the whole body. When it completes it is
 * counted in the metrics and logged as one JSON line.
 *
 * A housekeeping thread cancels the searches of clients that hung up,
 * answers queued searches whose deadline passed, expires finished tasks and
 * samples the rates shown on /metrics.
 *
 * Shutdown drains: readiness turns 503, queued and running searches finish
 * within the drain timeout (the rest are canceled and answered 503), the
 * answers go out, then the spool is flushed to the database. */
#include "service/server.h"
#include "util/cpus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "models/repository.h"
#include "service/log.h"

/* ==== Answers ==== */

static int code_for_status(int status) {
  switch (status) {
    case 404: return MCTX_ENOTFOUND;
    case 405: case 415: return MCTX_EUNSUPPORTED;
    case 413: case 431: return MCTX_ELIMIT;
    case 429: case 503: return MCTX_EBUSY;
    case 500: return MCTX_EINTERNAL;
    default: return MCTX_EINVALID;
  }
}

static void answer_status(mctx_svc_req *r, int status, const mctx_status *st) {
  mctx_buf_reset(&r->http.resp);
  mctx_error_json(&r->http.resp, status, st);
  if (r->http.resp.failed) { /* the cap cannot be this small; keep an answer anyway */
    mctx_buf_free(&r->http.resp);
    mctx_buf_init(&r->http.resp, 0);
    mctx_buf_puts(&r->http.resp, "{\"status_code\":500,\"message\":\"internal error\",\"details\":null}");
    status = 500;
  }
  r->http.content_type = "application/json";
  mctx_http_answer(&r->http, status);
}

void mctx_svc_error(mctx_svc_req *r, int status, const char *field, const char *fmt, ...) {
  mctx_status st;
  memset(&st, 0, sizeof st);
  st.code = code_for_status(status);
  if (field) snprintf(st.field, sizeof st.field, "%s", field);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st.reason, sizeof st.reason, fmt, ap);
  va_end(ap);
  answer_status(r, status, &st);
}

void mctx_svc_error_st(mctx_svc_req *r, int status, const mctx_status *st) {
  if (status <= 0) status = mctx_http_status(st->code);
  int has_retry = 0;
  for (int i = 0; i < r->http.nheaders; i++) has_retry |= strcasecmp(r->http.headers[i].name, "Retry-After") == 0;
  if (status == 503 && !has_retry) mctx_http_header(&r->http, "Retry-After", "1"); /* the database, memory: transient */
  answer_status(r, status, st);
}

void mctx_svc_unavailable(mctx_svc_req *r, int retry_after_s, const char *reason, const char *fmt, ...) {
  mctx_status st;
  memset(&st, 0, sizeof st);
  st.code = MCTX_EBUSY;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st.reason, sizeof st.reason, fmt, ap);
  va_end(ap);
  char ra[16];
  snprintf(ra, sizeof ra, "%d", retry_after_s > 0 ? retry_after_s : 1);
  mctx_http_header(&r->http, "Retry-After", ra);
  r->note = reason;
  answer_status(r, 503, &st);
}

void mctx_svc_json(mctx_svc_req *r, int status) {
  if (r->http.resp.failed) {
    mctx_svc_error(r, 500, NULL, "the answer is larger than the response cap (%zu bytes)", r->http.resp.max);
    return;
  }
  r->http.content_type = "application/json";
  mctx_http_answer(&r->http, status);
}

int mctx_svc_accepting(mctx_server *s) { return atomic_load(&s->state) == MCTX_STATE_READY; }

/* ==== Records ==== */

/* One appender thread takes every record queued (up to a group) and writes
 * them with one write and one fsync; while it waits for the disk the next
 * group gathers, so the busier the service the larger the groups (two
 * threads measured the same on the development machine, with more context
 * switches). The queue absorbs bursts; past it the worker appends itself
 * (back-pressure, nothing dropped). */
#define RECORD_APPENDERS 1
#define RECORD_QUEUE 16384
#define RECORD_GROUP 1024

void mctx_svc_record(mctx_server *s, const mctx_job *job, void *tree, size_t tree_len, mctx_record_done_fn done,
                     void *ctx) {
  if (!s->recorder) {
    free(tree);
    atomic_fetch_add_explicit(&s->metrics.records_failed, 1, memory_order_relaxed);
    if (done) done(ctx, MCTX_EINTERNAL);
    return;
  }
  mctx_recorder_put(s->recorder, job, tree, tree_len, done, ctx);
}

/* ==== Models ==== */

int mctx_server_reload_models(mctx_server *s, const char *why, mctx_status *st) {
  mctx_status_clear(st);
  if (!s->models)
    return mctx_status_set(st, MCTX_ENOTFOUND, "model_dir", "the service has no model repository (--model-dir, "
                           "MCTX_MODEL_DIR)");
  pthread_mutex_lock(&s->models_lock);
  uint64_t t0 = mctx_now_ns();
  int rc = mctx_model_repo_reload(s->models, st);
  mctx_logline l;
  if (mctx_log_begin(&l, rc == 0 ? MCTX_LOG_INFO : MCTX_LOG_ERROR,
                     rc == 0 ? "models reloaded" : "models not reloaded; the current set stays")) {
    mctx_log_str(&l, "trigger", why);
    mctx_log_str(&l, "dir", mctx_model_repo_dir(s->models));
    mctx_log_int(&l, "models", mctx_model_repo_count(s->models));
    mctx_log_int(&l, "generation", (int64_t)mctx_model_repo_generation(s->models));
    mctx_log_ms(&l, "duration_ms", (double)(mctx_now_ns() - t0) / 1e6);
    if (rc != 0) mctx_log_str(&l, "reason", st->reason);
    mctx_log_end(&l);
  }
  pthread_mutex_unlock(&s->models_lock);
  return rc;
}

/* ==== The pipeline ==== */

static int content_type_json(const char *ct) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  if (strncasecmp(ct, "application/json", 16) != 0) return 0;
  char c = ct[16];
  return c == '\0' || c == ';' || c == ' ';
}

static void add_cors(mctx_server *s, mctx_svc_req *r) {
  if (!s->cfg.cors_origin[0]) return;
  mctx_http_header(&r->http, "Access-Control-Allow-Origin", s->cfg.cors_origin);
  mctx_http_header(&r->http, "Vary", "Origin");
}

static void on_headers(void *app, mctx_http_req *hr) {
  mctx_server *s = app;
  mctx_svc_req *r = (mctx_svc_req *)hr;
  r->server = s;
  r->route_index = s->nroutes;
  add_cors(s, r);
  if (hr->head_over) {
    r->note = "head_too_large";
    mctx_svc_error(r, 431, "headers", "the request line and headers take %zu bytes; at most %zu are accepted",
                   hr->head_bytes, s->cfg.max_head_bytes);
    return;
  }
  char allow[128];
  int method = hr->method == MCTX_HTTP_OPTIONS ? MCTX_HTTP_OTHER : hr->method;
  int m = mctx_router_match(s->routes, s->nroutes, method, hr->path, &r->route, &r->params, allow, sizeof allow);
  if (m == 404) {
    r->route = NULL;
    mctx_svc_error(r, 404, "path", "no route for %s", hr->path);
    return;
  }
  if (m == 405) {
    r->route = NULL;
    if (hr->method == MCTX_HTTP_OPTIONS) { /* CORS preflight or a plain OPTIONS */
      char allow2[160];
      snprintf(allow2, sizeof allow2, "%s, OPTIONS", allow);
      mctx_http_header(hr, "Allow", allow2);
      if (s->cfg.cors_origin[0]) {
        mctx_http_header(hr, "Access-Control-Allow-Methods", allow2);
        mctx_http_header(hr, "Access-Control-Allow-Headers", "Content-Type, X-API-Key, Authorization, X-Request-ID");
        mctx_http_header(hr, "Access-Control-Max-Age", "600");
      }
      mctx_http_answer(hr, 204);
      return;
    }
    mctx_http_header(hr, "Allow", allow);
    mctx_svc_error(r, 405, "method", "%s is not allowed on %s (allowed: %s)", hr->method_str, hr->path, allow);
    return;
  }
  const mctx_route *rt = r->route;
  r->route_index = (size_t)(rt - s->routes);

  /* who */
  int need = rt->access;
  if (need == MCTX_ACCESS_METRICS) need = s->cfg.metrics_public ? MCTX_ACCESS_PUBLIC : MCTX_ACCESS_USER;
  if (need != MCTX_ACCESS_PUBLIC) {
    mctx_status st;
    mctx_status_clear(&st);
    if (mctx_auth_identify(s->auth, mctx_http_request_header(hr, "X-API-Key"),
                           mctx_http_request_header(hr, "Authorization"), &r->who, &st) != 0) {
      mctx_http_header(hr, "WWW-Authenticate", "Bearer realm=\"mctx\"");
      r->note = "unauthenticated";
      mctx_svc_error_st(r, 401, &st);
      return;
    }
    r->authenticated = 1;
    if (need == MCTX_ACCESS_ADMIN && r->who.role < MCTX_ROLE_ADMIN) {
      r->note = "forbidden";
      mctx_svc_error(r, 403, "role", "%s %s needs the admin role; '%s' has the role %s", mctx_http_method_name(rt->method),
                     rt->pattern, r->who.name, mctx_role_name(r->who.role));
      return;
    }
  }

  /* how often */
  if (rt->rate_class >= 0 && mctx_ratelimit_on(s->rl, r->route_index)) {
    char client[96];
    if (r->authenticated && mctx_auth_enabled(s->auth)) snprintf(client, sizeof client, "key:%s", r->who.name);
    else snprintf(client, sizeof client, "ip:%s", hr->client_ip);
    int remaining = 0;
    int wait = mctx_ratelimit_take(s->rl, r->route_index, client, hr->t_start_ns, &remaining);
    char v[32];
    snprintf(v, sizeof v, "%d", mctx_ratelimit_limit(s->rl, r->route_index));
    mctx_http_header(hr, "X-RateLimit-Limit", v);
    if (wait > 0) {
      snprintf(v, sizeof v, "%d", wait);
      mctx_http_header(hr, "Retry-After", v);
      mctx_http_header(hr, "X-RateLimit-Remaining", "0");
      mctx_metrics_reject(&s->metrics, MCTX_REJECT_RATE_LIMITED);
      r->note = "rate_limited";
      mctx_svc_error(r, 429, "rate_limit", "more than %d requests a minute to %s %s from %s; retry in %d s",
                     mctx_ratelimit_limit(s->rl, r->route_index), mctx_http_method_name(rt->method), rt->pattern,
                     client, wait);
      return;
    }
    snprintf(v, sizeof v, "%d", remaining);
    mctx_http_header(hr, "X-RateLimit-Remaining", v);
  }

  /* searches only when ready */
  if (rt->rate_class == MCTX_RL_SEARCH && !mctx_svc_accepting(s)) {
    int st = atomic_load(&s->state);
    mctx_metrics_reject(&s->metrics, MCTX_REJECT_DRAINING);
    mctx_svc_unavailable(r, st == MCTX_STATE_STARTING ? 1 : 5, st == MCTX_STATE_STARTING ? "starting" : "draining",
                         st == MCTX_STATE_STARTING ? "the service is starting" : "the service is shutting down");
    return;
  }

  /* the body */
  if (hr->body_busy) {
    mctx_svc_unavailable(r, 1, "bodies_full", "too many large request bodies are being received; retry shortly");
    return;
  }
  if (rt->json_body) {
    if (hr->content_length != UINT64_MAX && hr->content_length > s->cfg.max_body_bytes) {
      mctx_svc_error(r, 413, "body", "the body has %llu bytes; at most %zu are accepted",
                     (unsigned long long)hr->content_length, s->cfg.max_body_bytes);
      return;
    }
    int empty = hr->content_length == 0;
    if (!(empty && rt->optional_body)) {
      const char *ct = mctx_http_request_header(hr, "Content-Type");
      if (!content_type_json(ct)) {
        mctx_svc_error(r, 415, "Content-Type", "expected application/json, got %s", ct ? ct : "none");
        return;
      }
    }
  }
}

static void on_body(void *app, mctx_http_req *hr) {
  mctx_server *s = app;
  mctx_svc_req *r = (mctx_svc_req *)hr;
  if (hr->body_over) {
    mctx_svc_error(r, 413, "body", "the body is larger than %zu bytes", s->cfg.max_body_bytes);
    return;
  }
  if (hr->body_busy) {
    mctx_svc_unavailable(r, 1, "bodies_full", "too many large request bodies are being received; retry shortly");
    return;
  }
  r->route->handler(s, r);
}

static void on_complete(void *app, mctx_http_req *hr, int sent) {
  mctx_server *s = app;
  mctx_svc_req *r = (mctx_svc_req *)hr;
  int status = sent ? hr->status : 499;
  double secs = (double)(mctx_now_ns() - hr->t_start_ns) / 1e9;
  mctx_metrics_request(&s->metrics, r->route_index, status, secs);
  const mctx_route *rt = r->route;
  /* probes, scrapes and document fetches that went well are routine */
  int quiet = rt && rt->method == MCTX_HTTP_GET && (rt->access == MCTX_ACCESS_PUBLIC || rt->access == MCTX_ACCESS_METRICS) &&
              status < 400;
  int level = status >= 500 && status != 503 ? MCTX_LOG_ERROR : quiet ? MCTX_LOG_DEBUG : MCTX_LOG_INFO;
  mctx_logline l;
  if (mctx_log_begin(&l, level, "request")) {
    mctx_log_str(&l, "request_id", hr->request_id);
    mctx_log_str(&l, "method", hr->method_str);
    mctx_log_str(&l, "route", rt ? rt->pattern : "unmatched");
    mctx_log_str(&l, "path", hr->path);
    mctx_log_int(&l, "status", status);
    mctx_log_ms(&l, "duration_ms", secs * 1e3);
    if (r->is_search) {
      mctx_log_ms(&l, "queue_ms", r->queue_ms);
      mctx_log_ms(&l, "compute_ms", r->compute_ms);
      mctx_log_int(&l, "batch_jobs", r->batch_jobs);
    }
    if (r->authenticated) mctx_log_str(&l, "user", r->who.name);
    mctx_log_str(&l, "client", hr->client_ip);
    if (r->note) mctx_log_str(&l, "note", r->note);
    if (!sent) mctx_log_str(&l, "error", "the answer was not delivered (client gone)");
    mctx_log_end(&l);
  }
}

/* ==== Housekeeping ==== */

static void on_gone(void *app, mctx_http_req *hr) {
  mctx_server *s = app;
  mctx_svc_req *r = (mctx_svc_req *)hr;
  if (r->job) mctx_job_cancel(r->job);
  atomic_fetch_add_explicit(&s->metrics.client_gone, 1, memory_order_relaxed);
}

#define RATE_SAMPLES 6

static void *housekeeper(void *arg) {
  mctx_server *s = arg;
  pthread_setname_np(pthread_self(), "mctx-housekeep");
  uint64_t last_slow = 0;
  uint64_t t_ring[RATE_SAMPLES] = {0};
  unsigned long long sims_ring[RATE_SAMPLES] = {0}, q_ring[RATE_SAMPLES] = {0};
  int nring = 0, head = 0;
  pthread_mutex_lock(&s->hk_lock);
  while (!s->hk_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 20 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&s->hk_cond, &s->hk_lock, &ts);
    if (s->hk_stop) break;
    pthread_mutex_unlock(&s->hk_lock);

    uint64_t now = mctx_now_ns();
    mctx_http_scan_suspended(s->http, on_gone);
    if (s->batcher) mctx_batcher_expire(s->batcher, now);
    if (now - last_slow >= 1000000000ULL) {
      last_slow = now;
      mctx_tasks_expire(s->tasks);
      t_ring[head] = now;
      sims_ring[head] = atomic_load_explicit(&s->metrics.simulations, memory_order_relaxed);
      q_ring[head] = atomic_load_explicit(&s->metrics.search_count, memory_order_relaxed);
      int oldest = nring < RATE_SAMPLES ? 0 : (head + 1) % RATE_SAMPLES;
      if (nring < RATE_SAMPLES) nring++;
      if (nring > 1 && t_ring[head] > t_ring[oldest]) {
        double dt = (double)(t_ring[head] - t_ring[oldest]) / 1e9;
        mctx_metrics_set_rates(&s->metrics, (double)(sims_ring[head] - sims_ring[oldest]) / dt,
                               (double)(q_ring[head] - q_ring[oldest]) / dt);
      }
      head = (head + 1) % RATE_SAMPLES;
    }
    pthread_mutex_lock(&s->hk_lock);
  }
  pthread_mutex_unlock(&s->hk_lock);
  return NULL;
}

/* ==== Lifecycle ==== */

static void observe_batch(void *ctx, int jobs, int32_t elems, double seconds) {
  (void)seconds;
  mctx_server *s = ctx;
  mctx_metrics_batch(&s->metrics, jobs, elems);
}

static int cores(void) { return mctx_cpu_count(); }

/* mkdir -p */
static int make_dirs(const char *path) {
  char tmp[1024];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

/* For sqlite:PATH, makes PATH's folder. */
static void make_db_dir(const char *url) {
  if (strncmp(url, "sqlite:", 7) != 0) return;
  const char *path = url + 7;
  if (strncmp(path, "//", 2) == 0) path += 2;
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path) return;
  char dir[1024];
  size_t n = (size_t)(slash - path);
  if (n >= sizeof dir) return;
  memcpy(dir, path, n);
  dir[n] = '\0';
  make_dirs(dir);
}

/* The database URL without its password, for the log: "user:***@" in a
 * URL, "PWD=***" in an ODBC connection string. */
static void redact_url(const char *url, char *out, size_t n) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", url);
  const char *scheme = strstr(tmp, "://");
  const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
  const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
  if (at && colon && colon < at) {
    snprintf(out, n, "%.*s:***%s", (int)(colon - tmp), tmp, at);
    return;
  }
  char *pwd = strcasestr(tmp, "PWD=");
  if (pwd) {
    const char *end = strchr(pwd, ';');
    snprintf(out, n, "%.*s***%s", (int)(pwd + 4 - tmp), tmp, end ? end : "");
    return;
  }
  snprintf(out, n, "%s", tmp);
}

mctx_server *mctx_server_start(const mctx_svc_config *cfg, mctx_status *st) {
  mctx_server *s = calloc(1, sizeof *s);
  if (!s) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  s->cfg = *cfg;
  atomic_store(&s->state, MCTX_STATE_STARTING);
  s->started_ns = mctx_now_ns();
  s->started_unix_ms = mctx_unix_ms();
  pthread_mutex_init(&s->store_lock, NULL);
  pthread_mutex_init(&s->models_lock, NULL);
  pthread_mutex_init(&s->hk_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->hk_cond, &ca);
  pthread_condattr_destroy(&ca);
  s->routes = mctx_service_routes(&s->nroutes);

  int ncores = cores();
  s->workers = cfg->workers > 0 ? cfg->workers : ncores;
  s->http_threads = cfg->http_threads > 0 ? cfg->http_threads : (ncores < 4 ? ncores : 4);
  s->engine_threads = cfg->engine_threads > 0 ? cfg->engine_threads : ncores;

  s->auth = mctx_auth_new(cfg->api_keys, cfg->api_keys_file, cfg->jwt_secret, cfg->jwt_ttl_s, st);
  if (!s->auth) goto fail;
  {
    int per_min[MCTX_RL_CLASSES] = {cfg->rate_search_per_min, cfg->rate_other_per_min};
    mctx_rl_limit *plan = calloc(s->nroutes, sizeof *plan);
    char why[400];
    if (!plan) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); goto fail; }
    if (mctx_ratelimit_plan(s->routes, s->nroutes, per_min, cfg->rate_burst, cfg->rate_routes, "rate_limit_routes",
                            plan, why, sizeof why) != 0) {
      free(plan);
      mctx_status_set(st, MCTX_EINVALID, "rate_limit_routes", "%s", why);
      goto fail;
    }
    s->rl = mctx_ratelimit_new(plan, s->nroutes);
    free(plan);
  }
  s->tasks = mctx_tasks_new(cfg->tasks_max, cfg->task_ttl_s, cfg->tasks_max_bytes);
  if (!s->rl || !s->tasks) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); goto fail; }
  const char *names[MCTX_METRICS_MAX_ROUTES];
  for (size_t i = 0; i < s->nroutes && i < MCTX_METRICS_MAX_ROUTES; i++) names[i] = s->routes[i].pattern;
  mctx_metrics_init(&s->metrics, names, s->nroutes);
  s->openapi = mctx_openapi_build(s->routes, s->nroutes, &s->openapi_len);
  if (!s->openapi) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for the OpenAPI document"); goto fail; }

  s->env.limits = cfg->limits;
  s->env.default_model = s->cfg.default_model;
  if (mctx_api_engines_open(&s->env, cfg->engine, s->engine_threads, st) != 0) goto fail;
  if (cfg->model_dir[0]) {
    if (mctx_model_repo_open(cfg->model_dir, &s->models, st) != 0) {
      char why[400];
      snprintf(why, sizeof why, "%s", st->reason);
      mctx_status_set(st, st->code ? st->code : MCTX_EINVALID, "model_dir", "cannot open the model repository %s: %s",
                      cfg->model_dir, why);
      goto fail;
    }
    s->env.models = s->models;
  }

  mctx_http_opts ho = {cfg->host, cfg->port, s->http_threads, cfg->max_connections, cfg->idle_timeout_s,
                       cfg->max_body_bytes, cfg->max_head_bytes, cfg->max_body_total, cfg->max_response_bytes};
  mctx_http_handlers hh = {s, sizeof(mctx_svc_req), on_headers, on_body, on_complete};
  s->http = mctx_http_start(&ho, &hh, st);
  if (!s->http) goto fail;
  if (pthread_create(&s->housekeeper, NULL, housekeeper, s) != 0) {
    mctx_status_set(st, MCTX_ENOMEM, NULL, "cannot start the housekeeping thread");
    goto fail;
  }
  s->housekeeper_started = 1;
  mctx_logline l;
  if (mctx_log_begin(&l, MCTX_LOG_INFO, "listening")) {
    char url[200];
    snprintf(url, sizeof url, "http://%s:%d", cfg->host, mctx_http_port(s->http));
    mctx_log_str(&l, "url", url);
    mctx_log_int(&l, "port", mctx_http_port(s->http));
    mctx_log_str(&l, "state", "starting");
    mctx_log_end(&l);
  }

  /* storage: reads through their own connection, writes through the spool.
   * A client/server database that does not answer now is no reason not to
   * start (MCTX_STORE_OPEN_LAZY): searches are answered, records wait in the
   * spool, and both stores connect when the database is back. */
  char redacted[1024];
  redact_url(cfg->db_url, redacted, sizeof redacted);
  make_db_dir(cfg->db_url);
  s->store_write = mctx_store_open2(cfg->db_url, MCTX_STORE_OPEN_LAZY, st);
  if (!s->store_write) {
    char why[400];
    snprintf(why, sizeof why, "%s", st->reason);
    mctx_status_set(st, st->code ? st->code : MCTX_EDB, "db", "cannot open the database %s: %s", redacted, why);
    goto fail;
  }
  s->store_read = mctx_store_open2(cfg->db_url, MCTX_STORE_OPEN_LAZY, st);
  if (!s->store_read) goto fail;
  if (!mctx_store_is_open(s->store_write)) {
    mctx_status why;
    mctx_status_clear(&why);
    mctx_store_ping(s->store_write, &why);
    mctx_logline dl;
    if (mctx_log_begin(&dl, MCTX_LOG_WARN, "the database does not answer: starting degraded; searches are "
                                           "answered and their records wait in the spool until it is back")) {
      mctx_log_str(&dl, "db", redacted);
      mctx_log_str(&dl, "reason", why.reason);
      mctx_log_end(&dl);
    }
  }
  char spool_dir[1100];
  snprintf(spool_dir, sizeof spool_dir, "%s/spool", cfg->data_dir);
  if (make_dirs(spool_dir) != 0) {
    mctx_status_set(st, MCTX_EIO, "data_dir", "cannot make %s: %s", spool_dir, strerror(errno));
    goto fail;
  }
  mctx_spool_opts so = {spool_dir, cfg->spool_max_bytes, 0, 0, 0};
  s->spool = mctx_spool_open(&so, s->store_write, st);
  if (!s->spool) goto fail;

  s->recorder = mctx_recorder_start(s->spool, RECORD_APPENDERS, RECORD_QUEUE, RECORD_GROUP,
                                     (int64_t)cfg->spool_sync_interval_us * 1000, &s->metrics.records_failed);
  if (!s->recorder) { mctx_status_set(st, MCTX_ENOMEM, NULL, "cannot start the record appenders"); goto fail; }

  mctx_batcher_opts bo = {s->workers, cfg->queue_size, cfg->batch_max, cfg->batch_max_delay_us,
                          cfg->max_queue_wait_us};
  s->batcher = mctx_batcher_start(&bo, &s->env, observe_batch, s, st);
  if (!s->batcher) goto fail;

  if (!mctx_auth_enabled(s->auth))
    mctx_logf(MCTX_LOG_WARN, "AUTHENTICATION IS OFF: no API keys are configured (MCTX_API_KEYS or "
                             "MCTX_API_KEYS_FILE), so every client is anonymous with the admin role. "
                             "Configure keys before exposing this service beyond this host.");
  else if (mctx_auth_secret_is_random(s->auth))
    mctx_logf(MCTX_LOG_WARN, "no MCTX_JWT_SECRET: bearer tokens are signed with a random secret and stop "
                             "working when this process ends");
  else if (strlen(cfg->jwt_secret) < 32)
    mctx_logf(MCTX_LOG_WARN, "MCTX_JWT_SECRET has %zu bytes; use at least 32 random bytes for HS256",
              strlen(cfg->jwt_secret));
  atomic_store(&s->state, MCTX_STATE_READY);
  if (mctx_log_begin(&l, MCTX_LOG_INFO, "ready")) {
    char url[200];
    snprintf(url, sizeof url, "http://%s:%d", cfg->host, mctx_http_port(s->http));
    mctx_log_str(&l, "url", url);
    mctx_log_int(&l, "port", mctx_http_port(s->http));
    mctx_log_str(&l, "db", redacted);
    mctx_log_str(&l, "db_backend", mctx_store_backend(s->store_write));
    mctx_log_int(&l, "workers", s->workers);
    mctx_log_str(&l, "engine", s->env.gpu ? "cuda" : "cpu");
    if (!s->env.gpu && s->env.gpu_unavailable) mctx_log_str(&l, "gpu_unavailable", s->env.gpu_unavailable);
    mctx_log_int(&l, "engine_threads", s->engine_threads);
    mctx_log_int(&l, "http_threads", s->http_threads);
    mctx_log_int(&l, "queue_size", cfg->queue_size);
    mctx_log_int(&l, "max_queue_wait_us", cfg->max_queue_wait_us);
    mctx_log_int(&l, "batch_max", cfg->batch_max);
    mctx_log_int(&l, "batch_max_delay_us", cfg->batch_max_delay_us);
    mctx_log_str(&l, "auth", mctx_auth_enabled(s->auth) ? "on" : "off");
    mctx_log_int(&l, "api_keys", (int64_t)mctx_auth_key_count(s->auth));
    mctx_log_str(&l, "default_model", cfg->default_model);
    if (s->models) {
      mctx_log_str(&l, "model_dir", cfg->model_dir);
      mctx_log_int(&l, "models", mctx_model_repo_count(s->models));
    }
    mctx_log_str(&l, "record_before_reply", cfg->record_before_reply ? "true" : "false");
    mctx_log_int(&l, "spool_sync_interval_us", cfg->spool_sync_interval_us);
    mctx_log_end(&l);
  }
  return s;
fail:
  atomic_store(&s->state, MCTX_STATE_DRAINING);
  mctx_server_stop(s);
  return NULL;
}

int mctx_server_port(const mctx_server *s) { return mctx_http_port(s->http); }

/* Waits until no HTTP request is in flight, or timeout_ms passed. */
static void wait_http_idle(mctx_server *s, int timeout_ms) {
  uint64_t until = mctx_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
  while (s->http && mctx_http_in_flight(s->http) > 0 && mctx_now_ns() < until) {
    struct timespec ts = {0, 2 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

void mctx_server_drain(mctx_server *s) {
  if (atomic_exchange(&s->state, MCTX_STATE_DRAINING) == MCTX_STATE_DRAINING && !s->batcher) return;
  uint64_t t0 = mctx_now_ns();
  uint64_t until = t0 + (uint64_t)s->cfg.drain_timeout_ms * 1000000ULL;
  size_t queued = s->batcher ? mctx_batcher_depth(s->batcher) : 0;
  size_t running = s->batcher ? mctx_batcher_running(s->batcher) : 0;
  mctx_logline l;
  if (mctx_log_begin(&l, MCTX_LOG_INFO, "draining")) {
    mctx_log_int(&l, "queued", (int64_t)queued);
    mctx_log_int(&l, "running", (int64_t)running);
    mctx_log_int(&l, "in_flight", s->http ? mctx_http_in_flight(s->http) : 0);
    mctx_log_int(&l, "drain_timeout_ms", s->cfg.drain_timeout_ms);
    mctx_log_end(&l);
  }
  /* Searches queued or running finish (workers stop waiting to merge). */
  if (s->batcher) {
    mctx_batcher_flush(s->batcher);
    if (mctx_batcher_wait_idle(s->batcher, s->cfg.drain_timeout_ms) != 0) {
      mctx_logf(MCTX_LOG_WARN, "drain timeout: canceling %zu queued and %zu running searches",
                mctx_batcher_depth(s->batcher), mctx_batcher_running(s->batcher));
      mctx_batcher_cancel_all(s->batcher);
      mctx_batcher_wait_idle(s->batcher, 5000);
    }
  }
  /* Requests still in flight (answers on their way out, bodies still
   * arriving) get what is left of the drain time, at least a second. */
  uint64_t now = mctx_now_ns();
  int left_ms = now < until ? (int)((until - now) / 1000000ULL) : 0;
  wait_http_idle(s, left_ms > 1000 ? left_ms : 1000);
  if (mctx_log_begin(&l, MCTX_LOG_INFO, "drained")) {
    mctx_log_ms(&l, "duration_ms", (double)(mctx_now_ns() - t0) / 1e6);
    mctx_log_int(&l, "in_flight", s->http ? mctx_http_in_flight(s->http) : 0);
    mctx_log_end(&l);
  }
}

void mctx_server_stop(mctx_server *s) {
  if (!s) return;
  if (s->batcher && atomic_load(&s->state) != MCTX_STATE_DRAINING) mctx_server_drain(s);
  atomic_store(&s->state, MCTX_STATE_DRAINING);
  if (s->housekeeper_started) {
    pthread_mutex_lock(&s->hk_lock);
    s->hk_stop = 1;
    pthread_cond_signal(&s->hk_cond);
    pthread_mutex_unlock(&s->hk_lock);
    pthread_join(s->housekeeper, NULL);
  }
  /* Every suspended request is answered by its worker before they stop,
   * or by its record's callback, which the recorder's stop runs. */
  mctx_batcher *b = s->batcher;
  s->batcher = NULL;
  mctx_batcher_stop(b);
  mctx_recorder_stop(s->recorder); /* every record into the spool */
  s->recorder = NULL;
  if (s->http) {
    mctx_http_quiesce(s->http);
    wait_http_idle(s, 2000);
    mctx_http_stop(s->http);
    s->http = NULL;
  }
  if (s->spool) {
    uint64_t t0 = mctx_now_ns();
    int left = mctx_spool_flush(s->spool, s->cfg.drain_timeout_ms > 0 ? s->cfg.drain_timeout_ms : 1000);
    mctx_spool_stats ss;
    mctx_spool_get_stats(s->spool, &ss);
    mctx_logline l;
    if (mctx_log_begin(&l, left == 0 ? MCTX_LOG_INFO : MCTX_LOG_WARN,
                       left == 0 ? "spool flushed" : "spool not empty; records stay on disk for the next start")) {
      mctx_log_int(&l, "written", (int64_t)ss.written);
      mctx_log_int(&l, "waiting", (int64_t)ss.depth);
      mctx_log_ms(&l, "duration_ms", (double)(mctx_now_ns() - t0) / 1e6);
      mctx_log_end(&l);
    }
    mctx_spool_close(s->spool, 1000);
  }
  mctx_store_close(s->store_write);
  mctx_store_close(s->store_read);
  mctx_tasks_free(s->tasks);
  mctx_ratelimit_free(s->rl);
  mctx_auth_free(s->auth);
  mctx_api_engines_close(&s->env);
  mctx_model_repo_free(s->models);
  free(s->openapi);
  pthread_cond_destroy(&s->hk_cond);
  pthread_mutex_destroy(&s->hk_lock);
  pthread_mutex_destroy(&s->store_lock);
  pthread_mutex_destroy(&s->models_lock);
  free(s);
}
