/* service/config.h: the configuration of `mctx serve`.
 *
 * Every setting has a flag and an MCTX_* environment variable; a flag wins
 * over the environment, which wins over the default. The options live in
 * one table (config.c) that also prints `mctx serve --help` and the
 * configuration section of docs/OPERATIONS.md, so the three cannot drift. */
#ifndef MCTX_SERVICE_CONFIG_H
#define MCTX_SERVICE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "api/api.h"

typedef struct mctx_svc_config {
  /* listening */
  char host[128];
  int port;                    /* 0: any free port (logged at start) */
  int http_threads;            /* MHD polling threads; 0: one per core, at most 4 */
  int max_connections;
  int idle_timeout_s;          /* an idle or stalled connection is closed */
  char cors_origin[256];       /* "" : CORS off */

  /* storage */
  char db_url[1024];
  char data_dir[512];          /* the spool lives in DATA_DIR/spool */
  size_t spool_max_bytes;
  int spool_sync_interval_us;  /* at least this long between two record groups' fsyncs */

  /* searches */
  char engine[16];             /* auto | cpu | cuda */
  int engine_threads;          /* CPU engine threads; 0: one per core */
  int workers;                 /* search worker threads; 0: one per core */
  char default_model[64];
  mctx_api_limits limits;
  size_t max_body_bytes;
  size_t max_head_bytes;       /* request line and headers; 431 beyond */
  size_t max_body_total;       /* all request bodies at once */
  size_t max_response_bytes;
  int queue_size;              /* jobs waiting for a worker */
  int max_queue_wait_us;       /* admission by queue wait (synchronous searches); 0: none */
  int batch_max;               /* batch elements in one merged search; 1: no merging */
  int batch_max_delay_us;      /* how long a worker waits for more compatible jobs */
  int request_timeout_ms;      /* deadline of a queued request */
  int drain_timeout_ms;        /* how long shutdown waits for requests in flight */
  int record_before_reply;     /* the history record is on disk (spool) before the answer; default on */
  int64_t store_trees_over;    /* store the tree of searches with at least this many nodes; 0: off */
  char model_dir[512];         /* the model repository; "": none */

  /* tasks */
  int tasks_max;
  int task_ttl_s;
  size_t tasks_max_bytes;      /* results kept at once */

  /* clients */
  int rate_search_per_min;     /* 0: no limit */
  int rate_other_per_min;      /* 0: no limit */
  int rate_burst;              /* bucket size; 0: the per-minute rate */
  char rate_routes[2048];      /* per-route limits "ROUTE=PER_MIN[:BURST],..."; "": the class defaults */
  char api_keys[4096];         /* "key:role[:name],..." */
  char api_keys_file[512];
  char jwt_secret[512];        /* "": a random secret for this process */
  int jwt_ttl_s;
  int metrics_public;          /* /metrics without a key */

  int log_level;               /* MCTX_LOG_* */
} mctx_svc_config;

/* Fills c with the defaults. */
void mctx_svc_config_default(mctx_svc_config *c);

/* Reads MCTX_* variables, then the flags argv[1..argc). Returns 0; 1 when
 * --help was asked (the usage is printed to stdout); or -1 with err filled
 * (the flag or variable and why). */
int mctx_svc_config_load(mctx_svc_config *c, int argc, char **argv, char *err, size_t errlen);

/* Prints the flags, their variables, defaults and meaning. */
void mctx_svc_config_usage(FILE *f);

#endif
