/* cli/main.c: `mctx`, the command. A thin dispatcher: each subcommand lives
 * in its own file (or layer) and parses its own flags. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_arena.h"
#if defined(MCTX_WITH_SERVICE)
#include "service/service.h"
#include "store/cmd_db.h"
#endif

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command COMMANDS[] = {
  {"search", mctx_cmd_search, "run one search request (JSON) and print the result"},
  {"bench", mctx_cmd_bench, "time searches and print median time and simulations per second"},
  {"arena", mctx_cmd_arena, "play two search configurations against each other on a game"},
#if defined(MCTX_WITH_SERVICE)
  {"serve", mctx_cmd_serve, "run the search service (HTTP API, metrics, history in the database)"},
  {"db", mctx_cmd_db, "the search database: init, migrate, stats, workload-class, sdi, prune"},
#endif
};

void mctx_cli_error(const char *cmd, const char *fmt, ...) {
  fprintf(stderr, "mctx %s: ", cmd);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void usage(FILE *f) {
  fprintf(f,
          "mctx: batched Monte Carlo tree search (MuZero, Gumbel MuZero, Stochastic MuZero)\n\n"
          "usage: mctx COMMAND [FLAGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
    fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  fprintf(f, "\n`mctx COMMAND --help` describes each command's flags.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) { printf("mctx 0.1.0\n"); return 0; }
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
    if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
  fprintf(stderr, "mctx: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
