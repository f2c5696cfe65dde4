/* models/games.c: the board games as models, and position strings.
 *
 * One mctx_game table per game wraps the pure rules of tictactoe-impl.h and
 * connect4-impl.h for the host. On top of the tables: the position notation
 * (parsing with precise errors, printing), the checks of positions given as
 * embeddings, and the two model factories `tictactoe` and `connect4`, whose
 * root and step functions are thin loops over the rules. Nothing here keeps
 * state between calls: a model instance holds only its parameters, so any
 * number of threads may call it. */
#include "models/games.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mctx/cuda.h"
#include "models/builtin.h"
#include "models/connect4-impl.h"
#include "models/tictactoe-impl.h"

/* ==== The tables ==== */

static void c4_init(uint32_t *w) {
  mctx__c4 s;
  mctx__c4_init(&s);
  mctx__c4_store(&s, w);
}
static int32_t c4_legal(const uint32_t *w, uint8_t *legal) {
  mctx__c4 s;
  mctx__c4_load(w, &s);
  return mctx__c4_legal(&s, legal);
}
static void c4_step(const uint32_t *w, int32_t a, uint32_t *next, float *reward, float *discount) {
  mctx__c4 s, t;
  mctx__c4_load(w, &s);
  mctx__c4_step(&s, a, &t, reward, discount);
  mctx__c4_store(&t, next);
}
static void c4_logits(const uint32_t *w, int tactical, float *logits) {
  mctx__c4 s;
  mctx__c4_load(w, &s);
  mctx__c4_logits(&s, tactical, logits);
}
static float c4_value(const uint32_t *w, int32_t n, int tactical, uint32_t seed) {
  mctx__c4 s;
  mctx__c4_load(w, &s);
  return mctx__c4_value(&s, n, tactical, seed);
}
static uint32_t c4_status(const uint32_t *w) { return w[5]; }
static int32_t c4_to_move(const uint32_t *w) { return (int32_t)(w[4] & 1u); }
static int c4_check(const uint32_t *w, int check_words) {
  mctx__c4 s;
  mctx__c4_load(w, &s);
  return mctx__c4_check(&s, check_words);
}
static int c4_cell(const uint32_t *w, int32_t row, int32_t col) {
  mctx__c4 s;
  mctx__c4_load(w, &s);
  uint64_t bit = mctx__c4_cell(col, MCTX__C4_ROWS - 1 - row);
  return (s.p[0] & bit) ? 1 : (s.p[1] & bit) ? 2 : 0;
}
static void c4_from_cells(const uint8_t *cells, uint32_t *w) {
  mctx__c4 s;
  mctx__c4_init(&s);
  for (int32_t r = 0; r < MCTX__C4_ROWS; r++)
    for (int32_t c = 0; c < MCTX__C4_COLS; c++) {
      uint8_t v = cells[r * MCTX__C4_COLS + c];
      if (v) s.p[v - 1] |= mctx__c4_cell(c, MCTX__C4_ROWS - 1 - r);
    }
  s.ply = (uint32_t)mctx__game_popcount(s.p[0] | s.p[1]);
  s.status = mctx__c4_status_of(&s);
  mctx__c4_store(&s, w);
}

