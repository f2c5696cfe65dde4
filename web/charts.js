// web/charts.js: hand-written SVG charts (bars, stacked bars, lines), no
// library. Each chart is rebuilt from its data on every update; every bar and
// point carries its numbers as data-series / data-category / data-value
// attributes (and a <title> for the native tooltip), so what is drawn can be
// read back from the DOM (the browser test does).

const NS = 'http://www.w3.org/2000/svg';
const W = 640;

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function title(parent, text) {
  const t = el('title', {}, parent);
  t.textContent = text;
}

// Round tick steps: 1, 2, 5 x 10^k.
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const start = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = start; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

// Short numbers: 1.2k, 3.4M, 0.012.
export function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
  if (a >= 100 || a === 0) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function frame(container, id, height, series) {
  container.textContent = '';
  const svg = el('svg', {viewBox: `0 0 ${W} ${height}`, 'data-chart': id, role: 'img'}, container);
  const legend = el('g', {class: 'legend'}, svg);
  let x = 48;
  series.forEach((s, i) => {
    if (series.length < 2 && !s.legend) return;
    el('rect', {x, y: 2, width: 10, height: 10, class: 's' + (s.color ?? i) % 8}, legend);
    const t = el('text', {x: x + 14, y: 11}, legend);
    t.textContent = s.name;
    x += 24 + 7 * s.name.length;
  });
  return svg;
}

function yAxis(svg, ticks, y, left, right, yFormat) {
  const g = el('g', {class: 'grid'}, svg);
  const a = el('g', {class: 'axis'}, svg);
  for (const t of ticks) {
    el('line', {x1: left, x2: right, y1: y(t), y2: y(t)}, g);
    const tx = el('text', {x: left - 4, y: y(t) + 4, 'text-anchor': 'end'}, a);
    tx.textContent = yFormat(t);
  }
}

function empty(container, id, message) {
  container.textContent = '';
  const d = document.createElement('div');
  d.className = 'empty';
  d.dataset.chart = id;
  d.textContent = message || 'no data yet';
  container.appendChild(d);
}

// Bars by category; `stacked` piles the series, otherwise they stand side
// by side. opts: {id, categories: [string], series: [{name, values: [number]}],
// stacked, height, yFormat, emptyText}.
export function barChart(container, opts) {
  const {id, categories, series, stacked = false, height = 220, yFormat = fmt} = opts;
  if (!categories.length || !series.length) return empty(container, id, opts.emptyText);
  const svg = frame(container, id, height, series);
  const left = 48, right = W - 8, top = 20, bottom = height - 34;
  let max = 0;
  categories.forEach((_, ci) => {
    if (stacked) max = Math.max(max, series.reduce((a, s) => a + (s.values[ci] || 0), 0));
    else for (const s of series) max = Math.max(max, s.values[ci] || 0);
  });
  const ticks = niceTicks(0, max || 1);
  const top_v = ticks[ticks.length - 1];
  const y = (v) => bottom - (v / top_v) * (bottom - top);
  yAxis(svg, ticks, y, left, right, yFormat);
  const band = (right - left) / categories.length;
  const pad = Math.min(band * 0.2, 12);
  const bars = el('g', {class: 'bars'}, svg);
  const labels = el('g', {class: 'axis'}, svg);
  const every = Math.ceil(categories.length / 12);
  categories.forEach((cat, ci) => {
    const x0 = left + ci * band + pad / 2, bw = band - pad;
    let acc = 0;
    series.forEach((s, si) => {
      const v = s.values[ci] || 0;
      const cls = 'bar s' + ((s.color ?? si) % 8);
      let bx, by, bh, bwid;
      if (stacked) {
        bx = x0; bwid = bw; by = y(acc + v); bh = y(acc) - y(acc + v); acc += v;
      } else {
        bwid = bw / series.length; bx = x0 + si * bwid; by = y(v); bh = bottom - y(v);
      }
      const r = el('rect', {x: bx.toFixed(1), y: by.toFixed(1), width: Math.max(bwid, 0.5).toFixed(1),
                            height: Math.max(bh, 0).toFixed(2), class: cls, 'data-series': s.name,
                            'data-category': cat, 'data-value': String(v)}, bars);
      title(r, `${s.name} · ${cat}: ${yFormat(v)}`);
    });
    if (ci % every === 0) {
      const t = el('text', {x: (x0 + bw / 2).toFixed(1), y: bottom + 14, 'text-anchor': 'middle'}, labels);
      t.textContent = cat;
    }
  });
  el('line', {x1: left, x2: right, y1: bottom, y2: bottom, class: 'axis'}, labels);
}

