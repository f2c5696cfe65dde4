/* dist/search.c: one search over the devices of a mesh.
 *
 * mctx_dist_search numbers the devices of the search the same way on every
 * process (by rank, then local ordinal), cuts the work into shares (a share is
 * a contiguous run of batch elements for partition_batch, or a number of
 * simulations with its own key for partition_search) and runs in rounds:
 *
 *   1. each device of this process runs, on a thread of its own, the shares
 *      assigned to it, writing straight into the caller's result rows
 *      (partition_batch) or into the share's root statistics
 *      (partition_search);
 *   2. the transport gives every process every device's header (status,
 *      time) and payload (its shares' rows), and every process reads the
 *      rows computed elsewhere into place;
 *   3. a device that failed (MCTX_EDEVICE, MCTX_ENOMEM) is out; its shares are
 *      moved to the healthy devices (a batch share is cut among them, a
 *      search share keeps its key and moves whole) and the next round runs
 *      them. Any other error ends the search on every process.
 *
 * partition_search then merges the shares' root statistics (merge.c) and
 * reads the action off them. Every decision depends only on what every
 * process has (the request and the exchanged headers), so the processes stay
 * in step without further messages. Failure injection (a model proxy that
 * fails in its second step, or a GPU that fails before it starts) lives here
 * too, as the tests' way to make a device fail. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/dist-impl.h"
#include "util/cpus.h"
#if defined(MCTX_DIST_HAVE_CUDA)
#include "mctx/cuda.h"
#endif

enum { SHARE_PENDING = 0, SHARE_DONE = 1, SHARE_MOVED = 2, SHARE_EMPTY = 3 };

/* A share of the work. */
typedef struct share {
  int32_t b0, n;          /* elements: [b0, b0 + n) (partition_search: all) */
  int32_t sims;           /* simulations */
  int32_t key_index;      /* partition_search: fold_in(key, key_index) */
  int32_t device;         /* the device it is assigned to; -1: to reassign */
  int32_t round;          /* the round it runs in */
  int state;              /* SHARE_* */
  int64_t expanded;
  int32_t depth;
  double time_ms;
  /* partition_search: the share's root statistics */
  float *visits, *qvalues, *value;  /* [B][A], [B][A], [B] */
  int32_t *elem_expanded;           /* [B] */
  int32_t *elem_depth;              /* [B] */
} share;

/* What travels before a share's rows in a payload. */
typedef struct share_prefix {
  int32_t share;
  int32_t depth;
  int64_t expanded;
  double time_ms;
  int64_t pad_;
} share_prefix;

/* One array of the result or the tree that partition_batch exchanges: rows of
 * `row` bytes per batch element. */
typedef struct field {
  uint8_t *base;
  size_t row;
} field;

typedef struct run run;

/* A device of this process, for one round. */
typedef struct dev_job {
  run *r;
  int32_t device;          /* in the search */
  mctx__dev *dev;
  int rc;
  mctx_status st;
  double busy_ms;
  double roots_ms;         /* of busy_ms, computing the model's roots */
  char precision[8];       /* what the model ran in */
  int32_t shares;
  uint8_t *payload;
  size_t bytes;
  pthread_t thread;
} dev_job;

struct run {
  mctx_dist_mesh *m;
  const mctx_dist_config *cfg;
  const mctx_search_params *p;
  const mctx_model *model;
  mctx_root root;              /* with roots and keys filled */
  const mctx_root *in;         /* the caller's roots */
  float *m_logits, *m_values;  /* the model's roots, [B][A] and [B] (when left to it) */
  uint8_t *m_embs;             /* [B][E] */
  int roots_by_share;          /* roots left to the model: each share makes its own */
  int32_t B, A, E;
  mctx_tree *tree;
  mctx_result *res;
  const mctx__transport *tr;
  /* the devices */
  int32_t D, used;
  int32_t *dev_rank, *dev_local;  /* [D] */
  int32_t first_local, nlocal;
  mctx__dev **local;           /* [nlocal] */
  int *failed;                 /* [D] */
  int *inject;                 /* [D]: fails in its first share */
  double *busy;                /* [D]: search time over the rounds */
  char (*precision)[8];        /* [D]: what each device's model ran in */
  char (*error)[192];          /* [D] */
  /* the work */
  share *shares;
  int32_t nshares, cap;
  int32_t round;
  int32_t reassigned;
  double roots_local_ms;       /* this process's devices computing roots */
  field fields[32];
  int nfields;
};

/* ==== Shares ==== */

void mctx_dist_share(int32_t n, int32_t d, int32_t i, int32_t *begin, int32_t *size) {
  int32_t q = n / d, rem = n % d;
  *size = q + (i < rem ? 1 : 0);
  *begin = i * q + (i < rem ? i : rem);
}

static int add_share(run *r, share s, mctx_status *st) {
  if (r->nshares == r->cap) {
    int32_t cap = r->cap ? r->cap * 2 : 16;
    share *ns = realloc(r->shares, (size_t)cap * sizeof *ns);
    if (!ns) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
    r->shares = ns;
    r->cap = cap;
  }
  r->shares[r->nshares++] = s;
  return 0;
}

static size_t align_up(size_t n) { return (n + MCTX__DIST_ALIGN - 1) / MCTX__DIST_ALIGN * MCTX__DIST_ALIGN; }

/* Bytes a share takes in a payload. */
static size_t share_bytes(const run *r, const share *s) {
  size_t n = sizeof(share_prefix);
  if (r->cfg->partition == MCTX_DIST_PARTITION_SEARCH) {
    n += (size_t)r->B * ((size_t)r->A * 2 + 3) * 4;
  } else {
    for (int f = 0; f < r->nfields; f++) n += r->fields[f].row * (size_t)s->n;
  }
  return align_up(n);
}

static void pack_share(const run *r, const share *s, int32_t index, uint8_t *out) {
  share_prefix pre;
  memset(&pre, 0, sizeof pre);
  pre.share = index;
  pre.depth = s->depth;
  pre.expanded = s->expanded;
  pre.time_ms = s->time_ms;
  memcpy(out, &pre, sizeof pre);
  uint8_t *p = out + sizeof pre;
  if (r->cfg->partition == MCTX_DIST_PARTITION_SEARCH) {
    size_t ba = (size_t)r->B * (size_t)r->A * 4, b = (size_t)r->B * 4;
    memcpy(p, s->visits, ba); p += ba;
    memcpy(p, s->qvalues, ba); p += ba;
    memcpy(p, s->value, b); p += b;
    memcpy(p, s->elem_expanded, b); p += b;
    memcpy(p, s->elem_depth, b);
    return;
  }
  for (int f = 0; f < r->nfields; f++) {
    size_t n = r->fields[f].row * (size_t)s->n;
    memcpy(p, r->fields[f].base + r->fields[f].row * (size_t)s->b0, n);
    p += n;
  }
}

