/* store/sql.c: every SQL statement of the store, in its three dialects
 * (sqlite, postgresql, hana), and the versioned migrations.
 *
 * Statements are text with '?' placeholders; nothing here (or anywhere in
 * the store) splices a value into SQL: the only variable parts are the
 * number of placeholders of an IN list and which fixed filter clauses a
 * query carries. Each statement takes the same parameters in the same order
 * in every dialect, so the ODBC binding code that the tests run against
 * PostgreSQL is the code that runs against SAP HANA; tests/store/hana/ holds
 * the expected HANA texts. This file touches no database. */
#include <stdio.h>
#include <string.h>

#include "store/store-impl.h"

const char *mctx__dialect_name(int dialect) {
  switch (dialect) {
    case MCTX__DIALECT_SQLITE: return "sqlite";
    case MCTX__DIALECT_POSTGRESQL: return "postgresql";
    case MCTX__DIALECT_HANA: return "hana";
    default: return "unknown";
  }
}

/* ==== Names ==== */

static const char *const QUERY_NAMES[MCTX__Q_COUNT_] = {
  [MCTX__Q_PING] = "ping",
  [MCTX__Q_LOCK_HISTORY] = "lock_history",
  [MCTX__Q_EXISTS] = "exists",
  [MCTX__Q_PUT_HISTORY] = "put_history",
  [MCTX__Q_PUT_STATS] = "put_stats",
  [MCTX__Q_PUT_STATS_ONE] = "put_stats_one",
  [MCTX__Q_PUT_BATCH] = "put_batch",
  [MCTX__Q_GET] = "get",
  [MCTX__Q_LIST] = "list",
  [MCTX__Q_DAILY] = "daily",
  [MCTX__Q_PUT_TREE] = "put_tree",
  [MCTX__Q_GET_TREE] = "get_tree",
  [MCTX__Q_PRUNE_TREES] = "prune_trees",
  [MCTX__Q_PRUNE_HISTORY] = "prune_history",
};

const char *mctx__query_name(int q) {
  return (q >= 0 && q < MCTX__Q_COUNT_) ? QUERY_NAMES[q] : "unknown";
}

int mctx__query_by_name(const char *name) {
  for (int q = 0; q < MCTX__Q_COUNT_; q++)
    if (strcmp(QUERY_NAMES[q], name) == 0) return q;
  return -1;
}

/* ==== Columns ==== */

#define HISTORY_COLS                                                             \
  "REQUEST_ID, TIME_MS, SEARCH_DAY, USER_NAME, SEARCH_TYPE, BATCH_SIZE, "        \
  "NUM_SIMULATIONS, MAX_DEPTH, CONFIG_JSON, DURATION_MS, NUM_EXPANDED_NODES, "   \
  "MAX_DEPTH_REACHED, DEVICE, RESULT_SUMMARY, GPU_OPTIMIZED, DISTRIBUTED, NUM_DEVICES"
#define HISTORY_MARKS "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"

#define STATS_COLS                                                                \
  "STAT_DAY, SEARCH_TYPE, SEARCH_COUNT, TOTAL_DURATION_MS, AVG_DURATION_MS, "     \
  "MAX_DURATION_MS, TOTAL_EXPANDED_NODES, AVG_EXPANDED_NODES, MAX_BATCH_SIZE, "   \
  "MAX_NUM_SIMULATIONS, GPU_OPTIMIZED_COUNT, DISTRIBUTED_COUNT, TOTAL_DEVICES, AVG_DEVICES"

#define DAILY_COLS                                                                \
  "STAT_DAY, SEARCH_TYPE, SEARCH_COUNT, AVG_DURATION_MS, MAX_DURATION_MS, "       \
  "AVG_EXPANDED_NODES, MAX_BATCH_SIZE, MAX_NUM_SIMULATIONS, GPU_OPTIMIZED_COUNT, " \
  "DISTRIBUTED_COUNT, AVG_DEVICES"

/* ==== Statistics folding (odbc dialects) ====
 *
 * The new history rows of a batch (their ids bound in an IN list) are
 * grouped by day and search type and merged into the statistics. The flags
 * come from the configuration JSON as the product notes read them (JSON_VALUE
 * on HANA), the row's columns filling in where the configuration lacks them;
 * store.c applies the same precedence when it fills those columns, so every
 * backend counts the same. Devices: a distributed search counts
 * max(num_devices, 1), any other search 1. */

