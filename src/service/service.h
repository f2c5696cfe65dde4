/* service/service.h: the `mctx serve` command, the entry point of the
 * search service for the CLI dispatcher (src/cli/main.c). */
#ifndef MCTX_SERVICE_SERVICE_H
#define MCTX_SERVICE_SERVICE_H

/* Runs the service until SIGTERM or SIGINT; argv[0] is "serve". Returns the
 * process exit status: 0 after a clean shutdown, 1 when the service could not
 * start, 2 for bad flags. */
int mctx_cmd_serve(int argc, char **argv);

#endif
