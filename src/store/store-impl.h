/* store/store-impl.h: what the store's files share and nothing outside
 * src/store (and src/cli/cmd_db.c, the store's own command) may include.
 *
 * A backend is a table of functions plus a context (ggml's backend shape):
 * store.c checks arguments once, normalizes the records, then calls through
 * the table. The SQL of every dialect lives in sql.c; the connection pool
 * that the client/server backends share lives in pool.c; the versioned
 * migrations (one flow for every dialect) live in schema.c. */
#ifndef MCTX_STORE_STORE_IMPL_H
#define MCTX_STORE_STORE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"

/* ==== Dialects ==== */

/* The SQL a backend speaks. ODBC speaks postgresql or hana. */
typedef enum mctx__dialect {
  MCTX__DIALECT_SQLITE = 0,
  MCTX__DIALECT_POSTGRESQL,
  MCTX__DIALECT_HANA,
} mctx__dialect;

/* The dialect's name ("sqlite", "postgresql", "hana"); static. */
const char *mctx__dialect_name(int dialect);

/* A normalized record, what the backends write: store.c fills it from a
 * caller's record after validating it. Strings are borrowed from the caller's
 * record (or static), valid for the duration of the put. */
typedef struct mctx__rec {
  const mctx_search_record *src;
  char day[11];             /* YYYY-MM-DD (UTC) of time_ms */
  const char *config_json;  /* never NULL: "{}" when the caller gave none */
  const char *summary_json; /* may be NULL */
  int gpu_optimized;        /* effective flags: the configuration's when it has them */
  int distributed;
  int32_t num_devices;
  int32_t devices_used;     /* distributed ? max(num_devices, 1) : 1 */
} mctx__rec;

/* ==== Backends ==== */

/* A bound parameter or a statement's scalar result. */
typedef enum mctx__ptype {
  MCTX__P_NULL = 0,
  MCTX__P_I64,
  MCTX__P_F64,
  MCTX__P_TEXT,
  MCTX__P_BLOB,
} mctx__ptype;

typedef struct mctx__param {
  int type;                 /* mctx__ptype */
  int64_t i;
  double d;
  const char *s;            /* TEXT (NUL-terminated) or BLOB */
  size_t len;               /* BLOB length */
} mctx__param;

static inline mctx__param mctx__p_i64(int64_t v) { mctx__param p = {MCTX__P_I64, v, 0, 0, 0}; return p; }
static inline mctx__param mctx__p_text(const char *s) {
  mctx__param p = {s ? MCTX__P_TEXT : MCTX__P_NULL, 0, 0, s, 0};
  return p;
}

/* What the generic flows (migrations, retention, admin statements) need from
 * a backend's raw connection. Placeholders are '?' in every dialect (libpq's
 * backend rewrites them to $n). */
typedef struct mctx__conn_ops {
  /* Runs a statement; *changes (may be NULL) gets the rows it changed. */
  int (*exec)(void *conn, const char *sql, const mctx__param *p, int np, int64_t *changes, mctx_status *st);
  /* Runs a query and reads the first column of its first row as an integer;
   * *found is 0 when there was no row (or the value was NULL). */
  int (*query_i64)(void *conn, const char *sql, const mctx__param *p, int np, int64_t *out, int *found,
                   mctx_status *st);
  int (*begin)(void *conn, mctx_status *st);   /* sqlite: BEGIN IMMEDIATE */
  int (*commit)(void *conn, mctx_status *st);
  void (*rollback)(void *conn);
} mctx__conn_ops;