/* Reads a share's prefix, and its rows when `rows` is set. */
static int unpack_share(run *r, share *s, int32_t index, const uint8_t *in, int rows, mctx_status *st) {
  share_prefix pre;
  memcpy(&pre, in, sizeof pre);
  if (pre.share != index)
    return mctx_status_set(st, MCTX_EINTERNAL, "dist", "the processes disagree on the shares (got %d, expected %d)",
                           (int)pre.share, (int)index);
  s->depth = pre.depth;
  s->expanded = pre.expanded;
  s->time_ms = pre.time_ms;
  if (!rows) return 0;
  const uint8_t *p = in + sizeof pre;
  if (r->cfg->partition == MCTX_DIST_PARTITION_SEARCH) {
    size_t ba = (size_t)r->B * (size_t)r->A * 4, b = (size_t)r->B * 4;
    memcpy(s->visits, p, ba); p += ba;
    memcpy(s->qvalues, p, ba); p += ba;
    memcpy(s->value, p, b); p += b;
    memcpy(s->elem_expanded, p, b); p += b;
    memcpy(s->elem_depth, p, b);
    return 0;
  }
  for (int f = 0; f < r->nfields; f++) {
    size_t n = r->fields[f].row * (size_t)s->n;
    memcpy(r->fields[f].base + r->fields[f].row * (size_t)s->b0, p, n);
    p += n;
  }
  return 0;
}

static void add_field(run *r, void *base, size_t row) {
  if (!base || row == 0) return;
  r->fields[r->nfields].base = base;
  r->fields[r->nfields].row = row;
  r->nfields++;
}

/* The arrays partition_batch gathers: the result's, and the tree's. */
static void batch_fields(run *r) {
  mctx_result *res = r->res;
  size_t A = (size_t)r->A;
  add_field(r, res->action, 4);
  add_field(r, res->action_weights, 4 * A);
  add_field(r, res->root_value, 4);
  add_field(r, res->visit_counts, 4 * A);
  add_field(r, res->visit_probs, 4 * A);
  add_field(r, res->qvalues, 4 * A);
  add_field(r, res->elem_expanded, 4);
  add_field(r, res->elem_depth, 4);
  mctx_tree *t = r->tree;
  if (!t) return;
  size_t N = (size_t)t->num_nodes, TA = (size_t)t->num_actions, E = (size_t)t->embedding_bytes;
  add_field(r, t->node_visits, 4 * N);
  add_field(r, t->raw_values, 4 * N);
  add_field(r, t->node_values, 4 * N);
  add_field(r, t->parents, 4 * N);
  add_field(r, t->action_from_parent, 4 * N);
  add_field(r, t->children_index, 4 * N * TA);
  add_field(r, t->children_prior_logits, 4 * N * TA);
  add_field(r, t->children_visits, 4 * N * TA);
  add_field(r, t->children_rewards, 4 * N * TA);
  add_field(r, t->children_discounts, 4 * N * TA);
  add_field(r, t->children_values, 4 * N * TA);
  add_field(r, t->children_prior_probs, 4 * N * TA);
  if (E) add_field(r, t->embeddings, N * E);
  add_field(r, t->root_invalid_actions, TA);
  add_field(r, t->is_decision, N);
  add_field(r, t->root_gumbel, 4 * TA);
  add_field(r, t->next_node, 4);
}

/* The rows [b0, b0 + n) of t, as a tree of their own (no copy). */
static mctx_tree tree_view(const mctx_tree *t, int32_t b0, int32_t n) {
  mctx_tree v = *t;
  size_t N = (size_t)t->num_nodes, TA = (size_t)t->num_actions, E = (size_t)t->embedding_bytes;
  size_t nb = (size_t)b0 * N;
  v.batch_size = n;
  v.node_visits += nb;
  v.raw_values += nb;
  v.node_values += nb;
  v.parents += nb;
  v.action_from_parent += nb;
  v.children_index += nb * TA;
  v.children_prior_logits += nb * TA;
  v.children_visits += nb * TA;
  v.children_rewards += nb * TA;
  v.children_discounts += nb * TA;
  v.children_values += nb * TA;
  v.children_prior_probs += nb * TA;
  if (v.embeddings) v.embeddings += nb * E;
  v.root_invalid_actions += (size_t)b0 * TA;
  if (v.is_decision) v.is_decision += nb;
  if (v.root_gumbel) v.root_gumbel += (size_t)b0 * TA;
  v.next_node += b0;
  return v;
}

/* ==== Failure injection ==== */

/* A model that passes everything to the real one and fails in its second
 * recurrent call: a device that breaks during its search. */
typedef struct failing_model {
  mctx_model m;
  mctx_model_vtable vt;
  const mctx_model *inner;
  atomic_int calls;
  int32_t device;
} failing_model;

static int fm_fail(failing_model *f, mctx_status *st) {
  return mctx_status_set(st, MCTX_EDEVICE, "device", "device %d failed during its search (injected failure)",
                         (int)f->device);
}

static int fm_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                   void *emb_out, mctx_status *st) {
  failing_model *f = self;
  return f->inner->vt->root(f->inner->self, n, first, emb_in, logits, value, emb_out, st);
}

static int fm_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *embeddings,
                   mctx_step_out *out, mctx_status *st) {
  failing_model *f = self;
  if (atomic_fetch_add(&f->calls, 1) >= 1) return fm_fail(f, st);
  return f->inner->vt->step(f->inner->self, n, keys, actions, embeddings, out, st);
}

static int fm_decision(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                       float *chance_logits, float *after_value, void *after_emb, mctx_status *st) {
  failing_model *f = self;
  if (atomic_fetch_add(&f->calls, 1) >= 1) return fm_fail(f, st);
  return f->inner->vt->decision(f->inner->self, n, keys, actions, emb, chance_logits, after_value, after_emb, st);
}

static int fm_chance(void *self, int32_t n, const mctx_key *keys, const int32_t *outcomes, const void *emb,
                     float *logits, float *value, float *reward, float *discount, void *state_emb, mctx_status *st) {
  failing_model *f = self;
  if (atomic_fetch_add(&f->calls, 1) >= 1) return fm_fail(f, st);
  return f->inner->vt->chance(f->inner->self, n, keys, outcomes, emb, logits, value, reward, discount, state_emb, st);
}

static void fm_destroy(void *self) { (void)self; }

static void failing_model_init(failing_model *f, const mctx_model *inner, int32_t device) {
  memset(f, 0, sizeof *f);
  f->inner = inner;
  f->device = device;
  atomic_init(&f->calls, 0);
  f->vt = *inner->vt;
  f->vt.destroy = fm_destroy;
  f->vt.root = inner->vt->root ? fm_root : NULL;
  f->vt.step = inner->vt->step ? fm_step : NULL;
  f->vt.decision = inner->vt->decision ? fm_decision : NULL;
  f->vt.chance = inner->vt->chance ? fm_chance : NULL;
  f->m = *inner;
  f->m.vt = &f->vt;
  f->m.self = f;
}

/* The devices that fail: the config's list and MCTX_DIST_FAIL_DEVICE. */
static void read_injection(run *r) {
  for (int i = 0; i < 8 && r->cfg->fail_devices[i] >= 0; i++)
    if (r->cfg->fail_devices[i] < r->D) r->inject[r->cfg->fail_devices[i]] = 1;
  const char *env = getenv("MCTX_DIST_FAIL_DEVICE");
  while (env && *env) {
    char *end;
    long d = strtol(env, &end, 10);
    if (end == env) break;
    if (d >= 0 && d < r->D) r->inject[d] = 1;
    env = *end == ',' ? end + 1 : end;
  }
}

