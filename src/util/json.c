/* util/json.c: the JSON document of mctx/json.h, built from YAJL's SAX
 * callbacks into an arena.
 *
 * YAJL tokenizes and validates (UTF-8, grammar); the callbacks here keep a
 * stack of open containers whose children collect in one growable scratch
 * vector and are copied into the arena, contiguous, when the container
 * closes. Numbers are parsed by util/numfmt's fast path. */
#include "mctx/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "util/arena.h"
#include "util/numfmt.h"

struct mctx_json_doc {
  mctx_arena arena;
  mctx_json root;
};

/* One open container: where its children start in the scratch vectors. */
typedef struct frame {
  uint8_t type;
  size_t first;        /* index of its first child in `vals` */
} frame;

typedef struct builder {
  mctx_json_doc *doc;
  int max_depth;
  /* scratch: values and (for objects) keys of every open container */
  mctx_json *vals;
  const char **keys;
  uint32_t *key_lens;
  size_t nvals, capvals;
  frame *stack;
  int depth, capdepth;
  const char *pending_key;   /* key of the next value inside an object */
  uint32_t pending_key_len;
  int have_root;
  int error;                 /* 1: depth, 2: memory, 3: number */
} builder;

static int push_value(builder *b, const mctx_json *v) {
  if (b->depth == 0) {
    b->doc->root = *v;
    b->have_root = 1;
    return 1;
  }
  if (b->nvals == b->capvals) {
    size_t cap = b->capvals ? b->capvals * 2 : 256;
    if (cap * (sizeof(mctx_json) + sizeof(char *) + 4) > b->doc->arena.max) { b->error = 2; return 0; }
    mctx_json *nv = realloc(b->vals, cap * sizeof *nv);
    if (!nv) { b->error = 2; return 0; }
    b->vals = nv;
    const char **nk = realloc(b->keys, cap * sizeof *nk);
    if (!nk) { b->error = 2; return 0; }
    b->keys = nk;
    uint32_t *nl = realloc(b->key_lens, cap * sizeof *nl);
    if (!nl) { b->error = 2; return 0; }
    b->key_lens = nl;
    b->capvals = cap;
  }
  b->vals[b->nvals] = *v;
  b->keys[b->nvals] = b->pending_key;
  b->key_lens[b->nvals] = b->pending_key_len;
  b->nvals++;
  b->pending_key = NULL;
  return 1;
}

static char *copy_str(builder *b, const unsigned char *s, size_t n) {
  char *p = mctx_arena_alloc(&b->doc->arena, n + 1);
  if (!p) { b->error = 2; return NULL; }
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static int cb_null(void *ctx) {
  mctx_json v = {0};
  v.type = MCTX_JSON_NULL;
  return push_value(ctx, &v);
}

static int cb_bool(void *ctx, int val) {
  mctx_json v = {0};
  v.type = MCTX_JSON_BOOL;
  v.boolean = val ? 1 : 0;
  return push_value(ctx, &v);
}

static int cb_number(void *ctx, const char *s, size_t n) {
  builder *b = ctx;
  mctx_json v = {0};
  v.type = MCTX_JSON_NUMBER;
  int is_int = 0;
  if (mctx_parse_number(s, n, &v.u.num, &v.i, &is_int) != 0) { b->error = 3; return 0; }
  v.is_int = (uint8_t)is_int;
  return push_value(b, &v);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n) {
  builder *b = ctx;
  if (n > UINT32_MAX) { b->error = 2; return 0; }
  mctx_json v = {0};
  v.type = MCTX_JSON_STRING;
  v.u.str = copy_str(b, s, n);
  if (!v.u.str) return 0;
  v.len = (uint32_t)n;
  return push_value(b, &v);
}

static int open_container(builder *b, uint8_t type) {
  if (b->depth >= b->max_depth) { b->error = 1; return 0; }
  if (b->depth == b->capdepth) {
    int cap = b->capdepth ? b->capdepth * 2 : 16;
    frame *ns = realloc(b->stack, (size_t)cap * sizeof *ns);
    if (!ns) { b->error = 2; return 0; }
    b->stack = ns;
    b->capdepth = cap;
  }
  /* The container's own key waits in the frame until it closes. */
  b->stack[b->depth].type = type;
  b->stack[b->depth].first = b->nvals;
  /* Reserve a slot for the container itself in its parent. */
  if (b->depth > 0) {
    mctx_json placeholder = {0};
    placeholder.type = type;
    if (!push_value(b, &placeholder)) return 0;
    b->stack[b->depth].first = b->nvals;
  }
  b->depth++;
  return 1;
}

static int close_container(builder *b) {
  frame *f = &b->stack[b->depth - 1];
  size_t n = b->nvals - f->first;
  if (n > UINT32_MAX) { b->error = 2; return 0; }
  mctx_json v = {0};
  v.type = f->type;
  v.len = (uint32_t)n;
  if (f->type == MCTX_JSON_ARRAY) {
    if (n) {
      v.u.items = mctx_arena_alloc(&b->doc->arena, n * sizeof(mctx_json));
      if (!v.u.items) { b->error = 2; return 0; }
      memcpy(v.u.items, b->vals + f->first, n * sizeof(mctx_json));
    }
  } else {
    if (n) {
      v.u.members = mctx_arena_alloc(&b->doc->arena, n * sizeof(mctx_json_member));
      if (!v.u.members) { b->error = 2; return 0; }
      for (size_t k = 0; k < n; k++) {
        v.u.members[k].key = b->keys[f->first + k];
        v.u.members[k].key_len = b->key_lens[f->first + k];
        v.u.members[k].value = b->vals[f->first + k];
      }
    }
  }
  b->nvals = f->first;
  b->depth--;
  if (b->depth == 0) {
    b->doc->root = v;
    b->have_root = 1;
  } else {
    b->vals[b->nvals - 1] = v;  /* fill the placeholder; its key stays */
  }
  return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, MCTX_JSON_OBJECT); }
