/* store/store.c: the public face of the store (store.h): picks a backend by
 * URL, checks every argument once, normalizes records (day, configuration,
 * effective flags, duplicates within a batch), then calls through the
 * backend's table. Also the pieces the backends share: time, fields, ODBC
 * connection strings, and the zstd helpers for stored trees. No SQL runs
 * here except through a backend. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "mctx/json.h"
#include "store/store-impl.h"

/* ==== Helpers ==== */

int64_t mctx__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mctx__pool_size_env(void) {
  const char *e = getenv("MCTX_DB_POOL");
  int n = e && e[0] ? atoi(e) : 4;
  return n < 1 ? 1 : n > 64 ? 64 : n;
}

void mctx__utc_day(int64_t ms, char out[11]) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) { snprintf(out, 11, "1970-01-01"); return; }
  char tmp[48];
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
  memcpy(out, tmp, 10);
  out[10] = '\0';
}

void mctx__copy_field(char *dst, size_t cap, const char *src) {
  if (!cap) return;
  size_t n = src ? strlen(src) : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(dst, src, n);
  dst[n] = '\0';
}

int mctx__connstr_parse(const char *s, int (*fn)(const char *key, const char *val, void *arg), void *arg,
                        mctx_status *st) {
  mctx_buf key, val;
  mctx_buf_init(&key, 4096);
  mctx_buf_init(&val, 65536);
  int rc = 0;
  const char *p = s;
  while (*p) {
    mctx_buf_reset(&key);
    mctx_buf_reset(&val);
    while (*p == ';' || *p == ' ' || *p == '\t') p++;
    if (!*p) break;
    while (*p && *p != '=' && *p != ';') mctx_buf_putc(&key, *p++);
    if (*p != '=') {
      rc = mctx_status_set(st, MCTX_EPARSE, "db", "connection string: '%s' has no '=' value",
                           mctx_buf_cstr(&key));
      break;
    }
    p++;
    while (*p == ' ') p++;
    if (*p == '{') {
      p++;
      for (;;) {
        if (!*p) { rc = mctx_status_set(st, MCTX_EPARSE, "db", "connection string: unclosed '{'"); goto out; }
        if (*p == '}') {
          if (p[1] == '}') { mctx_buf_putc(&val, '}'); p += 2; continue; }
          p++;
          break;
        }
        mctx_buf_putc(&val, *p++);
      }
      while (*p == ' ') p++;
      if (*p && *p != ';') {
        rc = mctx_status_set(st, MCTX_EPARSE, "db", "connection string: text after '}' of '%s'",
                             mctx_buf_cstr(&key));
        break;
      }
    } else {
      while (*p && *p != ';') mctx_buf_putc(&val, *p++);
    }
    if (key.failed || val.failed) { rc = mctx_status_set(st, MCTX_ELIMIT, "db", "connection string too long"); break; }
    /* trim trailing blanks of the key and value */
    char *k = (char *)mctx_buf_cstr(&key);
    size_t kl = strlen(k);
    while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t')) k[--kl] = '\0';
    char *v = (char *)mctx_buf_cstr(&val);
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = '\0';
    if ((rc = fn(k, v, arg)) != 0) break;
  }
out:
  mctx_buf_free(&key);
  mctx_buf_free(&val);
  return rc;
}

/* ==== Open and close ==== */

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int with_migrate(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st);

typedef struct migrate_arg {
  int dialect, target, from, to;
} migrate_arg;

mctx_store *mctx_store_open(const char *url, mctx_status *st) { return mctx_store_open2(url, 0, st); }

/* ==== Lazy stores: a database away at open ====
 *
 * With MCTX_STORE_OPEN_LAZY, a client/server database that cannot be reached
 * at open gives a stand-in store of the same backend and dialect whose every
 * operation first tries to open the real store (at most once a second;
 * callers in between get the last failure at once) and then goes through
 * it. Once open, the real store stays, and reconnects by itself (pool.c). */

