// The Regent console: a page that calls Regent's HTTP API with the
// signed-in person's session cookie (see docs/console.md). No framework and
// no build step: ES modules served as they are from /console/.

import { api, get, post, setCsrfToken, setUnauthorizedHandler } from './api.js';
import { h, fill, field, errorBox, act, askReason, utc, ago, time } from './ui.js';

const PAGES = [
  ['overview', 'Overview'],
  ['readiness', 'Readiness'],
  ['proposals', 'Proposals'],
  ['breakers', 'Breakers'],
  ['workflows', 'Workflows'],
  ['agents', 'Agents'],
  ['plugins', 'Plugins'],
  ['audit', 'Audit'],
  ['replicas', 'Replicas'],
];

const APPROVER_ROLES = ['tech_lead', 'ops_lead', 'product_lead', 'exec_sponsor'];

const main = document.getElementById('main');
const top = document.getElementById('top');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const controlBar = document.getElementById('control-bar');

/** What every page is given. */
const ctx = {
  session: null,
  /** The latest control state: from GET /api/emergency-stop, then the stream. */
  control: null,
  live: 'connecting',
  listeners: new Set(),
  /** Whether the signed-in person holds `role` (admin stands in, but never approves). */
  can(role) {
    const roles = this.session ? this.session.roles : [];
    if (roles.includes(role)) return true;
    return roles.includes('admin') && !APPROVER_ROLES.includes(role);
  },
  /** The approver roles held in person (admin holds none of them). */
  approverRoles() {
    return (this.session ? this.session.roles : []).filter((r) => APPROVER_ROLES.includes(r));
  },
  /** Re-renders the current page. */
  refresh() {
    return route();
  },
  /** Subscribes to control-state changes while the current page is shown. */
  onControl(fn) {
    this.listeners.add(fn);
  },
};

// ---------------------------------------------------------------- sign in

function showSignIn(message) {
  ctx.session = null;
  ctx.control = null;
  setCsrfToken(null);
  closeStream();
  top.hidden = true;
  controlBar.hidden = true;
  document.title = 'Sign in · Regent console';
  const token = h('input', {
    type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const box = errorBox();
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to the Regent console'),
    h('p', null, 'Paste your Regent token (or, where an identity provider is configured, its JWT). ' +
      'The console keeps it in an HttpOnly session cookie; signing out ends the session on the server.'),
    field('Token', token),
    box,
    message ? h('p', { class: 'note' }, message) : null,
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, box, async () => {
      const session = await api('POST', '/api/session', { token: token.value.trim() });
      token.value = '';
      await startSession(session);
    });
  });
  fill(main, form);
  token.focus();
}

async function startSession(session) {
  ctx.session = session;
  setCsrfToken(session.csrfToken);
  top.hidden = false;
  renderWho();
  // The stop's state now (the stream follows), beside the first page.
  const stopLoaded = get('/api/emergency-stop').then((stop) => {
    if (!ctx.control) ctx.control = { emergencyStop: { active: stop.active, by: stop.by, at: stop.since, reason: stop.reason } };
    renderControlBar();
  }, () => renderControlBar());
  openStream();
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', '#/overview');
  }
  await Promise.all([route(), stopLoaded]);
}

function renderWho() {
  const s = ctx.session;
  const signOut = h('button', { type: 'button', class: 'secondary small' }, 'Sign out');
  const box = errorBox();
  signOut.addEventListener('click', () => act(signOut, box, async () => {
    await api('DELETE', '/api/session');
    showSignIn('You are signed out: the session has ended on the server.');
  }));
  fill(who,
    h('span', { class: 'principal' }, h('strong', null, s.principal), ' ',
      h('span', { class: 'roles' }, `(${s.roles.join(', ') || 'no roles'})`)),
    s.expiresAt ? h('span', { class: 'expires muted' }, `session until ${utc(s.expiresAt)}`) : null,
    signOut, box);
}

setUnauthorizedHandler(() => {
  if (ctx.session) showSignIn('Your session has ended (expired, signed out elsewhere, or the token was revoked). Sign in again.');
});

