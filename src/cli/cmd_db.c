/* cli/cmd_db.c: `mctx db`, the operator's view of the storage layer
 * (store/cmd_db.h). It lives with the CLI but belongs to src/store: it
 * parses flags and calls the store (store.h and, for the migration texts
 * and admin statements, store-impl.h), nothing else.
 *
 *   init            create the schema (or check it is current)
 *   migrate         apply the pending migrations; --print shows a dialect's DDL
 *   stats           the daily statistics as a table (or --json)
 *   prune           retention: delete history and trees older than N days
 *   workload-class  SAP HANA: CREATE WORKLOAD CLASS + MAPPING (print, or --apply)
 *   sdi             SAP HANA: remote source + virtual tables over the history,
 *                   statistics and trees
 *
 * The DDL of workload-class and sdi cannot take bound parameters, so every
 * value that goes into it is checked first: identifiers and names against a
 * strict character set, numbers parsed as numbers. Secrets never go on the
 * command line: the remote source's credentials are printed as placeholders. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/cmd_db.h"
#include "store/store-impl.h"
#include "store/store.h"

#define DEFAULT_URL "sqlite:data/mctx.db"

static int err(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "mctx db: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return 1;
}

static int usage_err(const char *cmd, const char *what) {
  fprintf(stderr, "mctx db %s: %s (see `mctx db %s --help`)\n", cmd, what, cmd);
  return 2;
}

/* ==== Flags ==== */

typedef struct flag {
  const char *name;     /* "--db" */
  int takes_value;
  const char *value;    /* the value, or "1" for a switch that was given */
} flag;

/* Parses argv[1..] against flags. Returns 0, or 2 (printed) on an unknown
 * flag or a missing value. `help` is set for --help / -h. */
static int parse_flags(const char *cmd, int argc, char **argv, flag *flags, int *help) {
  *help = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { *help = 1; continue; }
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a) : strlen(a);
    flag *f = NULL;
    for (flag *g = flags; g->name; g++)
      if (strlen(g->name) == nl && strncmp(g->name, a, nl) == 0) f = g;
    if (!f) {
      fprintf(stderr, "mctx db %s: unknown flag '%s' (see `mctx db %s --help`)\n", cmd, a, cmd);
      return 2;
    }
    if (!f->takes_value) {
      if (eq) { fprintf(stderr, "mctx db %s: %s takes no value\n", cmd, f->name); return 2; }
      f->value = "1";
    } else if (eq) {
      f->value = eq + 1;
    } else if (i + 1 < argc) {
      f->value = argv[++i];
    } else {
      fprintf(stderr, "mctx db %s: %s needs a value\n", cmd, f->name);
      return 2;
    }
  }
  return 0;
}

static const char *flag_get(const flag *flags, const char *name) {
  for (const flag *g = flags; g->name; g++)
    if (strcmp(g->name, name) == 0) return g->value;
  return NULL;
}

/* Parses an integer flag within [lo, hi]; *out keeps its default when the
 * flag is absent. Returns 0 or 2 (printed). */
static int int_flag(const char *cmd, const flag *flags, const char *name, long lo, long hi, long *out) {
  const char *v = flag_get(flags, name);
  if (!v) return 0;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi) {
    fprintf(stderr, "mctx db %s: %s must be an integer in [%ld, %ld], not '%s'\n", cmd, name, lo, hi, v);
    return 2;
  }
  *out = x;
  return 0;
}

static const char *db_url(const flag *flags) {
  const char *u = flag_get(flags, "--db");
  if (u && u[0]) return u;
  u = getenv("MCTX_DB_URL");
  return u && u[0] ? u : DEFAULT_URL;
}

/* Identifiers that go into DDL: a letter or '_', then letters, digits, '_'. */
static int ident_ok(const char *s) {
  if (!s || !s[0] || strlen(s) > 127) return 0;
  if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return 1;
}

