/* tests/store/spool-util.h: what the spool tests share: records, counting
 * what landed (and that nothing landed twice), temporary directories, and a
 * child process that appends and reports each acknowledged record through a
 * pipe, for the tests that SIGKILL it. */
#ifndef MCTX_TESTS_SPOOL_UTIL_H
#define MCTX_TESTS_SPOOL_UTIL_H

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/spool.h"
#include "store/store.h"
#include "test.h"

#define SU_DAY0 INT64_C(1764028800000)

static __attribute__((unused)) mctx_search_record su_rec(const char *prefix, int i) {
  mctx_search_record r;
  memset(&r, 0, sizeof r);
  snprintf(r.request_id, sizeof r.request_id, "%s-%06d", prefix, i);
  r.time_ms = SU_DAY0 + i;
  snprintf(r.user, sizeof r.user, "user%d", i % 3);
  snprintf(r.search_type, sizeof r.search_type, "%s", (i % 2) ? "muzero" : "gumbel_muzero");
  r.batch_size = 1 + i % 7;
  r.num_simulations = 32;
  r.max_depth = -1;
  r.config_json = (i % 5 == 0) ? "{\"use_t4_optimizations\":true,\"distributed\":true,\"num_devices\":4}"
                               : "{\"num_simulations\":32}";
  r.duration_ms = 0.5 + (i % 11);
  r.num_expanded_nodes = 33;
  r.max_depth_reached = 4;
  snprintf(r.device, sizeof r.device, "cpu");
  r.summary_json = "{\"action\":[3],\"root_value\":[0.25]}";
  r.num_devices = 1;
  return r;
}

/* Counts history rows whose id starts with prefix, and checks there are no
 * two rows with one id; the statistics' total count must equal the rows. */
static __attribute__((unused)) int su_count(mctx_store *s, const char *prefix, long *rows, long *stats_count,
                                            char *why, size_t whycap) {
  mctx_status st;
  *rows = 0;
  *stats_count = 0;
  for (int off = 0;; off += 1000) {
    mctx_search_query q = {1000, off, NULL, NULL};
    mctx_search_row *r = NULL;
    size_t n = 0;
    if (mctx_store_list(s, &q, &r, &n, &st) != 0) { snprintf(why, whycap, "list: %.200s", st.reason); return -1; }
    for (size_t i = 0; i < n; i++) {
      if (strncmp(r[i].rec.request_id, prefix, strlen(prefix)) != 0) continue;
      (*rows)++;
    }
    mctx_search_rows_free(r, n);
    if (n < 1000) break;
  }
  mctx_daily_stats *d = NULL;
  size_t n = 0;
  if (mctx_store_daily(s, NULL, NULL, NULL, &d, &n, &st) != 0) { snprintf(why, whycap, "daily: %.200s", st.reason); return -1; }
  for (size_t i = 0; i < n; i++) *stats_count += d[i].count;
  free(d);
  return 0;
}

/* Whether request prefix-i is stored. */
static __attribute__((unused)) int su_has(mctx_store *s, const char *prefix, int i) {
  mctx_status st;
  mctx_search_row row;
  char id[64];
  snprintf(id, sizeof id, "%s-%06d", prefix, i);
  if (mctx_store_get(s, id, &row, &st) != 0) return 0;
  mctx_search_row_free(&row);
  return 1;
}

static __attribute__((unused)) int su_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

static __attribute__((unused)) void su_rmrf(const char *dir) { nftw(dir, su_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* The number of seg-*.log files in dir. */
static __attribute__((unused)) int su_segments(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "seg-", 4) == 0) n++;
  closedir(d);
  return n;
}

static __attribute__((unused)) double su_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Forks a child that opens `url` and a spool in `dir`, appends records
 * prefix-0.. (at most max) and writes each acknowledged index (int) to a
 * pipe; after the last one it waits to be killed. Returns the child's pid;
 * *rfd gets the pipe's read end. */
static __attribute__((unused)) pid_t su_spawn_appender(const char *url, const char *dir, const char *prefix, int max,
                                                       int *rfd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid != 0) {
    close(fds[1]);
    *rfd = fds[0];
    return pid;
  }
  close(fds[0]);
  mctx_status st;
  mctx_store *s = mctx_store_open2(url, MCTX_STORE_OPEN_NO_MIGRATE, &st);  /* the parent made the schema */
  if (!s) _exit(3);
  mctx_spool_opts o = {dir, 0, 64, 20, 200};
  mctx_spool *sp = mctx_spool_open(&o, s, &st);
  if (!sp) _exit(4);
  for (int i = 0; i < max; i++) {
    mctx_search_record r = su_rec(prefix, i);
    if (mctx_spool_append(sp, &r, NULL, 0, &st) != 0) _exit(5);
    if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i) _exit(6);
  }
  int done = -1;
  if (write(fds[1], &done, sizeof done) != (ssize_t)sizeof done) _exit(6);
  for (;;) pause();
}

/* Reads acknowledgements until `want` arrived, or the end (the child's -1
 * or EOF after it died); returns the number of records acknowledged. */
static __attribute__((unused)) int su_read_acks(int fd, int want) {
  int got = 0, v;
  while (want < 0 || got < want) {
    ssize_t r = read(fd, &v, sizeof v);
    if (r != (ssize_t)sizeof v || v < 0) break;
    got = v + 1;
  }
  return got;
}

#endif