static const char HANA_GPU[] =
    "CASE JSON_VALUE(H.CONFIG_JSON, '$.use_t4_optimizations') "
    "WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE H.GPU_OPTIMIZED END";
static const char HANA_DIST[] =
    "CASE JSON_VALUE(H.CONFIG_JSON, '$.distributed') "
    "WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE H.DISTRIBUTED END";
static const char HANA_NDEV[] =
    "COALESCE(CAST(JSON_VALUE(H.CONFIG_JSON, '$.num_devices') AS INTEGER), H.NUM_DEVICES)";

static const char PG_GPU[] =
    "CASE (CAST(H.CONFIG_JSON AS JSONB) ->> 'use_t4_optimizations') "
    "WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE H.GPU_OPTIMIZED END";
static const char PG_DIST[] =
    "CASE (CAST(H.CONFIG_JSON AS JSONB) ->> 'distributed') "
    "WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE H.DISTRIBUTED END";
static const char PG_NDEV[] =
    "COALESCE(CAST(CAST(H.CONFIG_JSON AS JSONB) ->> 'num_devices' AS INTEGER), H.NUM_DEVICES)";

static void marks(mctx_buf *out, int n) {
  for (int i = 0; i < n; i++) mctx_buf_puts(out, i ? ", ?" : "?");
}

static void put_stats(int dialect, int n, mctx_buf *out) {
  int hana = dialect == MCTX__DIALECT_HANA;
  const char *dbl = hana ? "DOUBLE" : "DOUBLE PRECISION";
  const char *tgt = hana ? "S." : "";  /* HANA qualifies SET targets, PostgreSQL must not */
  mctx_buf_puts(out, "MERGE INTO MCTX_SEARCH_STATISTICS S USING (SELECT H.SEARCH_DAY AS STAT_DAY, "
                     "H.SEARCH_TYPE AS SEARCH_TYPE, COUNT(*) AS N_COUNT, SUM(H.DURATION_MS) AS N_DURATION, "
                     "MAX(H.DURATION_MS) AS N_MAX_DURATION, SUM(H.NUM_EXPANDED_NODES) AS N_NODES, "
                     "MAX(H.BATCH_SIZE) AS N_MAX_BATCH, MAX(H.NUM_SIMULATIONS) AS N_MAX_SIMS, SUM(");
  mctx_buf_puts(out, hana ? HANA_GPU : PG_GPU);
  mctx_buf_puts(out, ") AS N_GPU, SUM(");
  mctx_buf_puts(out, hana ? HANA_DIST : PG_DIST);
  mctx_buf_puts(out, ") AS N_DIST, SUM(CASE WHEN (");
  mctx_buf_puts(out, hana ? HANA_DIST : PG_DIST);
  mctx_buf_puts(out, ") = 1 THEN GREATEST(");
  mctx_buf_puts(out, hana ? HANA_NDEV : PG_NDEV);
  mctx_buf_puts(out, ", 1) ELSE 1 END) AS N_DEVICES FROM MCTX_SEARCH_HISTORY H WHERE H.REQUEST_ID IN (");
  marks(out, n);
  mctx_buf_puts(out, ") GROUP BY H.SEARCH_DAY, H.SEARCH_TYPE) N "
                     "ON (S.STAT_DAY = N.STAT_DAY AND S.SEARCH_TYPE = N.SEARCH_TYPE) "
                     "WHEN MATCHED THEN UPDATE SET ");
  mctx_buf_printf(out,
                  "%sSEARCH_COUNT = S.SEARCH_COUNT + N.N_COUNT, "
                  "%sTOTAL_DURATION_MS = S.TOTAL_DURATION_MS + N.N_DURATION, "
                  "%sAVG_DURATION_MS = (S.TOTAL_DURATION_MS + N.N_DURATION) / (S.SEARCH_COUNT + N.N_COUNT), "
                  "%sMAX_DURATION_MS = GREATEST(S.MAX_DURATION_MS, N.N_MAX_DURATION), "
                  "%sTOTAL_EXPANDED_NODES = S.TOTAL_EXPANDED_NODES + N.N_NODES, "
                  "%sAVG_EXPANDED_NODES = CAST(S.TOTAL_EXPANDED_NODES + N.N_NODES AS %s) / (S.SEARCH_COUNT + N.N_COUNT), "
                  "%sMAX_BATCH_SIZE = GREATEST(S.MAX_BATCH_SIZE, N.N_MAX_BATCH), "
                  "%sMAX_NUM_SIMULATIONS = GREATEST(S.MAX_NUM_SIMULATIONS, N.N_MAX_SIMS), "
                  "%sGPU_OPTIMIZED_COUNT = S.GPU_OPTIMIZED_COUNT + N.N_GPU, "
                  "%sDISTRIBUTED_COUNT = S.DISTRIBUTED_COUNT + N.N_DIST, "
                  "%sTOTAL_DEVICES = S.TOTAL_DEVICES + N.N_DEVICES, "
                  "%sAVG_DEVICES = CAST(S.TOTAL_DEVICES + N.N_DEVICES AS %s) / (S.SEARCH_COUNT + N.N_COUNT) ",
                  tgt, tgt, tgt, tgt, tgt, tgt, dbl, tgt, tgt, tgt, tgt, tgt, tgt, dbl);
  mctx_buf_printf(out,
                  "WHEN NOT MATCHED THEN INSERT (" STATS_COLS ") VALUES (N.STAT_DAY, N.SEARCH_TYPE, "
                  "N.N_COUNT, N.N_DURATION, N.N_DURATION / N.N_COUNT, N.N_MAX_DURATION, N.N_NODES, "
                  "CAST(N.N_NODES AS %s) / N.N_COUNT, N.N_MAX_BATCH, N.N_MAX_SIMS, N.N_GPU, N.N_DIST, "
                  "N.N_DEVICES, CAST(N.N_DEVICES AS %s) / N.N_COUNT)",
                  dbl, dbl);
}