/* Names that go into string literals (application names, hosts). */
static int name_ok(const char *s) {
  if (!s || !s[0] || strlen(s) > 64) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-' || *p == '.' || *p == ':'))
      return 0;
  return 1;
}

static mctx_store *open_store(const flag *flags, unsigned oflags) {
  mctx_status st;
  const char *url = db_url(flags);
  mctx_store *s = mctx_store_open2(url, oflags, &st);
  if (!s) {
    fprintf(stderr, "mctx db: cannot open the database: %s%s%s\n", st.field, st.field[0] ? ": " : "", st.reason);
    return NULL;
  }
  return s;
}

/* ==== init, migrate ==== */

static const char HELP_INIT[] =
    "usage: mctx db init [--db URL]\n\n"
    "Creates the database's tables (MCTX_SEARCH_HISTORY, MCTX_SEARCH_STATISTICS,\n"
    "MCTX_SEARCH_TREES, MCTX_SCHEMA_VERSION) at the latest schema version, or checks\n"
    "that they are there. For sqlite the file and its directory are created.\n\n"
    "  --db URL   sqlite:PATH | postgresql://... | odbc:<connection string>;dialect=hana|postgresql\n"
    "             (default: $MCTX_DB_URL, else " DEFAULT_URL ")\n";

static int cmd_init(int argc, char **argv) {
  flag flags[] = {{"--db", 1, NULL}, {NULL, 0, NULL}};
  int help, rc = parse_flags("init", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_INIT, stdout); return 0; }
  mctx_store *s = open_store(flags, 0);
  if (!s) return 1;
  mctx_status st;
  int v = 0;
  rc = mctx_store_schema_version(s, &v, &st);
  if (rc == 0)
    printf("database ready: %s (%s dialect), schema version %d\n", mctx_store_backend(s), mctx_store_dialect(s), v);
  else
    fprintf(stderr, "mctx db init: %s\n", st.reason);
  mctx_store_close(s);
  return rc ? 1 : 0;
}

static const char HELP_MIGRATE[] =
    "usage: mctx db migrate [--db URL] [--to N]\n"
    "       mctx db migrate --print [--dialect sqlite|postgresql|hana] [--to N]\n\n"
    "Applies the schema migrations the database lacks, in one transaction, up to\n"
    "the latest version (or N). Running it again changes nothing. --print writes\n"
    "the migrations' DDL of a dialect instead (for review, or for tools that\n"
    "apply DDL themselves), without connecting.\n";

static int cmd_migrate(int argc, char **argv) {
  flag flags[] = {{"--db", 1, NULL}, {"--to", 1, NULL}, {"--print", 0, NULL}, {"--dialect", 1, NULL},
                  {NULL, 0, NULL}};
  int help, rc = parse_flags("migrate", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_MIGRATE, stdout); return 0; }
  long to = 0;
  if ((rc = int_flag("migrate", flags, "--to", 1, mctx_store_schema_latest(), &to)) != 0) return rc;
  if (flag_get(flags, "--print")) {
    const char *d = flag_get(flags, "--dialect");
    int dialect = MCTX__DIALECT_SQLITE;
    if (!d || strcmp(d, "sqlite") == 0) dialect = MCTX__DIALECT_SQLITE;
    else if (strcmp(d, "postgresql") == 0) dialect = MCTX__DIALECT_POSTGRESQL;
    else if (strcmp(d, "hana") == 0) dialect = MCTX__DIALECT_HANA;
    else return usage_err("migrate", "--dialect must be sqlite, postgresql or hana");
    int last = to ? (int)to : mctx_store_schema_latest();
    printf("-- mctx schema, %s dialect, versions 1..%d\n", mctx__dialect_name(dialect), last);
    printf("%s;\n", mctx__sql_version_table(dialect));
    for (int v = 1; v <= last; v++) {
      printf("-- version %d: %s\n", v, mctx__schema_description(v));
      const char *const *stmts = mctx__schema_migration(dialect, v);
      for (size_t i = 0; stmts && stmts[i]; i++) printf("%s;\n", stmts[i]);
      printf("INSERT INTO MCTX_SCHEMA_VERSION (SCHEMA_VERSION, APPLIED_MS, DESCRIPTION) VALUES (%d, 0, '%s');\n", v,
             mctx__schema_description(v));
    }
    return 0;
  }
  mctx_store *s = open_store(flags, MCTX_STORE_OPEN_NO_MIGRATE);
  if (!s) return 1;
  mctx_status st;
  int from = 0, now = 0;
  rc = mctx_store_migrate(s, (int)to, &from, &now, &st);
  if (rc != 0) fprintf(stderr, "mctx db migrate: %s%s%s\n", st.field, st.field[0] ? ": " : "", st.reason);
  else if (from == now) printf("schema is at version %d (nothing to do)\n", now);
  else printf("schema migrated from version %d to %d\n", from, now);
  mctx_store_close(s);
  return rc ? 1 : 0;
}

