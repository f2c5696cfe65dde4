/* store/odbc.c: the ODBC backend, `odbc:<connection string>` (unixODBC),
 * speaking the hana or the postgresql dialect of sql.c.
 *
 * The connection string is the driver's own, plus one key of ours,
 * dialect=hana|postgresql, which is removed before connecting. For HANA the
 * HANA Cloud defaults are added when the string does not set them:
 * ENCRYPT=TRUE, sslValidateCertificate=TRUE, CHAR_AS_UTF8=TRUE (our text is
 * UTF-8) and sessionVariable:APPLICATION=mctx (what `mctx db workload-class`
 * maps to a workload class). Connections come from the shared pool and an
 * operation whose connection died runs once more on a fresh one.
 *
 * A batch of records is one transaction: lock the history table (writers
 * take turns, so the next step is exact), ask which request ids are already
 * there, write the others (UPSERT ... WITH PRIMARY KEY on HANA, INSERT ...
 * ON CONFLICT DO NOTHING on PostgreSQL) with array binding, then MERGE the
 * new rows, grouped by day and search type, into the statistics (HANA reads
 * the flags with JSON_VALUE on the configuration). Only rows found absent
 * under the lock are counted, so a record written twice counts once. Every
 * value is a bound parameter; the same binding code runs both dialects. */
#include <sql.h>
#include <sqlext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store-impl.h"

#define CHUNK 256  /* ids per IN list and rows per array execution */

typedef struct od_conn {
  SQLHDBC dbc;
  int broken;
  int in_tx;
} od_conn;

typedef struct od_ctx {
  SQLHENV env;
  char *connstr;   /* what the driver gets */
  int dialect;
  mctx__pool pool;
} od_ctx;

/* ==== Errors ==== */

static int od_fail(od_conn *c, SQLSMALLINT htype, SQLHANDLE h, const char *what, mctx_status *st) {
  SQLCHAR state[6] = "", msg[300] = "";
  SQLINTEGER native = 0;
  SQLSMALLINT len = 0;
  if (h) SQLGetDiagRec(htype, h, 1, state, &native, msg, sizeof msg, &len);
  if (c) {
    if (strncmp((char *)state, "08", 2) == 0 || strncmp((char *)state, "57P", 3) == 0) c->broken = 1;
    SQLUINTEGER dead = SQL_CD_FALSE;
    if (!c->broken && SQL_SUCCEEDED(SQLGetConnectAttr(c->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)) &&
        dead == SQL_CD_TRUE)
      c->broken = 1;
  }
  size_t n = strlen((char *)msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
  int code = (strncmp((char *)state, "40", 2) == 0 || strcmp((char *)state, "HYT00") == 0 ||
              strcmp((char *)state, "55P03") == 0) ? MCTX_EBUSY : MCTX_EDB;
  return mctx_status_set(st, code, "db", "odbc: %s: %s %s", what, state[0] ? (char *)state : "?",
                         msg[0] ? (char *)msg : "failed");
}

/* ==== Connection strings ==== */

typedef struct cs_build {
  mctx_buf out;
  int dialect;         /* -1 until dialect= is seen */
  int has_encrypt, has_validate, has_utf8, has_app;
  int bad;
  char bad_value[64];
} cs_build;

static void cs_put(mctx_buf *b, const char *k, const char *v) {
  int brace = strpbrk(v, ";{}") != NULL || v[0] == ' ' || (v[0] && v[strlen(v) - 1] == ' ');
  mctx_buf_puts(b, k);
  mctx_buf_putc(b, '=');
  if (brace) {
    mctx_buf_putc(b, '{');
    for (const char *p = v; *p; p++) {
      if (*p == '}') mctx_buf_putc(b, '}');
      mctx_buf_putc(b, *p);
    }
    mctx_buf_putc(b, '}');
  } else {
    mctx_buf_puts(b, v);
  }
  mctx_buf_putc(b, ';');
}

static int cs_pair(const char *k, const char *v, void *arg) {
  cs_build *b = arg;
  if (strcasecmp(k, "dialect") == 0) {
    if (strcasecmp(v, "hana") == 0) b->dialect = MCTX__DIALECT_HANA;
    else if (strcasecmp(v, "postgresql") == 0 || strcasecmp(v, "postgres") == 0) b->dialect = MCTX__DIALECT_POSTGRESQL;
    else { b->bad = 1; snprintf(b->bad_value, sizeof b->bad_value, "%s", v); }
    return 0;
  }
  if (strcasecmp(k, "ENCRYPT") == 0) b->has_encrypt = 1;
  if (strcasecmp(k, "sslValidateCertificate") == 0) b->has_validate = 1;
  if (strcasecmp(k, "CHAR_AS_UTF8") == 0) b->has_utf8 = 1;
  if (strcasecmp(k, "sessionVariable:APPLICATION") == 0) b->has_app = 1;
  cs_put(&b->out, k, v);
  return 0;
}

int mctx__odbc_connstr(const char *spec, char **out, int *dialect, mctx_status *st) {
  cs_build b;
  memset(&b, 0, sizeof b);
  b.dialect = -1;
  mctx_buf_init(&b.out, 65536);
  int rc = mctx__connstr_parse(spec, cs_pair, &b, st);
  if (rc == 0 && b.bad)
    rc = mctx_status_set(st, MCTX_EINVALID, "db", "odbc: dialect must be hana or postgresql, not '%s'", b.bad_value);
  if (rc == 0 && b.dialect < 0)
    rc = mctx_status_set(st, MCTX_EMISSING, "db",
                         "odbc: say which SQL the database speaks: add dialect=hana or dialect=postgresql");
  if (rc == 0 && b.dialect == MCTX__DIALECT_HANA) {
    if (!b.has_encrypt) cs_put(&b.out, "ENCRYPT", "TRUE");
    if (!b.has_validate) cs_put(&b.out, "sslValidateCertificate", "TRUE");
    if (!b.has_utf8) cs_put(&b.out, "CHAR_AS_UTF8", "TRUE");
    if (!b.has_app) cs_put(&b.out, "sessionVariable:APPLICATION", "mctx");
  }
  if (rc == 0 && b.out.failed) rc = mctx_status_set(st, MCTX_ELIMIT, "db", "odbc: connection string too long");
  if (rc != 0) { mctx_buf_free(&b.out); return rc; }
  *dialect = b.dialect;
  *out = mctx_buf_steal(&b.out, NULL);
  if (!*out) *out = strdup("");
  return *out ? 0 : mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
}

/* ==== Connections ==== */

static void *od_connect(void *arg, mctx_status *st) {
  od_ctx *x = arg;
  od_conn *c = calloc(1, sizeof *c);
  if (!c) { mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); return NULL; }
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, x->env, &c->dbc))) {
    mctx_status_set(st, MCTX_EDB, "db", "odbc: cannot allocate a connection handle");
    free(c);
    return NULL;
  }
  SQLSetConnectAttr(c->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)5, 0);
  SQLSetConnectAttr(c->dbc, SQL_ATTR_CONNECTION_TIMEOUT, (SQLPOINTER)(uintptr_t)30, 0);
  SQLCHAR outstr[1024];
  SQLSMALLINT outlen = 0;
  SQLRETURN r = SQLDriverConnect(c->dbc, NULL, (SQLCHAR *)x->connstr, SQL_NTS, outstr, sizeof outstr, &outlen,
                                 SQL_DRIVER_NOPROMPT);
  if (!SQL_SUCCEEDED(r)) {
    od_fail(NULL, SQL_HANDLE_DBC, c->dbc, "cannot connect", st);
    SQLFreeHandle(SQL_HANDLE_DBC, c->dbc);
    free(c);
    return NULL;
  }
  SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
  return c;
}