/* ==== Roots ==== */

/* The model's roots for elements [b0, b0 + n) into the run's root buffers
 * (first index b0: a model's default roots depend on the element's index).
 * Several devices may fill disjoint ranges at once. */
static int compute_roots(run *r, int32_t b0, int32_t n, mctx_status *st) {
  const mctx_model *mdl = r->model;
  size_t A = (size_t)r->A, E = (size_t)r->E;
  const uint8_t *emb_in = r->in->embeddings ? (const uint8_t *)r->in->embeddings + (size_t)b0 * E : NULL;
  float *logits = r->m_logits + (size_t)b0 * A, *values = r->m_values + b0;
  int rc = mdl->vt->root(mdl->self, n, b0, emb_in, logits, values, r->m_embs + (size_t)b0 * E, st);
  if (rc) return rc;
  for (size_t i = 0; i < (size_t)n * A; i++)
    if (logits[i] != logits[i] || logits[i] > 3.4028235e38f)
      return mctx_status_set(st, MCTX_EMODEL, "model", "model '%s' returned non-finite root logits for batch element %d",
                             mdl->vt->name, (int)(b0 + (int32_t)(i / A)));
  for (int32_t b = 0; b < n; b++)
    if (!(values[b] - values[b] == 0.0f))
      return mctx_status_set(st, MCTX_EMODEL, "model", "model '%s' returned a non-finite root value for batch element %d",
                             mdl->vt->name, (int)(b0 + b));
  return 0;
}

/* Gives every element its key, so that any cut of the batch draws the same
 * numbers, and makes room for the roots the model computes. A share that
 * starts at element 0 leaves them to its engine (which computes them on its
 * device, with the right indices); a batch share further on has them
 * computed on its device's thread first (the model's default roots depend on
 * the element's index, which the engine would count from the share's start).
 * partition_search's merge needs them on the host: a thread computes them
 * while the devices search (start_roots). Buffers go to *own (freed by the
 * caller). */
static int prepare_roots(run *r, const mctx_root *in, void **own, mctx_status *st) {
  int32_t B = r->B, A = r->A, E = r->E;
  r->root = *in;
  r->in = in;
  int need = !in->prior_logits || !in->value || (E && !in->embeddings);
  size_t bytes = (size_t)B * sizeof(mctx_elem_key) + (need ? (size_t)B * ((size_t)A + 1) * 4 + (size_t)B * (size_t)E : 0);
  uint8_t *buf = malloc(bytes ? bytes : 1);
  *own = buf;
  if (!buf) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %d roots", (int)B);
  mctx_elem_key *keys = (mctx_elem_key *)buf;
  for (int32_t b = 0; b < B; b++) {
    if (in->keys) {
      keys[b] = in->keys[b];
    } else {
      keys[b].key = r->p->key;
      keys[b].group_size = B;
      keys[b].group_index = b;
    }
  }
  r->root.keys = keys;
  if (!need) return 0;
  if (!r->model->vt->root)
    return mctx_status_set(st, MCTX_EMISSING, "root_input.prior_logits",
                           "model '%s' computes no roots: give prior_logits and value", r->model->vt->name);
  r->m_logits = (float *)(keys + B);
  r->m_values = r->m_logits + (size_t)B * (size_t)A;
  r->m_embs = (uint8_t *)(r->m_values + B);
  /* The request's logits and values win over the model's defaults. */
  if (!in->prior_logits || !in->value) {
    r->root.prior_logits = r->m_logits;
    r->root.value = r->m_values;
  }
  if (E && !in->embeddings) r->root.embeddings = r->m_embs;
  r->roots_by_share = 1;
  return 0;
}

/* partition_search: the roots on the host, for the merge, beside the search. */
typedef struct roots_job {
  run *r;
  int rc;
  mctx_status st;
  double ms;
  pthread_t thread;
  int started;
} roots_job;

static void *roots_main(void *arg) {
  roots_job *j = arg;
  double t0 = mctx__dist_now_ms();
  j->rc = compute_roots(j->r, 0, j->r->B, &j->st);
  j->ms = mctx__dist_now_ms() - t0;
  return NULL;
}

static void start_roots(run *r, roots_job *j) {
  memset(j, 0, sizeof *j);
  j->r = r;
  if (!r->roots_by_share || r->cfg->partition != MCTX_DIST_PARTITION_SEARCH) return;
  if (pthread_create(&j->thread, NULL, roots_main, j) == 0) j->started = 1;
  else roots_main(j);
}

static int finish_roots(roots_job *j, mctx_status *st) {
  if (j->started) pthread_join(j->thread, NULL);
  j->started = 0;
  if (j->rc && st) *st = j->st;
  return j->rc;
}

/* ==== Running shares ==== */

/* A CPU device searches in a tree of its own that it keeps between searches
 * (as a service keeps its trees): a view of its first n rows, reallocated
 * when the search's shape changes. A tree larger than this is given back
 * after its search, so that one large request leaves no memory held. GPUs
 * keep their trees on the device. */
#define TREE_CACHE_BYTES ((size_t)256 << 20)

static void release_device_tree(mctx__dev *dev) {
  mctx_tree *t = dev->tree;
  if (!t) return;
  size_t bytes = mctx_tree_bytes(t->batch_size, t->num_nodes, t->num_actions, t->embedding_bytes,
                                 t->is_decision != NULL, t->root_gumbel != NULL);
  if (bytes == 0 || bytes > TREE_CACHE_BYTES) {
    mctx_tree_free(t);
    dev->tree = NULL;
  }
}

static int device_tree(run *r, mctx__dev *dev, int32_t n, int32_t sims, mctx_tree *view, mctx_tree **out,
                       mctx_status *st) {
  *out = NULL;
  if (dev->kind != MCTX_DIST_DEVICE_CPU) return 0;
  int stochastic = r->p->policy == MCTX_POLICY_STOCHASTIC_MUZERO;
  int gumbel = r->p->policy == MCTX_POLICY_GUMBEL_MUZERO;
  int32_t C = stochastic ? r->model->info.num_chance_outcomes : 0;
  mctx_tree *t = dev->tree;
  if (!t || t->batch_size < n || t->num_nodes != sims + 1 || t->num_actions != r->A + C ||
      t->num_decision_actions != r->A || t->embedding_bytes != r->E || (t->is_decision != NULL) != stochastic ||
      (t->root_gumbel != NULL) != gumbel) {
    mctx_tree_free(dev->tree);
    dev->tree = mctx_tree_new(n, sims + 1, r->A + C, r->A, r->E, stochastic, gumbel, st);
    if (!dev->tree) return st && st->code ? st->code : MCTX_ENOMEM;
  }
  *view = tree_view(dev->tree, 0, n);
  *out = view;
  return 0;
}

