/* tests/models/test-games.c: the rules of tic-tac-toe and connect four
 * (src/models/tictactoe-impl.h, connect4-impl.h), their position notation and the game models
 * (src/models/games.c): wins in every direction, draws, illegal moves,
 * absorbing terminal states, parsing errors, the models' outputs. */
#include "test.h"

#include "mctx/engine.h"
#include "mctx/registry.h"
#include "models/game-impl.h"
#include "models/games.h"

static const mctx_game *C4, *TTT;

static void setup(void) {
  C4 = mctx_game_find("connect4");
  TTT = mctx_game_find("tictactoe");
}

/* Plays a move list (1-based digits) from the start with the model's step;
 * returns the last step's reward and discount. */
static void play(const mctx_game *g, const char *moves, uint32_t *w, float *reward, float *discount) {
  g->init(w);
  *reward = 0;
  *discount = -1;
  for (const char *p = moves; *p; p++) {
    uint32_t next[MCTX_GAME_MAX_WORDS];
    g->step(w, *p - '1', next, reward, discount);
    memcpy(w, next, (size_t)g->words * 4);
  }
}

static int parse_err(const mctx_game *g, const char *text, mctx_status *st) {
  uint32_t w[MCTX_GAME_MAX_WORDS];
  mctx_status_clear(st);
  return mctx_game_parse(g, text, 0, w, "model.params.position", st);
}

