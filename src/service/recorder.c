/* service/recorder.c: the record queue and its appender threads
 * (recorder.h).
 *
 * A record is built from the job's info, configuration and summary
 * (mctx_job_get_info, mctx_job_config_json, mctx_job_summary_json) into a
 * queue item that owns its strings and its tree. An appender thread takes
 * every queued item, up to group_max, and appends them with one
 * mctx_spool_append_group (one write, one fsync, shared with the other
 * appender's group when both are in the spool at once), then calls each
 * item's callback with its own outcome. While one appender waits for its
 * fsync, records pile up in the queue and go together in the next group:
 * the busier the service, the larger the groups. */
#include "service/recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/log.h"
#include "service/http.h"

typedef struct item {
  mctx_search_record rec;
  char *config;
  char *summary;
  void *tree;                  /* compressed, or NULL */
  size_t tree_len;
  mctx_record_done_fn done;
  void *ctx;
  struct item *next;
} item;

/* What one appender uses for a group (its own, so no lock is needed). */
typedef struct group {
  mctx_search_record *recs;
  const void **trees;
  size_t *tree_lens;
  int *rcs;
  item **items;
} group;

struct mctx_recorder {
  mctx_spool *sp;
  atomic_ullong *failed;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  item *head, *tail;
  size_t depth, capacity;
  int group_max;
  int64_t interval_ns;         /* at least this long between two appends' starts */
  int stopping;
  pthread_t *threads;
  int nthreads;
  atomic_ullong groups, records;
};

static void copy_str(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

/* Builds the record of a job; NULL when out of memory. */
static item *make_item(const mctx_job *job) {
  item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  mctx_job_info info;
  mctx_job_get_info(job, &info);
  mctx_search_record *rec = &it->rec;
  copy_str(rec->request_id, sizeof rec->request_id, info.request_id);
  rec->time_ms = info.time_ms;
  copy_str(rec->user, sizeof rec->user, info.user && *info.user ? info.user : "anonymous");
  copy_str(rec->search_type, sizeof rec->search_type, info.search_type);
  rec->batch_size = info.batch_size;
  rec->num_simulations = info.num_simulations;
  rec->max_depth = info.max_depth;
  rec->duration_ms = info.duration_ms;
  rec->num_expanded_nodes = info.num_expanded_nodes;
  rec->max_depth_reached = info.max_depth_reached;
  copy_str(rec->device, sizeof rec->device, info.device);
  rec->gpu_optimized = info.gpu_optimized;
  rec->distributed = info.distributed;
  rec->num_devices = info.num_devices;
  it->config = mctx_job_config_json(job);
  it->summary = mctx_job_summary_json(job);
  if (!it->config || !it->summary) {
    free(it->config);
    free(it->summary);
    free(it);
    return NULL;
  }
  rec->config_json = it->config;
  rec->summary_json = it->summary;
  return it;
}

static void free_item(item *it) {
  free(it->config);
  free(it->summary);
  free(it->tree);
  free(it);
}

static int group_init(group *g, int n) {
  memset(g, 0, sizeof *g);
  g->recs = calloc((size_t)n, sizeof *g->recs);
  g->trees = calloc((size_t)n, sizeof *g->trees);
  g->tree_lens = calloc((size_t)n, sizeof *g->tree_lens);
  g->rcs = calloc((size_t)n, sizeof *g->rcs);
  g->items = calloc((size_t)n, sizeof *g->items);
  return g->recs && g->trees && g->tree_lens && g->rcs && g->items ? 0 : -1;
}

static void group_free(group *g) {
  free(g->recs);
  free(g->trees);
  free(g->tree_lens);
  free(g->rcs);
  free(g->items);
}

/* Appends items[0..n) as one group, calls their callbacks, frees them. */
static void append_items(mctx_recorder *r, group *g, size_t n) {
  for (size_t i = 0; i < n; i++) {
    g->recs[i] = g->items[i]->rec;
    g->trees[i] = g->items[i]->tree;
    g->tree_lens[i] = g->items[i]->tree_len;
  }
  mctx_status st;
  mctx_status_clear(&st);
  int rc = mctx_spool_append_group(r->sp, g->recs, g->trees, g->tree_lens, n, g->rcs, &st);
  atomic_fetch_add_explicit(&r->groups, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->records, n, memory_order_relaxed);
  if (rc != 0) {
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
      if (g->rcs[i] != 0) {
        bad++;
        if (first == n) first = i;
      }
    mctx_logline l;
    if (mctx_log_begin(&l, MCTX_LOG_ERROR, "records not kept by the spool")) {
      mctx_log_int(&l, "records", (int64_t)bad);
      mctx_log_int(&l, "group", (int64_t)n);
      if (first < n) mctx_log_str(&l, "request_id", g->recs[first].request_id);
      mctx_log_str(&l, "reason", st.reason);
      mctx_log_end(&l);
    }
  }
  for (size_t i = 0; i < n; i++) {
    item *it = g->items[i];
    if (it->done) it->done(it->ctx, g->rcs[i]);
    free_item(it);
  }
}

static void *appender(void *arg) {
  mctx_recorder *r = arg;
  pthread_setname_np(pthread_self(), "mctx-record");
  group g;
  if (group_init(&g, r->group_max) != 0) {
    group_free(&g);
    return NULL;  /* the others (or mctx_recorder_stop) take the queue */
  }
  uint64_t last_ns = 0;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    while (!r->head && !r->stopping) pthread_cond_wait(&r->cond, &r->lock);
    if (!r->head) break;
    /* The sync interval: the next group gathers until `interval_ns` after
     * the last one started (not when stopping: then every record goes now). */
    uint64_t now = mctx_now_ns();
    if (r->interval_ns > 0 && !r->stopping && last_ns && now - last_ns < (uint64_t)r->interval_ns) {
      uint64_t left = (uint64_t)r->interval_ns - (now - last_ns);
      pthread_mutex_unlock(&r->lock);
      struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
      pthread_mutex_lock(&r->lock);
      now = mctx_now_ns();
    }
    last_ns = now;
    size_t n = 0;
    while (r->head && n < (size_t)r->group_max) {
      item *it = r->head;
      r->head = it->next;
      it->next = NULL;
      g.items[n++] = it;
    }
    if (!r->head) r->tail = NULL;
    r->depth -= n;
    pthread_mutex_unlock(&r->lock);
    append_items(r, &g, n);
    pthread_mutex_lock(&r->lock);
  }
  pthread_mutex_unlock(&r->lock);
  group_free(&g);
  return NULL;
}