/* sqlite: one new row's values, bound, folded with an upsert. Parameters:
 * day, type, duration, duration, duration, nodes, nodes (as a real), batch,
 * simulations, gpu, distributed, devices, devices (as a real). */
static const char SQLITE_STATS_ONE[] =
    "INSERT INTO MCTX_SEARCH_STATISTICS (" STATS_COLS ") VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (STAT_DAY, SEARCH_TYPE) DO UPDATE SET "
    "SEARCH_COUNT = SEARCH_COUNT + 1, "
    "TOTAL_DURATION_MS = TOTAL_DURATION_MS + excluded.TOTAL_DURATION_MS, "
    "AVG_DURATION_MS = (TOTAL_DURATION_MS + excluded.TOTAL_DURATION_MS) / (SEARCH_COUNT + 1), "
    "MAX_DURATION_MS = max(MAX_DURATION_MS, excluded.MAX_DURATION_MS), "
    "TOTAL_EXPANDED_NODES = TOTAL_EXPANDED_NODES + excluded.TOTAL_EXPANDED_NODES, "
    "AVG_EXPANDED_NODES = CAST(TOTAL_EXPANDED_NODES + excluded.TOTAL_EXPANDED_NODES AS REAL) / (SEARCH_COUNT + 1), "
    "MAX_BATCH_SIZE = max(MAX_BATCH_SIZE, excluded.MAX_BATCH_SIZE), "
    "MAX_NUM_SIMULATIONS = max(MAX_NUM_SIMULATIONS, excluded.MAX_NUM_SIMULATIONS), "
    "GPU_OPTIMIZED_COUNT = GPU_OPTIMIZED_COUNT + excluded.GPU_OPTIMIZED_COUNT, "
    "DISTRIBUTED_COUNT = DISTRIBUTED_COUNT + excluded.DISTRIBUTED_COUNT, "
    "TOTAL_DEVICES = TOTAL_DEVICES + excluded.TOTAL_DEVICES, "
    "AVG_DEVICES = CAST(TOTAL_DEVICES + excluded.TOTAL_DEVICES AS REAL) / (SEARCH_COUNT + 1)";

/* libpq: the whole batch in one statement and one round trip. The rows come
 * as one bound JSON array; INSERT ... ON CONFLICT DO NOTHING RETURNING
 * yields only the rows actually inserted, and only those are folded into the
 * statistics, so a record written twice counts once even when two writers
 * race (the second waits for the first's commit, then inserts nothing). */