static int run_batch_share(run *r, mctx__dev *dev, const mctx_model *model, share *s, mctx_status *st) {
  int32_t b0 = s->b0, n = s->n, A = r->A;
  size_t ba = (size_t)b0 * (size_t)A;
  const mctx_root *root = &r->root;
  mctx_root sub = {n, A, root->prior_logits + ba, root->value + b0,
                   root->embeddings ? (const uint8_t *)root->embeddings + (size_t)b0 * (size_t)r->E : NULL,
                   root->invalid_actions ? root->invalid_actions + ba : NULL, root->keys + b0};
  if (r->roots_by_share && b0 == 0) {
    /* From element 0 the engine makes the model's roots itself, as one device would. */
    sub.prior_logits = r->in->prior_logits;
    sub.value = r->in->value;
    sub.embeddings = r->in->embeddings;
  }
  mctx_result *res = r->res;
  mctx_result sr = {res->action + b0,
                    res->action_weights ? res->action_weights + ba : NULL,
                    res->root_value ? res->root_value + b0 : NULL,
                    res->visit_counts ? res->visit_counts + ba : NULL,
                    res->visit_probs ? res->visit_probs + ba : NULL,
                    res->qvalues ? res->qvalues + ba : NULL,
                    res->elem_expanded ? res->elem_expanded + b0 : NULL,
                    0, 0,
                    res->elem_depth ? res->elem_depth + b0 : NULL};
  mctx_tree view, *tp = NULL;
  int rc = 0;
  if (r->tree) {
    view = tree_view(r->tree, b0, n);
    tp = &view;
  } else {
    rc = device_tree(r, dev, n, r->p->num_simulations, &view, &tp, st);
    if (rc) return rc;
  }
  rc = mctx_engine_search(dev->engine, r->p, model, &sub, 0, tp, &sr, st);
  s->expanded = sr.num_expanded_nodes;
  s->depth = sr.max_depth_reached;
  if (!r->tree) release_device_tree(dev);
  return rc;
}

static int run_search_share(run *r, mctx__dev *dev, const mctx_model *model, share *s, mctx_status *st) {
  int32_t B = r->B;
  mctx_search_params p = *r->p;
  p.num_simulations = s->sims;
  mctx_elem_key *keys = malloc((size_t)B * sizeof *keys);
  int32_t *action = malloc((size_t)B * sizeof *action);
  if (!keys || !action) {
    free(keys);
    free(action);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for a share of %d elements", (int)B);
  }
  for (int32_t b = 0; b < B; b++) {
    keys[b] = r->root.keys[b];
    keys[b].key = mctx_prng_fold_in(p.prng, r->root.keys[b].key, (uint32_t)s->key_index);
  }
  mctx_root sub = r->root;
  sub.keys = keys;
  if (r->roots_by_share) {
    /* Every share covers the whole batch: the engine makes the model's roots. */
    sub.prior_logits = r->in->prior_logits;
    sub.value = r->in->value;
    sub.embeddings = r->in->embeddings;
  }
  mctx_result sr = {action, NULL, s->value, s->visits, NULL, s->qvalues, s->elem_expanded, 0, 0, s->elem_depth};
  mctx_tree view, *tp = NULL;
  int rc = device_tree(r, dev, B, s->sims, &view, &tp, st);
  if (rc == 0) rc = mctx_engine_search(dev->engine, &p, model, &sub, 0, tp, &sr, st);
  s->expanded = sr.num_expanded_nodes;
  s->depth = sr.max_depth_reached;
  release_device_tree(dev);
  free(keys);
  free(action);
  return rc;
}

/* A device's round: its pending shares, in order, until one fails. */
static void *device_main(void *arg) {
  dev_job *j = arg;
  run *r = j->r;
  mctx__dev *dev = j->dev;
  const mctx_model *model = r->model;
  if (r->cfg->model_for_device) {
    const mctx_model *own = r->cfg->model_for_device(r->cfg->model_arg, dev->kind, dev->ordinal);
    if (own) model = own;
  }
  failing_model fm;
  int inject = 0;
  for (int32_t i = 0; i < r->nshares; i++) {
    share *s = &r->shares[i];
    if (s->state != SHARE_PENDING || s->device != j->device || s->round != r->round) continue;
    if (r->inject[j->device]) {
      r->inject[j->device] = 0; /* only this thread touches its entry */
      inject = 1;
      if (dev->kind == MCTX_DIST_DEVICE_GPU) {
        j->rc = mctx_status_set(&j->st, MCTX_EDEVICE, "device", "device %d failed before its search (injected failure)",
                                (int)j->device);
        break;
      }
      failing_model_init(&fm, model, j->device);
    }
    double t0 = mctx__dist_now_ms();
    const mctx_model *use = inject ? &fm.m : model;
    int rc = 0;
    if (r->roots_by_share && r->cfg->partition == MCTX_DIST_PARTITION_BATCH && s->b0 > 0) {
      rc = compute_roots(r, s->b0, s->n, &j->st);
      j->roots_ms += mctx__dist_now_ms() - t0;
    }
    if (rc == 0)
      rc = r->cfg->partition == MCTX_DIST_PARTITION_SEARCH ? run_search_share(r, dev, use, s, &j->st)
                                                           : run_batch_share(r, dev, use, s, &j->st);
    s->time_ms = mctx__dist_now_ms() - t0;
    j->busy_ms += s->time_ms;
    if (rc != 0) {
      j->rc = rc;
      break;
    }
    j->shares++;
    /* What the model ran in: a GPU network's path says (fp16, bf16), else the model. */
    snprintf(j->precision, sizeof j->precision, "%s", model->info.precision ? model->info.precision : "fp32");
#if defined(MCTX_DIST_HAVE_CUDA)
    if (dev->kind == MCTX_DIST_DEVICE_GPU) {
      mctx_cuda_memory mem;
      mctx_engine_cuda_memory(dev->engine, &mem);
      if (mem.last_precision[0]) snprintf(j->precision, sizeof j->precision, "%s", mem.last_precision);
    }
#endif
  }
  return NULL;
}

/* ==== The devices of a search ==== */

/* One process's devices write their results where they belong, in host
 * memory: nothing to exchange. */
const mctx__transport mctx__transport_local = {"local", 0, NULL};

static int plan_devices(run *r, mctx_status *st) {
  mctx_dist_mesh *m = r->m;
  int engines = r->model->info.engines;
  mctx_dist_device_kind kind = r->cfg->device;
  r->D = mctx_dist_mesh_num_devices(m, kind, engines);
  size_t D = (size_t)(r->D > 0 ? r->D : 1);
  r->dev_rank = calloc(D, sizeof(int32_t));
  r->dev_local = calloc(D, sizeof(int32_t));
  r->failed = calloc(D, sizeof(int));
  r->inject = calloc(D, sizeof(int));
  r->busy = calloc(D, sizeof(double));
  r->error = calloc(D, sizeof *r->error);
  r->precision = calloc(D, sizeof *r->precision);
  r->local = calloc((size_t)MCTX__DIST_MAX_GPUS + MCTX__DIST_MAX_CPUS, sizeof(mctx__dev *));
  if (!r->dev_rank || !r->dev_local || !r->failed || !r->inject || !r->busy || !r->error || !r->precision || !r->local)
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  int32_t d = 0;
  int all_gpu = 1;
  for (int k = 0; k < m->nranks; k++) {
    int gpu = mctx__rank_uses_gpu(m, k, kind, engines);
    all_gpu &= gpu;
    int n = mctx__rank_devices(m, k, kind, engines);
    if (k == m->rank) {
      r->first_local = d;
      r->nlocal = n;
      for (int i = 0; i < n; i++) r->local[i] = gpu ? &m->gpus[i] : &m->cpus[i];
    }
    for (int i = 0; i < n; i++, d++) {
      r->dev_rank[d] = k;
      r->dev_local[d] = i;
    }
  }
  r->used = r->cfg->num_devices < r->D ? r->cfg->num_devices : r->D;
  if (all_gpu && m->nccl) r->tr = m->nranks > 1 ? &mctx__transport_mpi_nccl : &mctx__transport_nccl;
  else if (m->nranks > 1) r->tr = &mctx__transport_mpi;
  else r->tr = &mctx__transport_local;
  read_injection(r);
  return 0;
}

