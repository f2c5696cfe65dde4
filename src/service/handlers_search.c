/* service/handlers_search.c: the search routes, synchronous and async.
 *
 * POST /api/v1/mcts/search prepares the job on the HTTP thread (decoding and
 * validation errors answer at once), parks the connection and queues the
 * job; the worker that runs it encodes the answer and hands the history
 * record (with the compressed tree, when the search stores it) to the
 * recorder. By default the connection is resumed by the record's callback,
 * once the record is on disk; with --record-before-reply false the worker
 * resumes it first. The async routes make a task around the same job
 * instead of parking a connection; the task shows the answer once the record
 * is on disk, likewise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/log.h"
#include "service/server.h"
#include "util/jsonw.h"

static const char *user_of(const mctx_svc_req *r) { return r->authenticated ? r->who.name : "anonymous"; }

/* The request's deadline: --request-timeout-ms after its arrival, or
 * sooner with X-Request-Timeout-Ms. Returns 0 and answers 400 when the
 * header is not an integer in [1, --request-timeout-ms]. */
static uint64_t deadline_of(const mctx_server *s, mctx_svc_req *r) {
  long ms = s->cfg.request_timeout_ms;
  const char *h = mctx_http_request_header(&r->http, "X-Request-Timeout-Ms");
  if (h) {
    char *end;
    long v = strtol(h, &end, 10);
    if (end == h || *end || v < 1 || v > s->cfg.request_timeout_ms) {
      mctx_svc_error(r, 400, "X-Request-Timeout-Ms", "must be an integer in [1, %d] (milliseconds)",
                     s->cfg.request_timeout_ms);
      return 0;
    }
    ms = v;
  }
  return r->http.t_start_ns + (uint64_t)ms * 1000000ULL;
}

/* Decodes and validates the body into a job; answers the error and returns
 * NULL when it is not a valid request. */
static mctx_job *prepare(mctx_server *s, mctx_svc_req *r) {
  mctx_status st;
  mctx_status_clear(&st);
  mctx_job *job = NULL;
  const char *body = r->http.body.data ? r->http.body.data : "";
  int rc = mctx_job_prepare(&s->env, body, r->http.body.len, r->http.request_id, user_of(r), &job, &st);
  if (rc != 0 || !job) {
    if (rc == 0) mctx_status_set(&st, MCTX_EINTERNAL, NULL, "no job was made");
    r->note = "invalid";
    mctx_svc_error_st(r, 0, &st);
    return NULL;
  }
  return job;
}

/* An error envelope as a malloc'd string (for tasks). */
static char *envelope(int status, int code, const char *reason, size_t *len) {
  mctx_status st;
  memset(&st, 0, sizeof st);
  st.code = code;
  snprintf(st.reason, sizeof st.reason, "%s", reason);
  mctx_buf b;
  mctx_buf_init(&b, 4096);
  mctx_error_json(&b, status, &st);
  return mctx_buf_steal(&b, len);
}

/* Counts a finished job in the metrics. Returns 1 when it succeeded. */
static int count_outcome(mctx_server *s, const mctx_work *w, int http_status) {
  double queue_s = (double)(w->started_ns - w->enqueued_ns) / 1e9;
  if (w->outcome == MCTX_WORK_RAN && http_status == 200) {
    mctx_job_info info;
    mctx_job_get_info(w->job, &info);
    mctx_metrics_search(&s->metrics, info.search_type, info.device,
                        (int64_t)info.batch_size * (int64_t)info.num_simulations, queue_s,
                        (double)(w->finished_ns - w->started_ns) / 1e9);
    return 1;
  }
  if (w->outcome == MCTX_WORK_OVERDUE) return 0; /* a refusal (mctx_rejected_total), not a failure */
  int kind = w->outcome == MCTX_WORK_EXPIRED ? MCTX_FAIL_EXPIRED
             : w->outcome == MCTX_WORK_SHUTDOWN ? MCTX_FAIL_SHUTDOWN
             : (w->outcome == MCTX_WORK_CANCELED || mctx_job_canceled(w->job)) ? MCTX_FAIL_CANCELED
                                                                             : MCTX_FAIL_ERROR;
  mctx_metrics_search_failed(&s->metrics, kind, queue_s);
  return 0;
}

/* ==== POST /api/v1/mcts/search ==== */

/* The compressed tree of a search that stores it; NULL otherwise (or when
 * it cannot be made: logged and counted, the record goes on). */
static void *tree_of(mctx_server *s, const mctx_job *job, int wanted, size_t *len) {
  *len = 0;
  if (!wanted) return NULL;
  void *blob = NULL;
  if (mctx_svc_tree_blob(s, job, &blob, len) != 0) return NULL;
  return blob;
}

