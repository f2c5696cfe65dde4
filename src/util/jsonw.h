/* util/jsonw.h: a streaming JSON writer into a capped mctx_buf.
 *
 * Commas and nesting are tracked here so callers write values in order:
 *   mctx_jw_obj(w); mctx_jw_key(w, "a"); mctx_jw_f32(w, 1.5f); mctx_jw_end(w);
 * Numbers use util/numfmt (shortest round-trip); strings are escaped to valid
 * JSON, and bytes that are not valid UTF-8 are written as U+FFFD, so the
 * output is valid JSON whatever the text holds. The buffer's cap bounds the
 * output; check w->buf->failed at the end. */
#ifndef MCTX_UTIL_JSONW_H
#define MCTX_UTIL_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define MCTX_JW_MAX_DEPTH 2048

typedef struct mctx_jw {
  mctx_buf *buf;
  int depth;
  uint8_t first[MCTX_JW_MAX_DEPTH]; /* no value written yet at this level */
  uint8_t kind[MCTX_JW_MAX_DEPTH];  /* '{' or '[' */
  uint8_t after_key;
} mctx_jw;

void mctx_jw_init(mctx_jw *w, mctx_buf *buf);
void mctx_jw_obj(mctx_jw *w);
void mctx_jw_arr(mctx_jw *w);
void mctx_jw_end(mctx_jw *w);            /* closes the innermost object or array */
void mctx_jw_key(mctx_jw *w, const char *key);
void mctx_jw_str(mctx_jw *w, const char *s);
void mctx_jw_strn(mctx_jw *w, const char *s, size_t n);
void mctx_jw_f32(mctx_jw *w, float v);
void mctx_jw_f64(mctx_jw *w, double v);
void mctx_jw_i64(mctx_jw *w, int64_t v);
void mctx_jw_bool(mctx_jw *w, int v);
void mctx_jw_null(mctx_jw *w);
/* Inserts `n` bytes of already valid JSON as one value. */
void mctx_jw_raw(mctx_jw *w, const char *json, size_t n);
/* Arrays of numbers in one call: [v0,v1,...]. */
void mctx_jw_f32_array(mctx_jw *w, const float *v, size_t n);
void mctx_jw_i32_array(mctx_jw *w, const int32_t *v, size_t n);

/* The length (1 to 4) of the valid UTF-8 sequence at s[0..n), or 0 when
 * s does not start with one (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF). */
size_t mctx_utf8_seq(const char *s, size_t n);

/* Convenience: key + value. */
#define MCTX_JW_KV(w, k, fn, v) (mctx_jw_key((w), (k)), fn((w), (v)))

#endif
