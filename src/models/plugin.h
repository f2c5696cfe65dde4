/* models/plugin.h: the host side of mctx/plugin.h.
 *
 * A plugin library is opened once per file (a process-wide table, keyed by
 * the file's identity) and reference counted: the repository's entries and
 * every model instance made from it hold a reference, so a reload that drops
 * the plugin unloads it only after the last request using it has finished.
 * Model instances wrap the plugin's table in an mctx_model_vtable whose
 * functions turn a plugin's failure into MCTX_EMODEL with its message. */
#ifndef MCTX_MODELS_PLUGIN_H
#define MCTX_MODELS_PLUGIN_H

#include "mctx/plugin.h"
#include "mctx/registry.h"

typedef struct mctx_plugin_lib mctx_plugin_lib;

/* Loads the shared object at `path` (or takes another reference on it when
 * it is already loaded) and checks its table. Errors (MCTX_EIO when dlopen
 * fails, MCTX_EUNSUPPORTED for a wrong ABI, MCTX_EINVALID for a bad table)
 * name `field` and say why. */
int mctx_plugin_lib_open(const char *path, const char *field, mctx_plugin_lib **out, mctx_status *st);
/* Another reference. */
mctx_plugin_lib *mctx_plugin_lib_ref(mctx_plugin_lib *lib);
/* Drops a reference; the last one calls the plugin's unload and dlclose().
 * NULL is a harmless no-op. */
void mctx_plugin_lib_unref(mctx_plugin_lib *lib);
/* The plugin's table and the loaded file (borrowed). */
const mctx_plugin *mctx_plugin_lib_table(const mctx_plugin_lib *lib);
const char *mctx_plugin_lib_path(const mctx_plugin_lib *lib);

/* Makes a model instance of the plugin for a request. `model_name` is the
 * name requests use, `model_dir` its folder (or NULL), `config_json` the
 * model's configuration ("{}" or NULL when none) and `params` the request's
 * model.params (or NULL). The instance holds a reference on lib. */
int mctx_plugin_model_create(mctx_plugin_lib *lib, const char *model_name, const char *model_dir,
                             const char *config_json, const mctx_json *params, const mctx_model_ctx *ctx,
                             mctx_model *m, mctx_status *st);

/* Loads a plugin and registers a factory under the plugin's name, for a
 * process that takes plugins from flags rather than from a repository. The
 * library stays loaded until the process ends. */
int mctx_plugin_register(const char *path, mctx_status *st);

/* Where plugins' log lines go (default: stderr, "mctx plugin NAME: ...").
 * fn may be NULL to restore the default. */
void mctx_plugin_set_logger(void (*fn)(void *ctx, int level, const char *plugin, const char *message), void *ctx);

/* How many plugin libraries are loaded now (for tests and /metrics). */
int mctx_plugin_loaded_count(void);

/* Writes `v` as JSON text into a malloc'd string ("null" for NULL); NULL when
 * out of memory. */
char *mctx__json_text(const mctx_json *v);

#endif
