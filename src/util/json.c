/* util/json.c: the JSON document of mctx/json.h: a parser of our own that
 * builds the document into an arena in one pass.
 *
 * The grammar is RFC 8259's, strictly: whitespace is space, tab, CR and LF;
 * numbers without leading zeros, a lone '-' or a bare '.'; strings of valid
 * UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF), no raw
 * control characters, the eight escapes and \uXXXX (a UTF-16 surrogate
 * only as a high-low pair); one value and nothing after it. A builder keeps
 * a stack of open containers whose children collect in one growable scratch
 * vector and are copied into the arena, contiguous, when the container
 * closes; numbers are parsed by util/numfmt's fast path. The same parser,
 * building nothing, is mctx_json_valid.
 *
 * It replaced YAJL (2026-12-07): the request codec spent most of its time in
 * YAJL's tokenizer and callbacks (docs/BENCHMARKS.md, "The JSON codec"). */
#include "mctx/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  if (!b->doc) {  /* validating: nothing is kept */
    if (b->depth == 0) b->have_root = 1;
    return 1;
  }
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
  if (b->depth > 0 && b->doc) {
    mctx_json placeholder = {0};
    placeholder.type = type;
    if (!push_value(b, &placeholder)) return 0;
    b->stack[b->depth].first = b->nvals;
  }
  b->depth++;
  return 1;
}

static int close_container(builder *b) {
  if (!b->doc) {
    if (--b->depth == 0) b->have_root = 1;
    return 1;
  }
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

/* ==== The parser ==== */

typedef struct parser {
  const unsigned char *s, *end;
  const char *why;   /* the syntax error, for the message */
} parser;

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out) {
  if (end - p < 4) return -1;
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = p[k];
    uint32_t d;
    if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
    else return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

/* The length of the valid UTF-8 sequence at p (its first byte >= 0x80), or
 * 0 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < n; k++)
    if (p[k] < 0x80 || p[k] > 0xBF) return 0;
  return n;
}

static size_t put_utf8(unsigned char *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
  if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | cp >> 12);
    o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | cp >> 18);
  o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The string whose opening quote is at *pp: decoded into the arena
 * (NUL-terminated; *out stays NULL when validating). Advances *pp past the
 * closing quote; on an error leaves it at the offending byte. */
static int parse_string(builder *b, parser *ps, const unsigned char **pp, char **out, uint32_t *out_len) {
  const unsigned char *p = *pp + 1, *end = ps->end;
  const unsigned char *q = p;
  *out = NULL;
  *out_len = 0;
  while (q < end && *q != '"' && *q != '\\' && *q >= 0x20 && *q < 0x80) q++;
  if (q < end && *q == '"') {  /* plain ASCII: copied as it is */
    size_t n = (size_t)(q - p);
    if (n > UINT32_MAX) { b->error = 2; *pp = p; return -1; }
    if (b->doc) {
      *out = copy_str(b, p, n);
      if (!*out) return -1;
    }
    *out_len = (uint32_t)n;
    *pp = q + 1;
    return 0;
  }
  /* The raw extent first (decoding never lengthens), then decode. */
  const unsigned char *close = q;
  while (close < end && *close != '"') close += *close == '\\' && close + 1 < end ? 2 : 1;
  if (close >= end) { ps->why = "unterminated string"; *pp = end; return -1; }
  size_t raw = (size_t)(close - p);
  if (raw > UINT32_MAX) { b->error = 2; *pp = p; return -1; }
  unsigned char *o = NULL, *w = NULL;
  if (b->doc) {
    o = mctx_arena_alloc(&b->doc->arena, raw + 1);
    if (!o) { b->error = 2; *pp = p; return -1; }
    memcpy(o, p, (size_t)(q - p));
    w = o + (q - p);
  }
  unsigned char tmp[4];
  while (q < close) {
    unsigned char c = *q;
    if (c < 0x20) { ps->why = "control character in a string (escape it)"; *pp = q; return -1; }
    if (c < 0x80 && c != '\\') {
      if (w) *w++ = c;
      q++;
      continue;
    }
    if (c >= 0x80) {
      size_t n = utf8_len(q, close);
      if (!n) { ps->why = "invalid UTF-8 in a string"; *pp = q; return -1; }
      if (w) { memcpy(w, q, n); w += n; }
      q += n;
      continue;
    }
    /* an escape */
    const unsigned char *at = q;
    q++;
    unsigned char e = *q++;
    unsigned char lit;
    switch (e) {
      case '"': lit = '"'; break;
      case '\\': lit = '\\'; break;
      case '/': lit = '/'; break;
      case 'b': lit = '\b'; break;
      case 'f': lit = '\f'; break;
      case 'n': lit = '\n'; break;
      case 'r': lit = '\r'; break;
      case 't': lit = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (hex4(q, close, &cp) != 0) { ps->why = "\\u needs four hex digits"; *pp = at; return -1; }
        q += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) { ps->why = "lone low surrogate in a \\u escape"; *pp = at; return -1; }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (close - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, close, &lo) != 0 || lo < 0xDC00 ||
              lo > 0xDFFF) {
            ps->why = "high surrogate in a \\u escape without its low surrogate";
            *pp = at;
            return -1;
          }
          q += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        size_t n = put_utf8(w ? w : tmp, cp);
        if (w) w += n;
        continue;
      }
      default: ps->why = "unknown escape in a string"; *pp = at; return -1;
    }
    if (w) *w++ = lit;
  }
  if (o) {
    *w = '\0';
    *out = (char *)o;
    *out_len = (uint32_t)(w - o);
  }
  *pp = close + 1;
  return 0;
}

