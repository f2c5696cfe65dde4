/* service/http.c: the HTTP layer of http.h on libmicrohttpd.
 *
 * MHD runs its own polling threads (epoll); the access handler below is
 * called several times per request: once with the headers (the request
 * struct is made and on_headers runs), once per piece of body (appended to a
 * capped buffer: past the cap the rest is read and dropped, so memory stays
 * bounded whatever the client sends), and once at the end (on_body). A
 * suspended request is called once more when resumed, and then its answer is
 * queued. This file also keeps the list of suspended requests, so that their
 * sockets can be checked for clients that went away. */
#include "service/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "service/log.h"

struct mctx_http {
  struct MHD_Daemon *daemon;
  mctx_http_handlers h;
  mctx_http_opts o;
  int port;
  atomic_llong in_flight;
  atomic_ullong body_bytes;       /* held by all requests' bodies */
  pthread_mutex_t lock;           /* the suspended list */
  mctx_http_req *suspended;       /* head of a doubly linked list */
  size_t nsuspended;
  struct pollfd *pfds;            /* scratch of mctx_http_scan_suspended */
  mctx_http_req **preqs;
  size_t pcap;
};

uint64_t mctx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* splitmix64 per thread, seeded from the kernel. */
static uint64_t rand64(void) {
  static _Thread_local uint64_t state;
  static _Thread_local int seeded;
  if (!seeded) {
    if (getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state) state = mctx_now_ns() ^ (uint64_t)pthread_self();
    seeded = 1;
  }
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void mctx_uuid(char out[37]) {
  uint64_t a = rand64(), b = rand64();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; /* version 4 */
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; /* variant 10 */
  snprintf(out, 37, "%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64, (uint32_t)(a >> 32),
           (uint32_t)((a >> 16) & 0xffff), (uint32_t)(a & 0xffff), (uint32_t)(b >> 48), (uint64_t)(b & 0xffffffffffffULL));
}

static int method_id(const char *m) {
  static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (int i = 0; i < 7; i++)
    if (strcmp(m, names[i]) == 0) return i;
  return MCTX_HTTP_OTHER;
}

/* A client's X-Request-ID is kept when it is 1..63 characters of
 * [A-Za-z0-9._:-]; anything else is replaced by a fresh UUID. */
static int request_id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

static void client_address(struct MHD_Connection *c, char *out, size_t n) {
  snprintf(out, n, "unknown");
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result send_answer(mctx_http *h, mctx_http_req *r) {
  (void)h;
  struct MHD_Connection *c = r->conn;
  size_t len = 0;
  char *data = r->resp.len ? mctx_buf_steal(&r->resp, &len) : NULL;
  struct MHD_Response *resp = data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
                                   : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) { free(data); return MHD_NO; }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
  MHD_add_response_header(resp, "X-Request-ID", r->request_id);
  for (int i = 0; i < r->nheaders; i++) MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* libmicrohttpd's memory per connection: the request head must fit in it
 * (with room to spare for reading), else it answers 431 itself. */
#define MEMORY_LIMIT (64 * 1024)

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  size_t *n = cls;
  *n += strlen(key) + (value ? strlen(value) : 0) + 4; /* "key: value\r\n" */
  return MHD_YES;
}

/* Bodies up to this size are read (and dropped) after an early answer. */
#define EARLY_ANSWER_BODY 65536

static int has_chunked_body(struct MHD_Connection *c) {
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  return te && strcasestr(te, "chunked") != NULL;
}

/* Counts n more body bytes against the budget of all bodies; past it the
 * request is marked body_busy and its body is dropped. */
static void hold_body(mctx_http *h, mctx_http_req *r, uint64_t n) {
  uint64_t before = atomic_fetch_add(&h->body_bytes, n);
  if (before + n > h->o.max_body_total) {
    atomic_fetch_sub(&h->body_bytes, n);
    r->body_busy = 1;
    mctx_buf_free(&r->body);
    return;
  }
  r->body_held += n;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **req_cls) {
  mctx_http *h = cls;
  mctx_http_req *r = *req_cls;
  if (!r) {
    r = calloc(1, h->h.req_size);
    if (!r) return MHD_NO;
    atomic_fetch_add(&h->in_flight, 1);
    *req_cls = r;
    r->http = h;
    r->conn = conn;
    r->method_str = method;
    r->method = method_id(method);
    r->path = url;
    r->t_start_ns = mctx_now_ns();
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    if (rid && request_id_ok(rid)) snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    else mctx_uuid(r->request_id);
    client_address(conn, r->client_ip, sizeof r->client_ip);
    r->head_bytes = strlen(method) + strlen(url) + (version ? strlen(version) : 0) + 4;
    MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, count_header, &r->head_bytes);
    r->head_over = h->o.max_head_bytes > 0 && r->head_bytes > h->o.max_head_bytes;
    mctx_buf_init(&r->body, h->o.max_body_bytes);
    mctx_buf_init(&r->resp, h->o.max_response_bytes);
    r->content_length = UINT64_MAX;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(cl, &end, 10);
      if (!errno && end != cl) r->content_length = v;
    } else if (!has_chunked_body(conn)) {
      r->content_length = 0; /* neither Content-Length nor chunked: no body */
    }
    if (r->content_length != UINT64_MAX && r->content_length > 0 && r->content_length <= h->o.max_body_bytes)
      hold_body(h, r, r->content_length);
    h->h.on_headers(h->h.app, r);
    /* An early answer goes out now only when a body of unknown or large
     * size would follow (MHD then closes the connection instead of reading
     * it); otherwise the small body is read and dropped and the answer goes
     * out at the final call, keeping the connection alive. */
    if (r->ready && (r->content_length == UINT64_MAX || r->content_length > EARLY_ANSWER_BODY))
      return send_answer(h, r);
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    if (!r->body_over && !r->body_busy && !r->ready && r->body.len + n > r->body_held)
      hold_body(h, r, r->body.len + n - r->body_held); /* chunked, or longer than announced */
    if (!r->body_over && !r->body_busy && !r->ready) {
      if (r->body.len == 0 && r->content_length != UINT64_MAX && r->content_length <= h->o.max_body_bytes)
        mctx_buf_reserve(&r->body, (size_t)r->content_length);
      if (mctx_buf_append(&r->body, upload_data, n) != 0) {
        r->body_over = 1;
        mctx_buf_free(&r->body);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  /* The final call, or the call after a resume. `was_suspended` is only
   * touched on this thread, so it tells, without a race with the thread that
   * resumes, whether the answer is someone else's to give. */
  if (r->ready) return send_answer(h, r);
  if (r->was_suspended) return MHD_YES;
  h->h.on_body(h->h.app, r);
  if (r->was_suspended) return MHD_YES;
  if (!r->ready) {
    mctx_buf_reset(&r->resp);
    mctx_buf_puts(&r->resp, "{\"status_code\":500,\"message\":\"the handler gave no answer\",\"details\":null}");
    mctx_http_answer(r, 500);
  }
  return send_answer(h, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe) {
  (void)conn;
  mctx_http *h = cls;
  mctx_http_req *r = *req_cls;
  if (!r) return;
  *req_cls = NULL;
  h->h.on_complete(h->h.app, r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
  if (r->body_held) atomic_fetch_sub(&h->body_bytes, r->body_held);
  mctx_buf_free(&r->body);
  mctx_buf_free(&r->resp);
  free(r);
  atomic_fetch_sub(&h->in_flight, 1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  mctx_logline l;
  if (mctx_log_begin(&l, MCTX_LOG_WARN, msg)) {
    mctx_log_str(&l, "component", "libmicrohttpd");
    mctx_log_end(&l);
  }
}

mctx_http *mctx_http_start(const mctx_http_opts *o, const mctx_http_handlers *hd, mctx_status *st) {
  mctx_http *h = calloc(1, sizeof *h);
  if (!h) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); return NULL; }
  h->h = *hd;
  h->o = *o;
  pthread_mutex_init(&h->lock, NULL);
  h->pcap = (size_t)(o->max_connections > 0 ? o->max_connections : 1024) + 16;
  h->pfds = calloc(h->pcap, sizeof *h->pfds);
  h->preqs = calloc(h->pcap, sizeof *h->preqs);
  if (!h->pfds || !h->preqs) { mctx_status_set(st, MCTX_ENOMEM, NULL, "out of memory"); goto fail; }

  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char port[16];
  snprintf(port, sizeof port, "%d", o->port);
  int gai = getaddrinfo(o->host, port, &hints, &ai);
  if (gai != 0 || !ai) {
    mctx_status_set(st, MCTX_EINVALID, "host", "cannot resolve '%s': %s", o->host, gai_strerror(gai));
    goto fail;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  struct sockaddr_storage addr;
  memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  struct MHD_OptionItem opts[16];
  int n = 0;
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, h};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, h};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->max_connections > 0 ? o->max_connections : 1024, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s > 0 ? o->idle_timeout_s : 60, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, MEMORY_LIMIT, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
  if (o->threads > 1) opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!h->daemon) {
    mctx_status_set(st, MCTX_EIO, "port", "cannot listen on %s:%d (in use, or not an address of this host)", o->host,
                    o->port);
    goto fail;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = di ? di->port : o->port;
  return h;
fail:
  free(h->pfds);
  free(h->preqs);
  pthread_mutex_destroy(&h->lock);
  free(h);
  return NULL;
}

int mctx_http_port(const mctx_http *h) { return h->port; }
int64_t mctx_http_in_flight(const mctx_http *h) { return atomic_load(&h->in_flight); }

void mctx_http_quiesce(mctx_http *h) {
  MHD_socket s = MHD_quiesce_daemon(h->daemon);
  if (s != MHD_INVALID_SOCKET) close(s);
}

void mctx_http_stop(mctx_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon);
  free(h->pfds);
  free(h->preqs);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

int mctx_http_header(mctx_http_req *r, const char *name, const char *value) {
  for (int i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) {
      snprintf(r->headers[i].value, sizeof r->headers[i].value, "%s", value);
      return 0;
    }
  if (r->nheaders == MCTX_HTTP_MAX_HEADERS) return -1;
  r->headers[r->nheaders].name = name;
  snprintf(r->headers[r->nheaders].value, sizeof r->headers[r->nheaders].value, "%s", value);
  r->nheaders++;
  return 0;
}

void mctx_http_answer(mctx_http_req *r, int status) {
  r->status = status;
  r->ready = 1;
}

void mctx_http_suspend(mctx_http_req *r) {
  mctx_http *h = r->http;
  MHD_suspend_connection(r->conn);
  r->was_suspended = 1;
  pthread_mutex_lock(&h->lock);
  r->suspended = 1;
  r->sprev = NULL;
  r->snext = h->suspended;
  if (h->suspended) h->suspended->sprev = r;
  h->suspended = r;
  h->nsuspended++;
  pthread_mutex_unlock(&h->lock);
}

void mctx_http_resume(mctx_http_req *r) {
  mctx_http *h = r->http;
  struct MHD_Connection *c = r->conn;
  pthread_mutex_lock(&h->lock);
  if (r->sprev) r->sprev->snext = r->snext;
  else h->suspended = r->snext;
  if (r->snext) r->snext->sprev = r->sprev;
  h->nsuspended--;
  r->suspended = 0;
  pthread_mutex_unlock(&h->lock);
  MHD_resume_connection(c);
}

const char *mctx_http_request_header(const mctx_http_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *mctx_http_query(const mctx_http_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

size_t mctx_http_scan_suspended(mctx_http *h, void (*gone)(void *app, mctx_http_req *r)) {
  pthread_mutex_lock(&h->lock);
  if (!gone) {
    size_t total = h->nsuspended;
    pthread_mutex_unlock(&h->lock);
    return total;
  }
  size_t n = 0;
  for (mctx_http_req *r = h->suspended; r && n < h->pcap; r = r->snext) {
    if (r->peer_gone) continue;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) continue;
    h->pfds[n].fd = ci->connect_fd;
    h->pfds[n].events = POLLIN | POLLRDHUP;
    h->pfds[n].revents = 0;
    h->preqs[n] = r;
    n++;
  }
  if (n && poll(h->pfds, (nfds_t)n, 0) > 0) {
    for (size_t i = 0; i < n; i++) {
      short ev = h->pfds[i].revents;
      if (!ev) continue;
      int closed = (ev & (POLLHUP | POLLERR | POLLRDHUP)) != 0;
      if (!closed && (ev & POLLIN)) {
        char c;
        ssize_t k = recv(h->pfds[i].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        closed = k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
      }
      if (closed) {
        h->preqs[i]->peer_gone = 1;
        gone(h->h.app, h->preqs[i]);
      }
    }
  }
  size_t total = h->nsuspended;
  pthread_mutex_unlock(&h->lock);
  return total;
}
