/* cli/cmd_arena.c: `mctx arena`, games between two players on tic-tac-toe or
 * connect four, and `mctx arena --puzzles FILE`, the share of positions in
 * which a player finds a winning move. Parses flags and prints; the games are
 * src/models/arena.c's. */
#include "cli/cmd_arena.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/arena.h"
#include "models/games.h"
#include "util/buf.h"

static void help(void) {
  printf(
      "usage: mctx arena [--game connect4|tictactoe] [--games N] [--a PLAYER] [--b PLAYER]\n"
      "                  [--seed N] [--opening PLIES] [--position POS] [--rollouts N]\n"
      "                  [--threads N] [--json] [--verbose]\n"
      "       mctx arena --puzzles FILE [--game connect4] [--a PLAYER] [--seed N] [--json]\n\n"
      "Plays N games between players A and B (colours alternate: A is X, the first\n"
      "player, in games 1, 3, 5, ...) and prints A's wins, draws and losses and its\n"
      "score (wins + draws / 2) / N with a 95%% Wilson interval. Seeded and\n"
      "deterministic: the same flags give the same games on any number of threads.\n\n"
      "A PLAYER is `random`, POLICY:SIMS (muzero:800, gumbel_muzero:64) or a JSON object:\n"
      "  {\"policy\": \"gumbel_muzero\", \"num_simulations\": 64, \"rollouts\": 16,\n"
      "   \"temperature\": 0, \"dirichlet_fraction\": 0, \"gumbel_scale\": 1,\n"
      "   \"max_num_considered_actions\": 16, \"pb_c_init\": 1.25, \"value_seed\": 0}\n"
      "(rollouts: random playouts per evaluation of the game model; muzero players\n"
      "default to temperature 0 and no Dirichlet noise).\n\n"
      "  --game G         connect4 (default) or tictactoe\n"
      "  --games N        games to play (default 100)\n"
      "  --a, --b PLAYER  the players (default A gumbel_muzero:64, B random)\n"
      "  --seed N         seed of every random draw (default 0)\n"
      "  --opening PLIES  random moves before the players take over, the same for\n"
      "                   the two games of a pair (default 0)\n"
      "  --position POS   start position (docs/MODELS.md notation; default empty board)\n"
      "  --rollouts N     rollouts per evaluation for both search players\n"
      "  --threads N      CPU engine threads (default: one per core)\n"
      "  --json           print the result as JSON\n"
      "  --verbose        print every game's moves and result (to stderr)\n"
      "  --puzzles FILE   lines \"<position> <winning moves, comma-separated> [N]\"\n"
      "                   (tests/models/connect4_forced_wins.txt; '#' comments and\n"
      "                   blank lines are skipped): print how often player A plays\n"
      "                   one of the winning moves\n");
}