/* --record-before-reply (the default): the record is on disk (or refused,
 * counted in mctx_db_records_dropped_total); now the answer goes out. */
static void sync_recorded(void *ctx, int rc) {
  mctx_svc_req *r = ctx;
  mctx_job *job = r->job;
  if (rc != 0) r->note = "record_not_kept";
  mctx_http_resume(&r->http); /* r belongs to the HTTP layer from here */
  mctx_job_free(job);
}

/* On the worker: the answer; then, by default, the record, and the answer
 * goes out once the record is on disk (the recorder calls sync_recorded,
 * so the worker does not wait for the disk); with --record-before-reply
 * false, the answer goes out first and the record follows. */
static int sync_done(mctx_work *w) {
  mctx_svc_req *r = w->ctx;
  mctx_server *s = r->server;
  mctx_job *job = w->job;
  r->queue_ms = (double)(w->started_ns - w->enqueued_ns) / 1e6;
  r->compute_ms = (double)(w->finished_ns - w->started_ns) / 1e6;
  r->batch_jobs = w->batch_jobs;
  int status = 503;
  switch (w->outcome) {
    case MCTX_WORK_RAN:
      status = mctx_job_http_status(job);
      mctx_buf_reset(&r->http.resp);
      if (mctx_job_encode(job, &r->http.resp) != 0) {
        status = 500;
        mctx_svc_error(r, 500, "return_tree", "the result is larger than the response cap (%zu bytes)",
                       s->cfg.max_response_bytes);
      } else {
        r->http.content_type = "application/json";
        /* a transient failure (out of memory, busy): like every 503, say when to retry */
        if (status == 503) mctx_http_header(&r->http, "Retry-After", "1");
        mctx_http_answer(&r->http, status);
      }
      if (status != 200) r->note = mctx_job_canceled(job) ? "canceled" : "search_failed";
      break;
    case MCTX_WORK_EXPIRED:
      mctx_svc_unavailable(r, 1, "expired", "the search waited %.0f ms in the queue, past the request timeout (%d ms)",
                           r->queue_ms, s->cfg.request_timeout_ms);
      break;
    case MCTX_WORK_CANCELED:
      mctx_svc_unavailable(r, 1, "canceled", "the search was canceled before it ran");
      break;
    case MCTX_WORK_OVERDUE:
      mctx_metrics_reject(&s->metrics, MCTX_REJECT_QUEUE_WAIT);
      mctx_svc_unavailable(r, 1, "queue_wait",
                           "the search waited %.3f ms for a worker, past --max-queue-wait-us (%.3f ms); not run",
                           r->queue_ms, mctx_batcher_max_wait_s(s->batcher) * 1e3);
      break;
    default:
      mctx_svc_unavailable(r, 5, "shutdown", "the service is shutting down");
      break;
  }
  int ok = count_outcome(s, w, status);
  char timing[96];
  snprintf(timing, sizeof timing, "queue;dur=%.3f, compute;dur=%.3f", r->queue_ms, r->compute_ms);
  mctx_http_header(&r->http, "Server-Timing", timing);
  snprintf(timing, sizeof timing, "%d", w->batch_jobs);
  mctx_http_header(&r->http, "X-Batch-Jobs", timing);
  if (ok && s->cfg.record_before_reply) {
    size_t tlen;
    void *tree = tree_of(s, job, r->store_tree, &tlen);
    r->job = job;
    mctx_svc_record(s, job, tree, tlen, sync_recorded, r);  /* may have answered already */
    return 0;
  }
  int store_tree = r->store_tree;
  mctx_http_resume(&r->http); /* r and w belong to the HTTP layer from here */
  if (ok) {
    size_t tlen;
    void *tree = tree_of(s, job, store_tree, &tlen);
    mctx_svc_record(s, job, tree, tlen, NULL, NULL);
  }
  mctx_job_free(job);
  return 0;
}

/* Answers 503 with Retry-After for what mctx_batcher_admit or _push said
 * (MCTX_EBUSY: full; MCTX_ETIMEOUT: past the wait bound; MCTX_ECANCELED:
 * draining) and counts it; returns 0 (nothing answered) for 0. */
