/* cuda/engine.cu: the CUDA engine (mctx/cuda.h).
 *
 * A search: roots are made on the host (the model's root function) into
 * pinned buffers; the batch runs in chunks sized from the device's free
 * memory (one chunk unless the batch does not fit); each chunk is one copy
 * in, one launch of the fused kernel (cuda/kernel.cuh) and one copy out on
 * the engine's stream. The device workspace is kept between searches and
 * grows when a larger one comes. Every CUDA call is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/reduce-impl.h"
#include "cuda/fast.cuh"
#include "cuda/pipeline.cuh"
#include "cuda/sparse.cuh"
#include "cuda/net.cuh"
#include "cuda/games.cuh"

#include "cuda/lt.h"

extern "C" {
#include "mctx/cuda.h"
#include "mctx/engine.h"
}

struct cuda_engine {
  mctx_engine base;
  int device;
  cudaStream_t stream;
  /* device workspace */
  void *dmem;
  size_t dmem_bytes;
  /* pinned host staging */
  void *hmem;
  size_t hmem_bytes;
  mctx_cuda_memory mem;
  int32_t max_chunk;
  /* the network path */
  struct NetPlan *net;
  cublasLtHandle_t lt;
  void *lt_ws;
  size_t lt_ws_bytes;
  void *netbuf;
  size_t netbuf_bytes;
  /* shared memory a block may have (cudaDevAttrMaxSharedMemoryPerBlockOptin),
   * and what each kernel was last allowed (allow_smem) */
  int smem_optin;
  int sm_count;
  struct { const void *kernel; size_t bytes; } smem_set[32];
  double trace_kernel_ms;  /* MCTX_CUDA_TRACE */
  unsigned long long *stats; /* MCTX_CUDA_TRACE: the sparse kernel's counters (device) */
};

/* Bump allocation inside one block, 256-byte aligned. */
struct carve {
  char *base;
  size_t used;
};

static void *take(carve *c, size_t bytes) {
  size_t off = (c->used + 255) & ~(size_t)255;
  c->used = off + bytes;
  return c->base ? c->base + off : NULL;
}

/* The inputs and outputs of n elements, laid out the same way in pinned
 * host memory and on the device, so that a one-chunk search moves them with
 * one copy each way. */
struct Io {
  float *logits;           /* in  [n][Ad] */
  float *value;            /* in  [n] */
  uint8_t *emb;            /* in  [n][E] */
  uint8_t *inv;            /* in  [n][A] */
  mctx_elem_key *keys;     /* in  [n] */
  size_t in_bytes;
  int32_t *action;         /* out [n] */
  float *weights;          /* out [n][Ad] */
  float *root_values;      /* out [n] */
  float *visit_counts;     /* out [n][Ad] */
  float *qvalues;          /* out [n][Ad] */
  int32_t *expanded;       /* out [n] */
  int32_t *depth;          /* out [n] */
  size_t out_bytes;
  char *in, *out;
};

static void layout_io(carve *c, int32_t n, int32_t A, int32_t Ad, int32_t E, Io *io) {
  size_t start = c->used;
  io->logits = (float *)take(c, (size_t)n * (size_t)Ad * 4);
  io->in = (char *)io->logits;
  io->value = (float *)take(c, (size_t)n * 4);
  io->emb = (uint8_t *)take(c, (size_t)n * (size_t)(E ? E : 1));
  io->inv = (uint8_t *)take(c, (size_t)n * (size_t)A);
  io->keys = (mctx_elem_key *)take(c, (size_t)n * sizeof(mctx_elem_key));
  io->in_bytes = c->used - start;
  c->used = (c->used + 255) & ~(size_t)255;
  start = c->used;
  io->action = (int32_t *)take(c, (size_t)n * 4);
  io->out = (char *)io->action;
  io->weights = (float *)take(c, (size_t)n * (size_t)Ad * 4);
  io->root_values = (float *)take(c, (size_t)n * 4);
  io->visit_counts = (float *)take(c, (size_t)n * (size_t)Ad * 4);
  io->qvalues = (float *)take(c, (size_t)n * (size_t)Ad * 4);
  io->expanded = (int32_t *)take(c, (size_t)n * 4);
  io->depth = (int32_t *)take(c, (size_t)n * 4);
  io->out_bytes = c->used - start;
  c->used = (c->used + 255) & ~(size_t)255;
}

/* Lays out a chunk of `n` elements on the device: inputs and outputs (as
 * layout_io), the tree, the path scratch. With a NULL base it only measures. */
static size_t layout(char *base, int32_t n, int32_t N, int32_t A, int32_t Ad, int32_t E, int stochastic,
                     int gumbel, DevSearch *s, Io *io) {
  carve c = {base, 0};
  layout_io(&c, n, A, Ad, E, io);
  s->root_logits = io->logits;
  s->root_value = io->value;
  s->root_emb = io->emb;
  s->keys = io->keys;
  s->action = io->action;
  s->weights = io->weights;
  s->root_values = io->root_values;
  s->visit_counts = io->visit_counts;
  s->qvalues = io->qvalues;
  s->expanded = io->expanded;
  s->depth = io->depth;
  size_t bn = (size_t)n * (size_t)N, bna = bn * (size_t)A;
  DevTree &t = s->t;
  t.root_invalid = io->inv;
  t.node_visits = (int32_t *)take(&c, bn * 4);
  t.raw_values = (float *)take(&c, bn * 4);
  t.node_values = (float *)take(&c, bn * 4);
  t.parents = (int32_t *)take(&c, bn * 4);
  t.action_from_parent = (int32_t *)take(&c, bn * 4);
  t.children_index = (int32_t *)take(&c, bna * 4);
  t.children_visits = (int32_t *)take(&c, bna * 4);
  t.children_prior_logits = (float *)take(&c, bna * 4);
  t.children_prior_probs = (float *)take(&c, bna * 4);
  t.children_rewards = (float *)take(&c, bna * 4);
  t.children_discounts = (float *)take(&c, bna * 4);
  t.children_values = (float *)take(&c, bna * 4);
  t.embeddings = (uint8_t *)take(&c, bn * (size_t)(E ? E : 1));
  t.is_decision = stochastic ? (uint8_t *)take(&c, bn) : NULL;
  t.root_gumbel = gumbel ? (float *)take(&c, (size_t)n * (size_t)A * 4) : NULL;
  t.next_node = (int32_t *)take(&c, (size_t)n * 4);
  s->path = (PathEntry *)take(&c, bn * sizeof(PathEntry));
  s->path_cap = N;
  return c.used + 256;
}

static int ensure_device(cuda_engine *e, size_t bytes, mctx_status *st) {
  if (e->dmem_bytes >= bytes) return 0;
  if (e->dmem) CUDA_CHECK(cudaFree(e->dmem), st);
  e->dmem = NULL;
  e->dmem_bytes = 0;
  e->mem.engine_bytes = 0;
  CUDA_CHECK(cudaMalloc(&e->dmem, bytes), st);
  e->dmem_bytes = bytes;
  e->mem.engine_bytes = bytes;
  if (bytes > e->mem.peak_bytes) e->mem.peak_bytes = bytes;
  return 0;
}

static int ensure_host(cuda_engine *e, size_t bytes, mctx_status *st) {
  if (e->hmem_bytes >= bytes) return 0;
  if (e->hmem) CUDA_CHECK(cudaFreeHost(e->hmem), st);
  e->hmem = NULL;
  e->hmem_bytes = 0;
  CUDA_CHECK(cudaMallocHost(&e->hmem, bytes), st);
  e->hmem_bytes = bytes;
  return 0;
}

/* Host-side tree slices of elements [b0, b0 + n) to or from the device. */
static int copy_tree(cuda_engine *e, mctx_tree *h, const DevTree &d, int32_t b0, int32_t n, int to_device,
                     mctx_status *st) {
  size_t bn = (size_t)n * (size_t)h->num_nodes, bna = bn * (size_t)h->num_actions;
  size_t on = (size_t)b0 * (size_t)h->num_nodes, ona = on * (size_t)h->num_actions;
  struct { void *host; void *dev; size_t bytes; } parts[] = {
    {h->node_visits + on, d.node_visits, bn * 4},
    {h->raw_values + on, d.raw_values, bn * 4},
    {h->node_values + on, d.node_values, bn * 4},
    {h->parents + on, d.parents, bn * 4},
    {h->action_from_parent + on, d.action_from_parent, bn * 4},
    {h->children_index + ona, d.children_index, bna * 4},
    {h->children_visits + ona, d.children_visits, bna * 4},
    {h->children_prior_logits + ona, d.children_prior_logits, bna * 4},
    {h->children_prior_probs + ona, d.children_prior_probs, bna * 4},
    {h->children_rewards + ona, d.children_rewards, bna * 4},
    {h->children_discounts + ona, d.children_discounts, bna * 4},
    {h->children_values + ona, d.children_values, bna * 4},
    {h->embeddings + on * (size_t)h->embedding_bytes, d.embeddings, bn * (size_t)h->embedding_bytes},
    {h->root_invalid_actions + (size_t)b0 * (size_t)h->num_actions, d.root_invalid, (size_t)n * (size_t)h->num_actions},
    {h->next_node + b0, d.next_node, (size_t)n * 4},
    {h->is_decision ? h->is_decision + on : NULL, d.is_decision, h->is_decision ? bn : 0},
    {h->root_gumbel ? h->root_gumbel + (size_t)b0 * (size_t)h->num_actions : NULL, d.root_gumbel,
     h->root_gumbel ? (size_t)n * (size_t)h->num_actions * 4 : 0},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (!parts[i].bytes) continue;
    /* The root's invalid actions are the request's (an input of the search). */
    if (to_device && parts[i].dev == (void *)d.root_invalid) continue;
    if (to_device)
      CUDA_CHECK(cudaMemcpyAsync(parts[i].dev, parts[i].host, parts[i].bytes, cudaMemcpyHostToDevice, e->stream), st);
    else
      CUDA_CHECK(cudaMemcpyAsync(parts[i].host, parts[i].dev, parts[i].bytes, cudaMemcpyDeviceToHost, e->stream), st);
  }
  return 0;
}