/* Why the search runs on fewer devices than asked for, or not on GPUs. */
static void explain(const run *r, char *out, size_t n) {
  const mctx_dist_mesh *m = r->m;
  int engines = r->model->info.engines;
  size_t len = 0;
  out[0] = '\0';
  if (r->used < r->cfg->num_devices) {
    int gpus = 0, cpus = 0;
    for (int k = 0; k < m->nranks; k++) {
      if (mctx__rank_uses_gpu(m, k, r->cfg->device, engines)) gpus += m->ranks[k].ngpus;
      else cpus += m->ranks[k].ncpus;
    }
    len += (size_t)snprintf(out + len, n - len, "%d devices asked for, %d present: ", (int)r->cfg->num_devices,
                            (int)r->D);
    if (m->nranks == 1) len += (size_t)snprintf(out + len, n - len, "one process (not started by mpirun)");
    else len += (size_t)snprintf(out + len, n - len, "%d MPI processes", m->nranks);
    if (gpus) len += (size_t)snprintf(out + len, n - len, " with %d GPU%s", gpus, gpus == 1 ? "" : "s");
    if (cpus)
      len += (size_t)snprintf(out + len, n - len, "%s %d CPU device%s", gpus ? " and" : " with", cpus,
                              cpus == 1 ? "" : "s");
  }
  /* Where GPUs were not used, and why. */
  if (r->cfg->device != MCTX_DIST_DEVICE_CPU && len < n) {
    const char *why = NULL;
    char buf[224];
    if (!(engines & MCTX_ENGINE_CUDA)) {
      snprintf(buf, sizeof buf, "model '%.60s' runs on the CPU only", r->model->vt->name);
      why = buf;
    } else {
      for (int k = 0; k < m->nranks && !why; k++)
        if (m->ranks[k].ngpus == 0) {
          if (m->nranks == 1) snprintf(buf, sizeof buf, "no GPU: %.190s", m->ranks[k].no_gpu);
          else snprintf(buf, sizeof buf, "process %d has no GPU: %.170s", k, m->ranks[k].no_gpu);
          why = buf;
        }
    }
    if (why && (r->used < r->cfg->num_devices || r->cfg->device == MCTX_DIST_DEVICE_GPU))
      snprintf(out + len, n - len, "%s%s", len ? "; " : "", why);
  }
}

/* ==== Rounds ==== */

static int is_device_failure(int code) { return code == MCTX_EDEVICE || code == MCTX_ENOMEM; }

/* Runs the pending shares of this round on this process's devices, then
 * exchanges every device's results. Fills hdr [D]; adds the time spent
 * packing, exchanging (waiting for the other processes included) and
 * unpacking to *comm_ms. */
