/* models/testenv-impl.h: the environment of mctx's tree_test.py, for host
 * and device. The embedding is a PRNG key; split(key, 3) gives the keys of
 * the prior logits (normal), the value and the reward (uniform(-1, 1)); a step
 * takes split(key, A)[action] as the next key. */
#ifndef MCTX_MODELS_TESTENV_IMPL_H
#define MCTX_MODELS_TESTENV_IMPL_H

#include "core/prng-impl.h"

MCTX_HD static inline float mctx__testenv_logit(int mode, mctx_key key, int32_t A, int32_t a) {
  mctx_key pk = mctx__split_nth(mode, key, 3u, 0u);
  return mctx__normal_bits(mctx__bits_nth(mode, pk, (uint32_t)A, (uint32_t)a));
}

MCTX_HD static inline float mctx__testenv_value(int mode, mctx_key key) {
  mctx_key vk = mctx__split_nth(mode, key, 3u, 1u);
  return mctx__uniform_bits(mctx__bits_nth(mode, vk, 1u, 0u), -1.0f, 1.0f);
}

MCTX_HD static inline float mctx__testenv_reward(int mode, mctx_key key) {
  mctx_key rk = mctx__split_nth(mode, key, 3u, 2u);
  return mctx__uniform_bits(mctx__bits_nth(mode, rk, 1u, 0u), -1.0f, 1.0f);
}

/* Element i's root key when the request gives none: PRNGKey(0) for element
 * 0, fold_in(PRNGKey(0), i) for the others. */
MCTX_HD static inline mctx_key mctx__testenv_root_key(uint32_t i) {
  mctx_key k;
  k.k[0] = 0;
  k.k[1] = 0;
  return i == 0 ? k : mctx__fold_in(k, i);
}

#endif
