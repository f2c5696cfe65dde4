// tests/dashboard/test_recommend.mjs: the dashboard's recommendation rules
// (web/recommend.js) in Node.js, on synthetic daily statistics and /metrics
// text: every rule fired and not fired (at and beyond its threshold), with
// its reason word for word, and the advice naming only commands, flags and
// routes that exist.
//
//   node tests/dashboard/test_recommend.mjs [WEB_DIR]
//
// WEB_DIR defaults to $MCTX_WEB_DIR, else web/ beside tests/. The page's
// modules are plain ES modules served to the browser as they are; Node reads
// a .js file as a module only under a package.json saying so, so they are
// copied, unchanged, into a temporary folder that has one. No npm package,
// no network. ctest runs this through a guard that skips (77) without node.

import assert from 'node:assert/strict';
import {copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {after, describe, test} from 'node:test';
import {fileURLToPath, pathToFileURL} from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const WEB = resolve(process.argv[2] || process.env.MCTX_WEB_DIR || join(ROOT, 'web'));

const tmp = mkdtempSync(join(tmpdir(), 'mctx-recommend-'));
after(() => rmSync(tmp, {recursive: true, force: true}));
for (const f of readdirSync(WEB)) if (f.endsWith('.js')) copyFileSync(join(WEB, f), join(tmp, f));
writeFileSync(join(tmp, 'package.json'), '{"type": "module"}\n');
const {THRESHOLDS, aggregate, recommend} = await import(pathToFileURL(join(tmp, 'recommend.js')).href);
const prom = await import(pathToFileURL(join(tmp, 'prom.js')).href);

// ---- inputs ----

// A daily-statistics row as GET /api/v1/stats/daily gives it.
function day(search_type, count, avg_duration_ms, gpu = 0, dist = 0, d = '2025-06-01') {
  return {day: d, search_type, count, avg_duration_ms, max_duration_ms: avg_duration_ms, gpu_optimized_count: gpu,
          distributed_count: dist, max_batch_size: 1, max_num_simulations: 32, avg_devices: 1,
          avg_expanded_nodes: 33};
}

// Bounds of the service's latency histograms (src/service/metrics.c).
const BOUNDS = ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25',
                '0.5', '1', '2.5', '5', '10', '30', '60', '300', '+Inf'];

// One histogram in the Prometheus text: `at` maps a bucket's upper bound to
// the observations in it.
function histogram(name, at) {
  let cum = 0, sum = 0;
  const lines = [`# TYPE ${name} histogram`];
  for (const le of BOUNDS) {
    cum += at[le] || 0;
    sum += (at[le] || 0) * (le === '+Inf' ? 300 : Number(le));
    lines.push(`${name}_bucket{le="${le}"} ${cum}`);
  }
  lines.push(`${name}_sum ${sum}`, `${name}_count ${cum}`);
  return lines.join('\n');
}

// /metrics text as the service writes it, with the figures the operations
// rules read; everything quiet unless given.
function metricsText(o = {}) {
  const lines = [
    histogram('mctx_search_queue_seconds', o.queue || {}),
    histogram('mctx_search_compute_seconds', o.compute || {}),
    '# TYPE mctx_rejected_total counter',
  ];
  for (const reason of ['queue_full', 'rate_limited', 'draining', 'tasks_full'])
    lines.push(`mctx_rejected_total{reason="${reason}"} ${(o.rejected || {})[reason] || 0}`);
  lines.push('# TYPE mctx_http_requests_total counter');
  for (const [status, n] of Object.entries(o.statuses || {}))
    lines.push(`mctx_http_requests_total{route="/api/v1/mcts/search",status="${status}"} ${n}`);
  lines.push(`mctx_queue_capacity ${o.capacity ?? 1024}`);
  if (o.dbUp !== null) lines.push(`mctx_db_up ${o.dbUp ?? 1}`);
  lines.push(`mctx_db_spool_depth ${o.spool ?? 0}`, `mctx_db_record_queue 0`,
             `mctx_db_spool_oldest_age_seconds ${(o.age ?? 0).toFixed(3)}`, '');
  return lines.join('\n');
}

