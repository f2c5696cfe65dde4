/* tests/store/pgtmp.h: a real, temporary PostgreSQL server for the storage
 * tests, started and stopped by the test executable itself.
 *
 * initdb into a fresh directory under $TMPDIR (or /tmp), then pg_ctl start
 * on a free loopback port (and a unix socket in the same directory), trust
 * authentication, superuser "mctx", fsync off (a throwaway cluster). initdb
 * refuses to run as root, so as root the server's commands run as an
 * unprivileged user (MCTX_TEST_PG_USER, else "nobody") in a forked child that
 * drops its privileges; as any other user they run as that user. The
 * binaries come from MCTX_PG_BIN, else the newest /usr/lib/postgresql/N/bin
 * (Debian), else PATH.
 *
 * A watchdog process (its own session) holds the cluster: when the test
 * process ends, however it ends, the watchdog stops the server and removes
 * the directory, so no server outlives a crashed or killed test. When the
 * server cannot be started, pgtmp_start returns -1 with the reason, and the
 * tests SKIP with it. */
#ifndef MCTX_TESTS_PGTMP_H
#define MCTX_TESTS_PGTMP_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct pgtmp {
  char dir[256];        /* the cluster's directory (data/, log, socket) */
  char bin[256];
  int port;
  int running;
  int drop_priv;        /* run server commands as uid/gid */
  uid_t uid;
  gid_t gid;
  int watch_fd;         /* write end of the watchdog's pipe */
  pid_t watchdog;
  char why[512];        /* why it could not start */
} pgtmp;

static __attribute__((unused)) int pgtmp__rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : 0;
}

