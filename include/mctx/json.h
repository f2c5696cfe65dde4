/* mctx/json.h: a read-only JSON document (util/json.c's parser).
 *
 * The request decoder, the service, the tests and the models' parameters all
 * read JSON through this one type. A document owns every value in it: values
 * are borrowed pointers, valid until mctx_json_doc_free(). Parsing is bounded:
 * a depth limit and a memory cap (both in mctx_json_limits) refuse hostile
 * input with a message instead of growing without bound. */
#ifndef MCTX_JSON_H
#define MCTX_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mctx_json_type {
  MCTX_JSON_NULL = 0,
  MCTX_JSON_BOOL,
  MCTX_JSON_NUMBER,
  MCTX_JSON_STRING,
  MCTX_JSON_ARRAY,
  MCTX_JSON_OBJECT
} mctx_json_type;

typedef struct mctx_json mctx_json;
typedef struct mctx_json_member mctx_json_member;

struct mctx_json {
  uint8_t type;        /* mctx_json_type */
  uint8_t is_int;      /* number written as an integer that fits int64 */
  uint8_t boolean;     /* value of a BOOL */
  uint32_t len;        /* bytes of a STRING, items of an ARRAY, members of an OBJECT */
  union {
    double num;
    const char *str;   /* NUL-terminated, may contain NULs before len */
    mctx_json *items;
    mctx_json_member *members;
  } u;
  int64_t i;           /* integer value when is_int */
};

struct mctx_json_member {
  const char *key;     /* NUL-terminated */
  uint32_t key_len;
  mctx_json value;
};

typedef struct mctx_json_doc mctx_json_doc;

typedef struct mctx_json_limits {
  int max_depth;       /* nesting of arrays and objects; default 64 */
  size_t max_bytes;    /* memory the document may take; default 32 x input + 64 KiB */
} mctx_json_limits;

/* Parses `len` bytes of `text` (no NUL needed). Returns the document, or NULL
 * with `st` naming the byte offset and the reason. Free with
 * mctx_json_doc_free(). `limits` may be NULL for the defaults. */
mctx_json_doc *mctx_json_parse(const char *text, size_t len,
                               const mctx_json_limits *limits, mctx_status *st);
/* Whether `len` bytes of `text` are one JSON document that mctx_json_parse
 * accepts (nesting at most max_depth; <= 0: 64), without building it: memory
 * stays constant whatever the length. Returns 0, or the error with `st`. */
int mctx_json_valid(const char *text, size_t len, int max_depth, mctx_status *st);
/* The root value; borrowed from the document. */
const mctx_json *mctx_json_root(const mctx_json_doc *doc);
/* Frees the document and every value in it. NULL is a harmless no-op. */
void mctx_json_doc_free(mctx_json_doc *doc);

/* Member `key` of an object, or NULL (also when `obj` is not an object). */
const mctx_json *mctx_json_get(const mctx_json *obj, const char *key);
/* Item `i` of an array, or NULL. */
const mctx_json *mctx_json_at(const mctx_json *arr, size_t i);
/* The type's name, for messages ("array"). */
const char *mctx_json_type_name(int type);

/* Typed reads with a default: return `dflt` when `v` is NULL or JSON null, and
 * MCTX_ETYPE (with st) when it has another type. */
int mctx_json_number(const mctx_json *v, double dflt, double *out,
                     const char *field, mctx_status *st);
int mctx_json_int(const mctx_json *v, int64_t dflt, int64_t *out,
                  const char *field, mctx_status *st);
int mctx_json_bool(const mctx_json *v, int dflt, int *out,
                   const char *field, mctx_status *st);

#ifdef __cplusplus
}
#endif
#endif
