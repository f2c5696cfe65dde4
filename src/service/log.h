/* service/log.h: the service's log, one JSON object per line on stderr.
 *
 * A line is built on the caller's stack and written with one write(2), so
 * lines from concurrent threads never interleave:
 *
 *   mctx_logline l;
 *   if (mctx_log_begin(&l, MCTX_LOG_INFO, "request")) {
 *     mctx_log_str(&l, "route", "/api/v1/mcts/search");
 *     mctx_log_int(&l, "status", 200);
 *     mctx_log_end(&l);
 *   }
 *
 * Every line carries "time" (UTC, ISO 8601 with milliseconds), "level" and
 * "msg". A line longer than the buffer is cut and still valid JSON. */
#ifndef MCTX_SERVICE_LOG_H
#define MCTX_SERVICE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum { MCTX_LOG_DEBUG = 0, MCTX_LOG_INFO = 1, MCTX_LOG_WARN = 2, MCTX_LOG_ERROR = 3, MCTX_LOG_OFF = 4 };

#define MCTX_LOGLINE_MAX 2048

typedef struct mctx_logline {
  char buf[MCTX_LOGLINE_MAX];
  size_t len;
  int truncated;
} mctx_logline;

/* Sets the lowest level written (MCTX_LOG_INFO by default). Thread-safe. */
void mctx_log_set_level(int level);
/* Parses "debug", "info", "warn", "error" or "off". Returns the level, or -1. */
int mctx_log_level_parse(const char *s);
/* The level's name ("info"). */
const char *mctx_log_level_name(int level);

/* Starts a line. Returns 0 (and writes nothing) when `level` is below the
 * configured level; the caller then skips the rest. */
int mctx_log_begin(mctx_logline *l, int level, const char *msg);
/* Adds a string member (escaped; NULL writes null). */
void mctx_log_str(mctx_logline *l, const char *key, const char *val);
void mctx_log_int(mctx_logline *l, const char *key, int64_t val);
/* Adds a number with three decimals (durations in milliseconds). */
void mctx_log_ms(mctx_logline *l, const char *key, double val);
/* Closes the line and writes it to stderr. */
void mctx_log_end(mctx_logline *l);

/* A line with a message only: mctx_logf(MCTX_LOG_WARN, "spool at %d%%", n). */
void mctx_logf(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
