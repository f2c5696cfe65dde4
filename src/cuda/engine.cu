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

#include "core/reduce-impl.h"
#include "cuda/kernel.cuh"

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

/* Lays out a chunk of `n` elements: tree, inputs, outputs. With a NULL base
 * it only measures. */
static size_t layout(char *base, int32_t n, int32_t N, int32_t A, int32_t Ad, int32_t E, int stochastic,
                     int gumbel, DevSearch *s) {
  carve c = {base, 0};
  size_t bn = (size_t)n * (size_t)N, bna = bn * (size_t)A;
  DevTree &t = s->t;
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
  t.root_invalid = (uint8_t *)take(&c, (size_t)n * (size_t)A);
  t.is_decision = stochastic ? (uint8_t *)take(&c, bn) : NULL;
  t.root_gumbel = gumbel ? (float *)take(&c, (size_t)n * (size_t)A * 4) : NULL;
  t.next_node = (int32_t *)take(&c, (size_t)n * 4);
  s->root_logits = (const float *)take(&c, (size_t)n * (size_t)Ad * 4);
  s->root_value = (const float *)take(&c, (size_t)n * 4);
  s->root_emb = (const uint8_t *)take(&c, (size_t)n * (size_t)(E ? E : 1));
  s->keys = (const mctx_elem_key *)take(&c, (size_t)n * sizeof(mctx_elem_key));
  s->action = (int32_t *)take(&c, (size_t)n * 4);
  s->weights = (float *)take(&c, (size_t)n * (size_t)Ad * 4);
  s->root_values = (float *)take(&c, (size_t)n * 4);
  s->visit_counts = (float *)take(&c, (size_t)n * (size_t)Ad * 4);
  s->qvalues = (float *)take(&c, (size_t)n * (size_t)Ad * 4);
  s->expanded = (int32_t *)take(&c, (size_t)n * 4);
  s->depth = (int32_t *)take(&c, (size_t)n * 4);
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
    if (to_device)
      CUDA_CHECK(cudaMemcpyAsync(parts[i].dev, parts[i].host, parts[i].bytes, cudaMemcpyHostToDevice, e->stream), st);
    else
      CUDA_CHECK(cudaMemcpyAsync(parts[i].host, parts[i].dev, parts[i].bytes, cudaMemcpyDeviceToHost, e->stream), st);
  }
  return 0;
}

