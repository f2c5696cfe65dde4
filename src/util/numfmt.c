/* util/numfmt.c: number <-> text for JSON (see numfmt.h).
 *
 * Formatting: a float32 is scaled to a 9-digit integer in double precision
 * (exact enough: 9 significant digits always identify a float32), then the
 * fewest digits (1..9) that convert back to the same float are kept.
 * Parsing: up to 19 significant digits with a decimal exponent within +-22
 * take Clinger's fast path (one exact double operation); the rest go to
 * strtod. */
#include "util/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double P10[] = { 1e-64, 1e-63, 1e-62, 1e-61, 1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53, 1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64 };
#define P10_OFF 64
static inline double p10(int k) { return P10[k + P10_OFF]; }

static inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static size_t fmt_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

size_t mctx_fmt_i64(char *out, int64_t v) {
  size_t n = 0;
  uint64_t u = (uint64_t)v;
  if (v < 0) { out[n++] = '-'; u = 0 - u; }
  n += fmt_u64(out + n, u);
  out[n] = '\0';
  return n;
}

/* Writes digits (of count nd, no leading zero) times 10^(e10 - nd + 1) in
 * the style of %g: fixed for -5 <= e10 < 17, exponent otherwise. */
static size_t emit(char *out, int neg, const char *dig, int nd, int e10) {
  size_t n = 0;
  if (neg) out[n++] = '-';
  if (e10 >= -5 && e10 < 17) {
    if (e10 < 0) {
      out[n++] = '0'; out[n++] = '.';
      for (int k = 0; k < -e10 - 1; k++) out[n++] = '0';
      memcpy(out + n, dig, (size_t)nd); n += (size_t)nd;
    } else {
      for (int k = 0; k <= e10; k++) out[n++] = k < nd ? dig[k] : '0';
      if (nd > e10 + 1) {
        out[n++] = '.';
        memcpy(out + n, dig + e10 + 1, (size_t)(nd - e10 - 1));
        n += (size_t)(nd - e10 - 1);
      }
    }
  } else {
    out[n++] = dig[0];
    if (nd > 1) { out[n++] = '.'; memcpy(out + n, dig + 1, (size_t)(nd - 1)); n += (size_t)(nd - 1); }
    out[n++] = 'e';
    if (e10 < 0) { out[n++] = '-'; e10 = -e10; }
    n += fmt_u64(out + n, (uint64_t)e10);
  }
  out[n] = '\0';
  return n;
}

/* floor(log10(d)) for a positive finite d, from its binary exponent and one
 * table comparison. */
static int decimal_exponent(double d) {
  uint64_t bits;
  memcpy(&bits, &d, 8);
  int e2 = (int)((bits >> 52) & 0x7ff) - 1023;
  int e10 = (int)floor_div((int64_t)e2 * 78913, 262144);  /* e2 * log10(2) */
  if (e10 < -P10_OFF) e10 = -P10_OFF;
  if (e10 + 1 <= P10_OFF && d >= p10(e10 + 1)) e10++;
  while (e10 > -P10_OFF && d < p10(e10)) e10--;
  return e10;
}

static const char DIGITS2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v (< 10^9) with exactly n digits (leading zeros) into out. */
static void digits_n(char *out, uint32_t v, int n) {
  while (n >= 2) {
    uint32_t r = v % 100;
    v /= 100;
    n -= 2;
    memcpy(out + n, DIGITS2 + 2 * r, 2);
  }
  if (n == 1) out[0] = (char)('0' + v % 10);
}

