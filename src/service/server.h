/* service/server.h: the search service as one object, and what its route
 * handlers share.
 *
 * mctx_server ties the parts together: the HTTP layer (http.h), the route
 * table (routes.c), auth, rate limits, the job queue and its workers
 * (batcher.h), async tasks, metrics, the store (read side) and the spool
 * (write side). server.c runs the request pipeline (route, auth, limits,
 * body checks, dispatch, logging) and the lifecycle (start, drain, stop);
 * the handlers live in handlers_*.c, one file per group of routes. */
#ifndef MCTX_SERVICE_SERVER_H
#define MCTX_SERVICE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "service/auth.h"
#include "service/batcher.h"
#include "service/config.h"
#include "service/http.h"
#include "service/metrics.h"
#include "service/ratelimit.h"
#include "service/recorder.h"
#include "service/router.h"
#include "service/tasks.h"
#include "store/spool.h"
#include "store/store.h"

enum { MCTX_STATE_STARTING = 0, MCTX_STATE_READY = 1, MCTX_STATE_DRAINING = 2 };

/* A request as the service sees it; begins with the HTTP layer's part. */
struct mctx_svc_req {
  mctx_http_req http;
  mctx_server *server;
  const mctx_route *route;        /* NULL when none matched */
  size_t route_index;             /* metrics label index */
  mctx_route_params params;
  mctx_principal who;
  int authenticated;              /* who is filled */

  /* a synchronous search */
  mctx_job *job;                  /* valid until the worker (or the record's callback) frees it, after resuming */
  mctx_work work;
  int is_search;                  /* went to the queue (for the log) */
  int store_tree;                 /* the search's tree goes to the trees table */
  double queue_ms, compute_ms;
  int batch_jobs;
  const char *note;               /* static: why it failed, for the log */
};

struct mctx_server {
  mctx_svc_config cfg;
  mctx_api_env env;               /* the engines (mctx_api_engines_open) and limits */
  const mctx_route *routes;
  size_t nroutes;

  mctx_http *http;
  mctx_auth *auth;
  mctx_ratelimit *rl;
  mctx_batcher *batcher;
  mctx_tasks *tasks;
  mctx_metrics metrics;

  mctx_store *store_read;         /* history reads, under store_lock */
  pthread_mutex_t store_lock;
  mctx_store *store_write;        /* the spool's */
  mctx_spool *spool;
  mctx_recorder *recorder;        /* records -> spool, off the workers' path */
  struct mctx_model_repo *models; /* --model-dir, or NULL (also env.models) */
  pthread_mutex_t models_lock;    /* one reload at a time */
  atomic_ullong trees_stored, trees_skipped;

  char *openapi;                  /* the document, built once */
  size_t openapi_len;

  atomic_int state;               /* MCTX_STATE_* */
  uint64_t started_ns;
  int64_t started_unix_ms;
  int http_threads, workers, engine_threads;

  pthread_t housekeeper;
  int housekeeper_started;
  pthread_mutex_t hk_lock;
  pthread_cond_t hk_cond;
  int hk_stop;
  uint64_t rate_last_ns;
  unsigned long long rate_last_sims, rate_last_searches;
};

/* Starts the service: HTTP first (answering 503 "starting"), then the
 * store, the spool and the workers; ready when it returns. Returns NULL with
 * st filled when something cannot start (then nothing is left running). */
mctx_server *mctx_server_start(const mctx_svc_config *cfg, mctx_status *st);
/* Shutdown, first half: readiness turns 503 and new searches are refused;
 * waits (up to the drain timeout) for the searches queued and running, then
 * cancels what is left, and waits for the answers to go out. */
void mctx_server_drain(mctx_server *s);
/* Stops everything (drains first when not done), flushes the spool, frees s.
 * NULL is a harmless no-op. */
void mctx_server_stop(mctx_server *s);
/* The port bound. */
int mctx_server_port(const mctx_server *s);

/* ==== For handlers ==== */