static void od_disconnect(void *p) {
  od_conn *c = p;
  if (!c) return;
  if (c->in_tx) SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_ROLLBACK);
  SQLDisconnect(c->dbc);
  SQLFreeHandle(SQL_HANDLE_DBC, c->dbc);
  free(c);
}

static int od_run(od_ctx *x, int (*fn)(od_ctx *x, od_conn *c, void *arg, mctx_status *st), void *arg,
                  mctx_status *st) {
  int rc = MCTX_EDB;
  for (int attempt = 0; attempt < 2; attempt++) {
    mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
    if (!pc) return st ? st->code : MCTX_EDB;
    od_conn *c = pc->conn;
    c->broken = 0;
    rc = fn(x, c, arg, st);
    if (c->in_tx) {
      if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_ROLLBACK))) c->broken = 1;
      SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
      c->in_tx = 0;
    }
    int broken = c->broken;
    mctx__pool_release(&x->pool, pc, broken);
    if (rc == 0 || !broken) break;
  }
  return rc;
}

/* ==== Statements ==== */

static int stmt_new(od_conn *c, SQLHSTMT *h, mctx_status *st) {
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, c->dbc, h))) {
    *h = NULL;
    return od_fail(c, SQL_HANDLE_DBC, c->dbc, "allocate statement", st);
  }
  return 0;
}

static void stmt_free(SQLHSTMT h) {
  if (h) SQLFreeHandle(SQL_HANDLE_STMT, h);
}

/* Binds p[0..np) (values must stay put until the statement ran); ind gets
 * the length indicators. */
static int bind_params(od_conn *c, SQLHSTMT h, const mctx__param *p, int np, SQLLEN *ind, mctx_status *st) {
  for (int i = 0; i < np; i++) {
    SQLRETURN r;
    SQLUSMALLINT k = (SQLUSMALLINT)(i + 1);
    switch (p[i].type) {
      case MCTX__P_I64:
        ind[i] = 0;
        r = SQLBindParameter(h, k, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, (SQLPOINTER)&p[i].i, 0, &ind[i]);
        break;
      case MCTX__P_F64:
        ind[i] = 0;
        r = SQLBindParameter(h, k, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, (SQLPOINTER)&p[i].d, 0, &ind[i]);
        break;
      case MCTX__P_TEXT: {
        size_t n = strlen(p[i].s);
        ind[i] = (SQLLEN)n;
        r = SQLBindParameter(h, k, SQL_PARAM_INPUT, SQL_C_CHAR, n > 4000 ? SQL_LONGVARCHAR : SQL_VARCHAR,
                             n ? n : 1, 0, (SQLPOINTER)p[i].s, (SQLLEN)n + 1, &ind[i]);
        break;
      }
      case MCTX__P_BLOB:
        ind[i] = (SQLLEN)p[i].len;
        r = SQLBindParameter(h, k, SQL_PARAM_INPUT, SQL_C_BINARY, SQL_LONGVARBINARY, p[i].len ? p[i].len : 1, 0,
                             (SQLPOINTER)p[i].s, (SQLLEN)p[i].len, &ind[i]);
        break;
      default:
        ind[i] = SQL_NULL_DATA;
        r = SQLBindParameter(h, k, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 1, 0, NULL, 0, &ind[i]);
        break;
    }
    if (!SQL_SUCCEEDED(r)) return od_fail(c, SQL_HANDLE_STMT, h, "bind", st);
  }
  return 0;
}

