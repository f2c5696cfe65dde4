/* service/tasks.c: the async task table (tasks.h).
 *
 * A fixed array of slots under one mutex; a slot is found by a linear scan of
 * its id (a few thousand slots at most, compared only while the lock is
 * held). Slots are reused: finished tasks go when their TTL passes, when the
 * table needs room, or when the results kept pass the byte budget, oldest
 * first. The result body of a finished task is kept as the bytes a
 * synchronous search would have answered, and embedded whole in the status
 * object. */
#include "service/tasks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/http.h"
#include "util/jsonw.h"

struct mctx_task {
  int used;
  char id[37];
  char user[64];
  char request_id[64];
  int state;
  int64_t created_ms, started_ms, finished_ms;
  uint64_t finished_ns;        /* monotonic, for the TTL */
  mctx_job *job;               /* while pending or running */
  int cancel_requested;
  int http_status;
  char *body;
  size_t body_len;
};

struct mctx_tasks {
  pthread_mutex_t lock;
  mctx_task *slots;
  int max;
  int ttl_s;
  size_t max_bytes;
  size_t bytes;
  int64_t counts[MCTX_TASK_STATES];
};

static const char *const STATE_NAMES[] = {"pending", "running", "done", "failed", "canceled"};

const char *mctx_task_state_name(int state) {
  return state >= 0 && state < MCTX_TASK_STATES ? STATE_NAMES[state] : "unknown";
}

int mctx_task_state_parse(const char *s) {
  for (int i = 0; i < MCTX_TASK_STATES; i++)
    if (strcmp(s, STATE_NAMES[i]) == 0) return i;
  return -1;
}

int64_t mctx_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mctx_iso8601(int64_t ms, char out[32]) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char tmp[96];
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
  snprintf(out, 32, "%.31s", tmp);
}

mctx_tasks *mctx_tasks_new(int max, int ttl_s, size_t max_bytes) {
  mctx_tasks *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->max = max > 0 ? max : 1;
  t->slots = calloc((size_t)t->max, sizeof *t->slots);
  if (!t->slots) { free(t); return NULL; }
  t->ttl_s = ttl_s;
  t->max_bytes = max_bytes;
  pthread_mutex_init(&t->lock, NULL);
  return t;
}

static void release(mctx_tasks *t, mctx_task *k) {
  t->counts[k->state]--;
  t->bytes -= k->body_len;
  free(k->body);
  memset(k, 0, sizeof *k);
}