// The rules by id, over daily rows and (optionally) metrics text.
function rules(days, metrics) {
  const out = recommend(aggregate(days), metrics === undefined ? null : prom.parse(metrics));
  const byId = {};
  for (const r of out) {
    assert.equal(byId[r.id], undefined, `rule ${r.id} listed twice`);
    byId[r.id] = r;
  }
  return {list: out, byId};
}

function check(r, fired, reason) {
  assert.ok(r, 'the rule is listed');
  assert.equal(r.fired, fired, `${r.id} fired: ${r.reason}`);
  assert.equal(r.reason, reason);
  if (fired) assert.ok(r.advice.length > 0, `${r.id} says what to do`);
}

const PRODUCT = ['avg_duration', 'gpu_optimized_share', 'distributed_share'];
const OPERATIONS = ['queue_wait', 'queue_full', 'rate_limited', 'server_errors', 'db_backlog'];

// ---- the product notes' rules ----

describe('the product notes\' rules', () => {
  test('the thresholds are the notes\' figures', () => {
    assert.equal(THRESHOLDS.avgDurationMs, 5000);
    assert.equal(THRESHOLDS.gpuOptimizedShare, 0.20);
    assert.equal(THRESHOLDS.distributedShare, 0.10);
    assert.equal(THRESHOLDS.distributedMinSearches, 1000);
  });

  test('without metrics, only these three rules', () => {
    const {list} = rules([day('muzero', 10, 100)]);
    assert.deepEqual(list.map((r) => r.id).sort(), [...PRODUCT].sort());
    for (const r of list) assert.equal(r.source, 'product notes');
  });

  test('no searches: nothing fires, and the reason says so', () => {
    const {byId} = rules([]);
    check(byId.avg_duration, false, 'no searches in the period');
    check(byId.gpu_optimized_share, false, 'no searches in the period');
    check(byId.distributed_share, false, '0 searches in the period; the rule applies beyond 1,000');
  });

  test('avg_duration: not over 5 s', () => {
    // weighted by count: (8 * 1000 + 2 * 3000) / 10 = 1400
    const {byId} = rules([day('muzero', 8, 1000), day('gumbel_muzero', 2, 3000)]);
    check(byId.avg_duration, false, 'average duration 1,400 ms over 10 searches; threshold 5,000 ms');
  });

  test('avg_duration: exactly 5 s does not fire', () => {
    const {byId} = rules([day('muzero', 3, 5000)]);
    check(byId.avg_duration, false, 'average duration 5,000 ms over 3 searches; threshold 5,000 ms');
  });

  test('avg_duration: over 5 s overall', () => {
    const {byId} = rules([day('muzero', 4, 6000)]);
    check(byId.avg_duration, true,
          'average duration 6,000 ms over 4 searches (over 5 s: muzero 6,000 ms); threshold 5,000 ms');
  });

  test('avg_duration: one search type over 5 s, the average under it', () => {
    // (9 * 1000 + 1 * 12000) / 10 = 2100 overall; stochastic_muzero alone 12 s
    const {byId} = rules([day('muzero', 9, 1000), day('stochastic_muzero', 1, 12000)]);
    check(byId.avg_duration, true,
          'average duration 2,100 ms over 10 searches (over 5 s: stochastic_muzero 12,000 ms); threshold 5,000 ms');
  });

  test('avg_duration: days of one type are weighted together', () => {
    // two days of muzero: (1 * 9000 + 3 * 1000) / 4 = 3000, under 5 s
    const {byId} = rules([day('muzero', 1, 9000, 0, 0, '2025-06-01'), day('muzero', 3, 1000, 0, 0, '2025-06-02')]);
    check(byId.avg_duration, false, 'average duration 3,000 ms over 4 searches; threshold 5,000 ms');
  });

  test('avg_duration: short durations keep a decimal', () => {
    const {byId} = rules([day('muzero', 2, 12.25)]);
    check(byId.avg_duration, false, 'average duration 12.3 ms over 2 searches; threshold 5,000 ms');
  });

  test('gpu_optimized_share: under 20% fires', () => {
    const {byId} = rules([day('muzero', 8, 100, 1), day('gumbel_muzero', 2, 100, 0)]);
    check(byId.gpu_optimized_share, true,
          '1 of 10 searches (10.0%) used GPU optimizations; threshold 20.0%');
  });

  test('gpu_optimized_share: none at all fires', () => {
    const {byId} = rules([day('muzero', 5, 100)]);
    check(byId.gpu_optimized_share, true, '0 of 5 searches (0.0%) used GPU optimizations; threshold 20.0%');
  });

  test('gpu_optimized_share: exactly 20% does not fire', () => {
    const {byId} = rules([day('muzero', 8, 100, 1), day('gumbel_muzero', 2, 100, 1)]);
    check(byId.gpu_optimized_share, false, '2 of 10 searches (20.0%) used GPU optimizations; threshold 20.0%');
  });

  test('gpu_optimized_share: most searches optimized does not fire', () => {
    const {byId} = rules([day('muzero', 1500, 100, 1200)]);
    check(byId.gpu_optimized_share, false,
          '1,200 of 1,500 searches (80.0%) used GPU optimizations; threshold 20.0%');
  });

  test('distributed_share: 1000 searches or fewer, the rule does not apply', () => {
    let {byId} = rules([day('muzero', 1000, 100, 0, 0)]);
    check(byId.distributed_share, false,
          '1,000 searches in the period; the rule applies beyond 1,000 (0.0% distributed)');
    ({byId} = rules([day('muzero', 10, 100, 0, 5)]));
    check(byId.distributed_share, false,
          '10 searches in the period; the rule applies beyond 1,000 (50.0% distributed)');
  });

  test('distributed_share: beyond 1000, under 10% fires', () => {
    const {byId} = rules([day('muzero', 1500, 100, 0, 100), day('gumbel_muzero', 500, 100, 0, 50)]);
    check(byId.distributed_share, true,
          '150 of 2,000 searches (7.5%) ran distributed; threshold 10.0% beyond 1,000 searches');
  });

  test('distributed_share: just beyond 1000, none distributed fires', () => {
    const {byId} = rules([day('muzero', 1001, 100)]);
    check(byId.distributed_share, true,
          '0 of 1,001 searches (0.0%) ran distributed; threshold 10.0% beyond 1,000 searches');
  });

  test('distributed_share: exactly 10% does not fire', () => {
    const {byId} = rules([day('muzero', 2000, 100, 0, 200)]);
    check(byId.distributed_share, false,
          '200 of 2,000 searches (10.0%) ran distributed; threshold 10.0% beyond 1,000 searches');
  });
});

