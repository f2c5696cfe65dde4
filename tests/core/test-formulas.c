/* tests/core/test-formulas.c: mctx's unit tests of sequential halving,
 * q-transforms and the policies' helpers (seq_halving_test.py,
 * qtransforms_test.py, policies_test.py), ported with their expected
 * numbers, over the shared formulas of core/node-impl.h. */
#include "test.h"

#include "core/node-impl.h"
#include "core/reduce-impl.h"

static void check_visits(const int32_t *want, int32_t m, int32_t n) {
  for (int32_t i = 0; i < n; i++) {
    int32_t got = mctx__considered_visit(m, n, i);
    if (got != want[i]) FAIL_AT("m=%d n=%d index %d: want %d got %d", m, n, i, want[i], got);
  }
}

TEST(considered_min_sims) {
  const int32_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6};
  check_visits(want, 8, 24);
}

TEST(considered_extra_sims) {
  const int32_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                          4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                          11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17};
  check_visits(want, 8, 47);
}

TEST(considered_less_sims) {
  const int32_t want[] = {0, 0};
  check_visits(want, 8, 2);
}

TEST(considered_less_sims2) {
  const int32_t want[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2};
  check_visits(want, 8, 13);
}

TEST(considered_not_power_of_2) {
  const int32_t want[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8};
  check_visits(want, 7, 24);
}

TEST(considered_action0_and_1) {
  int32_t want[16];
  for (int i = 0; i < 16; i++) want[i] = i;
  check_visits(want, 0, 16);
  check_visits(want, 1, 16);
}

/* The direct formula agrees with mctx's generating loop for many shapes. */
TEST(considered_matches_generator) {
  for (int32_t m = 2; m <= 40; m++) {
    for (int32_t n = 1; n <= 300; n += 7) {
      int32_t seq[300], visits[64] = {0};
      int32_t len = 0, k = m, log2max = 0;
      while ((1 << log2max) < m) log2max++;
      while (len < n) {
        int32_t extra = (int32_t)((double)n / (double)(log2max * k));
        if (extra < 1) extra = 1;
        for (int32_t e = 0; e < extra; e++) {
          for (int32_t i = 0; i < k && len < n; i++) seq[len++] = visits[i];
          for (int32_t i = 0; i < k; i++) visits[i]++;
        }
        k = k / 2 > 2 ? k / 2 : 2;
      }
      check_visits(seq, m, n);
      if (mctx_test_failed_) return;
    }
  }
}

/* qtransforms_test.test_mix_value */
TEST(mix_value) {
  float ninf = -INFINITY;
  float logits[4] = {ninf, -1.0f, 2.0f, ninf};
  float probs[4];
  mctx__softmax(logits, probs, 4);
  int32_t visits[4] = {0, 4, 4, 0};
  float q[4] = {20.0f, 3.0f, -1.0f, 10.0f};
  for (int i = 0; i < 4; i++) q[i] = (float)(10.0 / 54.0) * q[i];
  float tmp[4];
  for (int i = 0; i < 4; i++) tmp[i] = visits[i] > 0 ? mctx__mix_prior(probs[i]) : 0.0f;
  float sum_probs = mctx__sum_canon(tmp, 4);
  for (int i = 0; i < 4; i++) tmp[i] = visits[i] > 0 ? mctx__mix_prior(probs[i]) * q[i] / sum_probs : 0.0f;
  float mix = mctx__mixed_value(-0.8f, 8, mctx__sum_canon(tmp, 4));
  double want = 1.0 / 9.0 * (-0.8 + 8.0 * (probs[1] * q[1] + probs[2] * q[2]));
  ASSERT_NEAR(mix, want, 1e-6);
}

/* qtransforms_test.test_mix_value_with_zero_visits: no division by zero. */
TEST(mix_value_with_zero_visits) {
  float mix = mctx__mixed_value(-0.8f, 0, 0.0f);
  ASSERT_NEAR(mix, -0.8f, 0);
  ASSERT(!isnan(mix));
}