static void ttt_init(uint32_t *w) {
  mctx__ttt s;
  mctx__ttt_init(&s);
  mctx__ttt_store(&s, w);
}
static int32_t ttt_legal(const uint32_t *w, uint8_t *legal) {
  mctx__ttt s;
  mctx__ttt_load(w, &s);
  return mctx__ttt_legal(&s, legal);
}
static void ttt_step(const uint32_t *w, int32_t a, uint32_t *next, float *reward, float *discount) {
  mctx__ttt s, t;
  mctx__ttt_load(w, &s);
  mctx__ttt_step(&s, a, &t, reward, discount);
  mctx__ttt_store(&t, next);
}
static void ttt_logits(const uint32_t *w, int tactical, float *logits) {
  mctx__ttt s;
  mctx__ttt_load(w, &s);
  mctx__ttt_logits(&s, tactical, logits);
}
static float ttt_value(const uint32_t *w, int32_t n, int tactical, uint32_t seed) {
  mctx__ttt s;
  mctx__ttt_load(w, &s);
  return mctx__ttt_value(&s, n, tactical, seed);
}
static uint32_t ttt_status(const uint32_t *w) { return w[3]; }
static int32_t ttt_to_move(const uint32_t *w) { return (int32_t)(w[2] & 1u); }
static int ttt_check(const uint32_t *w, int check_words) {
  mctx__ttt s;
  mctx__ttt_load(w, &s);
  return mctx__ttt_check(&s, check_words);
}
static int ttt_cell(const uint32_t *w, int32_t row, int32_t col) {
  uint32_t bit = 1u << (row * 3 + col);
  return (w[0] & bit) ? 1 : (w[1] & bit) ? 2 : 0;
}
static void ttt_from_cells(const uint8_t *cells, uint32_t *w) {
  mctx__ttt s;
  mctx__ttt_init(&s);
  for (int32_t i = 0; i < MCTX__TTT_CELLS; i++)
    if (cells[i]) s.p[cells[i] - 1] |= 1u << i;
  s.ply = (uint32_t)mctx__game_popcount(s.p[0] | s.p[1]);
  s.status = mctx__ttt_status_of(&s);
  mctx__ttt_store(&s, w);
}

const mctx_game mctx_game_tictactoe = {
  "tictactoe", "tic-tac-toe: 9 actions (cells row-major from the top left), X moves first",
  MCTX__TTT_CELLS, MCTX__TTT_WORDS, 3, 3, 9, "three",
  ttt_init, ttt_legal, ttt_step, ttt_logits, ttt_value, ttt_status, ttt_to_move, ttt_check, ttt_cell, ttt_from_cells,
};

const mctx_game mctx_game_connect4 = {
  "connect4", "connect four: 7 columns x 6 rows, 7 actions (columns from the left), X moves first",
  MCTX__C4_COLS, MCTX__C4_WORDS, MCTX__C4_ROWS, MCTX__C4_COLS, MCTX__C4_CELLS, "four",
  c4_init, c4_legal, c4_step, c4_logits, c4_value, c4_status, c4_to_move, c4_check, c4_cell, c4_from_cells,
};

const mctx_game *mctx_game_find(const char *name) {
  if (!name) return NULL;
  if (strcmp(name, "tictactoe") == 0) return &mctx_game_tictactoe;
  if (strcmp(name, "connect4") == 0) return &mctx_game_connect4;
  return NULL;
}

/* ==== Positions as text ==== */

static int is_c4(const mctx_game *g) { return g == &mctx_game_connect4; }

char *mctx_game_format(const mctx_game *g, const uint32_t *w, char *out, size_t n) {
  size_t k = 0;
  for (int32_t r = 0; r < g->rows; r++) {
    if (r > 0 && k + 1 < n) out[k++] = '/';
    for (int32_t c = 0; c < g->cols && k + 1 < n; c++) out[k++] = ".XO"[g->cell(w, r, c)];
  }
  if (n) out[k < n ? k : n - 1] = '\0';
  return out;
}

const char *mctx_game_status_text(const mctx_game *g, const uint32_t *w) {
  uint32_t s = g->status(w);
  int forfeit = (s & MCTX__GAME_FORFEIT) != 0;
  switch (s & MCTX__GAME_RESULT_MASK) {
    case MCTX__GAME_WON_FIRST: return forfeit ? "X won (O played an illegal move)" : "X won";
    case MCTX__GAME_WON_SECOND: return forfeit ? "O won (X played an illegal move)" : "O won";
    case MCTX__GAME_DRAW: return "draw";
    default: return g->to_move(w) == 0 ? "X to move" : "O to move";
  }
}

static void count_pieces(const mctx_game *g, const uint32_t *w, int *nx, int *no) {
  *nx = *no = 0;
  for (int32_t r = 0; r < g->rows; r++)
    for (int32_t c = 0; c < g->cols; c++) {
      int v = g->cell(w, r, c);
      *nx += v == 1;
      *no += v == 2;
    }
}

