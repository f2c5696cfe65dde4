/* models/safetensors.c: the safetensors reader and writer of
 * safetensors.h, and the half/bfloat16 conversions.
 *
 * The reader loads the whole file (bounded), parses the header with
 * util/json (depth- and memory-bounded) and checks it completely
 * before any tensor is used, so a model never sees a tensor whose bytes lie
 * outside the file or disagree with its shape. It touches nothing but the
 * file it is given. */
#include "models/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mctx/json.h"
#include "util/buf.h"
#include "util/jsonw.h"

/* ==== dtypes and conversions ==== */

static const struct { const char *name; size_t size; } DTYPES[MCTX_ST_NUM_DTYPES] = {
  {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1},
  {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4},
  {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8},
};

const char *mctx_st_dtype_name(mctx_st_dtype d) {
  return (unsigned)d < MCTX_ST_NUM_DTYPES ? DTYPES[d].name : "?";
}

size_t mctx_st_dtype_size(mctx_st_dtype d) {
  return (unsigned)d < MCTX_ST_NUM_DTYPES ? DTYPES[d].size : 0;
}

static float f32_of(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

float mctx_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0) {
    float f = (float)mant * 5.9604644775390625e-8f; /* 2^-24: exact */
    return f32_of(bits_of(f) | sign);
  }
  if (exp == 31) return f32_of(sign | 0x7F800000u | (mant << 13));
  return f32_of(sign | ((exp + 112u) << 23) | (mant << 13));
}

float mctx_bf16_to_f32(uint16_t h) { return f32_of((uint32_t)h << 16); }

uint16_t mctx_f32_to_f16(float ff) {
  /* F. Giesen's float_to_half_fast3_rtne: round to nearest even, overflow to
   * infinity, NaN stays NaN. */
  const uint32_t f32infty = 255u << 23, f16max = (127u + 16u) << 23;
  const float denorm_magic = f32_of(((127u - 15u) + (23u - 10u) + 1u) << 23);
  uint32_t f = bits_of(ff);
  uint32_t sign = f & 0x80000000u;
  uint16_t o;
  f ^= sign;
  if (f >= f16max) {
    o = f > f32infty ? 0x7E00u : 0x7C00u;
  } else if (f < (113u << 23)) {
    float t = f32_of(f) + denorm_magic;
    o = (uint16_t)(bits_of(t) - bits_of(denorm_magic));
  } else {
    uint32_t mant_odd = (f >> 13) & 1u;
    f += ((uint32_t)(15 - 127) << 23) + 0xFFFu;
    f += mant_odd;
    o = (uint16_t)(f >> 13);
  }
  return (uint16_t)(o | (sign >> 16));
}

