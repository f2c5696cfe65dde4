/* service/dashboard_gpu.c: what the GPUs hold and do, for the dashboard.
 *
 * NVIDIA's management library (NVML, libnvidia-ml.so.1, installed with the
 * driver) reports each device's memory and utilization. It is opened with
 * dlopen at the first read, so the binary has no link-time dependency on it
 * and runs unchanged on machines without a GPU (the answer then says why
 * there is nothing to show). Only the few functions used are declared here,
 * with NVML's C types, which are stable across driver versions. The library
 * stays open for the life of the process (NVML is thread-safe). This file
 * knows nothing of HTTP. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "service/dashboard.h"

typedef void *nvml_device;
typedef struct { unsigned long long total, free, used; } nvml_memory;
typedef struct { unsigned int gpu, memory; } nvml_utilization;

static struct {
  int (*init)(void);
  const char *(*error_string)(int);
  int (*count)(unsigned int *);
  int (*handle)(unsigned int, nvml_device *);
  int (*name)(nvml_device, char *, unsigned int);
  int (*memory)(nvml_device, nvml_memory *);
  int (*utilization)(nvml_device, nvml_utilization *);
  int (*temperature)(nvml_device, int, unsigned int *);
  int ok;
  char reason[160];
} g_nvml;

static pthread_once_t g_nvml_once = PTHREAD_ONCE_INIT;

/* dlsym into a function pointer: POSIX guarantees that a data pointer holds
 * one; ISO C has no such cast, so the bits are copied. Returns 1 when found. */
static int load_sym(void *lib, void *fn_field, const char *sym) {
  void *p = dlsym(lib, sym);
  memcpy(fn_field, &p, sizeof p);
  return p != NULL;
}
#define LOAD(lib, field, sym) load_sym((lib), &g_nvml.field, (sym))
_Static_assert(sizeof(void *) == sizeof(int (*)(void)), "function and data pointers differ in size");

static void nvml_open(void) {
  void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(g_nvml.reason, sizeof g_nvml.reason, "no NVIDIA driver on this host (libnvidia-ml.so.1 not found)");
    return;
  }
  if (!LOAD(lib, init, "nvmlInit_v2") || !LOAD(lib, count, "nvmlDeviceGetCount_v2") ||
      !LOAD(lib, handle, "nvmlDeviceGetHandleByIndex_v2") || !LOAD(lib, name, "nvmlDeviceGetName") ||
      !LOAD(lib, memory, "nvmlDeviceGetMemoryInfo")) {
    snprintf(g_nvml.reason, sizeof g_nvml.reason, "libnvidia-ml.so.1 lacks the functions this build reads");
    dlclose(lib);
    return;
  }
  LOAD(lib, error_string, "nvmlErrorString");
  LOAD(lib, utilization, "nvmlDeviceGetUtilizationRates");
  LOAD(lib, temperature, "nvmlDeviceGetTemperature");
  int rc = g_nvml.init();
  if (rc != 0) {
    snprintf(g_nvml.reason, sizeof g_nvml.reason, "NVML did not start: %s",
             g_nvml.error_string ? g_nvml.error_string(rc) : "error");
    dlclose(lib);
    return;
  }
  g_nvml.ok = 1;
}

void mctx_dash_gpu_read(mctx_dash_gpu *out) {
  memset(out, 0, sizeof *out);
  pthread_once(&g_nvml_once, nvml_open);
  if (!g_nvml.ok) {
    snprintf(out->reason, sizeof out->reason, "%s", g_nvml.reason);
    return;
  }
  unsigned int n = 0;
  int rc = g_nvml.count(&n);
  if (rc != 0 || n == 0) {
    snprintf(out->reason, sizeof out->reason, "NVML sees no GPU%s%s", rc ? ": " : "",
             rc && g_nvml.error_string ? g_nvml.error_string(rc) : "");
    return;
  }
  if (n > MCTX_DASH_MAX_GPUS) n = MCTX_DASH_MAX_GPUS;
  for (unsigned int i = 0; i < n; i++) {
    nvml_device d;
    if (g_nvml.handle(i, &d) != 0) continue;
    mctx_dash_gpu_dev *o = &out->dev[out->count];
    o->index = i;
    if (g_nvml.name(d, o->name, sizeof o->name) != 0) snprintf(o->name, sizeof o->name, "GPU %u", i);
    o->name[sizeof o->name - 1] = '\0';
    nvml_memory m;
    if (g_nvml.memory(d, &m) == 0) {
      o->memory_total = m.total;
      o->memory_used = m.used;
    }
    nvml_utilization u;
    o->utilization_gpu = o->utilization_memory = -1;
    if (g_nvml.utilization && g_nvml.utilization(d, &u) == 0) {
      o->utilization_gpu = (int)u.gpu;
      o->utilization_memory = (int)u.memory;
    }
    unsigned int t;
    o->temperature_c = -1;
    if (g_nvml.temperature && g_nvml.temperature(d, 0 /* NVML_TEMPERATURE_GPU */, &t) == 0) o->temperature_c = (int)t;
    out->count++;
  }
  out->available = out->count > 0;
  if (!out->available) snprintf(out->reason, sizeof out->reason, "NVML could not open any of its %u GPUs", n);
}