/* The error of an impossible position, with what makes it so. */
static int impossible(const mctx_game *g, const uint32_t *w, int code, const char *field, mctx_status *st) {
  int nx, no;
  switch (code) {
    case MCTX__GAME_E_CELLS:
      return mctx_status_set(st, MCTX_EINVALID, field, "impossible position: pieces outside the %dx%d board",
                             (int)g->rows, (int)g->cols);
    case MCTX__GAME_E_OVERLAP:
      return mctx_status_set(st, MCTX_EINVALID, field, "impossible position: a cell holds both X and O");
    case MCTX__GAME_E_COUNTS:
      count_pieces(g, w, &nx, &no);
      return mctx_status_set(st, MCTX_EINVALID, field,
                             "impossible piece counts: X has %d and O has %d (X moves first, so X has as many "
                             "pieces as O or one more)",
                             nx, no);
    case MCTX__GAME_E_FLOATING:
      for (int32_t c = 0; c < g->cols; c++)
        for (int32_t r = 0; r + 1 < g->rows; r++)
          if (g->cell(w, r, c) && !g->cell(w, r + 1, c))
            return mctx_status_set(st, MCTX_EINVALID, field,
                                   "impossible position: the piece in column %d, row %d from the top floats above "
                                   "an empty cell",
                                   (int)c + 1, (int)r + 1);
      return mctx_status_set(st, MCTX_EINVALID, field, "impossible position: a piece floats above an empty cell");
    case MCTX__GAME_E_BOTH_WON:
      return mctx_status_set(st, MCTX_EINVALID, field, "impossible position: both X and O have %s in a row",
                             g->line_name);
    case MCTX__GAME_E_WIN_ORDER:
      count_pieces(g, w, &nx, &no);
      return mctx_status_set(st, MCTX_EINVALID, field,
                             "impossible position: %s has %s in a row, but no last move of %s could have made it "
                             "(X has %d pieces, O has %d)",
                             g->status(w) == MCTX__GAME_WON_FIRST ? "X" : "O", g->line_name,
                             g->status(w) == MCTX__GAME_WON_FIRST ? "X" : "O", nx, no);
    case MCTX__GAME_E_PLY:
      count_pieces(g, w, &nx, &no);
      return mctx_status_set(st, MCTX_EINVALID, field, "the ply word (%u) is not the number of pieces (%d)",
                             (unsigned)w[g->words - 2], nx + no);
    case MCTX__GAME_E_STATUS:
      return mctx_status_set(st, MCTX_EINVALID, field, "the status word (%u) does not match the pieces",
                             (unsigned)w[g->words - 1]);
    default:
      return mctx_status_set(st, MCTX_EINTERNAL, field, "unknown position check %d", code);
  }
}

static int over(const mctx_game *g, const uint32_t *w, const char *field, mctx_status *st) {
  switch (g->status(w) & MCTX__GAME_RESULT_MASK) {
    case MCTX__GAME_WON_FIRST:
      return mctx_status_set(st, MCTX_EINVALID, field, "the game is already over: X has %s in a row", g->line_name);
    case MCTX__GAME_WON_SECOND:
      return mctx_status_set(st, MCTX_EINVALID, field, "the game is already over: O has %s in a row", g->line_name);
    default:
      return mctx_status_set(st, MCTX_EINVALID, field, "the game is already over: the board is full (a draw)");
  }
}

int mctx_game_check_state(const mctx_game *g, const uint32_t *w, int allow_over, const char *field,
                          mctx_status *st) {
  /* The words hold the computed status, so a position that the pieces say is
   * won is caught by the check even when its status word says otherwise. */
  uint32_t tmp[MCTX_GAME_MAX_WORDS];
  memcpy(tmp, w, (size_t)g->words * sizeof(uint32_t));
  int code = g->check(w, 0);
  if (code != MCTX__GAME_OK) {
    /* describe with the status the pieces imply */
    uint8_t cells[64];
    for (int32_t r = 0; r < g->rows; r++)
      for (int32_t c = 0; c < g->cols; c++) cells[r * g->cols + c] = (uint8_t)g->cell(w, r, c);
    if (code != MCTX__GAME_E_CELLS && code != MCTX__GAME_E_OVERLAP) g->from_cells(cells, tmp);
    return impossible(g, tmp, code, field, st);
  }
  code = g->check(w, 1);
  if (code != MCTX__GAME_OK) return impossible(g, w, code, field, st);
  if (!allow_over && g->status(w) != MCTX__GAME_ONGOING) return over(g, w, field, st);
  return 0;
}