typedef struct mctx__store_vt {
  const char *name;         /* "sqlite", "postgresql", "odbc" */
  /* Writes normalized records (unique request ids) in one transaction. */
  int (*put)(mctx_store *s, const mctx__rec *recs, size_t n, mctx_status *st);
  int (*get)(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st);
  int (*list)(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st);
  int (*daily)(mctx_store *s, const char *from, const char *to, const char *search_type,
               mctx_daily_stats **rows, size_t *n, mctx_status *st);
  int (*put_tree)(mctx_store *s, const char *request_id, int64_t created_ms, const void *data, size_t len,
                  mctx_status *st);
  int (*get_tree)(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st);
  int (*ping)(mctx_store *s, mctx_status *st);
  /* Runs fn on a pooled connection (with one retry on a fresh connection
   * when the first one turned out dead). The generic flows use it. */
  int (*with_conn)(mctx_store *s, int (*fn)(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st),
                   void *arg, mctx_status *st);
  void (*close)(mctx_store *s);
} mctx__store_vt;

struct mctx_store {
  const mctx__store_vt *vt;
  void *ctx;                /* the backend's */
  int dialect;              /* mctx__dialect */
};

/* Backend constructors: `spec` is the URL without its scheme prefix where
 * that is how the backend reads it (see store.c). Return NULL with st. */
mctx_store *mctx__sqlite_open(const char *path, mctx_status *st);
mctx_store *mctx__pg_open(const char *url, mctx_status *st);
mctx_store *mctx__odbc_open(const char *connstr, mctx_status *st);
/* Reads an odbc: connection string: removes dialect=, adds the HANA Cloud
 * defaults for hana. *out is malloc'd (free() it). */
int mctx__odbc_connstr(const char *spec, char **out, int *dialect, mctx_status *st);

/* ==== SQL (sql.c) ==== */

/* The statements the backends run, by name. Every dialect's text of one
 * statement takes the same parameters in the same order, so the binding code
 * that runs against PostgreSQL through ODBC is the code that runs on HANA. */
typedef enum mctx__query {
  MCTX__Q_PING = 0,
  MCTX__Q_LOCK_HISTORY,     /* odbc: serializes writers for exact statistics */
  MCTX__Q_EXISTS,           /* n ids: which of them are already there */
  MCTX__Q_PUT_HISTORY,      /* one row, insert unless present */
  MCTX__Q_PUT_STATS,        /* odbc: fold n new history rows into the statistics */
  MCTX__Q_PUT_STATS_ONE,    /* sqlite: fold one new row, bound values */
  MCTX__Q_PUT_BATCH,        /* libpq: a JSON array of rows, history + statistics */
  MCTX__Q_GET,
  MCTX__Q_LIST,             /* flags: MCTX__F_TYPE, MCTX__F_USER */
  MCTX__Q_DAILY,            /* flags: MCTX__F_FROM, MCTX__F_TO, MCTX__F_TYPE */
  MCTX__Q_PUT_TREE,
  MCTX__Q_GET_TREE,
  MCTX__Q_PRUNE_TREES,
  MCTX__Q_PRUNE_HISTORY,
  MCTX__Q_COUNT_
} mctx__query;

#define MCTX__F_TYPE 1u
#define MCTX__F_USER 2u
#define MCTX__F_FROM 4u
#define MCTX__F_TO   8u

/* The query's name ("put_history"), for messages and the text tests. */
const char *mctx__query_name(int q);
/* Looks a query up by name; -1 when unknown. */
int mctx__query_by_name(const char *name);
/* Appends the text of query q in `dialect` to out. n: the number of ids of
 * an IN list (EXISTS, PUT_STATS), flags: the optional filters (LIST, DAILY).
 * Returns 0, MCTX_EUNSUPPORTED when the dialect has no such statement, or
 * MCTX_ENOMEM. */
int mctx__sql_query(int dialect, int q, int n, unsigned flags, mctx_buf *out);

/* The history columns in the order GET and LIST return them. */
#define MCTX__HISTORY_NCOLS 17

/* Migrations: versions 1..mctx__schema_latest(). */
int mctx__schema_latest(void);
const char *mctx__schema_description(int version);
/* The statements of one migration in one dialect, NULL-terminated. */
const char *const *mctx__schema_migration(int dialect, int version);
/* The bootstrap statements. */
const char *mctx__sql_version_table(int dialect);      /* CREATE TABLE */
const char *mctx__sql_table_exists(int dialect);       /* COUNT(*), one ? (upper-case name) */
const char *mctx__sql_migration_lock(int dialect);     /* NULL: none */
const char *mctx__sql_migration_prelude(int dialect);  /* NULL: none; run before BEGIN */

