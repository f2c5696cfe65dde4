/* tests/service/test-batcher.c: the job queue's admission by queue wait
 * (service/batcher.h, max_wait_us), with real jobs on the CPU engine.
 *
 * The worker is held deterministically: with a merge delay of minutes, a
 * worker that takes a mergeable job waits for a compatible one; canceling
 * that job and flushing the batcher lets it go. While it is held, the test
 * pushes items and reads the answers of mctx_batcher_admit and _push:
 *   - the estimate: one item queued, at a measured time per job of 1.5 x
 *     the bound, refuses the next bounded item (MCTX_ETIMEOUT) although
 *     nothing has waited long yet; an unbounded item (an async task) is
 *     still taken;
 *   - the oldest item's wait: once it has waited past the bound, a bounded
 *     push is refused whatever the estimate;
 *   - at the worker: a bounded item that waited past the bound is finished
 *     MCTX_WORK_OVERDUE, not run; an unbounded one that waited as long runs;
 *   - without a bound (max_wait_us 0) nothing of this applies. */
#include "test.h"
#include "api-env.h"

#include <stdatomic.h>
#include <time.h>

#include "api/api.h"
#include "service/batcher.h"
#include "service/http.h"

static mctx_api_env env;

static void setup(void) { mctx_test_api_env(&env, 1); }

typedef struct item {
  mctx_work w;
  atomic_int done;
  int outcome;
} item;

static int on_done(mctx_work *w) {
  item *it = (item *)w;
  it->outcome = w->outcome;
  atomic_store(&it->done, 1);
  return 0;
}

/* A job: the mock model, 16 actions; `sims` sets its batch key (jobs with
 * different simulation counts never merge) and its cost. */
static mctx_job *job(const char *model, int actions, int sims, int seed) {
  char body[256];
  snprintf(body, sizeof body,
           "{\"root_input\": {\"batch_size\": 1, \"num_actions\": %d}, \"model\": \"%s\", "
           "\"search_type\": \"gumbel_muzero\", \"search_params\": {\"num_simulations\": %d, \"seed\": %d}}",
           actions, model, sims, seed);
  mctx_job *j = NULL;
  mctx_status st;
  if (mctx_job_prepare(&env, body, strlen(body), NULL, NULL, &j, &st) != 0) return NULL;
  return j;
}

