/* store/postgres.c: the PostgreSQL backend, `postgresql://...` (libpq).
 *
 * Connections come from the shared pool (pool.c; MCTX_DB_POOL of them, 4 by
 * default), each made with a connect timeout, TCP keepalives and
 * application_name "mctx" (all overridable in the URL). Every operation runs on one connection; when
 * it fails because the connection died (the server restarted, the network
 * dropped) the connection and its idle siblings are dropped and the
 * operation runs once more on a fresh one: writes are idempotent, so the
 * retry is safe even when the first COMMIT did land. A batch of records is
 * one statement and one round trip (sql.c's put_batch: rows as one JSON
 * parameter, ON CONFLICT DO NOTHING RETURNING feeding the statistics). All
 * values are bound parameters. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-impl.h"
#include "util/jsonw.h"

typedef struct pg_conn {
  PGconn *pg;
  unsigned prepared;  /* bit q: statement "mctx_<q>" prepared */
  int broken;
} pg_conn;

typedef struct pg_ctx {
  char *url;
  mctx__pool pool;
} pg_ctx;

/* ==== Connections ==== */

static void quiet(void *arg, const char *msg) { (void)arg; (void)msg; }

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
}

static void *pg_connect(void *arg, mctx_status *st) {
  pg_ctx *x = arg;
  /* Later keywords override earlier ones: the URL's own settings win. */
  /* Keepalives and a TCP user timeout notice a server that vanished
   * without closing the connection (a partition) in ~30 s, not minutes. */
  const char *keys[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "dbname", NULL};
  const char *vals[] = {"5", "mctx", "10", "5", "3", "30000", x->url, NULL};
  PGconn *pg = PQconnectdbParams(keys, vals, 1);
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s", pg ? PQerrorMessage(pg) : "out of memory");
    chomp(msg);
    mctx_status_set(st, MCTX_EDB, "db", "postgresql: cannot connect: %s", msg);
    PQfinish(pg);
    return NULL;
  }
  PQsetNoticeProcessor(pg, quiet, NULL);
  pg_conn *c = calloc(1, sizeof *c);
  if (!c) { PQfinish(pg); mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); return NULL; }
  c->pg = pg;
  return c;
}

static void pg_disconnect(void *p) {
  pg_conn *c = p;
  if (!c) return;
  PQfinish(c->pg);
  free(c);
}

/* Fills st from a failed result (res may be NULL) and notes whether the
 * connection is gone. */
static int pg_fail(pg_conn *c, PGresult *res, const char *what, mctx_status *st) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (PQstatus(c->pg) != CONNECTION_OK || !res ||
      (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))
    c->broken = 1;
  char msg[320];
  snprintf(msg, sizeof msg, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
  chomp(msg);
  int code = (state && (strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0))
                 ? MCTX_EBUSY
                 : MCTX_EDB;
  return mctx_status_set(st, code, "db", "postgresql: %s: %s%s%s", what, state ? state : "", state ? " " : "",
                         msg[0] ? msg : "connection lost");
}

/* Runs fn on a pooled connection; once more on a fresh connection when the
 * first one died under it. */
static int pg_run(pg_ctx *x, int (*fn)(pg_conn *c, void *arg, mctx_status *st), void *arg, mctx_status *st) {
  int rc = MCTX_EDB;
  for (int attempt = 0; attempt < 2; attempt++) {
    mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
    if (!pc) return st ? st->code : MCTX_EDB;
    pg_conn *c = pc->conn;
    c->broken = 0;
    rc = fn(c, arg, st);
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
      PGresult *r = PQexec(c->pg, "ROLLBACK");
      if (PQresultStatus(r) != PGRES_COMMAND_OK) c->broken = 1;
      PQclear(r);
    }
    int broken = c->broken;
    mctx__pool_release(&x->pool, pc, broken);
    if (rc == 0 || !broken) break;
  }
  return rc;
}