// ---- the operations rules ----

describe('the operations rules', () => {
  const DAYS = [day('muzero', 10, 100, 5, 0)];

  test('with metrics, every rule is listed once; fired ones first', () => {
    const {list} = rules(DAYS, metricsText({queue: {'0.001': 20}, compute: {'0.01': 20},
                                            rejected: {queue_full: 1}}));
    assert.deepEqual(list.map((r) => r.id).sort(), [...PRODUCT, ...OPERATIONS].sort());
    for (const r of list) assert.equal(r.source, PRODUCT.includes(r.id) ? 'product notes' : 'operations');
    const fired = list.map((r) => r.fired);
    assert.deepEqual(fired, [...fired].sort((a, b) => Number(b) - Number(a)), 'fired first');
    assert.deepEqual(list.filter((r) => r.fired).map((r) => r.id), ['queue_full']);
  });

  test('a quiet service: no operations rule fires', () => {
    const {byId} = rules(DAYS, metricsText({statuses: {200: 50}}));
    assert.equal(byId.queue_wait, undefined, 'queue_wait waits for 20 searches');
    check(byId.queue_full, false, '0 requests answered 503 because the queue was full (capacity 1,024)');
    check(byId.rate_limited, false, '0 requests answered 429');
    check(byId.server_errors, false, '0 of 50 requests (0.0%) answered 5xx other than 503; threshold 1.0%');
    check(byId.db_backlog, false,
          'database up; 0 records in the spool, the oldest 0.0 s old (thresholds 1,000 records, 60 s)');
  });

  test('queue_wait: not judged before 20 searches', () => {
    const {byId} = rules(DAYS, metricsText({queue: {'0.5': 19}, compute: {'0.01': 19}}));
    assert.equal(byId.queue_wait, undefined);
  });

  test('queue_wait: p95 queue wait over p95 compute fires', () => {
    // 20 waits in (0.25, 0.5] s: p95 = 0.25 + 0.25 * 19/20 = 0.4875 s;
    // 20 computes in (0.005, 0.01] s: p95 = 0.005 + 0.005 * 19/20 = 0.00975 s
    const {byId} = rules(DAYS, metricsText({queue: {'0.5': 20}, compute: {'0.01': 20}}));
    check(byId.queue_wait, true, 'p95 queue wait 488 ms vs p95 compute 9.8 ms over 20 searches');
  });

  test('queue_wait: p95 queue wait under p95 compute does not fire', () => {
    // 40 waits in (0.0005, 0.001]: p95 = 0.0005 + 0.0005 * 38/40 = 0.000975 s;
    // 30 computes in (0.05, 0.1], 10 in (1, 2.5]: p95 = 1 + 1.5 * 8/10 = 2.2 s
    const {byId} = rules(DAYS, metricsText({queue: {'0.001': 40}, compute: {'0.1': 30, '2.5': 10}}));
    check(byId.queue_wait, false, 'p95 queue wait 1.0 ms vs p95 compute 2,200 ms over 40 searches');
  });

  test('queue_wait: equal percentiles do not fire', () => {
    const {byId} = rules(DAYS, metricsText({queue: {'0.1': 25}, compute: {'0.1': 25}}));
    assert.equal(byId.queue_wait.fired, false, byId.queue_wait.reason);
    assert.match(byId.queue_wait.reason, /^p95 queue wait (\S+) ms vs p95 compute \1 ms over 25 searches$/);
  });

  test('queue_full: any 503 for a full queue fires', () => {
    const {byId} = rules(DAYS, metricsText({rejected: {queue_full: 3, draining: 7}, capacity: 64}));
    check(byId.queue_full, true, '3 requests answered 503 because the queue was full (capacity 64)');
    check(byId.rate_limited, false, '0 requests answered 429');
  });

  test('rate_limited: any 429 fires', () => {
    const {byId} = rules(DAYS, metricsText({rejected: {rate_limited: 1234}}));
    check(byId.rate_limited, true, '1,234 requests answered 429');
    check(byId.queue_full, false, '0 requests answered 503 because the queue was full (capacity 1,024)');
  });

  test('server_errors: over 1% of answers 5xx (not 503) fires', () => {
    const {byId} = rules(DAYS, metricsText({statuses: {200: 97, 500: 2, 503: 1}}));
    check(byId.server_errors, true, '2 of 100 requests (2.0%) answered 5xx other than 503; threshold 1.0%');
  });

  test('server_errors: 500, 501, 504 and 507 all count', () => {
    const {byId} = rules(DAYS, metricsText({statuses: {200: 46, 500: 1, 501: 1, 504: 1, 507: 1}}));
    check(byId.server_errors, true, '4 of 50 requests (8.0%) answered 5xx other than 503; threshold 1.0%');
  });

  test('server_errors: exactly 1% does not fire', () => {
    const {byId} = rules(DAYS, metricsText({statuses: {200: 99, 500: 1}}));
    check(byId.server_errors, false, '1 of 100 requests (1.0%) answered 5xx other than 503; threshold 1.0%');
  });

  test('server_errors: 503s and 4xx are not server errors', () => {
    const {byId} = rules(DAYS, metricsText({statuses: {200: 10, 400: 30, 429: 30, 503: 30}}));
    check(byId.server_errors, false, '0 of 100 requests (0.0%) answered 5xx other than 503; threshold 1.0%');
  });

  test('server_errors: no requests does not fire', () => {
    const {byId} = rules(DAYS, metricsText({}));
    check(byId.server_errors, false, '0 of 0 requests (0.0%) answered 5xx other than 503; threshold 1.0%');
  });

  test('db_backlog: the database down fires', () => {
    const {byId} = rules(DAYS, metricsText({dbUp: 0, spool: 12, age: 3.25}));
    check(byId.db_backlog, true,
          'database down; 12 records in the spool, the oldest 3.3 s old (thresholds 1,000 records, 60 s)');
  });

  test('db_backlog: over 1000 records waiting fires', () => {
    const {byId} = rules(DAYS, metricsText({spool: 1001, age: 2}));
    check(byId.db_backlog, true,
          'database up; 1,001 records in the spool, the oldest 2.0 s old (thresholds 1,000 records, 60 s)');
  });

  test('db_backlog: exactly 1000 records does not fire', () => {
    const {byId} = rules(DAYS, metricsText({spool: 1000, age: 2}));
    check(byId.db_backlog, false,
          'database up; 1,000 records in the spool, the oldest 2.0 s old (thresholds 1,000 records, 60 s)');
  });

  test('db_backlog: a record waiting over 60 s fires', () => {
    const {byId} = rules(DAYS, metricsText({spool: 1, age: 60.5}));
    check(byId.db_backlog, true,
          'database up; 1 records in the spool, the oldest 60.5 s old (thresholds 1,000 records, 60 s)');
  });

  test('db_backlog: exactly 60 s does not fire', () => {
    const {byId} = rules(DAYS, metricsText({spool: 1, age: 60}));
    check(byId.db_backlog, false,
          'database up; 1 records in the spool, the oldest 60.0 s old (thresholds 1,000 records, 60 s)');
  });

  test('db_backlog: no mctx_db_up sample counts as up', () => {
    const {byId} = rules(DAYS, metricsText({dbUp: null}));
    check(byId.db_backlog, false,
          'database up; 0 records in the spool, the oldest 0.0 s old (thresholds 1,000 records, 60 s)');
  });

  test('everything at once: every rule fires, fired first', () => {
    const days = [day('muzero', 1500, 7000, 0, 0)];
    const {list} = rules(days, metricsText({queue: {'1': 30}, compute: {'0.01': 30},
                                            rejected: {queue_full: 1, rate_limited: 1},
                                            statuses: {200: 10, 500: 10}, dbUp: 0}));
    assert.deepEqual(list.filter((r) => !r.fired).map((r) => r.id), []);
    assert.equal(list.length, PRODUCT.length + OPERATIONS.length);
  });
});

