/* service/router.h: routes and how a request finds its route.
 *
 * A route is a method and a path pattern whose segments are literal or
 * "{name}" (one segment, 1..128 bytes). The route table (routes.c) also
 * carries what the pipeline needs before the handler runs (who may call it,
 * which rate limit applies, whether it takes a JSON body) and what the
 * OpenAPI document says of it, so the document is made from the same table
 * that serves. */
#ifndef MCTX_SERVICE_ROUTER_H
#define MCTX_SERVICE_ROUTER_H

#include <stddef.h>

/* Who may call a route. */
enum {
  MCTX_ACCESS_PUBLIC = 0,   /* anyone, even with keys configured (health, docs) */
  MCTX_ACCESS_USER = 1,     /* a key or token with role user or admin */
  MCTX_ACCESS_ADMIN = 2,    /* role admin */
  MCTX_ACCESS_METRICS = 3   /* user, or public with --metrics-public */
};

#define MCTX_ROUTE_MAX_PARAMS 2

typedef struct mctx_server mctx_server;
typedef struct mctx_svc_req mctx_svc_req;
typedef void (*mctx_route_fn)(mctx_server *s, mctx_svc_req *r);

typedef struct mctx_route {
  int method;                  /* MCTX_HTTP_* (GET also answers HEAD) */
  const char *pattern;         /* also the route's label in metrics and logs */
  mctx_route_fn handler;
  int access;                  /* MCTX_ACCESS_* */
  int rate_class;              /* MCTX_RL_* or -1: never limited */
  int json_body;               /* takes a JSON body (Content-Type checked, 415) */
  /* OpenAPI */
  const char *operation_id;
  const char *tag;
  const char *summary;
  const char *description;
  const char *parameters;      /* JSON array of parameter objects, or NULL */
  const char *request_schema;  /* components.schemas name, or NULL */
  const char *optional_body;   /* non-NULL: the body may be omitted */
  int success_status;
  const char *response_schema; /* components.schemas name of the success body */
  const char *response_type;   /* NULL: application/json */
  const char *error_statuses;  /* "400,401,..." the route may answer */
} mctx_route;

typedef struct mctx_route_params {
  int n;
  char name[MCTX_ROUTE_MAX_PARAMS][32];
  char value[MCTX_ROUTE_MAX_PARAMS][129];
} mctx_route_params;

/* Finds the route for (method, path) in routes[0..n). Returns 200 with *out
 * and the path parameters; 405 when the path exists with other methods
 * (allow gets them, "GET, HEAD"); 404 when no pattern matches. */
int mctx_router_match(const mctx_route *routes, size_t n, int method, const char *path, const mctx_route **out,
                      mctx_route_params *params, char *allow, size_t allow_len);

/* The value of path parameter `name`, or NULL. */
const char *mctx_route_param(const mctx_route_params *p, const char *name);

/* "GET", "POST", ... */
const char *mctx_http_method_name(int method);

#endif