static const uint32_t POW10U[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

size_t mctx_fmt_f32(char *out, float f) {
  uint32_t fb;
  memcpy(&fb, &f, 4);
  if (((fb >> 23) & 0xff) == 0xff) { memcpy(out, "null", 5); return 4; }
  int neg = (int)(fb >> 31);
  if ((fb & 0x7fffffffu) == 0) {
    if (neg) { memcpy(out, "-0.0", 5); return 4; }
    memcpy(out, "0.0", 4);
    return 3;
  }
  float af = neg ? -f : f;
  double d = (double)af;
  /* Small integers print exactly. */
  if (d < 1e9 && d == (double)(uint32_t)d) {
    size_t n = 0;
    if (neg) out[n++] = '-';
    n += fmt_u64(out + n, (uint64_t)d);
    out[n++] = '.'; out[n++] = '0'; out[n] = '\0';
    return n;
  }
  int e10 = decimal_exponent(d);
  /* Nine significant digits identify any float32; fewer are tried by
   * rounding those nine (6 to 8: fewer than 6 end in zeros of the 6-digit
   * form), keeping the first that reads back to f. */
  int sh = 8 - e10;
  double sc = sh >= 0 ? d * p10(sh) : d / p10(-sh);
  uint64_t m9 = (uint64_t)(sc + 0.5);
  if (m9 >= 1000000000u) { m9 = (m9 + 5) / 10; e10++; }
  uint32_t m = (uint32_t)m9;
  int p = 9;
  for (int q = 3; q >= 1; q--) {
    uint32_t div = POW10U[q];
    uint32_t mp = (m + div / 2) / div;
    int pp = 9 - q, ep = e10;
    if (mp >= POW10U[pp]) { mp /= 10; ep++; }  /* rounding carried into a new digit */
    int shp = pp - 1 - ep;
    double back = shp >= 0 ? (double)mp / p10(shp) : (double)mp * p10(-shp);
    if ((float)back == af) { m = mp; p = pp; e10 = ep; break; }
  }
  char dig[12];
  digits_n(dig, m, p);
  int nd = p;
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  return emit(out, neg, dig, nd, e10);
}

size_t mctx_fmt_f64(char *out, double d) {
  if (!isfinite(d)) { memcpy(out, "null", 5); return 4; }
  if (d == (double)(float)d) return mctx_fmt_f32(out, (float)d);
  if (fabs(d) < 1e15 && d == floor(d)) return mctx_fmt_i64(out, (int64_t)d);
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  size_t n = strlen(tmp);
  memcpy(out, tmp, n + 1);
  return n;
}

int mctx_parse_number(const char *s, size_t n, double *d, int64_t *iv, int *is_int) {
  size_t k = 0;
  int neg = 0;
  *is_int = 0;
  if (k < n && s[k] == '-') { neg = 1; k++; }
  if (k >= n) return -1;
  uint64_t m = 0;
  int nd = 0, dropped = 0, frac = 0, any = 0;
  int integral = 1;
  while (k < n && s[k] >= '0' && s[k] <= '9') {
    any = 1;
    if (nd < 19) { m = m * 10 + (uint64_t)(s[k] - '0'); if (m) nd++; }
    else dropped++;
    k++;
  }
  if (k < n && s[k] == '.') {
    integral = 0;
    k++;
    while (k < n && s[k] >= '0' && s[k] <= '9') {
      any = 1;
      if (nd < 19) { m = m * 10 + (uint64_t)(s[k] - '0'); if (m) nd++; frac++; }
      k++;
    }
  }
  if (!any) return -1;
  int ex = 0;
  if (k < n && (s[k] == 'e' || s[k] == 'E')) {
    integral = 0;
    k++;
    int eneg = 0;
    if (k < n && (s[k] == '+' || s[k] == '-')) { eneg = s[k] == '-'; k++; }
    if (k >= n) return -1;
    while (k < n && s[k] >= '0' && s[k] <= '9') {
      if (ex < 100000) ex = ex * 10 + (s[k] - '0');
      k++;
    }
    if (eneg) ex = -ex;
  }
  if (k != n) return -1;
  int e10 = ex - frac + dropped;
  if (integral && dropped == 0 && (neg ? m <= (uint64_t)1 << 63 : m <= (uint64_t)INT64_MAX)) {
    *is_int = 1;
    *iv = neg ? (int64_t)(0 - m) : (int64_t)m;
  }
  if (dropped == 0 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
    double v = (double)m;
    v = e10 < 0 ? v / p10(-e10) : v * p10(e10);
    *d = neg ? -v : v;
    return 0;
  }
  char tmp[400];
  if (n >= sizeof tmp) {
    char *heap = malloc(n + 1);
    if (!heap) return -1;
    memcpy(heap, s, n); heap[n] = '\0';
    *d = strtod(heap, NULL);
    free(heap);
  } else {
    memcpy(tmp, s, n); tmp[n] = '\0';
    *d = strtod(tmp, NULL);
  }
  return 0;
}
