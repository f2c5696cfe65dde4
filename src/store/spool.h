/* store/spool.h: the durable spool between the service and the database.
 *
 * Each record is appended to a local spool file and flushed to disk before
 * mctx_spool_append returns (appends from concurrent searches share one
 * fsync; mctx_spool_append_many writes many records with one write). A writer thread drains the spool into the store in batches,
 * retrying failures with exponential backoff and jitter; after a restart the
 * spool is replayed. Writes are idempotent by request id, so each record
 * lands exactly once even when a batch is retried or replayed. */
#ifndef MCTX_STORE_SPOOL_H
#define MCTX_STORE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct mctx_spool_opts {
  const char *dir;          /* spool directory (created); e.g. ./data/spool */
  size_t max_bytes;         /* disk the spool may take; 0: 1 GiB */
  int batch_max;            /* records per database transaction; 0: 256 */
  int retry_base_ms;        /* first retry delay; 0: 100 */
  int retry_max_ms;         /* longest retry delay; 0: 30000 */
} mctx_spool_opts;

typedef struct mctx_spool mctx_spool;

/* Opens the spool, replays what an earlier process left, and starts the
 * writer thread on `store` (borrowed; must outlive the spool). */
mctx_spool *mctx_spool_open(const mctx_spool_opts *opts, mctx_store *store, mctx_status *st);
/* Appends a record (and optionally its compressed tree) durably. Returns 0,
 * or MCTX_EIO when it could not be kept (disk full, ...): the record is then
 * counted in `dropped`, never lost silently. */
int mctx_spool_append(mctx_spool *sp, const mctx_search_record *rec, const void *tree, size_t tree_len,
                      mctx_status *st);
/* Appends n records with one write and one fdatasync (shared with
 * concurrent appends like any other): returns when all of them are on disk
 * (0) or refused. Accounting stays per record: those kept count in
 * `appended`, each one refused (invalid, over the cap, the write or sync
 * failed) in `dropped`. On failure returns the first refused record's code
 * with st describing it; records are kept in order up to the byte cap, so
 * a full spool keeps a prefix of the group. recs is borrowed for the call. */
int mctx_spool_append_many(mctx_spool *sp, const mctx_search_record *recs, size_t n, mctx_status *st);
/* mctx_spool_append_many with trees and per-record outcomes: trees[i] and
 * tree_lens[i] (both arrays may be NULL: no trees) are record i's compressed
 * tree; rcs (may be NULL) gets each record's outcome, 0 when kept. */
int mctx_spool_append_group(mctx_spool *sp, const mctx_search_record *recs, const void *const *trees,
                            const size_t *tree_lens, size_t n, int *rcs, mctx_status *st);

typedef struct mctx_spool_stats {
  uint64_t appended;        /* records accepted */
  uint64_t written;         /* records landed in the database */
  uint64_t dropped;         /* records that could not be kept */
  uint64_t retries;         /* failed database writes retried */
  uint64_t depth;           /* records waiting */
  double oldest_age_s;      /* age of the oldest waiting record, 0 when none */
  int db_ok;                /* the last database write or ping succeeded */
  char last_error[256];
} mctx_spool_stats;

void mctx_spool_get_stats(mctx_spool *sp, mctx_spool_stats *out);
/* Waits until the spool is empty or timeout_ms passed. Returns 0 when empty. */
int mctx_spool_flush(mctx_spool *sp, int timeout_ms);
/* Stops the writer after trying to drain for at most drain_ms; what remains
 * stays on disk for the next start. NULL is a harmless no-op. */
void mctx_spool_close(mctx_spool *sp, int drain_ms);

#endif
