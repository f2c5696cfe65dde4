/* bench/service/loadgen.c: an HTTP/1.1 load generator for `mctx serve` on
 * loopback, open loop or closed loop (docs/RELIABILITY.md, "Load").
 *
 *   loadgen --port P [--host 127.0.0.1] [--path /api/v1/mcts/search]
 *           [--body FILE] [--method POST] [--header "Name: value"]...
 *           [--rate R] [--conns C] [--duration S] [--warmup S]
 *           [--vary-request-id] [--json]
 *
 * Closed loop (--rate 0, the default): each of C connections sends its
 * next request when the last answer is in, as wrk does: the throughput is
 * the service's capacity at that concurrency.
 *
 * Open loop (--rate R): requests are scheduled at R per second whatever the
 * service does, on the first idle one of C keep-alive connections (a
 * request that finds none waits in the generator's backlog). Latency is
 * measured from the scheduled time, not from when a connection was free,
 * so a slow service cannot hide its queueing (no coordinated omission).
 * This is how overload looks to a service: clients keep coming.
 *
 * Reported (text, or one JSON object with --json): requests scheduled,
 * sent and answered; answers per status; how many 503 and 429 answers
 * carried Retry-After; connection errors; latency percentiles of the 200
 * answers and of all answers; answers per second over each second of the
 * run. The first --warmup seconds are run but not counted.
 *
 * One thread, epoll, no dependencies: cc -O2 -o loadgen loadgen.c
 * (bench/service/overload.sh builds it). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

#define MAX_CONNS 4096
#define MAX_HEADERS 16
#define MAX_SECONDS 7200
#define RBUF 65536

/* ==== Latency histogram: 1 us resolution below 1 ms, then 0.1% steps ==== */

#define HBUCKETS 16384

typedef struct hist {
  uint64_t n[HBUCKETS];
  uint64_t count;
  double max_us;
  double sum_us;
} hist;

static int bucket_of(double us) {
  if (us < 1) return 0;
  if (us < 1000) return (int)us;
  int b = 1000 + (int)(log(us / 1000.0) / log(1.001));
  return b < HBUCKETS ? b : HBUCKETS - 1;
}

static double bucket_value(int b) {
  if (b < 1000) return b + 0.5;
  return 1000.0 * pow(1.001, (double)(b - 1000) + 0.5);
}

static void hist_add(hist *h, double us) {
  h->n[bucket_of(us)]++;
  h->count++;
  h->sum_us += us;
  if (us > h->max_us) h->max_us = us;
}

static double hist_pct(const hist *h, double p) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count);
  if (want < 1) want = 1;
  uint64_t seen = 0;
  for (int b = 0; b < HBUCKETS; b++) {
    seen += h->n[b];
    if (seen >= want) return bucket_value(b) > h->max_us ? h->max_us : bucket_value(b);
  }
  return h->max_us;
}

/* ==== Settings and state ==== */

typedef struct conn {
  int fd;
  int connected;
  int busy;                  /* a request is out */
  uint64_t sched_ns;         /* when the request out was scheduled */
  uint64_t sent_ns;          /* when it was written to the socket */
  int counted;               /* it was scheduled after the warm-up */
  char *rbuf;
  size_t rlen;
  size_t wsent;              /* bytes of the request written */
} conn;

static struct {
  const char *host;
  int port;
  const char *path;
  const char *method;
  char *body;
  size_t body_len;
  const char *headers[MAX_HEADERS];
  int nheaders;
  double rate;
  int conns;
  double duration, warmup;
  int vary_id;
  int json;
} O = {"127.0.0.1", 0, "/api/v1/mcts/search", NULL, NULL, 0, {0}, 0, 0, 16, 10, 2, 0, 0};

static struct {
  uint64_t scheduled, sent, answered, conn_errors, backlog_max;
  uint64_t status[600];
  uint64_t retry_after_503, retry_after_429;
  hist ok, all;
  hist ok_sent;              /* 200s from the request's write: the service's own time, without the generator's lag */
  uint64_t per_second_ok[MAX_SECONDS], per_second_all[MAX_SECONDS];
} S;

static struct sockaddr_in g_addr;
static int g_ep;
static conn g_conns[MAX_CONNS];
static uint64_t g_seq;
static char g_reqbuf[1 << 20];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "loadgen: %s: %s\n", msg, strerror(errno));
  exit(1);
}

/* ==== Connections ==== */

static void conn_open(conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->connected = 0;
  c->busy = 0;
  c->rlen = 0;
  c->wsent = 0;
  if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS) die("connect");
  struct epoll_event ev = {EPOLLIN | EPOLLOUT | EPOLLRDHUP, {.ptr = c}};
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
}