/* Powers of ten exact in a double, for the fast path below. */
static const double EXACT_P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The number at *pp (RFC 8259's grammar) into *v. Scanning accumulates what
 * mctx_parse_number's fast path would (up to 19 digits, a decimal exponent
 * within +-22: one exact double operation, the same one); anything else is
 * handed to mctx_parse_number itself, so every number reads as it does. */
static int parse_num(builder *b, parser *ps, const unsigned char **pp, mctx_json *v) {
  const unsigned char *p = *pp, *q = p, *end = ps->end;
  int neg = 0, integral = 1, slow = 0, nd = 0, frac = 0, ex = 0;
  uint64_t m = 0;
  if (*q == '-') { neg = 1; q++; }
  if (q >= end || !is_digit(*q)) { ps->why = "a digit expected in a number"; *pp = q; return -1; }
  if (*q == '0') {
    q++;
  } else {
    for (; q < end && is_digit(*q); q++) {
      if (nd < 19) { m = m * 10 + (uint64_t)(*q - '0'); nd++; }
      else slow = 1;
    }
  }
  if (q < end && *q == '.') {
    integral = 0;
    q++;
    if (q >= end || !is_digit(*q)) { ps->why = "a digit expected after the decimal point"; *pp = q; return -1; }
    for (; q < end && is_digit(*q); q++) {
      if (nd < 19) { m = m * 10 + (uint64_t)(*q - '0'); if (m) nd++; frac++; }
      else slow = 1;
    }
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    integral = 0;
    q++;
    int eneg = 0;
    if (q < end && (*q == '+' || *q == '-')) { eneg = *q == '-'; q++; }
    if (q >= end || !is_digit(*q)) { ps->why = "a digit expected in the exponent"; *pp = q; return -1; }
    for (; q < end && is_digit(*q); q++)
      if (ex < 100000) ex = ex * 10 + (*q - '0');
    if (eneg) ex = -ex;
  }
  memset(v, 0, sizeof *v);
  v->type = MCTX_JSON_NUMBER;
  int e10 = ex - frac;
  if (!slow && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
    double d = (double)m;
    d = e10 < 0 ? d / EXACT_P10[-e10] : d * EXACT_P10[e10];
    v->u.num = neg ? -d : d;
    if (integral) {
      v->is_int = 1;
      v->i = neg ? (int64_t)(0 - m) : (int64_t)m;
    }
  } else {
    int is_int = 0;
    if (mctx_parse_number((const char *)p, (size_t)(q - p), &v->u.num, &v->i, &is_int) != 0) {
      b->error = 3;
      return -1;
    }
    v->is_int = (uint8_t)is_int;
  }
  *pp = q;
  return 0;
}

/* Parses the whole text; returns 0, or -1 with the offending byte's offset
 * in *at and the reason in b->error (limits) or ps->why (syntax). */