void mctx_tasks_free(mctx_tasks *t) {
  if (!t) return;
  for (int i = 0; i < t->max; i++) free(t->slots[i].body);
  free(t->slots);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

static int finished(const mctx_task *k) { return k->used && k->state >= MCTX_TASK_DONE; }

/* The finished task that finished first, or NULL (lock held). */
static mctx_task *oldest_finished(mctx_tasks *t) {
  mctx_task *o = NULL;
  for (int i = 0; i < t->max; i++)
    if (finished(&t->slots[i]) && (!o || t->slots[i].finished_ns < o->finished_ns)) o = &t->slots[i];
  return o;
}

int mctx_tasks_add(mctx_tasks *t, const char *user, const char *request_id, mctx_job *job, mctx_task **out,
                   char id_out[40]) {
  pthread_mutex_lock(&t->lock);
  mctx_task *k = NULL;
  for (int i = 0; i < t->max && !k; i++)
    if (!t->slots[i].used) k = &t->slots[i];
  if (!k) {
    k = oldest_finished(t);
    if (k) release(t, k);
  }
  if (!k) { pthread_mutex_unlock(&t->lock); return MCTX_EBUSY; }
  k->used = 1;
  mctx_uuid(k->id);
  snprintf(k->user, sizeof k->user, "%s", user);
  snprintf(k->request_id, sizeof k->request_id, "%s", request_id);
  k->state = MCTX_TASK_PENDING;
  k->created_ms = mctx_unix_ms();
  k->job = job;
  t->counts[MCTX_TASK_PENDING]++;
  memcpy(id_out, k->id, sizeof k->id);
  *out = k;
  pthread_mutex_unlock(&t->lock);
  return 0;
}

void mctx_tasks_discard(mctx_tasks *t, mctx_task *k) {
  pthread_mutex_lock(&t->lock);
  release(t, k);
  pthread_mutex_unlock(&t->lock);
}

void mctx_tasks_started(mctx_tasks *t, mctx_task *k) {
  pthread_mutex_lock(&t->lock);
  if (k->state == MCTX_TASK_PENDING) {
    t->counts[k->state]--;
    k->state = MCTX_TASK_RUNNING;
    t->counts[k->state]++;
    k->started_ms = mctx_unix_ms();
  }
  pthread_mutex_unlock(&t->lock);
}

void mctx_tasks_finish(mctx_tasks *t, mctx_task *k, int state, int http_status, char *body, size_t len) {
  pthread_mutex_lock(&t->lock);
  /* Room for the result: drop the oldest finished tasks, or keep an error. */
  while (body && t->bytes + len > t->max_bytes) {
    mctx_task *o = oldest_finished(t);
    if (!o) break;
    release(t, o);
  }
  if (body && t->bytes + len > t->max_bytes) {
    free(body);
    mctx_buf b;
    mctx_buf_init(&b, 1024);
    mctx_buf_puts(&b, "{\"status_code\":507,\"message\":\"the result is larger than the task table may keep\","
                      "\"details\":{\"field\":null,\"reason\":\"tasks-max-bytes\"}}");
    body = mctx_buf_steal(&b, &len);
    state = MCTX_TASK_FAILED;
    http_status = 507;
  }
  t->counts[k->state]--;
  if (k->cancel_requested) state = MCTX_TASK_CANCELED; /* even when it ran to the end */
  k->state = state;
  t->counts[k->state]++;
  k->http_status = http_status;
  k->body = body;
  k->body_len = body ? len : 0;
  t->bytes += k->body_len;
  k->job = NULL;
  k->finished_ms = mctx_unix_ms();
  k->finished_ns = mctx_now_ns();
  if (!k->started_ms) k->started_ms = k->finished_ms;
  pthread_mutex_unlock(&t->lock);
}

static mctx_task *find(mctx_tasks *t, const char *id, const mctx_principal *p) {
  if (strlen(id) != 36) return NULL;
  for (int i = 0; i < t->max; i++) {
    mctx_task *k = &t->slots[i];
    if (k->used && memcmp(k->id, id, 36) == 0) {
      if (p && p->role != MCTX_ROLE_ADMIN && strcmp(p->name, k->user) != 0) return NULL;
      return k;
    }
  }
  return NULL;
}

static void write_task(mctx_jw *w, const mctx_task *k, int with_body) {
  char ts[32];
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "task_id", mctx_jw_str, k->id);
  MCTX_JW_KV(w, "status", mctx_jw_str, mctx_task_state_name(k->state));
  MCTX_JW_KV(w, "request_id", mctx_jw_str, k->request_id);
  MCTX_JW_KV(w, "user", mctx_jw_str, k->user);
  mctx_iso8601(k->created_ms, ts);
  MCTX_JW_KV(w, "created_at", mctx_jw_str, ts);
  mctx_jw_key(w, "started_at");
  if (k->started_ms) { mctx_iso8601(k->started_ms, ts); mctx_jw_str(w, ts); } else mctx_jw_null(w);
  mctx_jw_key(w, "finished_at");
  if (k->finished_ms) { mctx_iso8601(k->finished_ms, ts); mctx_jw_str(w, ts); } else mctx_jw_null(w);
  if (k->state >= MCTX_TASK_DONE) MCTX_JW_KV(w, "http_status", mctx_jw_i64, k->http_status);
  if (with_body && k->body && k->state == MCTX_TASK_DONE) {
    mctx_jw_key(w, "result");
    mctx_jw_raw(w, k->body, k->body_len);
  } else if (with_body && k->body && k->http_status != 200) {
    mctx_jw_key(w, "error");
    mctx_jw_raw(w, k->body, k->body_len);
  }
  mctx_jw_end(w);
}

