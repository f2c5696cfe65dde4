/* models/connect4-impl.h: the rules of connect four (7 columns x 6 rows, 7
 * actions: drop a piece in column 0..6), for host and device.
 *
 * A position is two bitboards, the ply count and a status word. Bit
 * (7 * column + row) of a bitboard is the cell of that column and row (row 0
 * at the bottom); row 6 of each column stays empty (a sentinel), so that the
 * four-in-a-row tests below never wrap from one column into the next. The
 * first player (X) moves on even plies.
 *
 * As an embedding the position is 6 uint32 words: X's bitboard (low, high),
 * O's bitboard (low, high), the ply and the status (game-impl.h).
 *
 * A step follows mctx's two-player convention: reward from the mover's view
 * (+1 for a winning move), discount -1 between plies, 0 when the game ends. A
 * move into a full column loses on the spot (reward -1, discount 0): the
 * search sees illegal moves as the worst choice, and the root masks them as
 * invalid actions. Every action from a finished position leads to the same
 * finished position with reward 0 and discount 0 (an absorbing state). */
#ifndef MCTX_MODELS_CONNECT4_IMPL_H
#define MCTX_MODELS_CONNECT4_IMPL_H

#include "models/game-impl.h"

#define MCTX__C4_COLS 7
#define MCTX__C4_ROWS 6
#define MCTX__C4_CELLS 42
#define MCTX__C4_WORDS 6
#define MCTX__C4_BOTTOM 0x0040810204081ull /* row 0 of every column */
#define MCTX__C4_BOARD (MCTX__C4_BOTTOM * 0x3Full) /* rows 0..5 of every column */

typedef struct mctx__c4 {
  uint64_t p[2];   /* X's and O's pieces */
  uint32_t ply;    /* pieces on the board */
  uint32_t status; /* MCTX__GAME_* */
} mctx__c4;

MCTX_HD static inline void mctx__c4_load(const uint32_t *w, mctx__c4 *s) {
  s->p[0] = (uint64_t)w[0] | ((uint64_t)w[1] << 32);
  s->p[1] = (uint64_t)w[2] | ((uint64_t)w[3] << 32);
  s->ply = w[4];
  s->status = w[5];
}

MCTX_HD static inline void mctx__c4_store(const mctx__c4 *s, uint32_t *w) {
  w[0] = (uint32_t)s->p[0];
  w[1] = (uint32_t)(s->p[0] >> 32);
  w[2] = (uint32_t)s->p[1];
  w[3] = (uint32_t)(s->p[1] >> 32);
  w[4] = s->ply;
  w[5] = s->status;
}

MCTX_HD static inline void mctx__c4_init(mctx__c4 *s) {
  s->p[0] = 0;
  s->p[1] = 0;
  s->ply = 0;
  s->status = MCTX__GAME_ONGOING;
}

MCTX_HD static inline uint64_t mctx__c4_cell(int32_t col, int32_t row) {
  return 1ull << (7 * col + row);
}

MCTX_HD static inline uint64_t mctx__c4_column_mask(int32_t col) {
  return 0x3Full << (7 * col);
}

/* Whether the pieces p hold four in a row: vertical, horizontal or diagonal. */
MCTX_HD static inline int mctx__c4_won(uint64_t p) {
  uint64_t m = p & (p >> 1);
  if (m & (m >> 2)) return 1;
  m = p & (p >> 7);
  if (m & (m >> 14)) return 1;
  m = p & (p >> 6);
  if (m & (m >> 12)) return 1;
  m = p & (p >> 8);
  if (m & (m >> 16)) return 1;
  return 0;
}

/* The player to move: 0 (X) or 1 (O). */
MCTX_HD static inline int32_t mctx__c4_to_move(const mctx__c4 *s) { return (int32_t)(s->ply & 1u); }

MCTX_HD static inline int mctx__c4_column_full(const mctx__c4 *s, int32_t col) {
  return ((s->p[0] | s->p[1]) & mctx__c4_cell(col, MCTX__C4_ROWS - 1)) != 0;
}

/* Fills legal[7] (1 = legal) and returns how many moves are legal; none in a
 * finished position. */
MCTX_HD static inline int32_t mctx__c4_legal(const mctx__c4 *s, uint8_t *legal) {
  int32_t n = 0;
  for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
    int ok = s->status == MCTX__GAME_ONGOING && !mctx__c4_column_full(s, c);
    legal[c] = (uint8_t)ok;
    n += ok;
  }
  return n;
}