/* ==== The network path (MCTX_CUDA_MODEL_MLP) ==== */

/* One dense layer on the device: weights [in_p][out_p] (zero padding) in the
 * network's type, its cuBLASLt descriptors for a batch of `rows`. */
struct NetLayer {
  int32_t in, out, in_p, out_p;
  void *w, *b;
  int relu, out_float;
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  int have_desc;
};

struct NetPlan {
  const void *identity;
  int prec, aligned;
  int32_t S, A, n_dyn, n_pred, rows;
  int32_t x_ld, dout_ld, pin_ld, pout_ld, hidden_ld;
  NetLayer dyn[MCTX_CUDA_MAX_LAYERS], pred[MCTX_CUDA_MAX_LAYERS];
  void *wmem;
  size_t wbytes;
  float discount;
};

static int32_t pad_to(int32_t x, int aligned) { return aligned ? (x + 7) / 8 * 8 : x; }
static size_t type_size(int prec) { return prec == MCTX_CUDA_FP32 ? 4 : 2; }
static cudaDataType_t cuda_type(int prec) {
  return prec == MCTX_CUDA_FP32 ? CUDA_R_32F : prec == MCTX_CUDA_FP16 ? CUDA_R_16F : CUDA_R_16BF;
}

/* Host float -> the network's type, into dst[i]. */
static void put_value(void *dst, size_t i, int prec, float v) {
  if (prec == MCTX_CUDA_FP32) ((float *)dst)[i] = v;
  else if (prec == MCTX_CUDA_FP16) ((__half *)dst)[i] = __float2half_rn(v);
  else ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
}

#define LT_CHECK(call, st)                                                                       \
  do {                                                                                           \
    cublasStatus_t s_ = (call);                                                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                             \
      return mctx_status_set((st), MCTX_EDEVICE, "device", "%s failed: cuBLASLt status %d", #call, (int)s_); \
  } while (0)

static void net_plan_free(cuda_engine *e, NetPlan *p) {
  if (!p) return;
  const mctx_lt_api *lt = mctx__lt_load(NULL, 0);
  NetLayer *all[2] = {p->dyn, p->pred};
  int32_t counts[2] = {p->n_dyn, p->n_pred};
  for (int part = 0; part < 2; part++)
    for (int32_t i = 0; i < counts[part]; i++) {
      NetLayer *l = &all[part][i];
      if (!l->have_desc || !lt) continue;
      lt->desc_destroy(l->desc);
      lt->layout_destroy(l->la);
      lt->layout_destroy(l->lb);
      lt->layout_destroy(l->lc);
    }
  if (p->wmem) cudaFree(p->wmem);
  (void)e;
  free(p);
}

/* The cuBLASLt descriptors of one layer for `rows` rows: D[out_p x rows]
 * = W[out_p x in_p] * X[in_p x rows] (column-major views of the row-major
 * [in][out] weights and [rows][in] activations). */
static int net_layer_desc(cuda_engine *e, const mctx_lt_api *lt, NetPlan *p, NetLayer *l, int32_t rows,
                          mctx_status *st) {
  if (l->have_desc) {
    lt->desc_destroy(l->desc);
    lt->layout_destroy(l->la);
    lt->layout_destroy(l->lb);
    lt->layout_destroy(l->lc);
    l->have_desc = 0;
  }
  cudaDataType_t t = cuda_type(p->prec), tout = l->out_float ? CUDA_R_32F : t;
  LT_CHECK(lt->desc_create(&l->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), st);
  cublasLtEpilogue_t epi = l->relu ? (l->b ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                                   : (l->b ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
  LT_CHECK(lt->desc_set(l->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), st);
  if (l->b) {
    LT_CHECK(lt->desc_set(l->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &l->b, sizeof l->b), st);
    LT_CHECK(lt->desc_set(l->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &tout, sizeof tout), st);
  }
  LT_CHECK(lt->layout_create(&l->la, t, (uint64_t)l->out_p, (uint64_t)l->in_p, l->out_p), st);
  LT_CHECK(lt->layout_create(&l->lb, t, (uint64_t)l->in_p, (uint64_t)rows, l->in_p), st);
  LT_CHECK(lt->layout_create(&l->lc, tout, (uint64_t)l->out_p, (uint64_t)rows, l->out_p), st);
  l->have_desc = 1;
  cublasLtMatmulPreference_t pref;
  LT_CHECK(lt->pref_create(&pref), st);
  lt->pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &e->lt_ws_bytes, sizeof e->lt_ws_bytes);
  cublasLtMatmulHeuristicResult_t h;
  int found = 0;
  cublasStatus_t hs = lt->heuristic(e->lt, l->desc, l->la, l->lb, l->lc, l->lc, pref, 1, &h, &found);
  lt->pref_destroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0)
    return mctx_status_set(st, MCTX_EDEVICE, "device", "cuBLASLt has no algorithm for a %dx%d layer on %d rows",
                           (int)l->in, (int)l->out, (int)rows);
  l->algo = h.algo;
  (void)p;
  return 0;
}

/* The engine's plan for a network in a precision: weights uploaded once and
 * kept while the same weights come back. */
static int net_plan(cuda_engine *e, const mctx_cuda_mlp *net, int prec, int aligned, NetPlan **out,
                    mctx_status *st) {
  char why[300];
  const mctx_lt_api *lt = mctx__lt_load(why, sizeof why);
  if (!lt) return mctx_status_set(st, MCTX_EUNSUPPORTED, "device", "%s", why);
  if (!e->lt) {
    LT_CHECK(lt->create(&e->lt), st);
    e->lt_ws_bytes = (size_t)32 << 20;
    CUDA_CHECK(cudaMalloc(&e->lt_ws, e->lt_ws_bytes), st);
  }
  NetPlan *p = e->net;
  if (p && p->identity == net->identity && p->prec == prec && p->aligned == aligned) {
    *out = p;
    return 0;
  }
  net_plan_free(e, p);
  e->net = NULL;
  if (net->n_dyn < 1 || net->n_pred < 1 || net->n_dyn > MCTX_CUDA_MAX_LAYERS || net->n_pred > MCTX_CUDA_MAX_LAYERS)
    return mctx_status_set(st, MCTX_EINVALID, "model", "the network has no dynamics or prediction layers");
  p = (NetPlan *)calloc(1, sizeof *p);
  if (!p) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  p->identity = net->identity;
  p->prec = prec;
  p->aligned = aligned;
  p->S = net->state_dim;
  p->A = net->num_actions;
  p->n_dyn = net->n_dyn;
  p->n_pred = net->n_pred;
  p->discount = net->discount;
  size_t ts = type_size(prec), total = 0;
  int32_t hidden = 0;
  const mctx_cuda_dense *parts[2] = {net->dyn, net->pred};
  NetLayer *layers[2] = {p->dyn, p->pred};
  int32_t counts[2] = {net->n_dyn, net->n_pred};
  for (int part = 0; part < 2; part++)
    for (int32_t i = 0; i < counts[part]; i++) {
      const mctx_cuda_dense *d = &parts[part][i];
      NetLayer *l = &layers[part][i];
      l->in = d->in;
      l->out = d->out;
      l->in_p = pad_to(d->in, aligned);
      l->out_p = pad_to(d->out, aligned);
      l->relu = i + 1 < counts[part];
      l->out_float = !l->relu;
      total += ((size_t)l->in_p * (size_t)l->out_p * ts + 255) & ~(size_t)255;
      if (d->b) total += ((size_t)l->out_p * (l->out_float ? 4 : ts) + 255) & ~(size_t)255;
      if (l->relu) hidden = l->out_p > hidden ? l->out_p : hidden;
    }
  p->x_ld = p->dyn[0].in_p;
  p->dout_ld = p->dyn[p->n_dyn - 1].out_p;
  p->pin_ld = p->pred[0].in_p;
  p->pout_ld = p->pred[p->n_pred - 1].out_p;
  p->hidden_ld = hidden > 0 ? hidden : 8;
  if (p->dyn[0].in != p->S + p->A || p->dyn[p->n_dyn - 1].out != p->S + 1 || p->pred[0].in != p->S ||
      p->pred[p->n_pred - 1].out != p->A + 1) {
    free(p);
    return mctx_status_set(st, MCTX_ESHAPE, "model", "the network's layer shapes do not chain");
  }
  cudaError_t ce = cudaMalloc(&p->wmem, total);
  if (ce != cudaSuccess) {
    free(p);
    return mctx_status_set(st, MCTX_ENOMEM, "device", "cannot hold the network's weights: %s", cudaGetErrorString(ce));
  }
  p->wbytes = total;
  /* Staged through host memory in the target type, padding zero. */
  char *host = (char *)calloc(1, total);
  if (!host) { net_plan_free(e, p); return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); }
  size_t off = 0;
  for (int part = 0; part < 2; part++)
    for (int32_t i = 0; i < counts[part]; i++) {
      const mctx_cuda_dense *d = &parts[part][i];
      NetLayer *l = &layers[part][i];
      char *hw = host + off;
      l->w = (char *)p->wmem + off;
      for (int32_t r = 0; r < d->in; r++)
        for (int32_t c = 0; c < d->out; c++)
          put_value(hw, (size_t)r * (size_t)l->out_p + (size_t)c, prec, d->w[(size_t)r * (size_t)d->out + (size_t)c]);
      off += ((size_t)l->in_p * (size_t)l->out_p * ts + 255) & ~(size_t)255;
      if (d->b) {
        char *hb = host + off;
        l->b = (char *)p->wmem + off;
        for (int32_t c = 0; c < d->out; c++) put_value(hb, (size_t)c, l->out_float ? MCTX_CUDA_FP32 : prec, d->b[c]);
        off += ((size_t)l->out_p * (l->out_float ? 4 : ts) + 255) & ~(size_t)255;
      }
    }
  ce = cudaMemcpy(p->wmem, host, total, cudaMemcpyHostToDevice);
  free(host);
  if (ce != cudaSuccess) {
    net_plan_free(e, p);
    return mctx_status_set(st, MCTX_EDEVICE, "device", "uploading the network: %s", cudaGetErrorString(ce));
  }
  e->net = p;
  *out = p;
  return 0;
}