static int run_round(run *r, mctx__dev_header *hdr, double *comm_ms, mctx_status *st) {
  dev_job *jobs = calloc((size_t)(r->nlocal > 0 ? r->nlocal : 1), sizeof *jobs);
  uint8_t **send = calloc((size_t)(r->nlocal > 0 ? r->nlocal : 1), sizeof *send);
  size_t *offset = calloc((size_t)r->D, sizeof *offset);
  int rc = 0;
  if (!jobs || !send || !offset) {
    free(jobs); free(send); free(offset);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  /* A thread per device that has work; the last one runs on this thread. */
  int last = -1;
  for (int32_t i = 0; i < r->nlocal; i++) {
    jobs[i].r = r;
    jobs[i].device = r->first_local + i;
    jobs[i].dev = r->local[i];
    for (int32_t k = 0; k < r->nshares; k++)
      if (r->shares[k].state == SHARE_PENDING && r->shares[k].device == jobs[i].device) last = i;
  }
  int *started = calloc((size_t)(r->nlocal > 0 ? r->nlocal : 1), sizeof(int));
  if (!started) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  for (int32_t i = 0; rc == 0 && i < last; i++) {
    int has = 0;
    for (int32_t k = 0; k < r->nshares && !has; k++)
      has = r->shares[k].state == SHARE_PENDING && r->shares[k].device == jobs[i].device;
    if (!has) continue;
    if (pthread_create(&jobs[i].thread, NULL, device_main, &jobs[i]) == 0) started[i] = 1;
    else device_main(&jobs[i]);
  }
  if (rc == 0 && last >= 0) device_main(&jobs[last]);
  for (int32_t i = 0; started && i < r->nlocal; i++)
    if (started[i]) pthread_join(jobs[i].thread, NULL);
  free(started);
  for (int32_t i = 0; i < r->nlocal; i++) r->roots_local_ms += jobs[i].roots_ms;
  double c0 = mctx__dist_now_ms();

  /* Headers and payloads of this process's devices. */
  int exchange = rc == 0 && r->tr->exchange != NULL;
  for (int32_t i = 0; rc == 0 && i < r->nlocal; i++) {
    dev_job *j = &jobs[i];
    mctx__dev_header *h = &hdr[j->device];
    memset(h, 0, sizeof *h);
    h->device = j->device;
    h->rc = j->rc;
    h->shares = j->shares;
    h->busy_ms = j->busy_ms;
    snprintf(h->precision, sizeof h->precision, "%s", j->precision);
    if (j->rc) {
      snprintf(h->field, sizeof h->field, "%s", j->st.field);
      snprintf(h->reason, sizeof h->reason, "%s", j->st.reason);
      continue;
    }
    if (!exchange) continue;
    size_t bytes = 0;
    for (int32_t k = 0; k < r->nshares; k++) {
      share *s = &r->shares[k];
      if (s->state == SHARE_PENDING && s->device == j->device && s->round == r->round) bytes += share_bytes(r, s);
    }
    send[i] = malloc(bytes ? bytes : 1);
    if (!send[i]) {
      rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %zu bytes of results", bytes);
      break;
    }
    size_t off = 0;
    for (int32_t k = 0; k < r->nshares; k++) {
      share *s = &r->shares[k];
      if (s->state != SHARE_PENDING || s->device != j->device || s->round != r->round) continue;
      pack_share(r, s, k, send[i] + off);
      off += share_bytes(r, s);
    }
    h->payload_bytes = (int64_t)bytes;
  }
  /* Every process must take part in the exchange, even one that ran out of
   * memory above: it then reports the failure as its devices'. */
  if (r->tr->exchange) {
    if (rc != 0) {
      for (int32_t i = 0; i < r->nlocal; i++) {
        mctx__dev_header *h = &hdr[r->first_local + i];
        memset(h, 0, sizeof *h);
        h->device = r->first_local + i;
        h->rc = rc;
        snprintf(h->reason, sizeof h->reason, "%s", st->reason);
        free(send[i]);
        send[i] = NULL;
      }
      rc = 0;
    }
    mctx__xchg x = {r->D, r->dev_rank, r->first_local, r->nlocal, hdr, send, NULL, 0, offset};
    rc = r->tr->exchange(r->m, &x, st);
    /* Rows computed elsewhere (or, through GPUs, everywhere) into place. */
    for (int32_t d = 0; rc == 0 && d < r->D; d++) {
      if (hdr[d].rc != 0) continue;
      int local = d >= r->first_local && d < r->first_local + r->nlocal;
      size_t off = x.offset[d], expect = 0;
      for (int32_t k = 0; rc == 0 && k < r->nshares; k++) {
        share *s = &r->shares[k];
        if (s->state != SHARE_PENDING || s->device != d || s->round != r->round) continue;
        expect += share_bytes(r, s);
        if (expect > (size_t)hdr[d].payload_bytes) break;
        rc = unpack_share(r, s, k, x.recv + off, !local || r->tr->unpack_local, st);
        off += share_bytes(r, s);
      }
      if (rc == 0 && expect != (size_t)hdr[d].payload_bytes)
        rc = mctx_status_set(st, MCTX_EINTERNAL, "dist",
                             "device %d sent %lld bytes of results, %zu were expected (do all processes run the same request?)",
                             (int)d, (long long)hdr[d].payload_bytes, expect);
    }
    if (!x.recv_borrowed) free(x.recv);
    *comm_ms += mctx__dist_now_ms() - c0;
  }
  for (int32_t i = 0; i < r->nlocal; i++) free(send[i]);
  free(send);
  free(offset);
  free(jobs);
  return rc;
}

/* Moves the shares of failed devices to the healthy ones. */
static int reassign(run *r, mctx_status *st) {
  int32_t *healthy = malloc((size_t)(r->used > 0 ? r->used : 1) * sizeof(int32_t));
  if (!healthy) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  int32_t H = 0;
  for (int32_t d = 0; d < r->used; d++)
    if (!r->failed[d]) healthy[H++] = d;
  int rc = 0;
  int32_t next = 0, n0 = r->nshares;
  for (int32_t k = 0; k < n0 && rc == 0; k++) {
    share *s = &r->shares[k];
    if (s->state != SHARE_PENDING || s->device >= 0) continue;
    if (H == 0) {
      rc = mctx_status_set(st, MCTX_EDEVICE, "devices", "every device failed: %s", r->error[0]);
      break;
    }
    r->reassigned++;
    if (r->cfg->partition == MCTX_DIST_PARTITION_SEARCH) {
      /* A search share keeps its key: the device that takes it computes what
       * the failed one would have. */
      s->device = healthy[next++ % H];
      continue;
    }
    /* A batch share is cut among the healthy devices. */
    share whole = *s;
    s->state = SHARE_MOVED;
    for (int32_t i = 0; i < H && rc == 0; i++) {
      int32_t b, n;
      mctx_dist_share(whole.n, H, i, &b, &n);
      if (n == 0) continue;
      share piece = whole;
      piece.b0 = whole.b0 + b;
      piece.n = n;
      piece.device = healthy[i];
      piece.state = SHARE_PENDING;
      rc = add_share(r, piece, st);
    }
  }
  free(healthy);
  return rc;
}

/* ==== Merging (partition_search) ==== */

/* Elements [b0, b1) of the merge, on a thread of their own. */
typedef struct merge_job {
  run *r;
  int32_t b0, b1, T;
  const float *const *vis, *const *q, *const *v;  /* [T] */
  int32_t *mv;
  float *mq, *mval;
  int rc;
  mctx_status st;
  pthread_t thread;
} merge_job;

static void *merge_main(void *arg) {
  merge_job *j = arg;
  run *r = j->r;
  int32_t A = r->A, n = j->b1 - j->b0, T = j->T;
  size_t off = (size_t)j->b0 * (size_t)A;
  const float **pv = malloc((size_t)(T > 0 ? T : 1) * 3 * sizeof *pv);
  float *scratch = malloc((size_t)A * 7 * sizeof(float));
  if (!pv || !scratch) {
    free(pv);
    free(scratch);
    j->rc = mctx_status_set(&j->st, MCTX_ENOMEM, NULL, "out of memory");
    return NULL;
  }
  const float **pq = pv + T, **pval = pv + 2 * (size_t)T;
  for (int32_t t = 0; t < T; t++) {
    pv[t] = j->vis[t] + off;
    pq[t] = j->q[t] + off;
    pval[t] = j->v[t] + j->b0;
  }
  j->rc = mctx__merge_stats(r->cfg->merge, T, pv, pq, pval, n, A, j->mv + off, j->mq + off, j->mval + j->b0, &j->st);
  mctx_result *res = r->res;
  for (int32_t b = j->b0; j->rc == 0 && b < j->b1; b++) {
    size_t row = (size_t)b * (size_t)A;
    mctx__root_stats rs = {j->mv + row, j->mq + row, j->mval[b], r->root.value[b], r->root.prior_logits + row,
                           r->root.invalid_actions ? r->root.invalid_actions + row : NULL, r->root.keys[b]};
    float *weights = res->action_weights ? res->action_weights + row : scratch + 6 * (size_t)A;
    mctx__finish_root(r->p, A, &rs, scratch, &res->action[b], weights,
                      res->visit_probs ? res->visit_probs + row : NULL);
    if (res->visit_counts)
      for (int32_t a = 0; a < A; a++) res->visit_counts[row + (size_t)a] = (float)j->mv[row + (size_t)a];
    if (res->qvalues) memcpy(res->qvalues + row, j->mq + row, (size_t)A * sizeof(float));
    if (res->root_value) res->root_value[b] = j->mval[b];
    if (res->elem_expanded) {
      int32_t sum = 0;
      for (int32_t k = 0; k < r->nshares; k++)
        if (r->shares[k].state == SHARE_DONE) sum += r->shares[k].elem_expanded[b];
      res->elem_expanded[b] = sum;
    }
    if (res->elem_depth) {
      int32_t most = 0;
      for (int32_t k = 0; k < r->nshares; k++)
        if (r->shares[k].state == SHARE_DONE && r->shares[k].elem_depth[b] > most) most = r->shares[k].elem_depth[b];
      res->elem_depth[b] = most;
    }
  }
  free(pv);
  free(scratch);
  return NULL;
}

/* Merges the shares' root statistics and reads every element's action off
 * them, over the cores of this process (each element is independent, so
 * the cut does not change a bit). */
static int merge_and_finish(run *r, mctx_status *st) {
  int32_t B = r->B, A = r->A, T = 0;
  const float **vis = malloc((size_t)r->nshares * 3 * sizeof *vis);
  int32_t *mv = malloc((size_t)B * (size_t)A * sizeof(int32_t));
  float *mq = malloc((size_t)B * (size_t)A * sizeof(float));
  float *mval = malloc((size_t)B * sizeof(float));
  long cores = mctx_cpu_count();
  int32_t nt = (int32_t)(cores / (r->m->local_size > 0 ? r->m->local_size : 1));
  if (nt > 32) nt = 32;
  if (nt > B / 256) nt = B / 256;
  if (nt < 1) nt = 1;
  merge_job *jobs = calloc((size_t)nt, sizeof *jobs);
  int rc = 0;
  if (!vis || !mv || !mq || !mval || !jobs) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  const float **q = vis + r->nshares, **v = vis + 2 * (size_t)r->nshares;
  /* Shares in key order: the merge does not depend on which device ran them. */
  for (int32_t k = 0; rc == 0 && k < r->nshares; k++) {
    share *s = &r->shares[k];
    if (s->state != SHARE_DONE) continue;
    vis[T] = s->visits;
    q[T] = s->qvalues;
    v[T] = s->value;
    T++;
  }
  for (int32_t i = 0; rc == 0 && i < nt; i++) {
    merge_job *j = &jobs[i];
    int32_t b, n;
    mctx_dist_share(B, nt, i, &b, &n);
    j->r = r;
    j->b0 = b;
    j->b1 = b + n;
    j->T = T;
    j->vis = vis;
    j->q = q;
    j->v = v;
    j->mv = mv;
    j->mq = mq;
    j->mval = mval;
    if (i == nt - 1 || pthread_create(&j->thread, NULL, merge_main, j) != 0) {
      merge_main(j);
      j->thread = pthread_self();
    }
  }
  for (int32_t i = 0; rc == 0 && i < nt; i++) {
    if (!pthread_equal(jobs[i].thread, pthread_self())) pthread_join(jobs[i].thread, NULL);
    if (jobs[i].rc && rc == 0) {
      rc = jobs[i].rc;
      if (st) *st = jobs[i].st;
    }
  }
  free(vis); free(mv); free(mq); free(mval); free(jobs);
  return rc;
}

/* ==== Statistics ==== */

static int fill_stats(run *r, mctx_dist_stats *out, mctx_status *st) {
  mctx_dist_mesh *m = r->m;
  out->partition = r->cfg->partition;
  out->merge = r->cfg->merge;
  snprintf(out->transport, sizeof out->transport, "%s", r->tr->name);
  out->num_ranks = m->nranks;
  out->requested_devices = r->cfg->num_devices;
  out->present_devices = r->D;
  out->used_devices = r->used;
  explain(r, out->reason, sizeof out->reason);
  out->optimized = r->cfg->optimized;
  const char *prec = r->cfg->precision ? r->cfg->precision : r->model->info.precision;
  snprintf(out->precision, sizeof out->precision, "%s", prec ? prec : "fp32");
  out->reassigned_shares = r->reassigned;
  out->num_devices = r->used;
  out->devices = calloc((size_t)(r->used > 0 ? r->used : 1), sizeof *out->devices);
  if (!out->devices) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  int engines = r->model->info.engines;
  int search = r->cfg->partition == MCTX_DIST_PARTITION_SEARCH;
  for (int32_t d = 0; d < r->used; d++) {
    mctx_dist_device_stats *ds = &out->devices[d];
    int k = r->dev_rank[d], i = r->dev_local[d];
    const mctx__rank_info *ri = &m->ranks[k];
    ds->index = d;
    ds->rank = k;
    snprintf(ds->host, sizeof ds->host, "%s", ri->host);
    if (mctx__rank_uses_gpu(m, k, r->cfg->device, engines)) {
      snprintf(ds->kind, sizeof ds->kind, "gpu");
      ds->ordinal = ri->gpu_ordinal[i];
      snprintf(ds->name, sizeof ds->name, "%s", ri->gpu_name[i]);
    } else {
      snprintf(ds->kind, sizeof ds->kind, "cpu");
      ds->ordinal = i;
      snprintf(ds->name, sizeof ds->name, "cpu %d (%d thread%s)", i, (int)ri->cpu_threads,
               ri->cpu_threads == 1 ? "" : "s");
    }
    int32_t b0, n;
    mctx_dist_share(search ? r->p->num_simulations : r->B, r->used, d, &b0, &n);
    ds->share_begin = search ? 0 : b0;
    ds->share_size = n;
    ds->time_ms = r->busy[d];
    snprintf(ds->precision, sizeof ds->precision, "%s", r->precision[d]);
    ds->failed = r->failed[d];
    snprintf(ds->error, sizeof ds->error, "%s", r->error[d]);
    if (r->failed[d]) out->failed_devices++;
  }
  for (int32_t k = 0; k < r->nshares; k++) {
    share *s = &r->shares[k];
    if (s->state != SHARE_DONE || s->device < 0 || s->device >= r->used) continue;
    out->devices[s->device].ran_size += search ? s->sims : s->n;
    out->devices[s->device].shares_run++;
  }
  return 0;
}

/* ==== The search ==== */

void mctx_dist_config_init(mctx_dist_config *c) {
  memset(c, 0, sizeof *c);
  c->num_devices = 1;
  c->partition = MCTX_DIST_PARTITION_BATCH;
  c->merge = MCTX_DIST_MERGE_SUM_VISITS;
  c->device = MCTX_DIST_DEVICE_AUTO;
  c->precision = NULL;
  for (int i = 0; i < 8; i++) c->fail_devices[i] = -1;
}

static int check_args(const mctx_dist_config *cfg, const mctx_search_params *p, const mctx_model *model,
                      const mctx_root *root, const mctx_tree *tree, mctx_status *st) {
  if (cfg->num_devices < 1)
    return mctx_status_set(st, MCTX_ERANGE, "search_params.num_devices", "must be >= 1, not %d", (int)cfg->num_devices);
  if (cfg->partition != MCTX_DIST_PARTITION_BATCH && cfg->partition != MCTX_DIST_PARTITION_SEARCH)
    return mctx_status_set(st, MCTX_EINVALID, "search_params.partition_search", "unknown partition %d", (int)cfg->partition);
  if ((int)cfg->merge < 0 || cfg->merge > MCTX_DIST_MERGE_CONSENSUS)
    return mctx_status_set(st, MCTX_EINVALID, "search_params.merge_strategy", "unknown merge strategy %d", (int)cfg->merge);
  if (root->batch_size < 1) return mctx_status_set(st, MCTX_ERANGE, "root_input.batch_size", "must be >= 1");
  if (root->num_actions < 1) return mctx_status_set(st, MCTX_ERANGE, "root_input.num_actions", "must be >= 1");
  int rc = mctx_search_params_check(p, root->num_actions, st);
  if (rc) return rc;
  if (model->info.num_actions > 0 && model->info.num_actions != root->num_actions)
    return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "model '%s' has %d actions, the request %d",
                           model->vt->name, (int)model->info.num_actions, (int)root->num_actions);
  if (root->invalid_actions) {
    for (int32_t b = 0; b < root->batch_size; b++) {
      int32_t valid = 0;
      for (int32_t a = 0; a < root->num_actions; a++)
        valid += root->invalid_actions[(size_t)b * (size_t)root->num_actions + (size_t)a] ? 0 : 1;
      if (!valid) {
        char f[64];
        snprintf(f, sizeof f, "root_input.invalid_actions[%d]", (int)b);
        return mctx_status_set(st, MCTX_EINVALID, f, "every action of batch element %d is invalid", (int)b);
      }
    }
  }
  if (tree) {
    if (cfg->partition == MCTX_DIST_PARTITION_SEARCH)
      return mctx_status_set(st, MCTX_EUNSUPPORTED, "return_tree",
                             "partition_search leaves one tree per device, not one tree: ask for partition_batch");
    if (tree->batch_size != root->batch_size || tree->num_decision_actions != root->num_actions ||
        tree->num_nodes < p->num_simulations + 1 || tree->embedding_bytes != model->info.embedding_bytes)
      return mctx_status_set(st, MCTX_ESHAPE, "tree", "the tree does not fit this search");
  }
  return 0;
}