TEST(connect4_wins_in_every_direction) {
  setup();
  /* X's winning move is the last of each list. */
  static const struct { const char *moves; const char *what; } cases[] = {
    {"1212121", "vertical"},
    {"1122334", "horizontal"},
    {"4455667", "horizontal, right edge"},
    {"12236334444", "diagonal /"},
    {"76652554444", "diagonal \\"},
    {"4", NULL},
  };
  for (size_t i = 0; cases[i].what; i++) {
    uint32_t w[MCTX_GAME_MAX_WORDS];
    float r, d;
    play(C4, cases[i].moves, w, &r, &d);
    if (C4->status(w) != MCTX__GAME_WON_FIRST) FAIL_AT("%s: status %u", cases[i].what, (unsigned)C4->status(w));
    ASSERT_NEAR(r, 1.0, 0);
    ASSERT_NEAR(d, 0.0, 0);
    /* one move short: still going, discount -1 */
    char shorter[64];
    snprintf(shorter, sizeof shorter, "%s", cases[i].moves);
    shorter[strlen(shorter) - 1] = '\0';
    play(C4, shorter, w, &r, &d);
    ASSERT_EQ(C4->status(w), MCTX__GAME_ONGOING);
    ASSERT_NEAR(d, -1.0, 0);
    ASSERT_NEAR(r, 0.0, 0);
  }
  /* O wins too (the second player's view of the reward is the mover's) */
  uint32_t w[MCTX_GAME_MAX_WORDS];
  float r, d;
  play(C4, "71212121", w, &r, &d);
  ASSERT_EQ(C4->status(w), MCTX__GAME_WON_SECOND);
  ASSERT_NEAR(r, 1.0, 0);
  ASSERT_NEAR(d, 0.0, 0);
  /* no wrap-around from the top of one column to the bottom of the next and
   * no wrap from the right edge to the left: 3 in column 1 top + 1 in column
   * 2 bottom is not a line */
  mctx_status st;
  ASSERT_EQ(mctx_game_parse(C4, "X....../X....../X....../OO...../XO...../OXO....", 1, w, "p", &st), 0);
  ASSERT_EQ(C4->status(w), MCTX__GAME_ONGOING);
  ASSERT_EQ(mctx_game_parse(C4, "......./......./......./......./......./.OOO..X", 1, w, "p", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "impossible piece counts");
  ASSERT_EQ(mctx_game_parse(C4, "......./......./......./......./...X.../XXX.OOO", 1, w, "p", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "floats");
  ASSERT_EQ(mctx_game_parse(C4, "......./......./......./......./O......X/XXOOO..", 1, w, "p", &st), MCTX_EPARSE);
  ASSERT_EQ(mctx_game_parse(C4, "......./......./......./......./O.....X/XXOOO.X", 1, w, "p", &st), 0);
  ASSERT_EQ(C4->status(w), MCTX__GAME_ONGOING);
}

TEST(tictactoe_wins_on_every_line) {
  setup();
  /* X plays the line's cells, O plays elsewhere (cells that make no line) */
  static const int lines[8][3] = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {0, 3, 6},
                                  {1, 4, 7}, {2, 5, 8}, {0, 4, 8}, {2, 4, 6}};
  for (int l = 0; l < 8; l++) {
    int used[9] = {0};
    for (int k = 0; k < 3; k++) used[lines[l][k]] = 1;
    char moves[8];
    int n = 0, o = 0;
    for (int k = 0; k < 3; k++) {
      moves[n++] = (char)('1' + lines[l][k]);
      if (k < 2) {
        while (used[o]) o++;
        used[o] = 1;
        moves[n++] = (char)('1' + o);
      }
    }
    moves[n] = '\0';
    uint32_t w[MCTX_GAME_MAX_WORDS];
    float r, d;
    play(TTT, moves, w, &r, &d);
    if (TTT->status(w) != MCTX__GAME_WON_FIRST) FAIL_AT("line %d (%s): status %u", l, moves, (unsigned)TTT->status(w));
    ASSERT_NEAR(r, 1.0, 0);
    ASSERT_NEAR(d, 0.0, 0);
  }
}

TEST(draws) {
  setup();
  uint32_t w[MCTX_GAME_MAX_WORDS];
  float r, d;
  mctx_status st;
  uint32_t b[MCTX_GAME_MAX_WORDS];
  ASSERT_EQ(mctx_game_parse(TTT, "XOX/XOO/OXX", 1, b, "p", &st), 0);
  ASSERT_EQ(TTT->status(b), MCTX__GAME_DRAW);
  play(TTT, "159287364", w, &r, &d);
  ASSERT_EQ(TTT->status(w), MCTX__GAME_DRAW);
  ASSERT_NEAR(r, 0.0, 0);
  ASSERT_NEAR(d, 0.0, 0);
  /* a whole connect-four game without a line */
  const char *draw = "547125662261271266215743771576315353334444";
  play(C4, draw, w, &r, &d);
  ASSERT_EQ(C4->status(w), MCTX__GAME_DRAW);
  ASSERT_EQ(w[4], 42);
  ASSERT_NEAR(r, 0.0, 0);
  ASSERT_NEAR(d, 0.0, 0);
  ASSERT_EQ(mctx_game_parse(C4, draw, 0, b, "model.params.position", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "already over: the board is full (a draw)");
  ASSERT_EQ(mctx_game_parse(C4, draw, 1, b, "p", &st), 0);
  ASSERT(memcmp(b, w, 24) == 0);
}

TEST(illegal_moves_and_absorbing_states) {
  setup();
  uint32_t w[MCTX_GAME_MAX_WORDS], next[MCTX_GAME_MAX_WORDS];
  float r, d;
  play(C4, "333333", w, &r, &d); /* column 3 full */
  uint8_t legal[MCTX_GAME_MAX_ACTIONS];
  ASSERT_EQ(C4->legal(w, legal), 6);
  ASSERT_EQ(legal[2], 0);
  float logits[MCTX_GAME_MAX_ACTIONS];
  C4->logits(w, 1, logits);
  ASSERT(logits[2] < -1e8f);
  ASSERT_NEAR(logits[0], 0.0, 0);
  C4->step(w, 2, next, &r, &d);
  ASSERT_NEAR(r, -1.0, 0);
  ASSERT_NEAR(d, 0.0, 0);
  ASSERT_EQ(C4->status(next), MCTX__GAME_WON_SECOND | MCTX__GAME_FORFEIT);
  ASSERT_STREQ(mctx_game_status_text(C4, next), "O won (X played an illegal move)");
  /* every action from a finished position: same position, 0, 0 */
  for (int32_t a = 0; a < 7; a++) {
    uint32_t again[MCTX_GAME_MAX_WORDS];
    C4->step(next, a, again, &r, &d);
    ASSERT(memcmp(again, next, 24) == 0);
    ASSERT_NEAR(r, 0.0, 0);
    ASSERT_NEAR(d, 0.0, 0);
  }
  ASSERT_EQ(C4->legal(next, legal), 0);
  C4->logits(next, 1, logits);
  for (int a = 0; a < 7; a++) ASSERT_NEAR(logits[a], 0.0, 0);
  ASSERT_NEAR(C4->value(next, 16, 1, 0), 0.0, 0);
  /* tic-tac-toe: a taken cell */
  play(TTT, "5", w, &r, &d);
  TTT->step(w, 4, next, &r, &d);
  ASSERT_NEAR(r, -1.0, 0);
  ASSERT_EQ(TTT->status(next), MCTX__GAME_WON_FIRST | MCTX__GAME_FORFEIT);
  TTT->step(w, 9, next, &r, &d); /* out of range */
  ASSERT_NEAR(r, -1.0, 0);
  play(TTT, "12457", w, &r, &d); /* X wins on 1-4-7 */
  ASSERT_EQ(TTT->status(w), MCTX__GAME_WON_FIRST);
  TTT->step(w, 8, next, &r, &d);
  ASSERT(memcmp(next, w, 16) == 0);
  ASSERT_NEAR(d, 0.0, 0);
}

TEST(position_parsing) {
  setup();
  mctx_status st;
  uint32_t w[MCTX_GAME_MAX_WORDS], v[MCTX_GAME_MAX_WORDS];
  /* board and move list agree, and the board prints back */
  ASSERT_EQ(mctx_game_parse(C4, "4453", 0, w, "f", &st), 0);
  ASSERT_EQ(mctx_game_parse(C4, "......./......./......./......./...O.../..OXX..", 0, v, "f", &st), 0);
  ASSERT(memcmp(w, v, 24) == 0);
  ASSERT_EQ(mctx_game_parse(C4, "..........................................xx.............................", 0, v, "f", &st),
            MCTX_EPARSE);
  char text[128];
  ASSERT_STREQ(mctx_game_format(C4, w, text, sizeof text), "......./......./......./......./...O.../..OXX..");
  ASSERT_EQ(mctx_game_parse(C4, text, 0, v, "f", &st), 0);
  ASSERT(memcmp(w, v, 24) == 0);
  ASSERT_EQ(mctx_game_parse(C4, "", 0, v, "f", &st), 0);
  ASSERT_EQ(v[4], 0);
  ASSERT_EQ(mctx_game_parse(TTT, "x.o/.X./...", 0, w, "f", &st), 0);
  ASSERT_EQ(TTT->to_move(w), 1);
  ASSERT_EQ(mctx_game_parse(TTT, "X.O.X....", 0, v, "f", &st), 0);
  ASSERT(memcmp(w, v, 16) == 0);
  ASSERT_EQ(mctx_game_parse(TTT, "135", 0, v, "f", &st), 0);
  ASSERT(memcmp(w, v, 16) == 0);

  /* errors name the field and say what is wrong */
  ASSERT_EQ(parse_err(C4, "......./......./......./......./...Z.../..OXX..", &st), MCTX_EPARSE);
  ASSERT_STREQ(st.field, "model.params.position");
  ASSERT_CONTAINS(st.reason, "illegal character 'Z' at offset 35");
  ASSERT_EQ(parse_err(C4, "44a", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "illegal character 'a' at offset 2");
  ASSERT_EQ(parse_err(C4, "448", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "move 3 ('8' at offset 2) must be a column from 1 to 7");
  ASSERT_EQ(parse_err(C4, "40", &st), MCTX_EPARSE);
  ASSERT_EQ(parse_err(C4, "1111111", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "move 7 ('1') is illegal: column 1 is full");
  ASSERT_EQ(parse_err(C4, "12121212", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "move 8 ('2'): the game was already over after move 7 (X won)");
  ASSERT_EQ(parse_err(C4, "1212121", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "the game is already over: X has four in a row");
  ASSERT_EQ(parse_err(C4, "......./......./......./......./......./..OXX", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "row 6 of the board has 5 cells, not 7");
  ASSERT_EQ(parse_err(C4, "..........", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "a board has 42 cells (6 rows of 7), not 10");
  ASSERT_EQ(parse_err(C4, "......./......./......./......./......./......./...X...", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "more than 6 rows");
  ASSERT_EQ(parse_err(C4, "......./......./......./......./......./XXX....", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "impossible piece counts: X has 3 and O has 0");
  ASSERT_EQ(parse_err(C4, "......./......./......./...X.../......./...O...", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "column 4, row 4 from the top floats");
  ASSERT_EQ(parse_err(C4, "......./......./XO...../XO...../XO...../XO.....", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "both X and O have four in a row");
  /* X has four but O moved last: X's line is not the last move */
  ASSERT_EQ(parse_err(C4, "......./......./......./......./......./XXXXOOO", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "already over: X has four in a row");
  ASSERT_EQ(parse_err(C4, "......./......./......./......./...O.../XXXXOOO", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "no last move of X could have made it");
  /* two separate lines of X cannot come from one move */
  ASSERT_EQ(parse_err(C4, "X....../X....../X....../XO...../OOO..../OOOXXXX", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "no last move of X could have made it");
  ASSERT_EQ(parse_err(TTT, "XXX/OO./...", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "the game is already over: X has three in a row");
  ASSERT_EQ(parse_err(TTT, "XXX/OOO/X..", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "both X and O have three in a row");
  ASSERT_EQ(parse_err(TTT, "OO./.../...", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "X has 0 and O has 2");
  ASSERT_EQ(parse_err(TTT, "XO/..../...", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "row 1 of the board has 2 cells, not 3");
  ASSERT_EQ(parse_err(TTT, "X\x01.......", &st), MCTX_EPARSE);
  ASSERT_CONTAINS(st.reason, "byte 0x01 at offset 1");
  ASSERT_EQ(parse_err(TTT, "55", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "cell 5 is taken");
  char longer[400];
  memset(longer, '1', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  ASSERT_EQ(parse_err(C4, longer, &st), MCTX_ELIMIT);
}

TEST(embedding_checks) {
  setup();
  mctx_status st;
  uint32_t w[MCTX_GAME_MAX_WORDS];
  ASSERT_EQ(mctx_game_parse(C4, "4453", 0, w, "f", &st), 0);
  ASSERT_EQ(mctx_game_check_state(C4, w, 0, "root_input.embedding[0]", &st), 0);
  w[4] = 5;
  ASSERT_EQ(mctx_game_check_state(C4, w, 0, "root_input.embedding[0]", &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "root_input.embedding[0]");
  ASSERT_CONTAINS(st.reason, "ply word (5) is not the number of pieces (4)");
  w[4] = 4;
  w[1] |= 1u << 20; /* a sentinel bit: outside the board */
  ASSERT_EQ(mctx_game_check_state(C4, w, 0, "e", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "outside the 6x7 board");
  ASSERT_EQ(mctx_game_parse(TTT, "X.O/.X./...", 0, w, "f", &st), 0);
  w[3] = MCTX__GAME_WON_FIRST;
  ASSERT_EQ(mctx_game_check_state(TTT, w, 0, "e", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "status word");
  w[3] = 0;
  w[1] |= 1u; /* O on X's cell */
  ASSERT_EQ(mctx_game_check_state(TTT, w, 0, "e", &st), MCTX_EINVALID);
  ASSERT_CONTAINS(st.reason, "both X and O");
}

static mctx_model *make(const char *name, const char *params, int32_t B, mctx_status *st) {
  mctx_json_doc *doc = NULL;
  if (params) {
    doc = mctx_json_parse(params, strlen(params), NULL, st);
    if (!doc) return NULL;
  }
  mctx_model_ctx ctx = {name[0] == 'c' ? 7 : 9, B, MCTX_PRNG_JAX};
  mctx_model *m = NULL;
  mctx_model_create(name, doc ? mctx_json_root(doc) : NULL, &ctx, &m, st);
  mctx_json_doc_free(doc);
  return m;
}

TEST(model_params_and_outputs) {
  setup();
  mctx_status st;
  mctx_model *m = make("connect4", "{\"position\": \"333333\", \"rollouts\": 32, \"seed\": 7}", 1, &st);
  ASSERT(m);
  ASSERT_EQ(m->info.num_actions, 7);
  ASSERT_EQ(m->info.embedding_bytes, 24);
  ASSERT(mctx_game_of_model(m) == C4);
  float logits[7], value, value2;
  uint32_t emb[6];
  ASSERT_EQ(m->vt->root(m->self, 1, 0, NULL, logits, &value, emb, &st), 0);
  ASSERT(logits[2] < -1e8f);
  ASSERT_NEAR(logits[3], 0.0, 0);
  ASSERT(value >= -1.0f && value <= 1.0f);
  uint8_t inv[7];
  ASSERT_EQ(mctx_game_invalid_actions(m, 1, emb, inv, &st), 0);
  ASSERT_EQ(inv[2], 1);
  ASSERT_EQ(inv[0] + inv[1] + inv[3] + inv[4] + inv[5] + inv[6], 0);
  /* the value depends only on the position and the seed */
  ASSERT_EQ(m->vt->root(m->self, 1, 0, emb, logits, &value2, emb, &st), 0);
  ASSERT_NEAR(value, value2, 0);
  mctx_model *other = make("connect4", "{\"position\": \"333333\", \"rollouts\": 32, \"seed\": 3}", 1, &st);
  ASSERT(other);
  int differs = 0;
  /* a step: batch of 3 in any order gives per-element results equal to alone */
  uint32_t embs[3][6];
  for (int i = 0; i < 3; i++) memcpy(embs[i], emb, sizeof emb);
  int32_t acts[3] = {0, 2, 6};
  float r[3], d[3], lg[21], v[3];
  uint32_t next[3][6];
  mctx_step_out out = {r, d, lg, v, next};
  ASSERT_EQ(m->vt->step(m->self, 3, NULL, acts, embs, &out, &st), 0);
  ASSERT_NEAR(r[1], -1.0, 0);
  ASSERT_NEAR(d[1], 0.0, 0);
  ASSERT_NEAR(d[0], -1.0, 0);
  for (int i = 0; i < 3; i += 2) {
    float r1, d1, lg1[7], v1;
    uint32_t n1[6];
    mctx_step_out o1 = {&r1, &d1, lg1, &v1, n1};
    ASSERT_EQ(m->vt->step(m->self, 1, NULL, &acts[i], embs[i], &o1, &st), 0);
    ASSERT_NEAR(v1, v[i], 0);
    ASSERT(memcmp(n1, next[i], 24) == 0);
    float vo;
    mctx_step_out o2 = {&r1, &d1, lg1, &vo, n1};
    ASSERT_EQ(other->vt->step(other->self, 1, NULL, &acts[i], embs[i], &o2, &st), 0);
    differs |= vo != v1;
  }
  ASSERT(differs); /* the seed matters */
  mctx_model_free(other);
  /* an embedding from the request is checked */
  uint32_t bad[6];
  memcpy(bad, emb, sizeof bad);
  bad[4] = 9;
  ASSERT_EQ(m->vt->root(m->self, 1, 3, bad, logits, &value, emb, &st), MCTX_EINVALID);
  ASSERT_STREQ(st.field, "root_input.embedding[3]");
  mctx_model_free(m);

  /* parameter errors */
  ASSERT(!make("connect4", "{\"position\": \"1212121\"}", 1, &st));
  ASSERT_STREQ(st.field, "model.params.position");
  ASSERT_CONTAINS(st.reason, "already over");
  ASSERT(!make("connect4", "{\"position\": [\"\", \"9\"]}", 2, &st));
  ASSERT_STREQ(st.field, "model.params.position[1]");
  ASSERT(!make("connect4", "{\"position\": [\"\"]}", 2, &st));
  ASSERT_EQ(st.code, MCTX_ESHAPE);
  ASSERT(!make("connect4", "{\"position\": 4}", 1, &st));
  ASSERT_EQ(st.code, MCTX_ETYPE);
  ASSERT(!make("tictactoe", "{\"rollouts\": -1}", 1, &st));
  ASSERT_STREQ(st.field, "model.params.rollouts");
  ASSERT(!make("tictactoe", "{\"rollouts\": 1.5}", 1, &st));
  ASSERT(!make("tictactoe", "{\"rollout\": 1}", 1, &st));
  ASSERT_STREQ(st.field, "model.params.rollout");
  m = make("tictactoe", "{\"position\": [\"5\", \"X........\"]}", 2, &st);
  ASSERT(m);
  uint32_t w[4];
  ASSERT_EQ(mctx_game_model_position(m, 1, w, &st), 0);
  ASSERT_EQ(w[0], 1);
  ASSERT_EQ(mctx_game_model_position(m, 0, w, &st), 0);
  ASSERT_EQ(w[0], 16);
  mctx_model_free(m);
}

TEST(rollout_values_are_sensible) {
  setup();
  mctx_status st;
  uint32_t w[MCTX_GAME_MAX_WORDS];
  /* X to move with three in column 1 (O has nothing): random play wins
   * often for X; from O's seat the value is low. */
  ASSERT_EQ(mctx_game_parse(C4, "171713", 0, w, "f", &st), 0);
  float v = C4->value(w, 512, 0, 0);
  ASSERT(v > 0.3f);
  /* tic-tac-toe start: X's advantage under random play (~0.29 expected) */
  TTT->init(w);
  v = TTT->value(w, 4096, 0, 1);
  ASSERT(v > 0.2f && v < 0.4f);
}

/* The models in a search: the CPU engine with the game's invalid actions at
 * the root never picks an illegal move and takes a win in one. */
TEST(search_takes_a_win_in_one) {
  setup();
  mctx_status st;
  mctx_model *m = make("connect4", "{\"position\": \"265326476735267643456\", \"rollouts\": 16}", 1, &st);
  ASSERT(m);
  mctx_engine *e = mctx_engine_cpu_new(1, &st);
  ASSERT(e);
  float logits[7], value;
  uint32_t emb[6];
  uint8_t inv[7];
  ASSERT_EQ(m->vt->root(m->self, 1, 0, NULL, logits, &value, emb, &st), 0);
  ASSERT_EQ(mctx_game_invalid_actions(m, 1, emb, inv, &st), 0);
  ASSERT_EQ(inv[5], 1); /* column 6 is full */
  for (int policy = 0; policy < 2; policy++) {
    mctx_search_params p;
    mctx_search_params_init(&p, policy ? MCTX_POLICY_GUMBEL_MUZERO : MCTX_POLICY_MUZERO);
    p.num_simulations = 128;
    p.temperature = 0.0f;
    mctx_search_params_set_dirichlet_fraction(&p, 0.0); /* evaluation: no exploration noise */
    mctx_root root = {1, 7, logits, &value, emb, inv, NULL};
    int32_t action;
    float weights[7];
    float visits[7], q[7];
    mctx_result res = {&action, weights, NULL, visits, NULL, q, NULL, 0, 0, NULL};
    ASSERT_EQ(mctx_engine_search(e, &p, m, &root, 0, NULL, &res, &st), 0);
    if (action != 3) FAIL_AT("policy %d played column %d, not 4 (the only win)", policy, (int)action + 1);
    ASSERT_EQ(visits[5], 0); /* the full column is never visited */
    ASSERT_NEAR(q[3], 1.0, 0);
  }
  mctx_engine_free(e);
  mctx_model_free(m);
}
