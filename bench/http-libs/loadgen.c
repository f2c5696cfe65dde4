/* bench/http-libs/loadgen.c: a small closed-loop HTTP/1.1 load generator
 * for the echo servers of this folder, on loopback.
 *
 *   loadgen PORT CONNS SECONDS BODYFILE [WARMUP_S] [PATH]
 *
 * CONNS keep-alive connections each send `POST PATH` (default /echo) with
 * the body of BODYFILE, wait for the whole answer (Content-Length), and
 * send the next request at once: the throughput is the server's at that
 * concurrency. One thread, epoll. Requests answered during the first
 * WARMUP_S seconds (default 1) are not counted; then SECONDS are measured.
 * Prints one line:
 *
 *   rps=R p50_ms=A p99_ms=B max_ms=C ok=N bad=K errors=E served_conns=S/C min_conn=M pending=P oldest_pending_ms=O
 *
 * bad: answers other than 200 or with an empty body; errors: connections
 * that failed or closed (each is reopened); served_conns: connections that
 * got at least one answer in the measured window, min_conn the fewest
 * answers one of them got; pending/oldest_pending_ms: requests still
 * unanswered at the end and the age of the oldest (a server that leaves
 * connections waiting shows here, not in the percentiles). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536

typedef struct {
  int fd;
  size_t sent;          /* bytes of the request written */
  size_t got;           /* bytes of the answer in rbuf */
  uint64_t t0;          /* when the request's first byte went out */
  int waiting;          /* a request is out */
  unsigned long answered; /* in the measured window */
  char rbuf[RBUF];
} conn;

static char *req;
static size_t req_len;
static struct sockaddr_in addr;
static int ep;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void conn_open(conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) { perror("socket"); exit(1); }
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(1); }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  c->sent = c->got = 0;
  c->waiting = 0;
}

static void conn_close(conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
}