#define LAZY_RETRY_MS 1000

typedef struct lazy_ctx {
  mctx__store_vt vt;              /* LAZY_VT with the backend's name */
  char *url;
  unsigned flags;                 /* the real open's, without LAZY */
  pthread_mutex_t mu;
  _Atomic(mctx_store *) inner;    /* the real store once it opened */
  int64_t next_try_ms;            /* monotonic */
  mctx_status last;               /* why the last try failed */
} lazy_ctx;

static int64_t mono_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The real store, opening it when it is time to try; NULL with st and
 * *code (the last failure) while the database stays away. */
static mctx_store *lazy_inner(mctx_store *s, mctx_status *st, int *code) {
  lazy_ctx *x = s->ctx;
  mctx_store *in = atomic_load(&x->inner);
  if (in) return in;
  pthread_mutex_lock(&x->mu);
  in = atomic_load(&x->inner);
  if (!in && mono_now_ms() >= x->next_try_ms) {
    mctx_status ost;
    mctx_status_clear(&ost);
    in = mctx_store_open2(x->url, x->flags, &ost);
    if (in) atomic_store(&x->inner, in);
    else {
      x->last = ost;
      if (!x->last.code) x->last.code = MCTX_EDB;
      x->next_try_ms = mono_now_ms() + LAZY_RETRY_MS;
    }
  }
  if (!in && st) *st = x->last;
  *code = x->last.code;
  pthread_mutex_unlock(&x->mu);
  return in;
}

#define LAZY_CALL(s, st, call)                                   \
  do {                                                           \
    int code_;                                                   \
    mctx_store *in_ = lazy_inner((s), (st), &code_);             \
    if (!in_) return code_;                                      \
    return in_->vt->call;                                        \
  } while (0)

static int lazy_put(mctx_store *s, const mctx__rec *recs, size_t n, mctx_status *st) {
  LAZY_CALL(s, st, put(in_, recs, n, st));
}
static int lazy_get(mctx_store *s, const char *id, mctx_search_row *out, mctx_status *st) {
  LAZY_CALL(s, st, get(in_, id, out, st));
}
static int lazy_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n, mctx_status *st) {
  LAZY_CALL(s, st, list(in_, q, rows, n, st));
}
static int lazy_daily(mctx_store *s, const char *from, const char *to, const char *type, mctx_daily_stats **rows,
                      size_t *n, mctx_status *st) {
  LAZY_CALL(s, st, daily(in_, from, to, type, rows, n, st));
}
static int lazy_put_tree(mctx_store *s, const char *id, int64_t created_ms, const void *data, size_t len,
                         mctx_status *st) {
  LAZY_CALL(s, st, put_tree(in_, id, created_ms, data, len, st));
}
static int lazy_get_tree(mctx_store *s, const char *id, void **data, size_t *len, mctx_status *st) {
  LAZY_CALL(s, st, get_tree(in_, id, data, len, st));
}
static int lazy_ping(mctx_store *s, mctx_status *st) { LAZY_CALL(s, st, ping(in_, st)); }
static int lazy_with_conn(mctx_store *s, int (*fn)(const mctx__conn_ops *, void *, void *, mctx_status *), void *arg,
                          mctx_status *st) {
  LAZY_CALL(s, st, with_conn(in_, fn, arg, st));
}

static void lazy_close(mctx_store *s) {
  lazy_ctx *x = s->ctx;
  mctx_store_close(atomic_load(&x->inner));
  pthread_mutex_destroy(&x->mu);
  free(x->url);
  free(x);
  free(s);
}

static const mctx__store_vt LAZY_VT = {NULL, lazy_put, lazy_get, lazy_list, lazy_daily, lazy_put_tree,
                                       lazy_get_tree, lazy_ping, lazy_with_conn, lazy_close};

/* The stand-in for url (a postgresql:// or odbc: URL) after `why` (the
 * failed open); NULL with st when out of memory or the URL is malformed. */
