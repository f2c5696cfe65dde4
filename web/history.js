// web/history.js: the History tab. Daily statistics (GET /api/v1/stats/daily)
// by search type as charts and a table, the recommendations over them, and
// the recent searches (GET /api/v1/searches) as a table with filters: search
// type and user on the server, device, minimum duration and request id on
// the rows fetched; paging by offset.

import {barChart, fmt, lineChart} from './charts.js';
import {fillTable} from './live.js';
import {aggregate, recommend} from './recommend.js';

const TYPES = ['gumbel_muzero', 'muzero', 'stochastic_muzero'];

function $(id) { return document.getElementById(id); }

// YYYY-MM-DD (UTC, as the service counts days) of a Date.
export function utcDay(d) { return d.toISOString().slice(0, 10); }

function daysBetween(from, to) {
  const out = [];
  const d = new Date(from + 'T00:00:00Z'), end = new Date(to + 'T00:00:00Z');
  for (let i = 0; d <= end && i < 3660; i++) {
    out.push(utcDay(d));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

export class History {
  constructor(api, state, getMetrics) {
    this.api = api;
    this.state = state;        // window.mctxDash.state.history
    this.getMetrics = getMetrics;
    this.offset = 0;
    const today = new Date();
    const start = new Date(today.getTime() - 29 * 86400e3);
    $('h-from').value = utcDay(start);
    $('h-to').value = utcDay(today);
    $('history-filters').addEventListener('submit', (e) => { e.preventDefault(); this.refresh(); });
    $('search-filters').addEventListener('submit', (e) => { e.preventDefault(); this.offset = 0; this.loadSearches(); });
    for (const id of ['s-device', 's-min-ms', 's-id']) $(id).addEventListener('input', () => this.renderSearches());
    $('s-prev').addEventListener('click', () => {
      this.offset = Math.max(0, this.offset - Number($('s-limit').value));
      this.loadSearches();
    });
    $('s-next').addEventListener('click', () => {
      this.offset += Number($('s-limit').value);
      this.loadSearches();
    });
  }

  setRole(role) {
    // a user-role client sees its own searches only: no user filter
    $('s-user-label').hidden = role !== 'admin';
  }

  async refresh() {
    await Promise.all([this.loadDaily(), this.loadSearches()]);
    $('history-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  async loadDaily() {
    const from = $('h-from').value, to = $('h-to').value, type = $('h-type').value;
    const q = new URLSearchParams();
    if (from) q.set('from', from);
    if (to) q.set('to', to);
    if (type) q.set('search_type', type);
    const res = await this.api.get('/api/v1/stats/daily?' + q.toString());
    this.days = res.days || [];
    this.range = {from: from || null, to: to || null, type: type || null};
    this.renderDaily();
  }

  renderDaily() {
    const days = this.days;
    const st = this.state;
    const present = [...new Set(days.map((d) => d.day))].sort();
    const from = this.range.from || present[0], to = this.range.to || present[present.length - 1];
    const cats = from && to ? daysBetween(from, to) : [];
    const types = TYPES.filter((t) => days.some((d) => d.search_type === t))
      .concat([...new Set(days.map((d) => d.search_type))].filter((t) => !TYPES.includes(t)));
    const cell = (type, day, f) => {
      const r = days.find((d) => d.search_type === type && d.day === day);
      return r ? f(r) : null;
    };
    const color = (t) => Math.max(TYPES.indexOf(t), 0) + (TYPES.includes(t) ? 0 : 3);
    const series = (f) => types.map((t) => ({name: t, color: color(t), legend: true, values: cats.map((c) => cell(t, c, f))}));
    barChart($('chart-daily-count'), {id: 'daily-count', categories: cats.map((c) => c.slice(5)), stacked: true,
      emptyText: 'no searches recorded in this period',
      series: series((r) => r.count).map((s) => ({...s, values: s.values.map((v) => v || 0)}))});
    const lineOpts = {height: 220, dots: true, emptyText: 'no searches recorded in this period'};
    lineChart($('chart-daily-duration'), {...lineOpts, id: 'daily-duration', categories: cats.map((c) => c.slice(5)),
      series: series((r) => r.avg_duration_ms)});
    lineChart($('chart-daily-gpu'), {...lineOpts, id: 'daily-gpu', categories: cats.map((c) => c.slice(5)), yMin: 0, yMax: 100,
      yFormat: (v) => fmt(v) + '%', series: series((r) => (r.count ? (100 * r.gpu_optimized_count) / r.count : null))});
    lineChart($('chart-daily-dist'), {...lineOpts, id: 'daily-dist', categories: cats.map((c) => c.slice(5)), yMin: 0, yMax: 100,
      yFormat: (v) => fmt(v) + '%', series: series((r) => (r.count ? (100 * r.distributed_count) / r.count : null))});
    if (!types.length) for (const id of ['chart-daily-count', 'chart-daily-duration', 'chart-daily-gpu', 'chart-daily-dist'])
      $(id).firstChild.dataset.empty = 'true';

    const tot = aggregate(days);
    const row = (name, o) => [name, String(o.count), o.avgDur.toFixed(2), o.maxDur.toFixed(2), fmt(o.avgNodes),
                              String(o.maxBatch), String(o.maxSims), (100 * o.gpuShare).toFixed(1) + '%',
                              (100 * o.distShare).toFixed(1) + '%', o.avgDevices.toFixed(2)];
    const rows = types.map((t) => row(t, tot.byType[t]));
    if (types.length > 1) rows.push(row('all', tot));
    fillTable($('type-table'), ['search type', 'searches', 'avg ms', 'max ms', 'avg nodes', 'max batch', 'max sims',
                                'GPU-optimized', 'distributed', 'avg devices'], rows);
    st.days = days;
    st.range = this.range;
    st.totals = {count: tot.count, avgDurationMs: tot.avgDur, gpuOptimizedShare: tot.gpuShare,
                 distributedShare: tot.distShare,
                 byType: Object.fromEntries(Object.entries(tot.byType).map(([k, o]) => [k, {count: o.count,
                   avgDurationMs: o.avgDur, gpuOptimized: o.gpu, distributed: o.dist}]))};
    this.renderRecommendations();
    st.dailyLoaded = (st.dailyLoaded || 0) + 1;
  }

  renderRecommendations() {
    if (!this.days) return;
    const recs = recommend(aggregate(this.days), this.getMetrics());
    const ul = $('recommendations');
    ul.textContent = '';
    for (const r of recs) {
      const li = document.createElement('li');
      li.className = r.fired ? 'fired' : 'ok';
      li.dataset.rec = r.id;
      li.dataset.fired = String(r.fired);
      const t = document.createElement('div');
      const tt = document.createElement('span');
      tt.className = 'title';
      tt.textContent = (r.fired ? '⚠ ' : '✓ ') + r.title;
      const src = document.createElement('span');
      src.className = 'src';
      src.textContent = r.source;
      t.append(tt, src);
      const reason = document.createElement('div');
      reason.className = 'reason';
      reason.textContent = r.reason + (r.fired && r.advice ? ' — ' + r.advice : '');
      li.append(t, reason);
      ul.appendChild(li);
    }
    this.state.recommendations = recs.map((r) => ({id: r.id, fired: r.fired, reason: r.reason, source: r.source}));
  }

  async loadSearches() {
    const q = new URLSearchParams();
    q.set('limit', $('s-limit').value);
    q.set('offset', String(this.offset));
    if ($('s-type').value) q.set('search_type', $('s-type').value);
    if (!$('s-user-label').hidden && $('s-user').value.trim()) q.set('user', $('s-user').value.trim());
    const res = await this.api.get('/api/v1/searches?' + q.toString());
    this.searches = res.searches || [];
    this.renderSearches();
  }

  renderSearches() {
    if (!this.searches) return;
    const dev = $('s-device').value, minMs = Number($('s-min-ms').value) || 0, idq = $('s-id').value.trim();
    const rows = this.searches.filter((s) => (!dev || s.device === dev) && s.duration_ms >= minMs &&
                                             (!idq || s.request_id.includes(idq)));
    const table = $('searches-table');
    fillTable(table, ['time', 'request id', 'user', 'search type', 'batch', 'sims', 'ms', 'nodes', 'depth',
                      'device', 'GPU-opt', 'distributed', 'devices'],
      rows.map((s) => {
        const a = document.createElement('a');
        a.href = '#tree/' + encodeURIComponent(s.request_id);
        a.textContent = s.request_id;
        a.title = 'show this search\'s tree';
        return [s.time.replace('T', ' ').replace('Z', ''), a, s.user, s.search_type, String(s.batch_size),
                String(s.num_simulations), s.duration_ms.toFixed(2), String(s.num_expanded_nodes),
                String(s.max_depth_reached), s.device, s.gpu_optimized ? 'yes' : '', s.distributed ? 'yes' : '',
                String(s.num_devices)];
      }));
    const body = table.tBodies[0];
    rows.forEach((s, i) => {
      body.rows[i].dataset.requestId = s.request_id;
      body.rows[i].cells[1].className = 'id';
    });
    const limit = Number($('s-limit').value);
    $('s-page').textContent = `rows ${this.offset + 1}–${this.offset + this.searches.length}` +
                              (rows.length !== this.searches.length ? `, ${rows.length} shown` : '');
    $('s-prev').disabled = this.offset === 0;
    $('s-next').disabled = this.searches.length < limit;
    this.state.searches = rows.map((s) => s.request_id);
    this.state.searchesLoaded = (this.state.searchesLoaded || 0) + 1;
  }
}
