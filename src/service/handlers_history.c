/* service/handlers_history.c: reads of what the service recorded: daily
 * statistics, the list of searches, one search by request id.
 *
 * Reads go through the service's own read connection to the store (writes
 * go through the spool's), one at a time under a lock. Query parameters are
 * checked here (dates, bounds, enumerations) and passed to the store as
 * values, never as SQL text. A user-role client sees only its own searches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/json.h"
#include "service/server.h"
#include "util/jsonw.h"

static int parse_int(const char *s, long min, long max, long *out) {
  if (!s || !*s) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* YYYY-MM-DD, a real date. */
static int date_ok(const char *s) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1) return 0;
  int dm = days[m - 1] + (m == 2 && is_leap(y));
  return d <= dm;
}

static int search_type_ok(const char *s) {
  return !strcmp(s, "muzero") || !strcmp(s, "gumbel_muzero") || !strcmp(s, "stochastic_muzero");
}

static int user_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == '@'))
      return 0;
  }
  return 1;
}

/* The store is there once the service is ready. */
static int need_store(mctx_server *s, mctx_svc_req *r) {
  if (s->store_read) return 1;
  mctx_svc_unavailable(r, 1, "starting", "the database is not open yet");
  return 0;
}

/* Embeds stored JSON text: as JSON when it parses, as a string otherwise. */
static void write_stored_json(mctx_jw *w, const char *text) {
  if (!text || !*text) { mctx_jw_null(w); return; }
  mctx_json_limits lim = {64, 0};
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(text, strlen(text), &lim, &st);
  if (doc) mctx_jw_raw(w, text, strlen(text));
  else mctx_jw_str(w, text);
  mctx_json_doc_free(doc);
}

static void write_row(mctx_jw *w, const mctx_search_row *row) {
  const mctx_search_record *rec = &row->rec;
  char ts[32];
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "request_id", mctx_jw_str, rec->request_id);
  mctx_iso8601(rec->time_ms, ts);
  MCTX_JW_KV(w, "time", mctx_jw_str, ts);
  MCTX_JW_KV(w, "time_ms", mctx_jw_i64, rec->time_ms);
  MCTX_JW_KV(w, "user", mctx_jw_str, rec->user);
  MCTX_JW_KV(w, "search_type", mctx_jw_str, rec->search_type);
  MCTX_JW_KV(w, "batch_size", mctx_jw_i64, rec->batch_size);
  MCTX_JW_KV(w, "num_simulations", mctx_jw_i64, rec->num_simulations);
  mctx_jw_key(w, "max_depth");
  if (rec->max_depth < 0) mctx_jw_null(w);
  else mctx_jw_i64(w, rec->max_depth);
  MCTX_JW_KV(w, "duration_ms", mctx_jw_f64, rec->duration_ms);
  MCTX_JW_KV(w, "num_expanded_nodes", mctx_jw_i64, rec->num_expanded_nodes);
  MCTX_JW_KV(w, "max_depth_reached", mctx_jw_i64, rec->max_depth_reached);
  MCTX_JW_KV(w, "device", mctx_jw_str, rec->device);
  MCTX_JW_KV(w, "gpu_optimized", mctx_jw_bool, rec->gpu_optimized);
  MCTX_JW_KV(w, "distributed", mctx_jw_bool, rec->distributed);
  MCTX_JW_KV(w, "num_devices", mctx_jw_i64, rec->num_devices);
  mctx_jw_key(w, "config");
  write_stored_json(w, row->config_json ? row->config_json : rec->config_json);
  mctx_jw_key(w, "summary");
  write_stored_json(w, row->summary_json ? row->summary_json : rec->summary_json);
  mctx_jw_end(w);
}

void mctx_h_stats_daily(mctx_server *s, mctx_svc_req *r) {
  const char *from = mctx_http_query(&r->http, "from");
  const char *to = mctx_http_query(&r->http, "to");
  const char *type = mctx_http_query(&r->http, "search_type");
  if (from && !*from) from = NULL;
  if (to && !*to) to = NULL;
  if (type && !*type) type = NULL;
  if (from && !date_ok(from)) { mctx_svc_error(r, 400, "from", "must be a date YYYY-MM-DD"); return; }
  if (to && !date_ok(to)) { mctx_svc_error(r, 400, "to", "must be a date YYYY-MM-DD"); return; }
  if (from && to && strcmp(from, to) > 0) { mctx_svc_error(r, 400, "from", "is after 'to'"); return; }
  if (type && !search_type_ok(type)) {
    mctx_svc_error(r, 400, "search_type", "must be muzero, gumbel_muzero or stochastic_muzero");
    return;
  }
  if (!need_store(s, r)) return;
  mctx_daily_stats *rows = NULL;
  size_t n = 0;
  mctx_status st;
  mctx_status_clear(&st);
  pthread_mutex_lock(&s->store_lock);
  int rc = mctx_store_daily(s->store_read, from, to, type, &rows, &n, &st);
  pthread_mutex_unlock(&s->store_lock);
  if (rc != 0) { mctx_svc_error_st(r, 0, &st); return; }
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "from");
  if (from) mctx_jw_str(&w, from); else mctx_jw_null(&w);
  mctx_jw_key(&w, "to");
  if (to) mctx_jw_str(&w, to); else mctx_jw_null(&w);
  mctx_jw_key(&w, "search_type");
  if (type) mctx_jw_str(&w, type); else mctx_jw_null(&w);
  mctx_jw_key(&w, "days");
  mctx_jw_arr(&w);
  for (size_t i = 0; i < n; i++) {
    const mctx_daily_stats *d = &rows[i];
    mctx_jw_obj(&w);
    MCTX_JW_KV(&w, "day", mctx_jw_str, d->day);
    MCTX_JW_KV(&w, "search_type", mctx_jw_str, d->search_type);
    MCTX_JW_KV(&w, "count", mctx_jw_i64, d->count);
    MCTX_JW_KV(&w, "avg_duration_ms", mctx_jw_f64, d->avg_duration_ms);
    MCTX_JW_KV(&w, "max_duration_ms", mctx_jw_f64, d->max_duration_ms);
    MCTX_JW_KV(&w, "avg_expanded_nodes", mctx_jw_f64, d->avg_expanded_nodes);
    MCTX_JW_KV(&w, "max_batch_size", mctx_jw_i64, d->max_batch_size);
    MCTX_JW_KV(&w, "max_num_simulations", mctx_jw_i64, d->max_num_simulations);
    MCTX_JW_KV(&w, "gpu_optimized_count", mctx_jw_i64, d->gpu_optimized_count);
    MCTX_JW_KV(&w, "distributed_count", mctx_jw_i64, d->distributed_count);
    MCTX_JW_KV(&w, "avg_devices", mctx_jw_f64, d->avg_devices);
    mctx_jw_end(&w);
  }
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "count", mctx_jw_i64, (int64_t)n);
  mctx_jw_end(&w);
  free(rows);
  mctx_svc_json(r, 200);
}

