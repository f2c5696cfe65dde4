// web/treeview.js: one TreeModel (tree.js) drawn on a canvas.
//
// Layout: depth to the right, one row per visible leaf, a parent halfway
// between its first and last visible child; nodes below the opening depth
// start closed. Drawing: only what lies in the viewport, edges in one path,
// nodes in one path per colour (value: blue low, red high), radius by visits
// (square root, the root largest), labels once rows are tall enough. A ring
// marks the chosen action's child, a dashed outline a closed node with
// children. Everything is in flat typed arrays, so 10,000 open nodes lay out
// and draw in milliseconds; the times are kept in stats() (lastLayoutMs,
// lastRenderMs).

const COL_W = 110, ROW_H = 22, R_MIN = 2, R_MAX = 9;
const NCOLORS = 21;

function lerp(a, b, t) { return Math.round(a + (b - a) * t); }

// Diverging palette: blue (low) - grey - red (high), NCOLORS steps.
function palette() {
  const lo = [33, 102, 172], mid = [190, 190, 190], hi = [178, 24, 43];
  const out = [];
  for (let i = 0; i < NCOLORS; i++) {
    const t = i / (NCOLORS - 1);
    const [a, b, u] = t < 0.5 ? [lo, mid, t * 2] : [mid, hi, (t - 0.5) * 2];
    out.push(`rgb(${lerp(a[0], b[0], u)},${lerp(a[1], b[1], u)},${lerp(a[2], b[2], u)})`);
  }
  return out;
}
const COLORS = palette();

export class TreeView {
  constructor(canvas, tooltip, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.tooltip = tooltip;
    this.onChange = onChange || (() => {});
    this.t = null;
    this.k = 1; this.tx = 20; this.ty = 20;
    this.hover = -1;
    this.drawn = new Int32Array(0);
    this.ndrawn = 0;
    this.lastRenderMs = 0;
    this.lastLayoutMs = 0;
    this.frames = 0;
    this.pending = false;
    this.bindEvents();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  // ==== model ====

  setTree(t, openDepth) {
    this.t = t;
    this.open = new Uint8Array(t.n);
    this.X = new Float32Array(t.n);
    this.Y = new Float32Array(t.n);
    this.vis = new Int32Array(t.n);
    this.drawn = new Int32Array(t.n);
    // colour scale: symmetric about 0 when values take both signs (blue <
    // 0 < red), otherwise from the lowest (blue) to the highest (red)
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < t.n; i++) { lo = Math.min(lo, t.value[i]); hi = Math.max(hi, t.value[i]); }
    if (lo < 0 && hi > 0) { hi = Math.max(-lo, hi); lo = -hi; }
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    this.vlo = lo;
    this.vhi = hi;
    this.rootVisits = Math.max(t.visits[0], 1);
    this.hover = -1;
    this.openToDepth(openDepth);
    this.fit();
  }

  // Opens every node shallower than depth d, closes the rest.
  openToDepth(d) {
    const t = this.t;
    if (!t) return;
    for (let i = 0; i < t.n; i++) this.open[i] = t.depth[i] < d ? 1 : 0;
    this.layout();
  }

  expandAll() { this.openToDepth(Infinity); }

  // Opens or closes node i (all its subtree with `deep`), keeping it where
  // it is on the screen.
  toggle(i, deep) {
    const t = this.t;
    if (!t || t.childCount[i] === 0) return;
    const sx = this.X[i] * this.k + this.tx, sy = this.Y[i] * this.k + this.ty;
    const openIt = !this.open[i];
    if (deep) {
      const stack = [i];
      while (stack.length) {
        const v = stack.pop();
        this.open[v] = openIt ? 1 : 0;
        for (let c = 0; c < t.childCount[v]; c++) stack.push(t.children[t.childStart[v] + c]);
      }
    } else {
      this.open[i] = openIt ? 1 : 0;
    }
    this.layout();
    this.tx = sx - this.X[i] * this.k;
    this.ty = sy - this.Y[i] * this.k;
    this.draw();
  }

