/* fuzz/fuzz.h: what every fuzz target shares.
 *
 * Each fuzz/fuzz_*.c defines LLVMFuzzerTestOneInput (and, when it needs a
 * set-up, LLVMFuzzerInitialize). Built two ways (fuzz/CMakeLists.txt):
 *   - with clang and -fsanitize=fuzzer (make fuzz, build-fuzz/): libFuzzer
 *     drives it;
 *   - in every ordinary build: replay_main.c drives it over the seed corpus
 *     and the saved reproducers of fuzz/corpus/<target>/ (ctest
 *     fuzz/replay-<target>), so each bug the fuzzers found stays fixed.
 *
 * FUZZ_CHECK is an invariant of the code under test: when it fails the
 * target prints what and aborts, which libFuzzer reports as a crash. */
#ifndef MCTX_FUZZ_H
#define MCTX_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                       \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                 \
      fputc('\n', stderr);                                                          \
      abort();                                                                      \
    }                                                                               \
  } while (0)

/* A byte reader over the input, in the manner of libFuzzer's
 * FuzzedDataProvider: fixed-size choices from the front, the rest as text. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

static inline unsigned fuzz_byte(fuzz_in *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

/* The next piece up to (not including) byte `sep`, or the rest. */
static inline size_t fuzz_piece(fuzz_in *in, uint8_t sep, const uint8_t **out) {
  *out = in->p;
  size_t i = 0;
  while (i < in->n && in->p[i] != sep) i++;
  size_t len = i;
  if (i < in->n) i++; /* the separator */
  in->p += i;
  in->n -= i;
  return len;
}

/* A NUL-terminated copy of at most cap-1 bytes. */
static inline void fuzz_cstr(const uint8_t *p, size_t n, char *out, size_t cap) {
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; i++) out[i] = (char)p[i];
  out[n] = '\0';
}

/* A folder for the target's files, made once per process (under /dev/shm
 * when there is one, so that fsync costs nothing) and removed at exit. */
const char *fuzz_workdir(void);

#endif