/* ==== stats ==== */

static const char HELP_STATS[] =
    "usage: mctx db stats [--db URL] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--type SEARCH_TYPE] [--json]\n\n"
    "Prints MCTX_SEARCH_STATISTICS, one row per UTC day and search type: searches,\n"
    "average and maximum duration (ms), average expanded nodes, maximum batch size\n"
    "and simulations, GPU-optimized and distributed searches, and average devices\n"
    "(a distributed search counts max(num_devices, 1), any other search 1).\n";

static int cmd_stats(int argc, char **argv) {
  flag flags[] = {{"--db", 1, NULL}, {"--from", 1, NULL}, {"--to", 1, NULL}, {"--type", 1, NULL},
                  {"--json", 0, NULL}, {NULL, 0, NULL}};
  int help, rc = parse_flags("stats", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_STATS, stdout); return 0; }
  mctx_store *s = open_store(flags, 0);
  if (!s) return 1;
  mctx_status st;
  mctx_daily_stats *rows = NULL;
  size_t n = 0;
  rc = mctx_store_daily(s, flag_get(flags, "--from"), flag_get(flags, "--to"), flag_get(flags, "--type"), &rows, &n,
                        &st);
  mctx_store_close(s);
  if (rc != 0) {
    fprintf(stderr, "mctx db stats: %s%s%s\n", st.field, st.field[0] ? ": " : "", st.reason);
    return rc == MCTX_EINVALID ? 2 : 1;
  }
  if (flag_get(flags, "--json")) {
    printf("[");
    for (size_t i = 0; i < n; i++) {
      const mctx_daily_stats *d = &rows[i];
      printf("%s{\"day\":\"%s\",\"search_type\":\"", i ? "," : "", d->day);
      for (const char *p = d->search_type; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
      }
      printf("\",\"count\":%lld,\"avg_duration_ms\":%.17g,\"max_duration_ms\":%.17g,"
             "\"avg_expanded_nodes\":%.17g,\"max_batch_size\":%d,\"max_num_simulations\":%d,"
             "\"gpu_optimized_count\":%lld,\"distributed_count\":%lld,\"avg_devices\":%.17g}",
             (long long)d->count, d->avg_duration_ms, d->max_duration_ms, d->avg_expanded_nodes, d->max_batch_size,
             d->max_num_simulations, (long long)d->gpu_optimized_count, (long long)d->distributed_count,
             d->avg_devices);
    }
    printf("]\n");
  } else {
    printf("%-10s  %-18s %8s %10s %10s %10s %9s %8s %7s %11s %11s\n", "day", "search_type", "searches", "avg_ms",
           "max_ms", "avg_nodes", "max_batch", "max_sims", "gpu_opt", "distributed", "avg_devices");
    for (size_t i = 0; i < n; i++) {
      const mctx_daily_stats *d = &rows[i];
      printf("%-10s  %-18s %8lld %10.3f %10.3f %10.1f %9d %8d %7lld %11lld %11.2f\n", d->day, d->search_type,
             (long long)d->count, d->avg_duration_ms, d->max_duration_ms, d->avg_expanded_nodes, d->max_batch_size,
             d->max_num_simulations, (long long)d->gpu_optimized_count, (long long)d->distributed_count,
             d->avg_devices);
    }
    if (n == 0) printf("(no searches recorded in this range)\n");
  }
  free(rows);
  return 0;
}