static mctx_store *lazy_open(const char *url, unsigned flags, const mctx_status *why, mctx_status *st) {
  int dialect = MCTX__DIALECT_POSTGRESQL;
  const char *name = "postgresql";
  if (starts_with(url, "odbc:")) {
    char *cs = NULL;
    if (mctx__odbc_connstr(url + 5, &cs, &dialect, st) != 0) return NULL;
    free(cs);
    name = "odbc";
  }
  mctx_store *s = calloc(1, sizeof *s);
  lazy_ctx *x = calloc(1, sizeof *x);
  char *u = strdup(url);
  if (!s || !x || !u) {
    free(s); free(x); free(u);
    mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
    return NULL;
  }
  x->vt = LAZY_VT;
  x->vt.name = name;
  x->url = u;
  x->flags = flags & ~MCTX_STORE_OPEN_LAZY;
  pthread_mutex_init(&x->mu, NULL);
  atomic_init(&x->inner, NULL);
  x->last = *why;
  x->next_try_ms = mono_now_ms() + LAZY_RETRY_MS;
  s->vt = &x->vt;
  s->ctx = x;
  s->dialect = dialect;
  mctx_status_clear(st);
  return s;
}

int mctx_store_is_open(mctx_store *s) {
  if (s->vt->put != lazy_put) return 1;
  return atomic_load(&((lazy_ctx *)s->ctx)->inner) != NULL;
}

mctx_store *mctx_store_open2(const char *url, unsigned flags, mctx_status *st) {
  mctx_status_clear(st);
  if (!url || !url[0]) url = "sqlite:";
  if (flags & MCTX_STORE_OPEN_LAZY) {
    mctx_store *s = mctx_store_open2(url, flags & ~MCTX_STORE_OPEN_LAZY, st);
    int client_server = starts_with(url, "postgresql://") || starts_with(url, "postgres://") || starts_with(url, "odbc:");
    if (s || !client_server || !st || (st->code != MCTX_EDB && st->code != MCTX_ETIMEOUT && st->code != MCTX_EBUSY))
      return s;
    mctx_status why = *st;
    return lazy_open(url, flags, &why, st);
  }
  mctx_store *s = NULL;
  if (starts_with(url, "sqlite:")) {
    const char *path = url + 7;
    if (starts_with(path, "//")) path += 2;
    s = mctx__sqlite_open(path, st);
  } else if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    s = mctx__pg_open(url, st);
  } else if (starts_with(url, "odbc:")) {
    s = mctx__odbc_open(url + 5, st);
  } else {
    const char *colon = strchr(url, ':');
    mctx_status_set(st, MCTX_EINVALID, "db", "unknown database URL scheme '%.*s' (use sqlite:PATH, "
                    "postgresql://..., or odbc:<connection string>)",
                    colon ? (int)(colon - url) > 32 ? 32 : (int)(colon - url) : 0, url);
    return NULL;
  }
  if (!s) return NULL;
  if (!(flags & MCTX_STORE_OPEN_NO_MIGRATE)) {
    int from, to;
    if (mctx_store_migrate(s, 0, &from, &to, st) != 0) {
      mctx_store_close(s);
      return NULL;
    }
  }
  return s;
}

void mctx_store_close(mctx_store *s) {
  if (!s) return;
  s->vt->close(s);
}

const char *mctx_store_backend(const mctx_store *s) { return s->vt->name; }

const char *mctx_store_dialect(const mctx_store *s) { return mctx__dialect_name(s->dialect); }

/* ==== Schema ==== */

static int with_migrate(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st) {
  migrate_arg *a = arg;
  return mctx__schema_migrate(ops, conn, a->dialect, a->target, &a->from, &a->to, st);
}

