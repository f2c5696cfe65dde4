/* store/store.h: where searches are recorded.
 *
 * The store knows nothing of trees or JSON requests: it takes plain records
 * (one per search) and keeps the product notes' two tables,
 * MCTX_SEARCH_HISTORY (a row per search) and MCTX_SEARCH_STATISTICS (a row per
 * day and search type, kept current as records land). Backends are tables of
 * functions chosen by URL:
 *   sqlite:PATH                 embedded, one file, WAL (the default)
 *   postgresql://...            libpq
 *   odbc:<connection string>    unixODBC; dialect=hana or dialect=postgresql
 * Writes are idempotent by request id: a record written twice lands once.
 *
 * The service never writes to a store directly: records go through the
 * durable spool (store/spool.h), which survives the database being away and
 * the process dying. */
#ifndef MCTX_STORE_STORE_H
#define MCTX_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"

/* One search. Strings are NUL-terminated; the store copies what it keeps. */
typedef struct mctx_search_record {
  char request_id[64];       /* unique */
  int64_t time_ms;           /* Unix time of the request, milliseconds */
  char user[64];             /* the API key's name or "anonymous" */
  char search_type[32];      /* muzero | gumbel_muzero | stochastic_muzero */
  int32_t batch_size;
  int32_t num_simulations;
  int32_t max_depth;         /* -1: none */
  const char *config_json;   /* the request's configuration, flags included */
  double duration_ms;
  int64_t num_expanded_nodes;
  int32_t max_depth_reached;
  char device[16];           /* cpu | gpu */
  const char *summary_json;  /* a summary of the result */
  int gpu_optimized;         /* use_t4_optimizations was set */
  int distributed;
  int32_t num_devices;
} mctx_search_record;

/* A row of MCTX_SEARCH_STATISTICS. */
typedef struct mctx_daily_stats {
  char day[11];              /* YYYY-MM-DD (UTC) */
  char search_type[32];
  int64_t count;
  double avg_duration_ms, max_duration_ms;
  double avg_expanded_nodes;
  int32_t max_batch_size, max_num_simulations;
  int64_t gpu_optimized_count, distributed_count;
  double avg_devices;
} mctx_daily_stats;

typedef struct mctx_search_query {
  int32_t limit;             /* rows, <= 1000 */
  int32_t offset;
  const char *search_type;   /* NULL: any */
  const char *user;          /* NULL: any */
} mctx_search_query;

/* A history row as read back; strings owned by the caller after the call
 * (free with mctx_search_row_free). */
typedef struct mctx_search_row {
  mctx_search_record rec;
  char *config_json;
  char *summary_json;
} mctx_search_row;

typedef struct mctx_store mctx_store;

/* Opens a store by URL and brings its schema to the current version
 * (versioned migrations). Returns NULL with st filled when it cannot. */
mctx_store *mctx_store_open(const char *url, mctx_status *st);
/* Closes it. NULL is a harmless no-op. */
void mctx_store_close(mctx_store *s);
/* The backend's name: "sqlite", "postgresql", "odbc". */
const char *mctx_store_backend(const mctx_store *s);

/* Writes records (one transaction), each once: a request id already present
 * is skipped, and the daily statistics count each record once. */
int mctx_store_put(mctx_store *s, const mctx_search_record *recs, size_t n, mctx_status *st);
/* Reads one search by request id: 0, MCTX_ENOTFOUND, or an error. */
int mctx_store_get(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st);
/* Lists searches, newest first. *rows is malloc'd (free with
 * mctx_search_rows_free). */
int mctx_store_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st);
/* Daily statistics for days in [from, to] (YYYY-MM-DD, NULL: open), one
 * search type or all. *rows is malloc'd; free() it. */
int mctx_store_daily(mctx_store *s, const char *from, const char *to, const char *search_type,
                     mctx_daily_stats **rows, size_t *n, mctx_status *st);
/* Stored trees (compressed bytes, zstd): put and get by request id. */
int mctx_store_put_tree(mctx_store *s, const char *request_id, const void *data, size_t len, mctx_status *st);
int mctx_store_get_tree(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st);
/* Whether the database answers now (0) or not. */
int mctx_store_ping(mctx_store *s, mctx_status *st);

void mctx_search_row_free(mctx_search_row *r);
void mctx_search_rows_free(mctx_search_row *rows, size_t n);

/* ==== Additions (schema, retention, trees) ==== */

/* mctx_store_open2's flags. */
#define MCTX_STORE_OPEN_NO_MIGRATE 1u  /* leave the schema as it is (`mctx db migrate`) */
/* A client/server database (postgresql://, odbc:) that cannot be reached
 * now (MCTX_EDB, MCTX_ETIMEOUT, MCTX_EBUSY) is not an error: the store is
 * returned anyway and its operations fail with the connection's error until
 * the database answers; the first one after that (tries at most once a
 * second) connects and migrates, and the store works from then on. Errors
 * of the URL itself, or a schema newer than this build, still fail at open. */
#define MCTX_STORE_OPEN_LAZY 2u

/* Opens a store like mctx_store_open, with flags. NULL with st on failure;
 * close with mctx_store_close. */
mctx_store *mctx_store_open2(const char *url, unsigned flags, mctx_status *st);
/* 1 once the store reached its database (always, unless it was opened
 * with MCTX_STORE_OPEN_LAZY and the database has not answered yet). */
int mctx_store_is_open(mctx_store *s);
/* The SQL dialect: "sqlite", "postgresql" or "hana" (odbc speaks either). */
const char *mctx_store_dialect(const mctx_store *s);
/* Applies the migrations from the database's version up to `target` (0: the
 * latest) in one transaction; *from and *to (may be NULL) get the versions
 * before and after. Running it again changes nothing. Returns 0, or
 * MCTX_EUNSUPPORTED when the database is newer than this build. */
int mctx_store_migrate(mctx_store *s, int target, int *from, int *to, mctx_status *st);
/* The database's schema version (0: no schema yet). */
int mctx_store_schema_version(mctx_store *s, int *version, mctx_status *st);
/* The newest schema version this build knows. */
int mctx_store_schema_latest(void);
/* Checks a record as mctx_store_put would (fields, UTF-8, JSON) without
 * writing it: 0, or the error naming the field. */
int mctx_store_record_check(const mctx_search_record *rec, mctx_status *st);
/* Retention: deletes history rows and stored trees older than before_ms
 * (Unix ms); the daily statistics stay. *deleted (may be NULL) gets the
 * number of history rows deleted. */
int mctx_store_prune(mctx_store *s, int64_t before_ms, int64_t *deleted, mctx_status *st);

/* zstd for stored trees. Compress: level 0 means 3. Decompress: at most
 * max_out bytes (0: 4 GiB), else MCTX_ELIMIT. *out is malloc'd; free() it. */
int mctx_store_zstd_compress(const void *src, size_t len, int level, void **out, size_t *out_len,
                             mctx_status *st);
int mctx_store_zstd_decompress(const void *src, size_t len, size_t max_out, void **out, size_t *out_len,
                               mctx_status *st);

#endif