/* ==== prune ==== */

static const char HELP_PRUNE[] =
    "usage: mctx db prune [--db URL] (--days N | --before YYYY-MM-DD)\n\n"
    "Retention: deletes the history rows and stored trees older than N days (or\n"
    "than the start of a UTC day). The daily statistics are kept.\n";

static int cmd_prune(int argc, char **argv) {
  flag flags[] = {{"--db", 1, NULL}, {"--days", 1, NULL}, {"--before", 1, NULL}, {NULL, 0, NULL}};
  int help, rc = parse_flags("prune", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_PRUNE, stdout); return 0; }
  long days = -1;
  if ((rc = int_flag("prune", flags, "--days", 0, 100000, &days)) != 0) return rc;
  const char *before = flag_get(flags, "--before");
  if ((days < 0) == (before == NULL)) return usage_err("prune", "give exactly one of --days and --before");
  int64_t cutoff;
  if (before) {
    int y, m, d;
    char tail;
    if (sscanf(before, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
      return usage_err("prune", "--before must be YYYY-MM-DD");
    /* days from the civil date (UTC), Howard Hinnant's algorithm */
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    cutoff = (int64_t)(era * 146097 + doe - 719468) * 86400000;
  } else {
    cutoff = mctx__now_ms() - (int64_t)days * 86400000;
  }
  mctx_store *s = open_store(flags, 0);
  if (!s) return 1;
  mctx_status st;
  int64_t deleted = 0;
  rc = mctx_store_prune(s, cutoff, &deleted, &st);
  mctx_store_close(s);
  if (rc != 0) return err("prune: %s%s", st.reason, "");
  char day[11];
  mctx__utc_day(cutoff, day);
  printf("deleted %lld searches (and their stored trees) older than %s\n", (long long)deleted, day);
  return 0;
}

/* ==== workload-class ==== */

static const char HELP_WORKLOAD[] =
    "usage: mctx db workload-class [--app NAME] [--class NAME] [--mapping NAME] [--priority 0-9]\n"
    "                              [--statement-memory GB] [--statement-threads N] [--db-user NAME]\n"
    "                              [--drop] [--apply --db odbc:...;dialect=hana]\n\n"
    "Prints the SAP HANA workload class for the service and the workload mapping\n"
    "that puts the service's sessions in it (the service connects with the session\n"
    "variable APPLICATION = --app, \"mctx\" by default). --apply runs the statements\n"
    "on the database instead (SAP HANA only; needs the WORKLOAD ADMIN privilege).\n"
    "--drop prints (or applies) the DROP statements first.\n\n"
    "  --app NAME               application name to map (default mctx)\n"
    "  --class NAME             workload class (default MCTX_SERVICE)\n"
    "  --mapping NAME           workload mapping (default <class>_MAPPING)\n"
    "  --priority N             0 (lowest) .. 9 (default 5)\n"
    "  --statement-memory GB    per-statement memory limit in GB (default: none)\n"
    "  --statement-threads N    per-statement thread limit (default: none)\n"
    "  --db-user NAME           also require this database user in the mapping\n";

/* Appends the statements to out; returns 0 or 2 (printed). */
static int workload_sql(const flag *flags, mctx_buf *out, int *nstmts, const char **stmts, size_t max) {
  const char *app = flag_get(flags, "--app") ? flag_get(flags, "--app") : "mctx";
  const char *cls = flag_get(flags, "--class") ? flag_get(flags, "--class") : "MCTX_SERVICE";
  char mapping_default[160];
  snprintf(mapping_default, sizeof mapping_default, "%s_MAPPING", cls);
  const char *map = flag_get(flags, "--mapping") ? flag_get(flags, "--mapping") : mapping_default;
  const char *user = flag_get(flags, "--db-user");
  long prio = 5, mem = -1, thr = -1;
  int rc;
  if ((rc = int_flag("workload-class", flags, "--priority", 0, 9, &prio)) != 0) return rc;
  if ((rc = int_flag("workload-class", flags, "--statement-memory", 1, 1048576, &mem)) != 0) return rc;
  if ((rc = int_flag("workload-class", flags, "--statement-threads", 1, 65535, &thr)) != 0) return rc;
  if (!name_ok(app)) return usage_err("workload-class", "--app: letters, digits and _ - . : only (at most 64)");
  if (!ident_ok(cls)) return usage_err("workload-class", "--class: an identifier (letters, digits, _)");
  if (!ident_ok(map)) return usage_err("workload-class", "--mapping: an identifier (letters, digits, _)");
  if (user && !ident_ok(user)) return usage_err("workload-class", "--db-user: an identifier (letters, digits, _)");

  size_t offs[8];
  int n = 0;
  if (flag_get(flags, "--drop")) {
    offs[n++] = out->len;
    mctx_buf_printf(out, "DROP WORKLOAD MAPPING \"%s\"", map);
    mctx_buf_putc(out, '\0');
    offs[n++] = out->len;
    mctx_buf_printf(out, "DROP WORKLOAD CLASS \"%s\"", cls);
    mctx_buf_putc(out, '\0');
  }
  offs[n++] = out->len;
  mctx_buf_printf(out, "CREATE WORKLOAD CLASS \"%s\" SET 'PRIORITY' = '%ld'", cls, prio);
  if (mem > 0) mctx_buf_printf(out, ", 'STATEMENT MEMORY LIMIT' = '%ld'", mem);
  if (thr > 0) mctx_buf_printf(out, ", 'STATEMENT THREAD LIMIT' = '%ld'", thr);
  mctx_buf_putc(out, '\0');
  offs[n++] = out->len;
  mctx_buf_printf(out, "CREATE WORKLOAD MAPPING \"%s\" WORKLOAD CLASS \"%s\" SET 'APPLICATION NAME' = '%s'", map, cls,
                  app);
  if (user) mctx_buf_printf(out, ", 'USER NAME' = '%s'", user);
  mctx_buf_putc(out, '\0');
  if (out->failed) return err("%s%s", "out of memory", "");
  for (int i = 0; i < n && (size_t)i < max; i++) stmts[i] = out->data + offs[i];
  *nstmts = n;
  return 0;
}

static int cmd_workload(int argc, char **argv) {
  flag flags[] = {{"--db", 1, NULL}, {"--app", 1, NULL}, {"--class", 1, NULL}, {"--mapping", 1, NULL},
                  {"--priority", 1, NULL}, {"--statement-memory", 1, NULL}, {"--statement-threads", 1, NULL},
                  {"--db-user", 1, NULL}, {"--drop", 0, NULL}, {"--apply", 0, NULL}, {NULL, 0, NULL}};
  int help, rc = parse_flags("workload-class", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_WORKLOAD, stdout); return 0; }
  mctx_buf b;
  mctx_buf_init(&b, 1 << 16);
  const char *stmts[8];
  int n = 0;
  if ((rc = workload_sql(flags, &b, &n, stmts, 8)) != 0) { mctx_buf_free(&b); return rc; }
  if (!flag_get(flags, "--apply")) {
    for (int i = 0; i < n; i++) printf("%s;\n", stmts[i]);
    mctx_buf_free(&b);
    return 0;
  }
  mctx_store *s = open_store(flags, MCTX_STORE_OPEN_NO_MIGRATE);
  if (!s) { mctx_buf_free(&b); return 1; }
  if (strcmp(mctx_store_dialect(s), "hana") != 0) {
    mctx_store_close(s);
    mctx_buf_free(&b);
    return usage_err("workload-class", "--apply needs a SAP HANA database (odbc:...;dialect=hana); "
                                       "workload classes are a HANA feature");
  }
  for (int i = 0; i < n && rc == 0; i++) {
    mctx_status st;
    if (mctx__store_exec(s, stmts[i], &st) != 0) rc = err("workload-class: %s: %s", stmts[i], st.reason);
    else printf("applied: %s\n", stmts[i]);
  }
  mctx_store_close(s);
  mctx_buf_free(&b);
  return rc;
}

