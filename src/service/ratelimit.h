/* service/ratelimit.h: token buckets per client and route class.
 *
 * A client (an API key's name, else its IP address) has one bucket per class
 * of routes (search, other). A bucket holds up to `burst` tokens and gains
 * `per_min` tokens a minute; a request takes one or is refused with the
 * seconds until one is available (Retry-After). Buckets live in a fixed
 * table: a client that has not been seen for a while is forgotten (a full
 * bucket is the same as a new one), so no client input makes it grow. */
#ifndef MCTX_SERVICE_RATELIMIT_H
#define MCTX_SERVICE_RATELIMIT_H

#include <stdint.h>

enum { MCTX_RL_SEARCH = 0, MCTX_RL_OTHER = 1, MCTX_RL_CLASSES = 2 };

typedef struct mctx_ratelimit mctx_ratelimit;

/* per_min[c] == 0 turns class c off. burst 0: per_min. Returns NULL when out
 * of memory. */
mctx_ratelimit *mctx_ratelimit_new(const int per_min[MCTX_RL_CLASSES], int burst);
/* NULL is a harmless no-op. */
void mctx_ratelimit_free(mctx_ratelimit *rl);
/* Whether class c is limited. */
int mctx_ratelimit_on(const mctx_ratelimit *rl, int cls);
int mctx_ratelimit_limit(const mctx_ratelimit *rl, int cls);

/* Takes a token for `client` in class `cls` at time now_ns (monotonic).
 * Returns 0 when allowed (*remaining gets the whole tokens left), or the
 * seconds to wait (>= 1) when refused. Thread-safe. */
int mctx_ratelimit_take(mctx_ratelimit *rl, int cls, const char *client, uint64_t now_ns, int *remaining);

#endif