/* Prepares sql.c's query q (placeholders rewritten) once per connection. */
static int prepared(pg_conn *c, int q, mctx_status *st) {
  if (c->prepared & (1u << q)) return 0;
  mctx_buf sql, dollars;
  mctx_buf_init(&sql, 1 << 16);
  mctx_buf_init(&dollars, 1 << 16);
  int rc = mctx__sql_query(MCTX__DIALECT_POSTGRESQL, q, 0, 0, &sql);
  if (rc == 0) rc = mctx__sql_dollars(mctx_buf_cstr(&sql), &dollars);
  if (rc == 0) {
    char name[48];
    snprintf(name, sizeof name, "mctx_%s", mctx__query_name(q));
    PGresult *r = PQprepare(c->pg, name, mctx_buf_cstr(&dollars), 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_fail(c, r, mctx__query_name(q), st);
    else c->prepared |= 1u << q;
    PQclear(r);
  } else {
    rc = mctx_status_set(st, rc, "db", "postgresql: cannot build %s", mctx__query_name(q));
  }
  mctx_buf_free(&sql);
  mctx_buf_free(&dollars);
  return rc;
}

static PGresult *exec_prepared(pg_conn *c, int q, int np, const char *const *vals, const int *lens,
                               const int *fmts, int result_fmt) {
  char name[48];
  snprintf(name, sizeof name, "mctx_%s", mctx__query_name(q));
  return PQexecPrepared(c->pg, name, np, vals, lens, fmts, result_fmt);
}

/* ==== Generic operations (schema.c, retention) ==== */

typedef struct pvals {
  const char *v[16];
  int len[16], fmt[16];
  char num[16][32];
} pvals;

static int to_pvals(const mctx__param *p, int np, pvals *out) {
  if (np > 16) return -1;
  for (int i = 0; i < np; i++) {
    out->len[i] = 0;
    out->fmt[i] = 0;
    switch (p[i].type) {
      case MCTX__P_I64: snprintf(out->num[i], 32, "%lld", (long long)p[i].i); out->v[i] = out->num[i]; break;
      case MCTX__P_F64: snprintf(out->num[i], 32, "%.17g", p[i].d); out->v[i] = out->num[i]; break;
      case MCTX__P_TEXT: out->v[i] = p[i].s; break;
      case MCTX__P_BLOB: out->v[i] = p[i].s; out->len[i] = (int)p[i].len; out->fmt[i] = 1; break;
      default: out->v[i] = NULL; break;
    }
  }
  return 0;
}

static PGresult *exec_text(pg_conn *c, const char *sql, const mctx__param *p, int np, mctx_status *st) {
  mctx_buf d;
  mctx_buf_init(&d, 1 << 20);
  pvals pv;
  if (mctx__sql_dollars(sql, &d) != 0 || to_pvals(p, np, &pv) != 0) {
    mctx_buf_free(&d);
    mctx_status_set(st, MCTX_ELIMIT, "db", "statement too long or too many parameters");
    return NULL;
  }
  PGresult *r = PQexecParams(c->pg, mctx_buf_cstr(&d), np, NULL, pv.v, pv.len, pv.fmt, 0);
  mctx_buf_free(&d);
  return r;
}

static int op_exec(void *conn, const char *sql, const mctx__param *p, int np, int64_t *changes, mctx_status *st) {
  pg_conn *c = conn;
  PGresult *r = exec_text(c, sql, p, np, st);
  int s = PQresultStatus(r);
  int rc = 0;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) rc = pg_fail(c, r, "exec", st);
  else if (changes) *changes = strtoll(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return rc;
}

static int op_query_i64(void *conn, const char *sql, const mctx__param *p, int np, int64_t *v, int *found,
                        mctx_status *st) {
  pg_conn *c = conn;
  *found = 0;
  PGresult *r = exec_text(c, sql, p, np, st);
  int rc = 0;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) rc = pg_fail(c, r, "query", st);
  else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) { *v = strtoll(PQgetvalue(r, 0, 0), NULL, 10); *found = 1; }
  PQclear(r);
  return rc;
}

static int simple(pg_conn *c, const char *sql, mctx_status *st) {
  PGresult *r = PQexec(c->pg, sql);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_fail(c, r, sql, st);
  PQclear(r);
  return rc;
}

static int op_begin(void *conn, mctx_status *st) { return simple(conn, "BEGIN", st); }
static int op_commit(void *conn, mctx_status *st) { return simple(conn, "COMMIT", st); }
static void op_rollback(void *conn) {
  pg_conn *c = conn;
  if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) PQclear(PQexec(c->pg, "ROLLBACK"));
}

static const mctx__conn_ops PG_OPS = {op_exec, op_query_i64, op_begin, op_commit, op_rollback};

typedef struct generic_arg {
  int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *);
  void *arg;
} generic_arg;

static int run_generic(pg_conn *c, void *arg, mctx_status *st) {
  generic_arg *g = arg;
  return g->fn(&PG_OPS, c, g->arg, st);
}

static int pg_with_conn(mctx_store *s, int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *), void *arg,
                        mctx_status *st) {
  generic_arg g = {fn, arg};
  return pg_run(s->ctx, run_generic, &g, st);
}

/* ==== Writes ==== */

