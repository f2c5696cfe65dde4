/* util/buf.c: the capped growable buffer of buf.h. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mctx_buf_init(mctx_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max ? max : (SIZE_MAX / 2);
}

void mctx_buf_free(mctx_buf *b) {
  if (!b) return;
  free(b->data);
  size_t max = b->max;
  memset(b, 0, sizeof *b);
  b->max = max;
}

void mctx_buf_reset(mctx_buf *b) {
  b->len = 0;
  b->failed = 0;
  if (b->data) b->data[0] = '\0';
}

int mctx_buf_reserve(mctx_buf *b, size_t n) {
  if (b->failed) return -1;
  if (n > b->max - b->len) { b->failed = 1; return -1; }
  size_t need = b->len + n + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap < (SIZE_MAX / 4) ? cap * 2 : need;
  if (cap > b->max + 1) cap = b->max + 1;
  if (cap < need) cap = need;
  char *p = realloc(b->data, cap);
  if (!p) { b->failed = 1; return -1; }
  b->data = p;
  b->cap = cap;
  return 0;
}

int mctx_buf_append(mctx_buf *b, const void *p, size_t n) {
  if (mctx_buf_reserve(b, n) != 0) return -1;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int mctx_buf_puts(mctx_buf *b, const char *s) { return mctx_buf_append(b, s, strlen(s)); }

int mctx_buf_putc(mctx_buf *b, char c) {
  if (b->len + 1 < b->cap && !b->failed && b->len < b->max) {
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
  }
  return mctx_buf_append(b, &c, 1);
}

int mctx_buf_printf(mctx_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) { b->failed = 1; return -1; }
  if ((size_t)n < sizeof tmp) return mctx_buf_append(b, tmp, (size_t)n);
  if (mctx_buf_reserve(b, (size_t)n) != 0) return -1;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

const char *mctx_buf_cstr(mctx_buf *b) { return b->data ? b->data : ""; }

char *mctx_buf_steal(mctx_buf *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  if (!p) { p = malloc(1); if (p) p[0] = '\0'; }
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
