/* bench/http-libs/srv_evhttp.c: POST /echo on libevent's evhttp. An evhttp
 * belongs to one event_base, run by one thread; libevent's way to use
 * several threads is one event_base and one evhttp per thread, all
 * accepting on the same listening socket (each its own dup of it), as
 * MHD's thread pool does. Limits as the service's (evhttp 2.1 has no
 * connection limit). evhttp reads the whole body before calling the
 * handler; the answer is sent on the loop thread.
 *
 *   srv_evhttp [PORT]   (prints "ready evhttp port N") */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common.h"

static void send_json(struct evhttp_request *req, int status, const char *reason, const char *body, size_t n) {
  struct evbuffer *out = evhttp_request_get_output_buffer(req);
  evbuffer_add(out, body, n);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, status, reason, NULL);
}

static void echo(struct evhttp_request *req, void *arg) {
  (void)arg;
  count_request();
  if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
    send_json(req, 405, "Method Not Allowed", "{\"message\":\"method\"}", 20);
    return;
  }
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  const char *body = (const char *)evbuffer_pullup(in, -1);
  char out[ANSWER_CAP];
  size_t m = make_answer(body ? body : "", body ? n : 0, out);
  send_json(req, 200, "OK", out, m);
}

static void other(struct evhttp_request *req, void *arg) {
  (void)arg;
  count_request();
  send_json(req, 404, "Not Found", "{\"message\":\"not found\"}", 23);
}

static void *loop(void *arg) {
  event_base_dispatch(arg);
  return NULL;
}

int main(int argc, char **argv) {
  block_stop_signals();
  int port = parse_port(argc, argv);
  int lfd = listen_loopback(&port);
  pthread_t t[SRV_THREADS];
  for (int i = 0; i < SRV_THREADS; i++) {
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    if (!http) { fprintf(stderr, "srv_evhttp: cannot create\n"); return 1; }
    evhttp_set_max_body_size(http, SRV_MAX_BODY);
    evhttp_set_max_headers_size(http, SRV_MAX_HEAD);
    evhttp_set_timeout(http, SRV_IDLE_TIMEOUT_S);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    evhttp_set_cb(http, "/echo", echo, NULL);
    evhttp_set_gencb(http, other, NULL);
    if (evhttp_accept_socket(http, dup(lfd)) != 0) { fprintf(stderr, "srv_evhttp: accept_socket\n"); return 1; }
    pthread_create(&t[i], NULL, loop, base);
  }
  serve_until_stopped("evhttp", port);
  return 0;
}
