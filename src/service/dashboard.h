/* service/dashboard.h: the dashboard in the browser, served by `mctx serve`.
 *
 * The page (web/: HTML, CSS, JavaScript modules, an icon) is compiled into
 * the binary by web/dashboard.cmake as a table of byte arrays; these routes
 * serve it with security headers, from memory, without touching the disk or
 * the network. The page itself holds no data: it reads everything through the
 * service's own routes (/metrics, /api/v1/stats/daily, /api/v1/searches, ...)
 * with the bearer token the login form obtained, so the files are public and
 * the data stays behind the service's auth. One more route reports the GPUs
 * (memory and utilization, from NVIDIA's management library when the driver
 * is installed), which /metrics does not carry. docs/DASHBOARD.md tells the
 * whole story. */
#ifndef MCTX_SERVICE_DASHBOARD_H
#define MCTX_SERVICE_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

/* One embedded file: its name under web/ and its bytes (not NUL-terminated
 * as far as len goes; a NUL follows them). Static for the process. */
typedef struct mctx_dash_asset {
  const char *name;
  const unsigned char *data;
  size_t len;
} mctx_dash_asset;

/* The embedded files (generated dashboard_assets.c). */
extern const mctx_dash_asset mctx__dash_assets[];
extern const size_t mctx__dash_nassets;

/* The asset named `name` ("app.js"), or NULL. */
const mctx_dash_asset *mctx_dash_asset_find(const char *name);
/* The Content-Type of a file name by its extension (a static string). */
const char *mctx_dash_content_type(const char *name);

/* ==== GPUs (dashboard_gpu.c) ==== */

#define MCTX_DASH_MAX_GPUS 16

typedef struct mctx_dash_gpu_dev {
  unsigned index;
  char name[96];
  uint64_t memory_total, memory_used;   /* bytes */
  int utilization_gpu;                   /* percent of the last sample period; -1: unknown */
  int utilization_memory;                /* percent of time the memory was read or written; -1: unknown */
  int temperature_c;                     /* -1: unknown */
} mctx_dash_gpu_dev;

typedef struct mctx_dash_gpu {
  int available;                         /* NVML answered */
  char reason[160];                      /* why not, when not */
  unsigned count;
  mctx_dash_gpu_dev dev[MCTX_DASH_MAX_GPUS];
} mctx_dash_gpu;

/* Reads every GPU's memory and utilization through NVML (libnvidia-ml.so.1,
 * opened at the first call and kept for the process's life; no link-time
 * dependency). Fills out; out->available is 0, with the reason, where the
 * library or a GPU is missing. Thread-safe. */
void mctx_dash_gpu_read(mctx_dash_gpu *out);

/* ==== Routes (dashboard.c; rows in routes.c) ==== */

typedef struct mctx_server mctx_server;
typedef struct mctx_svc_req mctx_svc_req;

/* GET /dashboard: the page (index.html). */
void mctx_h_dashboard(mctx_server *s, mctx_svc_req *r);
/* GET /dashboard/{asset}: one embedded file; 404 (field "asset") for others. */
void mctx_h_dashboard_asset(mctx_server *s, mctx_svc_req *r);
/* GET /api/v1/dashboard/gpu: the GPUs as JSON (mctx_dash_gpu_read), and
 * which engine the service searches on. */
void mctx_h_dashboard_gpu(mctx_server *s, mctx_svc_req *r);

#endif