int mctx_store_migrate(mctx_store *s, int target, int *from, int *to, mctx_status *st) {
  mctx_status_clear(st);
  if (target < 0 || target > mctx__schema_latest())
    return mctx_status_set(st, MCTX_ERANGE, "target", "schema versions are 1..%d", mctx__schema_latest());
  migrate_arg a = {s->dialect, target, 0, 0};
  int rc = s->vt->with_conn(s, with_migrate, &a, st);
  if (from) *from = a.from;
  if (to) *to = a.to;
  return rc;
}

typedef struct version_arg {
  int dialect, version;
} version_arg;

static int with_version(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st) {
  version_arg *a = arg;
  return mctx__schema_version(ops, conn, a->dialect, &a->version, st);
}

int mctx_store_schema_version(mctx_store *s, int *version, mctx_status *st) {
  mctx_status_clear(st);
  version_arg a = {s->dialect, 0};
  int rc = s->vt->with_conn(s, with_version, &a, st);
  *version = a.version;
  return rc;
}

int mctx_store_schema_latest(void) { return mctx__schema_latest(); }

/* ==== Records ==== */

static int terminated(const char *field, size_t cap) { return memchr(field, '\0', cap) != NULL; }

/* Returns 1 when s is valid UTF-8. */
static int utf8_ok(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned c = *p;
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0) return 0;
    p++;
    for (int i = 0; i < n; i++, p++)
      if ((*p & 0xC0) != 0x80) return 0;
  }
  return 1;
}

static int check_text(const char *v, size_t cap, int required, const char *field, mctx_status *st) {
  if (!terminated(v, cap))
    return mctx_status_set(st, MCTX_EINVALID, field, "is not NUL-terminated within %zu bytes", cap);
  if (required && !v[0]) return mctx_status_set(st, MCTX_EMISSING, field, "is empty");
  if (!utf8_ok(v)) return mctx_status_set(st, MCTX_EINVALID, field, "is not valid UTF-8");
  return 0;
}

/* Reads an optional boolean member `key` of the configuration. */
static int config_flag(const mctx_json *sp, const char *key, int *out, int *have, mctx_status *st) {
  const mctx_json *v = sp ? mctx_json_get(sp, key) : NULL;
  *have = 0;
  if (!v || v->type == MCTX_JSON_NULL) return 0;
  if (v->type != MCTX_JSON_BOOL)
    return mctx_status_set(st, MCTX_ETYPE, "config_json", "%s must be a boolean, not %s", key,
                           mctx_json_type_name(v->type));
  *out = v->boolean;
  *have = 1;
  return 0;
}

