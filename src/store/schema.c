/* store/schema.c: the versioned migrations, one flow for every dialect.
 *
 * MCTX_SCHEMA_VERSION holds a row per applied migration. Bringing a database
 * up to date happens in one transaction on one connection: take the
 * migration lock (sqlite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock;
 * HANA: a table lock, with DDL made transactional first), create the version
 * table when it is missing, read the version, apply the missing migrations
 * of sql.c in order, record each, commit. Two processes starting at once
 * thus apply each migration once, and running it again changes nothing. The
 * backends provide the connection operations (mctx__conn_ops). */
#include <stdio.h>
#include <string.h>

#include "store/store-impl.h"

static int table_exists(const mctx__conn_ops *ops, void *conn, int dialect, const char *name, int *exists,
                        mctx_status *st) {
  mctx__param p = mctx__p_text(name);
  int64_t n = 0;
  int found = 0;
  int rc = ops->query_i64(conn, mctx__sql_table_exists(dialect), &p, 1, &n, &found, st);
  *exists = rc == 0 && found && n > 0;
  return rc;
}

static int read_version(const mctx__conn_ops *ops, void *conn, int *version, mctx_status *st) {
  int64_t v = 0;
  int found = 0;
  int rc = ops->query_i64(conn, "SELECT MAX(SCHEMA_VERSION) FROM MCTX_SCHEMA_VERSION", NULL, 0, &v, &found, st);
  if (rc != 0) return rc;
  *version = found ? (int)v : 0;
  return 0;
}

int mctx__schema_version(const mctx__conn_ops *ops, void *conn, int dialect, int *version, mctx_status *st) {
  int exists = 0;
  *version = 0;
  int rc = table_exists(ops, conn, dialect, "MCTX_SCHEMA_VERSION", &exists, st);
  if (rc != 0 || !exists) return rc;
  return read_version(ops, conn, version, st);
}

static int migrate_locked(const mctx__conn_ops *ops, void *conn, int dialect, int target, int *from, int *to,
                          mctx_status *st) {
  int rc;
  const char *lock = mctx__sql_migration_lock(dialect);
  if (lock && dialect == MCTX__DIALECT_POSTGRESQL && (rc = ops->exec(conn, lock, NULL, 0, NULL, st)) != 0)
    return rc;
  int exists = 0;
  if ((rc = table_exists(ops, conn, dialect, "MCTX_SCHEMA_VERSION", &exists, st)) != 0) return rc;
  if (!exists && (rc = ops->exec(conn, mctx__sql_version_table(dialect), NULL, 0, NULL, st)) != 0) return rc;
  if (lock && dialect == MCTX__DIALECT_HANA && (rc = ops->exec(conn, lock, NULL, 0, NULL, st)) != 0) return rc;
  int v = 0;
  if ((rc = read_version(ops, conn, &v, st)) != 0) return rc;
  if (from) *from = v;
  if (to) *to = v;
  if (v > mctx__schema_latest())
    return mctx_status_set(st, MCTX_EUNSUPPORTED, "schema",
                           "the database is at schema version %d, newer than this build's %d", v,
                           mctx__schema_latest());
  for (int m = v + 1; m <= target; m++) {
    const char *const *stmts = mctx__schema_migration(dialect, m);
    for (size_t i = 0; stmts && stmts[i]; i++) {
      if ((rc = ops->exec(conn, stmts[i], NULL, 0, NULL, st)) != 0) {
        char reason[sizeof st->reason];
        snprintf(reason, sizeof reason, "%s", st ? st->reason : "");
        return mctx_status_set(st, rc, "schema", "migration %d, statement %zu: %s", m, i + 1, reason);
      }
    }
    mctx__param p[3] = {mctx__p_i64(m), mctx__p_i64(mctx__now_ms()), mctx__p_text(mctx__schema_description(m))};
    rc = ops->exec(conn, "INSERT INTO MCTX_SCHEMA_VERSION (SCHEMA_VERSION, APPLIED_MS, DESCRIPTION) VALUES (?, ?, ?)",
                   p, 3, NULL, st);
    if (rc != 0) return rc;
    if (to) *to = m;
  }
  return 0;
}

int mctx__schema_migrate(const mctx__conn_ops *ops, void *conn, int dialect, int target, int *from, int *to,
                         mctx_status *st) {
  if (target <= 0 || target > mctx__schema_latest()) target = mctx__schema_latest();
  const char *prelude = mctx__sql_migration_prelude(dialect);
  int rc;
  if (prelude && (rc = ops->exec(conn, prelude, NULL, 0, NULL, st)) != 0) return rc;
  if ((rc = ops->begin(conn, st)) != 0) return rc;
  rc = migrate_locked(ops, conn, dialect, target, from, to, st);
  if (rc != 0) {
    ops->rollback(conn);
    return rc;
  }
  return ops->commit(conn, st);
}
