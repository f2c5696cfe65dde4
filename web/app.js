// web/app.js: the dashboard's entry point. Asks the public health route
// whether the service has API keys; if it does and this tab holds no token,
// shows the login form (api.js). Then runs the three tabs: Live (polled
// every few seconds), History (on opening it and every 30 s while open) and
// Tree (a stored search's tree, or a file). Everything the page knows is in
// window.mctxDash.state, which the browser test reads.

import {Api} from './api.js';
import {History} from './history.js';
import {Live} from './live.js';
import {parseDocument} from './tree.js';
import {TreeView, drawLegend} from './treeview.js';

const HISTORY_EVERY_MS = 30000;

function $(id) { return document.getElementById(id); }

const state = {
  ready: false, auth: null, user: null, role: null, tab: 'live', errors: [],
  live: {}, history: {}, tree: {},
};
const api = new Api();
const live = new Live(api, state.live);
const history = new History(api, state.history, () => (live.last ? live.last.m : null));
let treeView = null, treeDoc = null;
let liveTimer = 0, historyTimer = 0, started = false;

window.mctxDash = {state, api, live, history, get treeView() { return treeView; }};

// ==== banner: the last problem, in words ====

function problem(where, err) {
  const msg = `${where}: ${err.message || err}`;
  state.errors.push(msg);
  if (state.errors.length > 20) state.errors.shift();
  const b = $('banner');
  b.textContent = msg + (err.retryAfter ? ` (retrying in ${err.retryAfter} s)` : '');
  b.hidden = false;
}

function clearProblem() { $('banner').hidden = true; }

// ==== tabs ====

function showTab() {
  const h = location.hash.replace(/^#/, '');
  const tab = h.startsWith('tree') ? 'tree' : h === 'history' ? 'history' : 'live';
  state.tab = tab;
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.tab === tab);
  for (const t of ['live', 'history', 'tree']) $('tab-' + t).hidden = t !== tab;
  if (!started) return;
  if (tab === 'history') pollHistory();
  if (tab === 'tree') {
    if (!treeView) treeView = new TreeView($('tree-canvas'), $('tooltip'), treeInfo);
    else treeView.resize();
    const m = h.match(/^tree\/(.+)$/);
    if (m) {
      const id = decodeURIComponent(m[1]);
      $('tree-request-id').value = id;
      loadStoredTree(id);
    }
  }
}

// ==== polling ====

async function pollLive() {
  clearTimeout(liveTimer);
  const every = Number($('refresh-every').value);
  let wait = every;
  try {
    await live.poll();
    if (state.tab === 'history') history.renderRecommendations();
    setStatus(true);
  } catch (e) {
    if (e.status === 401) return;
    problem('metrics', e);
    setStatus(false, e);
    wait = Math.max(every || 5000, (e.retryAfter || 0) * 1000);
  }
  if (every > 0 && started) liveTimer = setTimeout(pollLive, wait);
}

async function pollHistory() {
  clearTimeout(historyTimer);
  let wait = HISTORY_EVERY_MS;
  try {
    await history.refresh();
  } catch (e) {
    if (e.status === 401) return;
    problem('history', e);
    wait = Math.max(wait, (e.retryAfter || 0) * 1000);
  }
  if (state.tab === 'history' && started && Number($('refresh-every').value) > 0)
    historyTimer = setTimeout(pollHistory, wait);
}

function setStatus(ok, err) {
  const p = $('svc-status');
  p.className = 'pill ' + (ok ? 'ok' : 'bad');
  p.textContent = ok ? 'live' : (err && err.status ? 'HTTP ' + err.status : 'unreachable');
}

// ==== the tree tab ====

function treeInfo() {
  const info = $('tree-info');
  const s = treeView && treeView.stats();
  if (!s) return;
  const els = treeDoc ? treeDoc.elements.length : 0;
  const b = Number($('tree-element').value) || 0;
  const items = [
    ['source', state.tree.source || ''], ['format', treeDoc ? treeDoc.format : ''],
    ['element', `${b} of ${els}`], ['nodes', String(s.nodeCount)], ['shown', String(s.visibleCount)],
    ['max depth', String(s.maxDepth)], ['root visits', String(s.rootVisits)],
    ['root value', Number(s.rootValue.toFixed(4)).toString()],
    ['chosen action', s.chosenAction >= 0 ? `${s.chosenAction} (${s.chosenSource})` : '–'],
    ['draw', s.lastRenderMs.toFixed(1) + ' ms'],
  ];
  info.textContent = '';
  for (const [k, v] of items) {
    const span = document.createElement('span');
    span.dataset.field = k.replace(/ /g, '_');
    span.append(k + ' ');
    const bold = document.createElement('b');
    bold.textContent = v;
    span.appendChild(bold);
    info.appendChild(span);
  }
  Object.assign(state.tree, s, {format: treeDoc ? treeDoc.format : null, elements: els, element: b,
                                elementNodeCounts: treeDoc ? treeDoc.elements.map((t) => t.n) : []});
}