static void show_char(char c, char *out, size_t n) {
  if (c >= 0x21 && c <= 0x7e) snprintf(out, n, "'%c'", c);
  else snprintf(out, n, "byte 0x%02x", (unsigned)(unsigned char)c);
}

static int parse_moves(const mctx_game *g, const char *text, size_t len, uint32_t *w, const char *field,
                       mctx_status *st) {
  g->init(w);
  int32_t A = g->num_actions;
  for (size_t i = 0; i < len; i++) {
    char ch[32];
    show_char(text[i], ch, sizeof ch);
    if (text[i] < '0' || text[i] > '9')
      return mctx_status_set(st, MCTX_EPARSE, field,
                             "illegal character %s at offset %zu: a move list holds only the digits 1-%d", ch, i,
                             (int)A);
    int32_t d = text[i] - '0';
    if (d < 1 || d > A)
      return mctx_status_set(st, MCTX_EPARSE, field, "move %zu (%s at offset %zu) must be a %s from 1 to %d", i + 1,
                             ch, i, is_c4(g) ? "column" : "cell", (int)A);
    if (g->status(w) != MCTX__GAME_ONGOING)
      return mctx_status_set(st, MCTX_EINVALID, field, "move %zu (%s): the game was already over after move %zu (%s)",
                             i + 1, ch, i, mctx_game_status_text(g, w));
    uint8_t legal[MCTX_GAME_MAX_ACTIONS];
    g->legal(w, legal);
    if (!legal[d - 1])
      return mctx_status_set(st, MCTX_EINVALID, field, "move %zu (%s) is illegal: %s %d is %s", i + 1, ch,
                             is_c4(g) ? "column" : "cell", (int)d, is_c4(g) ? "full" : "taken");
    float r, disc;
    uint32_t next[MCTX_GAME_MAX_WORDS];
    g->step(w, d - 1, next, &r, &disc);
    memcpy(w, next, (size_t)g->words * sizeof(uint32_t));
  }
  return 0;
}

static int parse_board(const mctx_game *g, const char *text, size_t len, uint32_t *w, const char *field,
                       mctx_status *st) {
  uint8_t cells[64];
  int32_t ncells = g->rows * g->cols, n = 0, row = 0, in_row = 0;
  int slashes = memchr(text, '/', len) != NULL;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '/') {
      if (in_row != g->cols)
        return mctx_status_set(st, MCTX_EPARSE, field, "row %d of the board has %d cells, not %d", (int)row + 1,
                               (int)in_row, (int)g->cols);
      row++;
      in_row = 0;
      continue;
    }
    uint8_t v;
    if (c == '.') v = 0;
    else if (c == 'X' || c == 'x') v = 1;
    else if (c == 'O' || c == 'o') v = 2;
    else {
      char ch[32];
      show_char(c, ch, sizeof ch);
      return mctx_status_set(st, MCTX_EPARSE, field,
                             "illegal character %s at offset %zu: a board uses 'X', 'O' and '.', rows separated "
                             "by '/'",
                             ch, i);
    }
    if (n == ncells) {
      if (slashes)
        return mctx_status_set(st, MCTX_EPARSE, field, "the board has more than %d rows", (int)g->rows);
      return mctx_status_set(st, MCTX_EPARSE, field, "a board has %d cells (%d rows of %d), not more", (int)ncells,
                             (int)g->rows, (int)g->cols);
    }
    if (slashes && in_row == g->cols)
      return mctx_status_set(st, MCTX_EPARSE, field, "row %d of the board has more than %d cells", (int)row + 1,
                             (int)g->cols);
    cells[n++] = v;
    in_row++;
  }
  if (slashes && in_row != g->cols)
    return mctx_status_set(st, MCTX_EPARSE, field, "row %d of the board has %d cells, not %d", (int)row + 1,
                           (int)in_row, (int)g->cols);
  if (n != ncells)
    return mctx_status_set(st, MCTX_EPARSE, field, "a board has %d cells (%d rows of %d), not %d", (int)ncells,
                           (int)g->rows, (int)g->cols, (int)n);
  g->from_cells(cells, w);
  int code = g->check(w, 0);
  if (code != MCTX__GAME_OK) return impossible(g, w, code, field, st);
  return 0;
}

