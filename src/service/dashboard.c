/* service/dashboard.c: the dashboard's routes (dashboard.h).
 *
 * GET /dashboard and GET /dashboard/{asset} answer the files of web/ that
 * web/dashboard.cmake compiled into the binary, with headers that keep the
 * page to itself: a Content-Security-Policy that allows only this origin's
 * scripts, styles and fetches (no inline code, no framing, no form
 * submission), nosniff, no referrer. These routes are public: the files hold
 * no data, and every figure the page shows comes from a route that asks for
 * a key or token (the page's login form exchanges a key for a token at
 * POST /api/v1/auth/token). GET /api/v1/dashboard/gpu answers what the GPUs
 * hold and do (dashboard_gpu.c), behind the same access as /metrics.
 *
 * This file touches only the request it answers and the server's engine
 * table (read-only). */
#include "service/dashboard.h"

#include <string.h>

#include "service/server.h"
#include "util/jsonw.h"

/* ==== Assets ==== */

const mctx_dash_asset *mctx_dash_asset_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < mctx__dash_nassets; i++)
    if (strcmp(mctx__dash_assets[i].name, name) == 0) return &mctx__dash_assets[i];
  return NULL;
}

const char *mctx_dash_content_type(const char *name) {
  static const struct { const char *ext, *type; } TYPES[] = {
    {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},     {".svg", "image/svg+xml"},
    {".json", "application/json"},           {".txt", "text/plain; charset=utf-8"},
  };
  const char *dot = strrchr(name, '.');
  if (dot)
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
      if (strcmp(dot, TYPES[i].ext) == 0) return TYPES[i].type;
  return "application/octet-stream";
}

/* The page may load and fetch from this origin only, run no inline code,
 * submit no form (the login form is handled by script, so a key can never
 * end up in a URL) and be framed by no one. */
#define DASH_CSP                                                                                              \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "            \
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
_Static_assert(sizeof DASH_CSP < 192, "a response header value holds 191 bytes");

static void security_headers(mctx_svc_req *r) {
  mctx_http_header(&r->http, "Content-Security-Policy", DASH_CSP);
  mctx_http_header(&r->http, "X-Content-Type-Options", "nosniff");
  mctx_http_header(&r->http, "X-Frame-Options", "DENY");
  mctx_http_header(&r->http, "Referrer-Policy", "no-referrer");
  mctx_http_header(&r->http, "Cross-Origin-Opener-Policy", "same-origin");
  mctx_http_header(&r->http, "Cross-Origin-Resource-Policy", "same-origin");
}

static void send_asset(mctx_svc_req *r, const mctx_dash_asset *a) {
  security_headers(r);
  if (mctx_buf_append(&r->http.resp, a->data, a->len) != 0) {
    mctx_svc_error(r, 500, NULL, "the dashboard file %s is larger than the response cap (%zu bytes)", a->name,
                   r->http.resp.max);
    return;
  }
  /* revalidated on every load: a new binary serves new files at once */
  mctx_http_header(&r->http, "Cache-Control", "no-cache");
  r->http.content_type = mctx_dash_content_type(a->name);
  mctx_http_answer(&r->http, 200);
}

void mctx_h_dashboard(mctx_server *s, mctx_svc_req *r) {
  (void)s;
  const mctx_dash_asset *a = mctx_dash_asset_find("index.html");
  if (!a) {
    mctx_svc_error(r, 500, NULL, "this binary was built without the dashboard's index.html");
    return;
  }
  send_asset(r, a);
}

void mctx_h_dashboard_asset(mctx_server *s, mctx_svc_req *r) {
  (void)s;
  const char *name = mctx_route_param(&r->params, "asset");
  const mctx_dash_asset *a = mctx_dash_asset_find(name);
  if (!a) {
    security_headers(r);
    mctx_svc_error(r, 404, "asset", "the dashboard has no file '%s'", name ? name : "");
    return;
  }
  send_asset(r, a);
}

/* ==== GPUs ==== */

void mctx_h_dashboard_gpu(mctx_server *s, mctx_svc_req *r) {
  mctx_dash_gpu g;
  mctx_dash_gpu_read(&g);
  mctx_jw w;
  mctx_jw_init(&w, &r->http.resp);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "available", mctx_jw_bool, g.available);
  MCTX_JW_KV(&w, "source", mctx_jw_str, "nvml");
  mctx_jw_key(&w, "reason");
  if (g.available) mctx_jw_null(&w);
  else mctx_jw_str(&w, g.reason);
  MCTX_JW_KV(&w, "engine", mctx_jw_str, s->env.gpu ? "cuda" : "cpu");
  mctx_jw_key(&w, "engine_note");
  if (!s->env.gpu && s->env.gpu_unavailable) mctx_jw_str(&w, s->env.gpu_unavailable);
  else mctx_jw_null(&w);
  mctx_jw_key(&w, "devices");
  mctx_jw_arr(&w);
  for (unsigned i = 0; i < g.count; i++) {
    const mctx_dash_gpu_dev *d = &g.dev[i];
    mctx_jw_obj(&w);
    MCTX_JW_KV(&w, "index", mctx_jw_i64, d->index);
    MCTX_JW_KV(&w, "name", mctx_jw_str, d->name);
    MCTX_JW_KV(&w, "memory_total_bytes", mctx_jw_i64, (int64_t)d->memory_total);
    MCTX_JW_KV(&w, "memory_used_bytes", mctx_jw_i64, (int64_t)d->memory_used);
    mctx_jw_key(&w, "utilization_gpu_pct");
    if (d->utilization_gpu >= 0) mctx_jw_i64(&w, d->utilization_gpu);
    else mctx_jw_null(&w);
    mctx_jw_key(&w, "utilization_memory_pct");
    if (d->utilization_memory >= 0) mctx_jw_i64(&w, d->utilization_memory);
    else mctx_jw_null(&w);
    mctx_jw_key(&w, "temperature_c");
    if (d->temperature_c >= 0) mctx_jw_i64(&w, d->temperature_c);
    else mctx_jw_null(&w);
    mctx_jw_end(&w);
  }
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  mctx_http_header(&r->http, "X-Content-Type-Options", "nosniff");
  mctx_http_header(&r->http, "Cache-Control", "no-store");
  mctx_svc_json(r, 200);
}
