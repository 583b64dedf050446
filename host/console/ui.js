// DOM helpers for the console. Everything is built with createElement and
// textContent: no HTML strings, so nothing the API returns can inject
// markup, and no inline style attributes (the CSP forbids them).

/**
 * h('p', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child, [more])
 * Attributes whose value is null, undefined or false are left out; `true`
 * sets an empty attribute; on* attributes that are functions are listeners.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      } else if (key === 'value') {
        el.value = value;
      } else if (key === 'checked') {
        el.checked = !!value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
export const uid = (prefix = 'c') => `${prefix}-${++ids}`;

// ---- formatting: every number with its unit, every time in UTC ----

const pad = (n) => String(n).padStart(2, '0');

/** "2026-11-30 14:55:02 UTC" */
export function utc(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** "3 min ago", "in 2 days" */
export function ago(ts, now = Date.now()) {
  if (!ts) return '';
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return '';
  let s = Math.round((now - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  let text;
  if (s < 5) return 'just now';
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86400)} day${Math.floor(s / 86400) === 1 ? '' : 's'}`;
  return future ? `in ${text}` : `${text} ago`;
}

/** A <time> element: the UTC time, with how long ago. */
export function time(ts, { relative = true } = {}) {
  if (!ts) return h('span', { class: 'muted' }, '—');
  const rel = relative ? ago(ts) : '';
  return h('time', { datetime: ts, title: ts, 'data-rel': relative ? '' : null }, utc(ts), rel ? ` (${rel})` : '');
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function num(value, digits = 2) {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function pct(value, digits = 1) {
  if (value === null || value === undefined) return '—';
  return `${Number(value).toFixed(digits)} %`;
}

/** A rate (0..1) as a percentage, or "— (no data)" when null. */
export function rate(value) {
  if (value === null || value === undefined) return '— (no data)';
  return `${(value * 100).toFixed(2)} %`;
}

export function code(text) {
  return h('code', null, text);
}

export function pill(text, kind = 'neutral') {
  return h('span', { class: `pill pill-${kind}` }, text);
}

export function yesNo(ok, yes = 'Pass', no = 'Fail') {
  return ok ? pill(`✓ ${yes}`, 'ok') : pill(`✗ ${no}`, 'bad');
}

// ---- messages ----

/** An element that shows API errors inline (role=alert), empty until one occurs. */
export function errorBox() {
  const el = h('div', { class: 'error', role: 'alert', hidden: true });
  el.show = (e) => {
    if (!e) {
      el.hidden = true;
      el.replaceChildren();
      return;
    }
    el.hidden = false;
    const text = typeof e === 'string' ? e : e.describe ? e.describe() : String(e.message || e);
    fill(el, h('strong', null, 'Refused: '), text);
  };
  el.clear = () => el.show(null);
  return el;
}

/** A polite status line for successes ("Saved at …"). */
export function noteBox() {
  const el = h('p', { class: 'note', 'aria-live': 'polite' });
  el.say = (text) => fill(el, text);
  return el;
}

/** Runs `fn` with `button` disabled and errors shown in `box`. */
export async function act(button, box, fn) {
  if (box) box.clear();
  const buttons = Array.isArray(button) ? button : [button];
  for (const b of buttons) if (b) b.disabled = true;
  try {
    return await fn();
  } catch (e) {
    if (box) box.show(e);
    else throw e;
    return undefined;
  } finally {
    for (const b of buttons) if (b && b.isConnected) b.disabled = false;
  }
}

// ---- structure ----

export function section(title, ...children) {
  const id = uid('s');
  return h('section', { class: 'card', 'aria-labelledby': id },
    h('h2', { id }, title), ...children);
}

/** A labelled field: label + control (+ hint). */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid('f');
  const hintEl = hint ? h('span', { class: 'hint', id: uid('h') }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, hintEl);
}

/**
 * A table in a scrollable region. `columns` are header texts; `rows` arrays
 * of cells (strings or nodes).
 */
export function table(caption, columns, rows, { empty = 'Nothing to show.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  const t = h('table', null,
    h('caption', { class: 'sr-only' }, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((cell, i) =>
      i === 0 ? h('th', { scope: 'row' }, cell) : h('td', null, cell))))));
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: '0' }, t);
}

/** A definition list from [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

/**
 * A modal <dialog> asking for a reason. Resolves with the reason, or null
 * when cancelled. `confirmLabel` names the confirming button.
 */
export function askReason({ title, text, confirmLabel, danger = false, onConfirm }) {
  const reason = h('textarea', { rows: '3', 'aria-required': 'true', maxlength: '1000' });
  const box = errorBox();
  const confirm = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, confirmLabel);
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const titleId = uid('d');
  const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
    h('h2', { id: titleId }, title),
    text ? h('p', null, text) : null,
    field('Reason', reason, 'Kept in the audit log with your name.'),
    box,
    h('div', { class: 'actions' }, confirm, cancel));
  const dialog = h('dialog', { 'aria-labelledby': titleId }, form);
  document.body.appendChild(dialog);
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  cancel.addEventListener('click', close);
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      box.show('A reason is required.');
      reason.focus();
      return;
    }
    const done = await act([confirm, cancel], box, async () => {
      await onConfirm(reason.value.trim());
      return true;
    });
    if (done) close();
  });
  dialog.showModal();
  reason.focus();
  return dialog;
}

export function pre(value) {
  return h('pre', { class: 'json' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

/** A link to an http(s) URL given by a person; anything else is shown as text. */
export function link(url, text = url) {
  if (typeof url === 'string' && /^https?:\/\//i.test(url)) {
    return h('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, text);
  }
  return h('span', null, url || '—');
}
