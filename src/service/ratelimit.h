/* service/ratelimit.h: token buckets per route and client.
 *
 * A client (an API key's name, else its IP address) has one bucket per
 * route. Each route has its own limit: by default its class's (search or
 * other: --rate-limit-search, --rate-limit-other), or what
 * --rate-limit-routes says for it. A bucket holds up to `burst` tokens and
 * gains `per_min` tokens a minute; a request takes one or is refused with
 * the seconds until one is available (Retry-After). Buckets live in a fixed
 * table: a client that has not been seen for a while is forgotten (a full
 * bucket is the same as a new one), so no client input makes it grow. */
#ifndef MCTX_SERVICE_RATELIMIT_H
#define MCTX_SERVICE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "service/router.h"

/* Route classes (mctx_route.rate_class); -1: never limited. */
enum { MCTX_RL_SEARCH = 0, MCTX_RL_OTHER = 1, MCTX_RL_CLASSES = 2 };

#define MCTX_RL_MAX_PER_MIN 100000000

/* One route's limit: per_min 0 is no limit; burst 0 is per_min. */
typedef struct mctx_rl_limit {
  int per_min;
  int burst;
} mctx_rl_limit;

/* Fills out[0..n), one limit per route of routes[0..n): the class default
 * (class_per_min[rate_class], burst `burst`; routes with rate_class -1 get
 * none), then the entries of `spec`, "PATTERN=PER_MIN[:BURST],..." (e.g.
 * "/api/v1/mcts/search=20,/api/v1/searches=120:10"; empty: none). Returns 0,
 * or -1 with err naming `from` (the flag or variable), the entry and what is
 * wrong with it. */
int mctx_ratelimit_plan(const mctx_route *routes, size_t n, const int class_per_min[MCTX_RL_CLASSES], int burst,
                        const char *spec, const char *from, mctx_rl_limit *out, char *err, size_t errlen);

typedef struct mctx_ratelimit mctx_ratelimit;

/* One limit per route (copied). Returns NULL when out of memory. */
mctx_ratelimit *mctx_ratelimit_new(const mctx_rl_limit *limits, size_t nroutes);
/* NULL is a harmless no-op. */
void mctx_ratelimit_free(mctx_ratelimit *rl);
/* Whether route `route` (its index in the table) is limited, and its
 * requests per minute. */
int mctx_ratelimit_on(const mctx_ratelimit *rl, size_t route);
int mctx_ratelimit_limit(const mctx_ratelimit *rl, size_t route);

/* Takes a token for `client` on route `route` at time now_ns (monotonic).
 * Returns 0 when allowed (*remaining gets the whole tokens left), or the
 * seconds to wait (>= 1) when refused. Thread-safe. */
int mctx_ratelimit_take(mctx_ratelimit *rl, size_t route, const char *client, uint64_t now_ns, int *remaining);

#endif
