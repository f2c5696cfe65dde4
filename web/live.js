// web/live.js: the Live tab. Every few seconds it reads GET /metrics (and
// GET /api/v1/dashboard/gpu), keeps the last five minutes of scrapes, and
// shows rates, latency percentiles (queue and compute apart, over the last
// minute and since the start), in flight and queue depth, batch sizes,
// errors by status, the GPUs and the database backlog. Latency percentiles
// over a window come from the difference of two scrapes' histograms.

import * as prom from './prom.js';
import {barChart, fmt, lineChart} from './charts.js';

const KEEP_MS = 5 * 60 * 1000;
const WINDOW_MS = 60 * 1000;

function $(id) { return document.getElementById(id); }

function td(tr, text, cls) {
  const c = document.createElement(tr.parentElement && tr.parentElement.tagName === 'THEAD' ? 'th' : 'td');
  c.textContent = text;
  if (cls) c.className = cls;
  tr.appendChild(c);
  return c;
}

// Fills a table from a header row and body rows (text only).
export function fillTable(table, head, rows) {
  table.textContent = '';
  const thead = table.createTHead();
  const hr = thead.insertRow();
  for (const h of head) {
    const th = document.createElement('th');
    th.textContent = h;
    hr.appendChild(th);
  }
  const tb = table.createTBody();
  for (const r of rows) {
    const tr = tb.insertRow();
    for (const v of r) {
      if (v instanceof Node) { const c = tr.insertCell(); c.appendChild(v); }
      else td(tr, v);
    }
  }
}

const msFmt = (s) => (Number.isFinite(s) ? (s * 1e3 >= 100 ? (s * 1e3).toFixed(0) : (s * 1e3).toPrecision(3)) + ' ms' : '–');
const bytes = (b) => (b >= 1 << 30 ? (b / (1 << 30)).toFixed(2) + ' GiB' : (b / (1 << 20)).toFixed(0) + ' MiB');

export class Live {
  constructor(api, state) {
    this.api = api;
    this.state = state;   // window.mctxDash.state.live
    this.samples = [];    // {t, m, h: {queue, compute, request}, q: {...}}
    this.gpu = null;
  }

  // One scrape; throws the API's error (the caller backs off).
  async poll() {
    const text = await this.api.get('/metrics', {text: true});
    const m = prom.parse(text);
    const now = Date.now();
    const h = {
      queue: prom.histogram(m, 'mctx_search_queue_seconds'),
      compute: prom.histogram(m, 'mctx_search_compute_seconds'),
      request: prom.histogram(m, 'mctx_http_request_duration_seconds', {route: '/api/v1/mcts/search'}),
    };
    // the scrape closest to a minute ago, within the kept ones
    let base = null;
    for (const s of this.samples) if (s.t <= now - WINDOW_MS * 0.95) base = s;
    if (!base && this.samples.length) base = this.samples[0];
    const win = {};
    for (const k of ['queue', 'compute', 'request']) {
      const d = prom.histDelta(h[k], base ? base.h[k] : null);
      win[k] = {count: d.count, p50: prom.quantile(d, 0.5), p95: prom.quantile(d, 0.95), p99: prom.quantile(d, 0.99)};
    }
    this.samples.push({t: now, m, h, win, windowS: base ? (now - base.t) / 1000 : 0});
    while (this.samples.length && this.samples[0].t < now - KEEP_MS) this.samples.shift();
    try {
      this.gpu = await this.api.get('/api/v1/dashboard/gpu');
    } catch (e) {
      if (e.status === 401) throw e;
      this.gpu = {available: false, reason: 'GPU route: ' + e.message, devices: []};
    }
    this.render();
    return m;
  }

  get last() { return this.samples.length ? this.samples[this.samples.length - 1] : null; }