int mctx__rec_normalize(const mctx_search_record *r, mctx__rec *out, mctx_status *st) {
  int rc;
  memset(out, 0, sizeof *out);
  out->src = r;
  if ((rc = check_text(r->request_id, sizeof r->request_id, 1, "request_id", st)) != 0) return rc;
  if ((rc = check_text(r->user, sizeof r->user, 0, "user", st)) != 0) return rc;
  if ((rc = check_text(r->search_type, sizeof r->search_type, 1, "search_type", st)) != 0) return rc;
  if ((rc = check_text(r->device, sizeof r->device, 0, "device", st)) != 0) return rc;
  if (r->batch_size < 0) return mctx_status_set(st, MCTX_ERANGE, "batch_size", "must be >= 0, not %d", r->batch_size);
  if (r->num_simulations < 0)
    return mctx_status_set(st, MCTX_ERANGE, "num_simulations", "must be >= 0, not %d", r->num_simulations);
  if (r->max_depth < -1) return mctx_status_set(st, MCTX_ERANGE, "max_depth", "must be >= -1, not %d", r->max_depth);
  if (!isfinite(r->duration_ms) || r->duration_ms < 0)
    return mctx_status_set(st, MCTX_ERANGE, "duration_ms", "must be a finite number >= 0");
  if (r->num_expanded_nodes < 0) return mctx_status_set(st, MCTX_ERANGE, "num_expanded_nodes", "must be >= 0");
  if (r->max_depth_reached < 0) return mctx_status_set(st, MCTX_ERANGE, "max_depth_reached", "must be >= 0");
  if (r->num_devices < 0) return mctx_status_set(st, MCTX_ERANGE, "num_devices", "must be >= 0");
  if (r->time_ms < 0 || r->time_ms > INT64_C(253402300799999))
    return mctx_status_set(st, MCTX_ERANGE, "time_ms", "must be a Unix time in milliseconds before year 10000");
  mctx__utc_day(r->time_ms, out->day);
  out->config_json = r->config_json ? r->config_json : "{}";
  out->summary_json = r->summary_json;
  out->gpu_optimized = r->gpu_optimized != 0;
  out->distributed = r->distributed != 0;
  out->num_devices = r->num_devices;

  /* The configuration must be a JSON object; its flags, when it carries
   * them (use_t4_optimizations, distributed, num_devices at the top level, as
   * the API layer's mctx_job_config_json writes them), are what the
   * statistics count, as HANA's JSON_VALUE reads them. */
  mctx_json_limits lim = {64, 0};
  mctx_json_doc *doc = mctx_json_parse(out->config_json, strlen(out->config_json), &lim, st);
  if (!doc) { mctx_status_prefix(st, "config_json"); return st ? st->code : MCTX_EPARSE; }
  const mctx_json *root = mctx_json_root(doc);
  if (root->type != MCTX_JSON_OBJECT) {
    mctx_json_doc_free(doc);
    return mctx_status_set(st, MCTX_ETYPE, "config_json", "must be an object");
  }
  const mctx_json *sp = root;
  int v, have;
  if ((rc = config_flag(sp, "use_t4_optimizations", &v, &have, st)) == 0 && have) out->gpu_optimized = v;
  if (rc == 0 && (rc = config_flag(sp, "distributed", &v, &have, st)) == 0 && have) out->distributed = v;
  const mctx_json *nd = sp ? mctx_json_get(sp, "num_devices") : NULL;
  if (rc == 0 && nd && nd->type != MCTX_JSON_NULL) {
    if (nd->type != MCTX_JSON_NUMBER || !nd->is_int || nd->i < 0 || nd->i > INT32_MAX)
      rc = mctx_status_set(st, MCTX_ETYPE, "config_json.num_devices", "must be a non-negative integer");
    else
      out->num_devices = (int32_t)nd->i;
  }
  mctx_json_doc_free(doc);
  if (rc != 0) return rc;
  out->devices_used = out->distributed ? (out->num_devices > 1 ? out->num_devices : 1) : 1;

  if (out->summary_json) {
    doc = mctx_json_parse(out->summary_json, strlen(out->summary_json), &lim, st);
    if (!doc) { mctx_status_prefix(st, "summary_json"); return st ? st->code : MCTX_EPARSE; }
    mctx_json_doc_free(doc);
  }
  return 0;
}

int mctx_store_record_check(const mctx_search_record *rec, mctx_status *st) {
  mctx__rec r;
  mctx_status_clear(st);
  return mctx__rec_normalize(rec, &r, st);
}

static int cmp_idx(const void *a, const void *b, void *recs) {
  const mctx_search_record *r = recs;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = strcmp(r[i].request_id, r[j].request_id);
  return c ? c : (i < j ? -1 : i > j);
}