uint16_t mctx_f32_to_bf16(float f) {
  uint32_t x = bits_of(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
  x += 0x7FFFu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

/* ==== Reading ==== */

void mctx_safetensors_free(mctx_safetensors *f) {
  if (!f) return;
  free(f->bytes);
  free(f->tensors);
  free(f->metadata);
  free(f);
}

const mctx_st_tensor *mctx_safetensors_find(const mctx_safetensors *f, const char *name) {
  for (int32_t i = 0; i < f->num_tensors; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

static int cmp_range(const void *a, const void *b) {
  const mctx_st_tensor *x = *(const mctx_st_tensor *const *)a, *y = *(const mctx_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  const mctx_st_tensor *x = *(const mctx_st_tensor *const *)a, *y = *(const mctx_st_tensor *const *)b;
  return strcmp(x->name, y->name);
}

#define BAD(code, ...) mctx_status_set(st, (code), field, __VA_ARGS__)

/* Decodes one tensor's header entry. */
static int parse_tensor(const char *path, const char *key, uint32_t key_len, const mctx_json *v, uint64_t data_size,
                        mctx_st_tensor *t, const char *field, mctx_status *st) {
  if (key_len == 0 || key_len >= MCTX_ST_MAX_NAME || strlen(key) != key_len)
    return BAD(MCTX_EPARSE, "%s: a tensor name is empty, longer than %d bytes or holds a NUL", path,
               MCTX_ST_MAX_NAME - 1);
  memcpy(t->name, key, key_len + 1);
  if (v->type != MCTX_JSON_OBJECT)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': the header entry must be an object, not %s", path, key,
               mctx_json_type_name(v->type));
  for (uint32_t i = 0; i < v->len; i++) {
    const char *k = v->u.members[i].key;
    if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0)
      return BAD(MCTX_EPARSE, "%s: tensor '%s': unknown header field '%.64s'", path, key, k);
  }
  const mctx_json *dt = mctx_json_get(v, "dtype"), *shape = mctx_json_get(v, "shape"),
                  *offs = mctx_json_get(v, "data_offsets");
  if (!dt || dt->type != MCTX_JSON_STRING)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': \"dtype\" must be a string", path, key);
  int d = -1;
  for (int i = 0; i < MCTX_ST_NUM_DTYPES; i++)
    if (strcmp(dt->u.str, DTYPES[i].name) == 0) d = i;
  if (d < 0) return BAD(MCTX_EPARSE, "%s: tensor '%s': unknown dtype '%.32s'", path, key, dt->u.str);
  t->dtype = (mctx_st_dtype)d;
  if (!shape || shape->type != MCTX_JSON_ARRAY)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': \"shape\" must be an array of integers", path, key);
  if (shape->len > MCTX_ST_MAX_DIMS)
    return BAD(MCTX_ELIMIT, "%s: tensor '%s': %u dimensions, at most %d", path, key, (unsigned)shape->len,
               MCTX_ST_MAX_DIMS);
  t->ndim = (int32_t)shape->len;
  uint64_t numel = 1;
  for (uint32_t i = 0; i < shape->len; i++) {
    const mctx_json *s = &shape->u.items[i];
    if (s->type != MCTX_JSON_NUMBER || !s->is_int || s->i < 0)
      return BAD(MCTX_EPARSE, "%s: tensor '%s': shape[%u] must be a non-negative integer", path, key, (unsigned)i);
    t->shape[i] = s->i;
    if (s->i > 0 && numel > UINT64_MAX / 16 / (uint64_t)s->i)
      return BAD(MCTX_ELIMIT, "%s: tensor '%s': the shape is too large", path, key);
    numel *= (uint64_t)s->i;
  }
  t->numel = (int64_t)numel;
  if (!offs || offs->type != MCTX_JSON_ARRAY || offs->len != 2 || offs->u.items[0].type != MCTX_JSON_NUMBER ||
      offs->u.items[1].type != MCTX_JSON_NUMBER || !offs->u.items[0].is_int || !offs->u.items[1].is_int ||
      offs->u.items[0].i < 0 || offs->u.items[1].i < 0)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': \"data_offsets\" must be [begin, end] (non-negative integers)", path,
               key);
  t->begin = (uint64_t)offs->u.items[0].i;
  t->end = (uint64_t)offs->u.items[1].i;
  if (t->end < t->begin)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, key,
               (unsigned long long)t->begin, (unsigned long long)t->end);
  uint64_t want = numel * DTYPES[d].size;
  if (t->end - t->begin != want)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': %s with %llu elements needs %llu bytes, but data_offsets [%llu, %llu] "
               "hold %llu",
               path, key, DTYPES[d].name, (unsigned long long)numel, (unsigned long long)want,
               (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)(t->end - t->begin));
  if (t->end > data_size)
    return BAD(MCTX_EPARSE, "%s: tensor '%s': data_offsets end at byte %llu, past the %llu bytes of data "
               "(truncated file?)",
               path, key, (unsigned long long)t->end, (unsigned long long)data_size);
  return 0;
}

