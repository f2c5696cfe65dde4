/* service/cmd_serve.c: `mctx serve`: flags, signals, start, wait, drain.
 *
 * SIGTERM, SIGINT and SIGHUP get a handler that writes the signal to a pipe
 * (the self-pipe trick); the main thread sleeps reading it. A handler, not a
 * mask alone, because libraries may start threads before main (OpenBLAS
 * does) whose masks this process never set: whichever thread takes the
 * signal, it only writes a byte. The service's own threads start with the
 * signals blocked, so their system calls are not interrupted. SIGPIPE is
 * ignored (a client that hangs up is an error return, not a death). SIGHUP
 * reloads the model repository (--model-dir) on the main thread. The
 * first SIGTERM or SIGINT drains and stops; the exit status is 0 when that
 * went cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "service/config.h"
#include "service/log.h"
#include "service/server.h"
#include "service/service.h"

static int g_sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t n = write(g_sig_pipe[1], &b, 1);
  (void)n;
  errno = saved;
}

/* Sleeps until SIGTERM or SIGINT. SIGHUP reloads the model repository here,
 * on the main thread (the handler only wrote a byte); without one it is
 * logged and ignored. */
static int wait_for_stop(mctx_server *s) {
  for (;;) {
    unsigned char b;
    ssize_t n = read(g_sig_pipe[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return SIGTERM;
    if (b == SIGHUP) {
      mctx_status st;
      if (mctx_server_reload_models(s, "SIGHUP", &st) != 0 && !s->models)
        mctx_logf(MCTX_LOG_INFO, "SIGHUP ignored: no model repository to reload; restart the service to change "
                                 "its configuration");
      continue;
    }
    return b;
  }
}

int mctx_cmd_serve(int argc, char **argv) {
  mctx_svc_config cfg;
  mctx_svc_config_default(&cfg);
  char err[512];
  int rc = mctx_svc_config_load(&cfg, argc, argv, err, sizeof err);
  if (rc == 1) return 0;
  if (rc != 0) {
    fprintf(stderr, "mctx serve: %s\n", err);
    return 2;
  }
  mctx_log_set_level(cfg.log_level);

  signal(SIGPIPE, SIG_IGN);
  if (pipe2(g_sig_pipe, O_CLOEXEC) != 0) {
    fprintf(stderr, "mctx serve: pipe: %s\n", strerror(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the threads the service starts */

  mctx_status st;
  mctx_status_clear(&st);
  mctx_server *s = mctx_server_start(&cfg, &st);
  if (!s) {
    mctx_logline l;
    if (mctx_log_begin(&l, MCTX_LOG_ERROR, "the service could not start")) {
      mctx_log_str(&l, "field", st.field);
      mctx_log_str(&l, "reason", st.reason);
      mctx_log_end(&l);
    }
    return 1;
  }
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  int sig = wait_for_stop(s);
  mctx_logline l;
  if (mctx_log_begin(&l, MCTX_LOG_INFO, "shutting down")) {
    mctx_log_str(&l, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    mctx_log_end(&l);
  }
  mctx_server_drain(s);
  mctx_server_stop(s);
  mctx_logf(MCTX_LOG_INFO, "stopped");
  close(g_sig_pipe[0]);
  close(g_sig_pipe[1]);
  return 0;
}
