/* examples/plugin/nim.c: an mctx plugin (mctx/plugin.h), the game of Nim.
 *
 * One pile of stones; a move takes 1 .. A stones (action a takes a + 1); who
 * takes the last stone wins. Two players as mctx does it: reward +1 for the
 * winning move, discount -1 between plies and 0 at the end; taking more
 * stones than there are loses on the spot. The embedding is two uint32:
 * the stones left and whether the game is over.
 *
 * Configuration (model.json's "config") and request parameters (the
 * request's model.params win):
 *   "stones": the pile at the root (default 10)
 *   "value":  "zero" (default: the search finds the way alone) or "exact"
 *             (the value under perfect play: -1 when stones % (A + 1) == 0)
 * For tests of the host's error handling, a request may also ask the plugin
 * to misbehave: "fail": "create" | "root" | "step" returns an error there,
 * "nan": "root" | "step" returns NaN values there.
 *
 * Build: cc -shared -fPIC -I include examples/plugin/nim.c -o libmctx_nim.so
 * (CMake builds it as build/examples/plugin/libmctx_nim.so). The plugin
 * needs only mctx/plugin.h and the C library; it parses its few JSON
 * parameters by hand to stay self-contained. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/plugin.h"

#ifndef NIM_ABI_VERSION
#define NIM_ABI_VERSION MCTX_PLUGIN_ABI_VERSION
#endif

static const mctx_plugin_host *host;
static atomic_int live_instances;

typedef struct nim {
  int32_t A;
  uint32_t stones;
  int exact;
  int fail_root, fail_step, nan_root, nan_step;
} nim;

/* ==== A few JSON lookups: "key": number / "key": "string" ==== */

static const char *find_key(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = json ? strstr(json, pat) : NULL;
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

static int get_number(const char *json, const char *key, long *out) {
  const char *p = find_key(json, key);
  if (!p) return 0;
  char *end;
  long v = strtol(p, &end, 10);
  if (end == p) return -1;
  *out = v;
  return 1;
}

static int get_string(const char *json, const char *key, char *out, size_t n) {
  const char *p = find_key(json, key);
  if (!p) return 0;
  if (*p != '"') return -1;
  p++;
  size_t k = 0;
  while (*p && *p != '"' && k + 1 < n) out[k++] = *p++;
  out[k] = '\0';
  return *p == '"' ? 1 : -1;
}

/* ==== The model ==== */

static int nim_create(const mctx_plugin_config *cfg, void **instance, mctx_plugin_model_info *info, char *err,
                      size_t errlen) {
  nim *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return 1;
  }
  g->A = cfg->num_actions;
  long stones = 10;
  char s[32];
  const char *srcs[2] = {cfg->config_json, cfg->params_json};
  for (int i = 0; i < 2; i++) {
    int r = get_number(srcs[i], "stones", &stones);
    if (r < 0) {
      snprintf(err, errlen, "\"stones\" must be a number");
      free(g);
      return 1;
    }
    r = get_string(srcs[i], "value", s, sizeof s);
    if (r > 0) {
      if (strcmp(s, "exact") == 0) g->exact = 1;
      else if (strcmp(s, "zero") == 0) g->exact = 0;
      else {
        snprintf(err, errlen, "\"value\" must be \"zero\" or \"exact\", not \"%s\"", s);
        free(g);
        return 1;
      }
    }
  }
  if (stones < 1 || stones > 1000000) {
    snprintf(err, errlen, "\"stones\" must be in [1, 1000000], not %ld", stones);
    free(g);
    return 1;
  }
  if (g->A < 1 || g->A > 64) {
    snprintf(err, errlen, "nim takes 1 to 64 actions (take 1..A stones), not %d", (int)g->A);
    free(g);
    return 1;
  }
  g->stones = (uint32_t)stones;
  if (get_string(cfg->params_json, "fail", s, sizeof s) > 0) {
    if (strcmp(s, "create") == 0) {
      snprintf(err, errlen, "injected failure in create");
      free(g);
      return 1;
    }
    g->fail_root = strcmp(s, "root") == 0;
    g->fail_step = strcmp(s, "step") == 0;
  }
  if (get_string(cfg->params_json, "nan", s, sizeof s) > 0) {
    g->nan_root = strcmp(s, "root") == 0;
    g->nan_step = strcmp(s, "step") == 0;
  }
  info->num_actions = 0; /* any: the request's */
  info->num_chance_outcomes = 0;
  info->embedding_bytes = 8;
  info->embedding_kind = MCTX_PLUGIN_EMB_U32;
  info->embedding_count = 2;
  *instance = g;
  atomic_fetch_add(&live_instances, 1);
  return 0;
}