/* Plays a legal move in column col of an ongoing position. */
MCTX_HD static inline void mctx__c4_play(mctx__c4 *s, int32_t col) {
  uint64_t mask = s->p[0] | s->p[1];
  uint64_t move = (mask + mctx__c4_cell(col, 0)) & mctx__c4_column_mask(col);
  int32_t me = mctx__c4_to_move(s);
  s->p[me] |= move;
  s->ply++;
  if (mctx__c4_won(s->p[me])) s->status = me == 0 ? MCTX__GAME_WON_FIRST : MCTX__GAME_WON_SECOND;
  else if (s->ply == MCTX__C4_CELLS) s->status = MCTX__GAME_DRAW;
}

/* One step of the model: action a from s (see the file's comment). */
MCTX_HD static inline void mctx__c4_step(const mctx__c4 *s, int32_t a, mctx__c4 *next, float *reward,
                                         float *discount) {
  *next = *s;
  if (s->status != MCTX__GAME_ONGOING) {
    *reward = 0.0f;
    *discount = 0.0f;
    return;
  }
  int32_t me = mctx__c4_to_move(s);
  if (a < 0 || a >= MCTX__C4_COLS || mctx__c4_column_full(s, a)) {
    next->status = (me == 0 ? MCTX__GAME_WON_SECOND : MCTX__GAME_WON_FIRST) | MCTX__GAME_FORFEIT;
    *reward = -1.0f;
    *discount = 0.0f;
    return;
  }
  mctx__c4_play(next, a);
  if (next->status == MCTX__GAME_ONGOING) {
    *reward = 0.0f;
    *discount = -1.0f;
  } else {
    *reward = next->status == MCTX__GAME_DRAW ? 0.0f : 1.0f;
    *discount = 0.0f;
  }
}

/* The columns (bit c) where player `who` would complete four in a row by
 * dropping a piece now. */
MCTX_HD static inline uint32_t mctx__c4_wins_at(const mctx__c4 *s, int32_t who) {
  uint64_t mask = s->p[0] | s->p[1];
  uint32_t out = 0;
  for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
    if (mask & mctx__c4_cell(c, MCTX__C4_ROWS - 1)) continue;
    uint64_t move = (mask + mctx__c4_cell(c, 0)) & mctx__c4_column_mask(c);
    if (mctx__c4_won(s->p[who] | move)) out |= 1u << c;
  }
  return out;
}

/* Prior logits of a position: MCTX__GAME_ILLEGAL_LOGIT for full columns;
 * for legal moves 0, or with `tactical` the tactical prior of game-impl.h
 * (win now, else block the opponent's win now); all 0 in a finished
 * position. */
MCTX_HD static inline void mctx__c4_logits(const mctx__c4 *s, int tactical, float *logits) {
  uint32_t win = 0, block = 0;
  if (tactical && s->status == MCTX__GAME_ONGOING) {
    int32_t me = mctx__c4_to_move(s);
    win = mctx__c4_wins_at(s, me);
    block = mctx__c4_wins_at(s, 1 - me);
  }
  for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
    float l = (win >> c) & 1u ? MCTX__GAME_WIN_LOGIT : (block >> c) & 1u ? MCTX__GAME_BLOCK_LOGIT : 0.0f;
    logits[c] = s->status == MCTX__GAME_ONGOING && mctx__c4_column_full(s, c) ? MCTX__GAME_ILLEGAL_LOGIT : l;
  }
}

/* Plays a game out from an ongoing position: uniformly random legal moves,
 * or with `tactical` a move that wins at once when there is one, else one
 * that blocks the opponent's immediate win, else a random one. Returns the
 * outcome for the player to move in s: +1, 0 or -1. */
