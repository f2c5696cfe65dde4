/* fuzz/fuzz_http.c: the whole request path of `mctx serve`, in one process.
 *
 * The service's pipeline (route, authentication, role, limits, body checks,
 * the handlers) runs on libmicrohttpd's connection objects: a handler reads
 * its headers and query through the connection, so there is no way to call
 * it without one. This target therefore starts the real service
 * (mctx_server_start: SQLite in a temporary folder, one worker, small
 * limits, API keys on) on a loopback port inside the fuzzer's process, and
 * sends each input over a fresh connection; the server's threads are
 * instrumented like the target, so coverage and sanitizer reports include
 * them.
 *
 * Input: the first byte chooses raw or structured. Raw (1 in 8): the bytes
 * are sent as they are and the connection half-closed (libmicrohttpd's
 * parser, oversized heads, garbage). Structured: further bytes choose the
 * method, one of the routes of the table (its {params} filled from the
 * input) or a path from the input, the credentials (none, the admin key,
 * the user key, a valid token, or a header from the input), the content
 * type and a few headers; then newline-separated pieces give the path (or
 * path parameter), the query string, an extra header, X-Request-ID and
 * X-Request-Timeout-Ms; the rest is the body, sent with its Content-Length
 * or chunked. The request is always well framed, so the service answers at
 * once and the fuzzer reaches the handlers.
 *
 * Checks: every structured request is answered within 60 s with an HTTP/1.1
 * status (raw bytes may get no answer: they are given 150 ms);
 * a JSON answer parses, and an error envelope carries its own status; a
 * route that needs a key never succeeds without one, and an admin route
 * never for the user key. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "mctx/json.h"
#include "service/log.h"
#include "service/server.h"
#include "util/buf.h"

#define ADMIN_KEY "fuzz-admin-key-0001"
#define USER_KEY "fuzz-user-key-00001"

static mctx_server *g_srv;
static int g_port;
static char g_token[1024];
static const mctx_route *g_routes;
static size_t g_nroutes;

static void stop_server(void) {
  mctx_server *s = g_srv;
  g_srv = NULL;
  if (s) {
    mctx_server_drain(s);
    mctx_server_stop(s);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  const char *dir = fuzz_workdir();
  mctx_svc_config c;
  mctx_svc_config_default(&c);
  snprintf(c.host, sizeof c.host, "127.0.0.1");
  c.port = 0;
  snprintf(c.db_url, sizeof c.db_url, "sqlite:%s/mctx.db", dir);
  snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
  snprintf(c.engine, sizeof c.engine, "cpu");
  c.engine_threads = 1;
  c.workers = 1;
  c.http_threads = 1;
  c.limits.max_batch_size = 16;
  c.limits.max_num_actions = 64;
  c.limits.max_num_simulations = 64;
  c.limits.max_tree_bytes = (size_t)4 << 20;
  c.max_body_bytes = 64 << 10;
  c.max_body_total = 1 << 20;
  c.max_response_bytes = (size_t)4 << 20;
  c.queue_size = 64;
  c.request_timeout_ms = 5000;
  c.idle_timeout_s = 5;
  c.drain_timeout_ms = 2000;
  c.tasks_max = 64;
  c.task_ttl_s = 5;
  c.tasks_max_bytes = 1 << 20;
  snprintf(c.api_keys, sizeof c.api_keys, "%s:admin:ops,%s:user:alice", ADMIN_KEY, USER_KEY);
  snprintf(c.jwt_secret, sizeof c.jwt_secret, "fuzz-secret-of-at-least-32-bytes-long");
  snprintf(c.cors_origin, sizeof c.cors_origin, "https://fuzz.example");
  c.log_level = MCTX_LOG_OFF;
  mctx_log_set_level(MCTX_LOG_OFF);
  mctx_status st;
  mctx_status_clear(&st);
  g_srv = mctx_server_start(&c, &st);
  if (!g_srv) {
    fprintf(stderr, "fuzz_http: the service did not start: %s: %s\n", st.field, st.reason);
    abort();
  }
  g_port = mctx_server_port(g_srv);
  atexit(stop_server); /* runs before the work folder is removed */
  mctx_principal p;
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "alice");
  p.role = MCTX_ROLE_USER;
  char *tok = mctx_auth_issue(g_srv->auth, &p, 3600, NULL);
  if (!tok) abort();
  snprintf(g_token, sizeof g_token, "%s", tok);
  free(tok);
  g_routes = mctx_service_routes(&g_nroutes);
  return 0;
}

