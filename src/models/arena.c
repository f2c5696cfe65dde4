/* models/arena.c: the arena of arena.h, games between two players.
 *
 * The games advance in lockstep, ply by ply; each ply runs at most two
 * batched searches on the CPU engine (the positions where A is to move, then
 * those where B is), each element with its own PRNG key derived from (seed,
 * game, ply), so the outcome depends on neither the batching nor the
 * threads. The game models come from the registry (games.c), one per
 * player, and are given the positions as root embeddings. */
#include "models/arena.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mctx/engine.h"
#include "mctx/json.h"
#include "mctx/registry.h"
#include "models/game-impl.h"
#include "util/jsonw.h"

/* ==== Players ==== */

static int json_num(const mctx_json *o, const char *key, double *out, int *present, const char *field,
                    mctx_status *st) {
  const mctx_json *v = mctx_json_get(o, key);
  *present = v && v->type != MCTX_JSON_NULL;
  if (!*present) return 0;
  if (v->type != MCTX_JSON_NUMBER || !isfinite(v->u.num))
    return mctx_status_set(st, MCTX_ETYPE, field, "\"%s\" must be a finite number", key);
  *out = v->u.num;
  return 0;
}

static int parse_policy(const char *s, mctx_policy *p) {
  if (strcmp(s, "muzero") == 0) *p = MCTX_POLICY_MUZERO;
  else if (strcmp(s, "gumbel_muzero") == 0 || strcmp(s, "gumbel") == 0) *p = MCTX_POLICY_GUMBEL_MUZERO;
  else return -1;
  return 0;
}

static void player_defaults(mctx_arena_player *p, mctx_policy policy) {
  mctx_search_params_init(&p->params, policy);
  p->params.num_simulations = 64;
  if (policy == MCTX_POLICY_MUZERO) {
    p->params.temperature = 0.0f;
    mctx_search_params_set_dirichlet_fraction(&p->params, 0.0);
  }
  p->rollouts = 16;
  p->value_seed = 0;
  snprintf(p->rollout, sizeof p->rollout, "random");
  snprintf(p->prior, sizeof p->prior, "tactical");
}