mctx_recorder *mctx_recorder_start(mctx_spool *sp, int threads, int capacity, int group_max, int64_t interval_ns,
                                   atomic_ullong *failed) {
  mctx_recorder *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->interval_ns = interval_ns > 0 ? interval_ns : 0;
  r->sp = sp;
  r->failed = failed;
  r->capacity = capacity > 0 ? (size_t)capacity : 1;
  r->group_max = group_max > 0 ? group_max : 1;
  atomic_init(&r->groups, 0);
  atomic_init(&r->records, 0);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  r->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof *r->threads);
  if (!r->threads) { mctx_recorder_stop(r); return NULL; }
  for (int i = 0; i < (threads > 0 ? threads : 1); i++) {
    if (pthread_create(&r->threads[i], NULL, appender, r) != 0) { mctx_recorder_stop(r); return NULL; }
    r->nthreads++;
  }
  return r;
}

/* Appends one item on the caller's thread. */
static void append_now(mctx_recorder *r, item *it) {
  mctx_search_record rec;
  const void *tree;
  size_t tree_len;
  int rc;
  group g = {&rec, &tree, &tree_len, &rc, &it};
  append_items(r, &g, 1);
}

void mctx_recorder_put(mctx_recorder *r, const mctx_job *job, void *tree, size_t tree_len, mctx_record_done_fn done,
                       void *ctx) {
  item *it = make_item(job);
  if (!it) {
    free(tree);
    if (r->failed) atomic_fetch_add_explicit(r->failed, 1, memory_order_relaxed);
    mctx_logf(MCTX_LOG_ERROR, "out of memory: a search's record was not kept");
    if (done) done(ctx, MCTX_ENOMEM);
    return;
  }
  it->tree = tree;
  it->tree_len = tree ? tree_len : 0;
  it->done = done;
  it->ctx = ctx;
  pthread_mutex_lock(&r->lock);
  if (r->depth >= r->capacity || r->stopping || r->nthreads == 0) {
    pthread_mutex_unlock(&r->lock);
    append_now(r, it); /* back-pressure: the caller waits for the disk */
    return;
  }
  if (r->tail) r->tail->next = it;
  else r->head = it;
  r->tail = it;
  r->depth++;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->lock);
}

size_t mctx_recorder_depth(mctx_recorder *r) {
  pthread_mutex_lock(&r->lock);
  size_t d = r->depth;
  pthread_mutex_unlock(&r->lock);
  return d;
}

void mctx_recorder_counts(mctx_recorder *r, unsigned long long *groups, unsigned long long *records) {
  if (groups) *groups = atomic_load_explicit(&r->groups, memory_order_relaxed);
  if (records) *records = atomic_load_explicit(&r->records, memory_order_relaxed);
}

void mctx_recorder_stop(mctx_recorder *r) {
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  for (int i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
  while (r->head) { /* no thread ever started, or none could make its group */
    item *it = r->head;
    r->head = it->next;
    it->next = NULL;
    r->depth--;
    append_now(r, it);
  }
  free(r->threads);
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
  free(r);
}
