/* fuzz/fuzz_tree.c: the reader of stored search trees (src/service/trees.c)
 * and the zstd decompression in front of it (src/store/store.c).
 *
 * GET /api/v1/searches/{id}/tree decompresses the stored bytes (at most
 * --max-response-bytes) and cuts the member "nested" or "arrays" out of the
 * document with a small scanner (find_member), whose bytes go into the
 * answer as they are. This target includes trees.c to reach that scanner.
 *
 * Input: the first byte chooses the form; odd: the rest is a zstd frame,
 * decompressed with a 1 MiB cap (refusals must say why; output must respect
 * the cap); even: the rest is the document itself. On the document the
 * scanner is checked against util/json: whenever the document is
 * valid JSON, a member the scanner finds must be valid JSON equal to the
 * parser's value of that member (in any document, what the service would
 * send passes mctx_json_valid, which must agree with the parser), and (when no key has escapes, and no
 * vertical tab or form feed stands for whitespace) a member the parser
 * finds must be found. */
#include "../src/service/trees.c"

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static int json_equal(const mctx_json *a, const mctx_json *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
    case MCTX_JSON_NULL: return 1;
    case MCTX_JSON_BOOL: return a->boolean == b->boolean;
    case MCTX_JSON_NUMBER:
      if (a->is_int != b->is_int) return 0;
      return a->is_int ? a->i == b->i : memcmp(&a->u.num, &b->u.num, sizeof(double)) == 0;
    case MCTX_JSON_STRING: return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
    case MCTX_JSON_ARRAY:
      if (a->len != b->len) return 0;
      for (uint32_t i = 0; i < a->len; i++)
        if (!json_equal(&a->u.items[i], &b->u.items[i])) return 0;
      return 1;
    case MCTX_JSON_OBJECT:
      if (a->len != b->len) return 0;
      for (uint32_t i = 0; i < a->len; i++) {
        const mctx_json_member *x = &a->u.members[i], *y = &b->u.members[i];
        if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0) return 0;
        if (!json_equal(&x->value, &y->value)) return 0;
      }
      return 1;
    default: return 0;
  }
}

/* The first member called `key` of the object (a duplicate key is the
 * first one, as the scanner takes it). */
static const mctx_json *first_member(const mctx_json *obj, const char *key) {
  size_t n = strlen(key);
  for (uint32_t i = 0; i < obj->len; i++)
    if (obj->u.members[i].key_len == n && memcmp(obj->u.members[i].key, key, n) == 0) return &obj->u.members[i].value;
  return NULL;
}

static void check_document(const char *doc, size_t len) {
  mctx_json_limits lim = {256, 0};
  mctx_status st;
  mctx_json_doc *whole = mctx_json_parse(doc, len, &lim, &st);
  const mctx_json *root = whole ? mctx_json_root(whole) : NULL;
  /* Where the scanner may rightly differ from the parser: escaped keys
   * (the service's writer never escapes a plain key), and vertical tab or
   * form feed as whitespace (YAJL, the parser before util/json's own,
   * accepted them; JSON and the writer do not). */
  int escapes = memchr(doc, '\\', len) != NULL || memchr(doc, '\v', len) != NULL || memchr(doc, '\f', len) != NULL;
  static const char *const keys[] = {"nested", "arrays", "format", "request_id"};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    size_t vs = 0, ve = 0;
    int found = find_member(doc, len, keys[k], &vs, &ve) == 0;
    if (found) FUZZ_CHECK(vs < ve && ve <= len, "member %s at [%zu, %zu) of %zu", keys[k], vs, ve, len);
    if (!root || root->type != MCTX_JSON_OBJECT) continue;
    const mctx_json *want = first_member(root, keys[k]);
    if (!found) {
      FUZZ_CHECK(!want || escapes, "the parser finds member %s, the scanner does not", keys[k]);
      continue;
    }
    mctx_json_doc *part = mctx_json_parse(doc + vs, ve - vs, &lim, &st);
    /* What the service sends: the member only when the validator passes it,
     * and the validator agrees with the parser. */
    mctx_status vst;
    int valid = mctx_json_valid(doc + vs, ve - vs, 256, &vst) == 0;
    FUZZ_CHECK(valid == (part != NULL) || (valid && st.code == MCTX_ELIMIT),
               "member %s: the validator says %d, the parser %d ('%.*s')", keys[k], valid,
               part != NULL, (int)(ve - vs > 80 ? 80 : ve - vs), doc + vs);
    /* In a JSON document, what the scanner finds is JSON. */
    FUZZ_CHECK(part != NULL || !root, "member %s: the scanner's bytes '%.*s' are not JSON (%s)", keys[k],
               (int)(ve - vs > 80 ? 80 : ve - vs), doc + vs, st.reason);
    if (!part) continue;
    if (want && !escapes)
      FUZZ_CHECK(json_equal(mctx_json_root(part), want), "member %s: the scanner's value differs from the parser's",
                 keys[k]);
    mctx_json_doc_free(part);
  }
  mctx_json_doc_free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  if (data[0] & 1) {
    void *out = NULL;
    size_t out_len = 0;
    mctx_status st;
    mctx_status_clear(&st);
    const size_t cap = (size_t)1 << 20;
    int rc = mctx_store_zstd_decompress(p, n, cap, &out, &out_len, &st);
    if (rc != 0) {
      FUZZ_CHECK(out == NULL && st.reason[0], "a refused frame without a reason, or with output");
      return 0;
    }
    FUZZ_CHECK(out_len <= cap, "decompressed %zu bytes past the cap of %zu", out_len, cap);
    /* exact-size copy: the scanner must stay inside what it was given */
    char *doc = malloc(out_len ? out_len : 1);
    if (doc) {
      memcpy(doc, out, out_len);
      check_document(doc, out_len);
    }
    free(doc);
    free(out);
    return 0;
  }
  check_document((const char *)p, n);
  return 0;
}