static int run_puzzles(const mctx_game *g, const char *path, const mctx_arena_player *a, int64_t seed, int threads,
                       int json, FILE *verbose) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "mctx arena: cannot open %s: %s\n", path, strerror(errno));
    return 1;
  }
  enum { MAX = 10000 };
  uint32_t *pos = malloc((size_t)MAX * (size_t)g->words * sizeof(uint32_t));
  uint16_t *answers = calloc(MAX, sizeof(uint16_t));
  int32_t *depth = calloc(MAX, sizeof(int32_t)), *acts = malloc(MAX * sizeof(int32_t));
  char line[1024];
  int32_t n = 0, lineno = 0;
  int status = 0;
  while (pos && answers && depth && acts && fgets(line, sizeof line, f)) {
    lineno++;
    const char *t = line;
    while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n') t++;
    if (*t == '#' || *t == '\0') continue;  /* comments and blank lines */
    char p[300], ans[64];
    int d = 0;
    int k = sscanf(line, "%299s %63s %d", p, ans, &d);
    if (k < 2 || n == MAX) {
      fprintf(stderr, "mctx arena: %s:%d: expected \"<position> <moves> [N]\"%s\n", path, (int)lineno,
              n == MAX ? " (too many positions)" : "");
      status = 2;
      break;
    }
    mctx_status st;
    if (mctx_game_parse(g, p, 0, pos + (size_t)n * (size_t)g->words, "position", &st) != 0) {
      fprintf(stderr, "mctx arena: %s:%d: %s\n", path, (int)lineno, st.reason);
      status = 2;
      break;
    }
    uint8_t legal[MCTX_GAME_MAX_ACTIONS];
    g->legal(pos + (size_t)n * (size_t)g->words, legal);
    for (char *s = ans; *s && status == 0; s++) {
      if (*s == ',') continue;
      if (*s < '1' || *s > '9' || *s - '1' >= g->num_actions || !legal[*s - '1']) {
        fprintf(stderr, "mctx arena: %s:%d: the winning moves must be legal moves 1..%d, comma-separated, not \"%s\"\n",
                path, (int)lineno, (int)g->num_actions, ans);
        status = 2;
      } else {
        answers[n] |= (uint16_t)(1u << (*s - '1'));
      }
    }
    if (status != 0) break;
    depth[n] = d;
    n++;
  }
  fclose(f);
  if (status == 0 && (!pos || !answers || !depth || !acts)) status = 1;
  if (status == 0 && n == 0) {
    fprintf(stderr, "mctx arena: %s holds no positions\n", path);
    status = 2;
  }
  if (status == 0) {
    mctx_status st;
    if (mctx_arena_best_moves(g, a, n, pos, seed, threads, acts, &st) != 0) {
      fprintf(stderr, "mctx arena: %s\n", st.reason);
      status = 1;
    }
  }
  if (status == 0) {
    int32_t solved = 0, by[3] = {0}, of[3] = {0};
    for (int32_t i = 0; i < n; i++) {
      int ok = (answers[i] >> acts[i]) & 1u;
      solved += ok;
      if (verbose && !ok) {
        char board[128];
        fprintf(verbose, "missed: position %s (win in %d): played %d\n",
                mctx_game_format(g, pos + (size_t)i * (size_t)g->words, board, sizeof board), (int)depth[i],
                (int)acts[i] + 1);
      }
      int d = depth[i] >= 1 && depth[i] <= 2 ? depth[i] : 0;
      by[d] += ok;
      of[d]++;
    }
    double lo, hi;
    mctx_arena_wilson(n ? (double)solved / n : 0, n, 1.959964, &lo, &hi);
    if (json) {
      printf("{\"game\":\"%s\",\"player\":\"%s\",\"positions\":%d,\"solved\":%d,\"rate\":%.4f,\"ci95\":[%.4f,%.4f],"
             "\"win_in_1\":[%d,%d],\"win_in_2\":[%d,%d]}\n",
             g->name, a->spec, (int)n, (int)solved, n ? (double)solved / n : 0.0, lo, hi, (int)by[1], (int)of[1],
             (int)by[2], (int)of[2]);
    } else {
      printf("puzzles: %s, %d positions, player %s\n", path, (int)n, a->spec);
      printf("solved %d of %d (%.1f%%, 95%% Wilson interval %.1f%% - %.1f%%)\n", (int)solved, (int)n,
             n ? 100.0 * solved / n : 0.0, 100 * lo, 100 * hi);
      if (of[1] || of[2])
        printf("  win in 1: %d of %d, win in 2: %d of %d\n", (int)by[1], (int)of[1], (int)by[2], (int)of[2]);
    }
  }
  free(pos); free(answers); free(depth); free(acts);
  return status;
}

