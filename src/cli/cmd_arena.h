/* cli/cmd_arena.h: `mctx arena`, two search configurations playing a game
 * against each other (src/models/arena.h does the work). */
#ifndef MCTX_CLI_CMD_ARENA_H
#define MCTX_CLI_CMD_ARENA_H

/* Runs `mctx arena` with the arguments after the command's name; returns the
 * exit status (0 done, 1 failure, 2 bad flags). */
int mctx_cmd_arena(int argc, char **argv);

#endif
