/* cli/cli.h: the subcommands of the `mctx` command. Each takes the
 * arguments after its name and returns the process exit status. */
#ifndef MCTX_CLI_CLI_H
#define MCTX_CLI_CLI_H

int mctx_cmd_search(int argc, char **argv);
int mctx_cmd_bench(int argc, char **argv);

/* Shared by the subcommands: prints "mctx CMD: message" to stderr. */
void mctx_cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
