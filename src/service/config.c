/* service/config.c: the options of `mctx serve` (config.h).
 *
 * One table holds every option: its flag, its MCTX_* variable, where it goes
 * in mctx_svc_config, its bounds and its help line. Loading applies the
 * environment, then the flags, checking each value against its bounds, and
 * --help prints the table. Nothing else in the service parses settings. */
#include "service/config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "service/log.h"
#include "service/ratelimit.h"
#include "service/server.h"

enum { T_STR, T_INT, T_I32, T_I64, T_SIZE, T_BOOL, T_LEVEL };

typedef struct option {
  const char *flag;       /* without the leading "--" */
  const char *env;
  int type;
  size_t off;
  size_t size;            /* T_STR: the array's size */
  long long min, max;     /* T_INT, T_I32, T_I64, T_SIZE */
  const char *dflt;       /* as printed by --help */
  const char *help;
} option;

#define OFF(f) offsetof(mctx_svc_config, f)
#define STR(f) OFF(f), sizeof(((mctx_svc_config *)0)->f)

static const option OPTIONS[] = {
  {"host", "MCTX_HOST", T_STR, STR(host), 0, 0, "127.0.0.1", "address to listen on (0.0.0.0: every interface)"},
  {"port", "MCTX_PORT", T_INT, OFF(port), 0, 0, 65535, "8080", "TCP port; 0 picks a free one (logged at start)"},
  {"db", "MCTX_DB_URL", T_STR, STR(db_url), 0, 0, "sqlite:./data/mctx.db",
   "database URL: sqlite:PATH, postgresql://..., odbc:CONNECTION-STRING"},
  {"data-dir", "MCTX_DATA_DIR", T_STR, STR(data_dir), 0, 0, "./data", "local state; the record spool is DIR/spool"},
  {"spool-max-bytes", "MCTX_SPOOL_MAX_BYTES", T_SIZE, OFF(spool_max_bytes), 0, 0, (long long)1 << 40, "1G",
   "disk the record spool may take (K, M, G suffixes)"},
  {"spool-sync-interval-us", "MCTX_SPOOL_SYNC_INTERVAL_US", T_INT, OFF(spool_sync_interval_us), 0, 0, 1000000, "500",
   "records are written and fsynced in groups at most this often (fewer, larger fsyncs; each answer may wait "
   "this much longer; an idle service writes at once); 0: a group as soon as the last is on disk"},
  {"engine", "MCTX_ENGINE", T_STR, STR(engine), 0, 0, "auto",
   "auto (the GPU when one answers, else the CPU), cpu, or cuda (fail when no GPU)"},
  {"engine-threads", "MCTX_ENGINE_THREADS", T_INT, OFF(engine_threads), 0, 0, 1024, "0",
   "CPU engine threads for one search; 0: one per core"},
  {"workers", "MCTX_WORKERS", T_INT, OFF(workers), 0, 0, 256, "0", "search worker threads; 0: one per core"},
  {"http-threads", "MCTX_HTTP_THREADS", T_INT, OFF(http_threads), 0, 0, 64, "0",
   "HTTP polling threads; 0: one per core, at most 4"},
  {"default-model", "MCTX_DEFAULT_MODEL", T_STR, STR(default_model), 0, 0, "synthetic",
   "model of requests that name none"},
  {"max-batch-size", "MCTX_MAX_BATCH_SIZE", T_I32, OFF(limits.max_batch_size), 0, 1, INT32_MAX, "65536",
   "largest root_input.batch_size a request may ask for"},
  {"max-num-actions", "MCTX_MAX_NUM_ACTIONS", T_I32, OFF(limits.max_num_actions), 0, 1, INT32_MAX, "4096",
   "largest num_actions"},
  {"max-num-simulations", "MCTX_MAX_NUM_SIMULATIONS", T_I32, OFF(limits.max_num_simulations), 0, 1, INT32_MAX,
   "100000", "largest num_simulations"},
  {"max-tree-bytes", "MCTX_MAX_TREE_BYTES", T_SIZE, OFF(limits.max_tree_bytes), 0, 1024, (long long)1 << 50, "4G",
   "memory one search's tree may take"},
  {"max-json-depth", "MCTX_MAX_JSON_DEPTH", T_INT, OFF(limits.max_json_depth), 0, 2, 1024, "64",
   "deepest nesting of a request body"},
  {"max-body-bytes", "MCTX_MAX_BODY_BYTES", T_SIZE, OFF(max_body_bytes), 0, 1024, (long long)1 << 34, "32M",
   "largest request body (413 beyond; counted while it streams in)"},
  {"max-header-bytes", "MCTX_MAX_HEADER_BYTES", T_SIZE, OFF(max_head_bytes), 0, 1024, 48 * 1024, "32K",
   "largest request line and headers (431 in the error envelope beyond; past about 60K libmicrohttpd answers "
   "431 itself)"},
  {"max-body-total", "MCTX_MAX_BODY_TOTAL", T_SIZE, OFF(max_body_total), 0, 1024, (long long)1 << 40, "1G",
   "all request bodies being received at once (503 with Retry-After beyond)"},
  {"max-response-bytes", "MCTX_MAX_RESPONSE_BYTES", T_SIZE, OFF(max_response_bytes), 0, 4096, (long long)1 << 36,
   "256M", "largest response body (a result beyond it fails with 500)"},
  {"queue-size", "MCTX_QUEUE_SIZE", T_INT, OFF(queue_size), 0, 1, 1 << 20, "1024",
   "searches waiting for a worker; beyond it 503 with Retry-After"},
  {"max-queue-wait-us", "MCTX_MAX_QUEUE_WAIT_US", T_INT, OFF(max_queue_wait_us), 0, 0, 2000000000, "0",
   "admission by queue wait: a search that would wait longer for a worker (the oldest queued one has, or the "
   "queue would take longer at the measured time per search) is refused with 503 and Retry-After, and one "
   "that still waits longer is answered so instead of run; 0: no bound (async tasks are never bounded)"},
  {"batch-max", "MCTX_BATCH_MAX", T_INT, OFF(batch_max), 0, 1, 1 << 24, "1024",
   "dynamic batching: batch elements in one merged search; 1 turns merging off"},
  {"batch-max-delay-us", "MCTX_BATCH_MAX_DELAY_US", T_INT, OFF(batch_max_delay_us), 0, 0, 2000000000, "0",
   "dynamic batching: how long a worker waits for more compatible requests (0: merges what is queued)"},
  {"request-timeout-ms", "MCTX_REQUEST_TIMEOUT_MS", T_INT, OFF(request_timeout_ms), 0, 1, 3600000, "30000",
   "a request still queued after this is answered 503 and not run"},
  {"idle-timeout-s", "MCTX_IDLE_TIMEOUT_S", T_INT, OFF(idle_timeout_s), 0, 1, 86400, "60",
   "an idle or stalled connection is closed after this"},
  {"drain-timeout-ms", "MCTX_DRAIN_TIMEOUT_MS", T_INT, OFF(drain_timeout_ms), 0, 0, 3600000, "10000",
   "on SIGTERM/SIGINT: how long requests in flight may take to finish"},
  {"record-before-reply", "MCTX_RECORD_BEFORE_REPLY", T_BOOL, OFF(record_before_reply), 0, 0, 1, "true",
   "a search answers once its record is in the spool, on disk; false: record just after the answer"},
  {"store-trees-over", "MCTX_STORE_TREES_OVER", T_I64, OFF(store_trees_over), 0, 0, (long long)1 << 50, "0",
   "store the tree of every search of at least this many nodes (batch_size x (num_simulations + 1)); 0: only "
   "the searches that ask (store_tree)"},
  {"model-dir", "MCTX_MODEL_DIR", T_STR, STR(model_dir), 0, 0, "",
   "model repository: a folder per model with its model.json (docs/MODELS.md); reload with SIGHUP or "
   "POST /api/v1/models/reload"},
  {"max-connections", "MCTX_MAX_CONNECTIONS", T_INT, OFF(max_connections), 0, 1, 1 << 20, "1024",
   "open connections at most"},
  {"tasks-max", "MCTX_TASKS_MAX", T_INT, OFF(tasks_max), 0, 1, 1 << 20, "1024",
   "async tasks kept at once (pending, running and finished)"},
  {"task-ttl-s", "MCTX_TASK_TTL_S", T_INT, OFF(task_ttl_s), 0, 1, 7 * 86400, "600",
   "how long a finished task's result is kept"},
  {"tasks-max-bytes", "MCTX_TASKS_MAX_BYTES", T_SIZE, OFF(tasks_max_bytes), 0, 4096, (long long)1 << 40, "256M",
   "bytes of finished tasks' results kept at once (oldest dropped first)"},
  {"rate-limit-search", "MCTX_RATE_LIMIT_SEARCH", T_INT, OFF(rate_search_per_min), 0, 0, MCTX_RL_MAX_PER_MIN, "0",
   "requests per minute per client (API key or IP) to each search route; 0: no limit (product notes: 20)"},
  {"rate-limit-other", "MCTX_RATE_LIMIT_OTHER", T_INT, OFF(rate_other_per_min), 0, 0, MCTX_RL_MAX_PER_MIN, "0",
   "requests per minute per client to each other route; 0: no limit (product notes: 60); health routes are "
   "exempt"},
  {"rate-limit-burst", "MCTX_RATE_LIMIT_BURST", T_INT, OFF(rate_burst), 0, 0, MCTX_RL_MAX_PER_MIN, "0",
   "requests a client may make at once on a route; 0: the route's per-minute rate"},
  {"rate-limit-routes", "MCTX_RATE_LIMIT_ROUTES", T_STR, STR(rate_routes), 0, 0, "",
   "per-route limits over the two above: ROUTE=PER_MINUTE[:BURST],... with ROUTE a pattern of /openapi.json "
   "(e.g. /api/v1/searches=120:10); 0: no limit on that route"},
  {"api-keys", "MCTX_API_KEYS", T_STR, STR(api_keys), 0, 0, "",
   "API keys: key:role[:name],... with role admin or user; none: the service is open"},
  {"api-keys-file", "MCTX_API_KEYS_FILE", T_STR, STR(api_keys_file), 0, 0, "",
   "file of API keys, one key:role[:name] a line (# comments)"},
  {"jwt-secret", "MCTX_JWT_SECRET", T_STR, STR(jwt_secret), 0, 0, "(random)",
   "HS256 secret of bearer tokens (>= 32 bytes); unset: a random one, tokens end with the process"},
  {"jwt-ttl-s", "MCTX_JWT_TTL_S", T_INT, OFF(jwt_ttl_s), 0, 1, 30 * 86400, "3600", "lifetime of issued tokens"},
  {"metrics-public", "MCTX_METRICS_PUBLIC", T_BOOL, OFF(metrics_public), 0, 0, 1, "false",
   "serve /metrics without a key when keys are configured"},
  {"cors-origin", "MCTX_CORS_ORIGIN", T_STR, STR(cors_origin), 0, 0, "", "allowed CORS origin; empty: CORS off"},
  {"log-level", "MCTX_LOG_LEVEL", T_LEVEL, OFF(log_level), 0, 0, 0, "info", "debug, info, warn, error or off"},
};
#define NOPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

