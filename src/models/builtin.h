/* models/builtin.h: the built-in models' factories, and helpers they share
 * for reading their parameters. */
#ifndef MCTX_MODELS_BUILTIN_H
#define MCTX_MODELS_BUILTIN_H

#include "mctx/registry.h"

extern const mctx_model_factory mctx__model_synthetic;
extern const mctx_model_factory mctx__model_synthetic_stochastic;
extern const mctx_model_factory mctx__model_mctx_test_env;
extern const mctx_model_factory mctx__model_mock;
extern const mctx_model_factory mctx__model_bandit;

/* Reads model.params.<key> as a number (dflt when absent), with the field
 * named in errors. */
int mctx__param_number(const mctx_json *params, const char *key, double dflt, double *out, mctx_status *st);
int mctx__param_bool(const mctx_json *params, const char *key, int dflt, int *out, mctx_status *st);
/* Rejects parameters not in the NULL-terminated list `known`. */
int mctx__param_known(const mctx_json *params, const char *const *known, mctx_status *st);

#endif
