/* service/openapi.c: the OpenAPI 3 document of the service, made from the
 * route table.
 *
 * Paths, operations, parameters, security and responses come from the rows
 * of routes.c, so a route cannot be served without being documented nor
 * documented without being served. The schemas are the JSON file
 * openapi-schemas.json, compiled into the binary by CMake
 * (mctx__openapi_schemas). The document is built once at start. */
#include <stdlib.h>
#include <string.h>

#include "service/http.h"
#include "service/server.h"
#include "util/jsonw.h"

/* A string literal as raw JSON. */
#define RAW(w, lit) mctx_jw_raw((w), (lit), sizeof(lit) - 1)

extern const char mctx__openapi_schemas[];
extern const size_t mctx__openapi_schemas_len;

static const char *status_text(int s) {
  switch (s) {
    case 200: return "OK";
    case 202: return "Accepted: the task is queued";
    case 400: return "Bad request: malformed JSON, a wrong type, a missing field or a value out of range";
    case 401: return "No valid API key or bearer token";
    case 403: return "The key's role may not do this";
    case 404: return "Not found";
    case 405: return "Method not allowed (see the Allow header)";
    case 409: return "Conflict: the model repository could not be loaded; the current models stay";
    case 413: return "The body is larger than --max-body-bytes";
    case 415: return "The body is not application/json";
    case 429: return "Rate limited: retry after the Retry-After header's seconds";
    case 500: return "Internal error (a model failure, or a result over the response cap)";
    case 503: return "Unavailable: queue full, queue wait past its bound, deadline passed while queued, starting or draining (Retry-After)";
    default: return "Error";
  }
}

static void lower(const char *in, char *out, size_t n) {
  size_t i = 0;
  for (; in[i] && i + 1 < n; i++) out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
  out[i] = '\0';
}

static void write_operation(mctx_jw *w, const mctx_route *rt) {
  char m[16];
  lower(mctx_http_method_name(rt->method), m, sizeof m);
  mctx_jw_key(w, m);
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "operationId", mctx_jw_str, rt->operation_id);
  MCTX_JW_KV(w, "summary", mctx_jw_str, rt->summary);
  if (rt->description) MCTX_JW_KV(w, "description", mctx_jw_str, rt->description);
  mctx_jw_key(w, "tags");
  mctx_jw_arr(w);
  mctx_jw_str(w, rt->tag);
  mctx_jw_end(w);
  mctx_jw_key(w, "security");
  mctx_jw_arr(w);
  if (rt->access != MCTX_ACCESS_PUBLIC) {
    RAW(w, "{\"ApiKeyAuth\":[]}");
    RAW(w, "{\"BearerAuth\":[]}");
  }
  mctx_jw_end(w);
  MCTX_JW_KV(w, "x-required-role", mctx_jw_str,
             rt->access == MCTX_ACCESS_PUBLIC ? "none" : rt->access == MCTX_ACCESS_ADMIN ? "admin" : "user");
  if (rt->rate_class >= 0)
    MCTX_JW_KV(w, "x-rate-limit-class", mctx_jw_str, rt->rate_class == MCTX_RL_SEARCH ? "search" : "other");

  /* parameters: the path's, then the route's own */
  mctx_jw_key(w, "parameters");
  mctx_jw_arr(w);
  for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
    const char *e = strchr(p, '}');
    if (!e) break;
    mctx_jw_obj(w);
    mctx_jw_key(w, "name");
    mctx_jw_strn(w, p + 1, (size_t)(e - p - 1));
    MCTX_JW_KV(w, "in", mctx_jw_str, "path");
    MCTX_JW_KV(w, "required", mctx_jw_bool, 1);
    mctx_jw_key(w, "schema");
    RAW(w, "{\"type\":\"string\"}");
    mctx_jw_end(w);
  }
  if (rt->parameters) {
    /* a JSON array's items, spliced in */
    const char *s = rt->parameters;
    size_t n = strlen(s);
    if (n > 2) mctx_jw_raw(w, s + 1, n - 2);
  }
  mctx_jw_end(w);

  if (rt->request_schema) {
    mctx_jw_key(w, "requestBody");
    mctx_jw_obj(w);
    MCTX_JW_KV(w, "required", mctx_jw_bool, rt->optional_body == NULL);
    mctx_jw_key(w, "content");
    mctx_jw_obj(w);
    mctx_jw_key(w, "application/json");
    mctx_jw_obj(w);
    mctx_jw_key(w, "schema");
    mctx_jw_obj(w);
    char ref[128];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", rt->request_schema);
    MCTX_JW_KV(w, "$ref", mctx_jw_str, ref);
    mctx_jw_end(w);
    mctx_jw_end(w);
    mctx_jw_end(w);
    mctx_jw_end(w);
  }

  mctx_jw_key(w, "responses");
  mctx_jw_obj(w);
  char code[8];
  snprintf(code, sizeof code, "%d", rt->success_status);
  mctx_jw_key(w, code);
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "description", mctx_jw_str, status_text(rt->success_status));
  mctx_jw_key(w, "content");
  mctx_jw_obj(w);
  mctx_jw_key(w, rt->response_type ? rt->response_type : "application/json");
  mctx_jw_obj(w);
  mctx_jw_key(w, "schema");
  mctx_jw_obj(w);
  if (rt->response_schema) {
    char ref[128];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", rt->response_schema);
    MCTX_JW_KV(w, "$ref", mctx_jw_str, ref);
  } else {
    MCTX_JW_KV(w, "type", mctx_jw_str, "string");
  }
  mctx_jw_end(w);
  mctx_jw_end(w);
  mctx_jw_end(w);
  mctx_jw_end(w);
  /* every error answers the envelope */
  const char *e = rt->error_statuses;
  while (e && *e) {
    int st = atoi(e);
    snprintf(code, sizeof code, "%d", st);
    mctx_jw_key(w, code);
    mctx_jw_obj(w);
    MCTX_JW_KV(w, "description", mctx_jw_str, status_text(st));
    mctx_jw_key(w, "content");
    RAW(w, "{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}");
    mctx_jw_end(w);
    e = strchr(e, ',');
    if (e) e++;
  }
  mctx_jw_end(w);
  mctx_jw_end(w);
}