/* Executes sql with parameters on a new statement handle, left open for
 * fetching (*out) or freed (out NULL). */
static int run_sql(od_conn *c, const char *sql, const mctx__param *p, int np, SQLHSTMT *out, int64_t *changes,
                   mctx_status *st) {
  SQLHSTMT h;
  SQLLEN ind[64];
  if (np > 64) return mctx_status_set(st, MCTX_ELIMIT, "db", "too many parameters");
  int rc = stmt_new(c, &h, st);
  if (rc != 0) return rc;
  if ((rc = bind_params(c, h, p, np, ind, st)) == 0) {
    SQLRETURN r = SQLExecDirect(h, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) rc = od_fail(c, SQL_HANDLE_STMT, h, "execute", st);
    else if (changes) {
      SQLLEN n = 0;
      SQLRowCount(h, &n);
      *changes = n < 0 ? 0 : n;
    }
  }
  if (rc == 0 && out) { *out = h; return 0; }
  stmt_free(h);
  return rc;
}

/* Reads column col of the current row as a malloc'd string (*out NULL for
 * SQL NULL). */
static int get_text(od_conn *c, SQLHSTMT h, int col, char **out, mctx_status *st) {
  *out = NULL;
  size_t cap = 256, len = 0;
  char *buf = malloc(cap);
  if (!buf) return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  for (;;) {
    SQLLEN ind = 0;
    SQLRETURN r = SQLGetData(h, (SQLUSMALLINT)col, SQL_C_CHAR, buf + len, (SQLLEN)(cap - len), &ind);
    if (r == SQL_NO_DATA) break;
    if (!SQL_SUCCEEDED(r)) { free(buf); return od_fail(c, SQL_HANDLE_STMT, h, "read", st); }
    if (ind == SQL_NULL_DATA) { free(buf); return 0; }
    if (r == SQL_SUCCESS) { len += strlen(buf + len); break; }
    /* truncated: the buffer holds cap - len - 1 more bytes and a NUL */
    len = cap - 1;
    size_t ncap = (ind != SQL_NO_TOTAL && (size_t)ind + len + 1 > cap * 2) ? (size_t)ind + len + 1 : cap * 2;
    if (ncap > ((size_t)1 << 30)) { free(buf); return mctx_status_set(st, MCTX_ELIMIT, "db", "value over 1 GiB"); }
    char *nb = realloc(buf, ncap);
    if (!nb) { free(buf); return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); }
    buf = nb;
    cap = ncap;
  }
  buf[len] = '\0';
  *out = buf;
  return 0;
}

static int get_blob(od_conn *c, SQLHSTMT h, int col, void **out, size_t *out_len, mctx_status *st) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  for (;;) {
    SQLLEN ind = 0;
    SQLRETURN r = SQLGetData(h, (SQLUSMALLINT)col, SQL_C_BINARY, buf + len, (SQLLEN)(cap - len), &ind);
    if (r == SQL_NO_DATA) break;
    if (!SQL_SUCCEEDED(r)) { free(buf); return od_fail(c, SQL_HANDLE_STMT, h, "read", st); }
    if (ind == SQL_NULL_DATA) break;
    if (r == SQL_SUCCESS) { len += (size_t)ind; break; }
    len = cap;
    size_t ncap = (ind != SQL_NO_TOTAL && (size_t)ind + len > cap * 2) ? (size_t)ind + len : cap * 2;
    if (ncap > ((size_t)1 << 30) + 65536) { free(buf); return mctx_status_set(st, MCTX_ELIMIT, "db", "tree over 1 GiB"); }
    char *nb = realloc(buf, ncap);
    if (!nb) { free(buf); return mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); }
    buf = nb;
    cap = ncap;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

static int get_i64(od_conn *c, SQLHSTMT h, int col, int64_t *v, int *is_null, mctx_status *st) {
  SQLBIGINT x = 0;
  SQLLEN ind = 0;
  SQLRETURN r = SQLGetData(h, (SQLUSMALLINT)col, SQL_C_SBIGINT, &x, sizeof x, &ind);
  if (!SQL_SUCCEEDED(r)) return od_fail(c, SQL_HANDLE_STMT, h, "read", st);
  if (is_null) *is_null = ind == SQL_NULL_DATA;
  *v = ind == SQL_NULL_DATA ? 0 : (int64_t)x;
  return 0;
}

static int get_f64(od_conn *c, SQLHSTMT h, int col, double *v, mctx_status *st) {
  SQLDOUBLE x = 0;
  SQLLEN ind = 0;
  SQLRETURN r = SQLGetData(h, (SQLUSMALLINT)col, SQL_C_DOUBLE, &x, sizeof x, &ind);
  if (!SQL_SUCCEEDED(r)) return od_fail(c, SQL_HANDLE_STMT, h, "read", st);
  *v = ind == SQL_NULL_DATA ? 0 : x;
  return 0;
}

static int get_field(od_conn *c, SQLHSTMT h, int col, char *dst, size_t cap, mctx_status *st) {
  char *s = NULL;
  int rc = get_text(c, h, col, &s, st);
  if (rc == 0) mctx__copy_field(dst, cap, s ? s : "");
  free(s);
  return rc;
}

/* ==== Generic operations (schema.c, retention) ==== */

static int op_exec(void *conn, const char *sql, const mctx__param *p, int np, int64_t *changes, mctx_status *st) {
  return run_sql(conn, sql, p, np, NULL, changes, st);
}

