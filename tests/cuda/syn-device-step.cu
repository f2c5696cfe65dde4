// tests/cuda/syn-device-step.cu: the `synthetic` environment's step
// (src/models/synthetic-impl.h) as a model's own device step, the way a user
// plugs a model into the CUDA engine (MCTX_CUDA_MODEL_CALLBACK): a kernel
// launched on the engine's stream, device pointers in and out, no
// synchronization. Used by tests/cuda/test-callback.c, which checks that the
// engine's callback path gives the built-in model's trees bit for bit.
#include <cuda_runtime.h>

#include "mctx/cuda.h"
#include "models/synthetic-impl.h"
#include "test-callback.h"

__global__ void syn_step_kernel(int32_t n, int32_t A, const int32_t *actions, const uint32_t *state, float *reward,
                                float *discount, float *logits, float *value, uint32_t *next, int poison) {
  int32_t i = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  uint32_t s = mctx__syn_next(state[i], (uint32_t)actions[i]);
  next[i] = s;
  for (int32_t a = 0; a < A; a++) logits[(size_t)i * (size_t)A + (size_t)a] = mctx__syn_logit(s, (uint32_t)a);
  value[i] = poison && i == n - 1 ? __int_as_float(0x7fc00000) : mctx__syn_value(s);
  reward[i] = mctx__syn_reward(s);
  discount[i] = MCTX__SYN_DISCOUNT;
}

extern "C" int syn_device_step(void *self, void *stream, int32_t n, const int32_t *actions, const void *embeddings,
                               float *reward, float *discount, float *prior_logits, float *value,
                               void *next_embeddings, mctx_status *st) {
  const syn_device_cfg *cfg = (const syn_device_cfg *)self;
  if (cfg->fail) return mctx_status_set(st, MCTX_EMODEL, "model", "syn_device_step: failing on purpose");
  syn_step_kernel<<<(n + 127) / 128, 128, 0, (cudaStream_t)stream>>>(
      n, cfg->num_actions, actions, (const uint32_t *)embeddings, reward, discount, prior_logits, value,
      (uint32_t *)next_embeddings, cfg->poison);
  return 0;
}