static int parse_text(builder *b, parser *ps, size_t *at) {
  const unsigned char *end = ps->end;
  const unsigned char *p = skip_ws(ps->s, end);
  mctx_json v;
  char *str;
  uint32_t slen;
value:
  if (p >= end) { ps->why = "unexpected end of input, a value expected"; goto fail; }
  switch (*p) {
    case '{':
    case '[': {
      int object = *p == '{';
      if (!open_container(b, object ? MCTX_JSON_OBJECT : MCTX_JSON_ARRAY)) goto fail;
      p = skip_ws(p + 1, end);
      if (p < end && *p == (object ? '}' : ']')) {  /* empty */
        p++;
        if (!close_container(b)) goto fail;
        goto after;
      }
      if (object) goto key;
      goto value;
    }
    case '"':
      if (parse_string(b, ps, &p, &str, &slen) != 0) goto fail;
      memset(&v, 0, sizeof v);
      v.type = MCTX_JSON_STRING;
      v.u.str = str;
      v.len = slen;
      if (!push_value(b, &v)) goto fail;
      goto after;
    case 't':
    case 'f':
    case 'n': {
      static const char *const lits[] = {"true", "false", "null"};
      const char *lit = lits[*p == 't' ? 0 : *p == 'f' ? 1 : 2];
      size_t n = strlen(lit);
      if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) { ps->why = "unknown literal"; goto fail; }
      memset(&v, 0, sizeof v);
      v.type = *p == 'n' ? MCTX_JSON_NULL : MCTX_JSON_BOOL;
      v.boolean = *p == 't';
      if (!push_value(b, &v)) goto fail;
      p += n;
      goto after;
    }
    default:
      if (*p == '-' || is_digit(*p)) {
        if (b->doc && b->depth > 0 && b->nvals < b->capvals) {
          /* the common case, a number in a container: parsed in place */
          if (parse_num(b, ps, &p, &b->vals[b->nvals]) != 0) goto fail;
          b->keys[b->nvals] = b->pending_key;
          b->key_lens[b->nvals] = b->pending_key_len;
          b->nvals++;
          b->pending_key = NULL;
          goto after;
        }
        if (parse_num(b, ps, &p, &v) != 0) goto fail;
        if (!push_value(b, &v)) goto fail;
        goto after;
      }
      ps->why = "unexpected character, a value expected";
      goto fail;
  }
key:
  if (p >= end || *p != '"') { ps->why = "an object key (a string) expected"; goto fail; }
  if (parse_string(b, ps, &p, &str, &slen) != 0) goto fail;
  b->pending_key = str;
  b->pending_key_len = slen;
  p = skip_ws(p, end);
  if (p >= end || *p != ':') { ps->why = "':' expected after an object key"; goto fail; }
  p = skip_ws(p + 1, end);
  goto value;
after:
  p = skip_ws(p, end);
  if (b->depth == 0) {
    if (p != end) { ps->why = "trailing characters after the document"; goto fail; }
    return 0;
  }
  if (p >= end) { ps->why = "unexpected end of input inside a container"; goto fail; }
  if (b->stack[b->depth - 1].type == MCTX_JSON_ARRAY) {
    if (*p == ',') { p = skip_ws(p + 1, end); goto value; }
    if (*p == ']') {
      p++;
      if (!close_container(b)) goto fail;
      goto after;
    }
    ps->why = "',' or ']' expected in an array";
    goto fail;
  }
  if (*p == ',') { p = skip_ws(p + 1, end); goto key; }
  if (*p == '}') {
    p++;
    if (!close_container(b)) goto fail;
    goto after;
  }
  ps->why = "',' or '}' expected in an object";
fail:
  *at = (size_t)(p - ps->s);
  return -1;
}

/* The status for a failed parse. */
static int parse_error(const builder *b, const parser *ps, size_t at, size_t len, const mctx_json_limits *lim,
                       mctx_status *st) {
  if (b->error == 1)
    return mctx_status_set(st, MCTX_ELIMIT, NULL, "JSON nested deeper than %d levels (at byte %zu)", lim->max_depth,
                           at);
  if (b->error == 2)
    return mctx_status_set(st, MCTX_ELIMIT, NULL, "JSON document too large for its memory limit of %zu bytes",
                           lim->max_bytes);
  if (b->error == 3) return mctx_status_set(st, MCTX_EPARSE, NULL, "malformed JSON number near byte %zu", at);
  if (len == 0) return mctx_status_set(st, MCTX_EPARSE, NULL, "empty body: expected a JSON document");
  return mctx_status_set(st, MCTX_EPARSE, NULL, "malformed JSON (%s) at byte %zu of %zu",
                         ps->why ? ps->why : "syntax error", at, len);
}

int mctx_json_valid(const char *text, size_t len, int max_depth, mctx_status *st) {
  mctx_json_limits lim = {max_depth > 0 ? max_depth : 64, 0};
  builder b = {0};
  b.max_depth = lim.max_depth;
  parser ps = {(const unsigned char *)text, (const unsigned char *)text + len, NULL};
  size_t at = 0;
  int rc = parse_text(&b, &ps, &at);
  free(b.stack);
  if (rc == 0) return 0;
  return parse_error(&b, &ps, at, len, &lim, st);
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
  parser ps = {(const unsigned char *)text, (const unsigned char *)text + len, NULL};
  size_t at = 0;
  int rc = parse_text(&b, &ps, &at);
  free(b.vals); free(b.keys); free(b.key_lens); free(b.stack);
  if (rc != 0) {
    parse_error(&b, &ps, at, len, &lim, st);
    mctx_json_doc_free(doc);
    return NULL;
  }
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
