/* util/arena.h: a bump allocator with a hard cap, freed all at once (h2o's
 * per-request pool). Used for parsed JSON documents and per-request data. */
#ifndef MCTX_UTIL_ARENA_H
#define MCTX_UTIL_ARENA_H

#include <stddef.h>

typedef struct mctx_arena_chunk mctx_arena_chunk;
typedef struct mctx_arena {
  mctx_arena_chunk *head;
  size_t used_total;   /* bytes handed out plus chunk overhead */
  size_t max;          /* cap on used_total; 0 means unlimited */
} mctx_arena;

void mctx_arena_init(mctx_arena *a, size_t max);
/* Returns `n` bytes aligned to 16, or NULL when the cap or malloc fails. */
void *mctx_arena_alloc(mctx_arena *a, size_t n);
/* Frees every allocation. NULL is a harmless no-op. */
void mctx_arena_free(mctx_arena *a);

#endif
