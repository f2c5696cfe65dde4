/* models/game-impl.h: what the board games' rules share, for host and device.
 *
 * The games (tictactoe-impl.h, connect4-impl.h) are written as `MCTX_HD
 * static inline` pure functions over fixed-width integers, with no library
 * call, so that cc and nvcc compile the same rules. This header holds the
 * pieces they share: the status codes of a position, the logit of an illegal
 * move, a small counter-based random generator for rollouts, and a portable
 * population count.
 *
 * Conventions (mctx's two-player convention): a position's value is from the
 * view of the player to move; a step's reward is from the view of the player
 * who moved; the discount between plies is -1, and 0 when the move ends the
 * game. */
#ifndef MCTX_MODELS_GAME_IMPL_H
#define MCTX_MODELS_GAME_IMPL_H

#include "core/hd.h"

/* Status word of a position (the last word of every game's embedding). */
#define MCTX__GAME_ONGOING 0u
#define MCTX__GAME_WON_FIRST 1u   /* the first player (X) won */
#define MCTX__GAME_WON_SECOND 2u  /* the second player (O) won */
#define MCTX__GAME_DRAW 3u
#define MCTX__GAME_RESULT_MASK 3u
#define MCTX__GAME_FORFEIT 0x100u /* flag: the loser played an illegal move */

/* The prior logit of an illegal move: finite (so that trees print as JSON)
 * and low enough that its softmax weight is exactly 0 in float32. */
#define MCTX__GAME_ILLEGAL_LOGIT (-1.0e9f)

/* The tactical prior (the models' "prior": "tactical", their default): a
 * move that wins at once gets this logit, a move that stops the opponent's
 * immediate win gets MCTX__GAME_BLOCK_LOGIT, the others 0. It plays the part
 * of a trained policy's obvious knowledge, so that a search spends its
 * simulations on the moves that matter (Gumbel MuZero's deterministic
 * interior selection in particular relies on the prior to explore). */
#define MCTX__GAME_WIN_LOGIT 4.0f
#define MCTX__GAME_BLOCK_LOGIT 2.0f

/* Errors of the position checks; models/games.c turns them into messages. */
enum {
  MCTX__GAME_OK = 0,
  MCTX__GAME_E_CELLS,      /* pieces outside the board */
  MCTX__GAME_E_OVERLAP,    /* a cell holds both players' pieces */
  MCTX__GAME_E_COUNTS,     /* X count minus O count is not 0 or 1 */
  MCTX__GAME_E_FLOATING,   /* connect four: a piece above an empty cell */
  MCTX__GAME_E_BOTH_WON,   /* both players have a line */
  MCTX__GAME_E_WIN_ORDER,  /* the winner's line could not have been made by the last move */
  MCTX__GAME_E_PLY,        /* the ply word disagrees with the pieces */
  MCTX__GAME_E_STATUS      /* the status word disagrees with the pieces */
};

MCTX_HD static inline uint32_t mctx__game_mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

/* Next number of a counter-based generator whose state is *s. */
MCTX_HD static inline uint32_t mctx__game_rand(uint32_t *s) {
  *s += 0x9E3779B9u;
  return mctx__game_mix(*s);
}

/* A uniform integer in [0, n), n >= 1. */
MCTX_HD static inline uint32_t mctx__game_below(uint32_t *s, uint32_t n) {
  return (uint32_t)(((uint64_t)mctx__game_rand(s) * (uint64_t)n) >> 32);
}

MCTX_HD static inline int32_t mctx__game_popcount(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (int32_t)((x * 0x0101010101010101ull) >> 56);
}

/* Picks one set bit of m (m != 0) uniformly at random; returns its index. */
MCTX_HD static inline int32_t mctx__game_pick_bit(uint32_t m, uint32_t *rng) {
  uint32_t k = mctx__game_below(rng, (uint32_t)mctx__game_popcount(m));
  for (int32_t i = 0; i < 32; i++)
    if ((m >> i) & 1u) {
      if (k == 0) return i;
      k--;
    }
  return 0;
}

/* The rollout seed of a position: a hash of its words and the model's seed,
 * so that a position's value never depends on the thread or the batch. */
MCTX_HD static inline uint32_t mctx__game_seed(const uint32_t *w, int32_t nw, uint32_t seed) {
  uint32_t h = mctx__game_mix(seed ^ 0x243F6A88u);
  for (int32_t i = 0; i < nw; i++) h = mctx__game_mix(h ^ (w[i] + 0x9E3779B9u * (uint32_t)(i + 1)));
  return h;
}

#endif
