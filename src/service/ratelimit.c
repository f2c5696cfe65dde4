/* service/ratelimit.c: the token buckets of ratelimit.h, and the plan of
 * per-route limits.
 *
 * The table is open addressing over a fixed number of slots, keyed by a
 * 64-bit hash of (route, client) and the route and client themselves, split
 * into stripes that each have a mutex. A lookup probes a short window; when
 * the window is full, the bucket refilled longest ago is reused, which for an
 * idle client is indistinguishable from keeping it. */
#include "service/ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16384
#define STRIPES 16
#define PROBE 16

typedef struct bucket {
  uint64_t hash;          /* 0: empty */
  size_t route;
  char client[64];
  double tokens;
  uint64_t last_ns;
} bucket;

typedef struct route_limit {
  double rate;            /* tokens per nanosecond */
  double burst;
  int per_min;
} route_limit;

struct mctx_ratelimit {
  route_limit *routes;
  size_t nroutes;
  bucket *slots;
  pthread_mutex_t locks[STRIPES];
};

/* ==== The plan ==== */

static const char *skip_space(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* Parses [p, end) as an integer in [0, MCTX_RL_MAX_PER_MIN]. */
static int parse_count(const char *p, const char *end, int *out) {
  char tmp[24];
  p = skip_space(p, end);
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  size_t n = (size_t)(end - p);
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if (tmp[i] < '0' || tmp[i] > '9') return -1;
  errno = 0;
  long v = strtol(tmp, NULL, 10);
  if (errno || v > MCTX_RL_MAX_PER_MIN) return -1;
  *out = (int)v;
  return 0;
}

int mctx_ratelimit_plan(const mctx_route *routes, size_t n, const int class_per_min[MCTX_RL_CLASSES], int burst,
                        const char *spec, const char *from, mctx_rl_limit *out, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    int c = routes[i].rate_class;
    out[i].per_min = c >= 0 && c < MCTX_RL_CLASSES ? class_per_min[c] : 0;
    out[i].burst = out[i].per_min > 0 ? burst : 0;
  }
  if (!spec) return 0;
  unsigned char *seen = calloc(n ? n : 1, 1);
  if (!seen) {
    snprintf(err, errlen, "%s: out of memory", from);
    return -1;
  }
  int rc = 0;
  const char *p = spec;
  while (rc == 0 && *p) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *b = skip_space(p, end);
    const char *e = end;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    int len = (int)(e - b);
    if (len > 0) {
      const char *eq = memchr(b, '=', (size_t)(e - b));
      const char *colon = eq ? memchr(eq, ':', (size_t)(e - eq)) : NULL;
      const char *pe = eq;
      while (pe && pe > b && (pe[-1] == ' ' || pe[-1] == '\t')) pe--;
      size_t plen = pe ? (size_t)(pe - b) : 0;
      mctx_rl_limit lim = {0, 0};
      if (!eq || plen == 0) {
        snprintf(err, errlen, "%s: entry '%.*s' is not ROUTE=PER_MINUTE[:BURST] (a route pattern such as "
                 "/api/v1/searches, then its requests per minute)", from, len, b);
        rc = -1;
        break;
      }
      const char *bad = parse_count(eq + 1, colon ? colon : e, &lim.per_min) != 0 ? "the requests per minute"
                        : colon && parse_count(colon + 1, e, &lim.burst) != 0 ? "the burst" : NULL;
      if (bad) {
        snprintf(err, errlen, "%s: entry '%.*s': %s must be an integer in [0, %d]", from, len, b, bad,
                 MCTX_RL_MAX_PER_MIN);
        rc = -1;
        break;
      }
      size_t r = n;
      for (size_t i = 0; i < n; i++)
        if (strlen(routes[i].pattern) == plen && strncmp(routes[i].pattern, b, plen) == 0) r = i;
      if (r == n) {
        snprintf(err, errlen, "%s: entry '%.*s': no route '%.*s' (name a route by its pattern, as in "
                 "/openapi.json, e.g. /api/v1/searches/{request_id})", from, len, b, (int)plen, b);
        rc = -1;
      } else if (routes[r].rate_class < 0) {
        snprintf(err, errlen, "%s: entry '%.*s': %s is never rate limited (the health routes, /metrics, "
                 "/openapi.json and the dashboard's routes are exempt)", from, len, b, routes[r].pattern);
        rc = -1;
      } else if (seen[r]) {
        snprintf(err, errlen, "%s: entry '%.*s': %s is named twice", from, len, b, routes[r].pattern);
        rc = -1;
      } else {
        seen[r] = 1;
        if (!colon) lim.burst = lim.per_min > 0 ? burst : 0;
        out[r] = lim;
      }
    }
    p = *end ? end + 1 : end;
  }
  free(seen);
  return rc;
}