static int op_query_i64(void *conn, const char *sql, const mctx__param *p, int np, int64_t *v, int *found,
                        mctx_status *st) {
  od_conn *c = conn;
  SQLHSTMT h = NULL;
  *found = 0;
  int rc = run_sql(c, sql, p, np, &h, NULL, st);
  if (rc != 0) return rc;
  SQLRETURN r = SQLFetch(h);
  if (SQL_SUCCEEDED(r)) {
    int is_null = 1;
    if ((rc = get_i64(c, h, 1, v, &is_null, st)) == 0) *found = !is_null;
  } else if (r != SQL_NO_DATA) {
    rc = od_fail(c, SQL_HANDLE_STMT, h, "fetch", st);
  }
  stmt_free(h);
  return rc;
}

static int op_begin(void *conn, mctx_status *st) {
  od_conn *c = conn;
  if (!SQL_SUCCEEDED(SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0)))
    return od_fail(c, SQL_HANDLE_DBC, c->dbc, "begin", st);
  c->in_tx = 1;
  return 0;
}

static int op_commit(void *conn, mctx_status *st) {
  od_conn *c = conn;
  if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_COMMIT)))
    return od_fail(c, SQL_HANDLE_DBC, c->dbc, "commit", st);
  c->in_tx = 0;
  SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
  return 0;
}

static void op_rollback(void *conn) {
  od_conn *c = conn;
  if (!c->in_tx) return;
  SQLEndTran(SQL_HANDLE_DBC, c->dbc, SQL_ROLLBACK);
  SQLSetConnectAttr(c->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
  c->in_tx = 0;
}

static const mctx__conn_ops OD_OPS = {op_exec, op_query_i64, op_begin, op_commit, op_rollback};

typedef struct generic_arg {
  int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *);
  void *arg;
} generic_arg;

static int run_generic(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  (void)x;
  generic_arg *g = arg;
  return g->fn(&OD_OPS, c, g->arg, st);
}

static int od_with_conn(mctx_store *s, int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *), void *arg,
                        mctx_status *st) {
  generic_arg g = {fn, arg};
  return od_run(s->ctx, run_generic, &g, st);
}

/* ==== Writes ==== */

/* Column-wise parameter arrays for PUT_HISTORY: a text column is one block
 * of rows x width bytes; numbers are arrays. */
typedef struct hist_arrays {
  size_t rows;
  char *text[7];              /* request_id, day, user, search_type, config, device, summary */
  size_t width[7];
  SQLLEN *tind[7];
  SQLBIGINT *num[9];          /* time, batch, sims, max_depth, nodes, depth_reached, gpu, dist, devices */
  SQLLEN *nind[9];
  SQLDOUBLE *dur;
  SQLLEN *dind;
} hist_arrays;

static void hist_free(hist_arrays *a) {
  for (int i = 0; i < 7; i++) { free(a->text[i]); free(a->tind[i]); }
  for (int i = 0; i < 9; i++) { free(a->num[i]); free(a->nind[i]); }
  free(a->dur);
  free(a->dind);
  memset(a, 0, sizeof *a);
}

static const char *text_of(const mctx__rec *r, int col) {
  switch (col) {
    case 0: return r->src->request_id;
    case 1: return r->day;
    case 2: return r->src->user;
    case 3: return r->src->search_type;
    case 4: return r->config_json;
    case 5: return r->src->device;
    default: return r->summary_json;
  }
}

static int hist_fill(hist_arrays *a, const mctx__rec *const *recs, size_t n) {
  memset(a, 0, sizeof *a);
  a->rows = n;
  for (int col = 0; col < 7; col++) {
    size_t w = 1;
    for (size_t i = 0; i < n; i++) {
      const char *t = text_of(recs[i], col);
      if (t && strlen(t) + 1 > w) w = strlen(t) + 1;
    }
    a->width[col] = w;
    a->text[col] = calloc(n, w);
    a->tind[col] = calloc(n, sizeof(SQLLEN));
    if (!a->text[col] || !a->tind[col]) return -1;
    for (size_t i = 0; i < n; i++) {
      const char *t = text_of(recs[i], col);
      if (!t) { a->tind[col][i] = SQL_NULL_DATA; continue; }
      size_t l = strlen(t);
      memcpy(a->text[col] + i * w, t, l);
      a->tind[col][i] = (SQLLEN)l;
    }
  }
  for (int k = 0; k < 9; k++) {
    a->num[k] = calloc(n, sizeof(SQLBIGINT));
    a->nind[k] = calloc(n, sizeof(SQLLEN));
    if (!a->num[k] || !a->nind[k]) return -1;
  }
  a->dur = calloc(n, sizeof(SQLDOUBLE));
  a->dind = calloc(n, sizeof(SQLLEN));
  if (!a->dur || !a->dind) return -1;
  for (size_t i = 0; i < n; i++) {
    const mctx__rec *r = recs[i];
    const mctx_search_record *s = r->src;
    SQLBIGINT v[9] = {s->time_ms, s->batch_size, s->num_simulations, s->max_depth, s->num_expanded_nodes,
                      s->max_depth_reached, r->gpu_optimized, r->distributed, r->num_devices};
    for (int k = 0; k < 9; k++) { a->num[k][i] = v[k]; a->nind[k][i] = 0; }
    if (s->max_depth < 0) a->nind[3][i] = SQL_NULL_DATA;
    a->dur[i] = s->duration_ms;
    a->dind[i] = 0;
  }
  return 0;
}

