// web/tree.js: search trees in the project's two JSON formats, read into one
// flat model per batch element.
//
//   nested: per batch element, the root's node dictionary as in mctx's
//           tests/test_data (prior, visit, value_view, raw_value_view,
//           child_stats, evaluation_index, action, reward); children never
//           expanded appear with prior and action only.
//   arrays: mctx's Tree fields by name, [B][N] and [B][N][A] lists
//           (node_visits, node_values, raw_values, parents,
//           action_from_parent, children_index, children_prior_logits,
//           children_rewards, ...).
//
// Either may come alone, as a search result ({search_tree, action, ...}),
// wrapped by a task ({result: ...}), as an mctx test file ({tree: ...}), or
// as the stored-tree route answers it. A node of the model is an expanded
// node (one the search evaluated); a child slot never expanded is counted in
// its parent's `unexpanded`. Nodes are numbered in depth-first order with
// children by action, and kept in typed arrays so that trees of tens of
// thousands of nodes stay cheap.

export class TreeModel {
  constructor(n) {
    this.n = n;
    this.parent = new Int32Array(n);
    this.action = new Int32Array(n);
    this.depth = new Int32Array(n);
    this.visits = new Float64Array(n);
    this.value = new Float64Array(n);
    this.raw = new Float64Array(n);
    this.prior = new Float64Array(n);
    this.reward = new Float64Array(n);      // NaN at the root / when absent
    this.evalIndex = new Int32Array(n);
    this.unexpanded = new Int32Array(n);
    this.childStart = new Int32Array(n);
    this.childCount = new Int32Array(n);
    this.children = new Int32Array(Math.max(n - 1, 0));
    this.subtree = new Int32Array(n);       // nodes in the subtree, itself included
    this.maxDepth = 0;
    this.chosenAction = -1;
    this.chosenSource = '';                 // "result" or "most visited"
    this.chosenNode = -1;                   // the root's child for chosenAction, -1 when never expanded
  }

  // Children lists (by action, as numbered), subtree sizes, depth, the
  // chosen child. Nodes must be numbered parents first.
  finish(chosenAction) {
    const n = this.n;
    const count = this.childCount;
    count.fill(0);
    for (let i = 1; i < n; i++) count[this.parent[i]]++;
    let off = 0;
    for (let i = 0; i < n; i++) { this.childStart[i] = off; off += count[i]; }
    const fill = new Int32Array(n);
    for (let i = 1; i < n; i++) {
      const p = this.parent[i];
      this.children[this.childStart[p] + fill[p]++] = i;
    }
    // children by action (numbering already follows it; arrays input may not)
    for (let i = 0; i < n; i++) {
      if (count[i] < 2) continue;
      const s = this.childStart[i];
      const list = Array.from(this.children.subarray(s, s + count[i]));
      list.sort((a, b) => this.action[a] - this.action[b]);
      this.children.set(list, s);
    }
    this.maxDepth = 0;
    for (let i = 0; i < n; i++) if (this.depth[i] > this.maxDepth) this.maxDepth = this.depth[i];
    this.subtree.fill(1);
    // parents come before children: sum from the end
    for (let i = n - 1; i > 0; i--) this.subtree[this.parent[i]] += this.subtree[i];

    this.chosenNode = -1;
    if (Number.isInteger(chosenAction) && chosenAction >= 0) {
      this.chosenAction = chosenAction;
      this.chosenSource = 'result';
    } else {
      let best = -1;
      for (let k = 0; k < count[0]; k++) {
        const c = this.children[this.childStart[0] + k];
        if (best < 0 || this.visits[c] > this.visits[best]) best = c;
      }
      this.chosenAction = best >= 0 ? this.action[best] : -1;
      this.chosenSource = best >= 0 ? 'most visited' : '';
    }
    for (let k = 0; k < count[0]; k++) {
      const c = this.children[this.childStart[0] + k];
      if (this.action[c] === this.chosenAction) this.chosenNode = c;
    }
    return this;
  }
}

const isObj = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const num = (x, dflt) => (typeof x === 'number' && Number.isFinite(x) ? x : dflt);
const expanded = (d) => isObj(d) && ('visit' in d || 'evaluation_index' in d);

// One nested root (its dictionary) -> TreeModel. Iterative: deep trees do
// not touch the call stack.
export function fromNested(root, chosenAction) {
  if (!expanded(root)) throw new Error('a nested tree\'s root must have "visit" (a node the search evaluated)');
  // first pass: count the expanded nodes
  let n = 0;
  const count = [root];
  while (count.length) {
    const d = count.pop();
    n++;
    const kids = d.child_stats;
    if (Array.isArray(kids)) for (const k of kids) if (expanded(k)) count.push(k);
  }
  const t = new TreeModel(n);
  let next = 0;
  const stack = [[root, -1, -1, 0]];
  while (stack.length) {
    const [d, p, a, depth] = stack.pop();
    const id = next++;
    t.parent[id] = p;
    t.action[id] = p < 0 ? -1 : num(d.action, a);
    t.depth[id] = depth;
    t.visits[id] = num(d.visit, 0);
    t.value[id] = num(d.value_view, 0);
    t.raw[id] = num(d.raw_value_view, 0);
    t.prior[id] = num(d.prior, p < 0 ? 1 : 0);
    t.reward[id] = p < 0 ? NaN : num(d.reward, NaN);
    t.evalIndex[id] = num(d.evaluation_index, id);
    const kids = Array.isArray(d.child_stats) ? d.child_stats : [];
    let unexp = 0;
    for (let i = kids.length - 1; i >= 0; i--) {
      const k = kids[i];
      if (expanded(k)) stack.push([k, id, i, depth + 1]);
      else unexp++;
    }
    t.unexpanded[id] = unexp;
  }
  return t.finish(chosenAction);
}

