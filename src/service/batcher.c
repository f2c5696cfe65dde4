/* service/batcher.c: the job queue and its workers (batcher.h).
 *
 * One mutex guards a doubly linked FIFO of work items. Workers sleep on
 * `cond` until an item arrives; a worker that has taken an item with a batch
 * key collects every queued item with the same key (hash first, then the
 * text), and when a delay is configured waits on `more` for others until the
 * oldest item's arrival plus the delay. The run itself, and the items'
 * callbacks, happen outside the lock. Items that were canceled or whose
 * deadline passed are finished without running. */
#include "service/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/http.h"
#include "service/log.h"

typedef struct worker_state {
  mctx_batcher *b;
  pthread_t thread;
  int started;
  mctx_work **batch;         /* items taken (guarded by the lock while running) */
  int n;
} worker_state;

struct mctx_batcher {
  mctx_batcher_opts o;
  const mctx_api_env *env;
  void (*observe)(void *ctx, int jobs, int32_t elems, double seconds);
  void *octx;
  int max_jobs;              /* items per batch */
  uint64_t max_wait_ns;      /* bounded items' wait; 0: none */

  pthread_mutex_t lock;
  pthread_cond_t cond;       /* an item arrived, or stopping */
  pthread_cond_t more;       /* an item arrived (for workers waiting to merge) */
  pthread_cond_t idle;       /* a batch finished */
  mctx_work *head, *tail;
  size_t depth;
  size_t running;
  double job_ns;             /* moving average of a search's time per job (0: none yet) */
  int idle_workers;          /* waiting for an item */
  int stopping;
  int refusing;
  int flushing;              /* draining: run what is taken without waiting to merge */
  worker_state *workers;
  int nworkers;
};

/* Requests merged into one search at most (each is at least one element). */
#define MAX_JOBS 4096

/* A worker waiting to merge looks again this often (for cancellations). */
#define WAIT_SLICE_NS 20000000ULL

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
  return h;
}

static void unlink_item(mctx_batcher *b, mctx_work *w) {
  if (w->prev) w->prev->next = w->next;
  else b->head = w->next;
  if (w->next) w->next->prev = w->prev;
  else b->tail = w->prev;
  w->next = w->prev = NULL;
  b->depth--;
}

static void deadline_ts(uint64_t mono_ns, struct timespec *ts) {
  /* The conditions use CLOCK_MONOTONIC (see mctx_batcher_start). */
  ts->tv_sec = (time_t)(mono_ns / 1000000000ULL);
  ts->tv_nsec = (long)(mono_ns % 1000000000ULL);
}

/* Moves queued items with w0's key into ws->batch (lock held). Without a
 * merge delay a worker leaves a fair share of the queue to the workers that
 * are idle, so merging never leaves a core without work. */
static void collect(mctx_batcher *b, worker_state *ws, int32_t *elems) {
  mctx_work *w0 = ws->batch[0];
  mctx_work *w = b->head;
  int limit = b->max_jobs;
  if (b->o.max_delay_us == 0 && b->idle_workers > 0) {
    int share = ws->n + (int)(b->depth / (size_t)(b->idle_workers + 1));
    if (share < limit) limit = share;
  }
  while (w && ws->n < limit && *elems < b->o.batch_max) {
    mctx_work *next = w->next;
    if (w->key && w->key_hash == w0->key_hash && *elems + w->elems <= b->o.batch_max && strcmp(w->key, w0->key) == 0) {
      unlink_item(b, w);
      ws->batch[ws->n++] = w;
      b->running++;
      *elems += w->elems;
    }
    w = next;
  }
}

/* Runs the items in ws->batch (lock not held): those canceled or past their
 * deadline are left out. Returns the number of jobs run. */
static int run_batch(mctx_batcher *b, worker_state *ws, mctx_job **jobs, int32_t *run_elems, uint64_t *run_ns) {
  uint64_t now = mctx_now_ns();
  int k = 0;
  *run_elems = 0;
  *run_ns = 0;
  for (int i = 0; i < ws->n; i++) {
    mctx_work *w = ws->batch[i];
    w->started_ns = now;
    if (mctx_job_canceled(w->job)) w->outcome = MCTX_WORK_CANCELED;
    else if (now > w->deadline_ns) w->outcome = MCTX_WORK_EXPIRED;
    else if (w->bounded && b->max_wait_ns && now - w->enqueued_ns > b->max_wait_ns) w->outcome = MCTX_WORK_OVERDUE;
    else {
      w->outcome = MCTX_WORK_RAN;
      jobs[k++] = w->job;
      *run_elems += w->elems;
      if (w->on_start) w->on_start(w);
    }
  }
  if (k > 0) {
    uint64_t t0 = mctx_now_ns();
    mctx_job_run(b->env, jobs, (size_t)k);
    uint64_t t1 = mctx_now_ns();
    *run_ns = t1 - t0;
    if (b->observe) b->observe(b->octx, k, *run_elems, (double)(t1 - t0) / 1e9);
  }
  return k;
}

