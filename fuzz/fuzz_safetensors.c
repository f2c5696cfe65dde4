/* fuzz/fuzz_safetensors.c: the safetensors reader and the MLP weight
 * loader on top of it (src/models/safetensors.c, mlp.c).
 *
 * The input is a whole file. The reader must refuse it with a message or
 * accept it with every tensor inside the data, of the size its shape and
 * dtype say, found by its name and readable as float32 when it is a float
 * type. The same bytes, written to a file, go through
 * mctx_mlp_weights_load, which checks them as a network's weights; weights
 * it accepts must run a forward pass (prediction and dynamics) on one row. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "models/mlp.h"
#include "models/safetensors.h"

static char g_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(g_path, sizeof g_path, "%s/weights.safetensors", fuzz_workdir());
  return 0;
}

static void check_file(const mctx_safetensors *f, size_t size) {
  FUZZ_CHECK(f->data_offset >= 10 && f->data_offset <= size, "data offset %zu of %zu", f->data_offset, size);
  uint64_t data = size - f->data_offset;
  for (int32_t i = 0; i < f->num_tensors; i++) {
    const mctx_st_tensor *t = &f->tensors[i];
    FUZZ_CHECK(t->begin <= t->end && t->end <= data, "tensor %s: [%llu, %llu) of %llu", t->name,
               (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)data);
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= MCTX_ST_MAX_DIMS, "tensor %s: %d dims", t->name, t->ndim);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
      FUZZ_CHECK(t->shape[d] >= 0, "tensor %s: dim %d is %lld", t->name, d, (long long)t->shape[d]);
      numel *= t->shape[d];
    }
    FUZZ_CHECK(numel == t->numel, "tensor %s: numel %lld, shape says %lld", t->name, (long long)t->numel,
               (long long)numel);
    FUZZ_CHECK((uint64_t)t->numel * mctx_st_dtype_size(t->dtype) == t->end - t->begin,
               "tensor %s: %lld x %zu bytes in a range of %llu", t->name, (long long)t->numel,
               mctx_st_dtype_size(t->dtype), (unsigned long long)(t->end - t->begin));
    FUZZ_CHECK(mctx_safetensors_find(f, t->name) == t, "tensor %s is not found by its name", t->name);
    if (t->numel > (1 << 22)) continue;
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    if (!v) continue;
    mctx_status st;
    mctx_status_clear(&st);
    int rc = mctx_safetensors_read_f32(f, t, v, "fuzz", &st);
    int is_float = t->dtype == MCTX_ST_F32 || t->dtype == MCTX_ST_F16 || t->dtype == MCTX_ST_BF16 ||
                   t->dtype == MCTX_ST_F64;
    FUZZ_CHECK((rc == 0) == is_float, "tensor %s (%s): read_f32 answered %d", t->name,
               mctx_st_dtype_name(t->dtype), rc);
    free(v);
  }
  if (f->metadata) FUZZ_CHECK(f->metadata[0] == '{', "metadata '%.40s' is not an object", f->metadata);
}

static void check_mlp(const uint8_t *data, size_t size) {
  FILE *fp = fopen(g_path, "wb");
  if (!fp) return;
  size_t w = fwrite(data, 1, size, fp);
  fclose(fp);
  if (w != size) return;
  mctx_status st;
  mctx_status_clear(&st);
  mctx_mlp_weights *wts = NULL;
  int rc = mctx_mlp_weights_load(g_path, "model.params.weights", &wts, &st);
  if (rc != 0) {
    FUZZ_CHECK(wts == NULL && st.reason[0], "refused weights without a reason, or with weights");
    return;
  }
  FUZZ_CHECK(wts && wts->state_dim > 0 && wts->num_actions > 0, "weights with S=%d A=%d",
             wts ? wts->state_dim : -1, wts ? wts->num_actions : -1);
  int32_t S = wts->state_dim, A = wts->num_actions;
  float *state = calloc((size_t)S, sizeof *state), *next = calloc((size_t)S, sizeof *next);
  float *logits = calloc((size_t)A, sizeof *logits);
  float value = 0, reward = 0;
  int32_t action = A - 1;
  if (state && next && logits) {
    for (int32_t i = 0; i < S; i++) state[i] = 0.25f;
    rc = mctx_mlp_predict(wts, 1, state, logits, &value, &st);
    FUZZ_CHECK(rc == 0, "predict failed on loaded weights: %s", st.reason);
    rc = mctx_mlp_dynamics(wts, 1, state, &action, next, &reward, &st);
    FUZZ_CHECK(rc == 0, "dynamics failed on loaded weights: %s", st.reason);
    for (int32_t i = 0; i < S; i++) FUZZ_CHECK(!(next[i] > 1.0f) && !(next[i] < -1.0f), "tanh state %g", next[i]);
  }
  free(state);
  free(next);
  free(logits);
  mctx_mlp_weights_unref(wts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  mctx_status st;
  mctx_status_clear(&st);
  mctx_safetensors *f = NULL;
  int rc = mctx_safetensors_parse(data, size, "fuzz.safetensors", "weights", &f, &st);
  if (rc != 0) {
    FUZZ_CHECK(f == NULL, "a refused file was returned");
    FUZZ_CHECK(st.reason[0] != '\0', "refused without a reason (code %d)", rc);
  } else {
    FUZZ_CHECK(f != NULL, "accepted without a file");
    check_file(f, size);
    mctx_safetensors_free(f);
  }
  check_mlp(data, size);
  return 0;
}