/* ==== sdi ==== */

static const char HELP_SDI[] =
    "usage: mctx db sdi --host HOST [--port N] [--remote-schema NAME] [--schema NAME]\n"
    "                   [--source NAME] [--adapter hanaodbc|HanaAdapter] [--agent NAME]\n\n"
    "Prints the SAP HANA statements that expose the service's tables to another\n"
    "system: a remote source pointing at the HANA database that holds the mctx\n"
    "schema, and virtual tables over MCTX_SEARCH_HISTORY, MCTX_SEARCH_STATISTICS and\n"
    "MCTX_SEARCH_TREES (the stored trees, zstd-compressed BLOBs). Run them on the\n"
    "consuming system. Credentials are printed as <user> and <password>: replace\n"
    "them there, never on a command line.\n\n"
    "  --host HOST            the mctx database's SQL endpoint (HANA Cloud: <id>.hana.<region>.hanacloud.ondemand.com)\n"
    "  --port N               default 443 (HANA Cloud)\n"
    "  --remote-schema NAME   schema holding the mctx tables (default MCTX)\n"
    "  --schema NAME          schema for the virtual tables on the consumer (default MCTX_REMOTE)\n"
    "  --source NAME          remote source name (default MCTX_SOURCE)\n"
    "  --adapter NAME         hanaodbc: Smart Data Access, no agent (default);\n"
    "                         HanaAdapter: Smart Data Integration through a Data Provisioning agent\n"
    "  --agent NAME           the Data Provisioning agent (HanaAdapter only)\n";