int mctx_game_parse(const mctx_game *g, const char *text, int allow_over, uint32_t *w, const char *field,
                    mctx_status *st) {
  size_t len = strlen(text);
  if (len > MCTX_GAME_POSITION_MAX)
    return mctx_status_set(st, MCTX_ELIMIT, field, "a position is at most %d characters, not %zu",
                           MCTX_GAME_POSITION_MAX, len);
  size_t first = 0;
  while (first < len && text[first] == '/') first++;
  int moves = first == len ? len == 0 : (text[first] >= '0' && text[first] <= '9');
  int rc = moves ? parse_moves(g, text, len, w, field, st) : parse_board(g, text, len, w, field, st);
  if (rc != 0) return rc;
  if (!allow_over && g->status(w) != MCTX__GAME_ONGOING) return over(g, w, field, st);
  return 0;
}

/* ==== The models ==== */

typedef struct game_model {
  const mctx_game *g;
  int32_t npos;       /* 1 (one position for every element) or B */
  uint32_t *pos;      /* [npos][words] */
  int32_t rollouts;
  uint32_t seed;
  int tactical;       /* prior: 1 tactical, 0 uniform */
  int tactical_rollouts; /* rollouts: 1 tactical, 0 random */
  mctx_cuda_model dev;   /* the same rules on the GPU (the CUDA engine) */
} game_model;

static void gm_destroy(void *self) {
  game_model *m = self;
  if (!m) return;
  free(m->pos);
  free(m);
}

static int gm_root(void *self, int32_t n, int32_t first, const void *emb_in, float *logits, float *value,
                   void *emb_out, mctx_status *st) {
  game_model *m = self;
  const mctx_game *g = m->g;
  size_t W = (size_t)g->words;
  for (int32_t i = 0; i < n; i++) {
    uint32_t w[MCTX_GAME_MAX_WORDS];
    if (emb_in) {
      memcpy(w, (const uint8_t *)emb_in + (size_t)i * W * 4, W * 4);
      char f[64];
      snprintf(f, sizeof f, "root_input.embedding[%d]", (int)(first + i));
      int rc = mctx_game_check_state(g, w, 0, f, st);
      if (rc != 0) return rc;
    } else {
      int32_t b = m->npos == 1 ? 0 : first + i;
      if (b < 0 || b >= m->npos)
        return mctx_status_set(st, MCTX_ERANGE, "model.params.position", "no position for batch element %d",
                               (int)(first + i));
      memcpy(w, m->pos + (size_t)b * W, W * 4);
    }
    g->logits(w, m->tactical, logits + (size_t)i * (size_t)g->num_actions);
    value[i] = g->value(w, m->rollouts, m->tactical_rollouts, m->seed);
    memcpy((uint8_t *)emb_out + (size_t)i * W * 4, w, W * 4);
  }
  return 0;
}

static int gm_step(void *self, int32_t n, const mctx_key *keys, const int32_t *actions, const void *emb,
                   mctx_step_out *out, mctx_status *st) {
  (void)keys; (void)st;
  game_model *m = self;
  const mctx_game *g = m->g;
  size_t W = (size_t)g->words;
  for (int32_t i = 0; i < n; i++) {
    uint32_t w[MCTX_GAME_MAX_WORDS], next[MCTX_GAME_MAX_WORDS];
    memcpy(w, (const uint8_t *)emb + (size_t)i * W * 4, W * 4);
    g->step(w, actions[i], next, &out->reward[i], &out->discount[i]);
    g->logits(next, m->tactical, out->prior_logits + (size_t)i * (size_t)g->num_actions);
    out->value[i] = g->value(next, m->rollouts, m->tactical_rollouts, m->seed);
    memcpy((uint8_t *)out->embeddings + (size_t)i * W * 4, next, W * 4);
  }
  return 0;
}

static const mctx_model_vtable TTT_VT = {
  MCTX_MODEL_ABI_VERSION, "tictactoe", gm_destroy, gm_root, gm_step, NULL, NULL
};
static const mctx_model_vtable C4_VT = {
  MCTX_MODEL_ABI_VERSION, "connect4", gm_destroy, gm_root, gm_step, NULL, NULL
};

const mctx_game *mctx_game_of_model(const mctx_model *m) {
  if (!m || !m->vt) return NULL;
  if (m->vt == &TTT_VT || m->vt == &C4_VT) return ((const game_model *)m->self)->g;
  return NULL;
}