/* Rebuilds the layers' descriptors when the batch changes. */
static int net_rows(cuda_engine *e, NetPlan *p, int32_t rows, mctx_status *st) {
  if (p->rows == rows) return 0;
  const mctx_lt_api *lt = mctx__lt_load(NULL, 0);
  for (int32_t i = 0; i < p->n_dyn; i++) { int rc = net_layer_desc(e, lt, p, &p->dyn[i], rows, st); if (rc) return rc; }
  for (int32_t i = 0; i < p->n_pred; i++) { int rc = net_layer_desc(e, lt, p, &p->pred[i], rows, st); if (rc) return rc; }
  p->rows = rows;
  return 0;
}

/* The activation buffers of `rows` rows. */
struct NetBufs {
  void *x, *h0, *h1, *pin;
  float *dout, *pout;
  NetState *ns;
  int *bad;
};

static int net_bufs(cuda_engine *e, const NetPlan *p, int32_t rows, NetBufs *b, mctx_status *st) {
  size_t ts = type_size(p->prec);
  carve c = {NULL, 0};
  for (int pass = 0; pass < 2; pass++) {
    c.used = 0;
    b->x = take(&c, (size_t)rows * (size_t)p->x_ld * ts);
    b->h0 = take(&c, (size_t)rows * (size_t)p->hidden_ld * ts);
    b->h1 = take(&c, (size_t)rows * (size_t)p->hidden_ld * ts);
    b->pin = take(&c, (size_t)rows * (size_t)p->pin_ld * ts);
    b->dout = (float *)take(&c, (size_t)rows * (size_t)p->dout_ld * 4);
    b->pout = (float *)take(&c, (size_t)rows * (size_t)p->pout_ld * 4);
    b->ns = (NetState *)take(&c, (size_t)rows * sizeof(NetState));
    b->bad = (int *)take(&c, 64);
    if (pass == 0 && e->netbuf_bytes < c.used + 256) {
      if (e->netbuf) CUDA_CHECK(cudaFree(e->netbuf), st);
      e->netbuf = NULL;
      e->netbuf_bytes = 0;
      CUDA_CHECK(cudaMalloc(&e->netbuf, c.used + 256), st);
      e->netbuf_bytes = c.used + 256;
    }
    c.base = (char *)e->netbuf;
  }
  return 0;
}

/* Runs the layers of one part: in -> (hidden ping-pong) -> out. */
static int net_layers(cuda_engine *e, NetLayer *layers, int32_t count, const void *in, void *out, const NetBufs *b,
                      int32_t rows, mctx_status *st) {
  const mctx_lt_api *lt = mctx__lt_load(NULL, 0);
  const float one = 1.0f, zero = 0.0f;
  const void *cur = in;
  for (int32_t i = 0; i < count; i++) {
    void *dst = i + 1 == count ? out : (i % 2 == 0 ? b->h0 : b->h1);
    LT_CHECK(lt->matmul(e->lt, layers[i].desc, &one, layers[i].w, layers[i].la, cur, layers[i].lb, &zero, dst,
                        layers[i].lc, dst, layers[i].lc, &layers[i].algo, e->lt_ws, e->lt_ws_bytes, e->stream),
             st);
    cur = dst;
  }
  (void)rows;
  return 0;
}

template <typename T>
static void net_launch_select(int32_t A, int blocks, cudaStream_t str, DevSearch &s, NetBufs &b, const NetPlan *p) {
  if (A <= 32) net_select_kernel<1, T><<<blocks, 128, 0, str>>>(s, b.ns, (T *)b.x, p->x_ld, p->S);
  else if (A <= 64) net_select_kernel<2, T><<<blocks, 128, 0, str>>>(s, b.ns, (T *)b.x, p->x_ld, p->S);
  else if (A <= 128) net_select_kernel<4, T><<<blocks, 128, 0, str>>>(s, b.ns, (T *)b.x, p->x_ld, p->S);
  else net_select_kernel<12, T><<<blocks, 128, 0, str>>>(s, b.ns, (T *)b.x, p->x_ld, p->S);
}

template <typename T>
static void net_launch_tanh(int32_t rows, cudaStream_t str, NetBufs &b, const NetPlan *p) {
  int64_t total = (int64_t)rows * p->pin_ld;
  net_tanh_kernel<T><<<(unsigned)((total + 255) / 256), 256, 0, str>>>(b.dout, p->dout_ld, (T *)b.pin, p->pin_ld, rows, p->S);
}

/* One simulation of the network path, on the stream (captured in a graph). */
static int net_simulation(cuda_engine *e, DevSearch &s, NetBufs &b, NetPlan *p, int32_t n, mctx_status *st) {
  int blocks = (n + 3) / 4;
  cudaStream_t str = e->stream;
  int32_t A = s.t.A;
  if (p->prec == MCTX_CUDA_FP32) net_launch_select<float>(A, blocks, str, s, b, p);
  else if (p->prec == MCTX_CUDA_FP16) net_launch_select<__half>(A, blocks, str, s, b, p);
  else net_launch_select<__nv_bfloat16>(A, blocks, str, s, b, p);
  CUDA_CHECK_LAUNCH(st);
  int rc = net_layers(e, p->dyn, p->n_dyn, b.x, b.dout, &b, n, st);
  if (rc) return rc;
  if (p->prec == MCTX_CUDA_FP32) net_launch_tanh<float>(n, str, b, p);
  else if (p->prec == MCTX_CUDA_FP16) net_launch_tanh<__half>(n, str, b, p);
  else net_launch_tanh<__nv_bfloat16>(n, str, b, p);
  CUDA_CHECK_LAUNCH(st);
  rc = net_layers(e, p->pred, p->n_pred, b.pin, b.pout, &b, n, st);
  if (rc) return rc;
  if (A <= 32) net_expand_kernel<1><<<blocks, 128, 0, str>>>(s, b.ns, b.dout, p->dout_ld, b.pout, p->pout_ld, p->S, p->discount, b.bad);
  else if (A <= 64) net_expand_kernel<2><<<blocks, 128, 0, str>>>(s, b.ns, b.dout, p->dout_ld, b.pout, p->pout_ld, p->S, p->discount, b.bad);
  else if (A <= 128) net_expand_kernel<4><<<blocks, 128, 0, str>>>(s, b.ns, b.dout, p->dout_ld, b.pout, p->pout_ld, p->S, p->discount, b.bad);
  else net_expand_kernel<12><<<blocks, 128, 0, str>>>(s, b.ns, b.dout, p->dout_ld, b.pout, p->pout_ld, p->S, p->discount, b.bad);
  CUDA_CHECK_LAUNCH(st);
  return 0;
}

