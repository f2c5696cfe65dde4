/* service/trees.c: stored search trees, from the request that asks for one
 * to GET /api/v1/searches/{request_id}/tree.
 *
 * A search stores its tree when its request says "store_tree": true, or
 * when it has at least --store-trees-over nodes (batch_size x
 * (num_simulations + 1)); the job then keeps its tree (and runs alone). Once
 * it ran, the worker writes one JSON document holding the tree in both
 * formats of DESIGN.md,
 *     {"format": "mctx-tree-v1", "request_id": ..., "nested": [...], "arrays": {...}}
 * compresses it with zstd and hands it to the recorder with the search's
 * record: the spool keeps both in one frame, so the tree lands in
 * MCTX_SEARCH_TREES exactly once, with its history row. The route reads it
 * back through the service's read connection, with the history routes'
 * rules (a user sees only its own searches), decompresses it (at most
 * --max-response-bytes) and answers the format asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/json.h"
#include "service/log.h"
#include "service/server.h"
#include "util/jsonw.h"

/* ==== Which searches store their tree ==== */

/* Whether the body's top-level "store_tree" is true. The scan for the name
 * keeps the second parse off the common path. */
static int asks_store_tree(mctx_server *s, const mctx_http_req *hr) {
  const char *body = hr->body.data;
  size_t len = hr->body.len;
  if (!body || len < 10 || !memmem(body, len, "store_tree", 10)) return 0;
  mctx_json_limits lim = {s->cfg.limits.max_json_depth, 0};
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(body, len, &lim, &st);
  if (!doc) return 0;
  const mctx_json *root = mctx_json_root(doc);
  const mctx_json *v = root->type == MCTX_JSON_OBJECT ? mctx_json_get(root, "store_tree") : NULL;
  int yes = v && v->type == MCTX_JSON_BOOL && v->boolean;
  mctx_json_doc_free(doc);
  return yes;
}

int mctx_svc_tree_wanted(mctx_server *s, const mctx_http_req *hr, mctx_job *job) {
  int want = asks_store_tree(s, hr);
  if (!want && s->cfg.store_trees_over > 0) {
    mctx_job_info info;
    mctx_job_get_info(job, &info);
    int64_t nodes = (int64_t)info.batch_size * ((int64_t)info.num_simulations + 1);
    want = nodes >= s->cfg.store_trees_over;
  }
  if (want) mctx_job_keep_tree(job);
  return want;
}

/* ==== The stored document ==== */

int mctx_svc_tree_blob(mctx_server *s, const mctx_job *job, void **out, size_t *len) {
  *out = NULL;
  *len = 0;
  mctx_job_info info;
  mctx_job_get_info(job, &info);
  mctx_buf b;
  mctx_buf_init(&b, s->cfg.max_response_bytes);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "format", mctx_jw_str, "mctx-tree-v1");
  MCTX_JW_KV(&w, "request_id", mctx_jw_str, info.request_id);
  MCTX_JW_KV(&w, "search_type", mctx_jw_str, info.search_type);
  MCTX_JW_KV(&w, "batch_size", mctx_jw_i64, info.batch_size);
  MCTX_JW_KV(&w, "num_actions", mctx_jw_i64, info.num_actions);
  MCTX_JW_KV(&w, "num_simulations", mctx_jw_i64, info.num_simulations);
  /* Each tree is written straight into the buffer by the API layer; an
   * empty raw value first keeps the writer's commas right. */
  mctx_jw_key(&w, "nested");
  mctx_jw_raw(&w, "", 0);
  int rc = mctx_job_tree_json(job, 1, &b);
  if (rc == 0) {
    mctx_jw_key(&w, "arrays");
    mctx_jw_raw(&w, "", 0);
    rc = mctx_job_tree_json(job, 0, &b);
  }
  mctx_jw_end(&w);
  mctx_status st;
  mctx_status_clear(&st);
  if (rc == 0 && b.failed) rc = -1;
  if (rc == 0) rc = mctx_store_zstd_compress(b.data, b.len, 0, out, len, &st);
  if (rc != 0) {
    atomic_fetch_add_explicit(&s->trees_skipped, 1, memory_order_relaxed);
    mctx_logline l;
    if (mctx_log_begin(&l, MCTX_LOG_WARN, "the search's tree is not stored")) {
      mctx_log_str(&l, "request_id", info.request_id);
      mctx_log_str(&l, "reason", rc == MCTX_ENOTFOUND ? "the job kept no tree"
                                 : rc == -1          ? "the tree is larger than --max-response-bytes"
                                                     : st.reason);
      mctx_log_end(&l);
    }
    mctx_buf_free(&b);
    *out = NULL;
    *len = 0;
    return rc == -1 ? MCTX_ELIMIT : rc;
  }
  atomic_fetch_add_explicit(&s->trees_stored, 1, memory_order_relaxed);
  mctx_buf_free(&b);
  return 0;
}

/* ==== Reading a member of the stored document ==== */

static size_t skip_ws(const char *p, size_t i, size_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) i++;
  return i;
}

/* p[i] is '"': the index after the string, 0 when it does not end. */
static size_t skip_string(const char *p, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (p[i] == '\\') i++;
    else if (p[i] == '"') return i + 1;
  }
  return 0;
}