int mctx_game_invalid_actions(const mctx_model *m, int32_t n, const void *embeddings, uint8_t *invalid,
                              mctx_status *st) {
  const mctx_game *g = mctx_game_of_model(m);
  if (!g) return mctx_status_set(st, MCTX_EINVALID, "model", "model '%s' is not a game", m && m->vt ? m->vt->name : "?");
  size_t W = (size_t)g->words;
  for (int32_t i = 0; i < n; i++) {
    uint32_t w[MCTX_GAME_MAX_WORDS];
    uint8_t legal[MCTX_GAME_MAX_ACTIONS];
    memcpy(w, (const uint8_t *)embeddings + (size_t)i * W * 4, W * 4);
    g->legal(w, legal);
    for (int32_t a = 0; a < g->num_actions; a++) invalid[(size_t)i * (size_t)g->num_actions + (size_t)a] = !legal[a];
  }
  return 0;
}

int mctx_game_model_position(const mctx_model *m, int32_t b, uint32_t *w, mctx_status *st) {
  const mctx_game *g = mctx_game_of_model(m);
  if (!g) return mctx_status_set(st, MCTX_EINVALID, "model", "not a game model");
  const game_model *gm = m->self;
  int32_t k = gm->npos == 1 ? 0 : b;
  if (k < 0 || k >= gm->npos) return mctx_status_set(st, MCTX_ERANGE, "model.params.position", "no position for element %d", (int)b);
  memcpy(w, gm->pos + (size_t)k * (size_t)g->words, (size_t)g->words * 4);
  return 0;
}

static int param_int(const mctx_json *params, const char *key, double dflt, double lo, double hi, double *out,
                     mctx_status *st) {
  int rc = mctx__param_number(params, key, dflt, out, st);
  if (rc != 0) return rc;
  if (*out < lo || *out > hi || *out != (double)(int64_t)*out) {
    char f[96];
    snprintf(f, sizeof f, "model.params.%s", key);
    return mctx_status_set(st, MCTX_ERANGE, f, "must be an integer in [%.0f, %.0f], not %g", lo, hi, *out);
  }
  return 0;
}