/* Writes what is left of the request; asks for EPOLLOUT if the socket is full. */
static int conn_send(conn *c) {
  while (c->sent < req_len) {
    ssize_t k = send(c->fd, req + c->sent, req_len - c->sent, MSG_NOSIGNAL);
    if (k < 0 && errno == EAGAIN) {
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      return 0;
    }
    if (k <= 0) return -1;
    c->sent += (size_t)k;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

static void conn_start(conn *c) {
  c->sent = c->got = 0;
  c->waiting = 1;
  c->t0 = now_ns();
  if (conn_send(c) != 0) c->waiting = -1;
}

/* A complete answer in rbuf: 1 and its status/length/close, 0 if not yet,
 * -1 if it cannot be parsed. */
static int parse(conn *c, int *status, size_t *body_len, int *close_after) {
  c->rbuf[c->got] = '\0';
  char *end = strstr(c->rbuf, "\r\n\r\n");
  if (!end) return c->got >= RBUF - 1 ? -1 : 0;
  size_t head = (size_t)(end - c->rbuf) + 4;
  if (strncmp(c->rbuf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->rbuf + 9);
  long long cl = -1;
  *close_after = strncmp(c->rbuf, "HTTP/1.0", 8) == 0;
  for (char *line = strstr(c->rbuf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
    if (strncasecmp(line, "Content-Length:", 15) == 0) cl = atoll(line + 15);
    else if (strncasecmp(line, "Connection:", 11) == 0) {
      char *v = line + 11;
      while (*v == ' ') v++;
      *close_after = strncasecmp(v, "close", 5) == 0;
    } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
      return -1; /* the servers here all send Content-Length */
    }
  }
  if (cl < 0) return -1;
  if (c->got < head + (size_t)cl) return c->got + 1 >= RBUF ? -1 : 0;
  *body_len = (size_t)cl;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: loadgen PORT CONNS SECONDS BODYFILE [WARMUP_S] [PATH]\n");
    return 2;
  }
  int port = atoi(argv[1]), nconns = atoi(argv[2]);
  double seconds = atof(argv[3]), warmup = argc > 5 ? atof(argv[5]) : 1.0;
  const char *path = argc > 6 ? argv[6] : "/echo";
  FILE *f = fopen(argv[4], "rb");
  if (!f) { perror(argv[4]); return 2; }
  char body[65536];
  size_t blen = fread(body, 1, sizeof body, f);
  fclose(f);
  while (blen && (body[blen - 1] == '\n' || body[blen - 1] == '\r')) blen--;
  req = malloc(blen + 512);
  req_len = (size_t)sprintf(req,
                            "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            path, port, blen);
  memcpy(req + req_len, body, blen);
  req_len += blen;

  signal(SIGPIPE, SIG_IGN);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  conn *cs = calloc((size_t)nconns, sizeof *cs);
  size_t lat_cap = 1 << 20, nlat = 0;
  uint64_t *lat = malloc(lat_cap * sizeof *lat);
  unsigned long ok = 0, bad = 0, errors = 0;

  for (int i = 0; i < nconns; i++) conn_open(&cs[i]);
  uint64_t t_start = now_ns();
  uint64_t t_measure = t_start + (uint64_t)(warmup * 1e9);
  uint64_t t_end = t_measure + (uint64_t)(seconds * 1e9);
  for (int i = 0; i < nconns; i++) conn_start(&cs[i]);

  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    if (t >= t_end) break;
    int timeout_ms = (int)((t_end - t) / 1000000) + 1;
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    for (int e = 0; e < n; e++) {
      conn *c = evs[e].data.ptr;
      int failed = c->waiting < 0;
      if (!failed && (evs[e].events & EPOLLOUT)) failed = conn_send(c) != 0;
      if (!failed && (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        for (;;) {
          ssize_t k = recv(c->fd, c->rbuf + c->got, RBUF - 1 - c->got, 0);
          if (k < 0 && errno == EAGAIN) break;
          if (k <= 0) { failed = 1; break; }
          c->got += (size_t)k;
          if (c->got >= RBUF - 1) break;
        }
        int status = 0, close_after = 0;
        size_t body_len = 0;
        int p = c->got ? parse(c, &status, &body_len, &close_after) : 0;
        if (p < 0) failed = 1;
        else if (p == 1) {
          uint64_t t1 = now_ns();
          if (t1 >= t_measure && t1 < t_end) {
            if (status == 200 && body_len > 0) {
              ok++;
              c->answered++;
              if (nlat == lat_cap) lat = realloc(lat, (lat_cap *= 2) * sizeof *lat);
              lat[nlat++] = t1 - c->t0;
            } else {
              bad++;
            }
          }
          if (close_after) {
            conn_close(c);
            conn_open(c);
          }
          conn_start(c);
          failed = c->waiting < 0;
        }
      }
      if (failed) {
        if (now_ns() >= t_measure) errors++;
        conn_close(c);
        conn_open(c);
        conn_start(c);
      }
    }
  }
  uint64_t t_stop = now_ns();
  unsigned long pending = 0, served = 0, min_conn = (unsigned long)-1;
  uint64_t oldest = 0;
  for (int i = 0; i < nconns; i++) {
    if (cs[i].waiting > 0) {
      pending++;
      if (t_stop - cs[i].t0 > oldest) oldest = t_stop - cs[i].t0;
    }
    if (cs[i].answered) served++;
    if (cs[i].answered < min_conn) min_conn = cs[i].answered;
    close(cs[i].fd);
  }
  qsort(lat, nlat, sizeof *lat, cmp_u64);
  double p50 = nlat ? lat[(nlat - 1) / 2] / 1e6 : 0;
  size_t i99 = nlat ? (size_t)((double)nlat * 0.99 + 0.999999) - 1 : 0;
  double p99 = nlat ? lat[i99 < nlat ? i99 : nlat - 1] / 1e6 : 0;
  double mx = nlat ? lat[nlat - 1] / 1e6 : 0;
  printf("rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.2f ok=%lu bad=%lu errors=%lu served_conns=%lu/%d min_conn=%lu "
         "pending=%lu oldest_pending_ms=%.0f\n",
         (double)ok / seconds, p50, p99, mx, ok, bad, errors, served, nconns, min_conn, pending, oldest / 1e6);
  return 0;
}