static SQLRETURN bind_text_col(SQLHSTMT h, int k, hist_arrays *a, int col, int lob) {
  return SQLBindParameter(h, (SQLUSMALLINT)k, SQL_PARAM_INPUT, SQL_C_CHAR, lob ? SQL_LONGVARCHAR : SQL_VARCHAR,
                          a->width[col], 0, a->text[col], (SQLLEN)a->width[col], a->tind[col]);
}

static SQLRETURN bind_num_col(SQLHSTMT h, int k, hist_arrays *a, int idx) {
  return SQLBindParameter(h, (SQLUSMALLINT)k, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, a->num[idx], 0,
                          a->nind[idx]);
}

/* Binds the arrays in PUT_HISTORY's parameter order. */
static int hist_bind(SQLHSTMT h, hist_arrays *a) {
  SQLRETURN r[17] = {
    bind_text_col(h, 1, a, 0, 0),  bind_num_col(h, 2, a, 0),       bind_text_col(h, 3, a, 1, 0),
    bind_text_col(h, 4, a, 2, 0),  bind_text_col(h, 5, a, 3, 0),   bind_num_col(h, 6, a, 1),
    bind_num_col(h, 7, a, 2),      bind_num_col(h, 8, a, 3),       bind_text_col(h, 9, a, 4, 1),
    SQLBindParameter(h, 10, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0, a->dur, 0, a->dind),
    bind_num_col(h, 11, a, 4),     bind_num_col(h, 12, a, 5),      bind_text_col(h, 13, a, 5, 0),
    bind_text_col(h, 14, a, 6, 1), bind_num_col(h, 15, a, 6),      bind_num_col(h, 16, a, 7),
    bind_num_col(h, 17, a, 8),
  };
  for (int i = 0; i < 17; i++)
    if (!SQL_SUCCEEDED(r[i])) return -1;
  return 0;
}

/* Inserts rows recs[0..n) with one array execution (or row by row when the
 * driver cannot take arrays). */
static int put_history(od_ctx *x, od_conn *c, const mctx__rec *const *recs, size_t n, mctx_status *st) {
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  int rc = mctx__sql_query(x->dialect, MCTX__Q_PUT_HISTORY, 0, 0, &sql);
  hist_arrays a;
  SQLHSTMT h = NULL;
  if (rc == 0 && hist_fill(&a, recs, n) != 0) rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  else if (rc == 0) rc = stmt_new(c, &h, st);
  if (rc == 0) {
    SQLUSMALLINT *status = calloc(n, sizeof *status);
    SQLULEN done = 0;
    int arrays = status && n > 1 &&
                 SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAM_BIND_TYPE, (SQLPOINTER)SQL_PARAM_BIND_BY_COLUMN, 0)) &&
                 SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(uintptr_t)n, 0)) &&
                 SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAM_STATUS_PTR, status, 0)) &&
                 SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAMS_PROCESSED_PTR, &done, 0));
    if (!status) rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    else if (hist_bind(h, &a) != 0) rc = od_fail(c, SQL_HANDLE_STMT, h, "bind put_history", st);
    else if (!SQL_SUCCEEDED(SQLPrepare(h, (SQLCHAR *)mctx_buf_cstr(&sql), SQL_NTS)))
      rc = od_fail(c, SQL_HANDLE_STMT, h, "prepare put_history", st);
    if (rc == 0 && arrays) {
      SQLRETURN r = SQLExecute(h);
      if (!SQL_SUCCEEDED(r)) rc = od_fail(c, SQL_HANDLE_STMT, h, "put_history", st);
      for (size_t i = 0; rc == 0 && i < n; i++)
        if (i >= done || status[i] == SQL_PARAM_ERROR || status[i] == SQL_PARAM_UNUSED)
          rc = mctx_status_set(st, MCTX_EDB, "db", "odbc: put_history: row %zu of %zu not written", i, n);
    } else if (rc == 0) {
      /* One row at a time: rebind row i's values by shifting the arrays. */
      SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, (SQLPOINTER)(uintptr_t)1, 0);
      for (size_t i = 0; rc == 0 && i < n; i++) {
        hist_arrays one;
        if (hist_fill(&one, &recs[i], 1) != 0) { hist_free(&one); rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); break; }
        if (hist_bind(h, &one) != 0) rc = od_fail(c, SQL_HANDLE_STMT, h, "bind put_history", st);
        else if (!SQL_SUCCEEDED(SQLExecute(h))) rc = od_fail(c, SQL_HANDLE_STMT, h, "put_history", st);
        SQLFreeStmt(h, SQL_CLOSE);
        hist_free(&one);
      }
    }
    free(status);
  }
  stmt_free(h);
  hist_free(&a);
  mctx_buf_free(&sql);
  return rc;
}

/* Marks in `present` the records whose request ids are already stored. */
static int find_present(od_ctx *x, od_conn *c, const mctx__rec *recs, size_t n, unsigned char *present,
                        mctx_status *st) {
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  mctx__param p[CHUNK];
  int rc = 0;
  for (size_t base = 0; rc == 0 && base < n; base += CHUNK) {
    size_t k = n - base < CHUNK ? n - base : CHUNK;
    mctx_buf_reset(&sql);
    if ((rc = mctx__sql_query(x->dialect, MCTX__Q_EXISTS, (int)k, 0, &sql)) != 0) {
      rc = mctx_status_set(st, rc, "db", "exists: cannot build the query");
      break;
    }
    for (size_t i = 0; i < k; i++) p[i] = mctx__p_text(recs[base + i].src->request_id);
    SQLHSTMT h = NULL;
    SQLLEN ind[CHUNK];
    if ((rc = stmt_new(c, &h, st)) != 0) break;
    if ((rc = bind_params(c, h, p, (int)k, ind, st)) == 0 &&
        !SQL_SUCCEEDED(SQLExecDirect(h, (SQLCHAR *)mctx_buf_cstr(&sql), SQL_NTS)))
      rc = od_fail(c, SQL_HANDLE_STMT, h, "exists", st);
    SQLRETURN r = SQL_NO_DATA;
    while (rc == 0 && SQL_SUCCEEDED(r = SQLFetch(h))) {
      char id[256];
      if ((rc = get_field(c, h, 1, id, sizeof id, st)) != 0) break;
      for (size_t i = 0; i < k; i++)
        if (strcmp(recs[base + i].src->request_id, id) == 0) present[base + i] = 1;
    }
    if (rc == 0 && r != SQL_NO_DATA) rc = od_fail(c, SQL_HANDLE_STMT, h, "exists fetch", st);
    stmt_free(h);
  }
  mctx_buf_free(&sql);
  return rc;
}