char *mctx_openapi_build(const mctx_route *routes, size_t n, size_t *len) {
  mctx_buf b;
  mctx_buf_init(&b, 4u << 20);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "openapi", mctx_jw_str, "3.0.3");
  mctx_jw_key(&w, "info");
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "title", mctx_jw_str, "mctx-c search service");
  MCTX_JW_KV(&w, "version", mctx_jw_str, "0.1.0");
  MCTX_JW_KV(&w, "description", mctx_jw_str,
             "Batched Monte Carlo tree search (MuZero, Gumbel MuZero, Stochastic MuZero) in the style of "
             "DeepMind's mctx, over HTTP. Errors answer {status_code, message, details: {field, reason}}. "
             "See docs/API.md.");
  mctx_jw_end(&w);
  mctx_jw_key(&w, "paths");
  mctx_jw_obj(&w);
  for (size_t i = 0; i < n; i++) {
    int first = 1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(routes[j].pattern, routes[i].pattern) == 0) first = 0;
    if (!first) continue;
    mctx_jw_key(&w, routes[i].pattern);
    mctx_jw_obj(&w);
    for (size_t j = i; j < n; j++)
      if (strcmp(routes[j].pattern, routes[i].pattern) == 0) write_operation(&w, &routes[j]);
    mctx_jw_end(&w);
  }
  mctx_jw_end(&w);
  mctx_jw_key(&w, "components");
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "securitySchemes");
  RAW(&w, "{\"ApiKeyAuth\":{\"type\":\"apiKey\",\"in\":\"header\",\"name\":\"X-API-Key\"},"
          "\"BearerAuth\":{\"type\":\"http\",\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\"}}");
  mctx_jw_key(&w, "schemas");
  mctx_jw_raw(&w, mctx__openapi_schemas, mctx__openapi_schemas_len);
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  if (b.failed) {
    mctx_buf_free(&b);
    return NULL;
  }
  return mctx_buf_steal(&b, len);
}