/* The whole search of a chunk on the network path: roots, then each
 * simulation as a replay of one captured graph, then the actions. */
static int net_chunk(cuda_engine *e, DevSearch &s, NetPlan *p, int32_t n, mctx_status *st) {
  if (s.t.A > 384)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "root_input.num_actions",
                           "the GPU network path handles up to 384 actions");
  int rc = net_rows(e, p, n, st);
  if (rc) return rc;
  NetBufs b;
  if ((rc = net_bufs(e, p, n, &b, st))) return rc;
  CUDA_CHECK(cudaMemsetAsync(b.bad, 0, sizeof(int), e->stream), st);
  int blocks = (n + 3) / 4;
  net_init_kernel<<<blocks, 128, 0, e->stream>>>(s, b.ns);
  CUDA_CHECK_LAUNCH(st);
  cudaGraph_t graph;
  CUDA_CHECK(cudaStreamBeginCapture(e->stream, cudaStreamCaptureModeThreadLocal), st);
  rc = net_simulation(e, s, b, p, n, st);
  cudaError_t ce = cudaStreamEndCapture(e->stream, &graph);
  if (rc) { if (ce == cudaSuccess) cudaGraphDestroy(graph); return rc; }
  CUDA_CHECK(ce, st);
  cudaGraphExec_t exec;
  ce = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(ce, st);
  for (int32_t sim = 0; sim < s.S && ce == cudaSuccess; sim++) ce = cudaGraphLaunch(exec, e->stream);
  cudaGraphExecDestroy(exec);
  CUDA_CHECK(ce, st);
  net_finish_kernel<<<blocks, 128, 0, e->stream>>>(s, b.ns);
  CUDA_CHECK_LAUNCH(st);
  int bad = 0;
  CUDA_CHECK(cudaMemcpyAsync(&bad, b.bad, sizeof bad, cudaMemcpyDeviceToHost, e->stream), st);
  CUDA_CHECK(cudaStreamSynchronize(e->stream), st);
  if (bad) return mctx_status_set(st, MCTX_EMODEL, "model", "the network returned a non-finite value");
  return 0;
}

/* The whole search of a chunk for a model with its own device step
 * (MCTX_CUDA_MODEL_CALLBACK): roots, then per simulation the selection
 * kernel, the model's step (its kernels, launched on the engine's stream by
 * the model) and the expansion kernel; then the actions. Not captured in a
 * graph: the model may do anything a stream allows between launches. */
static int cb_chunk(cuda_engine *e, DevSearch &s, const mctx_cuda_model *dm, int32_t n, mctx_status *st) {
  int32_t A = s.t.A, Ad = s.t.Ad, E = s.t.E;
  if (A > 384)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "root_input.num_actions",
                           "the GPU callback path handles up to 384 actions");
  carve c = {NULL, 0};
  int32_t *actions = NULL;
  uint8_t *emb_in = NULL, *emb_out = NULL;
  float *reward = NULL, *discount = NULL, *logits = NULL, *value = NULL;
  NetState *ns = NULL;
  int *bad = NULL;
  for (int pass = 0; pass < 2; pass++) {
    c.used = 0;
    actions = (int32_t *)take(&c, (size_t)n * 4);
    emb_in = (uint8_t *)take(&c, (size_t)n * (size_t)(E > 0 ? E : 1));
    emb_out = (uint8_t *)take(&c, (size_t)n * (size_t)(E > 0 ? E : 1));
    reward = (float *)take(&c, (size_t)n * 4);
    discount = (float *)take(&c, (size_t)n * 4);
    logits = (float *)take(&c, (size_t)n * (size_t)Ad * 4);
    value = (float *)take(&c, (size_t)n * 4);
    ns = (NetState *)take(&c, (size_t)n * sizeof(NetState));
    bad = (int *)take(&c, 64);
    if (pass == 0 && e->netbuf_bytes < c.used + 256) {
      if (e->netbuf) CUDA_CHECK(cudaFree(e->netbuf), st);
      e->netbuf = NULL;
      e->netbuf_bytes = 0;
      CUDA_CHECK(cudaMalloc(&e->netbuf, c.used + 256), st);
      e->netbuf_bytes = c.used + 256;
    }
    c.base = (char *)e->netbuf;
  }
  cudaStream_t str = e->stream;
  CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), str), st);
  int blocks = (n + 3) / 4;
  net_init_kernel<<<blocks, 128, 0, str>>>(s, ns);
  CUDA_CHECK_LAUNCH(st);
  for (int32_t sim = 0; sim < s.S; sim++) {
    if (A <= 32) cb_select_kernel<1><<<blocks, 128, 0, str>>>(s, ns, actions, emb_in);
    else if (A <= 64) cb_select_kernel<2><<<blocks, 128, 0, str>>>(s, ns, actions, emb_in);
    else if (A <= 128) cb_select_kernel<4><<<blocks, 128, 0, str>>>(s, ns, actions, emb_in);
    else cb_select_kernel<12><<<blocks, 128, 0, str>>>(s, ns, actions, emb_in);
    CUDA_CHECK_LAUNCH(st);
    mctx_status ms;
    memset(&ms, 0, sizeof ms);
    int rc = dm->kind == MCTX_CUDA_MODEL_GAME
                 ? game_device_step(dm, str, n, Ad, E, actions, emb_in, reward, discount, logits, value, emb_out, &ms)
                 : dm->step(dm->self, (void *)str, n, actions, emb_in, reward, discount, logits, value, emb_out, &ms);
    if (rc != 0) {
      if (ms.code == 0) mctx_status_set(&ms, MCTX_EMODEL, "model", "the model's device step failed (%d)", rc);
      *st = ms;
      return st->code;
    }
    cudaError_t le = cudaGetLastError();
    if (le != cudaSuccess)
      return mctx_status_set(st, MCTX_EMODEL, "model", "the model's device step: %s", cudaGetErrorString(le));
    if (A <= 32) cb_expand_kernel<1><<<blocks, 128, 0, str>>>(s, ns, reward, discount, logits, value, emb_out, bad);
    else if (A <= 64) cb_expand_kernel<2><<<blocks, 128, 0, str>>>(s, ns, reward, discount, logits, value, emb_out, bad);
    else if (A <= 128) cb_expand_kernel<4><<<blocks, 128, 0, str>>>(s, ns, reward, discount, logits, value, emb_out, bad);
    else cb_expand_kernel<12><<<blocks, 128, 0, str>>>(s, ns, reward, discount, logits, value, emb_out, bad);
    CUDA_CHECK_LAUNCH(st);
  }
  net_finish_kernel<<<blocks, 128, 0, str>>>(s, ns);
  CUDA_CHECK_LAUNCH(st);
  int hbad = 0;
  CUDA_CHECK(cudaMemcpyAsync(&hbad, bad, sizeof hbad, cudaMemcpyDeviceToHost, str), st);
  CUDA_CHECK(cudaStreamSynchronize(str), st);
  if (hbad) return mctx_status_set(st, MCTX_EMODEL, "model", "the model's device step returned a non-finite value");
  return 0;
}