  // Positions of the visible nodes: preorder, leaves on rows, parents
  // centred on their children.
  layout() {
    const t0 = performance.now();
    const t = this.t;
    let nvis = 0, row = 0;
    const stack = [0], post = [];
    while (stack.length) {
      const v = stack.pop();
      this.vis[nvis++] = v;
      this.X[v] = t.depth[v] * COL_W;
      const nc = this.open[v] ? t.childCount[v] : 0;
      if (nc === 0) {
        this.Y[v] = row++ * ROW_H;
      } else {
        post.push(v);
        for (let c = nc - 1; c >= 0; c--) stack.push(t.children[t.childStart[v] + c]);
      }
    }
    // parents after their children: preorder reversed
    for (let j = post.length - 1; j >= 0; j--) {
      const v = post[j];
      const s = t.childStart[v];
      this.Y[v] = (this.Y[t.children[s]] + this.Y[t.children[s + t.childCount[v] - 1]]) / 2;
    }
    this.nvis = nvis;
    this.rows = row;
    this.lastLayoutMs = performance.now() - t0;
    this.onChange();
  }

  // ==== view ====

  resize() {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.w = Math.max(r.width, 1);
    this.h = Math.max(r.height, 1);
    this.canvas.width = Math.round(this.w * dpr);
    this.canvas.height = Math.round(this.h * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.draw();
  }

  fit() {
    if (!this.t) return;
    let maxX = 0, minY = Infinity, maxY = -Infinity;
    for (let j = 0; j < this.nvis; j++) {
      const v = this.vis[j];
      maxX = Math.max(maxX, this.X[v]);
      minY = Math.min(minY, this.Y[v]);
      maxY = Math.max(maxY, this.Y[v]);
    }
    const pad = 40;
    const kx = (this.w - 2 * pad - 60) / Math.max(maxX, 1);
    const ky = (this.h - 2 * pad) / Math.max(maxY - minY, 1);
    this.k = Math.max(Math.min(kx, ky, 1.5), 0.0005);
    this.tx = pad;
    this.ty = pad - minY * this.k + Math.max(0, (this.h - 2 * pad - (maxY - minY) * this.k) / 2);
    this.draw();
  }

  zoomAt(sx, sy, f) {
    const k = Math.min(Math.max(this.k * f, 0.0005), 8);
    this.tx = sx - (sx - this.tx) * (k / this.k);
    this.ty = sy - (sy - this.ty) * (k / this.k);
    this.k = k;
    this.draw();
  }

  radius(v) {
    // zoomed far out, nodes shrink only to half size (they may overlap)
    return (R_MIN + (R_MAX - R_MIN) * Math.sqrt(this.t.visits[v] / this.rootVisits)) *
           Math.min(Math.max(this.k * 2, 0.5), 1.5);
  }

  color(v) {
    const u = Math.max(0, Math.min(1, (this.t.value[v] - this.vlo) / (this.vhi - this.vlo)));
    return Math.round(u * (NCOLORS - 1));
  }

  // Schedules a frame (several changes in one frame draw once).
  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    const t0 = performance.now();
    const ctx = this.ctx, t = this.t;
    ctx.clearRect(0, 0, this.w, this.h);
    this.ndrawn = 0;
    if (!t) return;
    const k = this.k, tx = this.tx, ty = this.ty, W = this.w, H = this.h;
    const m = R_MAX * 2;
    // edges
    ctx.beginPath();
    for (let j = 1; j < this.nvis; j++) {
      const v = this.vis[j], p = t.parent[v];
      const x1 = this.X[p] * k + tx, y1 = this.Y[p] * k + ty, x2 = this.X[v] * k + tx, y2 = this.Y[v] * k + ty;
      if (x2 < -m || x1 > W + m || Math.max(y1, y2) < -m || Math.min(y1, y2) > H + m) continue;
      const xm = (x1 + x2) / 2;
      ctx.moveTo(x1, y1);
      ctx.bezierCurveTo(xm, y1, xm, y2, x2, y2);
    }
    ctx.strokeStyle = '#c3c8d0';
    ctx.lineWidth = 1;
    ctx.stroke();
    // the chosen action's edge
    const ch = t.chosenNode;
    if (ch >= 0 && this.open[0]) {
      const x1 = tx, y1 = this.Y[0] * k + ty, x2 = this.X[ch] * k + tx, y2 = this.Y[ch] * k + ty, xm = (x1 + x2) / 2;
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.bezierCurveTo(xm, y1, xm, y2, x2, y2);
      ctx.strokeStyle = '#111827';
      ctx.lineWidth = 2.5;
      ctx.stroke();
    }
    // nodes in view, by colour
    const buckets = Array.from({length: NCOLORS}, () => []);
    for (let j = 0; j < this.nvis; j++) {
      const v = this.vis[j];
      const x = this.X[v] * k + tx, y = this.Y[v] * k + ty;
      if (x < -m || x > W + m || y < -m || y > H + m) continue;
      this.drawn[this.ndrawn++] = v;
      buckets[this.color(v)].push(v);
    }
    for (let c = 0; c < NCOLORS; c++) {
      if (!buckets[c].length) continue;
      ctx.beginPath();
      for (const v of buckets[c]) {
        const x = this.X[v] * k + tx, y = this.Y[v] * k + ty, r = Math.max(this.radius(v), 1);
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
      ctx.fillStyle = COLORS[c];
      ctx.fill();
    }
    // closed nodes with children: a dashed ring
    ctx.beginPath();
    for (let j = 0; j < this.ndrawn; j++) {
      const v = this.drawn[j];
      if (this.open[v] || !t.childCount[v]) continue;
      const x = this.X[v] * k + tx, y = this.Y[v] * k + ty, r = Math.max(this.radius(v), 1) + 2.5;
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, 2 * Math.PI);
    }
    ctx.setLineDash([2, 2]);
    ctx.strokeStyle = '#374151';
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
    // the chosen child: a solid ring
    if (ch >= 0 && this.open[0]) {
      const x = this.X[ch] * k + tx, y = this.Y[ch] * k + ty, r = Math.max(this.radius(ch), 1) + 4;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.strokeStyle = '#111827';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    // labels: the action from the parent, and how many nodes a closed node hides
    if (ROW_H * k >= 13 && this.ndrawn <= 3000) {
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = '#374151';
      ctx.textBaseline = 'middle';
      for (let j = 0; j < this.ndrawn; j++) {
        const v = this.drawn[j];
        const x = this.X[v] * k + tx, y = this.Y[v] * k + ty, r = Math.max(this.radius(v), 1);
        let s = v === 0 ? 'root' : 'a' + t.action[v];
        if (!this.open[v] && t.childCount[v]) s += ' +' + (t.subtree[v] - 1);
        if (v === ch) s += ' (chosen)';
        ctx.fillText(s, x + r + 4, y);
      }
    }
    if (this.hover >= 0) {
      const v = this.hover;
      const x = this.X[v] * k + tx, y = this.Y[v] * k + ty, r = Math.max(this.radius(v), 1) + 3;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.strokeStyle = '#0b6bcb';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    this.frames++;
    this.lastRenderMs = performance.now() - t0;
    this.onChange();
  }

  // The drawn node under screen point (sx, sy), or -1.
  pick(sx, sy) {
    let best = -1, bestD = Infinity;
    for (let j = 0; j < this.ndrawn; j++) {
      const v = this.drawn[j];
      const dx = this.X[v] * this.k + this.tx - sx, dy = this.Y[v] * this.k + this.ty - sy;
      const d = dx * dx + dy * dy, r = Math.max(this.radius(v), 1) + 4;
      if (d <= r * r && d < bestD) { best = v; bestD = d; }
    }
    return best;
  }

  // ==== input ====

  bindEvents() {
    const c = this.canvas;
    let down = null;
    c.addEventListener('pointerdown', (e) => {
      down = {x: e.offsetX, y: e.offsetY, tx: this.tx, ty: this.ty, moved: false};
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (down) {
        const dx = e.offsetX - down.x, dy = e.offsetY - down.y;
        if (!down.moved && dx * dx + dy * dy > 9) { down.moved = true; c.classList.add('dragging'); }
        if (down.moved) {
          this.tx = down.tx + dx;
          this.ty = down.ty + dy;
          this.hideTip();
          this.draw();
          return;
        }
      }
      this.hoverAt(e.offsetX, e.offsetY, e.clientX, e.clientY);
    });
    c.addEventListener('pointerup', (e) => {
      const d = down;
      down = null;
      c.classList.remove('dragging');
      if (d && !d.moved) {
        const v = this.pick(e.offsetX, e.offsetY);
        if (v >= 0) this.toggle(v, e.shiftKey);
      }
    });
    c.addEventListener('pointerleave', () => { if (!down) { this.hover = -1; this.hideTip(); this.draw(); } });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.hideTip();
      this.zoomAt(e.offsetX, e.offsetY, Math.exp(-e.deltaY * 0.0015));
    }, {passive: false});
  }