int mctx_store_put(mctx_store *s, const mctx_search_record *recs, size_t n, mctx_status *st) {
  mctx_status_clear(st);
  if (n == 0) return 0;
  if (!recs) return mctx_status_set(st, MCTX_EINVALID, "records", "NULL with n = %zu", n);
  if (n > 100000) return mctx_status_set(st, MCTX_ELIMIT, "records", "%zu records in one put (at most 100000)", n);
  mctx__rec *norm = malloc(n * sizeof *norm);
  size_t *idx = malloc(n * sizeof *idx);
  unsigned char *dup = calloc(n, 1);
  if (!norm || !idx || !dup) {
    free(norm); free(idx); free(dup);
    return mctx_status_set(st, MCTX_ENOMEM, "records", "out of memory");
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if ((rc = mctx__rec_normalize(&recs[i], &norm[i], st)) != 0) {
      char pre[32];
      snprintf(pre, sizeof pre, "records[%zu]", i);
      mctx_status_prefix(st, pre);
    }
    idx[i] = i;
  }
  if (rc == 0) {
    /* A request id twice in one batch lands once: the first occurrence. */
    qsort_r(idx, n, sizeof *idx, cmp_idx, (void *)recs);
    for (size_t k = 1; k < n; k++)
      if (strcmp(recs[idx[k]].request_id, recs[idx[k - 1]].request_id) == 0) dup[idx[k]] = 1;
    /* Backends write in request-id order: concurrent writers then take row
     * locks in one order and cannot deadlock. */
    mctx__rec *sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
      rc = mctx_status_set(st, MCTX_ENOMEM, "records", "out of memory");
    } else {
      size_t m = 0;
      for (size_t k = 0; k < n; k++)
        if (!dup[idx[k]]) sorted[m++] = norm[idx[k]];
      rc = s->vt->put(s, sorted, m, st);
      free(sorted);
    }
  }
  free(norm);
  free(idx);
  free(dup);
  return rc;
}

/* ==== Reads ==== */

int mctx_store_get(mctx_store *s, const char *request_id, mctx_search_row *out, mctx_status *st) {
  mctx_status_clear(st);
  memset(out, 0, sizeof *out);
  if (!request_id || !request_id[0]) return mctx_status_set(st, MCTX_EMISSING, "request_id", "is empty");
  if (strlen(request_id) >= sizeof out->rec.request_id)
    return mctx_status_set(st, MCTX_ENOTFOUND, "request_id", "no search has this id");
  return s->vt->get(s, request_id, out, st);
}

static int day_ok(const char *d) {
  if (strlen(d) != 10) return 0;
  for (int i = 0; i < 10; i++)
    if (i == 4 || i == 7 ? d[i] != '-' : !isdigit((unsigned char)d[i])) return 0;
  return 1;
}

int mctx_store_list(mctx_store *s, const mctx_search_query *q, mctx_search_row **rows, size_t *n,
                    mctx_status *st) {
  mctx_status_clear(st);
  *rows = NULL;
  *n = 0;
  mctx_search_query qq = {100, 0, NULL, NULL};
  if (q) qq = *q;
  if (qq.limit <= 0) qq.limit = 100;
  if (qq.limit > 1000) return mctx_status_set(st, MCTX_ERANGE, "limit", "must be <= 1000, not %d", qq.limit);
  if (qq.offset < 0) return mctx_status_set(st, MCTX_ERANGE, "offset", "must be >= 0, not %d", qq.offset);
  if (qq.search_type && !qq.search_type[0]) qq.search_type = NULL;
  if (qq.user && !qq.user[0]) qq.user = NULL;
  if (qq.search_type && !utf8_ok(qq.search_type))
    return mctx_status_set(st, MCTX_EINVALID, "search_type", "is not valid UTF-8");
  if (qq.user && !utf8_ok(qq.user)) return mctx_status_set(st, MCTX_EINVALID, "user", "is not valid UTF-8");
  return s->vt->list(s, &qq, rows, n, st);
}

int mctx_store_daily(mctx_store *s, const char *from, const char *to, const char *search_type,
                     mctx_daily_stats **rows, size_t *n, mctx_status *st) {
  mctx_status_clear(st);
  *rows = NULL;
  *n = 0;
  if (from && !from[0]) from = NULL;
  if (to && !to[0]) to = NULL;
  if (search_type && !search_type[0]) search_type = NULL;
  if (from && !day_ok(from)) return mctx_status_set(st, MCTX_EINVALID, "from", "must be YYYY-MM-DD");
  if (to && !day_ok(to)) return mctx_status_set(st, MCTX_EINVALID, "to", "must be YYYY-MM-DD");
  if (search_type && !utf8_ok(search_type))
    return mctx_status_set(st, MCTX_EINVALID, "search_type", "is not valid UTF-8");
  return s->vt->daily(s, from, to, search_type, rows, n, st);
}