static __attribute__((unused)) void pgtmp__rmrf(const char *dir) { nftw(dir, pgtmp__rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* Runs argv (argv[0] a full path) with output to `log`, as the cluster's
 * user when drop_priv. Returns the exit status, or -1. */
static __attribute__((unused)) int pgtmp__run(const pgtmp *p, int drop, char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int nul = open("/dev/null", O_RDONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    if (nul >= 0) dup2(nul, 0);
    if (chdir(p->dir) != 0) _exit(126);
    if (drop && p->drop_priv) {
      if (setgroups(0, NULL) != 0 || setgid(p->gid) != 0 || setuid(p->uid) != 0) _exit(125);
    }
    unsetenv("PGDATA");
    unsetenv("PGHOST");
    unsetenv("PGPORT");
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static __attribute__((unused)) int pgtmp__free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

static __attribute__((unused)) int pgtmp__find_bin(pgtmp *p) {
  const char *env = getenv("MCTX_PG_BIN");
  char path[400];
  if (env && env[0]) {
    snprintf(p->bin, sizeof p->bin, "%s", env);
  } else {
    glob_t g;
    p->bin[0] = '\0';
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
      /* the newest major version: compare numerically */
      int best = -1;
      for (size_t i = 0; i < g.gl_pathc; i++) {
        int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
        if (v > best) { best = v; snprintf(p->bin, sizeof p->bin, "/usr/lib/postgresql/%d/bin", v); }
      }
    }
    globfree(&g);
    if (!p->bin[0]) {
      const char *pathenv = getenv("PATH");
      char buf[4096];
      snprintf(buf, sizeof buf, "%s", pathenv ? pathenv : "/usr/bin:/bin");
      for (char *tok = strtok(buf, ":"); tok; tok = strtok(NULL, ":")) {
        snprintf(path, sizeof path, "%s/initdb", tok);
        if (access(path, X_OK) == 0) { snprintf(p->bin, sizeof p->bin, "%s", tok); break; }
      }
    }
  }
  snprintf(path, sizeof path, "%s/initdb", p->bin);
  if (!p->bin[0] || access(path, X_OK) != 0) {
    snprintf(p->why, sizeof p->why, "no PostgreSQL server binaries (initdb) found: install the postgresql "
             "package or set MCTX_PG_BIN");
    return -1;
  }
  return 0;
}

/* Starts the server (again) on p->port. */
static __attribute__((unused)) int pgtmp_resume(pgtmp *p) {
  char pgctl[400], data[300], log[300], opts[600];
  snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", p->bin);
  snprintf(data, sizeof data, "%s/data", p->dir);
  snprintf(log, sizeof log, "%s/server.log", p->dir);
  snprintf(opts, sizeof opts,
           "-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
           "-c max_connections=60 -c shared_buffers=16MB",
           p->dir, p->port);
  char *argv[] = {pgctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start", NULL};
  int rc = pgtmp__run(p, 1, argv, NULL);
  if (rc != 0) {
    snprintf(p->why, sizeof p->why, "pg_ctl start failed (exit %d); see %s", rc, log);
    return -1;
  }
  p->running = 1;
  return 0;
}

/* Stops the server (fast shutdown: sessions are cut). */
static __attribute__((unused)) int pgtmp_stop(pgtmp *p) {
  char pgctl[400], data[300];
  snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", p->bin);
  snprintf(data, sizeof data, "%s/data", p->dir);
  char *argv[] = {pgctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop", NULL};
  int rc = pgtmp__run(p, 1, argv, NULL);
  p->running = 0;
  return rc;
}

/* The watchdog: waits for the test process to close the pipe (or die),
 * then stops the server and removes the directory. */
static __attribute__((unused)) void pgtmp__watchdog(pgtmp *p, int rfd) {
  setsid();
  /* Let go of the test's stdout/stderr: ctest waits for them to close. */
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); if (nul > 2) close(nul); }
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  char c;
  while (read(rfd, &c, 1) != 0) {
    if (errno != EINTR) break;
  }
  char pgctl[400], data[300];
  snprintf(pgctl, sizeof pgctl, "%s/pg_ctl", p->bin);
  snprintf(data, sizeof data, "%s/data", p->dir);
  char *argv[] = {pgctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop", NULL};
  pgtmp__run(p, 1, argv, NULL);
  pgtmp__rmrf(p->dir);
  _exit(0);
}

/* Whether the environment requires `what` ("postgres", "odbc", ...):
 * MCTX_TEST_REQUIRE lists components that must not be skipped (.ci/run sets
 * it for what scripts/setup.sh installs), "all" for every one. */
static __attribute__((unused)) int pgtmp_required(const char *what) {
  const char *r = getenv("MCTX_TEST_REQUIRE");
  if (!r || !r[0]) return 0;
  if (strstr(r, "all")) return 1;
  return strstr(r, what) != NULL;
}

/* A test that cannot run because `what` is missing: skipped, or (when the
 * environment requires it) a failure, saying why. */
static __attribute__((unused)) void pgtmp_unavailable(const char *what, const char *why) {
  if (pgtmp_required(what)) {
    fprintf(stderr, "FAIL: %s is required here (MCTX_TEST_REQUIRE) but unavailable: %s\n", what, why);
    exit(1);
  }
}

static int pgtmp__start(pgtmp *p);

/* Creates and starts a cluster. Returns 0, or -1 with p->why (when
 * MCTX_TEST_REQUIRE names postgres, the process fails instead). */
static __attribute__((unused)) int pgtmp_start(pgtmp *p) {
  int rc = pgtmp__start(p);
  if (rc != 0) pgtmp_unavailable("postgres", p->why);
  return rc;
}

static int pgtmp__start(pgtmp *p) {
  memset(p, 0, sizeof *p);
  p->watch_fd = -1;
  if (pgtmp__find_bin(p) != 0) return -1;
  if (geteuid() == 0) {
    const char *user = getenv("MCTX_TEST_PG_USER");
    struct passwd *pw = getpwnam(user && user[0] ? user : "nobody");
    if (!pw || pw->pw_uid == 0) {
      snprintf(p->why, sizeof p->why, "running as root and no unprivileged user '%s' to run initdb as "
               "(set MCTX_TEST_PG_USER)", user && user[0] ? user : "nobody");
      return -1;
    }
    p->drop_priv = 1;
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(p->dir, sizeof p->dir, "%s/mctx-pg-XXXXXX", tmp && tmp[0] && strlen(tmp) < 80 ? tmp : "/tmp");
  if (!mkdtemp(p->dir)) {
    snprintf(p->why, sizeof p->why, "mkdtemp %s: %s", p->dir, strerror(errno));
    return -1;
  }
  if (p->drop_priv && chown(p->dir, p->uid, p->gid) != 0) {
    snprintf(p->why, sizeof p->why, "chown %s: %s", p->dir, strerror(errno));
    pgtmp__rmrf(p->dir);
    return -1;
  }
  /* The watchdog first, so that the directory goes away whatever happens. */
  int fds[2];
  if (pipe(fds) != 0) { snprintf(p->why, sizeof p->why, "pipe: %s", strerror(errno)); pgtmp__rmrf(p->dir); return -1; }
  pid_t w = fork();
  if (w == 0) {
    close(fds[1]);
    pgtmp__watchdog(p, fds[0]);
  }
  close(fds[0]);
  if (w < 0) { close(fds[1]); pgtmp__rmrf(p->dir); snprintf(p->why, sizeof p->why, "fork failed"); return -1; }
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  p->watch_fd = fds[1];
  p->watchdog = w;

  char initdb[400], data[300], log[300];
  snprintf(initdb, sizeof initdb, "%s/initdb", p->bin);
  snprintf(data, sizeof data, "%s/data", p->dir);
  snprintf(log, sizeof log, "%s/initdb.log", p->dir);
  char *argv[] = {initdb, "-D", data, "-U", "mctx", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", NULL};
  int rc = pgtmp__run(p, 1, argv, log);
  if (rc != 0) {
    snprintf(p->why, sizeof p->why, "initdb failed (exit %d)%s; see %s", rc,
             rc == 125 ? ": cannot drop root privileges" : "", log);
    return -1;
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    p->port = pgtmp__free_port();
    if (p->port > 0 && pgtmp_resume(p) == 0) return 0;
  }
  return -1;
}

/* Stops the server and removes its directory (through the watchdog). */
static __attribute__((unused)) void pgtmp_destroy(pgtmp *p) {
  if (p->watch_fd < 0) return;
  if (p->running) pgtmp_stop(p);
  close(p->watch_fd);
  p->watch_fd = -1;
  int status;
  while (waitpid(p->watchdog, &status, 0) < 0 && errno == EINTR) {}
}

/* Runs one SQL statement with psql as the superuser on database `db`.
 * Returns psql's exit status. */
static __attribute__((unused)) int pgtmp_sql(const pgtmp *p, const char *db, const char *sql) {
  char psql[400], port[16];
  snprintf(psql, sizeof psql, "%s/psql", p->bin);
  snprintf(port, sizeof port, "%d", p->port);
  char *argv[] = {psql, "-X", "-q", "-h", "127.0.0.1", "-p", port, "-U", "mctx", "-d", (char *)db,
                  "-v", "ON_ERROR_STOP=1", "-c", (char *)sql, NULL};
  return pgtmp__run(p, 0, argv, NULL);
}

/* The psqlODBC driver (a path unixODBC loads without odbcinst.ini):
 * MCTX_TEST_PSQLODBC, else Debian's multiarch location. NULL when absent. */
static __attribute__((unused)) const char *pgtmp_psqlodbc(void) {
  static char path[512];
  const char *env = getenv("MCTX_TEST_PSQLODBC");
  if (env && env[0]) return access(env, R_OK) == 0 ? env : NULL;
  glob_t g;
  path[0] = '\0';
  if (glob("/usr/lib/*/odbc/psqlodbcw.so", 0, NULL, &g) == 0 && g.gl_pathc > 0)
    snprintf(path, sizeof path, "%s", g.gl_pathv[0]);
  globfree(&g);
  if (!path[0]) {
    static const char *const cands[] = {"/usr/lib/odbc/psqlodbcw.so", "/usr/lib64/psqlodbcw.so",
                                        "/usr/local/lib/psqlodbcw.so", NULL};
    for (int i = 0; cands[i]; i++)
      if (access(cands[i], R_OK) == 0) { snprintf(path, sizeof path, "%s", cands[i]); break; }
  }
  return path[0] ? path : NULL;
}

#endif