static int cb_end_map(void *ctx) { return close_container(ctx); }
static int cb_start_array(void *ctx) { return open_container(ctx, MCTX_JSON_ARRAY); }
static int cb_end_array(void *ctx) { return close_container(ctx); }

static int cb_map_key(void *ctx, const unsigned char *s, size_t n) {
  builder *b = ctx;
  if (n > UINT32_MAX) { b->error = 2; return 0; }
  b->pending_key = copy_str(b, s, n);
  b->pending_key_len = (uint32_t)n;
  return b->pending_key != NULL;
}

static const yajl_callbacks CALLBACKS = {
  cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
  cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array
};

/* ==== Validation without a document ==== */

typedef struct validator {
  int depth, max_depth, error, roots;
} validator;

static int v_scalar(void *ctx) {
  validator *v = ctx;
  if (v->depth == 0) v->roots++;
  return 1;
}
static int v_bool(void *ctx, int b) { (void)b; return v_scalar(ctx); }
static int v_string(void *ctx, const unsigned char *s, size_t n) { (void)s; (void)n; return v_scalar(ctx); }
static int v_key(void *ctx, const unsigned char *s, size_t n) { (void)ctx; (void)s; (void)n; return 1; }
static int v_number(void *ctx, const char *s, size_t n) {
  validator *v = ctx;
  double d;
  int64_t i;
  int is_int;
  if (mctx_parse_number(s, n, &d, &i, &is_int) != 0) { v->error = 3; return 0; }
  return v_scalar(ctx);
}
static int v_open(void *ctx) {
  validator *v = ctx;
  if (v->depth == 0) v->roots++;
  if (++v->depth > v->max_depth) { v->error = 1; return 0; }
  return 1;
}
static int v_close(void *ctx) {
  validator *v = ctx;
  v->depth--;
  return 1;
}

static const yajl_callbacks VALIDATE = {
  v_scalar, v_bool, NULL, NULL, v_number, v_string, v_open, v_key, v_close, v_open, v_close
};

int mctx_json_valid(const char *text, size_t len, int max_depth, mctx_status *st) {
  validator v = {0, max_depth > 0 ? max_depth : 64, 0, 0};
  yajl_handle h = yajl_alloc(&VALIDATE, NULL, &v);
  if (!h) return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  yajl_status ys = yajl_parse(h, (const unsigned char *)text, len);
  if (ys == yajl_status_ok) ys = yajl_complete_parse(h);
  size_t at = yajl_get_bytes_consumed(h);
  yajl_free(h);
  if (ys == yajl_status_ok && v.roots == 1 && v.depth == 0) return 0;
  if (v.error == 1) return mctx_status_set(st, MCTX_ELIMIT, NULL, "JSON nested deeper than %d levels (at byte %zu)",
                                           v.max_depth, at);
  if (v.error == 3) return mctx_status_set(st, MCTX_EPARSE, NULL, "malformed JSON number near byte %zu", at);
  return mctx_status_set(st, MCTX_EPARSE, NULL, "not one JSON document (error near byte %zu of %zu)", at, len);
}