/* ==== Trees ==== */

#define MAX_TREE_BYTES ((size_t)1 << 30)

int mctx_store_put_tree(mctx_store *s, const char *request_id, const void *data, size_t len, mctx_status *st) {
  mctx_status_clear(st);
  if (!request_id || !request_id[0]) return mctx_status_set(st, MCTX_EMISSING, "request_id", "is empty");
  if (strlen(request_id) >= sizeof(((mctx_search_record *)0)->request_id))
    return mctx_status_set(st, MCTX_EINVALID, "request_id", "is longer than 63 bytes");
  if (!utf8_ok(request_id)) return mctx_status_set(st, MCTX_EINVALID, "request_id", "is not valid UTF-8");
  static const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  if (!data || len < 4 || memcmp(data, magic, 4) != 0)
    return mctx_status_set(st, MCTX_EINVALID, "tree", "is not a zstd frame");
  if (len > MAX_TREE_BYTES)
    return mctx_status_set(st, MCTX_ELIMIT, "tree", "%zu compressed bytes (at most %zu)", len, MAX_TREE_BYTES);
  return s->vt->put_tree(s, request_id, mctx__now_ms(), data, len, st);
}

int mctx_store_get_tree(mctx_store *s, const char *request_id, void **data, size_t *len, mctx_status *st) {
  mctx_status_clear(st);
  *data = NULL;
  *len = 0;
  if (!request_id || !request_id[0]) return mctx_status_set(st, MCTX_EMISSING, "request_id", "is empty");
  return s->vt->get_tree(s, request_id, data, len, st);
}

int mctx_store_ping(mctx_store *s, mctx_status *st) {
  mctx_status_clear(st);
  return s->vt->ping(s, st);
}

/* ==== Retention and admin statements ==== */

typedef struct prune_arg {
  int dialect;
  int64_t before_ms, deleted;
} prune_arg;

static int with_prune(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st) {
  prune_arg *a = arg;
  mctx_buf sql;
  mctx_buf_init(&sql, 4096);
  int rc = ops->begin(conn, st);
  int64_t trees = 0, rows = 0;
  mctx__param p = mctx__p_i64(a->before_ms);
  if (rc == 0 && (rc = mctx__sql_query(a->dialect, MCTX__Q_PRUNE_TREES, 0, 0, &sql)) == 0)
    rc = ops->exec(conn, mctx_buf_cstr(&sql), &p, 1, &trees, st);
  mctx_buf_reset(&sql);
  if (rc == 0 && (rc = mctx__sql_query(a->dialect, MCTX__Q_PRUNE_HISTORY, 0, 0, &sql)) == 0)
    rc = ops->exec(conn, mctx_buf_cstr(&sql), &p, 1, &rows, st);
  if (rc == 0) rc = ops->commit(conn, st);
  else ops->rollback(conn);
  mctx_buf_free(&sql);
  a->deleted = rows;
  return rc;
}

int mctx_store_prune(mctx_store *s, int64_t before_ms, int64_t *deleted, mctx_status *st) {
  mctx_status_clear(st);
  prune_arg a = {s->dialect, before_ms, 0};
  int rc = s->vt->with_conn(s, with_prune, &a, st);
  if (deleted) *deleted = a.deleted;
  return rc;
}

static int with_exec(const mctx__conn_ops *ops, void *conn, void *arg, mctx_status *st) {
  int rc = ops->begin(conn, st);
  if (rc == 0 && (rc = ops->exec(conn, (const char *)arg, NULL, 0, NULL, st)) == 0) return ops->commit(conn, st);
  if (rc != 0) ops->rollback(conn);
  return rc;
}

