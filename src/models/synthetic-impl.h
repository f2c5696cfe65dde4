/* models/synthetic-impl.h: the synthetic environment of
 * shared/bench/SYNTHETIC_ENV.md, for host and device. A few integer hashes
 * per output, exact in float32 but for one multiply, so that a benchmark
 * measures the search, and every engine computes the same bits. */
#ifndef MCTX_MODELS_SYNTHETIC_IMPL_H
#define MCTX_MODELS_SYNTHETIC_IMPL_H

#include "core/hd.h"

MCTX_HD static inline uint32_t mctx__mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}

/* uint32 -> float32 in [-1, 1). */
MCTX_HD static inline float mctx__unit(uint32_t x) {
  return (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

MCTX_HD static inline float mctx__syn_logit(uint32_t state, uint32_t a) {
  return mctx__unit(mctx__mix32(state ^ (a * 0x9E3779B9u))) * 2.0f;
}

MCTX_HD static inline float mctx__syn_value(uint32_t state) {
  return mctx__unit(mctx__mix32(state ^ 0x68E31DA4u));
}

MCTX_HD static inline float mctx__syn_reward(uint32_t state) {
  return mctx__unit(mctx__mix32(state ^ 0xB5297A4Du)) * 0.1f;
}

MCTX_HD static inline uint32_t mctx__syn_root_state(uint32_t b) { return mctx__mix32(b + 1u); }

MCTX_HD static inline uint32_t mctx__syn_next(uint32_t state, uint32_t action) {
  return mctx__mix32((state * 0x01000193u) ^ (action + 0x7F4A7C15u));
}

#define MCTX__SYN_DISCOUNT 0.997f

/* The stochastic variant. */
MCTX_HD static inline float mctx__syn_chance_logit(uint32_t after, uint32_t c) {
  return mctx__unit(mctx__mix32(after ^ (c * 0x9E3779B9u + 0x01234567u))) * 2.0f;
}

MCTX_HD static inline uint32_t mctx__syn_chance_next(uint32_t after, uint32_t c) {
  return mctx__mix32((after * 0x01000193u) ^ (c + 0x3C6EF372u));
}

#endif