static int cuda_search(mctx_engine *base, const mctx_search_params *p, const mctx_model *model,
                       const mctx_root *root, int continue_tree, mctx_tree *tree, mctx_result *res,
                       mctx_status *st) {
  cuda_engine *e = (cuda_engine *)base;
  const mctx_cuda_model *dm = (const mctx_cuda_model *)model->device;
  if (!dm || !(model->info.engines & MCTX_ENGINE_CUDA))
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model", "model '%s' does not run on the GPU", model->vt->name);
  if (dm->kind == MCTX_CUDA_MODEL_CALLBACK)
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "model",
                           "model '%s': device step callbacks need the batched CUDA path", model->vt->name);
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

  /* Host staging: roots, keys and results for the whole batch. */
  size_t Ee = (size_t)(E ? E : 1);
  size_t host_bytes = (size_t)B * ((size_t)Ad * 4 + 4 + Ee + (size_t)A + sizeof(mctx_elem_key) + 4 +
                                   (size_t)Ad * 12 + 4 + 8) + 4096;
  if ((rc = ensure_host(e, host_bytes, st))) return rc;
  carve hc = {(char *)e->hmem, 0};
  float *h_logits = (float *)take(&hc, (size_t)B * (size_t)Ad * 4);
  float *h_value = (float *)take(&hc, (size_t)B * 4);
  uint8_t *h_emb = (uint8_t *)take(&hc, (size_t)B * Ee);
  uint8_t *h_inv = (uint8_t *)take(&hc, (size_t)B * (size_t)A);
  mctx_elem_key *h_keys = (mctx_elem_key *)take(&hc, (size_t)B * sizeof(mctx_elem_key));
  int32_t *h_action = (int32_t *)take(&hc, (size_t)B * 4);
  float *h_weights = (float *)take(&hc, (size_t)B * (size_t)Ad * 4);
  float *h_counts = (float *)take(&hc, (size_t)B * (size_t)Ad * 4);
  float *h_q = (float *)take(&hc, (size_t)B * (size_t)Ad * 4);
  float *h_rv = (float *)take(&hc, (size_t)B * 4);
  int32_t *h_stats = (int32_t *)take(&hc, (size_t)B * 8);

  if (!continue_tree) {
    int need_model = !root->prior_logits || !root->value || (E && !root->embeddings);
    if (need_model) {
      if (!model->vt->root)
        return mctx_status_set(st, MCTX_EMISSING, "root_input.prior_logits", "model '%s' computes no roots",
                               model->vt->name);
      rc = model->vt->root(model->self, B, 0, root->embeddings, h_logits, h_value, h_emb, st);
      if (rc) return rc;
    }
    if (root->prior_logits && root->value) {
      memcpy(h_logits, root->prior_logits, (size_t)B * (size_t)Ad * 4);
      memcpy(h_value, root->value, (size_t)B * 4);
    }
    if (E && root->embeddings && !need_model) memcpy(h_emb, root->embeddings, (size_t)B * (size_t)E);
    else if (E && root->embeddings && need_model) memcpy(h_emb, root->embeddings, (size_t)B * (size_t)E);
  }
  memset(h_inv, 0, (size_t)B * (size_t)A);
  if (root->invalid_actions)
    for (int32_t b = 0; b < B; b++)
      memcpy(h_inv + (size_t)b * (size_t)A, root->invalid_actions + (size_t)b * (size_t)Ad, (size_t)Ad);
  for (int32_t b = 0; b < B; b++) {
    if (root->keys) h_keys[b] = root->keys[b];
    else { h_keys[b].key = p->key; h_keys[b].group_size = B; h_keys[b].group_index = b; }
  }

  /* Bandit q-values go to the device with the chunk (small). */
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

  /* Chunk size from free memory (identical results: elements are independent). */
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b), st);
  e->mem.free_before = free_b;
  e->mem.total_bytes = total_b;
  DevSearch s;
  memset(&s, 0, sizeof s);
  size_t per_elem = layout(NULL, 1, N, A, Ad, E, stochastic, gumbel, &s);
  size_t avail = free_b + e->dmem_bytes;
  avail = avail > ((size_t)256 << 20) ? avail - ((size_t)256 << 20) : avail / 2;
  int64_t chunk = (int64_t)(avail / (per_elem + 1));
  if (chunk > B) chunk = B;
  if (e->max_chunk > 0 && chunk > e->max_chunk) chunk = e->max_chunk;
  if (chunk < 1) {
    cudaFree(d_qvalues);
    return mctx_status_set(st, MCTX_ENOMEM, "device", "one batch element's tree (%zu bytes) does not fit the %zu free bytes",
                           per_elem, free_b);
  }
  size_t need = layout(NULL, (int32_t)chunk, N, A, Ad, E, stochastic, gumbel, &s);
  rc = ensure_device(e, need, st);
  if (rc) { cudaFree(d_qvalues); return rc; }
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

  int64_t expanded = 0;
  int32_t deepest = 0;
  for (int32_t b0 = 0; b0 < B; b0 += (int32_t)chunk) {
    int32_t n = (int32_t)(b0 + chunk <= B ? chunk : B - b0);
    layout((char *)e->dmem, n, N, A, Ad, E, stochastic, gumbel, &s);
    s.t.B = n;
    s.t.N = N;
    s.t.A = A;
    s.t.Ad = Ad;
    s.t.E = E;
    cudaStream_t str = e->stream;
    if (!continue_tree) {
      CUDA_CHECK(cudaMemcpyAsync((void *)s.root_logits, h_logits + (size_t)b0 * (size_t)Ad, (size_t)n * (size_t)Ad * 4,
                                 cudaMemcpyHostToDevice, str), st);
      CUDA_CHECK(cudaMemcpyAsync((void *)s.root_value, h_value + b0, (size_t)n * 4, cudaMemcpyHostToDevice, str), st);
      if (E)
        CUDA_CHECK(cudaMemcpyAsync((void *)s.root_emb, h_emb + (size_t)b0 * (size_t)E, (size_t)n * (size_t)E,
                                   cudaMemcpyHostToDevice, str), st);
    } else {
      if ((rc = copy_tree(e, tree, s.t, b0, n, 1, st))) break;
    }
    CUDA_CHECK(cudaMemcpyAsync(s.t.root_invalid, h_inv + (size_t)b0 * (size_t)A, (size_t)n * (size_t)A,
                               cudaMemcpyHostToDevice, str), st);
    CUDA_CHECK(cudaMemcpyAsync((void *)s.keys, h_keys + b0, (size_t)n * sizeof(mctx_elem_key), cudaMemcpyHostToDevice,
                               str), st);
    int threads = 128, warps = threads / 32;
    int blocks = (n + warps - 1) / warps;
    mctx__search_kernel<<<blocks, threads, 0, str>>>(s);
    CUDA_CHECK_LAUNCH(st);
    CUDA_CHECK(cudaMemcpyAsync(h_action + b0, s.action, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_weights + (size_t)b0 * (size_t)Ad, s.weights, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_counts + (size_t)b0 * (size_t)Ad, s.visit_counts, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_q + (size_t)b0 * (size_t)Ad, s.qvalues, (size_t)n * (size_t)Ad * 4,
                               cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_rv + b0, s.root_values, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_stats + (size_t)b0, s.expanded, (size_t)n * 4, cudaMemcpyDeviceToHost, str), st);
    CUDA_CHECK(cudaMemcpyAsync(h_stats + (size_t)B + (size_t)b0, s.depth, (size_t)n * 4, cudaMemcpyDeviceToHost, str),
               st);
    if (tree && (rc = copy_tree(e, tree, s.t, b0, n, 0, st))) break;
    if (B > chunk) CUDA_CHECK(cudaStreamSynchronize(str), st);  /* the next chunk reuses the workspace */
  }
  cudaError_t sync = cudaStreamSynchronize(e->stream);
  if (d_qvalues) cudaFree(d_qvalues);
  if (rc) return rc;
  if (sync != cudaSuccess)
    return mctx_status_set(st, MCTX_EDEVICE, "device", "the search kernel failed: %s", cudaGetErrorString(sync));
  for (int32_t b = 0; b < B; b++) {
    expanded += h_stats[b];
    deepest = h_stats[B + b] > deepest ? h_stats[B + b] : deepest;
  }
  memcpy(res->action, h_action, (size_t)B * 4);
  if (res->action_weights) memcpy(res->action_weights, h_weights, (size_t)B * (size_t)Ad * 4);
  if (res->visit_counts) memcpy(res->visit_counts, h_counts, (size_t)B * (size_t)Ad * 4);
  if (res->qvalues) memcpy(res->qvalues, h_q, (size_t)B * (size_t)Ad * 4);
  if (res->root_value) memcpy(res->root_value, h_rv, (size_t)B * 4);
  if (res->visit_probs) {
    for (int32_t b = 0; b < B; b++) {
      const float *c = h_counts + (size_t)b * (size_t)Ad;
      float total = mctx__sum_canon(c, Ad);
      for (int32_t a = 0; a < Ad; a++)
        res->visit_probs[(size_t)b * (size_t)Ad + (size_t)a] =
            total > 0.0f ? c[a] / (total > 1.0f ? total : 1.0f) : 1.0f / (float)Ad;
    }
  }
  if (res->elem_expanded) memcpy(res->elem_expanded, h_stats, (size_t)B * 4);
  res->num_expanded_nodes = expanded;
  res->max_depth_reached = deepest;
  if (tree) {
    tree->num_expanded_nodes = expanded;
    tree->max_depth_reached = deepest;
  }
  size_t free_after = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_after, &total_b), st);
  e->mem.free_after = free_after;
  return 0;
}

static void cuda_destroy(mctx_engine *base) {
  cuda_engine *e = (cuda_engine *)base;
  cudaSetDevice(e->device);
  if (e->dmem) cudaFree(e->dmem);
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