  hoverAt(sx, sy, cx, cy) {
    const v = this.pick(sx, sy);
    if (v !== this.hover) { this.hover = v; this.draw(); }
    if (v < 0) { this.hideTip(); return; }
    this.showTip(v, cx, cy);
  }

  // The details of node v in the tooltip (text only: no HTML from data).
  details(v) {
    const t = this.t;
    const f = (x, d = 4) => (Number.isFinite(x) ? Number(x.toFixed(d)).toString() : '–');
    const rows = [
      [v === 0 ? 'root' : 'action ' + t.action[v] + (v === t.chosenNode ? ' (chosen)' : ''), ''],
      ['visits', String(t.visits[v])],
      ['value', f(t.value[v])],
      ['raw value', f(t.raw[v])],
      ['prior', f(t.prior[v])],
      ['reward', v === 0 ? '–' : f(t.reward[v])],
      ['depth', String(t.depth[v])],
      ['node index', String(t.evalIndex[v])],
      ['children', `${t.childCount[v]} expanded, ${t.unexpanded[v]} not`],
      ['subtree', `${t.subtree[v]} nodes${t.childCount[v] ? (this.open[v] ? ' (open)' : ' (closed: click to open)') : ''}`],
    ];
    return rows;
  }

  showTip(v, cx, cy) {
    const tip = this.tooltip;
    tip.textContent = '';
    for (const [k, val] of this.details(v)) {
      const line = document.createElement('div');
      const b = document.createElement('b');
      b.textContent = k;
      line.appendChild(b);
      if (val) line.appendChild(document.createTextNode(' ' + val));
      tip.appendChild(line);
    }
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.min(cx + 14, window.innerWidth - w - 8) + 'px';
    tip.style.top = Math.min(cy + 14, window.innerHeight - h - 8) + 'px';
    this.tipNode = v;
  }