function softmaxRow(row, invalid) {
  let m = -Infinity;
  const ok = row.map((v, a) => typeof v === 'number' && Number.isFinite(v) && !(invalid && invalid[a]));
  row.forEach((v, a) => { if (ok[a] && v > m) m = v; });
  const e = row.map((v, a) => (ok[a] ? Math.exp(v - m) : 0));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((v) => (s > 0 ? v / s : 0));
}

// Batch element b of an arrays tree -> TreeModel: the nodes reachable from
// the root through children_index.
export function fromArrays(tree, b, chosenAction) {
  const need = ['node_visits', 'node_values', 'raw_values', 'parents', 'children_index'];
  for (const k of need) if (!Array.isArray(tree[k]) || !Array.isArray(tree[k][b]))
    throw new Error(`an arrays tree needs "${k}" as [batch][node] lists`);
  const visits = tree.node_visits[b], values = tree.node_values[b], raw = tree.raw_values[b];
  const ci = tree.children_index[b];
  const logits = Array.isArray(tree.children_prior_logits) ? tree.children_prior_logits[b] : null;
  const rewards = Array.isArray(tree.children_rewards) ? tree.children_rewards[b] : null;
  const invalid = Array.isArray(tree.root_invalid_actions) ? tree.root_invalid_actions[b] : null;
  // preorder from the root, children by action
  const order = [], from = [], act = [], dep = [];
  const seen = new Uint8Array(visits.length);
  const stack = [[0, -1, -1, 0]];
  while (stack.length) {
    const [node, p, a, d] = stack.pop();
    if (node < 0 || node >= visits.length || seen[node]) continue; // malformed input: no loops
    seen[node] = 1;
    const id = order.length;
    order.push(node); from.push(p); act.push(a); dep.push(d);
    const row = Array.isArray(ci[node]) ? ci[node] : [];
    for (let k = row.length - 1; k >= 0; k--) if (row[k] >= 0) stack.push([row[k], id, k, d + 1]);
  }
  const t = new TreeModel(order.length);
  order.forEach((node, id) => {
    const p = from[id];
    t.parent[id] = p;
    t.action[id] = act[id];
    t.depth[id] = dep[id];
    t.visits[id] = num(visits[node], 0);
    t.value[id] = num(values[node], 0);
    t.raw[id] = num(raw[node], 0);
    t.evalIndex[id] = node;
    t.prior[id] = 1;
    t.reward[id] = NaN;
    const row = Array.isArray(ci[node]) ? ci[node] : [];
    let unexp = 0;
    row.forEach((c, a) => { if (c < 0 && !(node === 0 && invalid && invalid[a])) unexp++; });
    t.unexpanded[id] = unexp;
  });
  // priors and rewards live on the parent's row
  const probs = new Map();
  order.forEach((node, id) => {
    const p = from[id];
    if (p < 0) return;
    const pn = order[p];
    if (logits && Array.isArray(logits[pn])) {
      if (!probs.has(pn)) probs.set(pn, softmaxRow(logits[pn], pn === 0 ? invalid : null));
      t.prior[id] = probs.get(pn)[act[id]] ?? 0;
    }
    if (rewards && Array.isArray(rewards[pn])) t.reward[id] = num(rewards[pn][act[id]], NaN);
  });
  return t.finish(chosenAction);
}

// Any accepted document -> {format, elements: [TreeModel], requestId}.
export function parseDocument(doc) {
  let actions = null, requestId = null;
  for (let depth = 0; depth < 6 && isObj(doc); depth++) {
    if (typeof doc.request_id === 'string' && !requestId) requestId = doc.request_id;
    if (Array.isArray(doc.action) && !actions) actions = doc.action;
    if (isObj(doc.summary) && Array.isArray(doc.summary.action) && !actions) actions = doc.summary.action;
    if (isObj(doc.result)) { doc = doc.result; continue; }
    if (doc.search_tree !== undefined && doc.search_tree !== null) { doc = doc.search_tree; continue; }
    if (isObj(doc.tree) || Array.isArray(doc.tree)) { doc = doc.tree; continue; }
    break;
  }
  const chosen = (b) => (actions && Number.isInteger(actions[b]) ? actions[b] : undefined);
  if (Array.isArray(doc)) {
    if (!doc.length) throw new Error('the tree list is empty');
    return {format: 'nested', requestId, elements: doc.map((root, b) => fromNested(root, chosen(b)))};
  }
  if (isObj(doc) && Array.isArray(doc.node_visits)) {
    const B = doc.node_visits.length;
    if (!B) throw new Error('the arrays tree has no batch element');
    const elements = [];
    for (let b = 0; b < B; b++) elements.push(fromArrays(doc, b, chosen(b)));
    return {format: 'arrays', requestId, elements};
  }
  if (expanded(doc)) return {format: 'nested', requestId, elements: [fromNested(doc, chosen(0))]};
  throw new Error('not a search tree: expected the nested format (node dictionaries with "visit" and ' +
                  '"child_stats") or the arrays format ("node_visits", "parents", "children_index", ...)');
}