static int game_create(const mctx_game *g, const mctx_model_vtable *vt, const mctx_json *params,
                       const mctx_model_ctx *ctx, mctx_model *m, mctx_status *st) {
  static const char *const known[] = {"position", "rollouts", "seed", "prior", "rollout", NULL};
  int rc = mctx__param_known(params, known, st);
  double rollouts = 0, seed = 0;
  if (rc == 0) rc = param_int(params, "rollouts", 16, 0, MCTX_GAME_MAX_ROLLOUTS, &rollouts, st);
  if (rc == 0) rc = param_int(params, "seed", 0, 0, 4294967295.0, &seed, st);
  if (rc != 0) return rc;
  int tactical = 1;
  const mctx_json *prior = mctx_json_get(params, "prior");
  if (prior && prior->type != MCTX_JSON_NULL) {
    if (prior->type == MCTX_JSON_STRING && strcmp(prior->u.str, "tactical") == 0) tactical = 1;
    else if (prior->type == MCTX_JSON_STRING && strcmp(prior->u.str, "uniform") == 0) tactical = 0;
    else return mctx_status_set(st, MCTX_EINVALID, "model.params.prior", "must be \"tactical\" or \"uniform\"");
  }
  int tactical_rollouts = 0;
  const mctx_json *ro = mctx_json_get(params, "rollout");
  if (ro && ro->type != MCTX_JSON_NULL) {
    if (ro->type == MCTX_JSON_STRING && strcmp(ro->u.str, "tactical") == 0) tactical_rollouts = 1;
    else if (ro->type == MCTX_JSON_STRING && strcmp(ro->u.str, "random") == 0) tactical_rollouts = 0;
    else return mctx_status_set(st, MCTX_EINVALID, "model.params.rollout", "must be \"tactical\" or \"random\"");
  }
  const mctx_json *pos = mctx_json_get(params, "position");
  int32_t npos = 1;
  if (pos && pos->type == MCTX_JSON_ARRAY) {
    if (ctx->batch_size < 1 || (int64_t)pos->len != (int64_t)ctx->batch_size)
      return mctx_status_set(st, MCTX_ESHAPE, "model.params.position",
                             "an array of positions needs one per batch element (%d), not %u", (int)ctx->batch_size,
                             (unsigned)pos->len);
    npos = (int32_t)pos->len;
  } else if (pos && pos->type != MCTX_JSON_STRING && pos->type != MCTX_JSON_NULL) {
    return mctx_status_set(st, MCTX_ETYPE, "model.params.position", "must be a string or an array of strings, not %s",
                           mctx_json_type_name(pos->type));
  }
  game_model *s = calloc(1, sizeof *s);
  uint32_t *p = s ? calloc((size_t)npos * (size_t)g->words, sizeof(uint32_t)) : NULL;
  if (!s || !p) {
    free(s);
    free(p);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory for %d positions", (int)npos);
  }
  s->g = g;
  s->npos = npos;
  s->pos = p;
  s->rollouts = (int32_t)rollouts;
  s->seed = (uint32_t)seed;
  s->tactical = tactical;
  s->tactical_rollouts = tactical_rollouts;
  for (int32_t b = 0; b < npos; b++) {
    const mctx_json *v = pos && pos->type == MCTX_JSON_ARRAY ? &pos->u.items[b] : pos;
    char f[64];
    if (pos && pos->type == MCTX_JSON_ARRAY) snprintf(f, sizeof f, "model.params.position[%d]", (int)b);
    else snprintf(f, sizeof f, "model.params.position");
    uint32_t *w = p + (size_t)b * (size_t)g->words;
    if (!v || v->type == MCTX_JSON_NULL) {
      g->init(w);
      continue;
    }
    if (v->type != MCTX_JSON_STRING) rc = mctx_status_set(st, MCTX_ETYPE, f, "must be a string, not %s", mctx_json_type_name(v->type));
    else if (strlen(v->u.str) != v->len) rc = mctx_status_set(st, MCTX_EPARSE, f, "holds a NUL character");
    else rc = mctx_game_parse(g, v->u.str, 0, w, f, st);
    if (rc != 0) {
      gm_destroy(s);
      return rc;
    }
  }
  s->dev.kind = MCTX_CUDA_MODEL_GAME;
  s->dev.game = g == &mctx_game_connect4 ? MCTX_CUDA_GAME_CONNECT4 : MCTX_CUDA_GAME_TICTACTOE;
  s->dev.rollouts = s->rollouts;
  s->dev.seed = s->seed;
  s->dev.tactical = tactical;
  s->dev.tactical_rollouts = tactical_rollouts;
  m->vt = vt;
  m->self = s;
  m->device = &s->dev;
  m->info.num_actions = g->num_actions;
  m->info.num_chance_outcomes = 0;
  m->info.embedding_bytes = g->words * 4;
  m->info.embedding_kind = MCTX_EMB_U32;
  m->info.embedding_count = g->words;
  /* the rules are compiled for the device too (MCTX_CUDA_MODEL_GAME): the
   * CUDA engine plays them with the same bits */
  m->info.engines = MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA;
  m->info.precision = "fp32";
  m->info.preferred_batch = 0;
  return 0;
}

static int ttt_create(const mctx_json *p, const mctx_model_ctx *c, mctx_model *m, mctx_status *st) {
  return game_create(&mctx_game_tictactoe, &TTT_VT, p, c, m, st);
}
static int c4_create(const mctx_json *p, const mctx_model_ctx *c, mctx_model *m, mctx_status *st) {
  return game_create(&mctx_game_connect4, &C4_VT, p, c, m, st);
}

const mctx_model_factory mctx__model_tictactoe = {
  "tictactoe",
  "tic-tac-toe with an exact simulator (9 actions); params: position (string, or one per element), "
  "rollouts (16), rollout (tactical|random), seed (0), prior (tactical|uniform); embedding: 4 uint32 words (X cells, O cells, ply, status)",
  ttt_create};
const mctx_model_factory mctx__model_connect4 = {
  "connect4",
  "connect four 7x6 with an exact simulator (7 actions); params: position (string, or one per element), "
  "rollouts (16), rollout (tactical|random), seed (0), prior (tactical|uniform); embedding: 6 uint32 words (X bitboard lo/hi, O bitboard lo/hi, ply, status)",
  c4_create};
