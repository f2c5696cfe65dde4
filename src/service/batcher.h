/* service/batcher.h: the bounded queue of search jobs and the workers that
 * run them, merging compatible jobs into one batched search.
 *
 * A work item wraps a prepared job (api.h). Pushing never blocks: a full
 * queue refuses (503 above). A worker takes the oldest item and, when the job
 * has a batch key, every queued item with the same key, up to `batch_max`
 * batch elements; with `max_delay_us` > 0 it waits that long (from the oldest
 * item's arrival) for more to come. Items canceled or past their deadline
 * are not run. Each item's on_done is called exactly once, on a worker (or on
 * the thread that expires or cancels it); an item may ask for a second call,
 * on_finish, once all items of its search are done (so that, for instance,
 * their records reach the disk together before any of them answers). */
#ifndef MCTX_SERVICE_BATCHER_H
#define MCTX_SERVICE_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

enum {
  MCTX_WORK_RAN = 0,        /* mctx_job_run ran it: see mctx_job_status */
  MCTX_WORK_EXPIRED = 1,    /* its deadline passed while it was queued */
  MCTX_WORK_CANCELED = 2,   /* canceled before a worker ran it */
  MCTX_WORK_SHUTDOWN = 3,   /* the service stopped before it ran */
  MCTX_WORK_OVERDUE = 4     /* bounded: it waited past max_wait_us (refused, not run) */
};

typedef struct mctx_work mctx_work;
struct mctx_work {
  mctx_job *job;            /* borrowed: the owner frees it in on_done or after */
  uint64_t deadline_ns;     /* monotonic; not run after it */
  void (*on_start)(mctx_work *w);   /* optional: a worker took it */
  /* Required. Returns 1 to be called again, at on_finish, after every item
   * of the same search had its on_done (w must then stay valid until
   * on_finish); 0 when the batcher may forget w. */
  int (*on_done)(mctx_work *w);
  void (*on_finish)(mctx_work *w);  /* required when on_done may return 1 */
  void *ctx;                /* the owner's */
  int bounded;              /* 1: its wait is bounded by max_wait_us (answers a waiting client) */

  /* filled by the batcher */
  uint64_t enqueued_ns, started_ns, finished_ns;
  int outcome;              /* MCTX_WORK_* */
  int batch_jobs;           /* jobs in the search it ran in */
  int32_t batch_elems;      /* batch elements of that search */

  /* private */
  const char *key;
  uint64_t key_hash;
  int32_t elems;
  mctx_work *next, *prev;
};

typedef struct mctx_batcher_opts {
  int workers;              /* >= 1 */
  int queue_size;           /* >= 1 */
  int batch_max;            /* elements per merged search; 1: no merging */
  int max_delay_us;         /* >= 0 */
  /* >= 0; 0: no bound. Admission by queue wait: a bounded item is refused
   * at push (MCTX_ETIMEOUT) when the oldest queued item has waited longer,
   * or when the queue ahead of it would take longer by the measured time
   * per job; and one that still waits longer (the estimate was short) is
   * finished MCTX_WORK_OVERDUE instead of run. Its wait counts from the
   * push, so it includes any merge delay. */
  int max_wait_us;
} mctx_batcher_opts;

typedef struct mctx_batcher mctx_batcher;

/* Starts the workers. `env` is borrowed and must outlive the batcher.
 * `observe` (may be NULL) is told of every search run: jobs, elements and
 * seconds, from the worker. */
mctx_batcher *mctx_batcher_start(const mctx_batcher_opts *o, const mctx_api_env *env,
                                 void (*observe)(void *ctx, int jobs, int32_t elems, double seconds), void *octx,
                                 mctx_status *st);
/* Queues w. Returns 0; MCTX_EBUSY when the queue is full; MCTX_ETIMEOUT
 * when w is bounded and its wait would pass max_wait_us; MCTX_ECANCELED
 * when the batcher is stopping. On an error w is not taken (no on_done). */
int mctx_batcher_push(mctx_batcher *b, mctx_work *w);
/* What mctx_batcher_push would answer a bounded item now (0, MCTX_EBUSY,
 * MCTX_ETIMEOUT or MCTX_ECANCELED), for refusing before a request is decoded. */
int mctx_batcher_admit(mctx_batcher *b);
/* The measured seconds of search per job (a moving average; 0 before the
 * first search), and the bound on a bounded item's wait in seconds (0: none). */
double mctx_batcher_job_seconds(mctx_batcher *b);
double mctx_batcher_max_wait_s(const mctx_batcher *b);
/* Finishes (on_done with MCTX_WORK_EXPIRED) every queued item whose
 * deadline is before now_ns. Returns how many. */
size_t mctx_batcher_expire(mctx_batcher *b, uint64_t now_ns);
/* Items queued, and items being run. */
size_t mctx_batcher_depth(mctx_batcher *b);
size_t mctx_batcher_running(mctx_batcher *b);
int mctx_batcher_capacity(const mctx_batcher *b);
/* Waits until nothing is queued or running, or timeout_ms passed. Returns 0
 * when idle. */
int mctx_batcher_wait_idle(mctx_batcher *b, int timeout_ms);
/* Draining: workers stop waiting for jobs to merge with and run what they
 * hold at once. */
void mctx_batcher_flush(mctx_batcher *b);
/* Refuses new items, finishes the queued ones with MCTX_WORK_SHUTDOWN and
 * cancels those running (they finish as canceled searches). */
void mctx_batcher_cancel_all(mctx_batcher *b);
/* Refuses new items, lets the workers finish what they hold (queued items
 * end as MCTX_WORK_SHUTDOWN), joins them and frees b. NULL is a no-op. */
void mctx_batcher_stop(mctx_batcher *b);

#endif