static int cmd_sdi(int argc, char **argv) {
  flag flags[] = {{"--host", 1, NULL}, {"--port", 1, NULL}, {"--remote-schema", 1, NULL}, {"--schema", 1, NULL},
                  {"--source", 1, NULL}, {"--adapter", 1, NULL}, {"--agent", 1, NULL}, {NULL, 0, NULL}};
  int help, rc = parse_flags("sdi", argc, argv, flags, &help);
  if (rc) return rc;
  if (help) { fputs(HELP_SDI, stdout); return 0; }
  const char *host = flag_get(flags, "--host");
  const char *rschema = flag_get(flags, "--remote-schema") ? flag_get(flags, "--remote-schema") : "MCTX";
  const char *schema = flag_get(flags, "--schema") ? flag_get(flags, "--schema") : "MCTX_REMOTE";
  const char *source = flag_get(flags, "--source") ? flag_get(flags, "--source") : "MCTX_SOURCE";
  const char *adapter = flag_get(flags, "--adapter") ? flag_get(flags, "--adapter") : "hanaodbc";
  const char *agent = flag_get(flags, "--agent");
  long port = 443;
  if ((rc = int_flag("sdi", flags, "--port", 1, 65535, &port)) != 0) return rc;
  if (!host || !name_ok(host)) return usage_err("sdi", "--host: a host name is needed (letters, digits, . -)");
  if (!ident_ok(rschema) || !ident_ok(schema) || !ident_ok(source))
    return usage_err("sdi", "--remote-schema, --schema and --source must be identifiers (letters, digits, _)");
  int sdi = strcmp(adapter, "HanaAdapter") == 0;
  if (!sdi && strcmp(adapter, "hanaodbc") != 0) return usage_err("sdi", "--adapter must be hanaodbc or HanaAdapter");
  if (sdi && (!agent || !ident_ok(agent))) return usage_err("sdi", "--adapter HanaAdapter needs --agent NAME");
  if (!sdi && agent) return usage_err("sdi", "--agent goes with --adapter HanaAdapter");

  if (sdi) {
    printf("-- Smart Data Integration: the HanaAdapter of Data Provisioning agent \"%s\".\n", agent);
    printf("-- Property names follow the adapter's CONFIGURATION in SYS.ADAPTERS; check them there.\n");
    printf("CREATE REMOTE SOURCE \"%s\" ADAPTER \"HanaAdapter\" AT LOCATION AGENT \"%s\" CONFIGURATION "
           "'<?xml version=\"1.0\" encoding=\"UTF-8\"?><ConnectionProperties name=\"configurations\">"
           "<PropertyEntry name=\"host\">%s</PropertyEntry><PropertyEntry name=\"port\">%ld</PropertyEntry>"
           "<PropertyEntry name=\"schema\">%s</PropertyEntry><PropertyEntry name=\"encrypt\">true</PropertyEntry>"
           "<PropertyEntry name=\"validateCertificate\">true</PropertyEntry></ConnectionProperties>' "
           "WITH CREDENTIAL TYPE 'PASSWORD' USING '<CredentialEntry name=\"credential\"><user>&lt;user&gt;</user>"
           "<password>&lt;password&gt;</password></CredentialEntry>';\n",
           source, agent, host, port, rschema);
  } else {
    printf("-- Smart Data Access: the hanaodbc adapter, no agent needed.\n");
    printf("CREATE REMOTE SOURCE \"%s\" ADAPTER \"hanaodbc\" CONFIGURATION "
           "'ServerNode=%s:%ld;Driver=libodbcHDB.so;encrypt=TRUE;sslValidateCertificate=TRUE' "
           "WITH CREDENTIAL TYPE 'PASSWORD' USING 'user=<user>;password=<password>';\n",
           source, host, port);
  }
  static const char *const tables[] = {"MCTX_SEARCH_HISTORY", "MCTX_SEARCH_STATISTICS", "MCTX_SEARCH_TREES"};
  for (int i = 0; i < 3; i++)
    printf("CREATE VIRTUAL TABLE \"%s\".\"V_%s\" AT \"%s\".\"<NULL>\".\"%s\".\"%s\";\n", schema, tables[i], source,
           rschema, tables[i]);
  return 0;
}

