/* service/auth.h: who is calling, and what they may do.
 *
 * Clients present an API key (X-API-Key: KEY) or a bearer token
 * (Authorization: Bearer JWT) that the service issued for a key (HS256, with
 * an expiry). Keys carry a role, "admin" or "user"; admin may do everything
 * user may. Keys are kept as SHA-256 digests and a presented key is compared
 * with every configured digest in constant time. With no keys configured the
 * service is open: every caller is "anonymous" with the admin role. */
#ifndef MCTX_SERVICE_AUTH_H
#define MCTX_SERVICE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"

enum { MCTX_ROLE_NONE = 0, MCTX_ROLE_USER = 1, MCTX_ROLE_ADMIN = 2 };

typedef struct mctx_principal {
  char name[64];      /* the key's name, the token's subject, or "anonymous" */
  int role;           /* MCTX_ROLE_* */
  const char *via;    /* "api_key", "jwt" or "open" (static) */
} mctx_principal;

typedef struct mctx_auth mctx_auth;

/* Builds the key table from `keys` ("key:role[:name],...", may be empty) and
 * the file `keys_file` (may be NULL or empty: one entry a line, '#'
 * comments). `jwt_secret` empty: a random secret. Returns NULL with st filled
 * on a malformed entry (the entry's position, never the key itself). */
mctx_auth *mctx_auth_new(const char *keys, const char *keys_file, const char *jwt_secret, int jwt_ttl_s,
                         mctx_status *st);
/* Frees it (secrets are wiped first). NULL is a harmless no-op. */
void mctx_auth_free(mctx_auth *a);

/* Whether keys are configured (0: the service is open). */
int mctx_auth_enabled(const mctx_auth *a);
/* How many keys; whether the JWT secret was generated at random. */
size_t mctx_auth_key_count(const mctx_auth *a);
int mctx_auth_secret_is_random(const mctx_auth *a);

/* Identifies a caller from the X-API-Key and Authorization header values
 * (either may be NULL). Returns 0 with *out filled, or MCTX_EINVALID with st
 * saying why (missing, unknown key, bad or expired token): a 401. */
int mctx_auth_identify(const mctx_auth *a, const char *api_key, const char *authorization, mctx_principal *out,
                       mctx_status *st);

/* Issues a token for p that expires in ttl_s seconds (<= 0: the configured
 * lifetime). Returns a malloc'd string (free() it), or NULL. *expires_at
 * gets the expiry, Unix seconds. */
char *mctx_auth_issue(const mctx_auth *a, const mctx_principal *p, int ttl_s, int64_t *expires_at);
int mctx_auth_ttl(const mctx_auth *a);

/* "admin", "user" or "none". */
const char *mctx_role_name(int role);

#endif