void mctx_svc_config_default(mctx_svc_config *c) {
  memset(c, 0, sizeof *c);
  strcpy(c->host, "127.0.0.1");
  c->port = 8080;
  c->max_connections = 1024;
  c->idle_timeout_s = 60;
  strcpy(c->db_url, "sqlite:./data/mctx.db");
  strcpy(c->data_dir, "./data");
  c->spool_max_bytes = (size_t)1 << 30;
  c->spool_sync_interval_us = 500;
  strcpy(c->default_model, "synthetic");
  strcpy(c->engine, "auto");
  mctx_api_limits_default(&c->limits);
  c->max_body_bytes = (size_t)32 << 20;
  c->max_head_bytes = (size_t)32 << 10;
  c->max_body_total = (size_t)1 << 30;
  c->max_response_bytes = (size_t)256 << 20;
  c->queue_size = 1024;
  c->max_queue_wait_us = 0;
  c->batch_max = 1024;
  c->batch_max_delay_us = 0;
  c->request_timeout_ms = 30000;
  c->drain_timeout_ms = 10000;
  c->record_before_reply = 1;
  c->tasks_max = 1024;
  c->task_ttl_s = 600;
  c->tasks_max_bytes = (size_t)256 << 20;
  c->jwt_ttl_s = 3600;
  c->log_level = MCTX_LOG_INFO;
}