static const char PG_PUT_BATCH[] =
    "WITH src AS (SELECT * FROM jsonb_to_recordset(CAST(? AS JSONB)) AS r(request_id varchar, "
    "time_ms bigint, search_day varchar, user_name varchar, search_type varchar, batch_size integer, "
    "num_simulations integer, max_depth integer, config_json text, duration_ms double precision, "
    "num_expanded_nodes bigint, max_depth_reached integer, device varchar, result_summary text, "
    "gpu_optimized smallint, distributed smallint, num_devices integer)), "
    "ins AS (INSERT INTO MCTX_SEARCH_HISTORY (" HISTORY_COLS ") SELECT request_id, time_ms, search_day, "
    "user_name, search_type, batch_size, num_simulations, max_depth, config_json, duration_ms, "
    "num_expanded_nodes, max_depth_reached, device, result_summary, gpu_optimized, distributed, "
    "num_devices FROM src ON CONFLICT (REQUEST_ID) DO NOTHING RETURNING SEARCH_DAY, SEARCH_TYPE, "
    "DURATION_MS, NUM_EXPANDED_NODES, BATCH_SIZE, NUM_SIMULATIONS, GPU_OPTIMIZED, DISTRIBUTED, "
    "NUM_DEVICES), "
    "n AS (SELECT SEARCH_DAY AS STAT_DAY, SEARCH_TYPE, COUNT(*) AS N_COUNT, SUM(DURATION_MS) AS N_DURATION, "
    "MAX(DURATION_MS) AS N_MAX_DURATION, SUM(NUM_EXPANDED_NODES) AS N_NODES, MAX(BATCH_SIZE) AS N_MAX_BATCH, "
    "MAX(NUM_SIMULATIONS) AS N_MAX_SIMS, SUM(GPU_OPTIMIZED) AS N_GPU, SUM(DISTRIBUTED) AS N_DIST, "
    "SUM(CASE WHEN DISTRIBUTED = 1 THEN GREATEST(NUM_DEVICES, 1) ELSE 1 END) AS N_DEVICES "
    "FROM ins GROUP BY SEARCH_DAY, SEARCH_TYPE) "
    "INSERT INTO MCTX_SEARCH_STATISTICS AS S (" STATS_COLS ") SELECT STAT_DAY, SEARCH_TYPE, N_COUNT, "
    "N_DURATION, N_DURATION / N_COUNT, N_MAX_DURATION, N_NODES, CAST(N_NODES AS DOUBLE PRECISION) / N_COUNT, "
    "N_MAX_BATCH, N_MAX_SIMS, N_GPU, N_DIST, N_DEVICES, CAST(N_DEVICES AS DOUBLE PRECISION) / N_COUNT FROM n "
    "ORDER BY STAT_DAY, SEARCH_TYPE ON CONFLICT (STAT_DAY, SEARCH_TYPE) DO UPDATE SET "
    "SEARCH_COUNT = S.SEARCH_COUNT + EXCLUDED.SEARCH_COUNT, "
    "TOTAL_DURATION_MS = S.TOTAL_DURATION_MS + EXCLUDED.TOTAL_DURATION_MS, "
    "AVG_DURATION_MS = (S.TOTAL_DURATION_MS + EXCLUDED.TOTAL_DURATION_MS) / (S.SEARCH_COUNT + EXCLUDED.SEARCH_COUNT), "
    "MAX_DURATION_MS = GREATEST(S.MAX_DURATION_MS, EXCLUDED.MAX_DURATION_MS), "
    "TOTAL_EXPANDED_NODES = S.TOTAL_EXPANDED_NODES + EXCLUDED.TOTAL_EXPANDED_NODES, "
    "AVG_EXPANDED_NODES = CAST(S.TOTAL_EXPANDED_NODES + EXCLUDED.TOTAL_EXPANDED_NODES AS DOUBLE PRECISION) "
    "/ (S.SEARCH_COUNT + EXCLUDED.SEARCH_COUNT), "
    "MAX_BATCH_SIZE = GREATEST(S.MAX_BATCH_SIZE, EXCLUDED.MAX_BATCH_SIZE), "
    "MAX_NUM_SIMULATIONS = GREATEST(S.MAX_NUM_SIMULATIONS, EXCLUDED.MAX_NUM_SIMULATIONS), "
    "GPU_OPTIMIZED_COUNT = S.GPU_OPTIMIZED_COUNT + EXCLUDED.GPU_OPTIMIZED_COUNT, "
    "DISTRIBUTED_COUNT = S.DISTRIBUTED_COUNT + EXCLUDED.DISTRIBUTED_COUNT, "
    "TOTAL_DEVICES = S.TOTAL_DEVICES + EXCLUDED.TOTAL_DEVICES, "
    "AVG_DEVICES = CAST(S.TOTAL_DEVICES + EXCLUDED.TOTAL_DEVICES AS DOUBLE PRECISION) "
    "/ (S.SEARCH_COUNT + EXCLUDED.SEARCH_COUNT)";

