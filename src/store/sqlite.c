/* store/sqlite.c: the embedded backend, `sqlite:PATH` (libsqlite3).
 *
 * One database file in WAL mode (readers do not wait for the writer), with
 * a busy timeout so that concurrent writers queue instead of failing, and
 * synchronous=FULL so that a committed batch survives a power cut (the
 * spool deletes its copy once the batch is committed). An empty PATH means
 * ./data/mctx.db; the file's directory is created. Connections come from the
 * shared pool (pool.c), each with its prepared statements cached. A record
 * is inserted with INSERT ... ON CONFLICT DO NOTHING and folded into the
 * statistics only when that insert changed a row, in the same transaction. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store-impl.h"

#define BUSY_TIMEOUT_MS 10000  /* MCTX_SQLITE_BUSY_MS overrides it */

typedef struct sq_conn {
  sqlite3 *db;
  sqlite3_stmt *put_history, *put_stats, *get, *put_tree, *get_tree;
  int broken;
} sq_conn;

typedef struct sq_ctx {
  char path[PATH_MAX];
  mctx__pool pool;
} sq_ctx;

/* ==== Connections ==== */

static int sq_err(sqlite3 *db, int rc, const char *what, mctx_status *st) {
  int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? MCTX_EBUSY : MCTX_EDB;
  return mctx_status_set(st, code, "db", "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  char *slash = strrchr(tmp, '/');
  if (!slash || slash == tmp) return 0;
  *slash = '\0';
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void sq_disconnect(void *p) {
  sq_conn *c = p;
  if (!c) return;
  sqlite3_finalize(c->put_history);
  sqlite3_finalize(c->put_stats);
  sqlite3_finalize(c->get);
  sqlite3_finalize(c->put_tree);
  sqlite3_finalize(c->get_tree);
  sqlite3_close(c->db);
  free(c);
}

static int prep(sq_conn *c, int q, sqlite3_stmt **out, mctx_status *st) {
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  int rc = mctx__sql_query(MCTX__DIALECT_SQLITE, q, 0, 0, &sql);
  if (rc == 0 && (rc = sqlite3_prepare_v2(c->db, mctx_buf_cstr(&sql), -1, out, NULL)) != SQLITE_OK)
    rc = sq_err(c->db, rc, mctx__query_name(q), st);
  mctx_buf_free(&sql);
  return rc;
}

static void *sq_connect(void *arg, mctx_status *st) {
  sq_ctx *x = arg;
  sq_conn *c = calloc(1, sizeof *c);
  if (!c) { mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); return NULL; }
  int rc = sqlite3_open_v2(x->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    mctx_status_set(st, MCTX_EDB, "db", "sqlite: cannot open %s: %s", x->path,
                    c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sq_disconnect(c);
    return NULL;
  }
  const char *busy = getenv("MCTX_SQLITE_BUSY_MS");
  sqlite3_busy_timeout(c->db, busy && busy[0] ? atoi(busy) : BUSY_TIMEOUT_MS);
  char *err = NULL;
  rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL,
                    NULL, &err);
  if (rc != SQLITE_OK) {
    mctx_status_set(st, MCTX_EDB, "db", "sqlite: %s: %s", x->path, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    sq_disconnect(c);
    return NULL;
  }
  return c;
}

/* Statements are prepared on first use: the tables exist only after the
 * migrations ran on some connection. */
static int stmt(sq_conn *c, sqlite3_stmt **slot, int q, mctx_status *st) {
  if (*slot) {
    sqlite3_reset(*slot);
    sqlite3_clear_bindings(*slot);
    return 0;
  }
  return prep(c, q, slot, st);
}

static void note_failure(sq_conn *c, int rc) {
  int prim = rc & 0xff;
  if (prim == SQLITE_CORRUPT || prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_NOTADB ||
      prim == SQLITE_FULL)
    c->broken = 1;
}

/* ==== Generic operations (schema.c, retention) ==== */

static int bind_params(sqlite3_stmt *s, const mctx__param *p, int np) {
  for (int i = 0; i < np; i++) {
    int rc;
    switch (p[i].type) {
      case MCTX__P_I64: rc = sqlite3_bind_int64(s, i + 1, p[i].i); break;
      case MCTX__P_F64: rc = sqlite3_bind_double(s, i + 1, p[i].d); break;
      case MCTX__P_TEXT: rc = sqlite3_bind_text(s, i + 1, p[i].s, -1, SQLITE_STATIC); break;
      case MCTX__P_BLOB: rc = sqlite3_bind_blob64(s, i + 1, p[i].s, p[i].len, SQLITE_STATIC); break;
      default: rc = sqlite3_bind_null(s, i + 1); break;
    }
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

static int op_exec(void *conn, const char *sql, const mctx__param *p, int np, int64_t *changes, mctx_status *st) {
  sq_conn *c = conn;
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK) rc = bind_params(s, p, np);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {}
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  int out = 0;
  if (rc != SQLITE_OK) { note_failure(c, rc); out = sq_err(c->db, rc, "exec", st); }
  else if (changes) *changes = sqlite3_changes64(c->db);
  sqlite3_finalize(s);
  return out;
}

static int op_query_i64(void *conn, const char *sql, const mctx__param *p, int np, int64_t *v, int *found,
                        mctx_status *st) {
  sq_conn *c = conn;
  sqlite3_stmt *s = NULL;
  *found = 0;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK) rc = bind_params(s, p, np);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      if (sqlite3_column_type(s, 0) != SQLITE_NULL) { *v = sqlite3_column_int64(s, 0); *found = 1; }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    }
  }
  int out = 0;
  if (rc != SQLITE_OK) { note_failure(c, rc); out = sq_err(c->db, rc, "query", st); }
  sqlite3_finalize(s);
  return out;
}