static void conn_reset(conn *c) {
  epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  conn_open(c);
}

/* The request text (the body's request id varies with --vary-request-id). */
static size_t build_request(char *out, size_t cap) {
  int n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", O.method, O.path, O.host);
  for (int i = 0; i < O.nheaders; i++) n += snprintf(out + n, cap - (size_t)n, "%s\r\n", O.headers[i]);
  if (O.vary_id) n += snprintf(out + n, cap - (size_t)n, "X-Request-ID: load-%d-%llu\r\n", (int)getpid(),
                               (unsigned long long)++g_seq);
  if (O.body) {
    n += snprintf(out + n, cap - (size_t)n, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  O.body_len);
    if ((size_t)n + O.body_len < cap) {
      memcpy(out + n, O.body, O.body_len);
      n += (int)O.body_len;
    }
  } else {
    n += snprintf(out + n, cap - (size_t)n, "\r\n");
  }
  return (size_t)n;
}

static int conn_send(conn *c, uint64_t sched, int counted) {
  size_t len = build_request(g_reqbuf, sizeof g_reqbuf);
  ssize_t k = send(c->fd, g_reqbuf, len, MSG_NOSIGNAL);
  if (k != (ssize_t)len) return -1; /* a request fits the socket buffer: anything else is an error */
  c->busy = 1;
  c->sched_ns = sched;
  c->sent_ns = now_ns();
  c->counted = counted;
  if (counted) S.sent++;
  return 0;
}

/* Parses one answer out of c->rbuf; returns 1 when one was complete. */
static int conn_answer(conn *c, uint64_t t_end_warm) {
  char *eoh = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
  if (!eoh) return 0;
  size_t head = (size_t)(eoh - c->rbuf) + 4;
  int status = c->rlen >= 12 ? atoi(c->rbuf + 9) : 0;
  long long cl = 0;
  int retry = 0, close_after = 0;
  for (char *line = strstr(c->rbuf, "\r\n"); line && line < eoh; line = strstr(line + 2, "\r\n")) {
    char *l = line + 2;
    if (!strncasecmp(l, "Content-Length:", 15)) cl = atoll(l + 15);
    else if (!strncasecmp(l, "Retry-After:", 12)) retry = 1;
    else if (!strncasecmp(l, "Connection: close", 17)) close_after = 1;
  }
  if (c->rlen < head + (size_t)cl) return 0;
  uint64_t now = now_ns();
  if (c->counted && c->sched_ns >= t_end_warm) {
    double us = (double)(now - c->sched_ns) / 1e3;
    S.answered++;
    if (status > 0 && status < 600) S.status[status]++;
    hist_add(&S.all, us);
    if (status == 200) {
      hist_add(&S.ok, us);
      hist_add(&S.ok_sent, (double)(now - c->sent_ns) / 1e3);
    }
    if (status == 503 && retry) S.retry_after_503++;
    if (status == 429 && retry) S.retry_after_429++;
    uint64_t sec = (now - t_end_warm) / 1000000000ULL;
    if (sec < MAX_SECONDS) {
      S.per_second_all[sec]++;
      if (status == 200) S.per_second_ok[sec]++;
    }
  }
  size_t used = head + (size_t)cl;
  memmove(c->rbuf, c->rbuf + used, c->rlen - used);
  c->rlen -= used;
  c->busy = 0;
  if (close_after) conn_reset(c);
  return 1;
}

/* ==== Main loop ==== */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --port P [--host H] [--path P] [--method M] [--body FILE] [--header 'N: v']...\n"
          "               [--rate R (0: closed loop)] [--conns C] [--duration S] [--warmup S]\n"
          "               [--vary-request-id] [--json]\n");
  exit(2);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("read");
  fclose(f);
  b[n] = '\0';
  *len = (size_t)n;
  return b;
}