typedef struct put_arg {
  const char *json;
} put_arg;

static int run_put(pg_conn *c, void *arg, mctx_status *st) {
  put_arg *a = arg;
  int rc = prepared(c, MCTX__Q_PUT_BATCH, st);
  if (rc != 0) return rc;
  const char *vals[1] = {a->json};
  PGresult *r = exec_prepared(c, MCTX__Q_PUT_BATCH, 1, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_fail(c, r, "put_batch", st);
  PQclear(r);
  return rc;
}

static int pg_put(mctx_store *s, const mctx__rec *recs, size_t n, mctx_status *st) {
  if (n == 0) return 0;
  mctx_buf b;
  mctx_buf_init(&b, (size_t)1 << 30);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_arr(&w);
  for (size_t i = 0; i < n; i++) {
    const mctx__rec *r = &recs[i];
    const mctx_search_record *x = r->src;
    mctx_jw_obj(&w);
    MCTX_JW_KV(&w, "request_id", mctx_jw_str, x->request_id);
    MCTX_JW_KV(&w, "time_ms", mctx_jw_i64, x->time_ms);
    MCTX_JW_KV(&w, "search_day", mctx_jw_str, r->day);
    MCTX_JW_KV(&w, "user_name", mctx_jw_str, x->user);
    MCTX_JW_KV(&w, "search_type", mctx_jw_str, x->search_type);
    MCTX_JW_KV(&w, "batch_size", mctx_jw_i64, x->batch_size);
    MCTX_JW_KV(&w, "num_simulations", mctx_jw_i64, x->num_simulations);
    mctx_jw_key(&w, "max_depth");
    if (x->max_depth >= 0) mctx_jw_i64(&w, x->max_depth);
    else mctx_jw_null(&w);
    MCTX_JW_KV(&w, "config_json", mctx_jw_str, r->config_json);
    MCTX_JW_KV(&w, "duration_ms", mctx_jw_f64, x->duration_ms);
    MCTX_JW_KV(&w, "num_expanded_nodes", mctx_jw_i64, x->num_expanded_nodes);
    MCTX_JW_KV(&w, "max_depth_reached", mctx_jw_i64, x->max_depth_reached);
    MCTX_JW_KV(&w, "device", mctx_jw_str, x->device);
    mctx_jw_key(&w, "result_summary");
    if (r->summary_json) mctx_jw_str(&w, r->summary_json);
    else mctx_jw_null(&w);
    MCTX_JW_KV(&w, "gpu_optimized", mctx_jw_i64, r->gpu_optimized);
    MCTX_JW_KV(&w, "distributed", mctx_jw_i64, r->distributed);
    MCTX_JW_KV(&w, "num_devices", mctx_jw_i64, r->num_devices);
    mctx_jw_end(&w);
  }
  mctx_jw_end(&w);
  if (b.failed) {
    mctx_buf_free(&b);
    return mctx_status_set(st, MCTX_ELIMIT, "records", "batch larger than 1 GiB");
  }
  put_arg a = {mctx_buf_cstr(&b)};
  int rc = pg_run(s->ctx, run_put, &a, st);
  mctx_buf_free(&b);
  return rc;
}

typedef struct tree_arg {
  const char *request_id;
  int64_t created_ms;
  const void *data;
  size_t len;
  void **out;
  size_t *out_len;
} tree_arg;

static int run_put_tree(pg_conn *c, void *arg, mctx_status *st) {
  tree_arg *a = arg;
  int rc = prepared(c, MCTX__Q_PUT_TREE, st);
  if (rc != 0) return rc;
  char created[32], len[32];
  snprintf(created, sizeof created, "%lld", (long long)a->created_ms);
  snprintf(len, sizeof len, "%zu", a->len);
  const char *vals[4] = {a->request_id, created, len, a->data};
  int lens[4] = {0, 0, 0, (int)a->len};
  int fmts[4] = {0, 0, 0, 1};
  PGresult *r = exec_prepared(c, MCTX__Q_PUT_TREE, 4, vals, lens, fmts, 0);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_fail(c, r, "put_tree", st);
  PQclear(r);
  return rc;
}

static int pg_put_tree(mctx_store *s, const char *request_id, int64_t created_ms, const void *data, size_t len,
                       mctx_status *st) {
  if (len > (size_t)INT32_MAX) return mctx_status_set(st, MCTX_ELIMIT, "tree", "larger than 2 GiB");
  tree_arg a = {request_id, created_ms, data, len, NULL, NULL};
  return pg_run(s->ctx, run_put_tree, &a, st);
}

/* ==== Reads ==== */

static char *val_dup(PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static int64_t val_i64(PGresult *r, int row, int col) { return strtoll(PQgetvalue(r, row, col), NULL, 10); }
static double val_f64(PGresult *r, int row, int col) { return strtod(PQgetvalue(r, row, col), NULL); }

static int read_row(PGresult *res, int i, mctx_search_row *r, mctx_status *st) {
  memset(r, 0, sizeof *r);
  mctx__copy_field(r->rec.request_id, sizeof r->rec.request_id, PQgetvalue(res, i, 0));
  r->rec.time_ms = val_i64(res, i, 1);
  mctx__copy_field(r->rec.user, sizeof r->rec.user, PQgetvalue(res, i, 3));
  mctx__copy_field(r->rec.search_type, sizeof r->rec.search_type, PQgetvalue(res, i, 4));
  r->rec.batch_size = (int32_t)val_i64(res, i, 5);
  r->rec.num_simulations = (int32_t)val_i64(res, i, 6);
  r->rec.max_depth = PQgetisnull(res, i, 7) ? -1 : (int32_t)val_i64(res, i, 7);
  r->config_json = val_dup(res, i, 8);
  r->rec.duration_ms = val_f64(res, i, 9);
  r->rec.num_expanded_nodes = val_i64(res, i, 10);
  r->rec.max_depth_reached = (int32_t)val_i64(res, i, 11);
  mctx__copy_field(r->rec.device, sizeof r->rec.device, PQgetvalue(res, i, 12));
  r->summary_json = val_dup(res, i, 13);
  r->rec.gpu_optimized = (int)val_i64(res, i, 14);
  r->rec.distributed = (int)val_i64(res, i, 15);
  r->rec.num_devices = (int32_t)val_i64(res, i, 16);
  r->rec.config_json = r->config_json;
  r->rec.summary_json = r->summary_json;
  if (!r->config_json || (!r->summary_json && !PQgetisnull(res, i, 13))) {
    mctx_search_row_free(r);
    return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  }
  return 0;
}

typedef struct get_arg {
  const char *request_id;
  mctx_search_row *out;
} get_arg;

static int run_get(pg_conn *c, void *arg, mctx_status *st) {
  get_arg *a = arg;
  int rc = prepared(c, MCTX__Q_GET, st);
  if (rc != 0) return rc;
  const char *vals[1] = {a->request_id};
  PGresult *r = exec_prepared(c, MCTX__Q_GET, 1, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) rc = pg_fail(c, r, "get", st);
  else if (PQntuples(r) == 0) rc = mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no search has this id");
  else rc = read_row(r, 0, a->out, st);
  PQclear(r);
  return rc;
}

static int pg_get(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st) {
  get_arg a = {request_id, out};
  return pg_run(s->ctx, run_get, &a, st);
}

typedef struct query_arg {
  const char *sql;
  mctx__param p[5];
  int np;
  PGresult *res;
} query_arg;

static int run_query(pg_conn *c, void *arg, mctx_status *st) {
  query_arg *a = arg;
  PGresult *r = exec_text(c, a->sql, a->p, a->np, st);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = pg_fail(c, r, "query", st);
    PQclear(r);
    return rc;
  }
  a->res = r;
  return 0;
}

static int pg_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st) {
  unsigned flags = (q->search_type ? MCTX__F_TYPE : 0) | (q->user ? MCTX__F_USER : 0);
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  mctx__sql_query(MCTX__DIALECT_POSTGRESQL, MCTX__Q_LIST, 0, flags, &sql);
  query_arg a = {mctx_buf_cstr(&sql), {{0}}, 0, NULL};
  if (q->search_type) a.p[a.np++] = mctx__p_text(q->search_type);
  if (q->user) a.p[a.np++] = mctx__p_text(q->user);
  a.p[a.np++] = mctx__p_i64(q->limit);
  a.p[a.np++] = mctx__p_i64(q->offset);
  int rc = pg_run(s->ctx, run_query, &a, st);
  mctx_buf_free(&sql);
  if (rc != 0) return rc;
  int nt = PQntuples(a.res);
  mctx_search_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
  if (!out) { PQclear(a.res); return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); }
  for (int i = 0; i < nt; i++) {
    if ((rc = read_row(a.res, i, &out[i], st)) != 0) {
      mctx_search_rows_free(out, (size_t)i);
      PQclear(a.res);
      return rc;
    }
  }
  PQclear(a.res);
  *rows = out;
  *n = (size_t)nt;
  return 0;
}