/* ==== Dispatch ==== */

static const struct {
  const char *name;
  int (*run)(int, char **);
  const char *summary;
} SUBS[] = {
  {"init", cmd_init, "create the schema (or check it is current)"},
  {"migrate", cmd_migrate, "apply pending schema migrations; --print shows a dialect's DDL"},
  {"stats", cmd_stats, "daily statistics as a table (or --json)"},
  {"prune", cmd_prune, "retention: delete history and stored trees older than N days"},
  {"workload-class", cmd_workload, "SAP HANA: CREATE WORKLOAD CLASS and MAPPING (print, or --apply)"},
  {"sdi", cmd_sdi, "SAP HANA: remote source and virtual tables over the history and trees"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: mctx db COMMAND [--db URL] [FLAGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof SUBS / sizeof SUBS[0]; i++) fprintf(f, "  %-15s %s\n", SUBS[i].name, SUBS[i].summary);
  fprintf(f, "\nThe database: --db URL, else $MCTX_DB_URL, else " DEFAULT_URL ".\n"
             "URLs: sqlite:PATH | postgresql://user@host:port/db | odbc:<connection string>;dialect=hana|postgresql\n"
             "`mctx db COMMAND --help` describes each command.\n");
}

int mctx_cmd_db(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof SUBS / sizeof SUBS[0]; i++)
    if (strcmp(argv[1], SUBS[i].name) == 0) {
      int rc = SUBS[i].run(argc - 1, argv + 1);
      fflush(stdout);
      return rc;
    }
  fprintf(stderr, "mctx db: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