static int put_stats(od_ctx *x, od_conn *c, const mctx__rec *const *recs, size_t n, mctx_status *st) {
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 20);
  mctx__param p[CHUNK];
  int rc = 0;
  for (size_t base = 0; rc == 0 && base < n; base += CHUNK) {
    size_t k = n - base < CHUNK ? n - base : CHUNK;
    mctx_buf_reset(&sql);
    if ((rc = mctx__sql_query(x->dialect, MCTX__Q_PUT_STATS, (int)k, 0, &sql)) != 0) {
      rc = mctx_status_set(st, rc, "db", "put_stats: cannot build the statement");
      break;
    }
    for (size_t i = 0; i < k; i++) p[i] = mctx__p_text(recs[base + i]->src->request_id);
    rc = run_sql(c, mctx_buf_cstr(&sql), p, (int)k, NULL, NULL, st);
  }
  mctx_buf_free(&sql);
  return rc;
}

typedef struct put_arg {
  const mctx__rec *recs;
  size_t n;
} put_arg;

static int run_put(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  put_arg *a = arg;
  unsigned char *present = calloc(a->n, 1);
  const mctx__rec **fresh = calloc(a->n, sizeof *fresh);
  mctx_buf lock;
  mctx_buf_init(&lock, 256);
  int rc = (!present || !fresh) ? mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory") : 0;
  if (rc == 0) rc = op_begin(c, st);
  if (rc == 0 && (rc = mctx__sql_query(x->dialect, MCTX__Q_LOCK_HISTORY, 0, 0, &lock)) == 0)
    rc = run_sql(c, mctx_buf_cstr(&lock), NULL, 0, NULL, NULL, st);
  if (rc == 0) rc = find_present(x, c, a->recs, a->n, present, st);
  size_t m = 0;
  if (rc == 0)
    for (size_t i = 0; i < a->n; i++)
      if (!present[i]) fresh[m++] = &a->recs[i];
  for (size_t base = 0; rc == 0 && base < m; base += CHUNK)
    rc = put_history(x, c, fresh + base, m - base < CHUNK ? m - base : CHUNK, st);
  if (rc == 0 && m > 0) rc = put_stats(x, c, fresh, m, st);
  if (rc == 0) rc = op_commit(c, st);
  else op_rollback(c);
  mctx_buf_free(&lock);
  free(present);
  free(fresh);
  return rc;
}

static int od_put(mctx_store *s, const mctx__rec *recs, size_t n, mctx_status *st) {
  if (n == 0) return 0;
  put_arg a = {recs, n};
  return od_run(s->ctx, run_put, &a, st);
}

typedef struct tree_arg {
  const char *request_id;
  int64_t created_ms;
  const void *data;
  size_t len;
  void **out;
  size_t *out_len;
} tree_arg;

static int run_put_tree(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  tree_arg *a = arg;
  mctx_buf sql;
  mctx_buf_init(&sql, 4096);
  int rc = mctx__sql_query(x->dialect, MCTX__Q_PUT_TREE, 0, 0, &sql);
  mctx__param p[4] = {mctx__p_text(a->request_id), mctx__p_i64(a->created_ms), mctx__p_i64((int64_t)a->len),
                      {MCTX__P_BLOB, 0, 0, a->data, a->len}};
  if (rc == 0) rc = run_sql(c, mctx_buf_cstr(&sql), p, 4, NULL, NULL, st);
  mctx_buf_free(&sql);
  return rc;
}

static int od_put_tree(mctx_store *s, const char *request_id, int64_t created_ms, const void *data, size_t len,
                       mctx_status *st) {
  tree_arg a = {request_id, created_ms, data, len, NULL, NULL};
  return od_run(s->ctx, run_put_tree, &a, st);
}

/* ==== Reads ==== */