// Lines over x (numbers, or category labels when `categories` is given).
// opts: {id, x: [number] | categories: [string], series: [{name, values}],
// height, yFormat, xFormat, dots, yMin, yMax}. null values leave gaps.
export function lineChart(container, opts) {
  const {id, series, height = 200, yFormat = fmt, dots = false} = opts;
  const cats = opts.categories;
  const xs = cats ? cats.map((_, i) => i) : opts.x;
  if (!xs.length || !series.length) return empty(container, id, opts.emptyText);
  const svg = frame(container, id, height, series);
  const left = 48, right = W - 8, top = 20, bottom = height - 34;
  let lo = opts.yMin ?? Infinity, hi = opts.yMax ?? -Infinity;
  for (const s of series) for (const v of s.values) if (v !== null && Number.isFinite(v)) {
    if (opts.yMin === undefined) lo = Math.min(lo, v);
    if (opts.yMax === undefined) hi = Math.max(hi, v);
  }
  if (!Number.isFinite(lo)) lo = 0;
  if (!Number.isFinite(hi)) hi = lo + 1;
  if (opts.yMin === undefined) lo = Math.min(lo, 0);
  const ticks = niceTicks(lo, hi);
  const y0 = ticks[0], y1 = ticks[ticks.length - 1];
  const y = (v) => bottom - ((v - y0) / (y1 - y0)) * (bottom - top);
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const pad = cats ? (right - left) / (2 * cats.length) : 0;
  const x = (v) => left + pad + (x1 > x0 ? ((v - x0) / (x1 - x0)) * (right - left - 2 * pad) : (right - left) / 2 - pad);
  yAxis(svg, ticks, y, left, right, yFormat);
  const axis = el('g', {class: 'axis'}, svg);
  el('line', {x1: left, x2: right, y1: bottom, y2: bottom}, axis);
  if (cats) {
    const every = Math.ceil(cats.length / 10);
    cats.forEach((c, i) => {
      if (i % every) return;
      const t = el('text', {x: x(i).toFixed(1), y: bottom + 14, 'text-anchor': 'middle'}, axis);
      t.textContent = c;
    });
  } else if (opts.xFormat) {
    for (const v of [x0, (x0 + x1) / 2, x1]) {
      const t = el('text', {x: x(v).toFixed(1), y: bottom + 14, 'text-anchor': 'middle'}, axis);
      t.textContent = opts.xFormat(v);
    }
  }
  series.forEach((s, si) => {
    const cls = 's' + ((s.color ?? si) % 8);
    let d = '', pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += (pen ? 'L' : 'M') + x(xs[i]).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
    });
    const last = [...s.values].reverse().find((v) => v !== null && Number.isFinite(v));
    el('path', {d: d || 'M0 0', class: 'line ' + cls, 'data-series': s.name,
                'data-last': last === undefined ? '' : String(last)}, svg);
    if (dots) {
      const g = el('g', {}, svg);
      s.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) return;
        const c = el('circle', {cx: x(xs[i]).toFixed(1), cy: y(v).toFixed(1), r: 3, class: 'dot ' + cls,
                                'data-series': s.name, 'data-category': cats ? cats[i] : String(xs[i]),
                                'data-value': String(v)}, g);
        title(c, `${s.name} · ${cats ? cats[i] : xs[i]}: ${yFormat(v)}`);
      });
    }
  });
}