int mctx__sql_query(int dialect, int q, int n, unsigned flags, mctx_buf *out) {
  int hana = dialect == MCTX__DIALECT_HANA, sqlite = dialect == MCTX__DIALECT_SQLITE;
  switch (q) {
    case MCTX__Q_PING:
      mctx_buf_puts(out, hana ? "SELECT 1 FROM DUMMY" : "SELECT 1");
      break;
    case MCTX__Q_LOCK_HISTORY:
      if (sqlite) return MCTX_EUNSUPPORTED;
      mctx_buf_puts(out, "LOCK TABLE MCTX_SEARCH_HISTORY IN EXCLUSIVE MODE");
      break;
    case MCTX__Q_EXISTS:
      if (n < 1) return MCTX_EINVALID;
      mctx_buf_puts(out, "SELECT REQUEST_ID FROM MCTX_SEARCH_HISTORY WHERE REQUEST_ID IN (");
      marks(out, n);
      mctx_buf_puts(out, ")");
      break;
    case MCTX__Q_PUT_HISTORY:
      if (hana)
        mctx_buf_puts(out, "UPSERT MCTX_SEARCH_HISTORY (" HISTORY_COLS ") VALUES (" HISTORY_MARKS ") WITH PRIMARY KEY");
      else
        mctx_buf_puts(out, "INSERT INTO MCTX_SEARCH_HISTORY (" HISTORY_COLS ") VALUES (" HISTORY_MARKS
                           ") ON CONFLICT (REQUEST_ID) DO NOTHING");
      break;
    case MCTX__Q_PUT_STATS:
      if (sqlite) return MCTX_EUNSUPPORTED;
      if (n < 1) return MCTX_EINVALID;
      put_stats(dialect, n, out);
      break;
    case MCTX__Q_PUT_STATS_ONE:
      if (!sqlite) return MCTX_EUNSUPPORTED;
      mctx_buf_puts(out, SQLITE_STATS_ONE);
      break;
    case MCTX__Q_PUT_BATCH:
      if (dialect != MCTX__DIALECT_POSTGRESQL) return MCTX_EUNSUPPORTED;
      mctx_buf_puts(out, PG_PUT_BATCH);
      break;
    case MCTX__Q_GET:
      mctx_buf_puts(out, "SELECT " HISTORY_COLS " FROM MCTX_SEARCH_HISTORY WHERE REQUEST_ID = ?");
      break;
    case MCTX__Q_LIST: {
      mctx_buf_puts(out, "SELECT " HISTORY_COLS " FROM MCTX_SEARCH_HISTORY");
      const char *w = " WHERE ";
      if (flags & MCTX__F_TYPE) { mctx_buf_puts(out, w); mctx_buf_puts(out, "SEARCH_TYPE = ?"); w = " AND "; }
      if (flags & MCTX__F_USER) { mctx_buf_puts(out, w); mctx_buf_puts(out, "USER_NAME = ?"); }
      mctx_buf_puts(out, " ORDER BY TIME_MS DESC, REQUEST_ID DESC LIMIT ? OFFSET ?");
      break;
    }
    case MCTX__Q_DAILY: {
      mctx_buf_puts(out, "SELECT " DAILY_COLS " FROM MCTX_SEARCH_STATISTICS");
      const char *w = " WHERE ";
      if (flags & MCTX__F_FROM) { mctx_buf_puts(out, w); mctx_buf_puts(out, "STAT_DAY >= ?"); w = " AND "; }
      if (flags & MCTX__F_TO) { mctx_buf_puts(out, w); mctx_buf_puts(out, "STAT_DAY <= ?"); w = " AND "; }
      if (flags & MCTX__F_TYPE) { mctx_buf_puts(out, w); mctx_buf_puts(out, "SEARCH_TYPE = ?"); }
      mctx_buf_puts(out, " ORDER BY STAT_DAY, SEARCH_TYPE");
      break;
    }
    case MCTX__Q_PUT_TREE:
      if (hana)
        mctx_buf_puts(out, "UPSERT MCTX_SEARCH_TREES (REQUEST_ID, CREATED_MS, TREE_BYTES, TREE_ZSTD) "
                           "VALUES (?, ?, ?, ?) WITH PRIMARY KEY");
      else
        mctx_buf_puts(out, "INSERT INTO MCTX_SEARCH_TREES (REQUEST_ID, CREATED_MS, TREE_BYTES, TREE_ZSTD) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT (REQUEST_ID) DO UPDATE SET "
                           "CREATED_MS = excluded.CREATED_MS, TREE_BYTES = excluded.TREE_BYTES, "
                           "TREE_ZSTD = excluded.TREE_ZSTD");
      break;
    case MCTX__Q_GET_TREE:
      mctx_buf_puts(out, "SELECT TREE_ZSTD FROM MCTX_SEARCH_TREES WHERE REQUEST_ID = ?");
      break;
    case MCTX__Q_PRUNE_TREES:
      mctx_buf_puts(out, "DELETE FROM MCTX_SEARCH_TREES WHERE CREATED_MS < ?");
      break;
    case MCTX__Q_PRUNE_HISTORY:
      mctx_buf_puts(out, "DELETE FROM MCTX_SEARCH_HISTORY WHERE TIME_MS < ?");
      break;
    default:
      return MCTX_EINVALID;
  }
  return out->failed ? MCTX_ENOMEM : 0;
}

