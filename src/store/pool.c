/* store/pool.c: the connection pool that every backend uses (see
 * store-impl.h). It knows nothing of the database: connections are opaque
 * pointers made and closed by the backend's callbacks. Connecting happens
 * outside the lock, so a slow or unreachable server holds up only the caller
 * that needs a new connection. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "store/store-impl.h"

void mctx__pool_init(mctx__pool *p, int max, void *(*connect)(void *, mctx_status *), void (*disconnect)(void *),
                     void *arg) {
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->idle = NULL;
  p->open = 0;
  p->max = max > 0 ? max : 4;
  p->generation = 0;
  p->wait_ms = 30000;
  p->connect = connect;
  p->disconnect = disconnect;
  p->arg = arg;
}

void mctx__pool_destroy(mctx__pool *p) {
  mctx__pool_conn *c = p->idle;
  while (c) {
    mctx__pool_conn *next = c->next;
    p->disconnect(c->conn);
    free(c);
    c = next;
  }
  p->idle = NULL;
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
}

mctx__pool_conn *mctx__pool_acquire(mctx__pool *p, mctx_status *st) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += p->wait_ms / 1000;
  deadline.tv_nsec += (long)(p->wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }

  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->idle) {
      mctx__pool_conn *c = p->idle;
      p->idle = c->next;
      pthread_mutex_unlock(&p->mu);
      c->next = NULL;
      return c;
    }
    if (p->open < p->max) break;
    if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->mu);
      mctx_status_set(st, MCTX_EBUSY, "db", "all %d database connections are busy", p->max);
      return NULL;
    }
  }
  p->open++;
  uint64_t gen = p->generation;
  pthread_mutex_unlock(&p->mu);

  mctx__pool_conn *c = calloc(1, sizeof *c);
  void *conn = c ? p->connect(p->arg, st) : NULL;
  if (!c && st) mctx_status_set(st, MCTX_ENOMEM, "db", "out of memory");
  if (!conn) {
    free(c);
    pthread_mutex_lock(&p->mu);
    p->open--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
  }
  c->conn = conn;
  c->generation = gen;
  return c;
}

void mctx__pool_release(mctx__pool *p, mctx__pool_conn *c, int broken) {
  if (!c) return;
  mctx__pool_conn *drop = NULL;
  pthread_mutex_lock(&p->mu);
  if (broken) {
    /* The server went away or the connection is in an unknown state: close
     * it, and every idle connection made before this failure was noticed. */
    if (c->generation == p->generation) p->generation++;
    c->next = NULL;
    drop = c;
    p->open--;
    mctx__pool_conn **pp = &p->idle;
    while (*pp) {
      if ((*pp)->generation < p->generation) {
        mctx__pool_conn *old = *pp;
        *pp = old->next;
        old->next = drop;
        drop = old;
        p->open--;
      } else {
        pp = &(*pp)->next;
      }
    }
  } else {
    c->next = p->idle;
    p->idle = c;
  }
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  while (drop) {
    mctx__pool_conn *next = drop->next;
    p->disconnect(drop->conn);
    free(drop);
    drop = next;
  }
}