// ---------------------------------------------------------------- control bar and the stream

let stream = null;
let streamRetry = null;

function openStream() {
  closeStream();
  ctx.live = 'connecting';
  const es = new EventSource('/api/stream');
  stream = es;
  es.addEventListener('control', (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    ctx.control = data;
    ctx.live = 'live';
    renderControlBar();
    for (const fn of ctx.listeners) {
      try {
        fn(data);
      } catch (err) {
        console.error(err);
      }
    }
  });
  es.addEventListener('open', () => {
    ctx.live = 'live';
    renderLive();
  });
  es.addEventListener('error', () => {
    ctx.live = 'reconnecting';
    renderLive();
    if (es.readyState === EventSource.CLOSED && stream === es) {
      // The browser gave up (a 401 or a non-stream reply): check the
      // session, then try again.
      streamRetry = setTimeout(async () => {
        try {
          await get('/api/session');
          if (stream === es) openStream();
        } catch {
          /* the 401 handler shows the sign-in form */
        }
      }, 2000);
    }
  });
}

function closeStream() {
  if (stream) stream.close();
  stream = null;
  if (streamRetry) clearTimeout(streamRetry);
  streamRetry = null;
}

function renderLive() {
  const el = document.getElementById('live');
  if (!el) return;
  const text = ctx.live === 'live' ? 'Live' : ctx.live === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  el.className = `live live-${ctx.live}`;
  el.textContent = text;
  el.title = ctx.live === 'live' ? 'Updates arrive from the server as they happen (server-sent events)' :
    'The live connection to the server is down; the browser is reconnecting';
}

let barKey = null;

function renderControlBar({ force = false } = {}) {
  if (!ctx.session) return;
  controlBar.hidden = false;
  const stop = ctx.control && ctx.control.emergencyStop;
  // Re-drawn only when what it shows changes, so a button keeps its focus
  // while other parts of the control state move.
  const key = JSON.stringify([ctx.session.principal, stop, ctx.control && ctx.control.fault]);
  if (!force && key === barKey && controlBar.childElementCount) {
    renderLive();
    return;
  }
  barKey = key;
  const live = h('span', { id: 'live', class: 'live' });
  const box = errorBox();
  if (stop && stop.active) {
    const resume = ctx.can('operator')
      ? h('button', { type: 'button', class: 'secondary' }, 'Resume') : null;
    if (resume) {
      resume.addEventListener('click', () => askReason({
        title: 'Resume autonomous operation',
        text: 'Authorize calls and task assignments are answered normally again from the next call on.',
        confirmLabel: 'Confirm resume',
        onConfirm: (reason) => applyStop('/api/emergency-stop/resume', reason),
      }));
    }
    fill(controlBar,
      h('div', { class: 'stop-banner', role: 'status' },
        h('strong', null, 'Emergency stop active'),
        ' since ', time(stop.at || stop.since), ' by ', h('strong', null, stop.by || 'unknown'),
        stop.reason ? [': ', h('q', null, stop.reason)] : null,
        '. Every authorize call and task assignment is denied.'),
      h('div', { class: 'bar-actions' }, resume, live), box);
    controlBar.className = 'control-bar stopped';
  } else {
    const stopButton = ctx.can('operator')
      ? h('button', { type: 'button', class: 'danger' }, 'Emergency stop') : null;
    if (stopButton) {
      stopButton.addEventListener('click', () => askReason({
        title: 'Emergency stop',
        text: 'Every authorize call and every task assignment is denied from the next call on, on every replica, until someone resumes.',
        confirmLabel: 'Confirm emergency stop',
        danger: true,
        onConfirm: (reason) => applyStop('/api/emergency-stop', reason),
      }));
    }
    const fault = ctx.control && ctx.control.fault;
    fill(controlBar,
      h('div', { class: 'run-state' }, fault
        ? h('strong', { class: 'bad' }, `Control state fault: ${fault} (every authorize call is denied)`)
        : stop ? 'Running: no emergency stop.' : 'Control state not loaded yet.'),
      h('div', { class: 'bar-actions' }, stopButton, live), box);
    controlBar.className = 'control-bar running';
  }
  renderLive();
}