  render() {
    const s = this.last;
    if (!s) return;
    const m = s.m;
    const st = this.state;
    const searchesTotal = prom.sum(m, 'mctx_searches_total');
    const failures = prom.sumBy(m, 'mctx_search_failures_total', 'reason');
    const rejections = prom.sumBy(m, 'mctx_rejected_total', 'reason');
    const byStatus = prom.sumBy(m, 'mctx_http_requests_total', 'status');
    const errorsByStatus = {};
    for (const [k, v] of Object.entries(byStatus)) if ((k === 'other' || Number(k) >= 400) && v > 0) errorsByStatus[k] = v;
    const info = (prom.samples(m, 'mctx_info')[0] || {labels: {}}).labels;
    Object.assign(st, {
      samples: this.samples.length,
      updated: new Date(s.t).toISOString(),
      searchesPerS: prom.value(m, 'mctx_searches_per_second'),
      simulationsPerS: prom.value(m, 'mctx_simulations_per_second'),
      searchesTotal,
      simulationsTotal: prom.value(m, 'mctx_simulations_total'),
      searchesByType: prom.sumBy(m, 'mctx_searches_total', 'search_type'),
      inFlight: prom.value(m, 'mctx_http_in_flight'),
      running: prom.value(m, 'mctx_searches_running'),
      queueDepth: prom.value(m, 'mctx_queue_depth'),
      queueCapacity: prom.value(m, 'mctx_queue_capacity'),
      errorsByStatus, failures, rejections,
      dbBacklog: prom.value(m, 'mctx_db_spool_depth') + prom.value(m, 'mctx_db_record_queue'),
      latency: {window: s.win, windowS: s.windowS, total: {}},
      batchSize: prom.bucketCounts(prom.histogram(m, 'mctx_batch_size')),
      batchJobs: prom.bucketCounts(prom.histogram(m, 'mctx_batch_jobs')),
      gpu: this.gpu,
    });
    for (const k of ['queue', 'compute', 'request'])
      st.latency.total[k] = {count: s.h[k].count, p50: prom.quantile(s.h[k], 0.5), p95: prom.quantile(s.h[k], 0.95),
                             p99: prom.quantile(s.h[k], 0.99)};

    // ---- tiles ----
    const tiles = $('live-tiles');
    tiles.textContent = '';
    const tile = (key, label, value, sub, bad) => {
      const d = document.createElement('div');
      d.className = 'tile' + (bad ? ' bad' : '');
      d.dataset.metric = key;
      const l = document.createElement('div'); l.className = 'label'; l.textContent = label;
      const v = document.createElement('div'); v.className = 'value'; v.textContent = value;
      const u = document.createElement('div'); u.className = 'sub'; u.textContent = sub;
      d.append(l, v, u);
      tiles.appendChild(d);
    };
    const errTotal = Object.values(errorsByStatus).reduce((a, b) => a + b, 0);
    const failTotal = Object.values(failures).reduce((a, b) => a + b, 0);
    tile('searches_per_s', 'searches/s', fmt(st.searchesPerS), `${searchesTotal} searches since start`);
    tile('simulations_per_s', 'simulations/s', fmt(st.simulationsPerS), `${fmt(st.simulationsTotal)} simulations`);
    tile('in_flight', 'in flight', String(st.inFlight), `${st.running} searches running`);
    tile('queue_depth', 'queue depth', String(st.queueDepth), `of ${st.queueCapacity}`, st.queueDepth >= st.queueCapacity);
    tile('p99_compute', 'p99 compute (1 min)', msFmt(s.win.compute.p99), `p99 queue ${msFmt(s.win.queue.p99)}`);
    tile('errors', 'error answers', String(errTotal), `${failTotal} searches failed`, false);
    const dbUp = prom.value(m, 'mctx_db_up', undefined, 1);
    tile('db_backlog', 'database backlog', String(st.dbBacklog),
         `${dbUp ? 'db up' : 'db DOWN'}; oldest ${prom.value(m, 'mctx_db_spool_oldest_age_seconds').toFixed(1)} s`, !dbUp);
    tile('memory', 'memory (RSS)', bytes(prom.value(m, 'mctx_process_resident_memory_bytes')),
         `up ${fmtDuration(prom.value(m, 'mctx_uptime_seconds'))}; ${info.workers || '?'} workers`);
    const g = this.gpu;
    if (g && g.available && g.devices.length) {
      const d0 = g.devices[0];
      tile('gpu', 'GPU utilization', d0.utilization_gpu_pct === null ? '–' : d0.utilization_gpu_pct + '%',
           `${bytes(d0.memory_used_bytes)} of ${bytes(d0.memory_total_bytes)}` + (g.devices.length > 1 ? ` (+${g.devices.length - 1} GPUs)` : ''));
    } else {
      tile('gpu', 'GPU', 'none', g && g.reason ? g.reason : '');
    }

    // ---- charts over time ----
    const t0 = s.t;
    const xs = this.samples.map((x) => (x.t - t0) / 1000);
    const xFormat = (v) => (v === 0 ? 'now' : Math.round(v) + ' s');
    lineChart($('chart-searches'), {id: 'live-searches', x: xs, xFormat, height: 150,
      series: [{name: 'searches/s', values: this.samples.map((x) => prom.value(x.m, 'mctx_searches_per_second'))}]});
    lineChart($('chart-sims'), {id: 'live-simulations', x: xs, xFormat, height: 150,
      series: [{name: 'simulations/s', color: 1, values: this.samples.map((x) => prom.value(x.m, 'mctx_simulations_per_second'))}]});
    const p99 = (k) => this.samples.map((x) => (Number.isFinite(x.win[k].p99) ? x.win[k].p99 * 1e3 : null));
    lineChart($('chart-latency'), {id: 'live-latency', x: xs, xFormat, height: 200, yFormat: (v) => fmt(v) + ' ms',
      series: [{name: 'queue p99', values: p99('queue')}, {name: 'compute p99', values: p99('compute')},
               {name: 'request p99', values: p99('request')}]});
    lineChart($('chart-queue'), {id: 'live-queue', x: xs, xFormat, height: 200,
      series: [{name: 'queue depth', values: this.samples.map((x) => prom.value(x.m, 'mctx_queue_depth'))},
               {name: 'in flight', values: this.samples.map((x) => prom.value(x.m, 'mctx_http_in_flight'))},
               {name: 'running', values: this.samples.map((x) => prom.value(x.m, 'mctx_searches_running'))}]});

    // ---- latency table ----
    $('latency-window').textContent = s.windowS ? `(last ${Math.round(s.windowS)} s and since start)` : '(since start)';
    const rows = [];
    for (const [k, label] of [['queue', 'queue wait'], ['compute', 'compute'], ['request', 'whole request']]) {
      const w = s.win[k], a = st.latency.total[k];
      rows.push([label, msFmt(w.p50), msFmt(w.p95), msFmt(w.p99), String(w.count),
                 msFmt(a.p50), msFmt(a.p95), msFmt(a.p99), String(a.count)]);
    }
    fillTable($('latency-table'), ['', 'p50', 'p95', 'p99', 'n', 'p50 (all)', 'p95 (all)', 'p99 (all)', 'n (all)'], rows);

    // ---- batches, errors ----
    const bs = st.batchSize.filter((b) => b.count > 0 || b.le <= 64);
    barChart($('chart-batch-size'), {id: 'live-batch-size', height: 150, categories: bs.map((b) => b.label),
      series: [{name: 'searches run, by batch elements', legend: true, values: bs.map((b) => b.count)}]});
    const bj = st.batchJobs.filter((b) => b.count > 0 || b.le <= 16);
    barChart($('chart-batch-jobs'), {id: 'live-batch-jobs', height: 150, categories: bj.map((b) => b.label),
      series: [{name: 'searches run, by requests merged', legend: true, color: 2, values: bj.map((b) => b.count)}]});
    const codes = Object.keys(errorsByStatus).sort();
    barChart($('chart-errors'), {id: 'live-errors', height: 150, categories: codes, emptyText: 'no error answers',
      series: [{name: 'answers', color: 4, values: codes.map((c) => errorsByStatus[c])}]});
    const erows = [];
    for (const smp of prom.samples(m, 'mctx_http_requests_total'))
      if (smp.labels.status === 'other' || Number(smp.labels.status) >= 400)
        erows.push([smp.labels.route, smp.labels.status, String(smp.value)]);
    for (const [r, v] of Object.entries(failures)) if (v) erows.push(['search failed: ' + r, '', String(v)]);
    for (const [r, v] of Object.entries(rejections)) if (v) erows.push(['refused: ' + r, '', String(v)]);
    fillTable($('errors-table'), ['route / reason', 'status', 'count'], erows);

    // ---- GPU, database ----
    const gp = $('gpu-panel');
    gp.textContent = '';
    if (g && g.available) {
      for (const d of g.devices) {
        const box = document.createElement('div');
        box.className = 'gpu-dev';
        box.dataset.gpu = String(d.index);
        const h = document.createElement('div');
        h.textContent = `GPU ${d.index}: ${d.name}` + (d.temperature_c !== null ? `, ${d.temperature_c} °C` : '');
        box.appendChild(h);
        const bar = (label, v, max) => {
          const l = document.createElement('div');
          l.textContent = label;
          const p = document.createElement('progress');
          p.max = max; p.value = v;
          box.append(l, p);
        };
        bar(`memory ${bytes(d.memory_used_bytes)} of ${bytes(d.memory_total_bytes)}`, d.memory_used_bytes, d.memory_total_bytes || 1);
        if (d.utilization_gpu_pct !== null) bar(`utilization ${d.utilization_gpu_pct}%`, d.utilization_gpu_pct, 100);
        gp.appendChild(box);
      }
      const e = document.createElement('div');
      e.className = 'muted';
      e.textContent = `searches run on the ${g.engine} engine` + (g.engine_note ? ` (${g.engine_note})` : '');
      gp.appendChild(e);
    } else {
      const d = document.createElement('div');
      d.className = 'muted';
      d.textContent = 'No GPU to show' + (g && g.reason ? ': ' + g.reason : '') +
                      (g && g.engine ? `. Searches run on the ${g.engine} engine.` : '');
      gp.appendChild(d);
    }
    fillTable($('db-table'), ['', ''], [
      ['backend', info.db || '?'],
      ['database', dbUp ? 'up' : 'down'],
      ['records waiting in the spool', String(prom.value(m, 'mctx_db_spool_depth'))],
      ['records waiting to enter it', String(prom.value(m, 'mctx_db_record_queue'))],
      ['oldest waiting', prom.value(m, 'mctx_db_spool_oldest_age_seconds').toFixed(1) + ' s'],
      ['written since start', String(prom.value(m, 'mctx_db_records_written_total'))],
      ['dropped', String(prom.value(m, 'mctx_db_records_dropped_total'))],
      ['write retries', String(prom.value(m, 'mctx_db_write_retries_total'))],
    ]);
  }
}

function fmtDuration(s) {
  if (s < 120) return Math.round(s) + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  if (s < 172800) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
