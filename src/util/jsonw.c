/* util/jsonw.c: the streaming JSON writer of jsonw.h. */
#include "util/jsonw.h"

#include <string.h>

#include "util/numfmt.h"

void mctx_jw_init(mctx_jw *w, mctx_buf *buf) {
  memset(w, 0, sizeof *w);
  w->buf = buf;
  w->first[0] = 1;
}

static void sep(mctx_jw *w) {
  if (w->after_key) { w->after_key = 0; return; }
  if (!w->first[w->depth]) mctx_buf_putc(w->buf, ',');
  w->first[w->depth] = 0;
}

static void open_(mctx_jw *w, char c) {
  sep(w);
  mctx_buf_putc(w->buf, c);
  if (w->depth + 1 < MCTX_JW_MAX_DEPTH) w->depth++;
  else w->buf->failed = 1;
  w->first[w->depth] = 1;
  w->kind[w->depth] = (uint8_t)c;
}

void mctx_jw_obj(mctx_jw *w) { open_(w, '{'); }
void mctx_jw_arr(mctx_jw *w) { open_(w, '['); }

void mctx_jw_end(mctx_jw *w) {
  if (w->depth == 0) { w->buf->failed = 1; return; }
  mctx_buf_putc(w->buf, w->kind[w->depth] == '{' ? '}' : ']');
  w->depth--;
}

size_t mctx_utf8_seq(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* the second byte's range (RFC 3629, table 3-7 of Unicode) */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }        /* no overlong forms */
  else if (c >= 0xE1 && c <= 0xEC) len = 3;
  else if (c == 0xED) { len = 3; hi = 0x9F; }         /* no surrogates */
  else if (c >= 0xEE && c <= 0xEF) len = 3;
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }         /* at most U+10FFFF */
  else return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

static void put_escaped(mctx_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  mctx_buf_putc(b, '"');
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
      if (c < 0x80) continue;
      /* UTF-8 goes through as it is; a byte that is not part of a valid
       * sequence (a text cut in the middle of a character, a client's
       * bytes) would make the document invalid JSON: it becomes U+FFFD. */
      size_t k = mctx_utf8_seq(s + i, n - i);
      if (k) { i += k - 1; continue; }
    }
    if (i > start) mctx_buf_append(b, s + start, i - start);
    char e[7] = {'\\', 0, 0, 0, 0, 0, 0};
    size_t el = 2;
    if (c >= 0x80) {
      mctx_buf_append(b, "\\ufffd", 6);
      start = i + 1;
      continue;
    }
    switch (c) {
      case '"': e[1] = '"'; break;
      case '\\': e[1] = '\\'; break;
      case '\n': e[1] = 'n'; break;
      case '\r': e[1] = 'r'; break;
      case '\t': e[1] = 't'; break;
      default:
        e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15]; el = 6;
    }
    mctx_buf_append(b, e, el);
    start = i + 1;
  }
  if (n > start) mctx_buf_append(b, s + start, n - start);
  mctx_buf_putc(b, '"');
}

void mctx_jw_key(mctx_jw *w, const char *key) {
  sep(w);
  put_escaped(w->buf, key, strlen(key));
  mctx_buf_putc(w->buf, ':');
  w->after_key = 1;
}

void mctx_jw_str(mctx_jw *w, const char *s) { mctx_jw_strn(w, s, strlen(s)); }
void mctx_jw_strn(mctx_jw *w, const char *s, size_t n) { sep(w); put_escaped(w->buf, s, n); }

void mctx_jw_f32(mctx_jw *w, float v) {
  char tmp[MCTX_NUMFMT_MAX];
  size_t n = mctx_fmt_f32(tmp, v);
  sep(w);
  mctx_buf_append(w->buf, tmp, n);
}

void mctx_jw_f64(mctx_jw *w, double v) {
  char tmp[MCTX_NUMFMT_MAX + 16];
  size_t n = mctx_fmt_f64(tmp, v);
  sep(w);
  mctx_buf_append(w->buf, tmp, n);
}

void mctx_jw_i64(mctx_jw *w, int64_t v) {
  char tmp[MCTX_NUMFMT_MAX];
  size_t n = mctx_fmt_i64(tmp, v);
  sep(w);
  mctx_buf_append(w->buf, tmp, n);
}

void mctx_jw_bool(mctx_jw *w, int v) { sep(w); mctx_buf_puts(w->buf, v ? "true" : "false"); }
void mctx_jw_null(mctx_jw *w) { sep(w); mctx_buf_puts(w->buf, "null"); }
void mctx_jw_raw(mctx_jw *w, const char *json, size_t n) { sep(w); mctx_buf_append(w->buf, json, n); }

void mctx_jw_f32_array(mctx_jw *w, const float *v, size_t n) {
  sep(w);
  mctx_buf *b = w->buf;
  if (mctx_buf_reserve(b, n * (MCTX_NUMFMT_MAX + 1) + 2) != 0) return;
  char *p = b->data + b->len;
  *p++ = '[';
  for (size_t i = 0; i < n; i++) {
    if (i) *p++ = ',';
    p += mctx_fmt_f32(p, v[i]);
  }
  *p++ = ']';
  b->len = (size_t)(p - b->data);
  b->data[b->len] = '\0';
}

void mctx_jw_i32_array(mctx_jw *w, const int32_t *v, size_t n) {
  sep(w);
  mctx_buf *b = w->buf;
  if (mctx_buf_reserve(b, n * 12 + 2) != 0) return;
  char *p = b->data + b->len;
  *p++ = '[';
  for (size_t i = 0; i < n; i++) {
    if (i) *p++ = ',';
    p += mctx_fmt_i64(p, v[i]);
  }
  *p++ = ']';
  b->len = (size_t)(p - b->data);
  b->data[b->len] = '\0';
}
