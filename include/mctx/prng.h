/* mctx/prng.h: JAX's random number generator (threefry2x32), bit for bit.
 *
 * mctx draws its Dirichlet noise, Gumbel noise, tie-break noise and final
 * action from JAX's PRNG; reproducing mctx's trees means drawing the same
 * numbers. JAX has two ways to derive keys and bits from a key:
 *   MCTX_PRNG_JAX         jax_threefry_partitionable=True, JAX's default since
 *                         0.5 (the request's "prng": "jax", the default);
 *   MCTX_PRNG_JAX_LEGACY  jax_threefry_partitionable=False, the mode of mctx's
 *                         stored test trees ("prng": "jax_legacy").
 * The *_nth functions give one element of what JAX computes for a whole array
 * (element i of split(key, n), of random_bits(key, (n,)), ...) without
 * computing the rest, which lets each batch element of a search derive its own
 * draws independently. */
#ifndef MCTX_PRNG_H
#define MCTX_PRNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mctx_key {
  uint32_t k[2];
} mctx_key;

typedef enum mctx_prng_mode {
  MCTX_PRNG_JAX = 0,
  MCTX_PRNG_JAX_LEGACY = 1
} mctx_prng_mode;

/* jax.random.PRNGKey(seed): [0, seed] for seeds in int32 range (JAX's
 * default 32-bit mode); [seed >> 32, seed & 0xffffffff] beyond it (x64). */
mctx_key mctx_prng_key(int64_t seed);
/* jax.random.split(key, n) into out[n]. */
void mctx_prng_split(mctx_prng_mode mode, mctx_key key, uint32_t n, mctx_key *out);
/* Element i of split(key, n). */
mctx_key mctx_prng_split_nth(mctx_prng_mode mode, mctx_key key, uint32_t n, uint32_t i);
/* jax.random.fold_in(key, data). */
mctx_key mctx_prng_fold_in(mctx_prng_mode mode, mctx_key key, uint32_t data);
/* jax.random.bits(key, (n,)) (32-bit) into out[n]. */
void mctx_prng_bits(mctx_prng_mode mode, mctx_key key, uint32_t n, uint32_t *out);
/* jax.random.uniform(key, (n,), minval=lo, maxval=hi). */
void mctx_prng_uniform(mctx_prng_mode mode, mctx_key key, uint32_t n, float lo, float hi, float *out);
/* jax.random.normal(key, (n,)). */
void mctx_prng_normal(mctx_prng_mode mode, mctx_key key, uint32_t n, float *out);
/* jax.random.gumbel(key, (n,)). */
void mctx_prng_gumbel(mctx_prng_mode mode, mctx_key key, uint32_t n, float *out);
/* jax.random.categorical(key, logits) for logits [rows][cols]: out[rows]. */
void mctx_prng_categorical(mctx_prng_mode mode, mctx_key key, uint32_t rows, uint32_t cols,
                           const float *logits, int32_t *out);
/* jax.random.dirichlet(key, alpha[cols], shape=(rows,)): out[rows][cols]. */
void mctx_prng_dirichlet(mctx_prng_mode mode, mctx_key key, uint32_t rows, uint32_t cols,
                         const float *alpha, float *out);

#ifdef __cplusplus
}
#endif
#endif