static void item_init(item *it, mctx_job *j, int bounded) {
  memset(it, 0, sizeof *it);
  it->w.job = j;
  it->w.deadline_ns = UINT64_MAX;
  it->w.on_done = on_done;
  it->w.bounded = bounded;
  it->outcome = -1;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits (up to a minute) until the worker holds one item and none is queued. */
static int held(mctx_batcher *b) {
  for (int i = 0; i < 60000; i++) {
    if (mctx_batcher_running(b) == 1 && mctx_batcher_depth(b) == 0) return 1;
    sleep_ms(1);
  }
  return 0;
}

static int wait_done(item *it) {
  for (int i = 0; i < 600000 && !atomic_load(&it->done); i++) sleep_ms(1);
  return atomic_load(&it->done);
}

/* Runs bounded jobs until the batcher's time per job (a moving average) is
 * over `seconds`: the job doubles in size until one takes 1.5 x that (the
 * machine's speed, and the sanitizers', vary), then repeats. */
static int slow_jobs(mctx_batcher *b, double seconds) {
  int sims = 500;
  for (int runs = 0; runs < 100 && mctx_batcher_job_seconds(b) <= seconds; runs++) {
    item it;
    item_init(&it, job("synthetic", 64, sims, 1), 1);
    if (it.w.job) mctx_job_keep_tree(it.w.job); /* runs alone: nothing to wait for */
    if (!it.w.job || mctx_batcher_push(b, &it.w) != 0) return 0;
    int ok = wait_done(&it) && it.outcome == MCTX_WORK_RAN;
    double took = (double)(it.w.finished_ns - it.w.started_ns) / 1e9;
    mctx_job_free(it.w.job);
    if (!ok) return 0;
    if (took < 1.5 * seconds && sims < 1 << 16) sims *= 2;
  }
  return mctx_batcher_job_seconds(b) > seconds;
}

TEST(wait_bound) {
  setup();
  ASSERT(env.cpu != NULL);
  const int bound_ms = 10;
  mctx_batcher_opts o = {1, 16, 4, 600 * 1000 * 1000, bound_ms * 1000};
  mctx_status st;
  mctx_batcher *b = mctx_batcher_start(&o, &env, NULL, NULL, &st);
  ASSERT(b != NULL);
  ASSERT_NEAR(mctx_batcher_max_wait_s(b), 0.010, 1e-9);
  ASSERT(mctx_batcher_job_seconds(b) == 0.0);
  /* alone, each job runs at once (nothing to merge with it is queued) */
  ASSERT(slow_jobs(b, 1.5 * bound_ms / 1e3));

  item hold, a, c, d, e;
  item_init(&hold, job("mock", 16, 16, 1), 0);
  ASSERT(mctx_batcher_push(b, &hold.w) == 0);
  ASSERT(held(b));
  /* nothing queued: admitted */
  ASSERT_EQ(mctx_batcher_admit(b), 0);
  item_init(&a, job("mock", 16, 20, 1), 1);
  ASSERT_EQ(mctx_batcher_push(b, &a.w), 0);
  /* one queued item, at a time per job over the bound: a bounded item
   * would wait past it, though the queued one has only just arrived */
  ASSERT_EQ(mctx_batcher_admit(b), MCTX_ETIMEOUT);
  item_init(&d, job("mock", 16, 24, 1), 1);
  ASSERT_EQ(mctx_batcher_push(b, &d.w), MCTX_ETIMEOUT);
  ASSERT(!atomic_load(&d.done)); /* refused: not taken, no on_done */
  /* an unbounded item (an async task) is taken */
  item_init(&c, job("mock", 16, 24, 2), 0);
  ASSERT_EQ(mctx_batcher_push(b, &c.w), 0);
  ASSERT_EQ((int)mctx_batcher_depth(b), 2);
  /* past the bound, the oldest item's wait alone refuses */
  sleep_ms(2 * bound_ms);
  ASSERT_EQ(mctx_batcher_push(b, &d.w), MCTX_ETIMEOUT);

  /* let the worker go: the held job canceled, no more waiting to merge */
  mctx_job_cancel(hold.w.job);
  mctx_batcher_flush(b);
  ASSERT(wait_done(&hold) && wait_done(&a) && wait_done(&c));
  ASSERT_EQ(hold.outcome, MCTX_WORK_CANCELED);
  ASSERT_EQ(a.outcome, MCTX_WORK_OVERDUE);  /* waited past the bound: not run */
  ASSERT_EQ(a.w.batch_jobs, 0);
  ASSERT_EQ(c.outcome, MCTX_WORK_RAN);      /* unbounded: run however long it waited */
  ASSERT(c.w.started_ns - c.w.enqueued_ns > (uint64_t)bound_ms * 1000000ULL);

  /* idle again: admitted, and a bounded item that waits for nothing runs */
  ASSERT(mctx_batcher_wait_idle(b, 60000) == 0);
  ASSERT_EQ(mctx_batcher_admit(b), 0);
  item_init(&e, job("mock", 16, 28, 1), 1);
  ASSERT_EQ(mctx_batcher_push(b, &e.w), 0);
  ASSERT(wait_done(&e));
  ASSERT_EQ(e.outcome, MCTX_WORK_RAN);
  mctx_batcher_stop(b);
  item *all[] = {&hold, &a, &c, &d, &e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mctx_job_free(all[i]->w.job);
}

TEST(no_bound) {
  setup();
  ASSERT(env.cpu != NULL);
  mctx_batcher_opts o = {1, 16, 4, 600 * 1000 * 1000, 0};
  mctx_status st;
  mctx_batcher *b = mctx_batcher_start(&o, &env, NULL, NULL, &st);
  ASSERT(b != NULL);
  ASSERT(mctx_batcher_max_wait_s(b) == 0.0);
  ASSERT(slow_jobs(b, 0.005));
  item hold, a, d;
  item_init(&hold, job("mock", 16, 16, 1), 0);
  ASSERT(mctx_batcher_push(b, &hold.w) == 0);
  ASSERT(held(b));
  item_init(&a, job("mock", 16, 20, 1), 1);
  ASSERT_EQ(mctx_batcher_push(b, &a.w), 0);
  sleep_ms(20);
  /* bounded items, but no bound: queued whatever the wait, and run */
  ASSERT_EQ(mctx_batcher_admit(b), 0);
  item_init(&d, job("mock", 16, 24, 1), 1);
  ASSERT_EQ(mctx_batcher_push(b, &d.w), 0);
  mctx_job_cancel(hold.w.job);
  mctx_batcher_flush(b);
  ASSERT(wait_done(&hold) && wait_done(&a) && wait_done(&d));
  ASSERT_EQ(a.outcome, MCTX_WORK_RAN);
  ASSERT_EQ(d.outcome, MCTX_WORK_RAN);
  mctx_batcher_stop(b);
  mctx_job_free(hold.w.job);
  mctx_job_free(a.w.job);
  mctx_job_free(d.w.job);
}