int mctx_tasks_status_json(mctx_tasks *t, const char *id, const mctx_principal *p, mctx_buf *out) {
  pthread_mutex_lock(&t->lock);
  mctx_task *k = find(t, id, p);
  if (!k) { pthread_mutex_unlock(&t->lock); return MCTX_ENOTFOUND; }
  mctx_jw w;
  mctx_jw_init(&w, out);
  write_task(&w, k, 1);
  pthread_mutex_unlock(&t->lock);
  return 0;
}

int mctx_tasks_cancel(mctx_tasks *t, const char *id, const mctx_principal *p, mctx_buf *out) {
  pthread_mutex_lock(&t->lock);
  mctx_task *k = find(t, id, p);
  if (!k) { pthread_mutex_unlock(&t->lock); return MCTX_ENOTFOUND; }
  mctx_jw w;
  mctx_jw_init(&w, out);
  if (k->state >= MCTX_TASK_DONE) {
    write_task(&w, k, 0);
    release(t, k);
  } else {
    /* The job stops; the worker finishes the task as canceled. It is shown
     * canceled from now on. */
    k->cancel_requested = 1;
    mctx_job_cancel(k->job);
    int prev = k->state;
    k->state = MCTX_TASK_CANCELED;
    write_task(&w, k, 0);
    k->state = prev;
  }
  pthread_mutex_unlock(&t->lock);
  return 0;
}

void mctx_tasks_list_json(mctx_tasks *t, const char *state, int limit, mctx_buf *out) {
  int want = state ? mctx_task_state_parse(state) : -1;
  pthread_mutex_lock(&t->lock);
  /* newest first: order the visible slots by creation time */
  int n = 0;
  int *idx = malloc((size_t)t->max * sizeof *idx);
  if (idx) {
    for (int i = 0; i < t->max; i++)
      if (t->slots[i].used && (want < 0 || t->slots[i].state == want)) idx[n++] = i;
    for (int i = 1; i < n; i++) { /* insertion sort: n is small and mostly ordered */
      int v = idx[i], j = i - 1;
      while (j >= 0 && t->slots[idx[j]].created_ms < t->slots[v].created_ms) { idx[j + 1] = idx[j]; j--; }
      idx[j + 1] = v;
    }
  }
  mctx_jw w;
  mctx_jw_init(&w, out);
  mctx_jw_obj(&w);
  mctx_jw_key(&w, "tasks");
  mctx_jw_arr(&w);
  for (int i = 0; i < n && i < limit; i++) write_task(&w, &t->slots[idx[i]], 0);
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "count", mctx_jw_i64, n);
  mctx_jw_key(&w, "counts");
  mctx_jw_obj(&w);
  for (int s = 0; s < MCTX_TASK_STATES; s++) MCTX_JW_KV(&w, STATE_NAMES[s], mctx_jw_i64, t->counts[s]);
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "capacity", mctx_jw_i64, t->max);
  mctx_jw_end(&w);
  pthread_mutex_unlock(&t->lock);
  free(idx);
}

size_t mctx_tasks_expire(mctx_tasks *t) {
  uint64_t now = mctx_now_ns();
  uint64_t ttl = (uint64_t)t->ttl_s * 1000000000ULL;
  size_t n = 0;
  pthread_mutex_lock(&t->lock);
  for (int i = 0; i < t->max; i++) {
    mctx_task *k = &t->slots[i];
    if (finished(k) && now - k->finished_ns >= ttl) { release(t, k); n++; }
  }
  pthread_mutex_unlock(&t->lock);
  return n;
}

void mctx_tasks_counts(mctx_tasks *t, int64_t counts[MCTX_TASK_STATES], size_t *bytes) {
  pthread_mutex_lock(&t->lock);
  memcpy(counts, t->counts, sizeof t->counts);
  if (bytes) *bytes = t->bytes;
  pthread_mutex_unlock(&t->lock);
}