static void *worker_main(void *arg) {
  worker_state *ws = arg;
  mctx_batcher *b = ws->b;
  pthread_setname_np(pthread_self(), "mctx-worker");
  mctx_job **jobs = malloc((size_t)b->max_jobs * sizeof *jobs);
  if (!jobs) {
    mctx_logf(MCTX_LOG_ERROR, "search worker: out of memory");
    return NULL;
  }
  uint64_t delay_ns = (uint64_t)b->o.max_delay_us * 1000ULL;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    while (!b->head && !b->stopping) {
      b->idle_workers++;
      pthread_cond_wait(&b->cond, &b->lock);
      b->idle_workers--;
    }
    if (!b->head) break;
    mctx_work *w0 = b->head;
    unlink_item(b, w0);
    ws->batch[0] = w0;
    ws->n = 1;
    b->running++; /* taken items count as running, also while waiting to merge */
    int32_t elems = w0->elems;
    if (w0->key && b->o.batch_max > 1) {
      /* Wait for compatible jobs until the oldest has waited max_delay, no
       * later than the earliest deadline among those taken, and not at all
       * once draining; stop early when all of them were canceled. */
      uint64_t until = w0->enqueued_ns + delay_ns;
      for (;;) {
        collect(b, ws, &elems);
        if (elems >= b->o.batch_max || ws->n >= b->max_jobs || delay_ns == 0 || b->stopping || b->flushing ||
            b->refusing)
          break;
        int live = 0;
        for (int i = 0; i < ws->n; i++) {
          if (ws->batch[i]->deadline_ns < until) until = ws->batch[i]->deadline_ns;
          live += !mctx_job_canceled(ws->batch[i]->job);
        }
        uint64_t now = mctx_now_ns();
        if (!live || now >= until) break;
        uint64_t wake = until - now > WAIT_SLICE_NS ? now + WAIT_SLICE_NS : until;
        struct timespec ts;
        deadline_ts(wake, &ts);
        pthread_cond_timedwait(&b->more, &b->lock, &ts);
      }
    }
    pthread_mutex_unlock(&b->lock);

    int32_t run_elems;
    uint64_t run_ns;
    int k = run_batch(b, ws, jobs, &run_elems, &run_ns);
    uint64_t now = mctx_now_ns();

    /* Out of the running set before the callbacks, which may free the jobs
     * that mctx_batcher_cancel_all would otherwise touch. */
    pthread_mutex_lock(&b->lock);
    if (k > 0) {
      /* the time per job, for admission by queue wait (weight 1/8: a
       * change of search size shows within a few searches) */
      double per_job = (double)run_ns / (double)k;
      b->job_ns = b->job_ns > 0.0 ? b->job_ns + (per_job - b->job_ns) / 8.0 : per_job;
    }
    int n = ws->n;
    b->running -= (size_t)n;
    ws->n = 0;
    pthread_mutex_unlock(&b->lock);
    int finish = 0;
    for (int i = 0; i < n; i++) {
      mctx_work *w = ws->batch[i];
      w->finished_ns = now;
      w->batch_jobs = w->outcome == MCTX_WORK_RAN ? k : 0;
      w->batch_elems = w->outcome == MCTX_WORK_RAN ? run_elems : 0;
      if (w->on_done(w)) ws->batch[finish++] = w; /* the others may be gone already */
    }
    for (int i = 0; i < finish; i++) ws->batch[i]->on_finish(ws->batch[i]);
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->idle);
  }
  pthread_mutex_unlock(&b->lock);
  free(jobs);
  return NULL;
}