static int pg_daily(mctx_store *s, const char *from, const char *to, const char *type, mctx_daily_stats **rows,
                    size_t *n, mctx_status *st) {
  unsigned flags = (from ? MCTX__F_FROM : 0) | (to ? MCTX__F_TO : 0) | (type ? MCTX__F_TYPE : 0);
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  mctx__sql_query(MCTX__DIALECT_POSTGRESQL, MCTX__Q_DAILY, 0, flags, &sql);
  query_arg a = {mctx_buf_cstr(&sql), {{0}}, 0, NULL};
  if (from) a.p[a.np++] = mctx__p_text(from);
  if (to) a.p[a.np++] = mctx__p_text(to);
  if (type) a.p[a.np++] = mctx__p_text(type);
  int rc = pg_run(s->ctx, run_query, &a, st);
  mctx_buf_free(&sql);
  if (rc != 0) return rc;
  int nt = PQntuples(a.res);
  mctx_daily_stats *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
  if (!out) { PQclear(a.res); return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); }
  for (int i = 0; i < nt; i++) {
    mctx_daily_stats *d = &out[i];
    mctx__copy_field(d->day, sizeof d->day, PQgetvalue(a.res, i, 0));
    mctx__copy_field(d->search_type, sizeof d->search_type, PQgetvalue(a.res, i, 1));
    d->count = val_i64(a.res, i, 2);
    d->avg_duration_ms = val_f64(a.res, i, 3);
    d->max_duration_ms = val_f64(a.res, i, 4);
    d->avg_expanded_nodes = val_f64(a.res, i, 5);
    d->max_batch_size = (int32_t)val_i64(a.res, i, 6);
    d->max_num_simulations = (int32_t)val_i64(a.res, i, 7);
    d->gpu_optimized_count = val_i64(a.res, i, 8);
    d->distributed_count = val_i64(a.res, i, 9);
    d->avg_devices = val_f64(a.res, i, 10);
  }
  PQclear(a.res);
  *rows = out;
  *n = (size_t)nt;
  return 0;
}

