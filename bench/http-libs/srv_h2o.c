/* bench/http-libs/srv_h2o.c: POST /echo on libh2o (the evloop flavour).
 * h2o's model is one event loop and one h2o_context_t per thread, sharing a
 * read-only h2o_globalconf_t; each loop accepts on the same listening
 * socket (its own dup of it), as the h2o server does and as MHD's thread
 * pool does. h2o reads the whole body (up to max_request_entity_size)
 * before calling the handler; the answer is sent on the loop thread.
 *
 *   srv_h2o [PORT]   (prints "ready h2o port N") */
#define H2O_USE_EPOLL 1
#include <h2o.h>

#include "common.h"

static h2o_globalconf_t config;

typedef struct {
  h2o_evloop_t *loop;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  int fd;
} worker;

static int echo(h2o_handler_t *self, h2o_req_t *req) {
  (void)self;
  count_request();
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) return -1; /* next handler: 404 */
  char *out = h2o_mem_alloc_pool(&req->pool, ANSWER_CAP);
  size_t n = make_answer(req->entity.base ? req->entity.base : "", req->entity.base ? req->entity.len : 0, out);
  req->res.status = 200;
  req->res.reason = "OK";
  req->res.content_length = n;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
  static h2o_generator_t gen = {NULL, NULL};
  h2o_start_response(req, &gen);
  h2o_iovec_t buf = h2o_iovec_init(out, n);
  h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
  return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
  if (err) return;
  worker *w = listener->data;
  for (int i = 0; i < 16; i++) {
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (!sock) break;
    h2o_accept(&w->accept, sock);
  }
}

static void *run(void *arg) {
  worker *w = arg;
  w->loop = h2o_evloop_create();
  h2o_context_init(&w->ctx, w->loop, &config);
  w->accept.ctx = &w->ctx;
  w->accept.hosts = config.hosts;
  h2o_socket_t *ls = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
  ls->data = w;
  h2o_socket_read_start(ls, on_accept);
  while (h2o_evloop_run(w->loop, INT32_MAX) == 0) {
  }
  return NULL;
}

int main(int argc, char **argv) {
  block_stop_signals();
  int port = parse_port(argc, argv);
  int lfd = listen_loopback(&port);
  h2o_config_init(&config);
  config.max_request_entity_size = SRV_MAX_BODY;
  config.http1.req_timeout = SRV_IDLE_TIMEOUT_S * 1000;
  h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *path = h2o_config_register_path(host, "/echo", 0);
  h2o_handler_t *h = h2o_create_handler(path, sizeof *h);
  h->on_req = echo;
  static worker w[SRV_THREADS];
  pthread_t t[SRV_THREADS];
  for (int i = 0; i < SRV_THREADS; i++) {
    w[i].fd = dup(lfd);
    pthread_create(&t[i], NULL, run, &w[i]);
  }
  serve_until_stopped("h2o", port);
  return 0;
}