/* Parses a size with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, unsigned long long *out) {
  errno = 0;
  char *end;
  if (*s == '-' || *s == '\0') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  else if (*end == 'M' || *end == 'm') shift = 20;
  else if (*end == 'G' || *end == 'g') shift = 30;
  else if (*end == 'T' || *end == 't') shift = 40;
  if (shift) {
    end++;
    if (*end == 'B' || *end == 'b' || *end == 'i') end++;
    if (v > (ULLONG_MAX >> shift)) return -1;
    v <<= shift;
  }
  if (*end != '\0') return -1;
  *out = v;
  return 0;
}

static int set_option(mctx_svc_config *c, const option *o, const char *val, const char *from, char *err,
                      size_t errlen) {
  char *base = (char *)c;
  switch (o->type) {
    case T_STR:
      if (strlen(val) >= o->size) {
        snprintf(err, errlen, "%s: longer than %zu bytes", from, o->size - 1);
        return -1;
      }
      memcpy(base + o->off, val, strlen(val) + 1);
      return 0;
    case T_INT:
    case T_I32:
    case T_I64: {
      errno = 0;
      char *end;
      long long v = strtoll(val, &end, 10);
      if (errno || end == val || *end != '\0') {
        snprintf(err, errlen, "%s: '%s' is not an integer", from, val);
        return -1;
      }
      if (v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: %lld is out of range [%lld, %lld]", from, v, o->min, o->max);
        return -1;
      }
      if (o->type == T_INT) *(int *)(base + o->off) = (int)v;
      else if (o->type == T_I32) *(int32_t *)(base + o->off) = (int32_t)v;
      else *(int64_t *)(base + o->off) = (int64_t)v;
      return 0;
    }
    case T_SIZE: {
      unsigned long long v;
      if (parse_size(val, &v) != 0) {
        snprintf(err, errlen, "%s: '%s' is not a size (a number with an optional K, M or G)", from, val);
        return -1;
      }
      if ((long long)v < o->min || v > (unsigned long long)o->max) {
        snprintf(err, errlen, "%s: %llu is out of range [%lld, %lld]", from, v, o->min, o->max);
        return -1;
      }
      *(size_t *)(base + o->off) = (size_t)v;
      return 0;
    }
    case T_BOOL: {
      int v;
      if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on")) v = 1;
      else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off")) v = 0;
      else {
        snprintf(err, errlen, "%s: '%s' is not a boolean (true or false)", from, val);
        return -1;
      }
      *(int *)(base + o->off) = v;
      return 0;
    }
    case T_LEVEL: {
      int v = mctx_log_level_parse(val);
      if (v < 0) {
        snprintf(err, errlen, "%s: '%s' is not a level (debug, info, warn, error, off)", from, val);
        return -1;
      }
      *(int *)(base + o->off) = v;
      return 0;
    }
  }
  return -1;
}

/* The per-route limits name routes that exist and may be limited. */
static int check_rate_routes(const mctx_svc_config *c, const char *from, char *err, size_t errlen) {
  if (!c->rate_routes[0]) return 0;
  size_t n;
  const mctx_route *routes = mctx_service_routes(&n);
  mctx_rl_limit *plan = calloc(n ? n : 1, sizeof *plan);
  if (!plan) {
    snprintf(err, errlen, "%s: out of memory", from);
    return -1;
  }
  int per_min[MCTX_RL_CLASSES] = {c->rate_search_per_min, c->rate_other_per_min};
  int rc = mctx_ratelimit_plan(routes, n, per_min, c->rate_burst, c->rate_routes, from, plan, err, errlen);
  free(plan);
  return rc;
}