/* The route table (routes.c) and its size. */
const mctx_route *mctx_service_routes(size_t *n);

/* Answers the error envelope with `status`; field may be NULL. */
void mctx_svc_error(mctx_svc_req *r, int status, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Answers the envelope of an mctx status (its HTTP status from the code
 * unless status > 0). */
void mctx_svc_error_st(mctx_svc_req *r, int status, const mctx_status *st);
/* Answers 503 with Retry-After: retry_after_s; `reason` (static) is the
 * request log's note ("queue_full", "draining", ...). */
void mctx_svc_unavailable(mctx_svc_req *r, int retry_after_s, const char *reason, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Answers r->http.resp as JSON with `status` (500 when the buffer's cap was
 * reached while writing it). */
void mctx_svc_json(mctx_svc_req *r, int status);

/* Hands a finished search's history record (and its compressed tree, taken
 * over, may be NULL) to the spool, never the database: the recorder's
 * appenders write it; `done` (may be NULL) is called with ctx once it is on
 * disk or refused (see mctx_recorder_put). The job may be freed when this
 * returns. */
void mctx_svc_record(mctx_server *s, const mctx_job *job, void *tree, size_t tree_len, mctx_record_done_fn done,
                     void *ctx);
/* Reloads the model repository (POST /api/v1/models/reload, SIGHUP) and
 * logs the outcome. Returns 0; MCTX_ENOTFOUND without --model-dir (then
 * s->models is NULL); or the repository's error (the current models stay). */
int mctx_server_reload_models(mctx_server *s, const char *why, mctx_status *st);

/* Stored trees (trees.c). Whether the prepared job's tree is to be stored
 * (the request says "store_tree": true, or the search has at least
 * --store-trees-over nodes); when so, makes the job keep its tree. */
int mctx_svc_tree_wanted(mctx_server *s, const mctx_http_req *hr, mctx_job *job);
/* The stored form of a finished job's tree (both formats in one JSON
 * document, zstd-compressed): 0 with *out malloc'd, or an error (the tree
 * is larger than --max-response-bytes, out of memory), logged. */
int mctx_svc_tree_blob(mctx_server *s, const mctx_job *job, void **out, size_t *len);
/* Whether searches are taken now (ready, not draining). */
int mctx_svc_accepting(mctx_server *s);

/* Handlers (handlers_search.c) */
void mctx_h_search(mctx_server *s, mctx_svc_req *r);
void mctx_h_task_submit(mctx_server *s, mctx_svc_req *r);
void mctx_h_task_status(mctx_server *s, mctx_svc_req *r);
void mctx_h_task_cancel(mctx_server *s, mctx_svc_req *r);
void mctx_h_task_list(mctx_server *s, mctx_svc_req *r);
/* Handlers (handlers_info.c) */
void mctx_h_health(mctx_server *s, mctx_svc_req *r);
void mctx_h_live(mctx_server *s, mctx_svc_req *r);
void mctx_h_ready(mctx_server *s, mctx_svc_req *r);
void mctx_h_metrics(mctx_server *s, mctx_svc_req *r);
void mctx_h_openapi(mctx_server *s, mctx_svc_req *r);
void mctx_h_token(mctx_server *s, mctx_svc_req *r);
/* Handlers (handlers_history.c) */
void mctx_h_stats_daily(mctx_server *s, mctx_svc_req *r);
void mctx_h_searches(mctx_server *s, mctx_svc_req *r);
void mctx_h_search_get(mctx_server *s, mctx_svc_req *r);
/* Handlers (trees.c) */
void mctx_h_search_tree(mctx_server *s, mctx_svc_req *r);
/* Handlers (handlers_models.c) */
void mctx_h_models(mctx_server *s, mctx_svc_req *r);
void mctx_h_models_reload(mctx_server *s, mctx_svc_req *r);

/* The OpenAPI document of the routes (openapi.c): malloc'd, free() it. */
char *mctx_openapi_build(const mctx_route *routes, size_t n, size_t *len);

#endif
