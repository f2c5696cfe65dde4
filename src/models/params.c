/* models/params.c: reading a model's "params" object with precise errors. */
#include <stdio.h>
#include <string.h>

#include "models/builtin.h"

int mctx__param_number(const mctx_json *params, const char *key, double dflt, double *out, mctx_status *st) {
  char field[96];
  snprintf(field, sizeof field, "model.params.%s", key);
  int rc = mctx_json_number(mctx_json_get(params, key), dflt, out, field, st);
  if (rc == 0 && !(*out - *out == 0.0)) return mctx_status_set(st, MCTX_ENONFINITE, field, "must be finite");
  return rc;
}

int mctx__param_bool(const mctx_json *params, const char *key, int dflt, int *out, mctx_status *st) {
  char field[96];
  snprintf(field, sizeof field, "model.params.%s", key);
  return mctx_json_bool(mctx_json_get(params, key), dflt, out, field, st);
}

int mctx__param_known(const mctx_json *params, const char *const *known, mctx_status *st) {
  if (!params || params->type != MCTX_JSON_OBJECT) return 0;
  for (uint32_t i = 0; i < params->len; i++) {
    const char *k = params->u.members[i].key;
    int ok = 0;
    for (const char *const *p = known; *p; p++) ok |= strcmp(*p, k) == 0;
    if (!ok) {
      char field[160];
      snprintf(field, sizeof field, "model.params.%.100s", k);
      return mctx_status_set(st, MCTX_EINVALID, field, "unknown parameter");
    }
  }
  return 0;
}
