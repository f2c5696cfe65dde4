/* service/auth.c: API keys and bearer tokens (auth.h).
 *
 * Keys are parsed once at start into a table of SHA-256 digests with a role
 * and a name; the key text itself is not kept. A presented key is hashed and
 * compared with every entry (CRYPTO_memcmp, no early exit), so the time taken
 * does not depend on how much of a key matched. Tokens are HS256 JWTs made
 * and checked by libjwt; the algorithm, issuer, subject, role and expiry are
 * checked here, since libjwt 1.10 checks only the signature. */
#include "service/auth.h"

#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEYS 1024
#define ISSUER "mctx"

typedef struct key_entry {
  unsigned char digest[32];
  int role;
  char name[64];
} key_entry;

struct mctx_auth {
  key_entry *keys;
  size_t nkeys;
  unsigned char secret[256];
  size_t secret_len;
  int secret_random;
  int ttl_s;
};

const char *mctx_role_name(int role) {
  return role == MCTX_ROLE_ADMIN ? "admin" : role == MCTX_ROLE_USER ? "user" : "none";
}

static int role_parse(const char *s, size_t n) {
  if (n == 5 && memcmp(s, "admin", 5) == 0) return MCTX_ROLE_ADMIN;
  if (n == 4 && memcmp(s, "user", 4) == 0) return MCTX_ROLE_USER;
  return MCTX_ROLE_NONE;
}

static void sha256(const void *p, size_t n, unsigned char out[32]) {
  unsigned int len = 32;
  EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static int name_ok(const char *s, size_t n) {
  if (n == 0 || n >= 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == '@'))
      return 0;
  }
  return 1;
}

/* Adds one "key:role[:name]" entry (n bytes, trimmed). `where` names it in
 * errors ("MCTX_API_KEYS entry 2"). */
static int add_entry(mctx_auth *a, const char *s, size_t n, const char *where, mctx_status *st) {
  while (n && (*s == ' ' || *s == '\t')) { s++; n--; }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
  if (n == 0) return 0;
  const char *c1 = memchr(s, ':', n);
  if (!c1 || c1 == s)
    return mctx_status_set(st, MCTX_EINVALID, "api_keys", "%s: expected key:role[:name]", where);
  size_t klen = (size_t)(c1 - s);
  if (klen < 8)
    return mctx_status_set(st, MCTX_EINVALID, "api_keys", "%s: a key needs at least 8 characters", where);
  const char *rs = c1 + 1;
  size_t rest = n - klen - 1;
  const char *c2 = memchr(rs, ':', rest);
  size_t rlen = c2 ? (size_t)(c2 - rs) : rest;
  int role = role_parse(rs, rlen);
  if (role == MCTX_ROLE_NONE)
    return mctx_status_set(st, MCTX_EINVALID, "api_keys", "%s: role must be admin or user", where);
  if (a->nkeys == MAX_KEYS)
    return mctx_status_set(st, MCTX_ELIMIT, "api_keys", "more than %d keys", MAX_KEYS);
  key_entry *e = &a->keys[a->nkeys];
  if (c2) {
    size_t nlen = rest - rlen - 1;
    if (!name_ok(c2 + 1, nlen))
      return mctx_status_set(st, MCTX_EINVALID, "api_keys",
                             "%s: a name has 1 to 63 characters of [A-Za-z0-9._@-]", where);
    memcpy(e->name, c2 + 1, nlen);
    e->name[nlen] = '\0';
  } else {
    snprintf(e->name, sizeof e->name, "%s-%zu", mctx_role_name(role), a->nkeys + 1);
  }
  sha256(s, klen, e->digest);
  for (size_t i = 0; i < a->nkeys; i++)
    if (CRYPTO_memcmp(a->keys[i].digest, e->digest, 32) == 0)
      return mctx_status_set(st, MCTX_EINVALID, "api_keys", "%s: the same key is listed twice", where);
  e->role = role;
  a->nkeys++;
  return 0;
}

