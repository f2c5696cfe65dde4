// web/recommend.js: the recommendations, each a rule with its threshold and
// the measured figures that made it fire (or not).
//
// The first three are the product notes' dashboard rules, over the daily
// statistics of the chosen period (all search types together, weighted by
// their counts): average duration over 5 s; GPU-optimized share under 20%;
// distributed share under 10% once there are more than 1000 searches. The
// others read the live metrics (since the service started): searches that
// wait longer than they compute, refusals (queue full, rate limits), server
// errors, and records waiting for the database.

import * as prom from './prom.js';

export const THRESHOLDS = {
  avgDurationMs: 5000,
  gpuOptimizedShare: 0.20,
  distributedShare: 0.10,
  distributedMinSearches: 1000,
  serverErrorShare: 0.01,
  spoolDepth: 1000,
  spoolAgeS: 60,
  queueMinSearches: 20,
};

const pct = (x) => (100 * x).toFixed(1) + '%';
const num = (x) => Math.round(x).toLocaleString('en-US');
const ms = (x) => (x >= 100 ? num(x) : x.toFixed(1)) + ' ms';

// Totals over daily rows: count, weighted average duration, shares, and per
// search type.
export function aggregate(days) {
  const t = {count: 0, durSum: 0, maxDur: 0, gpu: 0, dist: 0, maxBatch: 0, maxSims: 0, devSum: 0, nodesSum: 0,
             byType: {}};
  for (const d of days) {
    const c = d.count || 0;
    if (!t.byType[d.search_type])
      t.byType[d.search_type] = {count: 0, durSum: 0, maxDur: 0, gpu: 0, dist: 0, maxBatch: 0, maxSims: 0, devSum: 0,
                                 nodesSum: 0};
    for (const o of [t, t.byType[d.search_type]]) {
      o.count += c;
      o.durSum += (d.avg_duration_ms || 0) * c;
      o.maxDur = Math.max(o.maxDur, d.max_duration_ms || 0);
      o.gpu += d.gpu_optimized_count || 0;
      o.dist += d.distributed_count || 0;
      o.maxBatch = Math.max(o.maxBatch, d.max_batch_size || 0);
      o.maxSims = Math.max(o.maxSims, d.max_num_simulations || 0);
      o.devSum += (d.avg_devices || 0) * c;
      o.nodesSum += (d.avg_expanded_nodes || 0) * c;
    }
  }
  for (const o of [t, ...Object.values(t.byType)]) {
    o.avgDur = o.count ? o.durSum / o.count : 0;
    o.gpuShare = o.count ? o.gpu / o.count : 0;
    o.distShare = o.count ? o.dist / o.count : 0;
    o.avgDevices = o.count ? o.devSum / o.count : 0;
    o.avgNodes = o.count ? o.nodesSum / o.count : 0;
  }
  return t;
}

