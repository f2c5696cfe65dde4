/* service/log.c: JSON lines on stderr (log.h).
 *
 * Each line is assembled in a fixed buffer on the caller's stack, escaped as
 * JSON, and written with a single write(2) so that the lines of concurrent
 * threads stay whole. Nothing here allocates. */
#include "service/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/jsonw.h"

static atomic_int g_level = MCTX_LOG_INFO;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error", "off"};

void mctx_log_set_level(int level) { atomic_store(&g_level, level); }

int mctx_log_level_parse(const char *s) {
  for (int i = 0; i <= MCTX_LOG_OFF; i++)
    if (strcmp(s, LEVEL_NAMES[i]) == 0) return i;
  if (strcmp(s, "warning") == 0) return MCTX_LOG_WARN;
  return -1;
}

const char *mctx_log_level_name(int level) {
  return level >= 0 && level <= MCTX_LOG_OFF ? LEVEL_NAMES[level] : "?";
}

/* Room kept at the end of the buffer for "}\n" and a truncation marker. */
#define RESERVE 32

static void put_raw(mctx_logline *l, const char *s, size_t n) {
  if (l->truncated) return;
  if (l->len + n > MCTX_LOGLINE_MAX - RESERVE) {
    l->truncated = 1;
    return;
  }
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

/* Appends a JSON string; a string that does not fit is cut (on a whole
 * escape) and ends with "...". */
static void put_string(mctx_logline *l, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (l->truncated) return;
  size_t limit = MCTX_LOGLINE_MAX - RESERVE;
  if (l->len + 2 > limit) { l->truncated = 1; return; }
  l->buf[l->len++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char e[6];
    size_t n = 0;
    unsigned char c = *p;
    if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; n = 2; }
    else if (c == '\n') { e[0] = '\\'; e[1] = 'n'; n = 2; }
    else if (c < 0x20 || c == 0x7f) {
      e[0] = '\\'; e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15]; n = 6;
    } else if (c >= 0x80) {
      /* a whole UTF-8 character, or U+FFFD for a byte that is not one (a
       * client's path or header): the line stays valid JSON */
      size_t k = mctx_utf8_seq((const char *)p, strnlen((const char *)p, 4));
      if (k) { memcpy(e, p, k); n = k; p += k - 1; }
      else { memcpy(e, "\\ufffd", 6); n = 6; }
    } else { e[0] = (char)c; n = 1; }
    if (l->len + n + 4 > limit) {
      memcpy(l->buf + l->len, "...", 3);
      l->len += 3;
      break;
    }
    memcpy(l->buf + l->len, e, n);
    l->len += n;
  }
  l->buf[l->len++] = '"';
}

static void put_key(mctx_logline *l, const char *key) {
  put_raw(l, ",", 1);
  put_string(l, key);
  put_raw(l, ":", 1);
}

int mctx_log_begin(mctx_logline *l, int level, const char *msg) {
  if (level < atomic_load(&g_level)) return 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  l->len = 0;
  l->truncated = 0;
  int n = snprintf(l->buf, MCTX_LOGLINE_MAX, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000L, mctx_log_level_name(level));
  l->len = n > 0 ? (size_t)n : 0;
  put_key(l, "msg");
  put_string(l, msg ? msg : "");
  return 1;
}

void mctx_log_str(mctx_logline *l, const char *key, const char *val) {
  put_key(l, key);
  if (val) put_string(l, val);
  else put_raw(l, "null", 4);
}

void mctx_log_int(mctx_logline *l, const char *key, int64_t val) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, val);
  put_key(l, key);
  put_raw(l, tmp, (size_t)n);
}

void mctx_log_ms(mctx_logline *l, const char *key, double val) {
  char tmp[48];
  int n = snprintf(tmp, sizeof tmp, "%.3f", val);
  if (n <= 0 || n >= (int)sizeof tmp || val != val) { put_key(l, key); put_raw(l, "null", 4); return; }
  put_key(l, key);
  put_raw(l, tmp, (size_t)n);
}

void mctx_log_end(mctx_logline *l) {
  if (l->truncated) {
    static const char mark[] = ",\"truncated\":true";
    memcpy(l->buf + l->len, mark, sizeof mark - 1);
    l->len += sizeof mark - 1;
  }
  l->buf[l->len++] = '}';
  l->buf[l->len++] = '\n';
  size_t off = 0;
  while (off < l->len) {
    ssize_t w = write(STDERR_FILENO, l->buf + off, l->len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
}

void mctx_logf(int level, const char *fmt, ...) {
  mctx_logline l;
  if (level < atomic_load(&g_level)) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (mctx_log_begin(&l, level, msg)) mctx_log_end(&l);
}