// ---- the advice names what exists ----

describe('the advice', () => {
  // every rule fired, so every advice is there
  const all = rules([day('muzero', 1500, 7000)], metricsText({
    queue: {'1': 30}, compute: {'0.01': 30}, rejected: {queue_full: 1, rate_limited: 1},
    statuses: {200: 10, 500: 10}, dbUp: 0})).list;
  const advice = all.map((r) => `${r.id}: ${r.advice}`).join('\n');
  const source = (p) => {
    const f = join(ROOT, p);
    return existsSync(f) ? readFileSync(f, 'utf8') : null;
  };

  test('mctx db subcommands it names exist (src/cli/cmd_db.c)', (t) => {
    const cmdDb = source('src/cli/cmd_db.c');
    if (!cmdDb) return t.skip('no src/cli/cmd_db.c beside this test');
    const subs = new Set([...cmdDb.matchAll(/\{"([a-z-]+)",\s*cmd_\w+,/g)].map((m) => m[1]));
    assert.ok(subs.has('stats'), `subcommands read: ${[...subs]}`);
    const named = [...advice.matchAll(/mctx db ([a-z-]+)/g)].map((m) => m[1]);
    assert.ok(named.length > 0, 'db_backlog names a command');
    for (const n of named) assert.ok(subs.has(n), `"mctx db ${n}" is not a subcommand (${[...subs].join(', ')})`);
    assert.doesNotMatch(advice, /db status/);
  });

  test('flags it names are the service\'s (src/service/config.c)', (t) => {
    const config = source('src/service/config.c');
    if (!config) return t.skip('no src/service/config.c beside this test');
    const flags = new Set([...config.matchAll(/\{"([a-z][a-z0-9-]+)",\s*"MCTX_/g)].map((m) => m[1]));
    const named = [...advice.matchAll(/--([a-z][a-z0-9-]+)/g)].map((m) => m[1]);
    assert.ok(named.length > 0);
    for (const f of named) assert.ok(flags.has(f), `--${f} is not a flag of mctx serve`);
  });

  test('routes it names are the service\'s (src/service/routes.c)', (t) => {
    const routes = source('src/service/routes.c');
    if (!routes) return t.skip('no src/service/routes.c beside this test');
    const named = [...advice.matchAll(/\b(GET|POST|DELETE) (\/[A-Za-z0-9/_{}.-]+)/g)];
    assert.ok(named.length > 0, 'db_backlog names a route');
    for (const [, method, path] of named)
      assert.ok(routes.includes(`{MCTX_HTTP_${method}, "${path}"`), `${method} ${path} is not a route`);
  });
});