  hideTip() {
    this.tooltip.hidden = true;
    this.tipNode = -1;
  }

  // Figures for the info bar and the tests.
  stats() {
    const t = this.t;
    if (!t) return null;
    return {
      nodeCount: t.n, visibleCount: this.nvis, drawnCount: this.ndrawn, maxDepth: t.maxDepth,
      rootVisits: t.visits[0], rootValue: t.value[0], chosenAction: t.chosenAction, chosenSource: t.chosenSource,
      chosenExpanded: t.chosenNode >= 0, rows: this.rows, zoom: this.k, frames: this.frames,
      lastLayoutMs: this.lastLayoutMs, lastRenderMs: this.lastRenderMs,
    };
  }
}

// The colour legend: value from lo (blue) to hi (red).
export function drawLegend(canvas, lo, hi) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const bw = (w - 20) / NCOLORS;
  for (let i = 0; i < NCOLORS; i++) {
    ctx.fillStyle = COLORS[i];
    ctx.fillRect(10 + i * bw, 6, Math.ceil(bw), 12);
  }
  ctx.fillStyle = '#374151';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  const f = (x) => Number(x.toPrecision(3)).toString();
  ctx.textAlign = 'left';
  ctx.fillText(f(lo), 10, 22);
  ctx.textAlign = 'center';
  ctx.fillText('value', w / 2, 22);
  ctx.textAlign = 'right';
  ctx.fillText(f(hi), w - 10, 22);
}