static void nim_destroy(void *instance) {
  free(instance);
  atomic_fetch_sub(&live_instances, 1);
}

static float value_of(const nim *g, uint32_t stones, uint32_t over) {
  if (over || !g->exact) return 0.0f;
  return stones % (uint32_t)(g->A + 1) == 0 ? -1.0f : 1.0f;
}

static void logits_of(const nim *g, uint32_t stones, uint32_t over, float *logits) {
  for (int32_t a = 0; a < g->A; a++) logits[a] = over || (uint32_t)a + 1 <= stones ? 0.0f : -1.0e9f;
}

static int nim_root(void *instance, int32_t n, int32_t first_index, const void *embeddings_in, float *prior_logits,
                    float *value, void *embeddings_out, char *err, size_t errlen) {
  (void)first_index;
  nim *g = instance;
  if (g->fail_root) {
    snprintf(err, errlen, "injected failure in root");
    return 1;
  }
  const uint32_t *in = embeddings_in;
  uint32_t *out = embeddings_out;
  for (int32_t i = 0; i < n; i++) {
    uint32_t stones = in ? in[2 * i] : g->stones, over = in ? in[2 * i + 1] : 0;
    if (in && (stones == 0 || over)) {
      snprintf(err, errlen, "root %d: the game is over (stones %u)", (int)(first_index + i), (unsigned)stones);
      return 1;
    }
    out[2 * i] = stones;
    out[2 * i + 1] = 0;
    logits_of(g, stones, 0, prior_logits + (size_t)i * (size_t)g->A);
    value[i] = g->nan_root ? NAN : value_of(g, stones, 0);
  }
  return 0;
}

static int nim_step(void *instance, int32_t n, const uint32_t *keys, const int32_t *actions, const void *embeddings,
                    float *reward, float *discount, float *prior_logits, float *value, void *next_embeddings,
                    char *err, size_t errlen) {
  (void)keys;
  nim *g = instance;
  if (g->fail_step) {
    snprintf(err, errlen, "injected failure in step");
    return 1;
  }
  const uint32_t *in = embeddings;
  uint32_t *out = next_embeddings;
  for (int32_t i = 0; i < n; i++) {
    uint32_t stones = in[2 * i], over = in[2 * i + 1];
    uint32_t take = (uint32_t)actions[i] + 1;
    if (over) {
      reward[i] = 0.0f;
      discount[i] = 0.0f;
    } else if (take > stones) { /* illegal: loses */
      reward[i] = -1.0f;
      discount[i] = 0.0f;
      over = 1;
    } else {
      stones -= take;
      over = stones == 0;
      reward[i] = over ? 1.0f : 0.0f;
      discount[i] = over ? 0.0f : -1.0f;
    }
    out[2 * i] = stones;
    out[2 * i + 1] = over;
    logits_of(g, stones, over, prior_logits + (size_t)i * (size_t)g->A);
    value[i] = g->nan_step ? NAN : value_of(g, stones, over);
  }
  return 0;
}

static void nim_unload(void) {
  if (host && host->log && atomic_load(&live_instances) != 0)
    host->log(host->host_ctx, MCTX_PLUGIN_LOG_ERROR, "unloaded with live instances");
  host = NULL;
}

static const mctx_plugin NIM = {
  sizeof(mctx_plugin),
  NIM_ABI_VERSION,
  "nim",
  "the game of Nim: take 1..A stones, who takes the last wins; config/params: stones, value",
  "1.0.0",
  nim_create,
  nim_destroy,
  nim_root,
  nim_step,
  NULL,
  NULL,
  nim_unload,
};

/* The entry point: the one symbol the host looks up (exported even when the
 * library is built with hidden visibility). */
__attribute__((visibility("default"))) const mctx_plugin *mctx_plugin_entry(const mctx_plugin_host *h) {
  if (!h || h->abi_version != MCTX_PLUGIN_ABI_VERSION) return NULL;
  host = h;
  if (h->log) h->log(h->host_ctx, MCTX_PLUGIN_LOG_DEBUG, "nim 1.0.0 loaded");
  return &NIM;
}
