/* mctx/errors.h: the one error list of mctx-c.
 *
 * Every function that can fail on user input returns 0 on success or one of
 * the negative codes below, and fills an mctx_status with the field at fault
 * and the reason, so that a caller can show a precise message. Programmer
 * errors (a NULL where the header says non-NULL) are assertions, not codes.
 *
 * The list is an X-macro: it generates the enum, mctx_strerror() and
 * mctx_err_name(). The service maps codes to HTTP statuses in one place.
 */
#ifndef MCTX_ERRORS_H
#define MCTX_ERRORS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, code, description) */
#define MCTX_ERRNO_MAP(XX)                                              \
  XX(INVALID,     -1,  "invalid argument")                              \
  XX(NOMEM,       -2,  "out of memory")                                 \
  XX(RANGE,       -3,  "value out of range")                            \
  XX(SHAPE,       -4,  "shape mismatch")                                \
  XX(NOTFOUND,    -5,  "not found")                                     \
  XX(UNSUPPORTED, -6,  "not supported")                                 \
  XX(MODEL,       -7,  "model failure")                                 \
  XX(NONFINITE,   -8,  "non-finite number")                             \
  XX(LIMIT,       -9,  "limit exceeded")                                \
  XX(IO,          -10, "input/output error")                            \
  XX(PARSE,       -11, "malformed input")                               \
  XX(DEVICE,      -12, "device error")                                  \
  XX(CANCELED,    -13, "canceled")                                      \
  XX(TIMEOUT,     -14, "timed out")                                     \
  XX(BUSY,        -15, "busy")                                          \
  XX(TYPE,        -16, "wrong type")                                    \
  XX(MISSING,     -17, "missing field")                                 \
  XX(DB,          -18, "database error")                                \
  XX(INTERNAL,    -19, "internal error")

typedef enum mctx_errno {
  MCTX_OK = 0,
#define MCTX__ERR_ENUM(name, code, desc) MCTX_E##name = (code),
  MCTX_ERRNO_MAP(MCTX__ERR_ENUM)
#undef MCTX__ERR_ENUM
} mctx_errno;

/* A returned error with its context. `field` is a dotted path into the request
 * ("root_input.prior_logits[3][7]"), empty when no field is at fault. */
typedef struct mctx_status {
  int code;
  char field[128];
  char reason[384];
} mctx_status;

/* Returns a static description of `code` ("shape mismatch"); never NULL. */
const char *mctx_strerror(int code);
/* Returns the code's name ("MCTX_ESHAPE"); never NULL. */
const char *mctx_err_name(int code);

/* Clears `st` to success. `st` may be NULL (a harmless no-op). */
void mctx_status_clear(mctx_status *st);
/* Fills `st` (which may be NULL) and returns `code`, so that callers can write
 * `return mctx_status_set(st, MCTX_ERANGE, "num_simulations", "must be >= 1")`.
 * `field` may be NULL; the reason is a printf format. */
int mctx_status_set(mctx_status *st, int code, const char *field,
                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Prepends `prefix` and a dot (or nothing when the field is an index "[..]")
 * to st->field: lets a nested decoder report the full path. */
void mctx_status_prefix(mctx_status *st, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif /* MCTX_ERRORS_H */