mctx_batcher *mctx_batcher_start(const mctx_batcher_opts *o, const mctx_api_env *env,
                                 void (*observe)(void *ctx, int jobs, int32_t elems, double seconds), void *octx,
                                 mctx_status *st) {
  mctx_batcher *b = calloc(1, sizeof *b);
  if (!b) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  b->o = *o;
  if (b->o.workers < 1) b->o.workers = 1;
  if (b->o.queue_size < 1) b->o.queue_size = 1;
  if (b->o.batch_max < 1) b->o.batch_max = 1;
  b->env = env;
  b->observe = observe;
  b->octx = octx;
  if (b->o.max_wait_us < 0) b->o.max_wait_us = 0;
  b->max_wait_ns = (uint64_t)b->o.max_wait_us * 1000ULL;
  b->max_jobs = b->o.batch_max < MAX_JOBS ? b->o.batch_max : MAX_JOBS;
  if (b->max_jobs < 1) b->max_jobs = 1;
  pthread_mutex_init(&b->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->cond, &ca);
  pthread_cond_init(&b->more, &ca);
  pthread_cond_init(&b->idle, &ca);
  pthread_condattr_destroy(&ca);
  b->workers = calloc((size_t)b->o.workers, sizeof *b->workers);
  if (!b->workers) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); goto fail; }
  for (int i = 0; i < b->o.workers; i++) {
    worker_state *ws = &b->workers[i];
    ws->b = b;
    ws->batch = calloc((size_t)b->max_jobs, sizeof *ws->batch);
    if (!ws->batch) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); goto fail; }
  }
  for (int i = 0; i < b->o.workers; i++) {
    if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]) != 0) {
      mctx_status_set(st, MCTX_ENOMEM, "workers", "cannot start worker thread %d", i);
      goto fail;
    }
    b->workers[i].started = 1;
    b->nworkers++;
  }
  return b;
fail:
  mctx_batcher_stop(b);
  return NULL;
}

/* Whether a bounded item pushed now would wait past max_wait (lock held):
 * the oldest queued item has waited longer already (the queue is FIFO), or
 * the items queued would take longer at the measured time per job shared
 * by the workers. */
static int wait_too_long(const mctx_batcher *b, uint64_t now) {
  if (!b->max_wait_ns || !b->head) return 0;
  if (now - b->head->enqueued_ns > b->max_wait_ns) return 1;
  double ahead_ns = (double)b->depth * b->job_ns / (double)b->nworkers;
  return ahead_ns > (double)b->max_wait_ns;
}

int mctx_batcher_admit(mctx_batcher *b) {
  pthread_mutex_lock(&b->lock);
  int rc = b->stopping || b->refusing ? MCTX_ECANCELED
           : b->depth >= (size_t)b->o.queue_size ? MCTX_EBUSY
           : wait_too_long(b, mctx_now_ns()) ? MCTX_ETIMEOUT : 0;
  pthread_mutex_unlock(&b->lock);
  return rc;
}

double mctx_batcher_job_seconds(mctx_batcher *b) {
  pthread_mutex_lock(&b->lock);
  double s = b->job_ns / 1e9;
  pthread_mutex_unlock(&b->lock);
  return s;
}

double mctx_batcher_max_wait_s(const mctx_batcher *b) { return (double)b->max_wait_ns / 1e9; }

int mctx_batcher_push(mctx_batcher *b, mctx_work *w) {
  const char *key = mctx_job_batch_key(w->job);
  w->key = b->o.batch_max > 1 ? key : NULL;
  w->key_hash = w->key ? hash_key(w->key) : 0;
  w->elems = mctx_job_batch_size(w->job);
  w->outcome = MCTX_WORK_RAN;
  w->batch_jobs = 0;
  w->batch_elems = 0;
  w->next = w->prev = NULL;
  pthread_mutex_lock(&b->lock);
  if (b->stopping || b->refusing) { pthread_mutex_unlock(&b->lock); return MCTX_ECANCELED; }
  if (b->depth >= (size_t)b->o.queue_size) { pthread_mutex_unlock(&b->lock); return MCTX_EBUSY; }
  uint64_t now = mctx_now_ns();
  if (w->bounded && wait_too_long(b, now)) { pthread_mutex_unlock(&b->lock); return MCTX_ETIMEOUT; }
  w->enqueued_ns = now;
  w->prev = b->tail;
  if (b->tail) b->tail->next = w;
  else b->head = w;
  b->tail = w;
  b->depth++;
  pthread_cond_signal(&b->cond);
  if (w->key) pthread_cond_broadcast(&b->more);
  pthread_mutex_unlock(&b->lock);
  return 0;
}

/* Unlinks the queued items that match `pred` into a private list (lock
 * held), so their callbacks can run after the lock is dropped. */
