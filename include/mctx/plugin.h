/* mctx/plugin.h: the plugin ABI, version 1. The one header a plugin needs.
 *
 * A plugin is a shared object that adds a model to mctx-c. It exports one
 * symbol:
 *
 *   const mctx_plugin *mctx_plugin_entry(const mctx_plugin_host *host);
 *
 * The host (the `mctx` process) loads it with dlopen() by the path the model
 * repository names (docs/MODELS.md), calls mctx_plugin_entry once, checks
 * the table it returns, and from then on calls the table's functions. The
 * header depends on nothing but <stddef.h> and <stdint.h>: a plugin does not
 * link against mctx-c.
 *
 * A model is mctx's root and recurrent functions for a batch (the same
 * functions as mctx/model.h's vtable, with plain types): `create` makes an
 * instance for one request from the model's configuration and the request's
 * parameters; `root` gives the roots; `step` is the recurrent function;
 * `decision` and `chance` make a stochastic model (Stochastic MuZero).
 *
 * Versions. MCTX_PLUGIN_ABI_VERSION changes when a change would break
 * existing plugins; the host refuses a table whose abi_version differs from
 * its own. Within one version, structs only grow at their end: each starts
 * with struct_size, and a reader uses only the fields that lie within the
 * size the writer set (a newer host fills new fields; an older plugin never
 * reads them).
 *
 * Threads. The host calls an instance's root/step/decision/chance from
 * several threads at once, each on a disjoint slice of the batch: a plugin
 * must not write shared state without its own locking. create and destroy
 * may run on any thread, concurrently for different instances.
 *
 * Errors. Every function returns 0 on success and non-zero on failure,
 * after writing a message (NUL-terminated, at most errlen bytes) into err;
 * the host fails that request with MCTX_EMODEL and the message, and goes on
 * serving. Outputs that are NaN or infinite fail the request the same way
 * (the host checks). A plugin that crashes takes the process with it: keep
 * plugins that may crash out of a shared server.
 *
 * Memory. Every array is the host's, valid only during the call. The host
 * never frees what the plugin allocates and vice versa, except the instance,
 * which the host hands back to `destroy`.
 *
 * Unloading. When no model instance is left (a repository reload replaced
 * the model, or the process ends), the host calls `unload` (if set) and then
 * dlclose(). */
#ifndef MCTX_PLUGIN_H
#define MCTX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCTX_PLUGIN_ABI_VERSION 1u
#define MCTX_PLUGIN_ENTRY_SYMBOL "mctx_plugin_entry"

/* How a plugin's embedding prints (matches mctx/model.h's MCTX_EMB_*). */
enum {
  MCTX_PLUGIN_EMB_BYTES = 0,  /* opaque: requests cannot give embeddings */
  MCTX_PLUGIN_EMB_U32 = 1,    /* embedding_count uint32 values */
  MCTX_PLUGIN_EMB_F32 = 2     /* embedding_count float32 values */
};

/* Log levels of mctx_plugin_host.log. */
enum { MCTX_PLUGIN_LOG_DEBUG = 0, MCTX_PLUGIN_LOG_INFO = 1, MCTX_PLUGIN_LOG_WARN = 2, MCTX_PLUGIN_LOG_ERROR = 3 };

/* What the host gives the plugin at load time; valid until unload. */
typedef struct mctx_plugin_host {
  uint32_t struct_size;        /* sizeof(mctx_plugin_host) of the host */
  uint32_t abi_version;        /* the host's MCTX_PLUGIN_ABI_VERSION */
  const char *host_version;    /* "mctx 0.1.0" */
  const char *plugin_path;     /* the file that was loaded */
  /* Writes a line to the host's log (thread-safe; may be called from any
   * function of the plugin). */
  void (*log)(void *host_ctx, int level, const char *message);
  void *host_ctx;
} mctx_plugin_host;