static int refuse_queued(mctx_server *s, mctx_svc_req *r, int rc) {
  if (rc == 0) return 0;
  if (rc == MCTX_EBUSY) {
    mctx_metrics_reject(&s->metrics, MCTX_REJECT_QUEUE_FULL);
    mctx_svc_unavailable(r, 1, "queue_full", "the search queue is full (%d searches); retry shortly",
                         mctx_batcher_capacity(s->batcher));
  } else if (rc == MCTX_ETIMEOUT) {
    mctx_metrics_reject(&s->metrics, MCTX_REJECT_QUEUE_WAIT);
    mctx_svc_unavailable(r, 1, "queue_wait",
                         "the search would wait longer than %.3f ms for a worker (--max-queue-wait-us); retry shortly",
                         mctx_batcher_max_wait_s(s->batcher) * 1e3);
  } else {
    mctx_metrics_reject(&s->metrics, MCTX_REJECT_DRAINING);
    mctx_svc_unavailable(r, 5, "draining", "the service is shutting down");
  }
  return 1;
}

void mctx_h_search(mctx_server *s, mctx_svc_req *r) {
  uint64_t deadline = deadline_of(s, r);
  if (!deadline) return;
  /* A full queue, or one whose wait is past --max-queue-wait-us, refuses
   * before the body is decoded: under overload the refusals cost as little
   * as they can, which leaves the CPU to the requests that were accepted
   * (checked again below, and at the push: the queue moves). */
  if (refuse_queued(s, r, mctx_batcher_admit(s->batcher))) return;
  mctx_job *job = prepare(s, r);
  if (!job) return;
  if (refuse_queued(s, r, mctx_batcher_admit(s->batcher))) {
    mctx_job_free(job);
    return;
  }
  r->store_tree = mctx_svc_tree_wanted(s, &r->http, job);
  r->is_search = 1;
  r->job = job;
  memset(&r->work, 0, sizeof r->work);
  r->work.job = job;
  r->work.deadline_ns = deadline;
  r->work.on_done = sync_done;
  r->work.ctx = r;
  /* Suspend first: the worker may resume as soon as the job is queued. */
  mctx_http_suspend(&r->http);
  r->work.bounded = 1;
  int rc = mctx_batcher_push(s->batcher, &r->work);
  if (rc != 0) {
    refuse_queued(s, r, rc);
    mctx_http_resume(&r->http);
    mctx_job_free(job);
  }
}

/* ==== Async tasks ==== */

typedef struct task_work {
  mctx_work w;
  mctx_server *s;
  mctx_task *task;
  int store_tree;
  /* the outcome, kept until the record is on disk */
  int state, status;
  char *body;
  size_t len;
} task_work;

static void task_start(mctx_work *w) {
  task_work *tw = (task_work *)w;
  mctx_tasks_started(tw->s->tasks, tw->task);
}

/* --record-before-reply: the task's record is on disk (or refused); the
 * task finishes now (the table stops referring to the job), then the job
 * goes. */
static void task_recorded(void *ctx, int rc) {
  task_work *tw = ctx;
  mctx_job *job = tw->w.job;
  (void)rc; /* a refused record is logged by the recorder and counted on /metrics */
  mctx_tasks_finish(tw->s->tasks, tw->task, tw->state, tw->status, tw->body, tw->len);
  mctx_job_free(job);
  free(tw);
}

static int task_done(mctx_work *w) {
  task_work *tw = (task_work *)w;
  mctx_server *s = tw->s;
  mctx_job *job = w->job;
  int status = 503, state = MCTX_TASK_FAILED;
  char *body = NULL;
  size_t len = 0;
  switch (w->outcome) {
    case MCTX_WORK_RAN: {
      status = mctx_job_http_status(job);
      mctx_buf b;
      mctx_buf_init(&b, s->cfg.max_response_bytes);
      if (mctx_job_encode(job, &b) != 0) {
        mctx_buf_free(&b);
        status = 500;
        body = envelope(500, MCTX_ELIMIT, "the result is larger than the response cap", &len);
      } else {
        body = mctx_buf_steal(&b, &len);
        state = status == 200 ? MCTX_TASK_DONE : mctx_job_canceled(job) ? MCTX_TASK_CANCELED : MCTX_TASK_FAILED;
      }
      break;
    }
    case MCTX_WORK_EXPIRED:
      body = envelope(503, MCTX_ETIMEOUT, "the task waited in the queue past the request timeout", &len);
      break;
    case MCTX_WORK_CANCELED:
      state = MCTX_TASK_CANCELED;
      status = mctx_http_status(MCTX_ECANCELED);
      body = envelope(status, MCTX_ECANCELED, "the task was canceled before it ran", &len);
      break;
    default:
      body = envelope(503, MCTX_EBUSY, "the service shut down before the task ran", &len);
      break;
  }
  int ok = count_outcome(s, w, status);
  if (ok && s->cfg.record_before_reply) {
    /* the task shows its result once the record is on disk */
    tw->state = state;
    tw->status = status;
    tw->body = body;
    tw->len = len;
    size_t tlen;
    void *tree = tree_of(s, job, tw->store_tree, &tlen);
    mctx_svc_record(s, job, tree, tlen, task_recorded, tw);
    return 0;
  }
  mctx_tasks_finish(s->tasks, tw->task, state, status, body, len);
  if (ok) {
    size_t tlen;
    void *tree = tree_of(s, job, tw->store_tree, &tlen);
    mctx_svc_record(s, job, tree, tlen, NULL, NULL);
  }
  mctx_job_free(job);
  free(tw);
  return 0;
}