static int add_list(mctx_auth *a, const char *list, char sep, const char *origin, mctx_status *st) {
  int idx = 0;
  const char *p = list;
  while (*p) {
    const char *end = strchr(p, sep);
    size_t n = end ? (size_t)(end - p) : strlen(p);
    idx++;
    int comment = 0;
    for (size_t i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '#'); i++)
      if (p[i] == '#') { comment = 1; break; }
    if (!comment) {
      char where[600];
      snprintf(where, sizeof where, "%s %s %d", origin, sep == ',' ? "entry" : "line", idx);
      if (add_entry(a, p, n, where, st) != 0) return st->code;
    }
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

mctx_auth *mctx_auth_new(const char *keys, const char *keys_file, const char *jwt_secret, int jwt_ttl_s,
                         mctx_status *st) {
  mctx_auth *a = calloc(1, sizeof *a);
  if (!a) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  a->keys = calloc(MAX_KEYS, sizeof *a->keys);
  if (!a->keys) { free(a); mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  a->ttl_s = jwt_ttl_s > 0 ? jwt_ttl_s : 3600;
  if (keys && *keys && add_list(a, keys, ',', "MCTX_API_KEYS", st) != 0) goto fail;
  if (keys_file && *keys_file) {
    FILE *f = fopen(keys_file, "r");
    if (!f) { mctx_status_set(st, MCTX_EIO, "api_keys_file", "cannot open %s", keys_file); goto fail; }
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    int big = !feof(f);
    fclose(f);
    if (big) { mctx_status_set(st, MCTX_ELIMIT, "api_keys_file", "%s is larger than 64 KiB", keys_file); goto fail; }
    text[n] = '\0';
    int rc = add_list(a, text, '\n', keys_file, st);
    OPENSSL_cleanse(text, sizeof text);
    if (rc != 0) goto fail;
  }
  if (jwt_secret && *jwt_secret) {
    size_t n = strlen(jwt_secret);
    if (n > sizeof a->secret) n = sizeof a->secret;
    memcpy(a->secret, jwt_secret, n);
    a->secret_len = n;
  } else {
    if (RAND_bytes(a->secret, 32) != 1) {
      mctx_status_set(st, MCTX_EINTERNAL, "jwt_secret", "no random bytes for a JWT secret");
      goto fail;
    }
    a->secret_len = 32;
    a->secret_random = 1;
  }
  return a;
fail:
  mctx_auth_free(a);
  return NULL;
}

void mctx_auth_free(mctx_auth *a) {
  if (!a) return;
  if (a->keys) OPENSSL_cleanse(a->keys, MAX_KEYS * sizeof *a->keys);
  free(a->keys);
  OPENSSL_cleanse(a, sizeof *a);
  free(a);
}

int mctx_auth_enabled(const mctx_auth *a) { return a->nkeys > 0; }
size_t mctx_auth_key_count(const mctx_auth *a) { return a->nkeys; }
int mctx_auth_secret_is_random(const mctx_auth *a) { return a->secret_random; }
int mctx_auth_ttl(const mctx_auth *a) { return a->ttl_s; }

/* Finds the entry of a presented key without an early exit. Returns its
 * index or -1. */
static long find_key(const mctx_auth *a, const char *key) {
  unsigned char d[32];
  sha256(key, strlen(key), d);
  long found = -1;
  for (size_t i = 0; i < a->nkeys; i++) {
    long eq = CRYPTO_memcmp(d, a->keys[i].digest, 32) == 0; /* 1 or 0 */
    long mask = -eq;                                           /* all ones or zero */
    found = (found & ~mask) | ((long)i & mask);
  }
  return found;
}

static int check_token(const mctx_auth *a, const char *token, mctx_principal *out, mctx_status *st) {
  if (strlen(token) > 4096) return mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token is too long");
  jwt_t *jwt = NULL;
  if (jwt_decode(&jwt, token, a->secret, (int)a->secret_len) != 0 || !jwt)
    return mctx_status_set(st, MCTX_EINVALID, "Authorization", "the bearer token is malformed or its signature is wrong");
  int rc = 0;
  const char *iss, *sub, *role;
  long exp;
  if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token must be signed with HS256");
  } else if (!(iss = jwt_get_grant(jwt, "iss")) || strcmp(iss, ISSUER) != 0) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token was not issued by this service");
  } else if ((exp = jwt_get_grant_int(jwt, "exp")) <= 0) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token has no expiry");
  } else if ((int64_t)exp <= (int64_t)time(NULL)) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token has expired");
  } else if (!(sub = jwt_get_grant(jwt, "sub")) || !name_ok(sub, strlen(sub))) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token has no valid subject");
  } else if (!(role = jwt_get_grant(jwt, "role")) || role_parse(role, strlen(role)) == MCTX_ROLE_NONE) {
    rc = mctx_status_set(st, MCTX_EINVALID, "Authorization", "the token has no valid role");
  } else {
    snprintf(out->name, sizeof out->name, "%s", sub);
    out->role = role_parse(role, strlen(role));
    out->via = "jwt";
  }
  jwt_free(jwt);
  return rc;
}

int mctx_auth_identify(const mctx_auth *a, const char *api_key, const char *authorization, mctx_principal *out,
                       mctx_status *st) {
  memset(out, 0, sizeof *out);
  if (a->nkeys == 0) {
    strcpy(out->name, "anonymous");
    out->role = MCTX_ROLE_ADMIN;
    out->via = "open";
    return 0;
  }
  if (api_key && *api_key) {
    if (strlen(api_key) > 1024) return mctx_status_set(st, MCTX_EINVALID, "X-API-Key", "the API key is too long");
    long i = find_key(a, api_key);
    if (i < 0) return mctx_status_set(st, MCTX_EINVALID, "X-API-Key", "the API key is not valid");
    snprintf(out->name, sizeof out->name, "%s", a->keys[i].name);
    out->role = a->keys[i].role;
    out->via = "api_key";
    return 0;
  }
  if (authorization && *authorization) {
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
      return mctx_status_set(st, MCTX_EINVALID, "Authorization", "expected 'Authorization: Bearer <token>'");
    const char *tok = authorization + 7;
    while (*tok == ' ') tok++;
    return check_token(a, tok, out, st);
  }
  return mctx_status_set(st, MCTX_EINVALID, "X-API-Key",
                         "authentication required: send X-API-Key or Authorization: Bearer <token>");
}

char *mctx_auth_issue(const mctx_auth *a, const mctx_principal *p, int ttl_s, int64_t *expires_at) {
  if (ttl_s <= 0) ttl_s = a->ttl_s;
  int64_t now = (int64_t)time(NULL);
  jwt_t *jwt = NULL;
  if (jwt_new(&jwt) != 0) return NULL;
  char *tok = NULL;
  if (jwt_add_grant(jwt, "iss", ISSUER) == 0 && jwt_add_grant(jwt, "sub", p->name) == 0 &&
      jwt_add_grant(jwt, "role", mctx_role_name(p->role)) == 0 && jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
      jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s)) == 0 &&
      jwt_set_alg(jwt, JWT_ALG_HS256, a->secret, (int)a->secret_len) == 0)
    tok = jwt_encode_str(jwt);
  jwt_free(jwt);
  if (tok && expires_at) *expires_at = now + ttl_s;
  return tok;
}