/* ==== Migrations ==== */

static const char *const SQLITE_V1[] = {
  "CREATE TABLE MCTX_SEARCH_HISTORY (REQUEST_ID TEXT NOT NULL PRIMARY KEY, TIME_MS INTEGER NOT NULL, "
  "SEARCH_DAY TEXT NOT NULL, USER_NAME TEXT NOT NULL, SEARCH_TYPE TEXT NOT NULL, BATCH_SIZE INTEGER NOT NULL, "
  "NUM_SIMULATIONS INTEGER NOT NULL, MAX_DEPTH INTEGER, CONFIG_JSON TEXT NOT NULL, DURATION_MS REAL NOT NULL, "
  "NUM_EXPANDED_NODES INTEGER NOT NULL, MAX_DEPTH_REACHED INTEGER NOT NULL, DEVICE TEXT NOT NULL, "
  "RESULT_SUMMARY TEXT, GPU_OPTIMIZED INTEGER NOT NULL, DISTRIBUTED INTEGER NOT NULL, "
  "NUM_DEVICES INTEGER NOT NULL)",
  "CREATE TABLE MCTX_SEARCH_STATISTICS (STAT_DAY TEXT NOT NULL, SEARCH_TYPE TEXT NOT NULL, "
  "SEARCH_COUNT INTEGER NOT NULL, TOTAL_DURATION_MS REAL NOT NULL, AVG_DURATION_MS REAL NOT NULL, "
  "MAX_DURATION_MS REAL NOT NULL, TOTAL_EXPANDED_NODES INTEGER NOT NULL, AVG_EXPANDED_NODES REAL NOT NULL, "
  "MAX_BATCH_SIZE INTEGER NOT NULL, MAX_NUM_SIMULATIONS INTEGER NOT NULL, GPU_OPTIMIZED_COUNT INTEGER NOT NULL, "
  "DISTRIBUTED_COUNT INTEGER NOT NULL, TOTAL_DEVICES INTEGER NOT NULL, AVG_DEVICES REAL NOT NULL, "
  "PRIMARY KEY (STAT_DAY, SEARCH_TYPE))",
  "CREATE TABLE MCTX_SEARCH_TREES (REQUEST_ID TEXT NOT NULL PRIMARY KEY, CREATED_MS INTEGER NOT NULL, "
  "TREE_BYTES INTEGER NOT NULL, TREE_ZSTD BLOB NOT NULL)",
  NULL,
};