extern "C" int mctx_engine_cuda_mlp_eval(mctx_engine *base, const mctx_cuda_mlp *net, int32_t n, const float *state,
                                         const int32_t *actions, float *logits, float *value, float *next,
                                         float *reward, mctx_status *st) {
  cuda_engine *e = (cuda_engine *)base;
  CUDA_CHECK(cudaSetDevice(e->device), st);
  NetPlan *p;
  int rc = net_plan(e, net, net->precision, net->aligned, &p, st);
  if (rc) return rc;
  if ((rc = net_rows(e, p, n, st))) return rc;
  NetBufs b;
  if ((rc = net_bufs(e, p, n, &b, st))) return rc;
  size_t ts = type_size(p->prec);
  int32_t S = p->S, A = p->A;
  char *hx = (char *)calloc((size_t)n, (size_t)(p->x_ld > p->pin_ld ? p->x_ld : p->pin_ld) * ts);
  float *hout = (float *)malloc((size_t)n * (size_t)(p->dout_ld > p->pout_ld ? p->dout_ld : p->pout_ld) * 4);
  if (!hx || !hout) { free(hx); free(hout); return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); }
  /* prediction on the given states */
  for (int32_t r = 0; r < n; r++)
    for (int32_t j = 0; j < S; j++) put_value(hx, (size_t)r * (size_t)p->pin_ld + (size_t)j, p->prec, state[(size_t)r * (size_t)S + (size_t)j]);
  cudaError_t ce = cudaMemcpy(b.pin, hx, (size_t)n * (size_t)p->pin_ld * ts, cudaMemcpyHostToDevice);
  if (ce == cudaSuccess) rc = net_layers(e, p->pred, p->n_pred, b.pin, b.pout, &b, n, st);
  if (ce == cudaSuccess && rc == 0) ce = cudaMemcpyAsync(hout, b.pout, (size_t)n * (size_t)p->pout_ld * 4, cudaMemcpyDeviceToHost, e->stream);
  if (ce == cudaSuccess && rc == 0) ce = cudaStreamSynchronize(e->stream);
  if (ce == cudaSuccess && rc == 0)
    for (int32_t r = 0; r < n; r++) {
      if (logits) memcpy(logits + (size_t)r * (size_t)A, hout + (size_t)r * (size_t)p->pout_ld, (size_t)A * 4);
      if (value) value[r] = hout[(size_t)r * (size_t)p->pout_ld + (size_t)A];
    }
  /* dynamics */
  if (ce == cudaSuccess && rc == 0 && actions) {
    memset(hx, 0, (size_t)n * (size_t)p->x_ld * ts);
    for (int32_t r = 0; r < n; r++) {
      for (int32_t j = 0; j < S; j++) put_value(hx, (size_t)r * (size_t)p->x_ld + (size_t)j, p->prec, state[(size_t)r * (size_t)S + (size_t)j]);
      put_value(hx, (size_t)r * (size_t)p->x_ld + (size_t)(S + actions[r]), p->prec, 1.0f);
    }
    ce = cudaMemcpy(b.x, hx, (size_t)n * (size_t)p->x_ld * ts, cudaMemcpyHostToDevice);
    if (ce == cudaSuccess) rc = net_layers(e, p->dyn, p->n_dyn, b.x, b.dout, &b, n, st);
    if (ce == cudaSuccess && rc == 0) ce = cudaMemcpyAsync(hout, b.dout, (size_t)n * (size_t)p->dout_ld * 4, cudaMemcpyDeviceToHost, e->stream);
    if (ce == cudaSuccess && rc == 0) ce = cudaStreamSynchronize(e->stream);
    if (ce == cudaSuccess && rc == 0)
      for (int32_t r = 0; r < n; r++) {
        for (int32_t j = 0; j < S && next; j++) next[(size_t)r * (size_t)S + (size_t)j] = tanhf(hout[(size_t)r * (size_t)p->dout_ld + (size_t)j]);
        if (reward) reward[r] = hout[(size_t)r * (size_t)p->dout_ld + (size_t)S];
      }
  }
  free(hx);
  free(hout);
  if (rc) return rc;
  if (ce != cudaSuccess) return mctx_status_set(st, MCTX_EDEVICE, "device", "network evaluation: %s", cudaGetErrorString(ce));
  return 0;
}

/* Whether the environment's `name` is `value`, read once per process
 * (*cache: -1 until then): the engine's switches for diagnosis and A/B runs
 * (docs/OPERATIONS.md). */
static int env_is(const char *name, const char *value, int *cache) {
  if (*cache < 0) {
    const char *v = getenv(name);
    *cache = v && strcmp(v, value) == 0;
  }
  return *cache;
}

/* MCTX_CUDA_TRACE=1: one line per search on stderr with where its wall time
 * went on the host (planning, enqueueing, waiting for the device) and the
 * kernels' own time from CUDA events, to tell launch and copy overhead from
 * the search itself (bench/gpu: the batch-1 cases). */
static int trace_on(void) {
  static int on = -1;
  return env_is("MCTX_CUDA_TRACE", "1", &on);
}

static double host_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Whether the chunk runs the sparse muzero kernel (cuda/sparse.cuh), and
 * with how many warps (one batch element each) per block: muzero on a fresh
 * tree with a q-transform whose unvisited values are one constant, at most
 * 384 actions, and one warp's records within a block's shared memory.
 * MCTX_CUDA_SPARSE=0 turns it off (the fused kernel then runs). */
static int sparse_plan(cuda_engine *e, const DevSearch *s, int continue_tree, int32_t A, size_t *dyn) {
  static int off = -1;
  if (env_is("MCTX_CUDA_SPARSE", "0", &off) || continue_tree || s->policy != MCTX_POLICY_MUZERO || A > 384) return 0;
  if (s->qt.kind != MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS && s->qt.kind != MCTX_QTRANSFORM_BY_MIN_MAX) return 0;
  /* the kernel's static shared memory: the backward pass's staging */
  size_t fixed = 2 * 4 * MCTX_SEG * sizeof(float);
  size_t avail = e->smem_optin > (int)fixed ? (size_t)e->smem_optin - fixed : 0;
  size_t table = mctx__sp_table_bytes(s->S), warp = mctx__sp_warp_bytes(s->t.N);
  int warps = 4;
  while (warps > 0 && table + (size_t)warps * warp > avail) warps--;
  if (warps > 0) *dyn = table + (size_t)warps * warp;
  return warps;
}

/* Lets kernel `k` have `bytes` of dynamic shared memory (once per size). */
static int allow_smem(cuda_engine *e, const void *k, size_t bytes, mctx_status *st) {
  int i = 0;
  for (; i < (int)(sizeof e->smem_set / sizeof e->smem_set[0]) && e->smem_set[i].kernel; i++)
    if (e->smem_set[i].kernel == k) break;
  if (i < (int)(sizeof e->smem_set / sizeof e->smem_set[0]) && e->smem_set[i].kernel == k &&
      e->smem_set[i].bytes >= bytes)
    return 0;
  CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), st);
  if (i < (int)(sizeof e->smem_set / sizeof e->smem_set[0])) {
    e->smem_set[i].kernel = k;
    e->smem_set[i].bytes = bytes;
  }
  return 0;
}

/* Whether the chunk's elements run with their trees in shared memory
 * (cuda/local.cuh): a built-in model, at most 128 actions, no more elements
 * than the card has multiprocessors (one warp per block: more elements would
 * leave each SM's other warps idle), and the tree, its path and (sparse) the
 * element's records within a block's shared memory. Returns the tree's bytes,
 * or 0. */
static size_t local_plan(cuda_engine *e, const DevSearch *s, int32_t n, int32_t A, int32_t E, int sparse) {
  /* Measured no faster than trees in device memory on an H100 (2026-12-07:
   * gumbel_muzero 1x64x64 0.507 against 0.497 ms, muzero 0.818 against
   * 0.800): off unless MCTX_CUDA_LOCAL=1 asks for it. */
  static int on = -1;
  if (!env_is("MCTX_CUDA_LOCAL", "1", &on) || A > 128 || n > e->sm_count) return 0;
  LocalPlan p = mctx__local_plan(s->t.N, A, E, s->t.is_decision != NULL, s->t.root_gumbel != NULL, sizeof(PathEntry));
  size_t need = p.total + 2 * 4 * MCTX_SEG * sizeof(float);
  if (sparse) need += mctx__sp_table_bytes(s->S) + mctx__sp_warp_bytes(s->t.N);
  return need <= (size_t)e->smem_optin ? p.total : 0;
}

/* Whether the chunk runs gumbel_muzero with cached choices (cuda/fast.cuh,
 * mctx__search_kernel_gp): a built-in model, no chance nodes, at most 384
 * actions, no more elements than the card has multiprocessors (a block per
 * element: the pick cache pays where one warp per SM would idle the others;
 * larger batches keep a warp per element) and the cache, the path and the
 * considered-visit table in a block's shared memory.
 * Returns the warps per element, or 0. MCTX_CUDA_GUMBEL_PICKS=0 turns it off
 * (A/B runs), =W runs W warps per element (2 to 8). */
#define MCTX_GP_WARPS_DEFAULT 8

/* MCTX_CUDA_GP_PIPELINE=1: the pick cache with the choices made beside the
 * search (cuda/pipeline.cuh), under evaluation: off by default until it is
 * measured against the default on a GPU. */
static int gp_pipeline(void) {
  static int on = -1;
  return env_is("MCTX_CUDA_GP_PIPELINE", "1", &on);
}

static int gp_plan(cuda_engine *e, const DevSearch *s, int32_t n, int32_t A) {
  static int warps = -1;
  if (warps < 0) {
    /* MCTX_CUDA_GUMBEL_PICKS: 0 off, else the warps per element (2 to 8) */
    const char *v = getenv("MCTX_CUDA_GUMBEL_PICKS");
    warps = v && *v ? atoi(v) : MCTX_GP_WARPS_DEFAULT;
    if (warps != 0) warps = warps < 2 ? 2 : warps > MCTX_GP_WARPS_MAX ? MCTX_GP_WARPS_MAX : warps;
  }
  size_t smem = gp_pipeline() ? mctx__gpp_smem_bytes(s->t.N, s->S) : mctx__gp_smem_bytes(s->t.N, s->S);
  int ok = warps && s->policy == MCTX_POLICY_GUMBEL_MUZERO && s->t.is_decision == NULL && s->t.A == s->t.Ad &&
           A <= 384 && n <= e->sm_count && smem + 2 * MCTX_SEG * sizeof(float) <= (size_t)e->smem_optin;
  return ok ? warps : 0;
}

