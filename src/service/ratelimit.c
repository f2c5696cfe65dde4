/* service/ratelimit.c: the token buckets of ratelimit.h.
 *
 * The table is open addressing over a fixed number of slots, keyed by a
 * 64-bit hash of (class, client) and the client text itself, split into
 * stripes that each have a mutex. A lookup probes a short window; when the
 * window is full, the bucket refilled longest ago is reused, which for an
 * idle client is indistinguishable from keeping it. */
#include "service/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16384
#define STRIPES 16
#define PROBE 16

typedef struct bucket {
  uint64_t hash;          /* 0: empty */
  char client[64];
  double tokens;
  uint64_t last_ns;
} bucket;

struct mctx_ratelimit {
  double rate[MCTX_RL_CLASSES];   /* tokens per nanosecond */
  double burst[MCTX_RL_CLASSES];
  int per_min[MCTX_RL_CLASSES];
  bucket *slots;
  pthread_mutex_t locks[STRIPES];
};

mctx_ratelimit *mctx_ratelimit_new(const int per_min[MCTX_RL_CLASSES], int burst) {
  mctx_ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  rl->slots = calloc(SLOTS, sizeof *rl->slots);
  if (!rl->slots) { free(rl); return NULL; }
  for (int c = 0; c < MCTX_RL_CLASSES; c++) {
    rl->per_min[c] = per_min[c];
    rl->rate[c] = per_min[c] / 60e9;
    rl->burst[c] = burst > 0 ? burst : per_min[c];
  }
  for (int i = 0; i < STRIPES; i++) pthread_mutex_init(&rl->locks[i], NULL);
  return rl;
}

void mctx_ratelimit_free(mctx_ratelimit *rl) {
  if (!rl) return;
  for (int i = 0; i < STRIPES; i++) pthread_mutex_destroy(&rl->locks[i]);
  free(rl->slots);
  free(rl);
}

int mctx_ratelimit_on(const mctx_ratelimit *rl, int cls) { return rl->per_min[cls] > 0; }
int mctx_ratelimit_limit(const mctx_ratelimit *rl, int cls) { return rl->per_min[cls]; }

/* FNV-1a, then a final mix; never 0. */
static uint64_t hash_client(int cls, const char *s) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)(cls + 1);
  for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ULL; }
  h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
  return h ? h : 1;
}

int mctx_ratelimit_take(mctx_ratelimit *rl, int cls, const char *client, uint64_t now_ns, int *remaining) {
  if (remaining) *remaining = 0;
  if (rl->per_min[cls] <= 0) return 0;
  uint64_t h = hash_client(cls, client);
  /* A stripe owns a contiguous range of slots, so a probe window stays in it. */
  size_t per = SLOTS / STRIPES;
  size_t stripe = (size_t)(h % STRIPES);
  size_t base = stripe * per;
  size_t start = (size_t)((h / STRIPES) % per);
  pthread_mutex_lock(&rl->locks[stripe]);
  bucket *b = NULL, *oldest = NULL;
  for (size_t k = 0; k < PROBE; k++) {
    bucket *s = &rl->slots[base + (start + k) % per];
    if (s->hash == h && strncmp(s->client, client, sizeof s->client - 1) == 0) { b = s; break; }
    if (s->hash == 0) { if (!oldest || oldest->hash != 0) oldest = s; continue; }
    if (!oldest || (oldest->hash != 0 && s->last_ns < oldest->last_ns)) oldest = s;
  }
  if (!b) {
    b = oldest;
    b->hash = h;
    strncpy(b->client, client, sizeof b->client - 1);
    b->client[sizeof b->client - 1] = '\0';
    b->tokens = rl->burst[cls];
    b->last_ns = now_ns;
  }
  if (now_ns > b->last_ns) {
    b->tokens += (double)(now_ns - b->last_ns) * rl->rate[cls];
    if (b->tokens > rl->burst[cls]) b->tokens = rl->burst[cls];
    b->last_ns = now_ns;
  }
  int wait = 0;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    if (remaining) *remaining = (int)b->tokens;
  } else {
    double need_ns = (1.0 - b->tokens) / rl->rate[cls];
    wait = (int)ceil(need_ns / 1e9);
    if (wait < 1) wait = 1;
  }
  pthread_mutex_unlock(&rl->locks[stripe]);
  return wait;
}