// The rules over the period's totals (aggregate()) and the last /metrics
// scrape (a parsed Map, or null). Returns [{id, title, fired, reason,
// advice, source}], fired first.
export function recommend(totals, metrics) {
  const T = THRESHOLDS;
  const out = [];
  const rule = (id, source, title, fired, reason, advice) => out.push({id, source, title, fired, reason, advice});
  const n = totals.count;

  // ---- the product notes' rules ----
  if (!n) {
    rule('avg_duration', 'product notes', 'Average search duration over 5 s', false,
         'no searches in the period', '');
  } else {
    const slowTypes = Object.entries(totals.byType).filter(([, o]) => o.count && o.avgDur > T.avgDurationMs)
      .map(([k, o]) => `${k} ${ms(o.avgDur)}`);
    const fired = totals.avgDur > T.avgDurationMs || slowTypes.length > 0;
    rule('avg_duration', 'product notes', 'Average search duration over 5 s', fired,
         `average duration ${ms(totals.avgDur)} over ${num(n)} searches` +
         (slowTypes.length ? ` (over 5 s: ${slowTypes.join(', ')})` : '') + `; threshold ${ms(T.avgDurationMs)}`,
         'Run these searches on a GPU with use_t4_optimizations (precision fp16, tensor_core_aligned), ' +
         'or lower num_simulations or the batch size.');
  }
  if (!n) {
    rule('gpu_optimized_share', 'product notes', 'Few GPU-optimized searches', false, 'no searches in the period', '');
  } else {
    rule('gpu_optimized_share', 'product notes', 'Few GPU-optimized searches', totals.gpuShare < T.gpuOptimizedShare,
         `${num(totals.gpu)} of ${num(n)} searches (${pct(totals.gpuShare)}) used GPU optimizations; ` +
         `threshold ${pct(T.gpuOptimizedShare)}`,
         'Set use_t4_optimizations (with precision fp16 and tensor_core_aligned) on searches that run on a GPU.');
  }
  if (n <= T.distributedMinSearches) {
    rule('distributed_share', 'product notes', 'Few distributed searches at scale', false,
         `${num(n)} searches in the period; the rule applies beyond ${num(T.distributedMinSearches)}` +
         (n ? ` (${pct(totals.distShare)} distributed)` : ''), '');
  } else {
    rule('distributed_share', 'product notes', 'Few distributed searches at scale', totals.distShare < T.distributedShare,
         `${num(totals.dist)} of ${num(n)} searches (${pct(totals.distShare)}) ran distributed; ` +
         `threshold ${pct(T.distributedShare)} beyond ${num(T.distributedMinSearches)} searches`,
         'Spread large batches over devices: "distributed": true with num_devices and partition_batch.');
  }

  // ---- operations, from the live metrics ----
  if (metrics) {
    const q = prom.histogram(metrics, 'mctx_search_queue_seconds');
    const c = prom.histogram(metrics, 'mctx_search_compute_seconds');
    const q95 = prom.quantile(q, 0.95), c95 = prom.quantile(c, 0.95);
    if (c.count >= T.queueMinSearches) {
      rule('queue_wait', 'operations', 'Searches wait longer than they compute', q95 > c95,
           `p95 queue wait ${ms(q95 * 1e3)} vs p95 compute ${ms(c95 * 1e3)} over ${num(c.count)} searches`,
           'Add search workers (--workers) or a GPU, or let concurrent requests merge (--batch-max-delay-us).');
    }
    const rej = prom.sumBy(metrics, 'mctx_rejected_total', 'reason');
    const full = rej.queue_full || 0, limited = rej.rate_limited || 0;
    rule('queue_full', 'operations', 'Requests refused: queue full', full > 0,
         `${num(full)} requests answered 503 because the queue was full (capacity ` +
         `${num(prom.value(metrics, 'mctx_queue_capacity'))})`,
         'Raise --queue-size, add workers, or spread the load over more instances.');
    rule('rate_limited', 'operations', 'Clients rate limited', limited > 0,
         `${num(limited)} requests answered 429`,
         'Raise --rate-limit-search / --rate-limit-other for these clients, or have them back off (Retry-After).');
    const byStatus = prom.sumBy(metrics, 'mctx_http_requests_total', 'status');
    let total = 0, errs = 0;
    for (const [s, v] of Object.entries(byStatus)) {
      total += v;
      if (/^5\d\d$/.test(s) && s !== '503') errs += v;
    }
    rule('server_errors', 'operations', 'Server errors', total > 0 && errs / total > T.serverErrorShare,
         `${num(errs)} of ${num(total)} requests (${pct(total ? errs / total : 0)}) answered 5xx other than 503; ` +
         `threshold ${pct(T.serverErrorShare)}`,
         'Read the service log (level error) for the requests that failed.');
    const depth = prom.value(metrics, 'mctx_db_spool_depth'), age = prom.value(metrics, 'mctx_db_spool_oldest_age_seconds');
    const up = prom.value(metrics, 'mctx_db_up', undefined, 1);
    rule('db_backlog', 'operations', 'Records waiting for the database',
         up === 0 || depth > T.spoolDepth || age > T.spoolAgeS,
         `database ${up ? 'up' : 'down'}; ${num(depth)} records in the spool, the oldest ${age.toFixed(1)} s old ` +
         `(thresholds ${num(T.spoolDepth)} records, ${T.spoolAgeS} s)`,
         'Check the database: GET /health/ready shows its status and last error, and ' +
         '"mctx db stats --db URL" says why it cannot be opened. ' +
         'Records stay in the spool and are written once it answers.');
  }
  return out.sort((a, b) => Number(b.fired) - Number(a.fired));
}
