/* util/numfmt.h: fast conversion between numbers and JSON text.
 *
 * The request and result of a batch of 1024 x 64 actions carry hundreds of
 * thousands of numbers, so printf and strtod are too slow for them. These
 * functions print the shortest decimal that reads back to the same float32
 * (or float64), and parse decimal text with an exact fast path. */
#ifndef MCTX_UTIL_NUMFMT_H
#define MCTX_UTIL_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#define MCTX_NUMFMT_MAX 32 /* bytes a formatted number may take, with NUL */

/* Writes the shortest decimal that reads back to `f` and returns its length.
 * Non-finite values print as "null" (JSON has no NaN or infinity). */
size_t mctx_fmt_f32(char *out, float f);
/* The same for a double (17 significant digits at most). */
size_t mctx_fmt_f64(char *out, double d);
size_t mctx_fmt_i64(char *out, int64_t v);

/* Parses a JSON number of `n` bytes (not NUL-terminated). Sets *d, and when
 * the text is an integer in int64 range sets *is_int and *i. Returns 0, or -1
 * when the text is not a number. */
int mctx_parse_number(const char *s, size_t n, double *d, int64_t *i, int *is_int);

#endif
