// web/prom.js: the Prometheus text format (0.0.4) as GET /metrics writes it,
// read in the browser: samples, label filters, histograms and their
// quantiles (the same interpolation as PromQL's histogram_quantile).

// Parses the text into a Map: metric name -> [{labels: {k: v}, value}].
export function parse(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === '{') {
      i++;
      while (i < line.length && line[i] !== '}') {
        let k = i;
        while (line[i] !== '=') i++;
        const key = line.slice(k, i).trim();
        i += 2; // ="
        let v = '';
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) {
            i++;
            v += line[i] === 'n' ? '\n' : line[i];
          } else {
            v += line[i];
          }
          i++;
        }
        i++; // closing quote
        labels[key] = v;
        if (line[i] === ',') i++;
      }
      i++; // }
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseValue(rest[0]);
    if (!out.has(name)) out.set(name, []);
    out.get(name).push({labels, value});
  }
  return out;
}

function parseValue(s) {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  return Number(s);
}

function matches(labels, filter) {
  if (!filter) return true;
  for (const k in filter) if (labels[k] !== filter[k]) return false;
  return true;
}

// The samples of `name` whose labels include `filter`.
export function samples(m, name, filter) {
  return (m.get(name) || []).filter((s) => matches(s.labels, filter));
}

// One value (the first sample that matches), or `dflt`.
export function value(m, name, filter, dflt = 0) {
  const s = samples(m, name, filter);
  return s.length ? s[0].value : dflt;
}

// The sum over the matching samples.
export function sum(m, name, filter) {
  return samples(m, name, filter).reduce((a, s) => a + s.value, 0);
}

// Sums by one label: {labelValue: sum}.
export function sumBy(m, name, label, filter) {
  const out = {};
  for (const s of samples(m, name, filter)) out[s.labels[label]] = (out[s.labels[label]] || 0) + s.value;
  return out;
}

// A histogram: {bounds: [le...] ascending (Infinity last), cum: [cumulative
// counts], count, sum}. Labels other than le must match `filter`; several
// series are added up.
export function histogram(m, name, filter) {
  const byLe = new Map();
  for (const s of samples(m, name + '_bucket', filter)) {
    const le = parseValue(s.labels.le);
    byLe.set(le, (byLe.get(le) || 0) + s.value);
  }
  const bounds = [...byLe.keys()].sort((a, b) => a - b);
  return {
    bounds,
    cum: bounds.map((b) => byLe.get(b)),
    count: sum(m, name + '_count', filter),
    sum: sum(m, name + '_sum', filter),
  };
}

// a - b, bucket by bucket (the observations between two scrapes). When the
// counters went back (the service restarted), a is returned whole.
export function histDelta(a, b) {
  if (!b || b.bounds.length !== a.bounds.length || a.count < b.count) return a;
  return {bounds: a.bounds, cum: a.cum.map((c, i) => c - b.cum[i]), count: a.count - b.count, sum: a.sum - b.sum};
}

// The q-quantile of a histogram, interpolating linearly inside the bucket
// (as histogram_quantile does); NaN without observations. A quantile in the
// +Inf bucket answers the largest finite bound.
export function quantile(h, q) {
  const n = h.cum.length ? h.cum[h.cum.length - 1] : 0;
  if (!n) return NaN;
  const rank = q * n;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.cum[i] >= rank) {
      if (h.bounds[i] === Infinity) return i > 0 ? h.bounds[i - 1] : NaN;
      const lo = i > 0 ? h.bounds[i - 1] : 0;
      const below = i > 0 ? h.cum[i - 1] : 0;
      const inBucket = h.cum[i] - below;
      return inBucket > 0 ? lo + (h.bounds[i] - lo) * ((rank - below) / inBucket) : h.bounds[i];
    }
  }
  return h.bounds.length > 1 ? h.bounds[h.bounds.length - 2] : NaN;
}

// Per-bucket (non-cumulative) counts with a label per bucket: "≤1", "2",
// "3–4", ... for integer bounds; for the batch histograms.
export function bucketCounts(h) {
  const out = [];
  let prevCum = 0, prevLe = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    const le = h.bounds[i];
    const c = h.cum[i] - prevCum;
    let label;
    if (le === Infinity) label = '>' + prevLe;
    else if (i === 0) label = '≤' + le;
    else if (le - prevLe === 1) label = String(le);
    else label = (prevLe + 1) + '–' + le;
    out.push({label, le, count: c});
    prevCum = h.cum[i];
    prevLe = le;
  }
  return out;
}