int mctx_cmd_arena(int argc, char **argv) {
  const char *game = "connect4", *a_spec = "gumbel_muzero:64", *b_spec = "random", *position = NULL,
             *puzzles = NULL;
  long games = 100, seed = 0, opening = 0, rollouts = -1, threads = 0;
  int json = 0, verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { help(); return 0; }
    if (strcmp(a, "--json") == 0) { json = 1; continue; }
    if (strcmp(a, "--verbose") == 0) { verbose = 1; continue; }
    int used = v != NULL;
    char *end = NULL;
    if (!v) used = 0;
    else if (strcmp(a, "--game") == 0) game = v;
    else if (strcmp(a, "--a") == 0) a_spec = v;
    else if (strcmp(a, "--b") == 0) b_spec = v;
    else if (strcmp(a, "--position") == 0) position = v;
    else if (strcmp(a, "--puzzles") == 0) puzzles = v;
    else if (strcmp(a, "--games") == 0) games = strtol(v, &end, 10);
    else if (strcmp(a, "--seed") == 0) seed = strtol(v, &end, 10);
    else if (strcmp(a, "--opening") == 0) opening = strtol(v, &end, 10);
    else if (strcmp(a, "--rollouts") == 0) rollouts = strtol(v, &end, 10);
    else if (strcmp(a, "--threads") == 0) threads = strtol(v, &end, 10);
    else used = 0;
    if (!used || (end && *end)) {
      fprintf(stderr, "mctx arena: unknown, incomplete or non-numeric flag '%s' (see mctx arena --help)\n", a);
      return 2;
    }
    i++;
  }
  const mctx_game *g = mctx_game_find(game);
  if (!g) {
    fprintf(stderr, "mctx arena: --game must be connect4 or tictactoe, not '%s'\n", game);
    return 2;
  }
  if (games < 1 || games > 1000000 || opening < 0 || opening > g->max_plies || rollouts > MCTX_GAME_MAX_ROLLOUTS ||
      threads < 0 || threads > 1024) {
    fprintf(stderr, "mctx arena: --games in [1, 1000000], --opening in [0, %d], --rollouts in [0, %d], --threads in "
            "[0, 1024]\n", (int)g->max_plies, MCTX_GAME_MAX_ROLLOUTS);
    return 2;
  }
  mctx_arena_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.game = g;
  cfg.games = (int32_t)games;
  cfg.seed = seed;
  cfg.opening_plies = (int32_t)opening;
  cfg.threads = (int)threads;
  cfg.verbose = verbose ? stderr : NULL;
  mctx_status st;
  if (mctx_arena_player_parse(a_spec, &cfg.a, "--a", &st) != 0 || mctx_arena_player_parse(b_spec, &cfg.b, "--b", &st) != 0) {
    fprintf(stderr, "mctx arena: %s: %s\n", st.field, st.reason);
    return 2;
  }
  if (rollouts >= 0) cfg.a.rollouts = cfg.b.rollouts = (int32_t)rollouts;
  if (puzzles) return run_puzzles(g, puzzles, &cfg.a, seed, (int)threads, json, cfg.verbose);
  uint32_t start[MCTX_GAME_MAX_WORDS];
  if (position) {
    if (mctx_game_parse(g, position, 0, start, "--position", &st) != 0) {
      fprintf(stderr, "mctx arena: --position: %s\n", st.reason);
      return 2;
    }
    cfg.start = start;
  }
  mctx_arena_result res;
  if (mctx_arena_run(&cfg, &res, &st) != 0) {
    fprintf(stderr, "mctx arena: %s%s%s\n", st.field, st.field[0] ? ": " : "", st.reason);
    return 1;
  }
  if (json) {
    mctx_buf b;
    mctx_buf_init(&b, 1 << 20);
    mctx_arena_result_json(&cfg, &res, &b);
    printf("%s\n", mctx_buf_cstr(&b));
    mctx_buf_free(&b);
    return 0;
  }
  printf("arena: %s, %d games (A is X in %d), seed %ld, opening %ld plies\n", g->name, (int)res.games,
         (int)((res.games + 1) / 2), seed, opening);
  printf("  A: %s\n  B: %s\n", cfg.a.spec, cfg.b.spec);
  printf("A: %d wins, %d draws, %d losses (as X: %d/%d/%d, as O: %d/%d/%d)\n", (int)res.wins, (int)res.draws,
         (int)res.losses, (int)res.first[0], (int)res.first[1], (int)res.first[2], (int)res.second[0],
         (int)res.second[1], (int)res.second[2]);
  printf("score %.3f (95%% Wilson interval %.3f - %.3f)\n", res.score, res.ci_low, res.ci_high);
  printf("%d plies, %.1f s%s\n", (int)res.plies, res.seconds, res.illegal ? " (illegal moves were played!)" : "");
  return 0;
}