static int parse_header(mctx_safetensors *f, const char *field, mctx_status *st) {
  const char *path = f->path;
  if (f->size < 8) return BAD(MCTX_EPARSE, "%s: %zu bytes, too short for a safetensors file (no header length)", path, f->size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | f->bytes[i];
  if (n < 2 || n > MCTX_ST_MAX_HEADER)
    return BAD(n > MCTX_ST_MAX_HEADER ? MCTX_ELIMIT : MCTX_EPARSE,
               "%s: the header length is %llu bytes (at most %llu; is this a safetensors file?)", path,
               (unsigned long long)n, (unsigned long long)MCTX_ST_MAX_HEADER);
  if (n > f->size - 8)
    return BAD(MCTX_EPARSE, "%s: the header length is %llu bytes, but the file has only %zu after it (truncated file?)",
               path, (unsigned long long)n, f->size - 8);
  const char *text = (const char *)f->bytes + 8;
  if (text[0] != '{') return BAD(MCTX_EPARSE, "%s: the header is not a JSON object", path);
  mctx_json_limits lim = {8, (size_t)n * 32 + 65536};
  mctx_status js;
  mctx_json_doc *doc = mctx_json_parse(text, (size_t)n, &lim, &js);
  if (!doc) return BAD(MCTX_EPARSE, "%s: the header is not valid JSON: %s", path, js.reason);
  const mctx_json *root = mctx_json_root(doc);
  int rc = 0;
  if (root->type != MCTX_JSON_OBJECT) {
    rc = BAD(MCTX_EPARSE, "%s: the header is not a JSON object", path);
    goto out;
  }
  if (root->len > MCTX_ST_MAX_TENSORS + 1) {
    rc = BAD(MCTX_ELIMIT, "%s: %u tensors, at most %d", path, (unsigned)root->len, MCTX_ST_MAX_TENSORS);
    goto out;
  }
  f->data_offset = (size_t)(8 + n);
  uint64_t data_size = f->size - f->data_offset;
  f->tensors = calloc(root->len ? root->len : 1, sizeof *f->tensors);
  if (!f->tensors) {
    rc = BAD(MCTX_ENOMEM, "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < root->len; i++) {
    const mctx_json_member *m = &root->u.members[i];
    if (strcmp(m->key, "__metadata__") == 0) {
      const mctx_json *md = &m->value;
      if (md->type != MCTX_JSON_OBJECT) {
        rc = BAD(MCTX_EPARSE, "%s: \"__metadata__\" must be an object of strings", path);
        goto out;
      }
      mctx_buf b;
      mctx_buf_init(&b, (size_t)n + 16);
      mctx_jw w;
      mctx_jw_init(&w, &b);
      mctx_jw_obj(&w);
      for (uint32_t k = 0; k < md->len; k++) {
        if (md->u.members[k].value.type != MCTX_JSON_STRING) {
          mctx_buf_free(&b);
          rc = BAD(MCTX_EPARSE, "%s: \"__metadata__\".%.64s must be a string", path, md->u.members[k].key);
          goto out;
        }
        mctx_jw_key(&w, md->u.members[k].key);
        mctx_jw_strn(&w, md->u.members[k].value.u.str, md->u.members[k].value.len);
      }
      mctx_jw_end(&w);
      if (b.failed) {
        mctx_buf_free(&b);
        rc = BAD(MCTX_ENOMEM, "out of memory");
        goto out;
      }
      free(f->metadata);
      f->metadata = mctx_buf_steal(&b, NULL);
      continue;
    }
    rc = parse_tensor(path, m->key, m->key_len, &m->value, data_size, &f->tensors[f->num_tensors], field, st);
    if (rc != 0) goto out;
    f->num_tensors++;
  }
  /* names are unique; the byte ranges tile the data exactly */
  if (f->num_tensors > 0) {
    mctx_st_tensor **idx = malloc((size_t)f->num_tensors * sizeof *idx);
    if (!idx) {
      rc = BAD(MCTX_ENOMEM, "out of memory");
      goto out;
    }
    for (int32_t i = 0; i < f->num_tensors; i++) idx[i] = &f->tensors[i];
    qsort(idx, (size_t)f->num_tensors, sizeof *idx, cmp_name);
    for (int32_t i = 1; i < f->num_tensors && rc == 0; i++)
      if (strcmp(idx[i - 1]->name, idx[i]->name) == 0)
        rc = BAD(MCTX_EPARSE, "%s: tensor '%s' appears twice in the header", path, idx[i]->name);
    qsort(idx, (size_t)f->num_tensors, sizeof *idx, cmp_range);
    uint64_t at = 0;
    for (int32_t i = 0; i < f->num_tensors && rc == 0; i++) {
      if (idx[i]->begin < at)
        rc = BAD(MCTX_EPARSE, "%s: tensor '%s' overlaps tensor '%s'", path, idx[i]->name, idx[i - 1]->name);
      else if (idx[i]->begin > at)
        rc = BAD(MCTX_EPARSE, "%s: bytes %llu..%llu of the data belong to no tensor (before '%s')", path,
                 (unsigned long long)at, (unsigned long long)idx[i]->begin, idx[i]->name);
      else
        at = idx[i]->end;
    }
    if (rc == 0 && at != data_size)
      rc = BAD(MCTX_EPARSE, "%s: %llu bytes of data after the last tensor (the header accounts for %llu of %llu)",
               path, (unsigned long long)(data_size - at), (unsigned long long)at, (unsigned long long)data_size);
    free(idx);
  } else if (data_size != 0) {
    rc = BAD(MCTX_EPARSE, "%s: %llu bytes of data but no tensor", path, (unsigned long long)data_size);
  }
out:
  mctx_json_doc_free(doc);
  return rc;
}

int mctx_safetensors_parse(const void *bytes, size_t size, const char *path, const char *field,
                           mctx_safetensors **out, mctx_status *st) {
  *out = NULL;
  mctx_safetensors *f = calloc(1, sizeof *f);
  if (!f) return BAD(MCTX_ENOMEM, "out of memory");
  snprintf(f->path, sizeof f->path, "%s", path ? path : "(memory)");
  f->bytes = malloc(size ? size : 1);
  if (!f->bytes) {
    free(f);
    return BAD(MCTX_ENOMEM, "out of memory for %zu bytes", size);
  }
  if (size) memcpy(f->bytes, bytes, size);
  f->size = size;
  int rc = parse_header(f, field, st);
  if (rc != 0) {
    mctx_safetensors_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

int mctx_safetensors_open(const char *path, size_t max_bytes, const char *field, mctx_safetensors **out,
                          mctx_status *st) {
  *out = NULL;
  if (max_bytes == 0) max_bytes = (size_t)4 << 30;
  FILE *fp = fopen(path, "rb");
  if (!fp) return BAD(MCTX_EIO, "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(fp);
    return BAD(MCTX_EIO, "%s is not a regular file", path);
  }
  if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
    fclose(fp);
    return BAD(MCTX_ELIMIT, "%s: %lld bytes, over the limit of %zu", path, (long long)sb.st_size, max_bytes);
  }
  mctx_safetensors *f = calloc(1, sizeof *f);
  size_t size = (size_t)sb.st_size;
  if (f) f->bytes = malloc(size ? size : 1);
  if (!f || !f->bytes) {
    fclose(fp);
    free(f);
    return BAD(MCTX_ENOMEM, "out of memory for %s (%zu bytes)", path, size);
  }
  snprintf(f->path, sizeof f->path, "%s", path);
  size_t got = fread(f->bytes, 1, size, fp);
  int err = ferror(fp);
  fclose(fp);
  if (err || got != size) {
    mctx_safetensors_free(f);
    return BAD(MCTX_EIO, "cannot read %s", path);
  }
  f->size = size;
  int rc = parse_header(f, field, st);
  if (rc != 0) {
    mctx_safetensors_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

int mctx_safetensors_read_f32(const mctx_safetensors *f, const mctx_st_tensor *t, float *out, const char *field,
                              mctx_status *st) {
  const uint8_t *p = f->bytes + f->data_offset + t->begin;
  size_t n = (size_t)t->numel;
  switch (t->dtype) {
    case MCTX_ST_F32:
      for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        out[i] = f32_of(u);
      }
      return 0;
    case MCTX_ST_F16:
      for (size_t i = 0; i < n; i++) out[i] = mctx_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
      return 0;
    case MCTX_ST_BF16:
      for (size_t i = 0; i < n; i++) out[i] = mctx_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
      return 0;
    case MCTX_ST_F64:
      for (size_t i = 0; i < n; i++) {
        uint64_t u = 0;
        for (int k = 7; k >= 0; k--) u = (u << 8) | p[8 * i + (size_t)k];
        double d;
        memcpy(&d, &u, 8);
        out[i] = (float)d;
      }
      return 0;
    default:
      return BAD(MCTX_ETYPE, "%s: tensor '%s' has dtype %s; expected F32, F16, BF16 or F64", f->path, t->name,
                 mctx_st_dtype_name(t->dtype));
  }
}

/* ==== Writing ==== */

int mctx_safetensors_write(const char *path, const mctx_st_out *ts, int32_t n, const char *metadata_json,
                           mctx_status *st) {
  const char *field = "path";
  mctx_buf h;
  mctx_buf_init(&h, MCTX_ST_MAX_HEADER);
  mctx_jw w;
  mctx_jw_init(&w, &h);
  mctx_jw_obj(&w);
  if (metadata_json) {
    mctx_jw_key(&w, "__metadata__");
    mctx_jw_raw(&w, metadata_json, strlen(metadata_json));
  }
  uint64_t at = 0;
  for (int32_t i = 0; i < n; i++) {
    const mctx_st_out *t = &ts[i];
    if (t->dtype != MCTX_ST_F32 && t->dtype != MCTX_ST_F16 && t->dtype != MCTX_ST_BF16) {
      mctx_buf_free(&h);
      return BAD(MCTX_EINVALID, "tensor '%s': can only write F32, F16 or BF16", t->name);
    }
    uint64_t numel = 1;
    for (int32_t d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
    mctx_jw_key(&w, t->name);
    mctx_jw_obj(&w);
    mctx_jw_key(&w, "dtype");
    mctx_jw_str(&w, mctx_st_dtype_name(t->dtype));
    mctx_jw_key(&w, "shape");
    mctx_jw_arr(&w);
    for (int32_t d = 0; d < t->ndim; d++) mctx_jw_i64(&w, t->shape[d]);
    mctx_jw_end(&w);
    mctx_jw_key(&w, "data_offsets");
    mctx_jw_arr(&w);
    mctx_jw_i64(&w, (int64_t)at);
    at += numel * mctx_st_dtype_size(t->dtype);
    mctx_jw_i64(&w, (int64_t)at);
    mctx_jw_end(&w);
    mctx_jw_end(&w);
  }
  mctx_jw_end(&w);
  while (h.len % 8 != 0) mctx_buf_putc(&h, ' ');
  if (h.failed) {
    mctx_buf_free(&h);
    return BAD(MCTX_ELIMIT, "the header is too large");
  }
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *fp = fopen(tmp, "wb");
  if (!fp) {
    mctx_buf_free(&h);
    return BAD(MCTX_EIO, "cannot create %s: %s", tmp, strerror(errno));
  }
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
  int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(h.data, 1, h.len, fp) == h.len;
  mctx_buf_free(&h);
  for (int32_t i = 0; i < n && ok; i++) {
    const mctx_st_out *t = &ts[i];
    uint64_t numel = 1;
    for (int32_t d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d];
    for (uint64_t k = 0; k < numel && ok; k++) {
      uint8_t b[4];
      size_t sz;
      if (t->dtype == MCTX_ST_F32) {
        uint32_t u = bits_of(t->data[k]);
        for (int j = 0; j < 4; j++) b[j] = (uint8_t)(u >> (8 * j));
        sz = 4;
      } else {
        uint16_t u = t->dtype == MCTX_ST_F16 ? mctx_f32_to_f16(t->data[k]) : mctx_f32_to_bf16(t->data[k]);
        b[0] = (uint8_t)u;
        b[1] = (uint8_t)(u >> 8);
        sz = 2;
      }
      ok = fwrite(b, 1, sz, fp) == sz;
    }
  }
  if (fclose(fp) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    return BAD(MCTX_EIO, "cannot write %s: %s", path, strerror(errno));
  }
  return 0;
}