/* ==== The buckets ==== */

mctx_ratelimit *mctx_ratelimit_new(const mctx_rl_limit *limits, size_t nroutes) {
  mctx_ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->slots = calloc(SLOTS, sizeof *rl->slots);
  rl->routes = calloc(nroutes ? nroutes : 1, sizeof *rl->routes);
  if (!rl->slots || !rl->routes) {
    free(rl->slots);
    free(rl->routes);
    free(rl);
    return NULL;
  }
  rl->nroutes = nroutes;
  for (size_t r = 0; r < nroutes; r++) {
    int per_min = limits[r].per_min > 0 ? limits[r].per_min : 0;
    rl->routes[r].per_min = per_min;
    rl->routes[r].rate = per_min / 60e9;
    rl->routes[r].burst = limits[r].burst > 0 ? limits[r].burst : per_min;
  }
  for (int i = 0; i < STRIPES; i++) pthread_mutex_init(&rl->locks[i], NULL);
  return rl;
}

void mctx_ratelimit_free(mctx_ratelimit *rl) {
  if (!rl) return;
  for (int i = 0; i < STRIPES; i++) pthread_mutex_destroy(&rl->locks[i]);
  free(rl->slots);
  free(rl->routes);
  free(rl);
}

int mctx_ratelimit_on(const mctx_ratelimit *rl, size_t route) {
  return route < rl->nroutes && rl->routes[route].per_min > 0;
}
int mctx_ratelimit_limit(const mctx_ratelimit *rl, size_t route) {
  return route < rl->nroutes ? rl->routes[route].per_min : 0;
}

/* FNV-1a, then a final mix; never 0. */
static uint64_t hash_client(size_t route, const char *s) {
  uint64_t h = 1469598103934665603ULL ^ ((uint64_t)route + 1) * 0x9E3779B97F4A7C15ULL;
  for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
  h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
  return h ? h : 1;
}

int mctx_ratelimit_take(mctx_ratelimit *rl, size_t route, const char *client, uint64_t now_ns, int *remaining) {
  if (remaining) *remaining = 0;
  if (!mctx_ratelimit_on(rl, route)) return 0;
  const route_limit *lim = &rl->routes[route];
  uint64_t h = hash_client(route, client);
  /* A stripe owns a contiguous range of slots, so a probe window stays in it. */
  size_t per = SLOTS / STRIPES;
  size_t stripe = (size_t)(h % STRIPES);
  size_t base = stripe * per;
  size_t start = (size_t)((h / STRIPES) % per);
  pthread_mutex_lock(&rl->locks[stripe]);
  bucket *b = NULL, *oldest = NULL;
  for (size_t k = 0; k < PROBE; k++) {
    bucket *s = &rl->slots[base + (start + k) % per];
    if (s->hash == h && s->route == route && strncmp(s->client, client, sizeof s->client - 1) == 0) { b = s; break; }
    if (s->hash == 0) { if (!oldest || oldest->hash != 0) oldest = s; continue; }
    if (!oldest || (oldest->hash != 0 && s->last_ns < oldest->last_ns)) oldest = s;
  }
  if (!b) {
    b = oldest;
    b->hash = h;
    b->route = route;
    strncpy(b->client, client, sizeof b->client - 1);
    b->client[sizeof b->client - 1] = '\0';
    b->tokens = lim->burst;
    b->last_ns = now_ns;
  }
  if (now_ns > b->last_ns) {
    b->tokens += (double)(now_ns - b->last_ns) * lim->rate;
    if (b->tokens > lim->burst) b->tokens = lim->burst;
    b->last_ns = now_ns;
  }
  int wait = 0;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    if (remaining) *remaining = (int)b->tokens;
  } else {
    double need_ns = (1.0 - b->tokens) / lim->rate;
    wait = (int)ceil(need_ns / 1e9);
    if (wait < 1) wait = 1;
  }
  pthread_mutex_unlock(&rl->locks[stripe]);
  return wait;
}