function showTree(doc, source) {
  treeDoc = doc;
  state.tree.source = source;
  state.tree.error = null;
  const sel = $('tree-element');
  sel.textContent = '';
  doc.elements.forEach((t, b) => {
    const o = document.createElement('option');
    o.value = String(b);
    o.textContent = `${b} (${t.n} nodes)`;
    sel.appendChild(o);
  });
  sel.value = '0';
  showElement(0);
  $('tree-empty').hidden = true;
  state.tree.loads = (state.tree.loads || 0) + 1;
}

function showElement(b) {
  const t = treeDoc.elements[b];
  if (!treeView) treeView = new TreeView($('tree-canvas'), $('tooltip'), treeInfo);
  treeView.setTree(t, Number($('tree-depth').value));
  drawLegend($('tree-legend'), treeView.vlo, treeView.vhi);
  treeInfo();
}

function treeProblem(msg) {
  state.tree.error = msg;
  const e = $('tree-empty');
  e.hidden = false;
  e.textContent = msg;
}

async function loadStoredTree(id) {
  state.tree.error = null;
  const path = '/api/v1/searches/' + encodeURIComponent(id);
  try {
    // the tree, and the search's record for the actions it chose (its
    // summary keeps the first 64)
    const [doc, rec] = await Promise.all([api.get(path + '/tree'), api.get(path).catch(() => null)]);
    if (rec && rec.summary && Array.isArray(rec.summary.action) && !doc.action) doc.action = rec.summary.action;
    showTree(parseDocument(doc), 'search ' + id);
  } catch (e) {
    if (e.status === 404 && e.body && e.body.details && e.body.details.field === 'path')
      treeProblem('This service has no stored-tree route (GET /api/v1/searches/{id}/tree); load the tree from a file.');
    else treeProblem(`The tree of search ${id} could not be loaded: ${e.message}`);
  }
}

async function loadTreeFile(file) {
  state.tree.error = null;
  try {
    const doc = parseDocument(JSON.parse(await file.text()));
    showTree(doc, 'file ' + file.name);
  } catch (e) {
    treeProblem(`${file.name}: ${e.message}`);
  }
}

function bindTree() {
  $('tree-load-stored').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('tree-request-id').value.trim();
    if (id) location.hash = '#tree/' + encodeURIComponent(id);
  });
  $('tree-file').addEventListener('change', (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) loadTreeFile(f);
  });
  const stage = $('tree-stage');
  stage.addEventListener('dragover', (e) => e.preventDefault());
  stage.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) loadTreeFile(f);
  });
  $('tree-element').addEventListener('change', (e) => showElement(Number(e.target.value)));
  $('tree-apply-depth').addEventListener('click', () => {
    if (!treeView || !treeView.t) return;
    treeView.openToDepth(Number($('tree-depth').value));
    treeView.fit();
  });
  $('tree-expand-all').addEventListener('click', () => {
    if (!treeView || !treeView.t) return;
    treeView.expandAll();
    treeView.fit();
  });
  $('tree-fit').addEventListener('click', () => treeView && treeView.fit());
}

// ==== start, login ====

function showLogin(message) {
  started = false;
  clearTimeout(liveTimer);
  clearTimeout(historyTimer);
  $('main').hidden = true;
  $('login').hidden = false;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('svc-status').className = 'pill warn';
  $('svc-status').textContent = 'signed out';
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('login-key').focus();
  state.ready = true;
  state.view = 'login';
}

function start() {
  started = true;
  $('login').hidden = true;
  $('main').hidden = false;
  const s = api.session;
  state.user = s ? s.user : 'anonymous';
  state.role = s ? s.role : 'admin';
  $('who').textContent = s ? `${s.user} (${s.role})` : 'open service (no API keys)';
  $('logout').hidden = !s;
  history.setRole(state.role);
  state.view = 'dashboard';
  state.ready = true;
  showTab();
  pollLive();
}

async function init() {
  window.addEventListener('hashchange', showTab);
  $('refresh-every').addEventListener('change', () => {
    if (!started) return;
    pollLive();
    if (state.tab === 'history') pollHistory();
  });
  $('logout').addEventListener('click', () => { api.forget(); showLogin(''); });
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('login-key');
    const key = input.value;
    input.value = '';
    try {
      await api.login(key);
      start();
    } catch (err) {
      showLogin(err.status === 401 ? 'This key is not valid.' : 'Sign-in failed: ' + err.message);
    }
  });
  api.onUnauthorized = (msg) => showLogin('Your session ended (' + msg + '); sign in again.');
  bindTree();
  showTab();
  for (;;) {
    try {
      const h = await api.health();
      state.auth = h.auth;
      break;
    } catch (e) {
      // 503 while the service starts: wait for it
      $('svc-status').textContent = e.status ? 'HTTP ' + e.status : 'unreachable';
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (state.auth === 'on' && !api.loggedIn) showLogin('');
  else start();
}

init();