/* policies_test.test_apply_temperature_* */
TEST(apply_temperature) {
  float logits[6] = {0, 1, 2, 3, 4, 5};
  for (int i = 0; i < 6; i++) ASSERT_NEAR(mctx__temper(logits[i], 5.0f, 1.0f), logits[i] - 5.0f, 0);
  for (int i = 0; i < 6; i++) ASSERT_NEAR(mctx__temper(logits[i], 5.0f, 2.0f), (logits[i] - 5.0f) / 2.0f, 0);
  const double zero_want[4] = {-2.552118e+38, -1.701412e+38, -8.507059e+37, 0.0};
  for (int i = 0; i < 4; i++) {
    float got = mctx__temper(logits[i], 3.0f, 0.0f);
    ASSERT(fabs(got - zero_want[i]) <= 1e-3 * fabs(zero_want[i]));
  }
  float big[4] = {100.0f, 3.4028235e+38f, -INFINITY, -3.4028235e+38f};
  float m = mctx__max_f32(big, 4);
  ASSERT(mctx__temper(big[0], m, 0.0f) == -INFINITY);
  ASSERT(mctx__temper(big[1], m, 0.0f) == 0.0f);
  ASSERT(mctx__temper(big[2], m, 0.0f) == -INFINITY);
  ASSERT(mctx__temper(big[3], m, 0.0f) == -INFINITY);
}

/* policies_test.test_mask_invalid_actions and test_mask_all_invalid_actions */
TEST(mask_invalid_actions) {
  float logits[4] = {1e6f, -INFINITY, 1e6f + 1.0f, -100.0f};
  int inv[4] = {0, 1, 0, 1};
  float m = mctx__max_f32(logits, 4), masked[4], probs[4];
  for (int i = 0; i < 4; i++) masked[i] = mctx__mask_logit(logits[i], m, inv[i]);
  mctx__softmax(masked, probs, 4);
  float two[2] = {0.0f, 1.0f}, vp[2];
  mctx__softmax(two, vp, 2);
  ASSERT_NEAR(probs[0], vp[0], 1e-6);
  ASSERT_NEAR(probs[1], 0, 0);
  ASSERT_NEAR(probs[2], vp[1], 1e-6);
  ASSERT_NEAR(probs[3], 0, 0);

  float all[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  m = mctx__max_f32(all, 4);
  for (int i = 0; i < 4; i++) masked[i] = mctx__mask_logit(all[i], m, 1);
  mctx__softmax(masked, probs, 4);
  for (int i = 0; i < 4; i++) ASSERT_NEAR(probs[i], 0.25, 1e-7);
}

TEST(canonical_sum_order) {
  /* 40 values: lanes 0..7 hold two, the rest one; the butterfly combines
   * them pairwise. A different order gives a different float here. */
  float x[40];
  for (int i = 0; i < 40; i++) x[i] = (i % 3 == 0 ? 1e8f : 1.0f) * (float)(i + 1) / 7.0f;
  float p[32];
  for (int l = 0; l < 32; l++) p[l] = 0.0f;
  for (int i = 0; i < 40; i++) p[i % 32] = p[i % 32] + x[i];
  float want = mctx__lanes_total(p);
  ASSERT(mctx__sum_canon(x, 40) == want);
}

TEST(float_math_accuracy) {
  /* expf and logf within 2 ulp of libm's over a sweep. */
  for (float x = -80.0f; x < 80.0f; x += 0.0137f) {
    float a = mctx_expf(x), b = expf(x);
    ASSERT(fabsf(a - b) <= 2.5e-7f * fabsf(b));
  }
  for (float x = 1e-30f; x < 1e30f; x *= 1.37f) {
    float a = mctx_logf(x), b = logf(x);
    ASSERT(fabsf(a - b) <= 2.5e-7f * fabsf(b) + 1e-7f);
  }
  ASSERT(mctx_logf(0.0f) == -INFINITY);
  ASSERT(isnan(mctx_logf(-1.0f)));
  ASSERT(mctx_expf(-200.0f) == 0.0f);
  ASSERT(mctx_expf(200.0f) == INFINITY);
  ASSERT_NEAR(mctx_log1pf(1e-10f), 1e-10f, 1e-16);
}
