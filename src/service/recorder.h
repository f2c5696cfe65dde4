/* service/recorder.h: history records on their way into the spool.
 *
 * A search's record is copied out of its job and queued; a few appender
 * threads take records off the queue and append them to the durable spool
 * (store/spool.h), which fsyncs before each append returns but lets
 * concurrent appends share one fsync. So the search workers never wait for
 * the disk, and the appenders together keep up with thousands of records a
 * second. The queue is bounded: when it is full, the record is appended on
 * the caller's thread (slower, never dropped). */
#ifndef MCTX_SERVICE_RECORDER_H
#define MCTX_SERVICE_RECORDER_H

#include <stdatomic.h>
#include <stddef.h>

#include "api/api.h"
#include "store/spool.h"

typedef struct mctx_recorder mctx_recorder;

/* Starts `threads` appenders on sp (borrowed; must outlive the recorder)
 * with a queue of `capacity` records. `failed` (may be NULL) counts records
 * that could not be made (out of memory). NULL when threads cannot start. */
mctx_recorder *mctx_recorder_start(mctx_spool *sp, int threads, int capacity, atomic_ullong *failed);
/* Queues the record of a finished job (copied; the job may be freed after). */
void mctx_recorder_put(mctx_recorder *r, const mctx_job *job);
/* A record whose caller waits until it is on disk (mctx_recorder_wait). */
typedef struct mctx_record_ticket {
  int done;
  int rc;                      /* 0, or the spool's error */
} mctx_record_ticket;

/* Queues the record of a finished job like mctx_recorder_put, and lets the
 * caller wait for it with mctx_recorder_wait: records put by several
 * callers before they wait share the spool's fsyncs. t must stay valid until
 * the wait returns. */
void mctx_recorder_put_ticket(mctx_recorder *r, const mctx_job *job, mctx_record_ticket *t);
/* Waits until t's record is appended (on disk) or refused; returns t->rc. */
int mctx_recorder_wait(mctx_recorder *r, mctx_record_ticket *t);
/* Records queued and not yet appended. */
size_t mctx_recorder_depth(mctx_recorder *r);
/* Appends what is queued, stops the threads and frees r. NULL is a no-op. */
void mctx_recorder_stop(mctx_recorder *r);

#endif
