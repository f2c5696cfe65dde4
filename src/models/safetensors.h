/* models/safetensors.h: reading and writing safetensors files.
 *
 * The format (huggingface/safetensors, what PyTorch, JAX/flax and the
 * safetensors library write): an 8-byte little-endian header length N, N
 * bytes of JSON header, then the data. The header maps each tensor name to
 * {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets into
 * the data, which follows the header), plus an optional "__metadata__" object
 * of strings. The reader checks everything a hostile file could get wrong:
 * the header length against the file, the JSON, each dtype and shape, that
 * each tensor's byte range matches its shape and lies in the data, and that
 * the tensors tile the data without overlap or holes. Errors name the file
 * and the tensor.
 *
 * Floating-point tensors (F32, F16, BF16, F64) are read as float32. */
#ifndef MCTX_MODELS_SAFETENSORS_H
#define MCTX_MODELS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"

#define MCTX_ST_MAX_DIMS 8
#define MCTX_ST_MAX_NAME 256
#define MCTX_ST_MAX_HEADER ((uint64_t)16 << 20)  /* 16 MiB of JSON header */
#define MCTX_ST_MAX_TENSORS 4096

typedef enum mctx_st_dtype {
  MCTX_ST_BOOL = 0, MCTX_ST_U8, MCTX_ST_I8, MCTX_ST_F8_E5M2, MCTX_ST_F8_E4M3,
  MCTX_ST_I16, MCTX_ST_U16, MCTX_ST_F16, MCTX_ST_BF16, MCTX_ST_I32, MCTX_ST_U32,
  MCTX_ST_F32, MCTX_ST_F64, MCTX_ST_I64, MCTX_ST_U64,
  MCTX_ST_NUM_DTYPES
} mctx_st_dtype;

typedef struct mctx_st_tensor {
  char name[MCTX_ST_MAX_NAME];
  mctx_st_dtype dtype;
  int32_t ndim;
  int64_t shape[MCTX_ST_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end;   /* byte range in the data section */
} mctx_st_tensor;

typedef struct mctx_safetensors {
  char path[512];
  uint8_t *bytes;        /* the whole file */
  size_t size;
  size_t data_offset;    /* 8 + header length */
  mctx_st_tensor *tensors;
  int32_t num_tensors;
  char *metadata;        /* "__metadata__" as JSON text, or NULL */
} mctx_safetensors;

/* The dtype's name ("F32") and element size in bytes. */
const char *mctx_st_dtype_name(mctx_st_dtype d);
size_t mctx_st_dtype_size(mctx_st_dtype d);

/* Reads and checks the file at `path` (at most max_bytes; 0: 4 GiB). Returns
 * 0 and *out (free with mctx_safetensors_free), or MCTX_EIO / MCTX_EPARSE /
 * MCTX_ELIMIT with st: field = `field`, reason naming the file and what is
 * wrong. */
int mctx_safetensors_open(const char *path, size_t max_bytes, const char *field, mctx_safetensors **out,
                          mctx_status *st);
/* The same from memory: `bytes` is copied. `path` names it in messages. */
int mctx_safetensors_parse(const void *bytes, size_t size, const char *path, const char *field,
                           mctx_safetensors **out, mctx_status *st);
/* Frees f. NULL is a harmless no-op. */
void mctx_safetensors_free(mctx_safetensors *f);
/* The tensor called `name`, or NULL. Borrowed from f. */
const mctx_st_tensor *mctx_safetensors_find(const mctx_safetensors *f, const char *name);
/* Converts a floating-point tensor to float32 into out[t->numel]. Returns 0,
 * or MCTX_ETYPE for other dtypes (named in the message). */
int mctx_safetensors_read_f32(const mctx_safetensors *f, const mctx_st_tensor *t, float *out, const char *field,
                              mctx_status *st);

/* A tensor to write: float32 values converted to `dtype` (F32, F16 or BF16,
 * rounded to nearest even). */
typedef struct mctx_st_out {
  const char *name;
  mctx_st_dtype dtype;
  int32_t ndim;
  int64_t shape[MCTX_ST_MAX_DIMS];
  const float *data;
} mctx_st_out;

/* Writes a safetensors file with the tensors in order (the header padded
 * with spaces to a multiple of 8 bytes, as the safetensors library does) and
 * `metadata_json` (an object of strings, or NULL) as "__metadata__". Writes
 * to path + ".tmp" and renames, so readers never see half a file. */
int mctx_safetensors_write(const char *path, const mctx_st_out *tensors, int32_t n, const char *metadata_json,
                           mctx_status *st);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float mctx_f16_to_f32(uint16_t h);
float mctx_bf16_to_f32(uint16_t h);
uint16_t mctx_f32_to_f16(float f);
uint16_t mctx_f32_to_bf16(float f);

#endif