static int simple(sq_conn *c, const char *sql, mctx_status *st) {
  char *err = NULL;
  int rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    note_failure(c, rc);
    int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? MCTX_EBUSY : MCTX_EDB;
    mctx_status_set(st, code, "db", "sqlite: %s: %s", sql, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return code;
  }
  return 0;
}

static int op_begin(void *conn, mctx_status *st) { return simple(conn, "BEGIN IMMEDIATE", st); }
static int op_commit(void *conn, mctx_status *st) { return simple(conn, "COMMIT", st); }
static void op_rollback(void *conn) {
  sq_conn *c = conn;
  if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static const mctx__conn_ops SQ_OPS = {op_exec, op_query_i64, op_begin, op_commit, op_rollback};

static int sq_with_conn(mctx_store *s, int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *), void *arg,
                        mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int rc = fn(&SQ_OPS, c, arg, st);
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

/* ==== Writes ==== */

static int put_locked(sq_conn *c, const mctx__rec *recs, size_t n, mctx_status *st) {
  int rc;
  for (size_t i = 0; i < n; i++) {
    const mctx__rec *r = &recs[i];
    const mctx_search_record *s = r->src;
    if ((rc = stmt(c, &c->put_history, MCTX__Q_PUT_HISTORY, st)) != 0) return rc;
    sqlite3_stmt *h = c->put_history;
    sqlite3_bind_text(h, 1, s->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(h, 2, s->time_ms);
    sqlite3_bind_text(h, 3, r->day, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 4, s->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, 5, s->search_type, -1, SQLITE_STATIC);
    sqlite3_bind_int(h, 6, s->batch_size);
    sqlite3_bind_int(h, 7, s->num_simulations);
    if (s->max_depth >= 0) sqlite3_bind_int(h, 8, s->max_depth);
    else sqlite3_bind_null(h, 8);
    sqlite3_bind_text(h, 9, r->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(h, 10, s->duration_ms);
    sqlite3_bind_int64(h, 11, s->num_expanded_nodes);
    sqlite3_bind_int(h, 12, s->max_depth_reached);
    sqlite3_bind_text(h, 13, s->device, -1, SQLITE_STATIC);
    if (r->summary_json) sqlite3_bind_text(h, 14, r->summary_json, -1, SQLITE_STATIC);
    else sqlite3_bind_null(h, 14);
    sqlite3_bind_int(h, 15, r->gpu_optimized);
    sqlite3_bind_int(h, 16, r->distributed);
    sqlite3_bind_int(h, 17, r->num_devices);
    rc = sqlite3_step(h);
    if (rc != SQLITE_DONE) { note_failure(c, rc); return sq_err(c->db, rc, "put_history", st); }
    if (sqlite3_changes(c->db) != 1) continue;  /* already there: counted before */

    if ((rc = stmt(c, &c->put_stats, MCTX__Q_PUT_STATS_ONE, st)) != 0) return rc;
    sqlite3_stmt *t = c->put_stats;
    sqlite3_bind_text(t, 1, r->day, -1, SQLITE_STATIC);
    sqlite3_bind_text(t, 2, s->search_type, -1, SQLITE_STATIC);
    sqlite3_bind_double(t, 3, s->duration_ms);
    sqlite3_bind_double(t, 4, s->duration_ms);
    sqlite3_bind_double(t, 5, s->duration_ms);
    sqlite3_bind_int64(t, 6, s->num_expanded_nodes);
    sqlite3_bind_double(t, 7, (double)s->num_expanded_nodes);
    sqlite3_bind_int(t, 8, s->batch_size);
    sqlite3_bind_int(t, 9, s->num_simulations);
    sqlite3_bind_int(t, 10, r->gpu_optimized);
    sqlite3_bind_int(t, 11, r->distributed);
    sqlite3_bind_int(t, 12, r->devices_used);
    sqlite3_bind_double(t, 13, (double)r->devices_used);
    rc = sqlite3_step(t);
    if (rc != SQLITE_DONE) { note_failure(c, rc); return sq_err(c->db, rc, "put_stats_one", st); }
  }
  return 0;
}

static int sq_put(mctx_store *s, const mctx__rec *recs, size_t n, mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int rc = op_begin(c, st);
  if (rc == 0) rc = put_locked(c, recs, n, st);
  if (c->put_history) sqlite3_reset(c->put_history);
  if (c->put_stats) sqlite3_reset(c->put_stats);
  if (rc == 0) rc = op_commit(c, st);
  if (rc != 0) op_rollback(c);
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

static int sq_put_tree(mctx_store *s, const char *request_id, int64_t created_ms, const void *data, size_t len,
                       mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int rc = stmt(c, &c->put_tree, MCTX__Q_PUT_TREE, st);
  if (rc == 0) {
    sqlite3_bind_text(c->put_tree, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->put_tree, 2, created_ms);
    sqlite3_bind_int64(c->put_tree, 3, (int64_t)len);
    sqlite3_bind_blob64(c->put_tree, 4, data, len, SQLITE_STATIC);
    int r = sqlite3_step(c->put_tree);
    if (r != SQLITE_DONE) { note_failure(c, r); rc = sq_err(c->db, r, "put_tree", st); }
    sqlite3_reset(c->put_tree);
  }
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

/* ==== Reads ==== */

static char *col_dup(sqlite3_stmt *s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return NULL;
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap) {
  mctx__copy_field(dst, cap, (const char *)sqlite3_column_text(s, i));
}

static int read_row(sqlite3_stmt *s, mctx_search_row *r, mctx_status *st) {
  memset(r, 0, sizeof *r);
  col_copy(s, 0, r->rec.request_id, sizeof r->rec.request_id);
  r->rec.time_ms = sqlite3_column_int64(s, 1);
  col_copy(s, 3, r->rec.user, sizeof r->rec.user);
  col_copy(s, 4, r->rec.search_type, sizeof r->rec.search_type);
  r->rec.batch_size = sqlite3_column_int(s, 5);
  r->rec.num_simulations = sqlite3_column_int(s, 6);
  r->rec.max_depth = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 7);
  r->config_json = col_dup(s, 8);
  r->rec.duration_ms = sqlite3_column_double(s, 9);
  r->rec.num_expanded_nodes = sqlite3_column_int64(s, 10);
  r->rec.max_depth_reached = sqlite3_column_int(s, 11);
  col_copy(s, 12, r->rec.device, sizeof r->rec.device);
  r->summary_json = col_dup(s, 13);
  r->rec.gpu_optimized = sqlite3_column_int(s, 14);
  r->rec.distributed = sqlite3_column_int(s, 15);
  r->rec.num_devices = sqlite3_column_int(s, 16);
  r->rec.config_json = r->config_json;
  r->rec.summary_json = r->summary_json;
  if (!r->config_json) {
    mctx_search_row_free(r);
    return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  }
  return 0;
}

static int sq_get(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int rc = stmt(c, &c->get, MCTX__Q_GET, st);
  if (rc == 0) {
    sqlite3_bind_text(c->get, 1, request_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(c->get);
    if (r == SQLITE_ROW) rc = read_row(c->get, out, st);
    else if (r == SQLITE_DONE) rc = mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no search has this id");
    else { note_failure(c, r); rc = sq_err(c->db, r, "get", st); }
    sqlite3_reset(c->get);
  }
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

static int sq_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st) {
  sq_ctx *x = s->ctx;
  unsigned flags = (q->search_type ? MCTX__F_TYPE : 0) | (q->user ? MCTX__F_USER : 0);
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  int rc = mctx__sql_query(MCTX__DIALECT_SQLITE, MCTX__Q_LIST, 0, flags, &sql);
  if (rc != 0) { mctx_buf_free(&sql); return mctx_status_set(st, rc, "db", "list: cannot build the query"); }
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) { mctx_buf_free(&sql); return st ? st->code : MCTX_EDB; }
  sq_conn *c = pc->conn;
  sqlite3_stmt *h = NULL;
  int r = sqlite3_prepare_v2(c->db, mctx_buf_cstr(&sql), -1, &h, NULL);
  mctx_search_row *out = NULL;
  size_t cnt = 0;
  if (r != SQLITE_OK) {
    rc = sq_err(c->db, r, "list", st);
  } else {
    int k = 1;
    if (q->search_type) sqlite3_bind_text(h, k++, q->search_type, -1, SQLITE_STATIC);
    if (q->user) sqlite3_bind_text(h, k++, q->user, -1, SQLITE_STATIC);
    sqlite3_bind_int(h, k++, q->limit);
    sqlite3_bind_int(h, k++, q->offset);
    out = calloc((size_t)q->limit, sizeof *out);
    if (!out) rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    while (rc == 0 && (r = sqlite3_step(h)) == SQLITE_ROW && cnt < (size_t)q->limit)
      if ((rc = read_row(h, &out[cnt], st)) == 0) cnt++;
    if (rc == 0 && r != SQLITE_ROW && r != SQLITE_DONE) { note_failure(c, r); rc = sq_err(c->db, r, "list", st); }
  }
  sqlite3_finalize(h);
  mctx__pool_release(&x->pool, pc, c->broken);
  mctx_buf_free(&sql);
  if (rc != 0) { mctx_search_rows_free(out, cnt); return rc; }
  *rows = out;
  *n = cnt;
  return 0;
}

static int sq_daily(mctx_store *s, const char *from, const char *to, const char *type, mctx_daily_stats **rows,
                    size_t *n, mctx_status *st) {
  sq_ctx *x = s->ctx;
  unsigned flags = (from ? MCTX__F_FROM : 0) | (to ? MCTX__F_TO : 0) | (type ? MCTX__F_TYPE : 0);
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  int rc = mctx__sql_query(MCTX__DIALECT_SQLITE, MCTX__Q_DAILY, 0, flags, &sql);
  if (rc != 0) { mctx_buf_free(&sql); return mctx_status_set(st, rc, "db", "daily: cannot build the query"); }
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) { mctx_buf_free(&sql); return st ? st->code : MCTX_EDB; }
  sq_conn *c = pc->conn;
  sqlite3_stmt *h = NULL;
  mctx_daily_stats *out = NULL;
  size_t cnt = 0, cap = 0;
  int r = sqlite3_prepare_v2(c->db, mctx_buf_cstr(&sql), -1, &h, NULL);
  if (r != SQLITE_OK) {
    rc = sq_err(c->db, r, "daily", st);
  } else {
    int k = 1;
    if (from) sqlite3_bind_text(h, k++, from, -1, SQLITE_STATIC);
    if (to) sqlite3_bind_text(h, k++, to, -1, SQLITE_STATIC);
    if (type) sqlite3_bind_text(h, k++, type, -1, SQLITE_STATIC);
    while (rc == 0 && (r = sqlite3_step(h)) == SQLITE_ROW) {
      if (cnt == cap) {
        if (cap >= 1000000) { rc = mctx_status_set(st, MCTX_ELIMIT, "daily", "more than 1000000 rows"); break; }
        size_t nc = cap ? cap * 2 : 64;
        mctx_daily_stats *p = realloc(out, nc * sizeof *p);
        if (!p) { rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); break; }
        out = p;
        cap = nc;
      }
      mctx_daily_stats *d = &out[cnt++];
      memset(d, 0, sizeof *d);
      col_copy(h, 0, d->day, sizeof d->day);
      col_copy(h, 1, d->search_type, sizeof d->search_type);
      d->count = sqlite3_column_int64(h, 2);
      d->avg_duration_ms = sqlite3_column_double(h, 3);
      d->max_duration_ms = sqlite3_column_double(h, 4);
      d->avg_expanded_nodes = sqlite3_column_double(h, 5);
      d->max_batch_size = sqlite3_column_int(h, 6);
      d->max_num_simulations = sqlite3_column_int(h, 7);
      d->gpu_optimized_count = sqlite3_column_int64(h, 8);
      d->distributed_count = sqlite3_column_int64(h, 9);
      d->avg_devices = sqlite3_column_double(h, 10);
    }
    if (rc == 0 && r != SQLITE_DONE) { note_failure(c, r); rc = sq_err(c->db, r, "daily", st); }
  }
  sqlite3_finalize(h);
  mctx__pool_release(&x->pool, pc, c->broken);
  mctx_buf_free(&sql);
  if (rc != 0) { free(out); return rc; }
  *rows = out;
  *n = cnt;
  return 0;
}

static int sq_get_tree(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int rc = stmt(c, &c->get_tree, MCTX__Q_GET_TREE, st);
  if (rc == 0) {
    sqlite3_bind_text(c->get_tree, 1, request_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(c->get_tree);
    if (r == SQLITE_ROW) {
      size_t n = (size_t)sqlite3_column_bytes(c->get_tree, 0);
      const void *b = sqlite3_column_blob(c->get_tree, 0);
      void *p = malloc(n ? n : 1);
      if (!p) rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
      else { if (n) memcpy(p, b, n); *data = p; *len = n; }
    } else if (r == SQLITE_DONE) {
      rc = mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no stored tree for this id");
    } else {
      note_failure(c, r);
      rc = sq_err(c->db, r, "get_tree", st);
    }
    sqlite3_reset(c->get_tree);
  }
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

static int sq_ping(mctx_store *s, mctx_status *st) {
  sq_ctx *x = s->ctx;
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) return st ? st->code : MCTX_EDB;
  sq_conn *c = pc->conn;
  int64_t v = 0;
  int found = 0;
  int rc = op_query_i64(c, "SELECT COUNT(*) FROM sqlite_master", NULL, 0, &v, &found, st);
  mctx__pool_release(&x->pool, pc, c->broken);
  return rc;
}

static void sq_close(mctx_store *s) {
  sq_ctx *x = s->ctx;
  mctx__pool_destroy(&x->pool);
  free(x);
  free(s);
}

static const mctx__store_vt SQ_VT = {
  "sqlite", sq_put, sq_get, sq_list, sq_daily, sq_put_tree, sq_get_tree, sq_ping, sq_with_conn, sq_close,
};

mctx_store *mctx__sqlite_open(const char *path, mctx_status *st) {
  if (!path || !path[0]) path = "data/mctx.db";
  if (strlen(path) >= PATH_MAX) {
    mctx_status_set(st, MCTX_EINVALID, "db", "sqlite path longer than %d bytes", PATH_MAX - 1);
    return NULL;
  }
  if (mkdirs(path) != 0) {
    mctx_status_set(st, MCTX_EIO, "db", "sqlite: cannot create the directory of %s: %s", path, strerror(errno));
    return NULL;
  }
  mctx_store *s = calloc(1, sizeof *s);
  sq_ctx *x = calloc(1, sizeof *x);
  if (!s || !x) {
    free(s); free(x);
    mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    return NULL;
  }
  snprintf(x->path, sizeof x->path, "%s", path);
  mctx__pool_init(&x->pool, 4, sq_connect, sq_disconnect, x);
  s->vt = &SQ_VT;
  s->ctx = x;
  s->dialect = MCTX__DIALECT_SQLITE;
  /* Open one connection now, so that a bad path fails here. */
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) { sq_close(s); return NULL; }
  mctx__pool_release(&x->pool, pc, 0);
  return s;
}