/* One chunk: inputs in, the kernel, outputs (and the tree, when asked) out. */
static int run_chunk(cuda_engine *e, DevSearch *s, const Io *h, const Io *d, int32_t b0, int32_t n, int32_t B,
                     int32_t A, int32_t Ad, int32_t E, int continue_tree, mctx_tree *tree, NetPlan *net,
                     const mctx_cuda_model *cb, mctx_status *st) {
  cudaStream_t str = e->stream;
  if (b0 == 0 && n == B) {
    CUDA_CHECK(cudaMemcpyAsync(d->in, h->in, h->in_bytes, cudaMemcpyHostToDevice, str), st);
  } else {
    CUDA_CHECK(cudaMemcpyAsync(d->logits, h->logits + (size_t)b0 * (size_t)Ad, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyHostToDevice, str), st);
    CUDA_CHECK(cudaMemcpyAsync(d->value, h->value + b0, (size_t)n * 4, cudaMemcpyHostToDevice, str), st);
    if (E)
      CUDA_CHECK(cudaMemcpyAsync(d->emb, h->emb + (size_t)b0 * (size_t)E, (size_t)n * (size_t)E,
                                 cudaMemcpyHostToDevice, str), st);
    CUDA_CHECK(cudaMemcpyAsync(d->inv, h->inv + (size_t)b0 * (size_t)A, (size_t)n * (size_t)A,
                               cudaMemcpyHostToDevice, str), st);
    CUDA_CHECK(cudaMemcpyAsync(d->keys, h->keys + b0, (size_t)n * sizeof(mctx_elem_key), cudaMemcpyHostToDevice,
                               str), st);
  }
  if (continue_tree) {
    int rc = copy_tree(e, tree, s->t, b0, n, 1, st);
    if (rc) return rc;
    /* the tree's root_invalid_actions are the request's, uploaded above */
  }
  int threads = 128, warps = threads / 32;
  int blocks = (n + warps - 1) / warps;
  cudaEvent_t ev0 = NULL, ev1 = NULL;
  if (trace_on() && cudaEventCreate(&ev0) == cudaSuccess && cudaEventCreate(&ev1) == cudaSuccess)
    CUDA_CHECK(cudaEventRecord(ev0, str), st);
  int sp_warps = 0;
  size_t sp_dyn = 0;
  if (!net && !cb) sp_warps = sparse_plan(e, s, continue_tree, A, &sp_dyn);
  size_t local = !net && !cb ? local_plan(e, s, n, A, E, sp_warps > 0) : 0;
  int gp_warps = 0;
  if (local) {
    /* one warp per block, the element's tree in its shared memory */
    size_t dyn = local + (sp_warps > 0 ? mctx__sp_table_bytes(s->S) + mctx__sp_warp_bytes(s->t.N) : 0);
    void (*kern)(DevSearch);
    if (sp_warps > 0)
      kern = A <= 32 ? mctx__search_kernel_sp<1, true> : A <= 64 ? mctx__search_kernel_sp<2, true>
                                                                    : mctx__search_kernel_sp<4, true>;
    else
      kern = A <= 32 ? mctx__search_kernel_k<1, true> : A <= 64 ? mctx__search_kernel_k<2, true>
                                                                   : mctx__search_kernel_k<4, true>;
    int rc = allow_smem(e, (const void *)kern, dyn, st);
    if (rc) return rc;
    kern<<<n, 32, dyn, str>>>(*s);
    e->mem.last_path = sp_warps > 0 ? "fused_sparse_local" : "fused_local";
  } else if (sp_warps > 0) {
    void (*kern)(DevSearch) = A <= 32 ? mctx__search_kernel_sp<1, false> : A <= 64 ? mctx__search_kernel_sp<2, false>
                              : A <= 128 ? mctx__search_kernel_sp<4, false> : mctx__search_kernel_sp<12, false>;
    int rc = allow_smem(e, (const void *)kern, sp_dyn, st);
    if (rc) return rc;
    kern<<<(n + sp_warps - 1) / sp_warps, 32 * sp_warps, sp_dyn, str>>>(*s);
    e->mem.last_path = "fused_sparse";
  } else if (net) {
    int rc = net_chunk(e, *s, net, n, st);
    if (rc) return rc;
  } else if (cb) {
    int rc = cb_chunk(e, *s, cb, n, st);
    if (rc) return rc;
  } else if ((gp_warps = gp_plan(e, s, n, A)) > 0) {
    /* The synthetic model's own kernel, its expansion split over two warps;
     * MCTX_CUDA_GP_SPLIT=0: the other models' kernel, one warp expanding and
     * backing up (A/B runs) */
    static int no_split = -1;
    const bool syn = !env_is("MCTX_CUDA_GP_SPLIT", "0", &no_split) && s->m.kind == MCTX_CUDA_MODEL_SYNTHETIC;
    if (gp_pipeline()) {
      /* cuda/pipeline.cu's kernel, by its address */
      const void *kern = mctx__gpp_kernel(A, syn);
      size_t dyn = mctx__gpp_smem_bytes(s->t.N, s->S);
      int rc = allow_smem(e, kern, dyn, st);
      if (rc) return rc;
      void *args[] = {(void *)s};
      CUDA_CHECK(cudaLaunchKernel(kern, dim3((unsigned)n), dim3(32u * (unsigned)gp_warps), args, dyn, str), st);
      e->mem.last_path = "fused_gumbel_picks_pipelined";
    } else {
      void (*kern)(DevSearch);
      if (syn)
        kern = A <= 32 ? mctx__search_kernel_gp<1, true> : A <= 64 ? mctx__search_kernel_gp<2, true>
               : A <= 128 ? mctx__search_kernel_gp<4, true> : mctx__search_kernel_gp<12, true>;
      else
        kern = A <= 32 ? mctx__search_kernel_gp<1, false> : A <= 64 ? mctx__search_kernel_gp<2, false>
               : A <= 128 ? mctx__search_kernel_gp<4, false> : mctx__search_kernel_gp<12, false>;
      size_t dyn = mctx__gp_smem_bytes(s->t.N, s->S);
      int rc = allow_smem(e, (const void *)kern, dyn, st);
      if (rc) return rc;
      kern<<<n, 32 * gp_warps, dyn, str>>>(*s);
      e->mem.last_path = "fused_gumbel_picks";
    }
  } else if (A <= 32) mctx__search_kernel_k<1, false><<<blocks, threads, 0, str>>>(*s);
  /* Children per lane: rows held in registers up to 384 actions. */
  else if (A <= 64) mctx__search_kernel_k<2, false><<<blocks, threads, 0, str>>>(*s);
  else if (A <= 128) mctx__search_kernel_k<4, false><<<blocks, threads, 0, str>>>(*s);
  else if (A <= 384) mctx__search_kernel_k<12, false><<<blocks, threads, 0, str>>>(*s);
  else mctx__search_kernel<<<blocks, threads, 0, str>>>(*s);
  CUDA_CHECK_LAUNCH(st);
  if (ev1) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventRecord(ev1, str), st);
    CUDA_CHECK(cudaEventSynchronize(ev1), st);
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev0, ev1), st);
    e->trace_kernel_ms += ms;
  }
  if (ev0) cudaEventDestroy(ev0);
  if (ev1) cudaEventDestroy(ev1);
  if (b0 == 0 && n == B) {
    CUDA_CHECK(cudaMemcpyAsync(h->out, d->out, d->out_bytes, cudaMemcpyDeviceToHost, str), st);
  } else {
    CUDA_CHECK(cudaMemcpyAsync(h->action + b0, d->action, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->weights + (size_t)b0 * (size_t)Ad, d->weights, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->root_values + b0, d->root_values, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->visit_counts + (size_t)b0 * (size_t)Ad, d->visit_counts,
                               (size_t)n * (size_t)Ad * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->qvalues + (size_t)b0 * (size_t)Ad, d->qvalues, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->expanded + b0, d->expanded, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h->depth + b0, d->depth, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
  }
  if (tree) {
    int rc = copy_tree(e, tree, s->t, b0, n, 0, st);
    if (rc) return rc;
  }
  /* The next chunk reuses the workspace. */
  if (n < B) CUDA_CHECK(cudaStreamSynchronize(str), st);
  return 0;
}

static int cuda_search(mctx_engine *base, const mctx_search_params *p, const mctx_model *model,
                       const mctx_root *root, int continue_tree, mctx_tree *tree, mctx_result *res,
                       mctx_status *st) {
  cuda_engine *e = (cuda_engine *)base;
  double tr0 = trace_on() ? host_ms() : 0.0;
  e->trace_kernel_ms = 0.0;
  const mctx_cuda_model *dm = (const mctx_cuda_model *)model->device;
  if (!dm || !(model->info.engines & MCTX_ENGINE_CUDA))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "model '%s' does not run on the GPU", model->vt->name);
  if (dm->kind == MCTX_CUDA_MODEL_CALLBACK && !dm->step)
    return mctx_status_set(st, MCTX_EINVALID, "model", "model '%s' declares a device step but gives none",
                           model->vt->name);
  int rc = mctx_search_params_check(p, root->num_actions, st);
  if (rc) return rc;
  int stochastic = p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int gumbel = p->policy == MCTX_POLICY_GUMBEL_MUZERO;
  int32_t B = root->batch_size, Ad = root->num_actions;
  int32_t C = stochastic ? model->info.num_chance_outcomes : 0;
  int32_t A = Ad + C, E = model->info.embedding_bytes;
  if (stochastic && (C <= 0 || dm->kind != MCTX_CUDA_MODEL_SYNTHETIC_STOCHASTIC))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "stochastic_muzero needs a stochastic model");
  if (!stochastic && dm->kind == MCTX_CUDA_MODEL_SYNTHETIC_STOCHASTIC)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type", "model '%s' is stochastic", model->vt->name);
  if (continue_tree && (!tree || stochastic))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type",
                           "tree reuse needs the reused tree (muzero and gumbel_muzero)");
  int32_t N = p->num_simulations + 1;
  if (continue_tree) {
    int32_t most = 0;
    for (int32_t b = 0; b < B; b++) most = tree->next_node[b] > most ? tree->next_node[b] : most;
    N = most + p->num_simulations;
  }
  if (tree) {
    if (tree->batch_size != B || tree->num_actions != A || tree->num_decision_actions != Ad ||
        tree->embedding_bytes != E || tree->num_nodes < N || (tree->is_decision != NULL) != stochastic ||
        (tree->root_gumbel != NULL) != gumbel)
      return mctx_status_set(st, MCTX_ESHAPE, "tree", "the tree does not fit this search");
    N = tree->num_nodes;
  }
  if (root->invalid_actions) {
    for (int32_t b = 0; b < B; b++) {
      int32_t valid = 0;
      for (int32_t a = 0; a < Ad; a++) valid += root->invalid_actions[(size_t)b * (size_t)Ad + (size_t)a] ? 0 : 1;
      if (!valid) {
        char f[64];
        snprintf(f, sizeof f, "root_input.invalid_actions[%d]", (int)b);
        return mctx_status_set(st, MCTX_EINVALID, f, "every action of batch element %d is invalid", (int)b);
      }
    }
  }
  CUDA_CHECK(cudaSetDevice(e->device), st);
  NetPlan *net = NULL;
  if (dm->kind == MCTX_CUDA_MODEL_MLP) {
    if (stochastic) return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type", "networks run muzero and gumbel_muzero");
    int prec = dm->mlp->precision;
    /* A T4 (sm_75) has no bfloat16: its reduced-precision path is fp16. */
    if (prec == MCTX_CUDA_BF16 && e->mem.compute_capability < 80) prec = MCTX_CUDA_FP16;
    rc = net_plan(e, dm->mlp, prec, dm->mlp->aligned, &net, st);
    if (rc) return rc;
    e->mem.last_path = "batched";
    snprintf(e->mem.last_precision, sizeof e->mem.last_precision, "%s",
             prec == MCTX_CUDA_FP32 ? "fp32" : prec == MCTX_CUDA_FP16 ? "fp16" : "bf16");
    e->mem.last_aligned = dm->mlp->aligned;
  } else if (dm->kind == MCTX_CUDA_MODEL_CALLBACK || dm->kind == MCTX_CUDA_MODEL_GAME) {
    if (stochastic)
      return mctx_status_set(st, MCTX_EUNSUPPORTED, "search_type", "device steps run muzero and gumbel_muzero");
    e->mem.last_path = dm->kind == MCTX_CUDA_MODEL_GAME ? "game" : "callback";
    snprintf(e->mem.last_precision, sizeof e->mem.last_precision, "fp32");
    e->mem.last_aligned = 0;
  } else {
    e->mem.last_path = "fused";
    snprintf(e->mem.last_precision, sizeof e->mem.last_precision, "fp32");
    e->mem.last_aligned = 0;
  }

  /* Host staging (pinned), laid out as the device's inputs and outputs. */
  carve hc = {NULL, 0};
  Io h;
  layout_io(&hc, B, A, Ad, E, &h);
  if ((rc = ensure_host(e, hc.used + 4096, st))) return rc;
  hc.base = (char *)e->hmem;
  hc.used = 0;
  layout_io(&hc, B, A, Ad, E, &h);

  if (!continue_tree) {
    int need_model = !root->prior_logits || !root->value || (E && !root->embeddings);
    if (need_model) {
      if (!model->vt->root)
        return mctx_status_set(st, MCTX_EMISSING, "root_input.prior_logits", "model '%s' computes no roots",
                               model->vt->name);
      rc = model->vt->root(model->self, B, 0, root->embeddings, h.logits, h.value, h.emb, st);
      if (rc) return rc;
    }
    if (root->prior_logits && root->value) {
      memcpy(h.logits, root->prior_logits, (size_t)B * (size_t)Ad * 4);
      memcpy(h.value, root->value, (size_t)B * 4);
    }
    if (E && root->embeddings && !need_model) memcpy(h.emb, root->embeddings, (size_t)B * (size_t)E);
  }
  memset(h.inv, 0, (size_t)B * (size_t)A);
  if (root->invalid_actions)
    for (int32_t b = 0; b < B; b++)
      memcpy(h.inv + (size_t)b * (size_t)A, root->invalid_actions + (size_t)b * (size_t)Ad, (size_t)Ad);
  for (int32_t b = 0; b < B; b++) {
    if (root->keys) h.keys[b] = root->keys[b];
    else { h.keys[b].key = p->key; h.keys[b].group_size = B; h.keys[b].group_index = b; }
  }

  /* Bandit q-values go to the device (small). */
  float *d_qvalues = NULL;
  if (dm->kind == MCTX_CUDA_MODEL_BANDIT) {
    size_t qb = (size_t)dm->qvalues_rows * (size_t)Ad * 4;
    CUDA_CHECK(cudaMalloc(&d_qvalues, qb ? qb : 4), st);
    cudaError_t ce = cudaMemcpyAsync(d_qvalues, dm->qvalues, qb, cudaMemcpyHostToDevice, e->stream);
    if (ce != cudaSuccess) {
      cudaFree(d_qvalues);
      return mctx_status_set(st, MCTX_EDEVICE, "device", "copying bandit q-values: %s", cudaGetErrorString(ce));
    }
  }

  /* One chunk when the workspace holds the batch; otherwise chunks sized from
   * the free memory (identical results: elements are independent). */
  DevSearch s;
  memset(&s, 0, sizeof s);
  Io d;
  size_t per_elem = layout(NULL, 1, N, A, Ad, E, stochastic, gumbel, &s, &d);
  size_t whole = layout(NULL, B, N, A, Ad, E, stochastic, gumbel, &s, &d);
  int64_t chunk = B;
  size_t free_b = 0, total_b = 0;
  cudaError_t mce = cudaMemGetInfo(&free_b, &total_b);
  if (mce != cudaSuccess) {
    if (d_qvalues) cudaFree(d_qvalues);
    return mctx_status_set(st, MCTX_EDEVICE, "device", "cudaMemGetInfo: %s", cudaGetErrorString(mce));
  }
  e->mem.free_before = free_b;
  e->mem.total_bytes = total_b;
  if (whole > e->dmem_bytes || e->max_chunk > 0) {
    size_t avail = free_b + e->dmem_bytes;
    avail = avail > ((size_t)256 << 20) ? avail - ((size_t)256 << 20) : avail / 2;
    chunk = (int64_t)(avail / (per_elem + 1));
    if (chunk > B) chunk = B;
    if (e->max_chunk > 0 && chunk > e->max_chunk) chunk = e->max_chunk;
    if (chunk < 1) {
      if (d_qvalues) cudaFree(d_qvalues);
      return mctx_status_set(st, MCTX_ENOMEM, "device",
                             "one batch element's tree (%zu bytes) does not fit the %zu free bytes", per_elem, free_b);
    }
  }
  size_t need = layout(NULL, (int32_t)chunk, N, A, Ad, E, stochastic, gumbel, &s, &d);
  rc = ensure_device(e, need, st);
  if (rc) { if (d_qvalues) cudaFree(d_qvalues); return rc; }
  e->mem.last_chunk = (int32_t)chunk;

  s.m.kind = dm->kind;
  s.m.discount = dm->discount;
  s.m.zero_reward = dm->zero_reward;
  s.m.prng = dm->prng;
  s.m.qvalues = d_qvalues;
  s.m.qvalues_rows = dm->qvalues_rows;
  s.policy = p->policy;
  s.S = p->num_simulations;
  s.max_depth = p->max_depth > 0 ? p->max_depth : p->num_simulations;
  s.considered = p->max_num_considered_actions;
  s.dirichlet_fraction = p->dirichlet_fraction;
  s.one_minus_dirichlet_fraction = p->one_minus_dirichlet_fraction;
  s.dirichlet_alpha = p->dirichlet_alpha;
  s.pb_c_init = p->pb_c_init;
  s.pb_c_base = p->pb_c_base;
  s.temperature = p->temperature;
  s.gumbel_scale = p->gumbel_scale;
  s.qt = mctx_search_qtransform(p);
  s.prng = p->prng;
  s.continue_tree = continue_tree;
  s.has_invalid = root->invalid_actions != NULL;

  double tr1 = trace_on() ? host_ms() : 0.0;
  s.stats = NULL;
  if (trace_on()) {
    if (!e->stats) CUDA_CHECK(cudaMalloc(&e->stats, MCTX_SP_STATS * sizeof(unsigned long long)), st);
    CUDA_CHECK(cudaMemsetAsync(e->stats, 0, MCTX_SP_STATS * sizeof(unsigned long long), e->stream), st);
    s.stats = e->stats;
  }
  for (int32_t b0 = 0; b0 < B && rc == 0; b0 += (int32_t)chunk) {
    int32_t n = (int32_t)(b0 + chunk <= B ? chunk : B - b0);
    layout((char *)e->dmem, n, N, A, Ad, E, stochastic, gumbel, &s, &d);
    s.t.B = n;
    s.t.N = N;
    s.t.A = A;
    s.t.Ad = Ad;
    s.t.E = E;
    rc = run_chunk(e, &s, &h, &d, b0, n, B, A, Ad, E, continue_tree, tree, net,
                   dm->kind == MCTX_CUDA_MODEL_CALLBACK || dm->kind == MCTX_CUDA_MODEL_GAME ? dm : NULL, st);
  }
  double tr2 = trace_on() ? host_ms() : 0.0;
  cudaError_t sync = cudaStreamSynchronize(e->stream);
  if (trace_on()) {
    fprintf(stderr, "mctx cuda trace: B=%d A=%d S=%d path=%s plan %.3f ms, enqueue %.3f ms, wait %.3f ms, "
            "kernels %.3f ms\n", (int)B, (int)A, (int)p->num_simulations, e->mem.last_path, tr1 - tr0, tr2 - tr1,
            host_ms() - tr2, e->trace_kernel_ms);
    unsigned long long hs[MCTX_SP_STATS];
    if (e->stats && cudaMemcpy(hs, e->stats, sizeof hs, cudaMemcpyDeviceToHost) == cudaSuccess &&
        hs[MCTX_SP_STAT_CY_TOTAL]) {
      double tot = (double)hs[MCTX_SP_STAT_CY_TOTAL];
      fprintf(stderr, "mctx cuda trace: kernel counters: %llu levels sparse, %llu dense (%llu root, %llu wide), "
              "%llu key splits; lane-0 cycles: root %.1f%%, walk %.1f%%, select %.1f%%, expand %.1f%%, "
              "backup %.1f%%, finish %.1f%% of %llu (%.0f a simulation)\n",
              hs[MCTX_SP_STAT_SPARSE], hs[MCTX_SP_STAT_DENSE], hs[MCTX_SP_STAT_DENSE_ROOT],
              hs[MCTX_SP_STAT_DENSE_WIDE], hs[MCTX_SP_STAT_SPLITS], 100.0 * hs[MCTX_SP_STAT_CY_ROOT] / tot,
              100.0 * hs[MCTX_SP_STAT_CY_WALK] / tot, 100.0 * hs[MCTX_SP_STAT_CY_DENSE] / tot,
              100.0 * hs[MCTX_SP_STAT_CY_EXPAND] / tot, 100.0 * hs[MCTX_SP_STAT_CY_BACKUP] / tot,
              100.0 * hs[MCTX_SP_STAT_CY_FINISH] / tot, hs[MCTX_SP_STAT_CY_TOTAL],
              tot / ((double)B * (double)p->num_simulations));
    }
  }
  if (d_qvalues) cudaFree(d_qvalues);
  if (rc) return rc;
  if (sync != cudaSuccess)
    return mctx_status_set(st, MCTX_EDEVICE, "device", "the search kernel failed: %s", cudaGetErrorString(sync));
  int64_t expanded = 0;
  int32_t deepest = 0;
  for (int32_t b = 0; b < B; b++) {
    expanded += h.expanded[b];
    deepest = h.depth[b] > deepest ? h.depth[b] : deepest;
  }
  memcpy(res->action, h.action, (size_t)B * 4);
  if (res->action_weights) memcpy(res->action_weights, h.weights, (size_t)B * (size_t)Ad * 4);
  if (res->visit_counts) memcpy(res->visit_counts, h.visit_counts, (size_t)B * (size_t)Ad * 4);
  if (res->qvalues) memcpy(res->qvalues, h.qvalues, (size_t)B * (size_t)Ad * 4);
  if (res->root_value) memcpy(res->root_value, h.root_values, (size_t)B * 4);
  if (res->visit_probs) {
    for (int32_t b = 0; b < B; b++) {
      const float *c = h.visit_counts + (size_t)b * (size_t)Ad;
      float total = mctx__sum_canon(c, Ad);
      for (int32_t a = 0; a < Ad; a++)
        res->visit_probs[(size_t)b * (size_t)Ad + (size_t)a] =
            total > 0.0f ? c[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
    }
  }
  if (res->elem_expanded) memcpy(res->elem_expanded, h.expanded, (size_t)B * 4);
  if (res->elem_depth) memcpy(res->elem_depth, h.depth, (size_t)B * 4);
  size_t free_after = 0;
  if (cudaMemGetInfo(&free_after, &total_b) == cudaSuccess) e->mem.free_after = free_after;
  size_t held = e->dmem_bytes + e->netbuf_bytes + e->lt_ws_bytes + (e->net ? e->net->wbytes : 0);
  e->mem.engine_bytes = held;
  if (held > e->mem.peak_bytes) e->mem.peak_bytes = held;
  res->num_expanded_nodes = expanded;
  res->max_depth_reached = deepest;
  if (tree) {
    tree->num_expanded_nodes = expanded;
    tree->max_depth_reached = deepest;
  }
  return 0;
}