mctx_json_doc *mctx_json_parse(const char *text, size_t len,
                               const mctx_json_limits *limits, mctx_status *st) {
  mctx_json_limits lim = { 64, 0 };
  if (limits) lim = *limits;
  if (lim.max_depth <= 0) lim.max_depth = 64;
  if (lim.max_bytes == 0) lim.max_bytes = len * 32 + 65536;
  mctx_json_doc *doc = calloc(1, sizeof *doc);
  if (!doc) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  mctx_arena_init(&doc->arena, lim.max_bytes);
  builder b = {0};
  b.doc = doc;
  b.max_depth = lim.max_depth;
  yajl_handle h = yajl_alloc(&CALLBACKS, NULL, &b);
  if (!h) { free(doc); mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  yajl_status ys = yajl_parse(h, (const unsigned char *)text, len);
  if (ys == yajl_status_ok) ys = yajl_complete_parse(h);
  int ok = (ys == yajl_status_ok) && b.have_root && b.depth == 0;
  if (!ok) {
    size_t at = yajl_get_bytes_consumed(h);
    if (b.error == 1) {
      mctx_status_set(st, MCTX_ELIMIT, NULL, "JSON nested deeper than %d levels (at byte %zu)", lim.max_depth, at);
    } else if (b.error == 2) {
      mctx_status_set(st, MCTX_ELIMIT, NULL, "JSON document too large for its memory limit of %zu bytes", lim.max_bytes);
    } else if (b.error == 3) {
      mctx_status_set(st, MCTX_EPARSE, NULL, "malformed JSON number near byte %zu", at);
    } else if (len == 0) {
      mctx_status_set(st, MCTX_EPARSE, NULL, "empty body: expected a JSON document");
    } else {
      unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)text, len);
      char clean[200];
      size_t k = 0;
      for (const unsigned char *p = msg; p && *p && k + 1 < sizeof clean; p++)
        clean[k++] = (*p == '\n' || *p == '\r') ? ' ' : (char)*p;
      while (k && clean[k - 1] == ' ') k--;
      clean[k] = '\0';
      mctx_status_set(st, MCTX_EPARSE, NULL, "malformed JSON (%s) at byte %zu", clean, at);
      yajl_free_error(h, msg);
    }
    yajl_free(h);
    free(b.vals); free(b.keys); free(b.key_lens); free(b.stack);
    mctx_json_doc_free(doc);
    return NULL;
  }
  yajl_free(h);
  free(b.vals); free(b.keys); free(b.key_lens); free(b.stack);
  return doc;
}

const mctx_json *mctx_json_root(const mctx_json_doc *doc) { return &doc->root; }

void mctx_json_doc_free(mctx_json_doc *doc) {
  if (!doc) return;
  mctx_arena_free(&doc->arena);
  free(doc);
}

const mctx_json *mctx_json_get(const mctx_json *obj, const char *key) {
  if (!obj || obj->type != MCTX_JSON_OBJECT) return NULL;
  size_t kl = strlen(key);
  /* Last one wins for duplicate keys, as in most JSON readers. */
  for (uint32_t k = obj->len; k-- > 0;) {
    const mctx_json_member *m = &obj->u.members[k];
    if (m->key_len == kl && memcmp(m->key, key, kl) == 0) return &m->value;
  }
  return NULL;
}

const mctx_json *mctx_json_at(const mctx_json *arr, size_t i) {
  if (!arr || arr->type != MCTX_JSON_ARRAY || i >= arr->len) return NULL;
  return &arr->u.items[i];
}

const char *mctx_json_type_name(int type) {
  switch (type) {
    case MCTX_JSON_NULL: return "null";
    case MCTX_JSON_BOOL: return "boolean";
    case MCTX_JSON_NUMBER: return "number";
    case MCTX_JSON_STRING: return "string";
    case MCTX_JSON_ARRAY: return "array";
    case MCTX_JSON_OBJECT: return "object";
    default: return "unknown";
  }
}

int mctx_json_number(const mctx_json *v, double dflt, double *out,
                     const char *field, mctx_status *st) {
  if (!v || v->type == MCTX_JSON_NULL) { *out = dflt; return 0; }
  if (v->type != MCTX_JSON_NUMBER)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be a number, not %s", mctx_json_type_name(v->type));
  *out = v->u.num;
  return 0;
}

int mctx_json_int(const mctx_json *v, int64_t dflt, int64_t *out,
                  const char *field, mctx_status *st) {
  if (!v || v->type == MCTX_JSON_NULL) { *out = dflt; return 0; }
  if (v->type != MCTX_JSON_NUMBER)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be an integer, not %s", mctx_json_type_name(v->type));
  if (v->is_int) { *out = v->i; return 0; }
  /* 3.0 is accepted as 3; 3.5 is not. The range is checked before the
   * cast: converting inf, NaN or a value beyond int64 is undefined. */
  double d = v->u.num;
  if (!(d > -9.2e18 && d < 9.2e18))
    return mctx_status_set(st, MCTX_ERANGE, field, "must be an integer within +/-9.2e18, not %g", d);
  if (d == (double)(int64_t)d) { *out = (int64_t)d; return 0; }
  return mctx_status_set(st, MCTX_ETYPE, field, "must be an integer, not %g", d);
}

int mctx_json_bool(const mctx_json *v, int dflt, int *out,
                   const char *field, mctx_status *st) {
  if (!v || v->type == MCTX_JSON_NULL) { *out = dflt; return 0; }
  if (v->type != MCTX_JSON_BOOL)
    return mctx_status_set(st, MCTX_ETYPE, field, "must be true or false, not %s", mctx_json_type_name(v->type));
  *out = v->boolean;
  return 0;
}