/* ==== Building the request ==== */

static void put_pct(mctx_buf *b, const uint8_t *p, size_t n, const char *keep) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned c = p[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr(keep, (int)c))) {
      char ch = (char)c;
      mctx_buf_append(b, &ch, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      mctx_buf_append(b, e, 3);
    }
  }
}

/* A header value: no CR, LF or NUL (those would end or break the head). */
static void put_value(mctx_buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = (char)p[i];
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    mctx_buf_append(b, &c, 1);
  }
}

static int token_char(unsigned c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", (int)c));
}

/* The pattern with each {param} replaced by the piece (percent-encoded,
 * '/' included, so it stays one segment). */
static void put_route_path(mctx_buf *b, const char *pattern, const uint8_t *seg, size_t n) {
  for (const char *p = pattern; *p;) {
    if (*p == '{') {
      const char *end = strchr(p, '}');
      put_pct(b, seg, n, "-._~:@!$&'()*+,;=");
      p = end ? end + 1 : p + strlen(p);
    } else {
      mctx_buf_append(b, p, 1);
      p++;
    }
  }
}

static const char *const METHODS[8] = {"GET", "POST", "HEAD", "DELETE", "PUT", "OPTIONS", "PATCH", "FUZZ"};
static const int METHOD_IDS[8] = {MCTX_HTTP_GET, MCTX_HTTP_POST, MCTX_HTTP_HEAD, MCTX_HTTP_DELETE,
                                  MCTX_HTTP_PUT, MCTX_HTTP_OPTIONS, MCTX_HTTP_PATCH, MCTX_HTTP_OTHER};

typedef struct expect {
  const mctx_route *route;  /* NULL: any answer */
  int method;
  int auth;                 /* 0 none, 1 admin, 2 user key, 3 user token, 4 from the input */
  int extra_auth;           /* the input's extra header is X-API-Key or Authorization */
  int head;
} expect;