/** A stop or a resume; the reply updates the bar at once (the stream follows). */
async function applyStop(path, reason) {
  const reply = await post(path, { reason });
  ctx.control = Object.assign({}, ctx.control, {
    emergencyStop: { active: reply.active, by: reply.by, at: reply.since, reason: reply.reason },
  });
  renderControlBar();
  // Focus the control that replaced the one pressed (Resume, or Emergency stop).
  const next = controlBar.querySelector('button');
  if (next) next.focus();
  for (const fn of ctx.listeners) fn(ctx.control);
}

// ---------------------------------------------------------------- routing

const loaders = {
  overview: () => import('./overview.js'),
  readiness: () => import('./readiness.js'),
  proposals: () => import('./proposals.js'),
  breakers: () => import('./breakers.js'),
  workflows: () => import('./workflows.js'),
  agents: () => import('./agents.js'),
  plugins: () => import('./plugins.js'),
  audit: () => import('./audit.js'),
  replicas: () => import('./replicas.js'),
};

let routeSeq = 0;
let cleanup = null;
let shown = null;

async function route() {
  if (!ctx.session) return;
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'overview';
  const page = PAGES.find(([id]) => id === name) || PAGES[0];
  const seq = ++routeSeq;
  // A refresh of the page shown keeps it (and the scroll position) until
  // the new one is ready; another page starts from a loading line.
  const refreshing = shown === page[0] && main.querySelector('.page');
  shown = page[0];
  if (!refreshing) {
    fill(nav, h('ul', null, PAGES.map(([id, label]) => h('li', null,
      h('a', { href: `#/${id}`, 'aria-current': id === page[0] ? 'page' : null }, label)))));
    document.title = `${page[1]} · Regent console`;
  }
  const box = errorBox();
  const content = h('div', { class: 'page', 'aria-busy': 'true' }, h('p', { class: 'loading' }, `Loading ${page[1]}…`));
  if (!refreshing) fill(main, box, content);
  const scroll = window.scrollY;
  try {
    const mod = await loaders[page[0]]();
    const previousListeners = new Set(ctx.listeners);
    ctx.listeners.clear();
    let view;
    try {
      view = await mod.render(ctx);
    } catch (e) {
      for (const fn of previousListeners) ctx.listeners.add(fn);
      throw e;
    }
    if (seq !== routeSeq) return;
    if (cleanup) cleanup();
    cleanup = view.cleanup || null;
    content.removeAttribute('aria-busy');
    fill(content, view.node || view);
    if (refreshing) {
      fill(main, box, content);
      window.scrollTo(0, scroll);
    } else if (navigatedByUser) {
      const heading = main.querySelector('h1');
      if (heading) {
        heading.setAttribute('tabindex', '-1');
        heading.focus();
      }
    }
  } catch (e) {
    if (seq !== routeSeq) return;
    if (refreshing) {
      const existing = main.querySelector(':scope > [role="alert"]');
      if (existing && existing.show) existing.show(e);
    } else {
      content.removeAttribute('aria-busy');
      fill(content, h('h1', null, page[1]));
      box.show(e);
    }
  }
  navigatedByUser = false;
}

let navigatedByUser = false;
window.addEventListener('hashchange', () => {
  navigatedByUser = true;
  route();
});

// ---------------------------------------------------------------- start

async function boot() {
  try {
    const session = await api('GET', '/api/session');
    await startSession(session);
  } catch (e) {
    if (e.status === 401) showSignIn();
    else {
      showSignIn();
      const box = main.querySelector('[role="alert"]');
      if (box && box.show) box.show(e);
    }
  }
}

boot();

// Relative times ("3 min ago") drift; keep them honest once a minute.
setInterval(() => {
  for (const t of document.querySelectorAll('time[data-rel]')) {
    const rel = ago(t.getAttribute('datetime'));
    t.textContent = `${utc(t.getAttribute('datetime'))}${rel ? ` (${rel})` : ''}`;
  }
}, 60000);
