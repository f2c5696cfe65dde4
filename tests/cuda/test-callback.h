/* tests/cuda/test-callback.h: the device step of syn-device-step.cu. */
#ifndef MCTX_TEST_CALLBACK_H
#define MCTX_TEST_CALLBACK_H

#include <stdint.h>

#include "mctx/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct syn_device_cfg {
  int32_t num_actions;
  int fail;    /* the step returns an error */
  int poison;  /* the last element's value is NaN */
} syn_device_cfg;

int syn_device_step(void *self, void *stream, int32_t n, const int32_t *actions, const void *embeddings,
                    float *reward, float *discount, float *prior_logits, float *value, void *next_embeddings,
                    mctx_status *st);

#ifdef __cplusplus
}
#endif
#endif
