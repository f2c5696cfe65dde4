/* util/errors.c: mctx_strerror, mctx_err_name and mctx_status helpers, all
 * generated from the X-macro list in mctx/errors.h. Touches nothing else. */
#include "mctx/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mctx_strerror(int code) {
  switch (code) {
    case MCTX_OK: return "success";
#define MCTX__ERR_STR(name, c, desc) case c: return desc;
    MCTX_ERRNO_MAP(MCTX__ERR_STR)
#undef MCTX__ERR_STR
    default: return "unknown error";
  }
}

const char *mctx_err_name(int code) {
  switch (code) {
    case MCTX_OK: return "MCTX_OK";
#define MCTX__ERR_NAME(name, c, desc) case c: return "MCTX_E" #name;
    MCTX_ERRNO_MAP(MCTX__ERR_NAME)
#undef MCTX__ERR_NAME
    default: return "MCTX_EUNKNOWN";
  }
}

void mctx_status_clear(mctx_status *st) {
  if (!st) return;
  st->code = MCTX_OK;
  st->field[0] = '\0';
  st->reason[0] = '\0';
}

int mctx_status_set(mctx_status *st, int code, const char *field,
                    const char *fmt, ...) {
  if (!st) return code;
  st->code = code;
  snprintf(st->field, sizeof st->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->reason, sizeof st->reason, fmt, ap);
  va_end(ap);
  return code;
}

void mctx_status_prefix(mctx_status *st, const char *prefix) {
  if (!st || !prefix || !prefix[0]) return;
  char tmp[2 * sizeof st->field + 2];
  const char *sep = (st->field[0] == '\0' || st->field[0] == '[') ? "" : ".";
  snprintf(tmp, sizeof tmp, "%s%s%s", prefix, sep, st->field);
  snprintf(st->field, sizeof st->field, "%.*s", (int)(sizeof st->field - 1), tmp);
}
