/* bench/http-libs/srv_mhd.c: POST /echo on libmicrohttpd, configured as
 * src/service/http.c configures it: internal polling threads with epoll, a
 * pool of SRV_THREADS of them, suspend/resume allowed, connection limit,
 * idle timeout, 64 KiB memory per connection, listen backlog. The body
 * arrives in pieces and is gathered into a buffer; the answer is queued at
 * the final call, on the polling thread.
 *
 *   srv_mhd [PORT]   (0 or none: any free port; prints "ready mhd port N") */
#include <microhttpd.h>

#include "common.h"

typedef struct {
  char *buf;
  size_t len, cap;
  int over;
} req;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body, size_t n) {
  char *copy = malloc(n ? n : 1);
  if (!copy) return MHD_NO;
  memcpy(copy, body, n);
  struct MHD_Response *r = MHD_create_response_from_buffer(n, copy, MHD_RESPMEM_MUST_FREE);
  if (!r) { free(copy); return MHD_NO; }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *data_size, void **req_cls) {
  (void)cls; (void)version;
  req *r = *req_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    *req_cls = r;
    return MHD_YES;
  }
  if (*data_size) {
    size_t n = *data_size;
    if (!r->over && r->len + n > SRV_MAX_BODY) { r->over = 1; }
    if (!r->over) {
      if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n) cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b) return MHD_NO;
        r->buf = b;
        r->cap = cap;
      }
      memcpy(r->buf + r->len, data, n);
      r->len += n;
    }
    *data_size = 0;
    return MHD_YES;
  }
  count_request();
  if (strcmp(url, "/echo") != 0) return answer(c, 404, "{\"message\":\"not found\"}", 23);
  if (strcmp(method, "POST") != 0) return answer(c, 405, "{\"message\":\"method\"}", 20);
  if (r->over) return answer(c, 413, "{\"message\":\"too large\"}", 23);
  char out[ANSWER_CAP];
  size_t n = make_answer(r->buf, r->len, out);
  return answer(c, 200, out, n);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls; (void)c; (void)toe;
  req *r = *req_cls;
  if (!r) return;
  free(r->buf);
  free(r);
  *req_cls = NULL;
}

int main(int argc, char **argv) {
  block_stop_signals();
  int port = parse_port(argc, argv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, handler, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
      MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)SRV_MAX_CONNECTIONS,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_IDLE_TIMEOUT_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
      MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)SRV_BACKLOG,
      MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)SRV_THREADS,
      MHD_OPTION_END);
  if (!d) { fprintf(stderr, "srv_mhd: cannot start on port %d\n", port); return 1; }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  serve_until_stopped("mhd", di ? di->port : port);
  return 0;
}
