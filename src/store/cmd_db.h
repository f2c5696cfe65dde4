/* store/cmd_db.h: `mctx db`, the storage layer's command (src/cli/cmd_db.c,
 * built as the library mctx_store_cmd). The CLI's dispatcher calls it with
 * the arguments after "mctx" (argv[0] is "db").
 *
 *   mctx db init | migrate | stats | prune | workload-class | sdi [FLAGS]
 *
 * The database comes from --db URL, else MCTX_DB_URL, else
 * sqlite:data/mctx.db. `mctx db COMMAND --help` describes each command. */
#ifndef MCTX_STORE_CMD_DB_H
#define MCTX_STORE_CMD_DB_H

/* Runs `mctx db ...`. Returns the exit status: 0 on success, 1 when the
 * database or a statement failed, 2 on a usage error. Prints to stdout
 * (results) and stderr (errors). */
int mctx_cmd_db(int argc, char **argv);

#endif
