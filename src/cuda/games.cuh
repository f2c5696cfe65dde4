/* cuda/games.cuh: the built-in games (tictactoe, connect4) on the device.
 * Their rules are the same headers the CPU models run
 * (src/models/tictactoe-impl.h, connect4-impl.h: integer bit boards, the
 * prior and the seeded rollouts), compiled by nvcc, so a step gives the CPU's
 * bits; the engine runs them as a model step (the callback path of
 * cuda/net.cuh): one thread per element, rollouts included. */
#ifndef MCTX_CUDA_GAMES_CUH
#define MCTX_CUDA_GAMES_CUH

#include "models/connect4-impl.h"
#include "models/tictactoe-impl.h"

template <typename State, int WORDS, int ACTIONS>
struct GameRules;

template <>
struct GameRules<mctx__c4, MCTX__C4_WORDS, MCTX__C4_COLS> {
  static __device__ void step(const uint32_t *w, int32_t a, int32_t rollouts, int tactical, int tactical_rollouts,
                              uint32_t seed, uint32_t *next, float *reward, float *discount, float *logits,
                              float *value) {
    mctx__c4 s, t;
    mctx__c4_load(w, &s);
    mctx__c4_step(&s, a, &t, reward, discount);
    mctx__c4_logits(&t, tactical, logits);
    *value = mctx__c4_value(&t, rollouts, tactical_rollouts, seed);
    mctx__c4_store(&t, next);
  }
};

template <>
struct GameRules<mctx__ttt, MCTX__TTT_WORDS, MCTX__TTT_CELLS> {
  static __device__ void step(const uint32_t *w, int32_t a, int32_t rollouts, int tactical, int tactical_rollouts,
                              uint32_t seed, uint32_t *next, float *reward, float *discount, float *logits,
                              float *value) {
    mctx__ttt s, t;
    mctx__ttt_load(w, &s);
    mctx__ttt_step(&s, a, &t, reward, discount);
    mctx__ttt_logits(&t, tactical, logits);
    *value = mctx__ttt_value(&t, rollouts, tactical_rollouts, seed);
    mctx__ttt_store(&t, next);
  }
};

template <typename State, int WORDS, int ACTIONS>
__global__ void game_step_kernel(int32_t n, int32_t rollouts, int tactical, int tactical_rollouts, uint32_t seed,
                                 const int32_t *actions, const uint32_t *emb, float *reward, float *discount,
                                 float *logits, float *value, uint32_t *next) {
  int32_t i = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  uint32_t w[WORDS], nx[WORDS];
  float lg[ACTIONS];
  for (int k = 0; k < WORDS; k++) w[k] = emb[(size_t)i * WORDS + k];
  GameRules<State, WORDS, ACTIONS>::step(w, actions[i], rollouts, tactical, tactical_rollouts, seed, nx, &reward[i],
                                         &discount[i], lg, &value[i]);
  for (int k = 0; k < WORDS; k++) next[(size_t)i * WORDS + k] = nx[k];
  for (int a = 0; a < ACTIONS; a++) logits[(size_t)i * ACTIONS + a] = lg[a];
}

/* The game's step for n elements on `stream` (the engine's callback
 * contract). A is the request's action count: the game's own. */
static int game_device_step(const mctx_cuda_model *dm, cudaStream_t stream, int32_t n, int32_t A, int32_t E,
                            const int32_t *actions, const void *emb, float *reward, float *discount, float *logits,
                            float *value, void *next, mctx_status *st) {
  int blocks = (n + 63) / 64;
  if (dm->game == MCTX_CUDA_GAME_CONNECT4) {
    if (A != MCTX__C4_COLS || E != MCTX__C4_WORDS * 4)
      return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "connect4 has %d actions", MCTX__C4_COLS);
    game_step_kernel<mctx__c4, MCTX__C4_WORDS, MCTX__C4_COLS><<<blocks, 64, 0, stream>>>(
        n, dm->rollouts, dm->tactical, dm->tactical_rollouts, dm->seed, actions, (const uint32_t *)emb, reward,
        discount, logits, value, (uint32_t *)next);
  } else {
    if (A != MCTX__TTT_CELLS || E != MCTX__TTT_WORDS * 4)
      return mctx_status_set(st, MCTX_ESHAPE, "root_input.num_actions", "tictactoe has %d actions", MCTX__TTT_CELLS);
    game_step_kernel<mctx__ttt, MCTX__TTT_WORDS, MCTX__TTT_CELLS><<<blocks, 64, 0, stream>>>(
        n, dm->rollouts, dm->tactical, dm->tactical_rollouts, dm->seed, actions, (const uint32_t *)emb, reward,
        discount, logits, value, (uint32_t *)next);
  }
  return 0;
}

#endif