/* What an instance is made for (one request, or one batch of requests). */
typedef struct mctx_plugin_config {
  uint32_t struct_size;        /* sizeof(mctx_plugin_config) of the host */
  const char *model_name;      /* the name requests use for this model */
  const char *model_dir;       /* the model's folder in the repository (its files), or NULL */
  const char *config_json;     /* model.json's "config" object as JSON text; "{}" when absent */
  const char *params_json;     /* the request's model.params as JSON text; "null" when absent */
  int32_t num_actions;         /* the request's num_actions (A) */
  int32_t batch_size;          /* the request's batch size (B) */
  int32_t prng_mode;           /* 0: JAX (partitionable), 1: JAX legacy */
} mctx_plugin_config;

/* What an instance declares (create fills it). */
typedef struct mctx_plugin_model_info {
  uint32_t struct_size;        /* set by the host */
  int32_t num_actions;         /* A it produces; 0: any (the request's) */
  int32_t num_chance_outcomes; /* C for stochastic models; 0 otherwise */
  int32_t embedding_bytes;     /* E: bytes of one embedding (may be 0) */
  int32_t embedding_kind;      /* MCTX_PLUGIN_EMB_* */
  int32_t embedding_count;     /* values of that kind in one embedding */
} mctx_plugin_model_info;

typedef struct mctx_plugin {
  uint32_t struct_size;        /* sizeof(mctx_plugin) of the plugin */
  uint32_t abi_version;        /* MCTX_PLUGIN_ABI_VERSION */
  const char *name;            /* the model kind, [a-z0-9_]+ ("nim") */
  const char *description;     /* one line */
  const char *version;         /* the plugin's own version ("1.0.0") */

  /* Makes an instance. Returns 0 with *instance and *info filled, or
   * non-zero with err: a bad parameter fails the request with a message. */
  int (*create)(const mctx_plugin_config *cfg, void **instance, mctx_plugin_model_info *info, char *err,
                size_t errlen);
  /* Frees an instance. */
  void (*destroy)(void *instance);

  /* (optional) Roots for elements first_index .. first_index + n - 1 of the
   * request: prior_logits [n][A], value [n], embeddings_out [n][E].
   * embeddings_in [n][E] holds the request's embeddings, or is NULL (then
   * the model's default roots). Without `root`, requests must give
   * prior_logits and value. */
  int (*root)(void *instance, int32_t n, int32_t first_index, const void *embeddings_in, float *prior_logits,
              float *value, void *embeddings_out, char *err, size_t errlen);

  /* The recurrent function for n elements: keys [n][2] (the JAX PRNG key of
   * each expansion, for stochastic environments), actions [n], embeddings
   * [n][E] -> reward [n], discount [n], prior_logits [n][A], value [n],
   * next_embeddings [n][E]. Required unless decision and chance are set. */
  int (*step)(void *instance, int32_t n, const uint32_t *keys, const int32_t *actions, const void *embeddings,
              float *reward, float *discount, float *prior_logits, float *value, void *next_embeddings, char *err,
              size_t errlen);

  /* (optional, stochastic models) mctx's decision_recurrent_fn: actions [n]
   * -> chance_logits [n][C], afterstate_value [n], afterstate_embeddings. */
  int (*decision)(void *instance, int32_t n, const uint32_t *keys, const int32_t *actions,
                  const void *state_embeddings, float *chance_logits, float *afterstate_value,
                  void *afterstate_embeddings, char *err, size_t errlen);
  /* (optional, stochastic models) mctx's chance_recurrent_fn: outcomes [n]
   * -> action_logits [n][A], value, reward, discount [n], state embeddings. */
  int (*chance)(void *instance, int32_t n, const uint32_t *keys, const int32_t *outcomes,
                const void *afterstate_embeddings, float *action_logits, float *value, float *reward,
                float *discount, void *state_embeddings, char *err, size_t errlen);

  /* (optional) Called once before dlclose(), when no instance is left. */
  void (*unload)(void);
} mctx_plugin;

/* The entry point's type. Returns the plugin's table (static storage,
 * valid until unload), or NULL when the plugin cannot run with this host
 * (it may log why through host->log). */
typedef const mctx_plugin *(*mctx_plugin_entry_fn)(const mctx_plugin_host *host);

#ifdef __cplusplus
}
#endif
#endif
