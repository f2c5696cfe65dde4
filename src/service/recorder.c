/* service/recorder.c: the record queue and its appender threads
 * (recorder.h).
 *
 * A record is built from the job's info, configuration and summary
 * (mctx_job_get_info, mctx_job_config_json, mctx_job_summary_json) into a
 * queue item that owns its strings. Appender threads pop items one at a
 * time and call mctx_spool_append; because several are in the spool at once,
 * their fsyncs are shared (the spool's group commit). */
#include "service/recorder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/log.h"

typedef struct item {
  mctx_search_record rec;
  char *config;
  char *summary;
  mctx_record_ticket *ticket;  /* a caller waits for it, or NULL */
  struct item *next;
} item;

struct mctx_recorder {
  mctx_spool *sp;
  atomic_ullong *failed;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_cond_t done;         /* a ticket's record was appended */
  item *head, *tail;
  size_t depth, capacity;
  int stopping;
  pthread_t *threads;
  int nthreads;
};

static void copy_str(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

/* Builds the record of a job; NULL when out of memory. */
static item *make_item(const mctx_job *job) {
  item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  mctx_job_info info;
  mctx_job_get_info(job, &info);
  mctx_search_record *rec = &it->rec;
  copy_str(rec->request_id, sizeof rec->request_id, info.request_id);
  rec->time_ms = info.time_ms;
  copy_str(rec->user, sizeof rec->user, info.user && *info.user ? info.user : "anonymous");
  copy_str(rec->search_type, sizeof rec->search_type, info.search_type);
  rec->batch_size = info.batch_size;
  rec->num_simulations = info.num_simulations;
  rec->max_depth = info.max_depth;
  rec->duration_ms = info.duration_ms;
  rec->num_expanded_nodes = info.num_expanded_nodes;
  rec->max_depth_reached = info.max_depth_reached;
  copy_str(rec->device, sizeof rec->device, info.device);
  rec->gpu_optimized = info.gpu_optimized;
  rec->distributed = info.distributed;
  rec->num_devices = info.num_devices;
  it->config = mctx_job_config_json(job);
  it->summary = mctx_job_summary_json(job);
  if (!it->config || !it->summary) {
    free(it->config);
    free(it->summary);
    free(it);
    return NULL;
  }
  rec->config_json = it->config;
  rec->summary_json = it->summary;
  return it;
}

static void free_item(item *it) {
  free(it->config);
  free(it->summary);
  free(it);
}

static int append(mctx_recorder *r, item *it) {
  mctx_status st;
  mctx_status_clear(&st);
  int rc = mctx_spool_append(r->sp, &it->rec, NULL, 0, &st);
  if (it->ticket) {
    pthread_mutex_lock(&r->lock);
    it->ticket->rc = rc;
    it->ticket->done = 1;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
  }
  if (rc != 0) {
    mctx_logline l;
    if (mctx_log_begin(&l, MCTX_LOG_ERROR, "record not kept by the spool")) {
      mctx_log_str(&l, "request_id", it->rec.request_id);
      mctx_log_str(&l, "reason", st.reason);
      mctx_log_end(&l);
    }
  }
  free_item(it);
  return rc;
}

static void *appender(void *arg) {
  mctx_recorder *r = arg;
  pthread_setname_np(pthread_self(), "mctx-record");
  pthread_mutex_lock(&r->lock);
  for (;;) {
    while (!r->head && !r->stopping) pthread_cond_wait(&r->cond, &r->lock);
    if (!r->head) break;
    item *it = r->head;
    r->head = it->next;
    if (!r->head) r->tail = NULL;
    r->depth--;
    pthread_mutex_unlock(&r->lock);
    append(r, it);
    pthread_mutex_lock(&r->lock);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

mctx_recorder *mctx_recorder_start(mctx_spool *sp, int threads, int capacity, atomic_ullong *failed) {
  mctx_recorder *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->sp = sp;
  r->failed = failed;
  r->capacity = capacity > 0 ? (size_t)capacity : 1;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  pthread_cond_init(&r->done, NULL);
  r->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof *r->threads);
  if (!r->threads) { mctx_recorder_stop(r); return NULL; }
  for (int i = 0; i < (threads > 0 ? threads : 1); i++) {
    if (pthread_create(&r->threads[i], NULL, appender, r) != 0) { mctx_recorder_stop(r); return NULL; }
    r->nthreads++;
  }
  return r;
}

static item *build(mctx_recorder *r, const mctx_job *job) {
  item *it = make_item(job);
  if (!it) {
    if (r->failed) atomic_fetch_add_explicit(r->failed, 1, memory_order_relaxed);
    mctx_logf(MCTX_LOG_ERROR, "out of memory: a search's record was not kept");
  }
  return it;
}

static void enqueue(mctx_recorder *r, item *it) {
  pthread_mutex_lock(&r->lock);
  if (r->depth >= r->capacity || r->stopping) {
    pthread_mutex_unlock(&r->lock);
    append(r, it); /* back-pressure: the caller waits for the disk */
    return;
  }
  if (r->tail) r->tail->next = it;
  else r->head = it;
  r->tail = it;
  r->depth++;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

void mctx_recorder_put(mctx_recorder *r, const mctx_job *job) {
  item *it = build(r, job);
  if (it) enqueue(r, it);
}

void mctx_recorder_put_ticket(mctx_recorder *r, const mctx_job *job, mctx_record_ticket *t) {
  t->done = 0;
  t->rc = 0;
  item *it = build(r, job);
  if (!it) {
    t->done = 1;
    t->rc = MCTX_ENOMEM;
    return;
  }
  it->ticket = t;
  enqueue(r, it);
}

int mctx_recorder_wait(mctx_recorder *r, mctx_record_ticket *t) {
  pthread_mutex_lock(&r->lock);
  while (!t->done) pthread_cond_wait(&r->done, &r->lock);
  int rc = t->rc;
  pthread_mutex_unlock(&r->lock);
  return rc;
}

size_t mctx_recorder_depth(mctx_recorder *r) {
  pthread_mutex_lock(&r->lock);
  size_t d = r->depth;
  pthread_mutex_unlock(&r->lock);
  return d;
}

void mctx_recorder_stop(mctx_recorder *r) {
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  for (int i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
  while (r->head) { /* no thread ever started */
    item *it = r->head;
    r->head = it->next;
    append(r, it);
  }
  free(r->threads);
  pthread_cond_destroy(&r->done);
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
  free(r);
}
