/* tests/dashboard/test-dashboard.c: the dashboard's C side without HTTP:
 * the table of embedded files (web/dashboard.cmake) and the GPU reader
 * (src/service/dashboard_gpu.c). On a host with an NVIDIA driver and a GPU
 * device node, NVML must answer; elsewhere the reader must say why not. */
#include <dlfcn.h>
#include <unistd.h>

#include "service/dashboard.h"
#include "service/metrics.h"
#include "util/buf.h"
#include "test.h"

TEST(assets_embedded) {
  const char *names[] = {"index.html", "app.js", "dashboard.css", "tree.js", "treeview.js", "favicon.svg"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const mctx_dash_asset *a = mctx_dash_asset_find(names[i]);
    ASSERT(a != NULL);
    ASSERT(a->len > 0);
    ASSERT_EQ(a->data[a->len], 0); /* a NUL follows the bytes */
  }
  const mctx_dash_asset *html = mctx_dash_asset_find("index.html");
  ASSERT(memcmp(html->data, "<!doctype html>", 15) == 0);
  ASSERT(mctx_dash_asset_find("nope.js") == NULL);
  ASSERT(mctx_dash_asset_find("") == NULL);
  ASSERT(mctx_dash_asset_find(NULL) == NULL);
  ASSERT_STREQ(mctx_dash_content_type("app.js"), "text/javascript; charset=utf-8");
  ASSERT_STREQ(mctx_dash_content_type("index.html"), "text/html; charset=utf-8");
  ASSERT_STREQ(mctx_dash_content_type("favicon.svg"), "image/svg+xml");
  ASSERT_STREQ(mctx_dash_content_type("x.bin"), "application/octet-stream");
  ASSERT_STREQ(mctx_dash_content_type("noext"), "application/octet-stream");
}

TEST(gpu_read) {
  mctx_dash_gpu g;
  mctx_dash_gpu_read(&g);
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  int expect = lib != NULL && access("/dev/nvidia0", F_OK) == 0;
  if (lib) dlclose(lib);
  printf("NVML %s: %s, %u GPU(s)\n", g.available ? "available" : "not available", g.available ? "" : g.reason,
         g.count);
  if (expect) ASSERT(g.available);
  if (!g.available) {
    ASSERT(g.reason[0] != '\0');
    ASSERT_EQ(g.count, 0);
    return;
  }
  ASSERT(g.count > 0 && g.count <= MCTX_DASH_MAX_GPUS);
  for (unsigned i = 0; i < g.count; i++) {
    const mctx_dash_gpu_dev *d = &g.dev[i];
    printf("GPU %u: %s, %llu of %llu bytes used, utilization %d%%, %d C\n", d->index, d->name,
           (unsigned long long)d->memory_used, (unsigned long long)d->memory_total, d->utilization_gpu,
           d->temperature_c);
    ASSERT(d->name[0] != '\0');
    ASSERT(d->memory_total > 0);
    ASSERT(d->memory_used <= d->memory_total);
    ASSERT(d->utilization_gpu >= -1 && d->utilization_gpu <= 100);
  }
  /* a second read (the library stays open) agrees on the devices */
  mctx_dash_gpu g2;
  mctx_dash_gpu_read(&g2);
  ASSERT_EQ(g2.count, g.count);
  ASSERT_STREQ(g2.dev[0].name, g.dev[0].name);
  ASSERT_EQ(g2.dev[0].memory_total, g.dev[0].memory_total);
}

/* /metrics carries what NVML reports per GPU (values as NVML would give
 * them; the reader itself is checked by gpu_read on a machine with a
 * driver), and nothing when NVML is not available. */
TEST(metrics_render_gpu_utilization) {
  static const char *const routes[] = {"GET /metrics"};
  mctx_metrics *m = calloc(1, sizeof *m);
  ASSERT(m);
  mctx_metrics_init(m, routes, 1);
  mctx_metrics_gauges g;
  memset(&g, 0, sizeof g);
  mctx_dash_gpu nv;
  memset(&nv, 0, sizeof nv);
  nv.available = 1;
  nv.count = 2;
  nv.dev[0] = (mctx_dash_gpu_dev){0, "GPU A", 80ull << 30, 1ull << 30, 37, 12, 40};
  nv.dev[1] = (mctx_dash_gpu_dev){1, "GPU B", 80ull << 30, 2ull << 30, -1, -1, -1};
  g.nvml = &nv;
  mctx_buf out;
  mctx_buf_init(&out, 1 << 20);
  mctx_metrics_render(m, &g, &out);
  mctx_buf_append(&out, "", 1);
  ASSERT_CONTAINS(out.data, "mctx_gpu_utilization_percent{gpu=\"0\"} 37\n");
  ASSERT_CONTAINS(out.data, "mctx_gpu_memory_utilization_percent{gpu=\"0\"} 12\n");
  ASSERT_CONTAINS(out.data, "mctx_gpu_memory_used_bytes{gpu=\"1\"} 2147483648\n");
  ASSERT(!strstr(out.data, "mctx_gpu_utilization_percent{gpu=\"1\"}")); /* unknown: not rendered */
  mctx_buf_free(&out);
  nv.available = 0;
  mctx_buf_init(&out, 1 << 20);
  mctx_metrics_render(m, &g, &out);
  mctx_buf_append(&out, "", 1);
  ASSERT(!strstr(out.data, "mctx_gpu_utilization_percent"));
  mctx_buf_free(&out);
  free(m);
}
