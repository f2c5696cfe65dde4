/* models/tictactoe-impl.h: the rules of tic-tac-toe (9 actions: cell 0..8,
 * row-major from the top left), for host and device.
 *
 * A position is a 9-bit mask per player, the ply count and a status word; as
 * an embedding, 4 uint32 words: X's cells, O's cells, the ply and the status
 * (game-impl.h). X moves first. Steps follow mctx's two-player convention
 * exactly as connect4-impl.h describes: reward from the mover's view, discount
 * -1 between plies and 0 at the end, a move into an occupied cell loses on
 * the spot, and a finished position is absorbing. */
#ifndef MCTX_MODELS_TICTACTOE_IMPL_H
#define MCTX_MODELS_TICTACTOE_IMPL_H

#include "models/game-impl.h"

#define MCTX__TTT_CELLS 9
#define MCTX__TTT_WORDS 4
#define MCTX__TTT_BOARD 0x1FFu

typedef struct mctx__ttt {
  uint32_t p[2];   /* X's and O's cells */
  uint32_t ply;
  uint32_t status; /* MCTX__GAME_* */
} mctx__ttt;

MCTX_HD static inline void mctx__ttt_load(const uint32_t *w, mctx__ttt *s) {
  s->p[0] = w[0];
  s->p[1] = w[1];
  s->ply = w[2];
  s->status = w[3];
}

MCTX_HD static inline void mctx__ttt_store(const mctx__ttt *s, uint32_t *w) {
  w[0] = s->p[0];
  w[1] = s->p[1];
  w[2] = s->ply;
  w[3] = s->status;
}

MCTX_HD static inline void mctx__ttt_init(mctx__ttt *s) {
  s->p[0] = 0;
  s->p[1] = 0;
  s->ply = 0;
  s->status = MCTX__GAME_ONGOING;
}

/* The 8 lines: rows, columns, diagonals. */
MCTX_HD static inline uint32_t mctx__ttt_line(int32_t i) {
  switch (i) {
    case 0: return 0x007u;
    case 1: return 0x038u;
    case 2: return 0x1C0u;
    case 3: return 0x049u;
    case 4: return 0x092u;
    case 5: return 0x124u;
    case 6: return 0x111u;
    default: return 0x054u;
  }
}

MCTX_HD static inline int mctx__ttt_won(uint32_t p) {
  for (int32_t i = 0; i < 8; i++)
    if ((p & mctx__ttt_line(i)) == mctx__ttt_line(i)) return 1;
  return 0;
}

MCTX_HD static inline int32_t mctx__ttt_to_move(const mctx__ttt *s) { return (int32_t)(s->ply & 1u); }

/* Fills legal[9] and returns how many moves are legal (none when over). */
MCTX_HD static inline int32_t mctx__ttt_legal(const mctx__ttt *s, uint8_t *legal) {
  uint32_t mask = s->p[0] | s->p[1];
  int32_t n = 0;
  for (int32_t c = 0; c < MCTX__TTT_CELLS; c++) {
    int ok = s->status == MCTX__GAME_ONGOING && !(mask & (1u << c));
    legal[c] = (uint8_t)ok;
    n += ok;
  }
  return n;
}

/* Plays a legal move on cell c of an ongoing position. */
MCTX_HD static inline void mctx__ttt_play(mctx__ttt *s, int32_t c) {
  int32_t me = mctx__ttt_to_move(s);
  s->p[me] |= 1u << c;
  s->ply++;
  if (mctx__ttt_won(s->p[me])) s->status = me == 0 ? MCTX__GAME_WON_FIRST : MCTX__GAME_WON_SECOND;
  else if (s->ply == MCTX__TTT_CELLS) s->status = MCTX__GAME_DRAW;
}

/* One step of the model: action a from s. */
MCTX_HD static inline void mctx__ttt_step(const mctx__ttt *s, int32_t a, mctx__ttt *next, float *reward,
                                          float *discount) {
  *next = *s;
  if (s->status != MCTX__GAME_ONGOING) {
    *reward = 0.0f;
    *discount = 0.0f;
    return;
  }
  int32_t me = mctx__ttt_to_move(s);
  if (a < 0 || a >= MCTX__TTT_CELLS || ((s->p[0] | s->p[1]) & (1u << a))) {
    next->status = (me == 0 ? MCTX__GAME_WON_SECOND : MCTX__GAME_WON_FIRST) | MCTX__GAME_FORFEIT;
    *reward = -1.0f;
    *discount = 0.0f;
    return;
  }
  mctx__ttt_play(next, a);
  if (next->status == MCTX__GAME_ONGOING) {
    *reward = 0.0f;
    *discount = -1.0f;
  } else {
    *reward = next->status == MCTX__GAME_DRAW ? 0.0f : 1.0f;
    *discount = 0.0f;
  }
}

/* The cells (bit c) where player `who` would complete a line now. */
MCTX_HD static inline uint32_t mctx__ttt_wins_at(const mctx__ttt *s, int32_t who) {
  uint32_t mask = s->p[0] | s->p[1], out = 0;
  for (int32_t c = 0; c < MCTX__TTT_CELLS; c++)
    if (!(mask & (1u << c)) && mctx__ttt_won(s->p[who] | (1u << c))) out |= 1u << c;
  return out;
}

