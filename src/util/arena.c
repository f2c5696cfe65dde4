/* util/arena.c: the capped bump allocator of arena.h. Chunks grow
 * geometrically; a large request gets a chunk of its own. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>

struct mctx_arena_chunk {
  mctx_arena_chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
};

void mctx_arena_init(mctx_arena *a, size_t max) {
  a->head = NULL;
  a->used_total = 0;
  a->max = max;
}

void *mctx_arena_alloc(mctx_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  mctx_arena_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = c ? c->size * 2 : 4096;
    if (size > ((size_t)1 << 22)) size = (size_t)1 << 22;
    if (size < n) size = n;
    if (a->max && (a->used_total + size + sizeof *c > a->max)) {
      if (a->used_total + n + sizeof *c > a->max) return NULL;
      size = n;
    }
    mctx_arena_chunk *nc = malloc(sizeof *nc + size);
    if (!nc) return NULL;
    nc->size = size;
    nc->used = 0;
    a->used_total += size + sizeof *nc;
    /* Keep the roomier chunk at the head so small leftovers are still used. */
    if (c && (c->size - c->used) > size - n) {
      nc->next = c->next;
      c->next = nc;
      nc->used = n;
      return nc->data;
    }
    nc->next = c;
    a->head = nc;
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

void mctx_arena_free(mctx_arena *a) {
  if (!a) return;
  mctx_arena_chunk *c = a->head;
  while (c) {
    mctx_arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
  a->used_total = 0;
}