int mctx__store_exec(mctx_store *s, const char *sql, mctx_status *st) {
  mctx_status_clear(st);
  return s->vt->with_conn(s, with_exec, (void *)sql, st);
}

/* ==== Rows ==== */

void mctx_search_row_free(mctx_search_row *r) {
  if (!r) return;
  free(r->config_json);
  free(r->summary_json);
  r->config_json = r->summary_json = NULL;
  r->rec.config_json = r->rec.summary_json = NULL;
}

void mctx_search_rows_free(mctx_search_row *rows, size_t n) {
  if (!rows) return;
  for (size_t i = 0; i < n; i++) mctx_search_row_free(&rows[i]);
  free(rows);
}

/* ==== zstd ==== */

int mctx_store_zstd_compress(const void *src, size_t len, int level, void **out, size_t *out_len,
                             mctx_status *st) {
  *out = NULL;
  *out_len = 0;
  size_t cap = ZSTD_compressBound(len);
  void *dst = malloc(cap ? cap : 1);
  if (!dst) return mctx_status_set(st, MCTX_ENOMEM, "tree", "out of memory");
  size_t n = ZSTD_compress(dst, cap, src, len, level ? level : 3);
  if (ZSTD_isError(n)) {
    free(dst);
    return mctx_status_set(st, MCTX_EINTERNAL, "tree", "zstd: %s", ZSTD_getErrorName(n));
  }
  *out = dst;
  *out_len = n;
  return 0;
}

int mctx_store_zstd_decompress(const void *src, size_t len, size_t max_out, void **out, size_t *out_len,
                               mctx_status *st) {
  *out = NULL;
  *out_len = 0;
  if (!max_out) max_out = (size_t)4 << 30;
  ZSTD_DStream *ds = ZSTD_createDStream();
  if (!ds) return mctx_status_set(st, MCTX_ENOMEM, "tree", "out of memory");
  ZSTD_initDStream(ds);
  unsigned long long want = ZSTD_getFrameContentSize(src, len);
  size_t cap = (want != ZSTD_CONTENTSIZE_UNKNOWN && want != ZSTD_CONTENTSIZE_ERROR && want <= max_out)
                   ? (size_t)want + 1
                   : 65536;
  char *dst = malloc(cap);
  int rc = 0;
  ZSTD_inBuffer in = {src, len, 0};
  size_t used = 0, ret = 1;
  while (dst) {
    ZSTD_outBuffer ob = {dst + used, cap - used, 0};
    ret = ZSTD_decompressStream(ds, &ob, &in);
    used += ob.pos;
    if (ZSTD_isError(ret)) { rc = mctx_status_set(st, MCTX_EPARSE, "tree", "zstd: %s", ZSTD_getErrorName(ret)); break; }
    if (ret == 0 && in.pos == in.size) break;
    if (in.pos == in.size && ob.pos < ob.size) { rc = mctx_status_set(st, MCTX_EPARSE, "tree", "zstd: truncated frame"); break; }
    if (used == cap) {
      if (cap > max_out) { rc = mctx_status_set(st, MCTX_ELIMIT, "tree", "decompresses past %zu bytes", max_out); break; }
      size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
      char *nd = realloc(dst, ncap);
      if (!nd) { rc = mctx_status_set(st, MCTX_ENOMEM, "tree", "out of memory"); break; }
      dst = nd;
      cap = ncap;
    }
  }
  ZSTD_freeDStream(ds);
  if (!dst) return mctx_status_set(st, MCTX_ENOMEM, "tree", "out of memory");
  if (rc == 0 && used > max_out) rc = mctx_status_set(st, MCTX_ELIMIT, "tree", "decompresses past %zu bytes", max_out);
  if (rc != 0) { free(dst); return rc; }
  *out = dst;
  *out_len = used;
  return 0;
}
