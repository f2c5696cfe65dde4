/* bench/http-libs/common.h: what the four echo servers share, so that they
 * differ only in their HTTP library.
 *
 *   - the answer: a JSON body of about 500 bytes, shaped like the service's
 *     small search result, computed from the request body (its length and a
 *     checksum of its bytes), so that every server reads the whole body;
 *   - the limits the service uses (32 MiB body, 32 KiB head, 60 s idle
 *     timeout, 1024 connections, listen backlog 1024);
 *   - a request counter per server thread, printed when the server stops,
 *     which shows how the library spread the connections over its threads;
 *   - stopping: SIGTERM and SIGINT are blocked in every thread and the main
 *     thread waits for them with sigwait, prints the counts and exits. */
#ifndef HTTP_LIBS_COMMON_H
#define HTTP_LIBS_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_THREADS 2                       /* the service's --http-threads on this machine */
#define SRV_MAX_CONNECTIONS 1024
#define SRV_IDLE_TIMEOUT_S 60
#define SRV_MAX_BODY (32u * 1024 * 1024)    /* --max-body-bytes */
#define SRV_MAX_HEAD (32u * 1024)           /* --max-header-bytes */
#define SRV_BACKLOG 1024
#define ANSWER_CAP 1024

/* Writes the answer for a request body into out (ANSWER_CAP bytes) and
 * returns its length. */
static inline size_t make_answer(const char *body, size_t n, char *out) {
  uint32_t sum = 2166136261u;               /* FNV-1a over the body */
  for (size_t i = 0; i < n; i++) sum = (sum ^ (unsigned char)body[i]) * 16777619u;
  int ok = n > 0 && body[0] == '{';
  int len = snprintf(out, ANSWER_CAP,
      "{\"request_id\":\"bench-%08x\",\"ok\":%s,\"received_bytes\":%zu,"
      "\"action\":[%u],"
      "\"action_weights\":[[0.0625,0.0625,0.0625,0.0625,0.0625,0.0625,0.0625,0.0625,"
      "0.0625,0.0625,0.0625,0.0625,0.0625,0.0625,0.0625,0.0625]],"
      "\"search_statistics\":{\"root_value\":[0.125],\"visit_counts\":[[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]],"
      "\"q_values\":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2]],"
      "\"num_simulations\":32,\"max_depth\":4,\"device\":\"cpu\",\"fallback_reason\":null,\"duration_ms\":0.02,"
      "\"search_type\":\"gumbel_muzero\"}}",
      (unsigned)sum, ok ? "true" : "false", n, (unsigned)(sum % 16));
  return len > 0 && len < ANSWER_CAP ? (size_t)len : 0;
}

/* ---- requests per thread ---- */

typedef struct { _Atomic unsigned long n; char pad[56]; } srv_slot;
static srv_slot srv_slots[64];
static atomic_int srv_nslots;
static _Thread_local int srv_my_slot = -1;

static inline void count_request(void) {
  if (srv_my_slot < 0) srv_my_slot = atomic_fetch_add(&srv_nslots, 1) % 64;
  atomic_fetch_add_explicit(&srv_slots[srv_my_slot].n, 1, memory_order_relaxed);
}

/* Call first in main, before any thread starts. */
static inline void block_stop_signals(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* Says the server is up (run.sh waits for this line), waits for SIGTERM or
 * SIGINT, prints the requests per thread and exits. */
static inline void serve_until_stopped(const char *name, int port) {
  printf("ready %s port %d\n", name, port);
  fflush(stdout);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  int sig;
  sigwait(&s, &sig);
  int k = atomic_load(&srv_nslots);
  printf("%s requests per thread:", name);
  for (int i = 0; i < k && i < 64; i++) printf(" %lu", atomic_load(&srv_slots[i].n));
  printf("\n");
  fflush(stdout);
  _exit(0);
}

/* A non-blocking listening socket on 127.0.0.1:port (0: any free port); the
 * port is written back. For the libraries that take a socket. */
static inline int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, SRV_BACKLOG) != 0) {
    perror("bind/listen");
    exit(1);
  }
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  *port = ntohs(a.sin_port);
  return fd;
}

static inline int parse_port(int argc, char **argv) {
  return argc > 1 ? atoi(argv[1]) : 0;
}

#endif