static int read_row(od_conn *c, SQLHSTMT h, mctx_search_row *r, mctx_status *st) {
  memset(r, 0, sizeof *r);
  int64_t v[17];
  int isnull = 0, rc;
  if ((rc = get_field(c, h, 1, r->rec.request_id, sizeof r->rec.request_id, st)) != 0) return rc;
  if ((rc = get_i64(c, h, 2, &v[1], NULL, st)) != 0) return rc;
  if ((rc = get_field(c, h, 4, r->rec.user, sizeof r->rec.user, st)) != 0) return rc;
  if ((rc = get_field(c, h, 5, r->rec.search_type, sizeof r->rec.search_type, st)) != 0) return rc;
  if ((rc = get_i64(c, h, 6, &v[5], NULL, st)) != 0) return rc;
  if ((rc = get_i64(c, h, 7, &v[6], NULL, st)) != 0) return rc;
  if ((rc = get_i64(c, h, 8, &v[7], &isnull, st)) != 0) return rc;
  if ((rc = get_text(c, h, 9, &r->config_json, st)) != 0) return rc;
  if ((rc = get_f64(c, h, 10, &r->rec.duration_ms, st)) != 0) goto fail;
  if ((rc = get_i64(c, h, 11, &v[10], NULL, st)) != 0) goto fail;
  if ((rc = get_i64(c, h, 12, &v[11], NULL, st)) != 0) goto fail;
  if ((rc = get_field(c, h, 13, r->rec.device, sizeof r->rec.device, st)) != 0) goto fail;
  if ((rc = get_text(c, h, 14, &r->summary_json, st)) != 0) goto fail;
  if ((rc = get_i64(c, h, 15, &v[14], NULL, st)) != 0) goto fail;
  if ((rc = get_i64(c, h, 16, &v[15], NULL, st)) != 0) goto fail;
  if ((rc = get_i64(c, h, 17, &v[16], NULL, st)) != 0) goto fail;
  r->rec.time_ms = v[1];
  r->rec.batch_size = (int32_t)v[5];
  r->rec.num_simulations = (int32_t)v[6];
  r->rec.max_depth = isnull ? -1 : (int32_t)v[7];
  r->rec.num_expanded_nodes = v[10];
  r->rec.max_depth_reached = (int32_t)v[11];
  r->rec.gpu_optimized = (int)v[14];
  r->rec.distributed = (int)v[15];
  r->rec.num_devices = (int32_t)v[16];
  if (!r->config_json && !(r->config_json = strdup("{}"))) { rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); goto fail; }
  r->rec.config_json = r->config_json;
  r->rec.summary_json = r->summary_json;
  return 0;
fail:
  mctx_search_row_free(r);
  return rc;
}

typedef struct query_arg {
  int q;
  unsigned flags;
  mctx__param p[5];
  int np;
  /* results */
  mctx_search_row *rows;
  mctx_daily_stats *daily;
  size_t n;
  int want_one;   /* get: MCTX_ENOTFOUND when no row */
} query_arg;

