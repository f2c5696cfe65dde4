/* dist/stats.c: the names of partitions and merge strategies, and
 * distributed_stats as JSON.
 *
 * mctx_dist_stats_json writes the object the result carries under
 * "distributed_stats" (docs/DISTRIBUTED.md describes each member) with the
 * JSON writer of util/jsonw.h; the API layer calls it from its encoder. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist-impl.h"
#include "util/jsonw.h"

const char *mctx_dist_partition_name(mctx_dist_partition p) {
  return p == MCTX_DIST_PARTITION_SEARCH ? "search" : "batch";
}

const char *mctx_dist_merge_name(mctx_dist_merge m) {
  switch (m) {
    case MCTX_DIST_MERGE_MAX_VALUE: return "max_value";
    case MCTX_DIST_MERGE_CONSENSUS: return "consensus";
    default: return "sum_visits";
  }
}

int mctx_dist_merge_parse(const char *name, mctx_dist_merge *out) {
  static const mctx_dist_merge all[] = {MCTX_DIST_MERGE_SUM_VISITS, MCTX_DIST_MERGE_MAX_VALUE,
                                        MCTX_DIST_MERGE_CONSENSUS};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (name && strcmp(name, mctx_dist_merge_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  return MCTX_EINVALID;
}

void mctx_dist_stats_free(mctx_dist_stats *s) {
  if (!s) return;
  free(s->devices);
  s->devices = NULL;
  s->num_devices = 0;
}

void mctx_dist_stats_json(struct mctx_jw *w, const mctx_dist_stats *s) {
  mctx_jw_obj(w);
  MCTX_JW_KV(w, "duration_ms", mctx_jw_f64, s->duration_ms);
  MCTX_JW_KV(w, "partition", mctx_jw_str, mctx_dist_partition_name(s->partition));
  mctx_jw_key(w, "merge_strategy");
  if (s->partition == MCTX_DIST_PARTITION_SEARCH) mctx_jw_str(w, mctx_dist_merge_name(s->merge));
  else mctx_jw_null(w);
  MCTX_JW_KV(w, "transport", mctx_jw_str, s->transport);
  MCTX_JW_KV(w, "processes", mctx_jw_i64, s->num_ranks);
  MCTX_JW_KV(w, "requested_devices", mctx_jw_i64, s->requested_devices);
  MCTX_JW_KV(w, "present_devices", mctx_jw_i64, s->present_devices);
  MCTX_JW_KV(w, "used_devices", mctx_jw_i64, s->used_devices);
  mctx_jw_key(w, "reason");
  if (s->reason[0]) mctx_jw_str(w, s->reason);
  else mctx_jw_null(w);
  MCTX_JW_KV(w, "communication_ms", mctx_jw_f64, s->communication_ms);
  MCTX_JW_KV(w, "merge_ms", mctx_jw_f64, s->merge_ms);
  MCTX_JW_KV(w, "roots_ms", mctx_jw_f64, s->roots_ms);
  MCTX_JW_KV(w, "optimized", mctx_jw_bool, s->optimized);
  MCTX_JW_KV(w, "precision", mctx_jw_str, s->precision);
  MCTX_JW_KV(w, "failed_devices", mctx_jw_i64, s->failed_devices);
  MCTX_JW_KV(w, "reassigned_shares", mctx_jw_i64, s->reassigned_shares);
  mctx_jw_key(w, "devices");
  mctx_jw_arr(w);
  int search = s->partition == MCTX_DIST_PARTITION_SEARCH;
  for (int32_t i = 0; i < s->num_devices; i++) {
    const mctx_dist_device_stats *d = &s->devices[i];
    mctx_jw_obj(w);
    MCTX_JW_KV(w, "index", mctx_jw_i64, d->index);
    MCTX_JW_KV(w, "rank", mctx_jw_i64, d->rank);
    MCTX_JW_KV(w, "host", mctx_jw_str, d->host);
    MCTX_JW_KV(w, "kind", mctx_jw_str, d->kind);
    MCTX_JW_KV(w, "ordinal", mctx_jw_i64, d->ordinal);
    MCTX_JW_KV(w, "name", mctx_jw_str, d->name);
    MCTX_JW_KV(w, "precision", mctx_jw_str, d->precision);
    if (search) {
      MCTX_JW_KV(w, "simulations", mctx_jw_i64, d->share_size);
      MCTX_JW_KV(w, "simulations_run", mctx_jw_i64, d->ran_size);
    } else {
      MCTX_JW_KV(w, "batch_begin", mctx_jw_i64, d->share_begin);
      MCTX_JW_KV(w, "batch_size", mctx_jw_i64, d->share_size);
      MCTX_JW_KV(w, "batch_run", mctx_jw_i64, d->ran_size);
    }
    MCTX_JW_KV(w, "shares_run", mctx_jw_i64, d->shares_run);
    MCTX_JW_KV(w, "time_ms", mctx_jw_f64, d->time_ms);
    MCTX_JW_KV(w, "status", mctx_jw_str, d->failed ? "failed" : "ok");
    mctx_jw_key(w, "error");
    if (d->failed) mctx_jw_str(w, d->error);
    else mctx_jw_null(w);
    mctx_jw_end(w);
  }
  mctx_jw_end(w);
  mctx_jw_end(w);
}
