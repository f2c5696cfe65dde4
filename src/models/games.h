/* models/games.h: board games with exact simulators, as models.
 *
 * Two games: `tictactoe` (9 actions) and `connect4` (7 columns x 6 rows, 7
 * actions). Their rules are pure functions in tictactoe-impl.h and
 * connect4-impl.h (for the CPU and, later, the GPU); this header is the host
 * side: a table per game (mctx_game) that the models, the arena and the tests
 * use alike, position strings in both directions, and the models' factories.
 *
 * Position notation (docs/MODELS.md):
 *   - a move list: the digits of the moves from the start, 1-based (connect
 *     four: columns "1".."7"; tic-tac-toe: cells "1".."9" row-major from the
 *     top left); "" is the start position;
 *   - a board: one character per cell, top row first, rows left to right,
 *     'X' (the first player), 'O', '.' (empty), either case; rows may be
 *     separated by '/' ("XO./.X./..." ; "......./......./...").
 * The player to move follows from the counts (X moves first).
 *
 * The models: params {"position": string or [B strings], "rollouts": N,
 * "rollout": "tactical" | "random", "seed": S, "prior": "tactical" |
 * "uniform"}. The embedding is the position (mctx_game.words uint32 words);
 * the value is the mean of N rollouts seeded from the position and S
 * (tactical, the default: each side wins at once when it can, else blocks
 * the other's immediate win, else moves at random); prior logits are -1e9 for
 * illegal moves and, for legal ones, 0 ("uniform") or the tactical prior of
 * game-impl.h (the default: 4 for a move that wins now, 2 for one that
 * blocks the opponent's immediate win). */
#ifndef MCTX_MODELS_GAMES_H
#define MCTX_MODELS_GAMES_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/registry.h"

#define MCTX_GAME_MAX_WORDS 8
#define MCTX_GAME_MAX_ACTIONS 16
#define MCTX_GAME_POSITION_MAX 256  /* longest position string accepted */
#define MCTX_GAME_MAX_ROLLOUTS 4096

/* One game's rules on positions held as `words` uint32 words. */
typedef struct mctx_game {
  const char *name;
  const char *description;
  int32_t num_actions;
  int32_t words;          /* uint32 words of a position (the embedding) */
  int32_t rows, cols;     /* the board as printed */
  int32_t max_plies;
  const char *line_name;  /* "three" or "four" (in a row) */
  /* The start position. */
  void (*init)(uint32_t *w);
  /* legal[num_actions] (1 = legal); returns how many (0 when over). */
  int32_t (*legal)(const uint32_t *w, uint8_t *legal);
  /* The model's step: next position, reward for the mover, discount. */
  void (*step)(const uint32_t *w, int32_t action, uint32_t *next, float *reward, float *discount);
  /* Prior logits[num_actions]: -1e9 illegal; legal 0, or with tactical 4
   * for a move that wins now and 2 for one that blocks the opponent's win
   * now; all 0 when over. */
  void (*logits)(const uint32_t *w, int tactical, float *logits);
  /* Mean outcome of `rollouts` playouts for the player to move: random, or
   * with tactical "win now, else block now, else random". */
  float (*value)(const uint32_t *w, int32_t rollouts, int tactical, uint32_t seed);
  /* The status word: MCTX__GAME_* of game-impl.h (0: ongoing). */
  uint32_t (*status)(const uint32_t *w);
  /* 0 when X is to move, 1 when O is. */
  int32_t (*to_move)(const uint32_t *w);
  /* MCTX__GAME_OK or the MCTX__GAME_E_* code of what makes it impossible. */
  int (*check)(const uint32_t *w, int check_words);
  /* The cell at (row from the top, column): 0 empty, 1 X, 2 O. */
  int (*cell)(const uint32_t *w, int32_t row, int32_t col);
  /* Builds a position from cells[rows * cols] (0, 1, 2; top row first);
   * fills ply and status from the pieces. */
  void (*from_cells)(const uint8_t *cells, uint32_t *w);
} mctx_game;

extern const mctx_game mctx_game_tictactoe;
extern const mctx_game mctx_game_connect4;

/* The game called `name` ("tictactoe", "connect4"), or NULL. */
const mctx_game *mctx_game_find(const char *name);

/* Parses a position string (see above) into w[g->words]. A finished game is
 * an error unless allow_over. Errors (MCTX_EPARSE for characters and
 * lengths, MCTX_EINVALID for impossible or finished positions) name `field`
 * and say what is wrong and where. */
int mctx_game_parse(const mctx_game *g, const char *text, int allow_over, uint32_t *w, const char *field,
                    mctx_status *st);
/* Checks a position given as words (a request's embedding): the pieces, the
 * ply and status words. A finished game is an error unless allow_over. */
int mctx_game_check_state(const mctx_game *g, const uint32_t *w, int allow_over, const char *field,
                          mctx_status *st);
/* Writes the board notation of w ("XO./.X./...") into out[n]; returns out. */
char *mctx_game_format(const mctx_game *g, const uint32_t *w, char *out, size_t n);
/* A sentence on how the game stands: "X to move", "X won", "draw", ... */
const char *mctx_game_status_text(const mctx_game *g, const uint32_t *w);

/* The game a model made by the tictactoe or connect4 factory plays, or NULL
 * for other models. */
const mctx_game *mctx_game_of_model(const mctx_model *m);
/* The root invalid actions of a game model: for each of n positions
 * (embeddings, [n][words]) invalid[i][a] = 1 for illegal moves. Returns 0,
 * or MCTX_EINVALID when m is not a game model. The arena passes these as the
 * roots' invalid actions, and so does the API for every request to a game
 * model (src/api/job.c, added to the request's own invalid_actions). */
int mctx_game_invalid_actions(const mctx_model *m, int32_t n, const void *embeddings, uint8_t *invalid,
                              mctx_status *st);
/* The position the model's default root of element b starts from (params
 * "position"), copied into w. Returns 0 or MCTX_ERANGE. */
int mctx_game_model_position(const mctx_model *m, int32_t b, uint32_t *w, mctx_status *st);

extern const mctx_model_factory mctx__model_tictactoe;
extern const mctx_model_factory mctx__model_connect4;

#endif