void mctx_h_searches(mctx_server *s, mctx_svc_req *r) {
  long limit = 50, offset = 0;
  const char *ls = mctx_http_query(&r->http, "limit");
  const char *os = mctx_http_query(&r->http, "offset");
  const char *type = mctx_http_query(&r->http, "search_type");
  const char *user = mctx_http_query(&r->http, "user");
  if (type && !*type) type = NULL;
  if (user && !*user) user = NULL;
  if (ls && parse_int(ls, 1, 1000, &limit) != 0) {
    mctx_svc_error(r, 400, "limit", "must be an integer in [1, 1000]");
    return;
  }
  if (os && parse_int(os, 0, 1000000000L, &offset) != 0) {
    mctx_svc_error(r, 400, "offset", "must be an integer in [0, 1000000000]");
    return;
  }
  if (type && !search_type_ok(type)) {
    mctx_svc_error(r, 400, "search_type", "must be muzero, gumbel_muzero or stochastic_muzero");
    return;
  }
  if (user && !user_ok(user)) {
    mctx_svc_error(r, 400, "user", "must be 1 to 63 characters of [A-Za-z0-9._@-]");
    return;
  }
  if (r->who.role != MCTX_ROLE_ADMIN) {
    if (user && strcmp(user, r->who.name) != 0) {
      mctx_svc_error(r, 403, "user", "the user role may list only its own searches");
      return;
    }
    user = r->who.name;
  }
  if (!need_store(s, r)) return;
  mctx_search_query q = {(int32_t)limit, (int32_t)offset, type, user};
  mctx_search_row *rows = NULL;
  size_t n = 0;
  mctx_status st;
  mctx_status_clear(&st);
  pthread_mutex_lock(&s->store_lock);
  int rc = mctx_store_list(s->store_read, &q, &rows, &n, &st);
  pthread_mutex_unlock(&s->store_lock);
  if (rc != 0) { mctx_svc_error_st(r, 0, &st); return; }
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "searches");
  mctx_jw_arr(&w);
  for (size_t i = 0; i < n; i++) write_row(&w, &rows[i]);
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "count", mctx_jw_i64, (int64_t)n);
  MCTX_JW_KV(&w, "limit", mctx_jw_i64, limit);
  MCTX_JW_KV(&w, "offset", mctx_jw_i64, offset);
  mctx_jw_end(&w);
  mctx_search_rows_free(rows, n);
  mctx_svc_json(r, 200);
}

void mctx_h_search_get(mctx_server *s, mctx_svc_req *r) {
  const char *id = mctx_route_param(&r->params, "request_id");
  if (!id || strlen(id) >= sizeof(((mctx_search_record *)0)->request_id)) {
    mctx_svc_error(r, 404, "request_id", "no search with this request id");
    return;
  }
  if (!need_store(s, r)) return;
  mctx_search_row row;
  memset(&row, 0, sizeof row);
  mctx_status st;
  mctx_status_clear(&st);
  pthread_mutex_lock(&s->store_lock);
  int rc = mctx_store_get(s->store_read, id, &row, &st);
  pthread_mutex_unlock(&s->store_lock);
  if (rc == MCTX_ENOTFOUND ||
      (rc == 0 && r->who.role != MCTX_ROLE_ADMIN && strcmp(row.rec.user, r->who.name) != 0)) {
    if (rc == 0) mctx_search_row_free(&row);
    mctx_svc_error(r, 404, "request_id", "no search %s (not recorded yet, or another user's)", id);
    return;
  }
  if (rc != 0) { mctx_svc_error_st(r, 0, &st); return; }
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  write_row(&w, &row);
  mctx_search_row_free(&row);
  mctx_svc_json(r, 200);
}