static int run_get_tree(pg_conn *c, void *arg, mctx_status *st) {
  tree_arg *a = arg;
  int rc = prepared(c, MCTX__Q_GET_TREE, st);
  if (rc != 0) return rc;
  const char *vals[1] = {a->request_id};
  PGresult *r = exec_prepared(c, MCTX__Q_GET_TREE, 1, vals, NULL, NULL, 1);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = pg_fail(c, r, "get_tree", st);
  } else if (PQntuples(r) == 0) {
    rc = mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no stored tree for this id");
  } else {
    size_t n = (size_t)PQgetlength(r, 0, 0);
    void *p = malloc(n ? n : 1);
    if (!p) rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    else { memcpy(p, PQgetvalue(r, 0, 0), n); *a->out = p; *a->out_len = n; }
  }
  PQclear(r);
  return rc;
}

static int pg_get_tree(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st) {
  tree_arg a = {request_id, 0, NULL, 0, data, len};
  return pg_run(s->ctx, run_get_tree, &a, st);
}

static int run_ping(pg_conn *c, void *arg, mctx_status *st) {
  (void)arg;
  PGresult *r = PQexec(c->pg, "SELECT 1");
  int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : pg_fail(c, r, "ping", st);
  PQclear(r);
  return rc;
}

static int pg_ping(mctx_store *s, mctx_status *st) { return pg_run(s->ctx, run_ping, NULL, st); }

static void pg_close(mctx_store *s) {
  pg_ctx *x = s->ctx;
  mctx__pool_destroy(&x->pool);
  free(x->url);
  free(x);
  free(s);
}

static const mctx__store_vt PG_VT = {
  "postgresql", pg_put, pg_get, pg_list, pg_daily, pg_put_tree, pg_get_tree, pg_ping, pg_with_conn, pg_close,
};

mctx_store *mctx__pg_open(const char *url, mctx_status *st) {
  mctx_store *s = calloc(1, sizeof *s);
  pg_ctx *x = calloc(1, sizeof *x);
  char *u = strdup(url);
  if (!s || !x || !u) {
    free(s); free(x); free(u);
    mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    return NULL;
  }
  x->url = u;
  mctx__pool_init(&x->pool, mctx__pool_size_env(), pg_connect, pg_disconnect, x);
  s->vt = &PG_VT;
  s->ctx = x;
  s->dialect = MCTX__DIALECT_POSTGRESQL;
  /* Connect once now, so that a wrong URL fails at open. */
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) { pg_close(s); return NULL; }
  mctx__pool_release(&x->pool, pc, 0);
  return s;
}