static const char *const PG_V1[] = {
  "CREATE TABLE MCTX_SEARCH_HISTORY (REQUEST_ID VARCHAR(64) NOT NULL PRIMARY KEY, TIME_MS BIGINT NOT NULL, "
  "SEARCH_DAY VARCHAR(10) NOT NULL, USER_NAME VARCHAR(64) NOT NULL, SEARCH_TYPE VARCHAR(32) NOT NULL, "
  "BATCH_SIZE INTEGER NOT NULL, NUM_SIMULATIONS INTEGER NOT NULL, MAX_DEPTH INTEGER, CONFIG_JSON TEXT NOT NULL, "
  "DURATION_MS DOUBLE PRECISION NOT NULL, NUM_EXPANDED_NODES BIGINT NOT NULL, MAX_DEPTH_REACHED INTEGER NOT NULL, "
  "DEVICE VARCHAR(16) NOT NULL, RESULT_SUMMARY TEXT, GPU_OPTIMIZED SMALLINT NOT NULL, "
  "DISTRIBUTED SMALLINT NOT NULL, NUM_DEVICES INTEGER NOT NULL)",
  "CREATE TABLE MCTX_SEARCH_STATISTICS (STAT_DAY VARCHAR(10) NOT NULL, SEARCH_TYPE VARCHAR(32) NOT NULL, "
  "SEARCH_COUNT BIGINT NOT NULL, TOTAL_DURATION_MS DOUBLE PRECISION NOT NULL, "
  "AVG_DURATION_MS DOUBLE PRECISION NOT NULL, MAX_DURATION_MS DOUBLE PRECISION NOT NULL, "
  "TOTAL_EXPANDED_NODES BIGINT NOT NULL, AVG_EXPANDED_NODES DOUBLE PRECISION NOT NULL, "
  "MAX_BATCH_SIZE INTEGER NOT NULL, MAX_NUM_SIMULATIONS INTEGER NOT NULL, GPU_OPTIMIZED_COUNT BIGINT NOT NULL, "
  "DISTRIBUTED_COUNT BIGINT NOT NULL, TOTAL_DEVICES BIGINT NOT NULL, AVG_DEVICES DOUBLE PRECISION NOT NULL, "
  "PRIMARY KEY (STAT_DAY, SEARCH_TYPE))",
  "CREATE TABLE MCTX_SEARCH_TREES (REQUEST_ID VARCHAR(64) NOT NULL PRIMARY KEY, CREATED_MS BIGINT NOT NULL, "
  "TREE_BYTES BIGINT NOT NULL, TREE_ZSTD BYTEA NOT NULL)",
  NULL,
};

static const char *const HANA_V1[] = {
  "CREATE COLUMN TABLE MCTX_SEARCH_HISTORY (REQUEST_ID NVARCHAR(64) NOT NULL PRIMARY KEY, "
  "TIME_MS BIGINT NOT NULL, SEARCH_DAY NVARCHAR(10) NOT NULL, USER_NAME NVARCHAR(64) NOT NULL, "
  "SEARCH_TYPE NVARCHAR(32) NOT NULL, BATCH_SIZE INTEGER NOT NULL, NUM_SIMULATIONS INTEGER NOT NULL, "
  "MAX_DEPTH INTEGER, CONFIG_JSON NCLOB NOT NULL, DURATION_MS DOUBLE NOT NULL, "
  "NUM_EXPANDED_NODES BIGINT NOT NULL, MAX_DEPTH_REACHED INTEGER NOT NULL, DEVICE NVARCHAR(16) NOT NULL, "
  "RESULT_SUMMARY NCLOB, GPU_OPTIMIZED SMALLINT NOT NULL, DISTRIBUTED SMALLINT NOT NULL, "
  "NUM_DEVICES INTEGER NOT NULL)",
  "CREATE COLUMN TABLE MCTX_SEARCH_STATISTICS (STAT_DAY NVARCHAR(10) NOT NULL, "
  "SEARCH_TYPE NVARCHAR(32) NOT NULL, SEARCH_COUNT BIGINT NOT NULL, TOTAL_DURATION_MS DOUBLE NOT NULL, "
  "AVG_DURATION_MS DOUBLE NOT NULL, MAX_DURATION_MS DOUBLE NOT NULL, TOTAL_EXPANDED_NODES BIGINT NOT NULL, "
  "AVG_EXPANDED_NODES DOUBLE NOT NULL, MAX_BATCH_SIZE INTEGER NOT NULL, MAX_NUM_SIMULATIONS INTEGER NOT NULL, "
  "GPU_OPTIMIZED_COUNT BIGINT NOT NULL, DISTRIBUTED_COUNT BIGINT NOT NULL, TOTAL_DEVICES BIGINT NOT NULL, "
  "AVG_DEVICES DOUBLE NOT NULL, PRIMARY KEY (STAT_DAY, SEARCH_TYPE))",
  "CREATE COLUMN TABLE MCTX_SEARCH_TREES (REQUEST_ID NVARCHAR(64) NOT NULL PRIMARY KEY, "
  "CREATED_MS BIGINT NOT NULL, TREE_BYTES BIGINT NOT NULL, TREE_ZSTD BLOB NOT NULL)",
  NULL,
};

/* Version 2: the indexes of the history reads (newest first, by search
 * type, by user) and of retention. The same text in every dialect. */
