/* models/registry.c: the table of model factories, with the built-ins
 * registered on first use. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/registry.h"
#include "models/builtin.h"
#include "models/games.h"
#include "models/mlp.h"

#define MAX_FACTORIES 128

static const mctx_model_factory *factories[MAX_FACTORIES];
static size_t nfactories;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int add(const mctx_model_factory *f) {
  for (size_t i = 0; i < nfactories; i++)
    if (strcmp(factories[i]->name, f->name) == 0) { factories[i] = f; return 0; }
  if (nfactories == MAX_FACTORIES) return MCTX_ELIMIT;
  factories[nfactories++] = f;
  return 0;
}

static void register_builtins(void) {
  add(&mctx__model_synthetic);
  add(&mctx__model_synthetic_stochastic);
  add(&mctx__model_mctx_test_env);
  add(&mctx__model_mock);
  add(&mctx__model_bandit);
  add(&mctx__model_tictactoe);
  add(&mctx__model_connect4);
  add(&mctx__model_mlp);
}

int mctx_model_register(const mctx_model_factory *f) {
  pthread_once(&once, register_builtins);
  return add(f);
}

const mctx_model_factory *const *mctx_model_factories(size_t *count) {
  pthread_once(&once, register_builtins);
  *count = nfactories;
  return factories;
}

int mctx_model_create(const char *name, const mctx_json *params, const mctx_model_ctx *ctx,
                      mctx_model **out, mctx_status *st) {
  pthread_once(&once, register_builtins);
  *out = NULL;
  if (params && params->type != MCTX_JSON_NULL && params->type != MCTX_JSON_OBJECT)
    return mctx_status_set(st, MCTX_ETYPE, "model.params", "must be an object, not %s",
                           mctx_json_type_name(params->type));
  for (size_t i = 0; i < nfactories; i++) {
    if (strcmp(factories[i]->name, name) != 0) continue;
    mctx_model *m = calloc(1, sizeof *m);
    if (!m) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    int rc = factories[i]->create(params, ctx, m, st);
    if (rc != 0) { free(m); return rc; }
    *out = m;
    return 0;
  }
  return mctx_status_set(st, MCTX_ENOTFOUND, "model.name", "unknown model '%s'", name);
}

void mctx_model_free(mctx_model *m) {
  if (!m) return;
  if (m->vt && m->vt->destroy) m->vt->destroy(m->self);
  free(m);
}
