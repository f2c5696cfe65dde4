/* fuzz/common.c: helpers of fuzz.h shared by the targets. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char g_dir[256];

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[512];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      struct stat sb;
      if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(sub);
      else unlink(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

static pid_t g_owner;

static void cleanup(void) {
  if (g_dir[0] && getpid() == g_owner) remove_tree(g_dir);
}

const char *fuzz_workdir(void) {
  if (g_dir[0]) return g_dir;
  struct stat sb;
  const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                          : "/tmp";
  snprintf(g_dir, sizeof g_dir, "%s/mctx-fuzz-XXXXXX", base);
  if (!mkdtemp(g_dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  g_owner = getpid();
  atexit(cleanup);
  return g_dir;
}