static int run_query(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  query_arg *a = arg;
  mctx_buf sql;
  mctx_buf_init(&sql, 1 << 16);
  SQLHSTMT h = NULL;
  int rc = mctx__sql_query(x->dialect, a->q, 0, a->flags, &sql);
  if (rc != 0) { mctx_buf_free(&sql); return mctx_status_set(st, rc, "db", "cannot build %s", mctx__query_name(a->q)); }
  rc = run_sql(c, mctx_buf_cstr(&sql), a->p, a->np, &h, NULL, st);
  mctx_buf_free(&sql);
  if (rc != 0) return rc;
  size_t cap = 0;
  SQLRETURN r = SQL_NO_DATA;
  while (rc == 0 && SQL_SUCCEEDED(r = SQLFetch(h))) {
    if (a->n == cap) {
      if (cap >= 1000000) { rc = mctx_status_set(st, MCTX_ELIMIT, "db", "more than 1000000 rows"); break; }
      size_t nc = cap ? cap * 2 : 16;
      void *p = a->q == MCTX__Q_DAILY ? realloc(a->daily, nc * sizeof *a->daily) : realloc(a->rows, nc * sizeof *a->rows);
      if (!p) { rc = mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory"); break; }
      if (a->q == MCTX__Q_DAILY) a->daily = p;
      else a->rows = p;
      cap = nc;
    }
    if (a->q == MCTX__Q_DAILY) {
      mctx_daily_stats *d = &a->daily[a->n];
      memset(d, 0, sizeof *d);
      int64_t i64;
      if ((rc = get_field(c, h, 1, d->day, sizeof d->day, st)) != 0) break;
      if ((rc = get_field(c, h, 2, d->search_type, sizeof d->search_type, st)) != 0) break;
      if ((rc = get_i64(c, h, 3, &d->count, NULL, st)) != 0) break;
      if ((rc = get_f64(c, h, 4, &d->avg_duration_ms, st)) != 0) break;
      if ((rc = get_f64(c, h, 5, &d->max_duration_ms, st)) != 0) break;
      if ((rc = get_f64(c, h, 6, &d->avg_expanded_nodes, st)) != 0) break;
      if ((rc = get_i64(c, h, 7, &i64, NULL, st)) != 0) break;
      d->max_batch_size = (int32_t)i64;
      if ((rc = get_i64(c, h, 8, &i64, NULL, st)) != 0) break;
      d->max_num_simulations = (int32_t)i64;
      if ((rc = get_i64(c, h, 9, &d->gpu_optimized_count, NULL, st)) != 0) break;
      if ((rc = get_i64(c, h, 10, &d->distributed_count, NULL, st)) != 0) break;
      if ((rc = get_f64(c, h, 11, &d->avg_devices, st)) != 0) break;
      a->n++;
    } else {
      if ((rc = read_row(c, h, &a->rows[a->n], st)) != 0) break;
      a->n++;
    }
  }
  if (rc == 0 && r != SQL_NO_DATA) rc = od_fail(c, SQL_HANDLE_STMT, h, "fetch", st);
  stmt_free(h);
  if (rc != 0) {
    mctx_search_rows_free(a->rows, a->q == MCTX__Q_DAILY ? 0 : a->n);
    free(a->daily);
    a->rows = NULL;
    a->daily = NULL;
    a->n = 0;
  }
  return rc;
}

static int od_get(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st) {
  query_arg a;
  memset(&a, 0, sizeof a);
  a.q = MCTX__Q_GET;
  a.p[a.np++] = mctx__p_text(request_id);
  int rc = od_run(s->ctx, run_query, &a, st);
  if (rc != 0) return rc;
  if (a.n == 0) { free(a.rows); return mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no search has this id"); }
  *out = a.rows[0];
  for (size_t i = 1; i < a.n; i++) mctx_search_row_free(&a.rows[i]);
  free(a.rows);
  return 0;
}

static int od_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st) {
  query_arg a;
  memset(&a, 0, sizeof a);
  a.q = MCTX__Q_LIST;
  a.flags = (q->search_type ? MCTX__F_TYPE : 0) | (q->user ? MCTX__F_USER : 0);
  if (q->search_type) a.p[a.np++] = mctx__p_text(q->search_type);
  if (q->user) a.p[a.np++] = mctx__p_text(q->user);
  a.p[a.np++] = mctx__p_i64(q->limit);
  a.p[a.np++] = mctx__p_i64(q->offset);
  int rc = od_run(s->ctx, run_query, &a, st);
  if (rc != 0) return rc;
  *rows = a.rows ? a.rows : calloc(1, sizeof **rows);
  *n = a.n;
  return *rows ? 0 : mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
}

static int od_daily(mctx_store *s, const char *from, const char *to, const char *type, mctx_daily_stats **rows,
                    size_t *n, mctx_status *st) {
  query_arg a;
  memset(&a, 0, sizeof a);
  a.q = MCTX__Q_DAILY;
  a.flags = (from ? MCTX__F_FROM : 0) | (to ? MCTX__F_TO : 0) | (type ? MCTX__F_TYPE : 0);
  if (from) a.p[a.np++] = mctx__p_text(from);
  if (to) a.p[a.np++] = mctx__p_text(to);
  if (type) a.p[a.np++] = mctx__p_text(type);
  int rc = od_run(s->ctx, run_query, &a, st);
  if (rc != 0) return rc;
  *rows = a.daily ? a.daily : calloc(1, sizeof **rows);
  *n = a.n;
  return *rows ? 0 : mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
}

static int run_get_tree(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  tree_arg *a = arg;
  mctx_buf sql;
  mctx_buf_init(&sql, 4096);
  SQLHSTMT h = NULL;
  mctx__param p = mctx__p_text(a->request_id);
  int rc = mctx__sql_query(x->dialect, MCTX__Q_GET_TREE, 0, 0, &sql);
  if (rc == 0) rc = run_sql(c, mctx_buf_cstr(&sql), &p, 1, &h, NULL, st);
  mctx_buf_free(&sql);
  if (rc != 0) return rc;
  SQLRETURN r = SQLFetch(h);
  if (r == SQL_NO_DATA) rc = mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no stored tree for this id");
  else if (!SQL_SUCCEEDED(r)) rc = od_fail(c, SQL_HANDLE_STMT, h, "fetch", st);
  else rc = get_blob(c, h, 1, a->out, a->out_len, st);
  stmt_free(h);
  return rc;
}

static int od_get_tree(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st) {
  tree_arg a = {request_id, 0, NULL, 0, data, len};
  return od_run(s->ctx, run_get_tree, &a, st);
}

static int run_ping(od_ctx *x, od_conn *c, void *arg, mctx_status *st) {
  (void)arg;
  mctx_buf sql;
  mctx_buf_init(&sql, 256);
  int64_t v = 0;
  int found = 0;
  int rc = mctx__sql_query(x->dialect, MCTX__Q_PING, 0, 0, &sql);
  if (rc == 0) rc = op_query_i64(c, mctx_buf_cstr(&sql), NULL, 0, &v, &found, st);
  mctx_buf_free(&sql);
  return rc;
}

static int od_ping(mctx_store *s, mctx_status *st) { return od_run(s->ctx, run_ping, NULL, st); }

static void od_close(mctx_store *s) {
  od_ctx *x = s->ctx;
  mctx__pool_destroy(&x->pool);
  if (x->env) SQLFreeHandle(SQL_HANDLE_ENV, x->env);
  free(x->connstr);
  free(x);
  free(s);
}

static const mctx__store_vt OD_VT = {
  "odbc", od_put, od_get, od_list, od_daily, od_put_tree, od_get_tree, od_ping, od_with_conn, od_close,
};

mctx_store *mctx__odbc_open(const char *spec, mctx_status *st) {
  char *connstr = NULL;
  int dialect = 0;
  if (mctx__odbc_connstr(spec, &connstr, &dialect, st) != 0) return NULL;
  mctx_store *s = calloc(1, sizeof *s);
  od_ctx *x = calloc(1, sizeof *x);
  if (!s || !x) {
    free(s); free(x); free(connstr);
    mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    return NULL;
  }
  x->connstr = connstr;
  x->dialect = dialect;
  s->vt = &OD_VT;
  s->ctx = x;
  s->dialect = dialect;
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &x->env)) ||
      !SQL_SUCCEEDED(SQLSetEnvAttr(x->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0))) {
    mctx_status_set(st, MCTX_EDB, "db", "odbc: cannot allocate an environment (is unixODBC installed?)");
    mctx__pool_init(&x->pool, 1, od_connect, od_disconnect, x);
    od_close(s);
    return NULL;
  }
  mctx__pool_init(&x->pool, mctx__pool_size_env(), od_connect, od_disconnect, x);
  mctx__pool_conn *pc = mctx__pool_acquire(&x->pool, st);
  if (!pc) { od_close(s); return NULL; }
  mctx__pool_release(&x->pool, pc, 0);
  return s;
}
