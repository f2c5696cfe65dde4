/* service/tasks.h: the table of async search tasks.
 *
 * POST /api/v1/tasks/search/async makes a task around a prepared job and
 * queues it; the worker that runs it stores the result (or the error
 * envelope) here. The table is bounded three ways: at most `max` tasks, a
 * finished task is forgotten `ttl_s` seconds after it finished, and the
 * results kept take at most `max_bytes` (older finished tasks are dropped
 * first). Pending and running tasks are never dropped; when the table is full
 * of them, new tasks are refused (503). A user sees only their own tasks;
 * admin sees all. Thread-safe. */
#ifndef MCTX_SERVICE_TASKS_H
#define MCTX_SERVICE_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "service/auth.h"
#include "util/buf.h"

enum {
  MCTX_TASK_PENDING = 0, MCTX_TASK_RUNNING, MCTX_TASK_DONE, MCTX_TASK_FAILED, MCTX_TASK_CANCELED,
  MCTX_TASK_STATES
};

typedef struct mctx_task mctx_task;
typedef struct mctx_tasks mctx_tasks;

/* Makes an empty table of `max` tasks whose finished results are kept ttl_s
 * seconds and max_bytes in all. NULL when out of memory. */
mctx_tasks *mctx_tasks_new(int max, int ttl_s, size_t max_bytes);
/* Frees the table and the results it holds. No task may still hold a job.
 * NULL is a harmless no-op. */
void mctx_tasks_free(mctx_tasks *t);

/* Makes a pending task for `job` (borrowed until mctx_tasks_finish). Returns
 * 0 with *out and its id copied to id_out, or MCTX_EBUSY when full. */
int mctx_tasks_add(mctx_tasks *t, const char *user, const char *request_id, mctx_job *job, mctx_task **out,
                   char id_out[40]);
/* Forgets a task that could not be queued. */
void mctx_tasks_discard(mctx_tasks *t, mctx_task *task);
/* A worker took the task's job. */
void mctx_tasks_started(mctx_tasks *t, mctx_task *task);
/* The job ended: state is DONE, FAILED or CANCELED; `body` (malloc'd, taken
 * over, may be NULL) is the result or the error envelope; http_status is
 * what a synchronous search would have answered. After this the task no
 * longer refers to the job. */
void mctx_tasks_finish(mctx_tasks *t, mctx_task *task, int state, int http_status, char *body, size_t len);

/* Writes the task's status object to out. Returns 0, or MCTX_ENOTFOUND when
 * there is no such task visible to p. */
int mctx_tasks_status_json(mctx_tasks *t, const char *id, const mctx_principal *p, mctx_buf *out);
/* Cancels a pending or running task (its job stops), or forgets a finished
 * one. Writes the task's status object (before forgetting). Returns 0 or
 * MCTX_ENOTFOUND. */
int mctx_tasks_cancel(mctx_tasks *t, const char *id, const mctx_principal *p, mctx_buf *out);
/* Writes {"tasks": [...summaries, newest first...], "count": n, "counts": {...}}
 * of at most `limit` tasks, optionally of one state name. */
void mctx_tasks_list_json(mctx_tasks *t, const char *state, int limit, mctx_buf *out);
/* Forgets finished tasks older than the TTL. Returns how many. */
size_t mctx_tasks_expire(mctx_tasks *t);
/* Tasks per state, and bytes of results kept. */
void mctx_tasks_counts(mctx_tasks *t, int64_t counts[MCTX_TASK_STATES], size_t *bytes);
/* "pending", "running", "done", "failed", "canceled"; -1 from parse when unknown. */
const char *mctx_task_state_name(int state);
int mctx_task_state_parse(const char *s);

/* Formats Unix milliseconds as ISO 8601 UTC ("2026-11-25T03:13:37.123Z"). */
void mctx_iso8601(int64_t ms, char out[32]);
/* Unix time in milliseconds. */
int64_t mctx_unix_ms(void);

#endif