static mctx_work *take_if(mctx_batcher *b, int (*pred)(mctx_work *w, uint64_t now), uint64_t now, size_t *count) {
  mctx_work *out = NULL, **tail = &out;
  mctx_work *w = b->head;
  while (w) {
    mctx_work *next = w->next;
    if (pred(w, now)) {
      unlink_item(b, w);
      *tail = w;
      tail = &w->next;
      (*count)++;
    }
    w = next;
  }
  return out;
}

static int pred_expired(mctx_work *w, uint64_t now) { return now > w->deadline_ns || mctx_job_canceled(w->job); }
static int pred_all(mctx_work *w, uint64_t now) { (void)w; (void)now; return 1; }

static void finish_list(mctx_work *list, int outcome_default, uint64_t now) {
  while (list) {
    mctx_work *next = list->next;
    list->next = NULL;
    if (outcome_default < 0)
      list->outcome = mctx_job_canceled(list->job) ? MCTX_WORK_CANCELED : MCTX_WORK_EXPIRED;
    else
      list->outcome = outcome_default;
    list->started_ns = list->finished_ns = now;
    if (list->on_done(list)) list->on_finish(list);
    list = next;
  }
}

size_t mctx_batcher_expire(mctx_batcher *b, uint64_t now_ns) {
  size_t n = 0;
  pthread_mutex_lock(&b->lock);
  mctx_work *list = b->head ? take_if(b, pred_expired, now_ns, &n) : NULL;
  if (n) pthread_cond_broadcast(&b->idle);
  pthread_mutex_unlock(&b->lock);
  finish_list(list, -1, now_ns);
  return n;
}

size_t mctx_batcher_depth(mctx_batcher *b) {
  pthread_mutex_lock(&b->lock);
  size_t d = b->depth;
  pthread_mutex_unlock(&b->lock);
  return d;
}

size_t mctx_batcher_running(mctx_batcher *b) {
  pthread_mutex_lock(&b->lock);
  size_t d = b->running;
  pthread_mutex_unlock(&b->lock);
  return d;
}

int mctx_batcher_capacity(const mctx_batcher *b) { return b->o.queue_size; }

int mctx_batcher_wait_idle(mctx_batcher *b, int timeout_ms) {
  uint64_t until = mctx_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ULL;
  pthread_mutex_lock(&b->lock);
  while ((b->depth || b->running) && mctx_now_ns() < until) {
    struct timespec ts;
    deadline_ts(until, &ts);
    pthread_cond_timedwait(&b->idle, &b->lock, &ts);
  }
  int busy = b->depth || b->running;
  pthread_mutex_unlock(&b->lock);
  return busy ? -1 : 0;
}

void mctx_batcher_flush(mctx_batcher *b) {
  pthread_mutex_lock(&b->lock);
  b->flushing = 1;
  pthread_cond_broadcast(&b->more);
  pthread_mutex_unlock(&b->lock);
}

void mctx_batcher_cancel_all(mctx_batcher *b) {
  size_t n = 0;
  pthread_mutex_lock(&b->lock);
  b->refusing = 1;
  mctx_work *list = b->head ? take_if(b, pred_all, 0, &n) : NULL;
  for (int i = 0; i < b->nworkers; i++)
    for (int j = 0; j < b->workers[i].n; j++) mctx_job_cancel(b->workers[i].batch[j]->job);
  pthread_cond_broadcast(&b->idle);
  pthread_cond_broadcast(&b->more);
  pthread_mutex_unlock(&b->lock);
  finish_list(list, MCTX_WORK_SHUTDOWN, mctx_now_ns());
}

void mctx_batcher_stop(mctx_batcher *b) {
  if (!b) return;
  size_t n = 0;
  pthread_mutex_lock(&b->lock);
  b->stopping = 1;
  mctx_work *list = b->head ? take_if(b, pred_all, 0, &n) : NULL;
  pthread_cond_broadcast(&b->cond);
  pthread_cond_broadcast(&b->more);
  pthread_mutex_unlock(&b->lock);
  finish_list(list, MCTX_WORK_SHUTDOWN, mctx_now_ns());
  for (int i = 0; i < b->nworkers; i++)
    if (b->workers[i].started) pthread_join(b->workers[i].thread, NULL);
  if (b->workers)
    for (int i = 0; i < b->o.workers; i++) free(b->workers[i].batch);
  free(b->workers);
  pthread_cond_destroy(&b->cond);
  pthread_cond_destroy(&b->more);
  pthread_cond_destroy(&b->idle);
  pthread_mutex_destroy(&b->lock);
  free(b);
}
