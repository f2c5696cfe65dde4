// web/api.js: how the dashboard talks to the service.
//
// Every request goes to this origin. When the service has API keys, the
// login form's key is sent once, as X-API-Key, to POST /api/v1/auth/token;
// the bearer token that comes back (a JWT that expires) is kept in this
// tab's sessionStorage and sent as "Authorization: Bearer ..." on every
// read. The key itself is never stored. A 401 forgets the token and asks
// for the key again (onUnauthorized).

const STORE_KEY = 'mctx.dashboard.token';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  constructor() {
    this.session = null;          // {token, expiresAt (Unix s), user, role}
    this.onUnauthorized = null;   // called on a 401 with a token
    try {
      const raw = sessionStorage.getItem(STORE_KEY);
      if (raw) this.session = JSON.parse(raw);
    } catch (e) {
      this.session = null;
    }
    if (this.session && !(this.session.expiresAt > Date.now() / 1000 + 5)) this.forget();
  }

  get loggedIn() { return !!this.session; }

  forget() {
    this.session = null;
    try { sessionStorage.removeItem(STORE_KEY); } catch (e) { /* storage off: nothing kept */ }
  }

  headers() {
    const h = {Accept: 'application/json, text/plain'};
    if (this.session) h.Authorization = 'Bearer ' + this.session.token;
    return h;
  }

  async request(path, {method = 'GET', headers = {}, body, text = false, auth = true} = {}) {
    const init = {method, headers: Object.assign(auth ? this.headers() : {}, headers), cache: 'no-store',
                  credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer'};
    if (body !== undefined) init.body = body;
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'the service does not answer (' + e.message + ')');
    }
    const raw = await resp.text();
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText, parsed = null;
      try {
        parsed = JSON.parse(raw);
        if (parsed && parsed.message) msg = parsed.message;
      } catch (e) { /* not the envelope */ }
      if (resp.status === 401 && auth && this.session) {
        this.forget();
        if (this.onUnauthorized) this.onUnauthorized(msg);
      }
      const err = new ApiError(resp.status, msg, parsed);
      err.retryAfter = Number(resp.headers.get('Retry-After')) || 0;
      throw err;
    }
    if (text) return raw;
    return raw ? JSON.parse(raw) : null;
  }

  get(path, opts) { return this.request(path, opts); }

  // The public health route: says whether keys are configured (auth "on").
  health() { return this.request('/api/v1/mcts/health', {auth: false}); }

  // Exchanges an API key for a bearer token; keeps the token only.
  async login(key) {
    const tok = await this.request('/api/v1/auth/token', {
      method: 'POST', auth: false, headers: {'X-API-Key': key, 'Content-Type': 'application/json'}, body: '{}'});
    this.session = {token: tok.access_token, expiresAt: tok.expires_at, user: tok.user, role: tok.role};
    try { sessionStorage.setItem(STORE_KEY, JSON.stringify(this.session)); } catch (e) { /* kept in memory */ }
    return this.session;
  }
}