static void cuda_destroy(mctx_engine *base) {
  cuda_engine *e = (cuda_engine *)base;
  cudaSetDevice(e->device);
  net_plan_free(e, e->net);
  if (e->netbuf) cudaFree(e->netbuf);
  if (e->lt_ws) cudaFree(e->lt_ws);
  if (e->lt) {
    const mctx_lt_api *lt = mctx__lt_load(NULL, 0);
    if (lt) lt->destroy(e->lt);
  }
  if (e->dmem) cudaFree(e->dmem);
  if (e->stats) cudaFree(e->stats);
  if (e->hmem) cudaFreeHost(e->hmem);
  if (e->stream) cudaStreamDestroy(e->stream);
  free(e);
}

static const mctx_engine_vtable CUDA_VT = {"cuda", cuda_search, cuda_destroy};

extern "C" mctx_engine *mctx_engine_cuda_new(int device, mctx_status *st) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    mctx_status_set(st, MCTX_EDEVICE, "device", "no CUDA device: %s",
                    err != cudaSuccess ? cudaGetErrorString(err) : "none found");
    return NULL;
  }
  if (device < 0) device = 0;
  if (device >= count) {
    mctx_status_set(st, MCTX_EDEVICE, "device", "CUDA device %d does not exist (%d present)", device, count);
    return NULL;
  }
  cuda_engine *e = (cuda_engine *)calloc(1, sizeof *e);
  if (!e) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  e->base.vt = &CUDA_VT;
  e->device = device;
  cudaDeviceProp prop;
  if ((err = cudaSetDevice(device)) != cudaSuccess || (err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess ||
      (err = cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking)) != cudaSuccess) {
    mctx_status_set(st, MCTX_EDEVICE, "device", "CUDA device %d: %s", device, cudaGetErrorString(err));
    free(e);
    return NULL;
  }
  snprintf(e->mem.device_name, sizeof e->mem.device_name, "%.120s", prop.name);
  e->smem_optin = (int)prop.sharedMemPerBlockOptin;
  e->sm_count = prop.multiProcessorCount;
  e->mem.compute_capability = prop.major * 10 + prop.minor;
  e->mem.total_bytes = prop.totalGlobalMem;
  return &e->base;
}

extern "C" int mctx_engine_is_cuda(const mctx_engine *e) { return e && e->vt == &CUDA_VT; }

extern "C" void mctx_engine_cuda_memory(mctx_engine *base, mctx_cuda_memory *out) {
  *out = ((cuda_engine *)base)->mem;
}

extern "C" void mctx_engine_cuda_set_max_chunk(mctx_engine *base, int32_t max_chunk) {
  ((cuda_engine *)base)->max_chunk = max_chunk;
}