int mctx_arena_player_parse(const char *spec, mctx_arena_player *p, const char *field, mctx_status *st) {
  memset(p, 0, sizeof *p);
  snprintf(p->spec, sizeof p->spec, "%s", spec);
  if (strcmp(spec, "random") == 0) {
    p->random = 1;
    return 0;
  }
  if (spec[0] != '{') {
    char pol[32];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= sizeof pol) n = sizeof pol - 1;
    memcpy(pol, spec, n);
    pol[n] = '\0';
    mctx_policy policy;
    if (parse_policy(pol, &policy) != 0)
      return mctx_status_set(st, MCTX_EINVALID, field,
                             "'%s' is not a player: use random, POLICY:SIMS (muzero:64, gumbel_muzero:64) or a JSON "
                             "object", spec);
    player_defaults(p, policy);
    if (colon) {
      char *end;
      long sims = strtol(colon + 1, &end, 10);
      if (*end || sims < 1 || sims > 100000)
        return mctx_status_set(st, MCTX_ERANGE, field, "the simulations in '%s' must be an integer in [1, 100000]", spec);
      p->params.num_simulations = (int32_t)sims;
    }
    return 0;
  }
  mctx_json_doc *doc = mctx_json_parse(spec, strlen(spec), NULL, st);
  if (!doc) return st->code;
  const mctx_json *o = mctx_json_root(doc);
  int rc = 0;
  static const char *const known[] = {"policy", "num_simulations", "rollouts", "value_seed", "temperature",
                                      "dirichlet_fraction", "dirichlet_alpha", "max_num_considered_actions",
                                      "gumbel_scale", "pb_c_init", "pb_c_base", "max_depth", "qtransform",
                                      "rollout", "prior", NULL};
  if (o->type != MCTX_JSON_OBJECT) {
    rc = mctx_status_set(st, MCTX_ETYPE, field, "a player must be a JSON object");
    goto out;
  }
  for (uint32_t i = 0; i < o->len && rc == 0; i++) {
    int ok = 0;
    for (const char *const *k = known; *k; k++) ok |= strcmp(*k, o->u.members[i].key) == 0;
    if (!ok) rc = mctx_status_set(st, MCTX_EINVALID, field, "unknown player field \"%.40s\"", o->u.members[i].key);
  }
  if (rc != 0) goto out;
  const mctx_json *pol = mctx_json_get(o, "policy");
  mctx_policy policy = MCTX_POLICY_GUMBEL_MUZERO;
  if (pol && (pol->type != MCTX_JSON_STRING || parse_policy(pol->u.str, &policy) != 0)) {
    rc = mctx_status_set(st, MCTX_EINVALID, field, "\"policy\" must be muzero or gumbel_muzero");
    goto out;
  }
  player_defaults(p, policy);
  double v;
  int has;
  if ((rc = json_num(o, "num_simulations", &v, &has, field, st)) != 0) goto out;
  if (has) {
    if (v < 1 || v > 100000 || v != floor(v)) {
      rc = mctx_status_set(st, MCTX_ERANGE, field, "\"num_simulations\" must be an integer in [1, 100000]");
      goto out;
    }
    p->params.num_simulations = (int32_t)v;
  }
  if ((rc = json_num(o, "rollouts", &v, &has, field, st)) != 0) goto out;
  if (has) {
    if (v < 0 || v > MCTX_GAME_MAX_ROLLOUTS || v != floor(v)) {
      rc = mctx_status_set(st, MCTX_ERANGE, field, "\"rollouts\" must be an integer in [0, %d]", MCTX_GAME_MAX_ROLLOUTS);
      goto out;
    }
    p->rollouts = (int32_t)v;
  }
  if ((rc = json_num(o, "value_seed", &v, &has, field, st)) != 0) goto out;
  if (has) p->value_seed = (uint32_t)v;
  if ((rc = json_num(o, "temperature", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.temperature = (float)v;
  if ((rc = json_num(o, "dirichlet_fraction", &v, &has, field, st)) != 0) goto out;
  if (has) mctx_search_params_set_dirichlet_fraction(&p->params, v);
  if ((rc = json_num(o, "dirichlet_alpha", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.dirichlet_alpha = (float)v;
  if ((rc = json_num(o, "max_num_considered_actions", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.max_num_considered_actions = (int32_t)v;
  if ((rc = json_num(o, "gumbel_scale", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.gumbel_scale = (float)v;
  if ((rc = json_num(o, "pb_c_init", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.pb_c_init = (float)v;
  if ((rc = json_num(o, "pb_c_base", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.pb_c_base = (float)v;
  if ((rc = json_num(o, "max_depth", &v, &has, field, st)) != 0) goto out;
  if (has) p->params.max_depth = (int32_t)v;
  static const char *const strs[2][3] = {{"rollout", "tactical", "random"}, {"prior", "tactical", "uniform"}};
  for (int k = 0; k < 2; k++) {
    const mctx_json *sv = mctx_json_get(o, strs[k][0]);
    if (!sv) continue;
    if (sv->type != MCTX_JSON_STRING || (strcmp(sv->u.str, strs[k][1]) != 0 && strcmp(sv->u.str, strs[k][2]) != 0)) {
      rc = mctx_status_set(st, MCTX_EINVALID, field, "\"%s\" must be \"%s\" or \"%s\"", strs[k][0], strs[k][1],
                           strs[k][2]);
      goto out;
    }
    snprintf(k == 0 ? p->rollout : p->prior, 16, "%s", sv->u.str);
  }
  const mctx_json *q = mctx_json_get(o, "qtransform");
  if (q) {
    const mctx_json *name = q->type == MCTX_JSON_OBJECT ? mctx_json_get(q, "name") : q;
    const char *s = name && name->type == MCTX_JSON_STRING ? name->u.str : "";
    if (strcmp(s, "by_parent_and_siblings") == 0) p->params.qtransform.kind = MCTX_QTRANSFORM_BY_PARENT_AND_SIBLINGS;
    else if (strcmp(s, "completed_by_mix_value") == 0) p->params.qtransform.kind = MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE;
    else if (strcmp(s, "by_min_max") == 0) {
      p->params.qtransform.kind = MCTX_QTRANSFORM_BY_MIN_MAX;
      p->params.qtransform.min_value = -1.0f;
      p->params.qtransform.max_value = 1.0f;
    } else {
      rc = mctx_status_set(st, MCTX_EINVALID, field,
                           "\"qtransform\" must be by_parent_and_siblings, by_min_max or completed_by_mix_value");
      goto out;
    }
    /* {"name": "completed_by_mix_value", "value_scale": 0.1, "maxvisit_init": 50}
     * (the request's names, docs/API.md) */
    if (q->type == MCTX_JSON_OBJECT) {
      for (uint32_t i = 0; i < q->len; i++) {
        const char *k = q->u.members[i].key;
        int mix = p->params.qtransform.kind == MCTX_QTRANSFORM_COMPLETED_BY_MIX_VALUE;
        if (strcmp(k, "name") != 0 && !(mix && (strcmp(k, "value_scale") == 0 || strcmp(k, "maxvisit_init") == 0))) {
          rc = mctx_status_set(st, MCTX_EINVALID, field,
                               "unknown qtransform field \"%.40s\" (completed_by_mix_value takes value_scale and "
                               "maxvisit_init)", k);
          goto out;
        }
      }
      if ((rc = json_num(q, "value_scale", &v, &has, field, st)) != 0) goto out;
      if (has) {
        if (!(v > 0)) {
          rc = mctx_status_set(st, MCTX_ERANGE, field, "\"value_scale\" must be > 0");
          goto out;
        }
        p->params.qtransform.value_scale = (float)v;
      }
      if ((rc = json_num(q, "maxvisit_init", &v, &has, field, st)) != 0) goto out;
      if (has) {
        if (!(v >= 0)) {
          rc = mctx_status_set(st, MCTX_ERANGE, field, "\"maxvisit_init\" must be >= 0");
          goto out;
        }
        p->params.qtransform.maxvisit_init = (float)v;
      }
    }
  }
out:
  mctx_json_doc_free(doc);
  return rc;
}

/* ==== Searching a batch of positions ==== */

typedef struct searcher {
  const mctx_game *g;
  const mctx_arena_player *p;
  mctx_model *model;
} searcher;

static int searcher_init(searcher *s, const mctx_game *g, const mctx_arena_player *p, int32_t max_batch,
                         mctx_status *st) {
  memset(s, 0, sizeof *s);
  s->g = g;
  s->p = p;
  if (p->random) return 0;
  char params[160];
  snprintf(params, sizeof params, "{\"rollouts\": %d, \"seed\": %u, \"rollout\": \"%s\", \"prior\": \"%s\"}",
           (int)p->rollouts, (unsigned)p->value_seed, p->rollout, p->prior);
  mctx_json_doc *doc = mctx_json_parse(params, strlen(params), NULL, st);
  if (!doc) return st->code;
  mctx_model_ctx ctx = {g->num_actions, max_batch, p->params.prng};
  int rc = mctx_model_create(g->name, mctx_json_root(doc), &ctx, &s->model, st);
  mctx_json_doc_free(doc);
  return rc;
}

/* element key of (seed, a, b): fold_in(fold_in(PRNGKey(seed), a), b) */
static mctx_key elem_key(int64_t seed, uint32_t a, uint32_t b) {
  mctx_key k = mctx_prng_key(seed);
  k = mctx_prng_fold_in(MCTX_PRNG_JAX, k, a);
  return mctx_prng_fold_in(MCTX_PRNG_JAX, k, b);
}

static int32_t random_move(const mctx_game *g, const uint32_t *w, uint32_t h) {
  uint8_t legal[MCTX_GAME_MAX_ACTIONS];
  int32_t n = g->legal(w, legal);
  if (n == 0) return 0;
  uint32_t rng = h;
  uint32_t k = mctx__game_below(&rng, (uint32_t)n);
  for (int32_t a = 0; a < g->num_actions; a++)
    if (legal[a] && k-- == 0) return a;
  return 0;
}

/* Moves for n positions; ids[i] and ply give each element's randomness. */
static int choose(const searcher *s, mctx_engine *e, int32_t n, const uint32_t *pos, const uint32_t *ids,
                  uint32_t ply, int64_t seed, int32_t *actions, mctx_status *st) {
  const mctx_game *g = s->g;
  if (n == 0) return 0;
  if (s->p->random) {
    for (int32_t i = 0; i < n; i++) {
      uint32_t h = mctx__game_mix((uint32_t)seed ^ mctx__game_mix(ids[i] * 0x9E3779B9u + ply * 0x85EBCA6Bu + 1u));
      actions[i] = random_move(g, pos + (size_t)i * (size_t)g->words, h);
    }
    return 0;
  }
  int32_t A = g->num_actions;
  uint8_t *inv = malloc((size_t)n * (size_t)A);
  mctx_elem_key *keys = malloc((size_t)n * sizeof *keys);
  if (!inv || !keys) {
    free(inv);
    free(keys);
    return mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  }
  int rc = mctx_game_invalid_actions(s->model, n, pos, inv, st);
  for (int32_t i = 0; i < n; i++) {
    keys[i].key = elem_key(seed, ids[i], ply);
    keys[i].group_size = 1;
    keys[i].group_index = 0;
  }
  mctx_search_params p = s->p->params;
  mctx_root root = {n, A, NULL, NULL, pos, inv, keys};
  mctx_result res = {actions, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL};
  if (rc == 0) rc = mctx_engine_search(e, &p, s->model, &root, 0, NULL, &res, st);
  free(inv);
  free(keys);
  return rc;
}

int mctx_arena_best_moves(const mctx_game *game, const mctx_arena_player *p, int32_t n, const uint32_t *positions,
                          int64_t seed, int threads, int32_t *actions, mctx_status *st) {
  searcher s;
  int rc = searcher_init(&s, game, p, n, st);
  mctx_engine *e = rc == 0 && !p->random ? mctx_engine_cpu_new(threads, st) : NULL;
  if (rc == 0 && !p->random && !e) rc = st->code ? st->code : MCTX_ENOMEM;
  uint32_t *ids = rc == 0 ? malloc((size_t)(n > 0 ? n : 1) * sizeof(uint32_t)) : NULL;
  if (rc == 0 && !ids) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  for (int32_t i = 0; rc == 0 && i < n; i++) ids[i] = (uint32_t)i;
  if (rc == 0) rc = choose(&s, e, n, positions, ids, 0, seed, actions, st);
  free(ids);
  mctx_engine_free(e);
  mctx_model_free(s.model);
  return rc;
}

/* ==== Games ==== */

void mctx_arena_wilson(double p, int32_t n, double z, double *lo, double *hi) {
  if (n <= 0) {
    *lo = 0.0;
    *hi = 1.0;
    return;
  }
  double z2 = z * z, nn = (double)n;
  double center = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  *lo = center - half < 0 || p <= 0 ? 0 : center - half;
  *hi = center + half > 1 || p >= 1 ? 1 : center + half;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mctx_arena_run(const mctx_arena_config *cfg, mctx_arena_result *res, mctx_status *st) {
  memset(res, 0, sizeof *res);
  const mctx_game *g = cfg->game;
  int32_t N = cfg->games, W = g->words, A = g->num_actions;
  if (N < 1 || N > 1000000) return mctx_status_set(st, MCTX_ERANGE, "games", "must be in [1, 1000000]");
  if (cfg->opening_plies < 0 || cfg->opening_plies > g->max_plies)
    return mctx_status_set(st, MCTX_ERANGE, "opening", "must be in [0, %d]", (int)g->max_plies);
  double t0 = now_s();
  uint32_t *pos = malloc((size_t)N * (size_t)W * sizeof(uint32_t));
  uint32_t *batch = malloc((size_t)N * (size_t)W * sizeof(uint32_t));
  uint32_t *ids = malloc((size_t)N * sizeof(uint32_t));
  int32_t *acts = malloc((size_t)N * sizeof(int32_t));
  char *moves = calloc((size_t)N, (size_t)g->max_plies + 1);
  uint8_t *forfeit = calloc((size_t)N, 1); /* 1: X played illegally, 2: O */
  searcher sa, sb;
  memset(&sa, 0, sizeof sa);
  memset(&sb, 0, sizeof sb);
  mctx_engine *e = NULL;
  int rc = 0;
  if (!pos || !batch || !ids || !acts || !moves || !forfeit) rc = mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory");
  if (rc == 0) rc = searcher_init(&sa, g, &cfg->a, N, st);
  if (rc == 0) rc = searcher_init(&sb, g, &cfg->b, N, st);
  if (rc == 0 && (!cfg->a.random || !cfg->b.random)) {
    e = mctx_engine_cpu_new(cfg->threads, st);
    if (!e) rc = st->code ? st->code : MCTX_ENOMEM;
  }
  /* start positions and the shared openings */
  for (int32_t i = 0; rc == 0 && i < N; i++) {
    uint32_t *w = pos + (size_t)i * (size_t)W;
    if (cfg->start) memcpy(w, cfg->start, (size_t)W * sizeof(uint32_t));
    else g->init(w);
    uint32_t pair = (uint32_t)i / 2u;
    for (int32_t k = 0; k < cfg->opening_plies && g->status(w) == MCTX__GAME_ONGOING; k++) {
      uint32_t h = mctx__game_mix((uint32_t)cfg->seed * 0x27D4EB2Fu ^ mctx__game_mix(pair * 0x9E3779B9u + (uint32_t)k + 7u));
      /* an opening move never ends the game */
      uint8_t legal[MCTX_GAME_MAX_ACTIONS];
      g->legal(w, legal);
      int32_t a = random_move(g, w, h), tries = 0;
      uint32_t next[MCTX_GAME_MAX_WORDS];
      float r, d;
      g->step(w, a, next, &r, &d);
      while (g->status(next) != MCTX__GAME_ONGOING && tries++ < A) {
        a = (a + 1) % A;
        if (!legal[a]) continue;
        g->step(w, a, next, &r, &d);
      }
      if (g->status(next) != MCTX__GAME_ONGOING) break;
      memcpy(w, next, (size_t)W * sizeof(uint32_t));
      size_t len = strlen(moves + (size_t)i * (size_t)(g->max_plies + 1));
      moves[(size_t)i * (size_t)(g->max_plies + 1) + len] = (char)('1' + a);
    }
  }
  /* the games, ply by ply: A's positions as one batch, then B's */
  for (uint32_t ply = 0; rc == 0; ply++) {
    int live = 0;
    for (int side = 0; side < 2 && rc == 0; side++) {
      int32_t n = 0;
      for (int32_t i = 0; i < N; i++) {
        const uint32_t *w = pos + (size_t)i * (size_t)W;
        if (g->status(w) != MCTX__GAME_ONGOING) continue;
        live = 1;
        int a_is_x = (i % 2) == 0;
        int mover_is_a = (g->to_move(w) == 0) == a_is_x;
        if (mover_is_a != (side == 0)) continue;
        memcpy(batch + (size_t)n * (size_t)W, w, (size_t)W * sizeof(uint32_t));
        ids[n++] = (uint32_t)i;
      }
      if (n == 0) continue;
      rc = choose(side == 0 ? &sa : &sb, e, n, batch, ids, ply, cfg->seed * 2 + side, acts, st);
      if (rc != 0) break;
      res->searches += (side == 0 ? cfg->a.random : cfg->b.random) ? 0 : 1;
      for (int32_t k = 0; k < n; k++) {
        int32_t i = (int32_t)ids[k];
        uint32_t *w = pos + (size_t)i * (size_t)W;
        uint8_t legal[MCTX_GAME_MAX_ACTIONS];
        g->legal(w, legal);
        int32_t a = acts[k];
        if (a < 0 || a >= A || !legal[a]) {
          res->illegal++;
          forfeit[i] = (uint8_t)(1 + g->to_move(w));
        }
        uint32_t next[MCTX_GAME_MAX_WORDS];
        float r, d;
        g->step(w, a, next, &r, &d);
        memcpy(w, next, (size_t)W * sizeof(uint32_t));
        size_t len = strlen(moves + (size_t)i * (size_t)(g->max_plies + 1));
        if ((int32_t)len < g->max_plies) moves[(size_t)i * (size_t)(g->max_plies + 1) + len] = (char)('1' + (a >= 0 && a < 9 ? a : 0));
        res->plies++;
      }
    }
    if (!live) break;
  }
  if (rc == 0) {
    for (int32_t i = 0; i < N; i++) {
      const uint32_t *w = pos + (size_t)i * (size_t)W;
      uint32_t s = g->status(w) & MCTX__GAME_RESULT_MASK;
      int a_is_x = (i % 2) == 0;
      int outcome; /* 0 A wins, 1 draw, 2 A loses */
      if (s == MCTX__GAME_DRAW) outcome = 1;
      else outcome = ((s == MCTX__GAME_WON_FIRST) == a_is_x) ? 0 : 2;
      (a_is_x ? res->first : res->second)[outcome]++;
      if (outcome == 0) res->wins++;
      else if (outcome == 1) res->draws++;
      else res->losses++;
      if (cfg->verbose) {
        char board[128];
        fprintf(cfg->verbose, "game %d: A plays %s, moves %s -> %s%s [%s]\n", (int)i + 1, a_is_x ? "X" : "O",
                moves + (size_t)i * (size_t)(g->max_plies + 1), mctx_game_status_text(g, w),
                forfeit[i] ? " (forfeit)" : "", mctx_game_format(g, w, board, sizeof board));
      }
    }
    res->games = N;
    res->score = ((double)res->wins + 0.5 * (double)res->draws) / (double)N;
    mctx_arena_wilson(res->score, N, 1.959964, &res->ci_low, &res->ci_high);
  }
  res->seconds = now_s() - t0;
  mctx_engine_free(e);
  mctx_model_free(sa.model);
  mctx_model_free(sb.model);
  free(pos); free(batch); free(ids); free(acts); free(moves); free(forfeit);
  return rc;
}

static void player_json(mctx_jw *w, const mctx_arena_player *p) {
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "spec", mctx_jw_str, p->spec);
  if (p->random) {
    MCTX_JW_KV(w, "policy", mctx_jw_str, "random");
  } else {
    MCTX_JW_KV(w, "policy", mctx_jw_str, p->params.policy == MCTX_POLICY_MUZERO ? "muzero" : "gumbel_muzero");
    MCTX_JW_KV(w, "num_simulations", mctx_jw_i64, p->params.num_simulations);
    MCTX_JW_KV(w, "rollouts", mctx_jw_i64, p->rollouts);
    MCTX_JW_KV(w, "rollout", mctx_jw_str, p->rollout);
    MCTX_JW_KV(w, "prior", mctx_jw_str, p->prior);
    MCTX_JW_KV(w, "temperature", mctx_jw_f32, p->params.temperature);
    MCTX_JW_KV(w, "dirichlet_fraction", mctx_jw_f32, p->params.dirichlet_fraction);
    MCTX_JW_KV(w, "gumbel_scale", mctx_jw_f32, p->params.gumbel_scale);
  }
  mctx_jw_end(w);
}

static void wdl_json(mctx_jw *w, const char *key, const int32_t *c) {
  mctx_jw_key(w, key);
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "wins", mctx_jw_i64, c[0]);
  MCTX_JW_KV(w, "draws", mctx_jw_i64, c[1]);
  MCTX_JW_KV(w, "losses", mctx_jw_i64, c[2]);
  mctx_jw_end(w);
}

int mctx_arena_result_json(const mctx_arena_config *cfg, const mctx_arena_result *res, mctx_buf *out) {
  mctx_jw w;
  mctx_jw_init(&w, out);
  mctx_jw_obj(&w);
  MCTX_JW_KV(&w, "game", mctx_jw_str, cfg->game->name);
  MCTX_JW_KV(&w, "games", mctx_jw_i64, res->games);
  MCTX_JW_KV(&w, "seed", mctx_jw_i64, cfg->seed);
  MCTX_JW_KV(&w, "opening_plies", mctx_jw_i64, cfg->opening_plies);
  mctx_jw_key(&w, "a");
  player_json(&w, &cfg->a);
  mctx_jw_key(&w, "b");
  player_json(&w, &cfg->b);
  MCTX_JW_KV(&w, "wins", mctx_jw_i64, res->wins);
  MCTX_JW_KV(&w, "draws", mctx_jw_i64, res->draws);
  MCTX_JW_KV(&w, "losses", mctx_jw_i64, res->losses);
  wdl_json(&w, "as_first", res->first);
  wdl_json(&w, "as_second", res->second);
  MCTX_JW_KV(&w, "score", mctx_jw_f64, res->score);
  mctx_jw_key(&w, "ci95");
  mctx_jw_arr(&w);
  mctx_jw_f64(&w, res->ci_low);
  mctx_jw_f64(&w, res->ci_high);
  mctx_jw_end(&w);
  MCTX_JW_KV(&w, "illegal_moves", mctx_jw_i64, res->illegal);
  MCTX_JW_KV(&w, "plies", mctx_jw_i64, res->plies);
  MCTX_JW_KV(&w, "seconds", mctx_jw_f64, res->seconds);
  mctx_jw_end(&w);
  return out->failed ? -1 : 0;
}
