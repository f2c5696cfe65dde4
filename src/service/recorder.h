/* service/recorder.h: history records on their way into the spool.
 *
 * A search's record is copied out of its job and queued; a few appender
 * threads take every record queued (up to a group's size) and append them
 * with one mctx_spool_append_group: one write and one fsync for the group,
 * and the spool lets the groups of several appenders share fsyncs. So many
 * concurrent searches cost a few fsyncs, and the search workers never wait
 * for the disk: a record's caller may ask to be called back once its record
 * is on disk (or refused), which is how the service answers a search only
 * after its record is durable without holding a worker meanwhile. The
 * queue is bounded: when it is full, the record is appended on the caller's
 * thread (slower, never dropped). */
#ifndef MCTX_SERVICE_RECORDER_H
#define MCTX_SERVICE_RECORDER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "store/spool.h"

typedef struct mctx_recorder mctx_recorder;

/* Called once a record is on disk (rc 0) or refused (rc the spool's error,
 * MCTX_ENOMEM when the record could not be made). */
typedef void (*mctx_record_done_fn)(void *ctx, int rc);

/* Starts `threads` appenders on sp (borrowed; must outlive the recorder)
 * with a queue of `capacity` records, appending at most `group_max` records
 * at a time. An appender starts a group at least `interval_ns` after its
 * last one started (0: as soon as the last one is on disk): fewer, larger
 * fsyncs, each record waiting at most that much longer. `failed` (may be
 * NULL) counts records that could not be made (out of memory). NULL when
 * threads cannot start. */
mctx_recorder *mctx_recorder_start(mctx_spool *sp, int threads, int capacity, int group_max, int64_t interval_ns,
                                   atomic_ullong *failed);
/* Queues the record of a finished job (copied; the job may be freed as soon
 * as this returns) with an optional compressed tree (`tree`, malloc'd, is
 * taken: the recorder frees it). When `done` is not NULL it is called with
 * `ctx` exactly once, after the record is on disk or refused: on an
 * appender thread, or on the caller's thread before this returns when the
 * queue is full, the recorder is stopping, or the record cannot be made. */
void mctx_recorder_put(mctx_recorder *r, const mctx_job *job, void *tree, size_t tree_len, mctx_record_done_fn done,
                       void *ctx);
/* Records queued and not yet appended. */
size_t mctx_recorder_depth(mctx_recorder *r);
/* Appends made (groups) and records in them, since the start. */
void mctx_recorder_counts(mctx_recorder *r, unsigned long long *groups, unsigned long long *records);
/* Appends what is queued (calling its callbacks), stops the threads and
 * frees r. NULL is a harmless no-op. */
void mctx_recorder_stop(mctx_recorder *r);

#endif