/* The index after the value at p[i], 0 when it does not end. */
static size_t skip_value(const char *p, size_t i, size_t n) {
  if (i >= n) return 0;
  if (p[i] == '"') return skip_string(p, i, n);
  if (p[i] == '{' || p[i] == '[') {
    size_t depth = 0;
    while (i < n) {
      char c = p[i];
      if (c == '"') {
        i = skip_string(p, i, n);
        if (!i) return 0;
        continue;
      }
      if (c == '{' || c == '[') depth++;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      i++;
    }
    return 0;
  }
  /* true, false, null, or a number as JSON writes it */
  static const char *const words[] = {"true", "false", "null"};
  for (int w = 0; w < 3; w++) {
    size_t k = strlen(words[w]);
    if (n - i >= k && memcmp(p + i, words[w], k) == 0) return i + k;
  }
  size_t start = i;
  if (i < n && p[i] == '-') i++;
  if (i >= n || p[i] < '0' || p[i] > '9') return 0;
  if (p[i] == '0') i++;
  else while (i < n && p[i] >= '0' && p[i] <= '9') i++;
  if (i < n && p[i] == '.') {
    size_t d = ++i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if (i == d) return 0;
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    size_t d = i;
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    if (i == d) return 0;
  }
  return i > start ? i : 0;
}

/* The value of the top-level member `key` of the object in p[0..n). */
static int find_member(const char *p, size_t n, const char *key, size_t *vstart, size_t *vend) {
  size_t klen = strlen(key);
  size_t i = skip_ws(p, 0, n);
  if (i >= n || p[i] != '{') return -1;
  i = skip_ws(p, i + 1, n);
  while (i < n && p[i] == '"') {
    size_t kend = skip_string(p, i, n);
    if (!kend) return -1;
    int match = kend - i - 2 == klen && memcmp(p + i + 1, key, klen) == 0;
    i = skip_ws(p, kend, n);
    if (i >= n || p[i] != ':') return -1;
    i = skip_ws(p, i + 1, n);
    size_t end = skip_value(p, i, n);
    if (!end) return -1;
    if (match) {
      *vstart = i;
      *vend = end;
      return 0;
    }
    i = skip_ws(p, end, n);
    if (i < n && p[i] == ',') i = skip_ws(p, i + 1, n);
  }
  return -1;
}

/* ==== GET /api/v1/searches/{request_id}/tree ==== */

void mctx_h_search_tree(mctx_server *s, mctx_svc_req *r) {
  const char *id = mctx_route_param(&r->params, "request_id");
  if (!id || strlen(id) >= sizeof(((mctx_search_record *)0)->request_id)) {
    mctx_svc_error(r, 404, "request_id", "no search with this request id");
    return;
  }
  const char *format = mctx_http_query(&r->http, "format");
  if (!format || !*format) format = "nested";
  if (strcmp(format, "nested") != 0 && strcmp(format, "arrays") != 0) {
    mctx_svc_error(r, 400, "format", "must be nested or arrays");
    return;
  }
  if (!s->store_read) {
    mctx_svc_unavailable(r, 1, "starting", "the database is not open yet");
    return;
  }
  mctx_search_row row;
  memset(&row, 0, sizeof row);
  mctx_status st;
  mctx_status_clear(&st);
  void *blob = NULL;
  size_t blen = 0;
  pthread_mutex_lock(&s->store_lock);
  int rc = mctx_store_get(s->store_read, id, &row, &st);
  int visible = rc == 0 && (r->who.role == MCTX_ROLE_ADMIN || strcmp(row.rec.user, r->who.name) == 0);
  int trc = visible ? mctx_store_get_tree(s->store_read, id, &blob, &blen, &st) : 0;
  pthread_mutex_unlock(&s->store_lock);
  if (rc == 0) mctx_search_row_free(&row);
  if (rc == MCTX_ENOTFOUND || (rc == 0 && !visible)) {
    mctx_svc_error(r, 404, "request_id", "no search %s (not recorded yet, or another user's)", id);
    return;
  }
  if (rc != 0) { mctx_svc_error_st(r, 0, &st); return; }
  if (trc == MCTX_ENOTFOUND) {
    mctx_svc_error(r, 404, "tree", "search %s has no stored tree (store_tree was not asked for)", id);
    return;
  }
  if (trc != 0) { mctx_svc_error_st(r, 0, &st); return; }
  void *doc = NULL;
  size_t dlen = 0;
  rc = mctx_store_zstd_decompress(blob, blen, s->cfg.max_response_bytes, &doc, &dlen, &st);
  free(blob);
  if (rc != 0) {
    mctx_svc_error(r, 500, "tree", "the stored tree of %s cannot be read: %s", id, st.reason);
    return;
  }
  size_t vs = 0, ve = 0;
  if (find_member(doc, dlen, format, &vs, &ve) != 0) {
    free(doc);
    mctx_svc_error(r, 500, "tree", "the stored tree of %s has no '%s' member", id, format);
    return;
  }
  /* The member goes into the answer as it is: it must be JSON (a stored
   * document that is not, from a damaged database, is refused, never sent). */
  if (mctx_json_valid(doc + vs, ve - vs, 256, &st) != 0) {
    free(doc);
    mctx_svc_error(r, 500, "tree", "the stored tree of %s is damaged: its '%s' member is not JSON (%s)", id, format,
                   st.reason);
    return;
  }
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "request_id", mctx_jw_str, id);
  MCTX_JW_KV(&w, "format", mctx_jw_str, format);
  mctx_jw_key(&w, "tree");
  mctx_jw_raw(&w, (const char *)doc + vs, ve - vs);
  mctx_jw_end(&w);
  free(doc);
  mctx_svc_json(r, 200);
}
