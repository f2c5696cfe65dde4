/* cpu/pool.h: a fixed pool of worker threads that runs indexed tasks.
 * mctx_pool_run(pool, n, fn, ctx) calls fn(ctx, i) for i in [0, n) on the
 * workers and the calling thread, and returns when all are done. Runs from
 * several threads are serialized. */
#ifndef MCTX_CPU_POOL_H
#define MCTX_CPU_POOL_H

typedef struct mctx_pool mctx_pool;
typedef void (*mctx_pool_fn)(void *ctx, int index);

/* Starts `workers` threads (0 is allowed: tasks then run on the caller).
 * Returns NULL when a thread cannot be started. */
mctx_pool *mctx_pool_new(int workers);
void mctx_pool_run(mctx_pool *p, int n, mctx_pool_fn fn, void *ctx);
/* Stops and joins the workers. NULL is a harmless no-op. */
void mctx_pool_free(mctx_pool *p);

#endif