int mctx_dist_search(mctx_dist_mesh *mesh, const mctx_dist_config *cfg, const mctx_search_params *p,
                     const mctx_model *model, const mctx_root *root, mctx_tree *tree, mctx_result *res,
                     mctx_dist_stats *stats, mctx_status *st) {
  mctx_status_clear(st);
  if (stats) memset(stats, 0, sizeof *stats);
  double t_start = mctx__dist_now_ms();
  int rc = check_args(cfg, p, model, root, tree, st);
  if (rc) return rc;
  pthread_mutex_lock(&mesh->lock);
  run r;
  memset(&r, 0, sizeof r);
  r.m = mesh;
  r.cfg = cfg;
  r.p = p;
  r.model = model;
  r.B = root->batch_size;
  r.A = root->num_actions;
  r.E = model->info.embedding_bytes;
  r.tree = tree;
  r.res = res;
  void *own_roots = NULL;
  double comm_ms = 0.0, merge_ms = 0.0;
  roots_job rj;
  memset(&rj, 0, sizeof rj);
  mctx__dev_header *hdr = NULL;
  rc = plan_devices(&r, st);
  if (rc == 0) rc = prepare_roots(&r, root, &own_roots, st);
  if (rc == 0) start_roots(&r, &rj);
  if (rc == 0) {
    hdr = calloc((size_t)r.D, sizeof *hdr);
    if (!hdr) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  /* The first shares: one per used device. */
  int search = cfg->partition == MCTX_DIST_PARTITION_SEARCH;
  if (!search) batch_fields(&r);
  for (int32_t d = 0; rc == 0 && d < r.used; d++) {
    share s;
    memset(&s, 0, sizeof s);
    s.device = d;
    s.key_index = d;
    if (search) {
      int32_t b0;
      mctx_dist_share(p->num_simulations, r.used, d, &b0, &s.sims);
      s.b0 = 0;
      s.n = r.B;
      s.state = s.sims > 0 ? SHARE_PENDING : SHARE_EMPTY;
      if (s.sims > 0) {
        size_t ba = (size_t)r.B * (size_t)r.A;
        s.visits = malloc(ba * sizeof(float));
        s.qvalues = malloc(ba * sizeof(float));
        s.value = malloc((size_t)r.B * sizeof(float));
        s.elem_expanded = calloc((size_t)r.B, sizeof(int32_t));
        s.elem_depth = calloc((size_t)r.B, sizeof(int32_t));
        if (!s.visits || !s.qvalues || !s.value || !s.elem_expanded || !s.elem_depth) {
          free(s.visits); free(s.qvalues); free(s.value); free(s.elem_expanded); free(s.elem_depth);
          rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for the statistics of %d elements", (int)r.B);
          break;
        }
      }
    } else {
      mctx_dist_share(r.B, r.used, d, &s.b0, &s.n);
      s.sims = p->num_simulations;
      s.state = s.n > 0 ? SHARE_PENDING : SHARE_EMPTY;
    }
    rc = add_share(&r, s, st);
    if (rc) {
      free(s.visits); free(s.qvalues); free(s.value); free(s.elem_expanded); free(s.elem_depth);
    }
  }

  /* Rounds until every share is done. */
  for (r.round = 0; rc == 0; r.round++) {
    int pending = 0;
    for (int32_t k = 0; k < r.nshares; k++)
      if (r.shares[k].state == SHARE_PENDING) {
        r.shares[k].round = r.round;
        pending = 1;
      }
    if (!pending) break;
    rc = run_round(&r, hdr, &comm_ms, st);
    if (rc) break;
    /* What happened, device by device, the same on every process. */
    int fatal = -1;
    for (int32_t d = 0; d < r.D; d++) {
      r.busy[d] += hdr[d].busy_ms;
      if (hdr[d].precision[0]) snprintf(r.precision[d], sizeof r.precision[d], "%.7s", hdr[d].precision);
      if (hdr[d].rc == 0) {
        for (int32_t k = 0; k < r.nshares; k++)
          if (r.shares[k].state == SHARE_PENDING && r.shares[k].device == d) r.shares[k].state = SHARE_DONE;
      } else if (is_device_failure(hdr[d].rc)) {
        r.failed[d] = 1;
        snprintf(r.error[d], sizeof r.error[d], "%.191s", hdr[d].reason);
        for (int32_t k = 0; k < r.nshares; k++)
          if (r.shares[k].state == SHARE_PENDING && r.shares[k].device == d) r.shares[k].device = -1;
      } else if (fatal < 0) {
        fatal = d;
      }
    }
    if (fatal >= 0) {
      mctx_status_set(st, hdr[fatal].rc, hdr[fatal].field[0] ? hdr[fatal].field : NULL, "%s", hdr[fatal].reason);
      rc = hdr[fatal].rc;
      break;
    }
    rc = reassign(&r, st);
  }

  if (rc == 0) {
    int64_t expanded = 0;
    int32_t depth = 0;
    for (int32_t k = 0; k < r.nshares; k++) {
      if (r.shares[k].state != SHARE_DONE) continue;
      expanded += r.shares[k].expanded;
      depth = r.shares[k].depth > depth ? r.shares[k].depth : depth;
    }
    if (search) {
      rc = finish_roots(&rj, st);
      double m0 = mctx__dist_now_ms();
      if (rc == 0) rc = merge_and_finish(&r, st);
      merge_ms = mctx__dist_now_ms() - m0;
    }
    res->num_expanded_nodes = expanded;
    res->max_depth_reached = depth;
    if (tree) {
      tree->num_expanded_nodes = expanded;
      tree->max_depth_reached = depth;
    }
  }
  if (rc == 0 && stats) {
    rc = fill_stats(&r, stats, st);
    stats->roots_ms = rj.ms + r.roots_local_ms;
    stats->communication_ms = comm_ms;
    stats->merge_ms = merge_ms;
    stats->duration_ms = mctx__dist_now_ms() - t_start;
  }
  finish_roots(&rj, NULL);
  for (int32_t k = 0; k < r.nshares; k++) {
    free(r.shares[k].visits);
    free(r.shares[k].qvalues);
    free(r.shares[k].value);
    free(r.shares[k].elem_expanded);
    free(r.shares[k].elem_depth);
  }
  free(r.shares);
  free(r.dev_rank); free(r.dev_local); free(r.failed); free(r.inject); free(r.busy); free(r.error); free(r.precision); free(r.local);
  free(hdr);
  free(own_roots);
  pthread_mutex_unlock(&mesh->lock);
  if (rc != 0 && stats) mctx_dist_stats_free(stats);
  return rc;
}
