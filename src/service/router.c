/* service/router.c: matching a path against the route patterns (router.h).
 * Linear over the table (a few dozen routes), segment by segment, without
 * allocating. */
#include "service/router.h"

#include <stdio.h>
#include <string.h>

#include "service/http.h"

const char *mctx_http_method_name(int method) {
  static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"};
  return method >= 0 && method < MCTX_HTTP_METHODS ? names[method] : "OTHER";
}

/* Matches one pattern; fills params on success. */
static int match(const char *pat, const char *path, mctx_route_params *params) {
  mctx_route_params p;
  p.n = 0;
  while (*pat && *path) {
    if (*pat != '/' || *path != '/') return 0;
    pat++;
    path++;
    const char *pe = strchr(pat, '/');
    size_t plen = pe ? (size_t)(pe - pat) : strlen(pat);
    const char *se = strchr(path, '/');
    size_t slen = se ? (size_t)(se - path) : strlen(path);
    if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
      if (slen == 0 || slen > 128 || p.n == MCTX_ROUTE_MAX_PARAMS) return 0;
      size_t nlen = plen - 2 < sizeof p.name[0] - 1 ? plen - 2 : sizeof p.name[0] - 1;
      memcpy(p.name[p.n], pat + 1, nlen);
      p.name[p.n][nlen] = '\0';
      memcpy(p.value[p.n], path, slen);
      p.value[p.n][slen] = '\0';
      p.n++;
    } else if (plen != slen || memcmp(pat, path, plen) != 0) {
      return 0;
    }
    pat += plen;
    path += slen;
  }
  if (*pat || *path) return 0;
  if (params) *params = p;
  return 1;
}

int mctx_router_match(const mctx_route *routes, size_t n, int method, const char *path, const mctx_route **out,
                      mctx_route_params *params, char *allow, size_t allow_len) {
  int want = method == MCTX_HTTP_HEAD ? MCTX_HTTP_GET : method;
  int seen[MCTX_HTTP_METHODS] = {0};
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    if (!match(routes[i].pattern, path, NULL)) continue;
    any = 1;
    seen[routes[i].method] = 1;
    if (routes[i].method == want) {
      match(routes[i].pattern, path, params);
      *out = &routes[i];
      return 200;
    }
  }
  if (!any) return 404;
  if (allow && allow_len) {
    allow[0] = '\0';
    size_t len = 0;
    for (int m = 0; m < MCTX_HTTP_METHODS; m++) {
      if (!seen[m]) continue;
      len += (size_t)snprintf(allow + len, len < allow_len ? allow_len - len : 0, "%s%s", len ? ", " : "",
                              mctx_http_method_name(m));
      if (m == MCTX_HTTP_GET)
        len += (size_t)snprintf(allow + len, len < allow_len ? allow_len - len : 0, ", HEAD");
    }
  }
  return 405;
}

const char *mctx_route_param(const mctx_route_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->name[i], name) == 0) return p->value[i];
  return NULL;
}