MCTX_HD static inline float mctx__c4_rollout(const mctx__c4 *s, int tactical, uint32_t *rng) {
  mctx__c4 t = *s;
  int32_t me = mctx__c4_to_move(s);
  while (t.status == MCTX__GAME_ONGOING) {
    uint64_t mask = t.p[0] | t.p[1];
    uint32_t legal = 0;
    for (int32_t c = 0; c < MCTX__C4_COLS; c++)
      if (!(mask & mctx__c4_cell(c, MCTX__C4_ROWS - 1))) legal |= 1u << c;
    uint32_t pick = legal;
    if (tactical) {
      int32_t who = mctx__c4_to_move(&t);
      uint32_t w = mctx__c4_wins_at(&t, who);
      uint32_t b = w ? 0u : mctx__c4_wins_at(&t, 1 - who);
      pick = w ? w : b ? b : legal;
    }
    mctx__c4_play(&t, mctx__game_pick_bit(pick, rng));
  }
  if (t.status == MCTX__GAME_DRAW) return 0.0f;
  int32_t winner = t.status == MCTX__GAME_WON_FIRST ? 0 : 1;
  return winner == me ? 1.0f : -1.0f;
}

/* The value of a position for the player to move: the mean outcome of n
 * rollouts (tactical or random) seeded from the position and `seed` (0 when
 * n is 0 or the game is over). */
MCTX_HD static inline float mctx__c4_value(const mctx__c4 *s, int32_t n, int tactical, uint32_t seed) {
  if (s->status != MCTX__GAME_ONGOING || n <= 0) return 0.0f;
  uint32_t w[MCTX__C4_WORDS];
  mctx__c4_store(s, w);
  uint32_t rng = mctx__game_seed(w, MCTX__C4_WORDS, seed ^ (tactical ? 0x5bd1e995u : 0u));
  float sum = 0.0f;
  for (int32_t i = 0; i < n; i++) sum += mctx__c4_rollout(s, tactical, &rng);
  return sum / (float)n;
}

/* Whether the winner's last move could have made every line of `p`: some top
 * piece of p, taken away, leaves p without four in a row. */
MCTX_HD static inline int mctx__c4_last_move_wins(uint64_t p, uint64_t mask) {
  for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
    uint64_t col = mask & mctx__c4_column_mask(c);
    if (!col) continue;
    uint64_t top = col ^ (col & (col >> 1)); /* highest set bit of a contiguous run from the bottom */
    if ((p & top) && !mctx__c4_won(p & ~top)) return 1;
  }
  return 0;
}

/* The status a position's pieces imply (without the forfeit flag). */
MCTX_HD static inline uint32_t mctx__c4_status_of(const mctx__c4 *s) {
  if (mctx__c4_won(s->p[0])) return MCTX__GAME_WON_FIRST;
  if (mctx__c4_won(s->p[1])) return MCTX__GAME_WON_SECOND;
  if (mctx__game_popcount(s->p[0] | s->p[1]) == MCTX__C4_CELLS) return MCTX__GAME_DRAW;
  return MCTX__GAME_ONGOING;
}

/* Checks that the pieces of s could arise in a game: MCTX__GAME_OK or an
 * MCTX__GAME_E_* code. With check_words, the ply and status words must also
 * agree with the pieces. */
MCTX_HD static inline int mctx__c4_check(const mctx__c4 *s, int check_words) {
  if ((s->p[0] | s->p[1]) & ~MCTX__C4_BOARD) return MCTX__GAME_E_CELLS;
  if (s->p[0] & s->p[1]) return MCTX__GAME_E_OVERLAP;
  int32_t nx = mctx__game_popcount(s->p[0]), no = mctx__game_popcount(s->p[1]);
  if (nx - no != 0 && nx - no != 1) return MCTX__GAME_E_COUNTS;
  uint64_t mask = s->p[0] | s->p[1];
  for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
    uint64_t col = (mask >> (7 * c)) & 0x3Full;
    if (col & (col + 1)) return MCTX__GAME_E_FLOATING;
  }
  int wx = mctx__c4_won(s->p[0]), wo = mctx__c4_won(s->p[1]);
  if (wx && wo) return MCTX__GAME_E_BOTH_WON;
  if (wx && (nx != no + 1 || !mctx__c4_last_move_wins(s->p[0], mask))) return MCTX__GAME_E_WIN_ORDER;
  if (wo && (nx != no || !mctx__c4_last_move_wins(s->p[1], mask))) return MCTX__GAME_E_WIN_ORDER;
  if (check_words) {
    if (s->ply != (uint32_t)(nx + no)) return MCTX__GAME_E_PLY;
    if (s->status != mctx__c4_status_of(s)) return MCTX__GAME_E_STATUS;
  }
  return MCTX__GAME_OK;
}

#endif
