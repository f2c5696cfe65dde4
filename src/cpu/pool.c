/* cpu/pool.c: the worker pool of pool.h, on pthreads. A run publishes (fn,
 * ctx, n) under the lock and bumps a generation counter; workers claim task
 * indices from a shared counter until none is left. */
#include "cpu/pool.h"

#include <pthread.h>
#include <stdlib.h>

struct mctx_pool {
  pthread_mutex_t run_lock;   /* one run at a time */
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_t *threads;
  int nthreads;
  int stop;
  unsigned long generation;
  mctx_pool_fn fn;
  void *ctx;
  int n, next, finished;
};

static int claim(mctx_pool *p) {
  int i = -1;
  if (p->next < p->n) i = p->next++;
  return i;
}

static void *worker(void *arg) {
  mctx_pool *p = arg;
  unsigned long seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    int i;
    while ((i = claim(p)) >= 0) {
      mctx_pool_fn fn = p->fn;
      void *ctx = p->ctx;
      pthread_mutex_unlock(&p->lock);
      fn(ctx, i);
      pthread_mutex_lock(&p->lock);
      if (++p->finished == p->n) pthread_cond_broadcast(&p->done);
    }
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

mctx_pool *mctx_pool_new(int workers) {
  mctx_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->run_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  if (workers > 0) {
    p->threads = calloc((size_t)workers, sizeof(pthread_t));
    if (!p->threads) { mctx_pool_free(p); return NULL; }
    for (int i = 0; i < workers; i++) {
      if (pthread_create(&p->threads[i], NULL, worker, p) != 0) { mctx_pool_free(p); return NULL; }
      p->nthreads++;
    }
  }
  return p;
}

void mctx_pool_run(mctx_pool *p, int n, mctx_pool_fn fn, void *ctx) {
  if (n <= 0) return;
  if (n == 1 || p->nthreads == 0) {
    for (int i = 0; i < n; i++) fn(ctx, i);
    return;
  }
  pthread_mutex_lock(&p->run_lock);
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->next = 0;
  p->finished = 0;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  int i;
  while ((i = claim(p)) >= 0) {
    pthread_mutex_unlock(&p->lock);
    fn(ctx, i);
    pthread_mutex_lock(&p->lock);
    if (++p->finished == p->n) pthread_cond_broadcast(&p->done);
  }
  while (p->finished < p->n) pthread_cond_wait(&p->done, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&p->run_lock);
}

void mctx_pool_free(mctx_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  free(p->threads);
  pthread_mutex_destroy(&p->run_lock);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p);
}
