/* bench/http-libs/srv_civetweb.c: POST /echo on CivetWeb. CivetWeb's model
 * is a thread per connection: a master thread accepts, and each of
 * num_threads worker threads serves one connection at a time, its requests
 * one after another, until the connection closes or stays idle past
 * keep_alive_timeout_ms. The handler reads the body with mg_read (blocking)
 * and writes the answer with mg_write.
 *
 *   srv_civetweb [PORT [THREADS]]   (THREADS: num_threads, default 2 as the
 *   service's HTTP threads; prints "ready civetweb port N") */
#include <civetweb.h>

#include "common.h"

static int echo(struct mg_connection *c, void *cbdata) {
  (void)cbdata;
  count_request();
  const struct mg_request_info *ri = mg_get_request_info(c);
  if (strcmp(ri->request_method, "POST") != 0) {
    mg_send_http_error(c, 405, "%s", "{\"message\":\"method\"}");
    return 405;
  }
  if (ri->content_length > (long long)SRV_MAX_BODY) {
    mg_send_http_error(c, 413, "%s", "{\"message\":\"too large\"}");
    return 413;
  }
  size_t cap = ri->content_length > 0 ? (size_t)ri->content_length + 1 : 1024, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 500;
  for (;;) {
    if (len == cap) {
      if (cap >= SRV_MAX_BODY) { free(buf); mg_send_http_error(c, 413, "%s", "{}"); return 413; }
      char *b = realloc(buf, cap * 2);
      if (!b) { free(buf); return 500; }
      buf = b;
      cap *= 2;
    }
    int k = mg_read(c, buf + len, cap - len);
    if (k <= 0) break;
    len += (size_t)k;
  }
  char out[ANSWER_CAP];
  size_t n = make_answer(buf, len, out);
  free(buf);
  mg_send_http_ok(c, "application/json", (long long)n);
  mg_write(c, out, n);
  return 200;
}

int main(int argc, char **argv) {
  block_stop_signals();
  int port = parse_port(argc, argv);
  int threads = argc > 2 ? atoi(argv[2]) : SRV_THREADS;
  char ports[64], nthreads[16], idle_ms[16], backlog[16], head[16];
  snprintf(ports, sizeof ports, "127.0.0.1:%d", port);
  snprintf(nthreads, sizeof nthreads, "%d", threads);
  snprintf(idle_ms, sizeof idle_ms, "%d", SRV_IDLE_TIMEOUT_S * 1000);
  snprintf(backlog, sizeof backlog, "%d", SRV_BACKLOG);
  snprintf(head, sizeof head, "%u", SRV_MAX_HEAD);
  const char *opts[] = {"listening_ports", ports,
                        "num_threads", nthreads,
                        "enable_keep_alive", "yes",
                        "keep_alive_timeout_ms", idle_ms,
                        "request_timeout_ms", idle_ms,
                        "listen_backlog", backlog,
                        "max_request_size", head,
                        "tcp_nodelay", "1", /* else Nagle holds the body written after the head: 40 ms a request */
                        NULL};
  mg_init_library(0);
  struct mg_callbacks cb;
  memset(&cb, 0, sizeof cb);
  struct mg_context *ctx = mg_start(&cb, NULL, opts);
  if (!ctx) { fprintf(stderr, "srv_civetweb: cannot start on %s\n", ports); return 1; }
  mg_set_request_handler(ctx, "/echo$", echo, NULL);
  struct mg_server_port sp[4];
  int k = mg_get_server_ports(ctx, 4, sp);
  char name[32];
  snprintf(name, sizeof name, "civetweb-%d", threads);
  serve_until_stopped(name, k > 0 ? sp[0].port : port);
  return 0;
}