static void build(fuzz_in *in, mctx_buf *req, expect *ex) {
  unsigned m = fuzz_byte(in) % 8;
  unsigned r = fuzz_byte(in) % (unsigned)(g_nroutes + 1);
  unsigned auth = fuzz_byte(in) % 5;
  unsigned ct = fuzz_byte(in) % 4;
  unsigned flags = fuzz_byte(in);
  const uint8_t *path, *query, *hdr, *rid, *tmo;
  size_t npath = fuzz_piece(in, '\n', &path);
  size_t nquery = fuzz_piece(in, '\n', &query);
  size_t nhdr = fuzz_piece(in, '\n', &hdr);
  size_t nrid = fuzz_piece(in, '\n', &rid);
  size_t ntmo = fuzz_piece(in, '\n', &tmo);
  const uint8_t *body = in->p;
  size_t nbody = in->n;

  ex->method = METHOD_IDS[m];
  ex->auth = (int)auth;
  ex->head = ex->method == MCTX_HTTP_HEAD;
  ex->route = r < g_nroutes ? &g_routes[r] : NULL;

  mctx_buf_puts(req, METHODS[m]);
  mctx_buf_puts(req, " ");
  if (ex->route) {
    put_route_path(req, ex->route->pattern, path, npath);
  } else {
    mctx_buf_puts(req, "/");
    put_pct(req, path, npath, "-._~:@!$&'()*+,;=/%");
  }
  if (nquery || (flags & 0x80)) {
    mctx_buf_puts(req, "?");
    put_pct(req, query, nquery, "-._~:@!$'()*+,;=/?&%");
  }
  mctx_buf_puts(req, " HTTP/1.1\r\nHost: fuzz\r\n");
  switch (auth) {
    case 1: mctx_buf_puts(req, "X-API-Key: " ADMIN_KEY "\r\n"); break;
    case 2: mctx_buf_puts(req, "X-API-Key: " USER_KEY "\r\n"); break;
    case 3: mctx_buf_printf(req, "Authorization: Bearer %s\r\n", g_token); break;
    default: break;
  }
  static const char *const CTS[4] = {"application/json", "application/json; charset=utf-8", NULL, "text/plain"};
  if (CTS[ct]) mctx_buf_printf(req, "Content-Type: %s\r\n", CTS[ct]);
  if (nhdr) {
    /* "Name: value" from the input, or (credentials from the input) the value of a key or token header */
    if (auth == 4) {
      mctx_buf_puts(req, flags & 1 ? "Authorization: " : "X-API-Key: ");
      put_value(req, hdr, nhdr);
      mctx_buf_puts(req, "\r\n");
    } else {
      const uint8_t *colon = memchr(hdr, ':', nhdr);
      size_t nn = colon ? (size_t)(colon - hdr) : 0;
      int ok = nn > 0;
      for (size_t i = 0; i < nn && ok; i++) ok = token_char(hdr[i]);
      /* the framing stays the harness's: a second length or encoding would
       * leave the server waiting for bytes that never come */
      if (ok && ((nn == 14 && strncasecmp((const char *)hdr, "Content-Length", 14) == 0) ||
                 (nn == 17 && strncasecmp((const char *)hdr, "Transfer-Encoding", 17) == 0)))
        ok = 0;
      if (ok && ((nn == 9 && strncasecmp((const char *)hdr, "X-API-Key", 9) == 0) ||
                 (nn == 13 && strncasecmp((const char *)hdr, "Authorization", 13) == 0)))
        ex->extra_auth = 1;
      if (ok) {
        put_value(req, hdr, nhdr);
        mctx_buf_puts(req, "\r\n");
      }
    }
  }
  if (flags & 2) {
    mctx_buf_puts(req, "X-Request-ID: ");
    put_value(req, rid, nrid);
    mctx_buf_puts(req, "\r\n");
  }
  if (flags & 4) {
    mctx_buf_puts(req, "X-Request-Timeout-Ms: ");
    put_value(req, tmo, ntmo);
    mctx_buf_puts(req, "\r\n");
  }
  if (flags & 8) mctx_buf_puts(req, "Origin: https://fuzz.example\r\n");
  if (flags & 16) mctx_buf_puts(req, "Connection: close\r\n");
  if ((flags & 32) && nbody) {
    mctx_buf_puts(req, "Transfer-Encoding: chunked\r\n\r\n");
    size_t half = nbody / 2;
    if (half) {
      mctx_buf_printf(req, "%zx\r\n", half);
      mctx_buf_append(req, body, half);
      mctx_buf_puts(req, "\r\n");
    }
    mctx_buf_printf(req, "%zx\r\n", nbody - half);
    mctx_buf_append(req, body + half, nbody - half);
    mctx_buf_puts(req, "\r\n0\r\n\r\n");
  } else {
    if (nbody || (flags & 64)) mctx_buf_printf(req, "Content-Length: %zu\r\n", nbody);
    mctx_buf_puts(req, "\r\n");
    mctx_buf_append(req, body, nbody);
  }
}

/* ==== Talking ==== */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) abort();
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
    abort();
  }
  struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT, no port exhaustion */
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return; /* the server may close early (413, 431): fine */
    p += k;
    n -= (size_t)k;
  }
}

/* Reads one answer: until the head and Content-Length bytes of body are
 * in (no body after HEAD, 1xx, 204, 304), the connection closes, or the
 * deadline passes. Returns 1 with a complete answer, 0 on close, -1 on
 * timeout. */
static int read_answer(int fd, mctx_buf *resp, int head, uint64_t deadline, int *status, size_t *body_at,
                       size_t *body_len) {
  char tmp[65536];
  for (;;) {
    const char *eoh = resp->len ? memmem(resp->data, resp->len, "\r\n\r\n", 4) : NULL;
    if (eoh) {
      *body_at = (size_t)(eoh - resp->data) + 4;
      *status = 0;
      if (resp->len >= 12 && memcmp(resp->data, "HTTP/1.", 7) == 0) *status = atoi(resp->data + 9);
      long long cl = 0;
      const char *h = memmem(resp->data, *body_at, "\r\nContent-Length:", 17);
      if (!h) h = memmem(resp->data, *body_at, "\r\ncontent-length:", 17);
      if (h) cl = atoll(h + 17);
      if (head || *status < 200 || *status == 204 || *status == 304) cl = 0;
      if (resp->len >= *body_at + (size_t)cl) {
        *body_len = (size_t)cl;
        return 1;
      }
    }
    uint64_t now = now_ms();
    if (now >= deadline) return -1;
    struct pollfd pf = {fd, POLLIN, 0};
    int pr = poll(&pf, 1, (int)(deadline - now));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return -1;
    ssize_t k = recv(fd, tmp, sizeof tmp, 0);
    if (k <= 0) return 0;
    if (mctx_buf_append(resp, tmp, (size_t)k) != 0) return 1;
  }
}

