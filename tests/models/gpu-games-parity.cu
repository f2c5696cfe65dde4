// tests/models/gpu-games-parity.cu: the game rules of
// src/models/connect4-impl.h and tictactoe-impl.h compiled by nvcc for the
// device give the same bits as on the host: steps, prior logits and rollout
// values for positions from seeded random games. Not part of the CMake build
// (the CUDA game models are the lead's); run it on a machine with a GPU:
//
//   nvcc -O2 -std=c++17 -I src -I include tests/models/gpu-games-parity.cu -o /tmp/gpu-games-parity
//   /tmp/gpu-games-parity          (prints "ok: N positions" and exits 0, or the first difference)
#include <cstdio>
#include <cstring>
#include <vector>

#include "models/connect4-impl.h"
#include "models/tictactoe-impl.h"

#define CHECK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); return 2; } } while (0)

struct Out {
  uint32_t next[6];
  float reward, discount, value;
  float logits[9];
};

MCTX_HD static void eval_c4(const uint32_t *w, int32_t a, int tactical, Out *o) {
  mctx__c4 s, t;
  mctx__c4_load(w, &s);
  mctx__c4_step(&s, a, &t, &o->reward, &o->discount);
  mctx__c4_logits(&t, tactical, o->logits);
  o->value = mctx__c4_value(&t, 16, tactical, 7u);
  mctx__c4_store(&t, o->next);
}

MCTX_HD static void eval_ttt(const uint32_t *w, int32_t a, int tactical, Out *o) {
  mctx__ttt s, t;
  mctx__ttt_load(w, &s);
  mctx__ttt_step(&s, a, &t, &o->reward, &o->discount);
  mctx__ttt_logits(&t, tactical, o->logits);
  o->value = mctx__ttt_value(&t, 16, tactical, 7u);
  mctx__ttt_store(&t, o->next);
}

__global__ void kernel(int n, const uint32_t *pos, const int32_t *acts, const int *game, Out *out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int tactical = i & 1;
  if (game[i]) eval_c4(pos + 6 * i, acts[i], tactical, &out[i]);
  else eval_ttt(pos + 6 * i, acts[i], tactical, &out[i]);
}

int main() {
  const int n = 20000;
  std::vector<uint32_t> pos(6 * n, 0);
  std::vector<int32_t> acts(n);
  std::vector<int> game(n);
  uint32_t rng = 12345;
  for (int i = 0; i < n; i++) {
    game[i] = i % 3 != 0;  // two thirds connect four
    int plies = (int)mctx__game_below(&rng, game[i] ? 40 : 9);
    if (game[i]) {
      mctx__c4 s;
      mctx__c4_init(&s);
      for (int k = 0; k < plies && s.status == MCTX__GAME_ONGOING; k++) {
        uint8_t legal[7];
        mctx__c4_legal(&s, legal);
        int32_t c;
        do c = (int32_t)mctx__game_below(&rng, 7); while (!legal[c]);
        mctx__c4_play(&s, c);
      }
      mctx__c4_store(&s, &pos[6 * i]);
      acts[i] = (int32_t)mctx__game_below(&rng, 7);
    } else {
      mctx__ttt s;
      mctx__ttt_init(&s);
      for (int k = 0; k < plies && s.status == MCTX__GAME_ONGOING; k++) {
        uint8_t legal[9];
        mctx__ttt_legal(&s, legal);
        int32_t c;
        do c = (int32_t)mctx__game_below(&rng, 9); while (!legal[c]);
        mctx__ttt_play(&s, c);
      }
      mctx__ttt_store(&s, &pos[6 * i]);
      acts[i] = (int32_t)mctx__game_below(&rng, 9);
    }
  }
  std::vector<Out> host(n), dev(n);
  memset(host.data(), 0, n * sizeof(Out));
  for (int i = 0; i < n; i++) {
    if (game[i]) eval_c4(&pos[6 * i], acts[i], i & 1, &host[i]);
    else eval_ttt(&pos[6 * i], acts[i], i & 1, &host[i]);
  }
  uint32_t *dpos;
  int32_t *dacts;
  int *dgame;
  Out *dout;
  CHECK(cudaMalloc(&dpos, pos.size() * 4));
  CHECK(cudaMalloc(&dacts, n * 4));
  CHECK(cudaMalloc(&dgame, n * sizeof(int)));
  CHECK(cudaMalloc(&dout, n * sizeof(Out)));
  CHECK(cudaMemset(dout, 0, n * sizeof(Out)));
  CHECK(cudaMemcpy(dpos, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dacts, acts.data(), n * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dgame, game.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  kernel<<<(n + 127) / 128, 128>>>(n, dpos, dacts, dgame, dout);
  CHECK(cudaGetLastError());
  CHECK(cudaMemcpy(dev.data(), dout, n * sizeof(Out), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; i++)
    if (memcmp(&host[i], &dev[i], sizeof(Out)) != 0) {
      fprintf(stderr, "position %d (%s, action %d): host value %.9g reward %g, device value %.9g reward %g\n", i,
              game[i] ? "connect4" : "tictactoe", acts[i], host[i].value, host[i].reward, dev[i].value, dev[i].reward);
      return 1;
    }
  printf("ok: %d positions, host and device agree bit for bit\n", n);
  return 0;
}