static const char *const ALL_V2[] = {
  "CREATE INDEX MCTX_SEARCH_HISTORY_TIME ON MCTX_SEARCH_HISTORY (TIME_MS)",
  "CREATE INDEX MCTX_SEARCH_HISTORY_TYPE_TIME ON MCTX_SEARCH_HISTORY (SEARCH_TYPE, TIME_MS)",
  "CREATE INDEX MCTX_SEARCH_HISTORY_USER_TIME ON MCTX_SEARCH_HISTORY (USER_NAME, TIME_MS)",
  "CREATE INDEX MCTX_SEARCH_TREES_CREATED ON MCTX_SEARCH_TREES (CREATED_MS)",
  NULL,
};

static const char *const DESCRIPTIONS[] = {
  NULL,
  "search history, daily statistics, stored trees",
  "history and tree indexes (time, search type, user)",
};

int mctx__schema_latest(void) { return 2; }

const char *mctx__schema_description(int version) {
  return (version >= 1 && version <= mctx__schema_latest()) ? DESCRIPTIONS[version] : "";
}

const char *const *mctx__schema_migration(int dialect, int version) {
  if (version == 1) {
    switch (dialect) {
      case MCTX__DIALECT_SQLITE: return SQLITE_V1;
      case MCTX__DIALECT_POSTGRESQL: return PG_V1;
      case MCTX__DIALECT_HANA: return HANA_V1;
      default: return NULL;
    }
  }
  if (version == 2) return ALL_V2;
  return NULL;
}

const char *mctx__sql_version_table(int dialect) {
  switch (dialect) {
    case MCTX__DIALECT_SQLITE:
      return "CREATE TABLE MCTX_SCHEMA_VERSION (SCHEMA_VERSION INTEGER NOT NULL PRIMARY KEY, "
             "APPLIED_MS INTEGER NOT NULL, DESCRIPTION TEXT NOT NULL)";
    case MCTX__DIALECT_POSTGRESQL:
      return "CREATE TABLE MCTX_SCHEMA_VERSION (SCHEMA_VERSION INTEGER NOT NULL PRIMARY KEY, "
             "APPLIED_MS BIGINT NOT NULL, DESCRIPTION VARCHAR(256) NOT NULL)";
    default:
      return "CREATE COLUMN TABLE MCTX_SCHEMA_VERSION (SCHEMA_VERSION INTEGER NOT NULL PRIMARY KEY, "
             "APPLIED_MS BIGINT NOT NULL, DESCRIPTION NVARCHAR(256) NOT NULL)";
  }
}

const char *mctx__sql_table_exists(int dialect) {
  switch (dialect) {
    case MCTX__DIALECT_SQLITE:
      return "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND upper(name) = ?";
    case MCTX__DIALECT_POSTGRESQL:
      return "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() "
             "AND upper(table_name) = ?";
    default:
      return "SELECT COUNT(*) FROM SYS.TABLES WHERE SCHEMA_NAME = CURRENT_SCHEMA AND TABLE_NAME = ?";
  }
}

const char *mctx__sql_migration_lock(int dialect) {
  switch (dialect) {
    case MCTX__DIALECT_POSTGRESQL: return "SELECT pg_advisory_xact_lock(7301001)";
    case MCTX__DIALECT_HANA: return "LOCK TABLE MCTX_SCHEMA_VERSION IN EXCLUSIVE MODE";
    default: return NULL; /* sqlite: BEGIN IMMEDIATE already serializes */
  }
}

const char *mctx__sql_migration_prelude(int dialect) {
  /* HANA commits each DDL statement on its own unless told otherwise. */
  return dialect == MCTX__DIALECT_HANA ? "SET TRANSACTION AUTOCOMMIT DDL OFF" : NULL;
}

/* ==== Placeholders ==== */

/* Calls fn(i) for each '?' outside '...' and "..." quotes; returns the count. */
static int scan_marks(const char *sql, mctx_buf *out) {
  int n = 0;
  char quote = 0;
  for (const char *p = sql; *p; p++) {
    char c = *p;
    if (quote) {
      if (c == quote) quote = 0;  /* '' inside a literal reads as close + open */
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?') {
      n++;
      if (out) { mctx_buf_printf(out, "$%d", n); continue; }
    }
    if (out) mctx_buf_putc(out, c);
  }
  return n;
}

int mctx__sql_dollars(const char *sql, mctx_buf *out) {
  scan_marks(sql, out);
  return out->failed ? MCTX_ENOMEM : 0;
}

int mctx__sql_count_params(const char *sql) { return scan_marks(sql, NULL); }