int mctx_svc_config_load(mctx_svc_config *c, int argc, char **argv, char *err, size_t errlen) {
  const char *routes_from = "MCTX_RATE_LIMIT_ROUTES";
  for (size_t i = 0; i < NOPTIONS; i++) {
    const char *v = getenv(OPTIONS[i].env);
    if (v && set_option(c, &OPTIONS[i], v, OPTIONS[i].env, err, errlen) != 0) return -1;
  }
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      mctx_svc_config_usage(stdout);
      return 1;
    }
    if (strncmp(arg, "--", 2) != 0) {
      snprintf(err, errlen, "unexpected argument '%s' (see --help)", arg);
      return -1;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const option *o = NULL;
    for (size_t i = 0; i < NOPTIONS; i++)
      if (strlen(OPTIONS[i].flag) == nlen && strncmp(OPTIONS[i].flag, name, nlen) == 0) o = &OPTIONS[i];
    if (!o) {
      snprintf(err, errlen, "unknown flag '%.*s' (see --help)", (int)(nlen + 2), arg);
      return -1;
    }
    const char *val;
    if (eq) val = eq + 1;
    else if (o->type == T_BOOL && (a + 1 >= argc || strncmp(argv[a + 1], "--", 2) == 0)) val = "true";
    else if (a + 1 < argc) val = argv[++a];
    else {
      snprintf(err, errlen, "--%s needs a value", o->flag);
      return -1;
    }
    char from[80];
    snprintf(from, sizeof from, "--%s", o->flag);
    if (set_option(c, o, val, from, err, errlen) != 0) return -1;
    if (o->off == OFF(rate_routes)) routes_from = "--rate-limit-routes";
  }
  return check_rate_routes(c, routes_from, err, errlen);
}

void mctx_svc_config_usage(FILE *f) {
  fprintf(f,
          "usage: mctx serve [FLAGS]\n\n"
          "Runs the search service: HTTP/1.1 on HOST:PORT, searches on the CPU engine (and the GPU\n"
          "when one is usable), records in the database through a durable local spool.\n"
          "Each flag has an environment variable; a flag wins over its variable.\n"
          "Stop with SIGTERM or SIGINT: requests in flight finish, records are flushed, exit 0.\n\n");
  for (size_t i = 0; i < NOPTIONS; i++) {
    const option *o = &OPTIONS[i];
    const char *arg = o->type == T_BOOL ? "[=BOOL]" : o->type == T_STR ? " STR" : o->type == T_SIZE ? " SIZE"
                      : o->type == T_LEVEL ? " LEVEL" : " N";
    char head[96];
    snprintf(head, sizeof head, "--%s%s", o->flag, arg);
    fprintf(f, "  %-30s %s\n  %-30s   env %s, default %s\n", head, o->help, "", o->env,
            o->dflt[0] ? o->dflt : "(none)");
  }
}
