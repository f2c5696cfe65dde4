/* models/arena.h: two players, a game, many games; who plays better.
 *
 * The arena plays N games between players A and B on a game of games.h:
 * colours alternate (A moves first in even games), an optional random opening
 * is shared by each pair of games so that both sides play it with each
 * colour, and every random draw is derived from the seed, the game's index
 * and the ply, so that a run is reproducible and independent of the number of
 * threads. All games advance together: each ply, the positions where A is to
 * move are searched as one batch, then those of B.
 *
 * A player is `random` (a uniformly random legal move) or a search: a
 * policy, its parameters (mctx_search_params) and the game model's value
 * (random rollouts per evaluation, a rollout seed). The search's root gets
 * the game's illegal moves as invalid actions.
 *
 * The result counts A's wins, draws and losses (also by colour) and gives
 * the score (wins + draws / 2) / N with a 95% Wilson interval. */
#ifndef MCTX_MODELS_ARENA_H
#define MCTX_MODELS_ARENA_H

#include <stdio.h>

#include "mctx/search.h"
#include "models/games.h"
#include "util/buf.h"

typedef struct mctx_arena_player {
  int random;                 /* 1: the random player */
  mctx_search_params params;  /* policy and search parameters */
  int32_t rollouts;           /* the game model's rollouts per evaluation */
  uint32_t value_seed;        /* the game model's rollout seed */
  char rollout[16];           /* the game model's "rollout": "tactical" or "random" */
  char prior[16];             /* the game model's "prior": "tactical" or "uniform" */
  char spec[256];             /* how it was described, for printing */
} mctx_arena_player;

typedef struct mctx_arena_config {
  const mctx_game *game;
  int32_t games;              /* N >= 1 */
  int64_t seed;
  int32_t opening_plies;      /* random moves before the players take over */
  const uint32_t *start;      /* start position (game->words words), or NULL */
  int threads;                /* CPU engine threads (<= 0: one per core) */
  mctx_arena_player a, b;
  FILE *verbose;              /* each finished game's moves, or NULL */
} mctx_arena_config;

typedef struct mctx_arena_result {
  int32_t games, wins, draws, losses;  /* A's */
  int32_t first[3], second[3];         /* A's wins, draws, losses as X and as O */
  double score, ci_low, ci_high;       /* (wins + draws / 2) / games, 95% Wilson */
  int64_t plies, searches;
  int32_t illegal;                     /* moves a player made that were not legal (forfeits) */
  double seconds;
} mctx_arena_result;

/* Fills p from a description: "random"; a JSON object {"policy":
 * "gumbel_muzero", "num_simulations": 64, "rollouts": 16, "value_seed": 0,
 * "rollout": "tactical" | "random", "prior": "tactical" | "uniform", and any of "temperature", "dirichlet_fraction", "dirichlet_alpha",
 * "max_num_considered_actions", "gumbel_scale", "pb_c_init", "pb_c_base",
 * "max_depth", "qtransform"}; or the short "POLICY:SIMS" ("muzero:800").
 * Search players default to rollouts 16, and muzero to temperature 0 and no
 * Dirichlet noise (the arena measures play, not exploration). Errors name
 * `field`. */
int mctx_arena_player_parse(const char *spec, mctx_arena_player *p, const char *field, mctx_status *st);

/* Plays the games. Returns 0 and fills *res, or an error (a model or search
 * failure) with st. */
int mctx_arena_run(const mctx_arena_config *cfg, mctx_arena_result *res, mctx_status *st);

/* The moves player p chooses in n positions (positions [n][game->words]),
 * searched as one batch: actions[n]. Element i draws its randomness from
 * (seed, i). Returns 0 or an error. */
int mctx_arena_best_moves(const mctx_game *game, const mctx_arena_player *p, int32_t n, const uint32_t *positions,
                          int64_t seed, int threads, int32_t *actions, mctx_status *st);

/* The Wilson score interval for a proportion p over n trials at z (1.96 for
 * 95%). */
void mctx_arena_wilson(double p, int32_t n, double z, double *lo, double *hi);

/* Appends the result as JSON (config, counts, score, interval). Returns 0,
 * or -1 when the buffer's cap was reached. */
int mctx_arena_result_json(const mctx_arena_config *cfg, const mctx_arena_result *res, mctx_buf *out);

#endif