static void report(double seconds) {
  int secs = (int)seconds;
  if (secs > MAX_SECONDS) secs = MAX_SECONDS;
  if (O.json) {
    printf("{\"mode\":\"%s\",\"rate\":%.1f,\"conns\":%d,\"seconds\":%.1f,\"scheduled\":%llu,\"sent\":%llu,"
           "\"answered\":%llu,\"answers_per_s\":%.1f,\"ok_per_s\":%.1f,\"conn_errors\":%llu,\"backlog_max\":%llu,"
           "\"status\":{",
           O.rate > 0 ? "open" : "closed", O.rate, O.conns, seconds, (unsigned long long)S.scheduled,
           (unsigned long long)S.sent, (unsigned long long)S.answered, (double)S.answered / seconds,
           (double)S.ok.count / seconds, (unsigned long long)S.conn_errors, (unsigned long long)S.backlog_max);
    int first = 1;
    for (int s = 0; s < 600; s++)
      if (S.status[s]) {
        printf("%s\"%d\":%llu", first ? "" : ",", s, (unsigned long long)S.status[s]);
        first = 0;
      }
    printf("},\"retry_after_503\":%llu,\"retry_after_429\":%llu,", (unsigned long long)S.retry_after_503,
           (unsigned long long)S.retry_after_429);
    printf("\"ok_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},",
           hist_pct(&S.ok, 50) / 1e3, hist_pct(&S.ok, 90) / 1e3, hist_pct(&S.ok, 99) / 1e3,
           hist_pct(&S.ok, 99.9) / 1e3, S.ok.max_us / 1e3, S.ok.count ? S.ok.sum_us / (double)S.ok.count / 1e3 : 0);
    printf("\"ok_sent_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},",
           hist_pct(&S.ok_sent, 50) / 1e3, hist_pct(&S.ok_sent, 90) / 1e3, hist_pct(&S.ok_sent, 99) / 1e3,
           hist_pct(&S.ok_sent, 99.9) / 1e3, S.ok_sent.max_us / 1e3);
    printf("\"all_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},", hist_pct(&S.all, 50) / 1e3,
           hist_pct(&S.all, 99) / 1e3, S.all.max_us / 1e3);
    printf("\"ok_per_second\":[");
    for (int i = 0; i < secs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)S.per_second_ok[i]);
    printf("],\"answers_per_second\":[");
    for (int i = 0; i < secs; i++) printf("%s%llu", i ? "," : "", (unsigned long long)S.per_second_all[i]);
    printf("]}\n");
    return;
  }
  printf("%s loop, %d connections, %.1f s counted\n", O.rate > 0 ? "open" : "closed", O.conns, seconds);
  if (O.rate > 0) printf("  scheduled %llu (%.0f/s), sent %llu\n", (unsigned long long)S.scheduled, O.rate,
                         (unsigned long long)S.sent);
  printf("  answered %llu (%.1f/s), 200: %llu (%.1f/s)\n", (unsigned long long)S.answered,
         (double)S.answered / seconds, (unsigned long long)S.ok.count, (double)S.ok.count / seconds);
  printf("  statuses:");
  for (int s = 0; s < 600; s++)
    if (S.status[s]) printf(" %d=%llu", s, (unsigned long long)S.status[s]);
  printf("\n  Retry-After on 503: %llu, on 429: %llu; connection errors: %llu; backlog max %llu\n",
         (unsigned long long)S.retry_after_503, (unsigned long long)S.retry_after_429,
         (unsigned long long)S.conn_errors, (unsigned long long)S.backlog_max);
  printf("  200 latency ms: p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f\n", hist_pct(&S.ok, 50) / 1e3,
         hist_pct(&S.ok, 90) / 1e3, hist_pct(&S.ok, 99) / 1e3, hist_pct(&S.ok, 99.9) / 1e3, S.ok.max_us / 1e3);
  printf("  200 latency from the write ms: p50 %.3f p99 %.3f\n", hist_pct(&S.ok_sent, 50) / 1e3,
         hist_pct(&S.ok_sent, 99) / 1e3);
  printf("  all latency ms: p50 %.3f p99 %.3f max %.3f\n", hist_pct(&S.all, 50) / 1e3, hist_pct(&S.all, 99) / 1e3,
         S.all.max_us / 1e3);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--vary-request-id")) { O.vary_id = 1; continue; }
    if (!strcmp(a, "--json")) { O.json = 1; continue; }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--host")) O.host = v;
    else if (!strcmp(a, "--port")) O.port = atoi(v);
    else if (!strcmp(a, "--path")) O.path = v;
    else if (!strcmp(a, "--method")) O.method = v;
    else if (!strcmp(a, "--body")) O.body = read_file(v, &O.body_len);
    else if (!strcmp(a, "--header") && O.nheaders < MAX_HEADERS) O.headers[O.nheaders++] = v;
    else if (!strcmp(a, "--rate")) O.rate = atof(v);
    else if (!strcmp(a, "--conns")) O.conns = atoi(v);
    else if (!strcmp(a, "--duration")) O.duration = atof(v);
    else if (!strcmp(a, "--warmup")) O.warmup = atof(v);
    else usage();
  }
  if (O.port <= 0 || O.conns < 1 || O.conns > MAX_CONNS || O.duration <= 0 || O.warmup < 0) usage();
  if (!O.method) O.method = O.body ? "POST" : "GET";
  signal(SIGPIPE, SIG_IGN);
  memset(&g_addr, 0, sizeof g_addr);
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons((uint16_t)O.port);
  if (inet_pton(AF_INET, O.host, &g_addr.sin_addr) != 1) { fprintf(stderr, "loadgen: bad host %s\n", O.host); return 2; }
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (g_ep < 0) die("epoll_create1");
  for (int i = 0; i < O.conns; i++) {
    g_conns[i].rbuf = malloc(RBUF);
    if (!g_conns[i].rbuf) die("malloc");
    conn_open(&g_conns[i]);
  }
  uint64_t t0 = now_ns();
  uint64_t t_warm = t0 + (uint64_t)(O.warmup * 1e9);
  uint64_t t_end = t_warm + (uint64_t)(O.duration * 1e9);
  double interval_ns = O.rate > 0 ? 1e9 / O.rate : 0;
  uint64_t k_sched = 0;      /* open loop: requests scheduled so far, warm-up included */
  uint64_t next_sched = t0;  /* ... and the next one's time */
  /* requests scheduled but not yet on a connection (open loop): their times */
  size_t bl_cap = 1 << 20, bl_head = 0, bl_len = 0;
  uint64_t *backlog = O.rate > 0 ? malloc(bl_cap * sizeof *backlog) : NULL;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t now = now_ns();
    if (now >= t_end) break;
    /* open loop: schedule what is due */
    if (O.rate > 0) {
      while (next_sched <= now && next_sched < t_end) {
        if (bl_len < bl_cap) {
          backlog[(bl_head + bl_len) % bl_cap] = next_sched;
          bl_len++;
          if (next_sched >= t_warm) S.scheduled++;
        }
        k_sched++;
        next_sched = t0 + (uint64_t)((double)k_sched * interval_ns);
      }
      if (bl_len > S.backlog_max) S.backlog_max = bl_len;
      for (int i = 0; i < O.conns && bl_len; i++) {
        conn *c = &g_conns[i];
        if (!c->connected || c->busy) continue;
        uint64_t sched = backlog[bl_head];
        if (conn_send(c, sched, sched >= t_warm) != 0) {
          S.conn_errors++;
          conn_reset(c);
          continue;
        }
        bl_head = (bl_head + 1) % bl_cap;
        bl_len--;
      }
    } else {
      for (int i = 0; i < O.conns; i++) {
        conn *c = &g_conns[i];
        if (c->connected && !c->busy && conn_send(c, now, now >= t_warm) != 0) {
          S.conn_errors++;
          conn_reset(c);
        }
      }
    }
    /* Sleep until the next scheduled request (or an answer), to the
     * microsecond: a millisecond timeout would round the open loop's short
     * intervals down to 0 and spin, taking a core from the service it
     * measures (on a 2-core machine that doubled the latency tail). */
    uint64_t wait_ns = 1000000ULL;
    if (O.rate > 0) wait_ns = next_sched > now ? next_sched - now : 0;
    if (wait_ns > 10000000ULL) wait_ns = 10000000ULL;
    struct timespec wt = {(time_t)(wait_ns / 1000000000ULL), (long)(wait_ns % 1000000000ULL)};
    int n = epoll_pwait2(g_ep, evs, 256, &wt, NULL);
    if (n < 0 && errno != EINTR) die("epoll_pwait2");
    for (int k = 0; k < n; k++) {
      conn *c = evs[k].data.ptr;
      uint32_t e = evs[k].events;
      if (!c->connected && (e & EPOLLOUT)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
          S.conn_errors++;
          conn_reset(c);
          continue;
        }
        c->connected = 1;
        struct epoll_event ev = {EPOLLIN | EPOLLRDHUP, {.ptr = c}};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (e & EPOLLIN) {
        for (;;) {
          if (c->rlen == RBUF) { c->rlen = 0; break; } /* an answer larger than the buffer: drop it */
          ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
          if (r > 0) {
            c->rlen += (size_t)r;
            while (c->rlen && conn_answer(c, t_warm)) {}
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            if (c->busy) S.conn_errors++;
            conn_reset(c);
          }
          break;
        }
      } else if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        if (c->busy) S.conn_errors++;
        conn_reset(c);
      }
    }
  }
  report((double)(t_end - t_warm) / 1e9);
  return 0;
}