/* Rewrites '?' placeholders to $1, $2... (outside quotes), for libpq.
 * Returns 0 or MCTX_ENOMEM. */
int mctx__sql_dollars(const char *sql, mctx_buf *out);
/* Counts the '?' placeholders outside quotes. */
int mctx__sql_count_params(const char *sql);

/* ==== Schema (schema.c) ==== */

/* Brings the schema on one connection from its version to `target` (0: the
 * latest) in one transaction; *from and *to (may be NULL) get the versions.
 * Returns 0, MCTX_EUNSUPPORTED when the database is newer than this build,
 * or the failing statement's error. */
int mctx__schema_migrate(const mctx__conn_ops *ops, void *conn, int dialect, int target, int *from,
                         int *to, mctx_status *st);
/* Reads the version (0 when the version table does not exist). */
int mctx__schema_version(const mctx__conn_ops *ops, void *conn, int dialect, int *version, mctx_status *st);

/* ==== Connection pool (pool.c) ==== */

/* A pool of connections of one backend: at most `max` open, created on
 * demand, handed out one caller at a time. A connection the caller reports
 * broken is closed rather than returned, and every idle connection older
 * than the failure is dropped too (after a server restart they are all
 * dead), so the next acquire reconnects. */
typedef struct mctx__pool_conn {
  void *conn;
  uint64_t generation;
  struct mctx__pool_conn *next;
} mctx__pool_conn;

typedef struct mctx__pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  mctx__pool_conn *idle;
  int open, max;
  uint64_t generation;      /* bumped when a connection is found dead */
  int wait_ms;              /* longest wait for a free connection */
  void *(*connect)(void *arg, mctx_status *st);
  void (*disconnect)(void *conn);
  void *arg;
} mctx__pool;

/* Prepares an empty pool of at most `max` connections (0: 4) made by
 * connect(arg) and closed by disconnect(conn). Free with mctx__pool_destroy. */
void mctx__pool_init(mctx__pool *p, int max, void *(*connect)(void *, mctx_status *),
                     void (*disconnect)(void *), void *arg);
/* Closes every idle connection; none may be checked out. */
void mctx__pool_destroy(mctx__pool *p);
/* Returns a connection (idle or new), or NULL with st: MCTX_EDB when the
 * database cannot be reached, MCTX_EBUSY when all are busy past wait_ms. */
mctx__pool_conn *mctx__pool_acquire(mctx__pool *p, mctx_status *st);
/* Gives a connection back; broken: close it and drop older idle ones. */
void mctx__pool_release(mctx__pool *p, mctx__pool_conn *c, int broken);

/* ==== Helpers (store.c) ==== */

/* Checks a caller's record and fills its normalized form (borrowing its
 * strings). Returns 0 or the error naming the field. */
int mctx__rec_normalize(const mctx_search_record *r, mctx__rec *out, mctx_status *st);

/* Connections per pool: MCTX_DB_POOL (1..64), 4 by default. */
int mctx__pool_size_env(void);
/* Wall-clock Unix time in milliseconds. */
int64_t mctx__now_ms(void);
/* YYYY-MM-DD (UTC) of a Unix time in milliseconds. */
void mctx__utc_day(int64_t ms, char out[11]);
/* Copies src into a fixed field, truncating. */
void mctx__copy_field(char *dst, size_t cap, const char *src);
/* Splits "k=v;k={v;w};..." ODBC-style: calls fn per pair (key and value
 * NUL-terminated, braces removed). Returns 0, or MCTX_EPARSE. */
int mctx__connstr_parse(const char *s, int (*fn)(const char *key, const char *val, void *arg), void *arg,
                        mctx_status *st);
/* Runs an admin statement built by the caller from validated values (the
 * `mctx db workload-class --apply` DDL): never user text. */
int mctx__store_exec(mctx_store *s, const char *sql, mctx_status *st);

#endif