static void check_answer(const mctx_buf *resp, int status, size_t at, size_t blen, const expect *ex) {
  FUZZ_CHECK(status >= 100 && status <= 599, "status line '%.40s'", resp->data);
  const char *head_end = resp->data + at;
  int json = memmem(resp->data, at, "Content-Type: application/json", 30) != NULL;
  if (json && blen && !ex->head) {
    mctx_json_limits lim = {512, 0};
    mctx_status st;
    mctx_json_doc *d = mctx_json_parse(head_end, blen, &lim, &st);
    FUZZ_CHECK(d != NULL, "a %d answer's JSON does not parse (%s): %.200s", status, st.reason, head_end);
    const mctx_json *root = mctx_json_root(d);
    if (status >= 400 && root->type == MCTX_JSON_OBJECT) {
      const mctx_json *sc = mctx_json_get(root, "status_code");
      FUZZ_CHECK(sc && sc->is_int && sc->i == status, "a %d envelope says status_code %lld", status,
                 sc && sc->is_int ? (long long)sc->i : -1LL);
      const mctx_json *msg = mctx_json_get(root, "message");
      FUZZ_CHECK(msg && msg->type == MCTX_JSON_STRING && msg->len > 0, "a %d envelope without a message", status);
    }
    mctx_json_doc_free(d);
  }
  const mctx_route *rt = ex->route;
  if (!rt) return;
  int method_matches = ex->method == rt->method || (ex->method == MCTX_HTTP_HEAD && rt->method == MCTX_HTTP_GET);
  if (!method_matches) return;
  if (ex->extra_auth) return;
  if (rt->access != MCTX_ACCESS_PUBLIC && ex->auth == 0)
    FUZZ_CHECK(status >= 400, "%s answered %d without credentials", rt->pattern, status);
  if (rt->access == MCTX_ACCESS_ADMIN && (ex->auth == 2 || ex->auth == 3))
    FUZZ_CHECK(status >= 400, "admin route %s answered %d to the user role", rt->pattern, status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (128 << 10)) return 0;
  fuzz_in in = {data, size};
  unsigned mode = fuzz_byte(&in);
  mctx_buf req, resp;
  mctx_buf_init(&req, (size_t)1 << 20);
  mctx_buf_init(&resp, (size_t)8 << 20);
  expect ex;
  memset(&ex, 0, sizeof ex);
  int raw = (mode & 7) == 7;
  if (raw) mctx_buf_append(&req, in.p, in.n);
  else build(&in, &req, &ex);
  int fd = dial();
  send_all(fd, req.data ? req.data : "", req.len);
  if (raw) shutdown(fd, SHUT_WR);
  int status = 0;
  size_t at = 0, blen = 0;
  uint64_t t0 = now_ms();
  /* Raw bytes that are not a whole request get no answer: libmicrohttpd
   * closes such a connection after the idle timeout (docs/API.md); 150 ms
   * is plenty for those that do get one (the harness then resets it). */
  int got = read_answer(fd, &resp, ex.head, t0 + (raw ? 150 : 60000), &status, &at, &blen);
  close(fd);
  const char *slow = getenv("MCTX_FUZZ_SLOW_MS"); /* a diagnostic: which inputs take long */
  if (slow && now_ms() - t0 >= (uint64_t)atoi(slow))
    fprintf(stderr, "fuzz_http: %llu ms, status %d, request: %.200s\n", (unsigned long long)(now_ms() - t0), status,
            req.data ? req.data : "");
  if (!raw) {
    FUZZ_CHECK(got != -1, "no answer within 60 s to: %.300s", req.data ? req.data : "");
    FUZZ_CHECK(got == 1, "the connection closed without an answer to: %.300s", req.data ? req.data : "");
    check_answer(&resp, status, at, blen, &ex);
  } else if (got == 1) {
    check_answer(&resp, status, at, blen, &ex);
  }
  mctx_buf_free(&req);
  mctx_buf_free(&resp);
  return 0;
}