void mctx_h_task_submit(mctx_server *s, mctx_svc_req *r) {
  uint64_t deadline = deadline_of(s, r);
  if (!deadline) return;
  mctx_job *job = prepare(s, r);
  if (!job) return;
  task_work *tw = calloc(1, sizeof *tw);
  if (!tw) {
    mctx_job_free(job);
    mctx_svc_error(r, 500, NULL, "out of memory");
    return;
  }
  char id[40];
  if (mctx_tasks_add(s->tasks, user_of(r), r->http.request_id, job, &tw->task, id) != 0) {
    free(tw);
    mctx_job_free(job);
    mctx_metrics_reject(&s->metrics, MCTX_REJECT_TASKS_FULL);
    mctx_svc_unavailable(r, 5, "tasks_full", "the task table is full of unfinished tasks (%d)", s->cfg.tasks_max);
    return;
  }
  tw->s = s;
  tw->store_tree = mctx_svc_tree_wanted(s, &r->http, job);
  tw->w.job = job;
  tw->w.deadline_ns = deadline;
  tw->w.on_start = task_start;
  tw->w.on_done = task_done;
  tw->w.ctx = tw;
  int rc = mctx_batcher_push(s->batcher, &tw->w);
  if (rc != 0) {
    mctx_tasks_discard(s->tasks, tw->task);
    free(tw);
    mctx_job_free(job);
    mctx_metrics_reject(&s->metrics, rc == MCTX_EBUSY ? MCTX_REJECT_QUEUE_FULL : MCTX_REJECT_DRAINING);
    mctx_svc_unavailable(r, rc == MCTX_EBUSY ? 1 : 5, rc == MCTX_EBUSY ? "queue_full" : "draining",
                         rc == MCTX_EBUSY ? "the search queue is full; retry shortly" : "the service is shutting down");
    return;
  }
  /* From here the task belongs to the worker: only `id` is used. */
  char url[96];
  snprintf(url, sizeof url, "/api/v1/tasks/status/%s", id);
  mctx_http_header(&r->http, "Location", url);
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "task_id", mctx_jw_str, id);
  MCTX_JW_KV(&w, "status", mctx_jw_str, "pending");
  MCTX_JW_KV(&w, "request_id", mctx_jw_str, r->http.request_id);
  MCTX_JW_KV(&w, "status_url", mctx_jw_str, url);
  mctx_jw_end(&w);
  mctx_svc_json(r, 202);
}

void mctx_h_task_status(mctx_server *s, mctx_svc_req *r) {
  const char *id = mctx_route_param(&r->params, "task_id");
  if (mctx_tasks_status_json(s->tasks, id, &r->who, &r->http.resp) != 0) {
    mctx_svc_error(r, 404, "task_id", "no task %s (unknown, expired, or another user's)", id);
    return;
  }
  mctx_svc_json(r, 200);
}

void mctx_h_task_cancel(mctx_server *s, mctx_svc_req *r) {
  const char *id = mctx_route_param(&r->params, "task_id");
  if (mctx_tasks_cancel(s->tasks, id, &r->who, &r->http.resp) != 0) {
    mctx_svc_error(r, 404, "task_id", "no task %s (unknown, expired, or another user's)", id);
    return;
  }
  mctx_svc_json(r, 200);
}

void mctx_h_task_list(mctx_server *s, mctx_svc_req *r) {
  const char *state = mctx_http_query(&r->http, "state");
  if (state && mctx_task_state_parse(state) < 0) {
    mctx_svc_error(r, 400, "state", "must be pending, running, done, failed or canceled");
    return;
  }
  int limit = 100;
  const char *ls = mctx_http_query(&r->http, "limit");
  if (ls) {
    char *end;
    long v = strtol(ls, &end, 10);
    if (end == ls || *end || v < 1 || v > 10000) {
      mctx_svc_error(r, 400, "limit", "must be an integer in [1, 10000]");
      return;
    }
    limit = (int)v;
  }
  mctx_tasks_list_json(s->tasks, state, limit, &r->http.resp);
  mctx_svc_json(r, 200);
}
