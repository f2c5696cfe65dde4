/* util/buf.h: a growable byte buffer with a hard size cap (curl's dynbuf).
 * An append that would pass the cap fails cleanly and leaves the buffer as it
 * was; nothing in mctx-c grows without bound. */
#ifndef MCTX_UTIL_BUF_H
#define MCTX_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct mctx_buf {
  char *data;     /* NUL-terminated when len > 0 or after mctx_buf_cstr() */
  size_t len;
  size_t cap;     /* allocated bytes */
  size_t max;     /* hard cap on len; 0 means SIZE_MAX/2 */
  int failed;     /* set once an append failed (cap or allocation) */
} mctx_buf;

/* Initializes an empty buffer that may hold at most `max` bytes. */
void mctx_buf_init(mctx_buf *b, size_t max);
/* Frees the storage; the buffer may be initialized again. NULL is a no-op. */
void mctx_buf_free(mctx_buf *b);
/* Empties the buffer, keeping its storage and its failure flag cleared. */
void mctx_buf_reset(mctx_buf *b);
/* Ensures room for `n` more bytes. Returns 0, or -1 (and sets failed). */
int mctx_buf_reserve(mctx_buf *b, size_t n);
int mctx_buf_append(mctx_buf *b, const void *p, size_t n);
int mctx_buf_puts(mctx_buf *b, const char *s);
int mctx_buf_putc(mctx_buf *b, char c);
int mctx_buf_printf(mctx_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Returns the contents as a C string (never NULL; "" when empty). */
const char *mctx_buf_cstr(mctx_buf *b);
/* Hands the storage to the caller (free() it); the buffer becomes empty. */
char *mctx_buf_steal(mctx_buf *b, size_t *len);

#endif