/* Prior logits (see mctx__c4_logits). */
MCTX_HD static inline void mctx__ttt_logits(const mctx__ttt *s, int tactical, float *logits) {
  uint32_t mask = s->p[0] | s->p[1], win = 0, block = 0;
  if (tactical && s->status == MCTX__GAME_ONGOING) {
    int32_t me = mctx__ttt_to_move(s);
    win = mctx__ttt_wins_at(s, me);
    block = mctx__ttt_wins_at(s, 1 - me);
  }
  for (int32_t c = 0; c < MCTX__TTT_CELLS; c++) {
    float l = (win >> c) & 1u ? MCTX__GAME_WIN_LOGIT : (block >> c) & 1u ? MCTX__GAME_BLOCK_LOGIT : 0.0f;
    logits[c] = s->status == MCTX__GAME_ONGOING && (mask & (1u << c)) ? MCTX__GAME_ILLEGAL_LOGIT : l;
  }
}

/* Plays a game out (see mctx__c4_rollout). */
MCTX_HD static inline float mctx__ttt_rollout(const mctx__ttt *s, int tactical, uint32_t *rng) {
  mctx__ttt t = *s;
  int32_t me = mctx__ttt_to_move(s);
  while (t.status == MCTX__GAME_ONGOING) {
    uint32_t pick = ~(t.p[0] | t.p[1]) & MCTX__TTT_BOARD;
    if (tactical) {
      int32_t who = mctx__ttt_to_move(&t);
      uint32_t w = mctx__ttt_wins_at(&t, who);
      uint32_t b = w ? 0u : mctx__ttt_wins_at(&t, 1 - who);
      pick = w ? w : b ? b : pick;
    }
    mctx__ttt_play(&t, mctx__game_pick_bit(pick, rng));
  }
  if (t.status == MCTX__GAME_DRAW) return 0.0f;
  int32_t winner = t.status == MCTX__GAME_WON_FIRST ? 0 : 1;
  return winner == me ? 1.0f : -1.0f;
}

/* Mean outcome of n rollouts for the player to move (see mctx__c4_value). */
MCTX_HD static inline float mctx__ttt_value(const mctx__ttt *s, int32_t n, int tactical, uint32_t seed) {
  if (s->status != MCTX__GAME_ONGOING || n <= 0) return 0.0f;
  uint32_t w[MCTX__TTT_WORDS];
  mctx__ttt_store(s, w);
  uint32_t rng = mctx__game_seed(w, MCTX__TTT_WORDS, seed ^ (tactical ? 0x5bd1e995u : 0u));
  float sum = 0.0f;
  for (int32_t i = 0; i < n; i++) sum += mctx__ttt_rollout(s, tactical, &rng);
  return sum / (float)n;
}

MCTX_HD static inline uint32_t mctx__ttt_status_of(const mctx__ttt *s) {
  if (mctx__ttt_won(s->p[0])) return MCTX__GAME_WON_FIRST;
  if (mctx__ttt_won(s->p[1])) return MCTX__GAME_WON_SECOND;
  if ((s->p[0] | s->p[1]) == MCTX__TTT_BOARD) return MCTX__GAME_DRAW;
  return MCTX__GAME_ONGOING;
}

/* Whether one piece of p, taken away, leaves p without a line (the winning
 * line(s) were made by the last move). */
MCTX_HD static inline int mctx__ttt_last_move_wins(uint32_t p) {
  for (int32_t c = 0; c < MCTX__TTT_CELLS; c++)
    if ((p & (1u << c)) && !mctx__ttt_won(p & ~(1u << c))) return 1;
  return 0;
}

/* Checks that the pieces of s could arise in a game (see mctx__c4_check). */
MCTX_HD static inline int mctx__ttt_check(const mctx__ttt *s, int check_words) {
  if ((s->p[0] | s->p[1]) & ~MCTX__TTT_BOARD) return MCTX__GAME_E_CELLS;
  if (s->p[0] & s->p[1]) return MCTX__GAME_E_OVERLAP;
  int32_t nx = mctx__game_popcount(s->p[0]), no = mctx__game_popcount(s->p[1]);
  if (nx - no != 0 && nx - no != 1) return MCTX__GAME_E_COUNTS;
  int wx = mctx__ttt_won(s->p[0]), wo = mctx__ttt_won(s->p[1]);
  if (wx && wo) return MCTX__GAME_E_BOTH_WON;
  if (wx && (nx != no + 1 || !mctx__ttt_last_move_wins(s->p[0]))) return MCTX__GAME_E_WIN_ORDER;
  if (wo && (nx != no || !mctx__ttt_last_move_wins(s->p[1]))) return MCTX__GAME_E_WIN_ORDER;
  if (check_words) {
    if (s->ply != (uint32_t)(nx + no)) return MCTX__GAME_E_PLY;
    if (s->status != mctx__ttt_status_of(s)) return MCTX__GAME_E_STATUS;
  }
  return MCTX__GAME_OK;
}

#endif
