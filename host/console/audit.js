// Audit: the hash-chained log, filterable by actor and action, and the
// result of verifying the chain. Admin only (the server refuses others).

import { get, getRaw } from './api.js';
import { sha256Hex } from './sha256.js';
import { h, fill, section, time, code, pill, field, table, uid, act, errorBox } from './ui.js';

const GENESIS = '0'.repeat(64);

/**
 * The server's entry hash (host/src/storage/codec.rs, audit_entry_hash):
 * SHA-256 over the previous hash, id, time in ms, actor, action, target,
 * before and after (JSON text, or NUL when absent), each prefixed by its
 * UTF-8 length as a little-endian u64.
 */
function entryHash(e, raw) {
  const enc = new TextEncoder();
  const fields = [e.prevHash, String(e.id), String(Date.parse(e.at)), e.actor, e.action, e.target,
    raw.before === undefined || raw.before === 'null' ? '\u0000' : raw.before,
    raw.after === undefined || raw.after === 'null' ? '\u0000' : raw.after].map((f) => enc.encode(f));
  const total = fields.reduce((n, f) => n + 8 + f.length, 0);
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  let off = 0;
  for (const f of fields) {
    view.setUint32(off, f.length, true);
    view.setUint32(off + 4, 0, true);
    buf.set(f, off + 8);
    off += 8 + f.length;
  }
  return sha256Hex(buf);
}

/**
 * The exact text of each entry's `before` and `after` in the reply, which
 * is compact JSON written by the same serializer as the stored text: a
 * value parsed and written again by JavaScript could differ (4.0 is "4").
 */
export function rawFields(text) {
  const out = [];
  let i = 0;
  const ws = () => { while (/\s/.test(text[i])) i++; };
  const skipString = () => {
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    ws();
    const start = i;
    if (text[i] === '"') skipString();
    else if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      do {
        if (text[i] === '"') { skipString(); continue; }
        if (text[i] === '{' || text[i] === '[') depth++;
        else if (text[i] === '}' || text[i] === ']') depth--;
        i++;
      } while (depth > 0);
    } else {
      while (i < text.length && !/[,}\]\s]/.test(text[i])) i++;
    }
    return text.slice(start, i);
  };
  ws();
  if (text[i] !== '[') return out;
  i++;
  for (;;) {
    ws();
    if (text[i] === ']') break;
    if (text[i] === ',') { i++; continue; }
    // One entry: an object.
    const fields = {};
    i++;
    for (;;) {
      ws();
      if (text[i] === '}') { i++; break; }
      if (text[i] === ',') { i++; continue; }
      const keyStart = i;
      skipString();
      const key = JSON.parse(text.slice(keyStart, i));
      ws();
      i++; // the colon
      fields[key] = skipValue();
    }
    out.push({ id: Number(fields.id), before: fields.before, after: fields.after });
  }
  return out;
}

/** Checks the entries read (newest first) link to each other and match their hashes. */
export function verifyChain(entries, text) {
  const raw = new Map(rawFields(text).map((r) => [r.id, r]));
  const asc = [...entries].sort((a, b) => a.id - b.id);
  const problems = [];
  for (let i = 0; i < asc.length; i++) {
    const e = asc[i];
    if (i === 0 && e.id === 1 && e.prevHash !== GENESIS) problems.push('entry 1 does not start from the genesis hash');
    if (i > 0) {
      const prev = asc[i - 1];
      if (e.id !== prev.id + 1) problems.push(`entries ${prev.id + 1}..${e.id - 1} are missing`);
      else if (e.prevHash !== prev.hash) problems.push(`entry ${e.id} does not link to the entry before it`);
    }
    if (entryHash(e, raw.get(e.id) || {}) !== e.hash) problems.push(`entry ${e.id} was edited: its contents do not match its hash`);
  }
  return {
    count: asc.length,
    from: asc.length ? asc[0].id : null,
    to: asc.length ? asc[asc.length - 1].id : null,
    fromGenesis: asc.length > 0 && asc[0].id === 1,
    problems,
    checkedAt: new Date().toISOString(),
  };
}

const LIMIT = 1000;

export async function render(ctx) {
  if (!ctx.can('admin')) {
    return h('div', null, h('h1', null, 'Audit'),
      h('p', null, 'The audit log is read by admins only; your roles do not include admin. Every change you make is recorded in it with your name.'));
  }
  const { value: entries, text } = await getRaw(`/api/audit?limit=${LIMIT}`);
  const verification = verifyChain(entries, text);
  const actors = [...new Set(entries.map((e) => e.actor))].sort();
  const actions = [...new Set(entries.map((e) => e.action))].sort();
  const actorListId = uid('actors');
  const actor = h('input', { type: 'search', list: actorListId, autocomplete: 'off' });
  const action = h('select', null, h('option', { value: '' }, 'any action'), actions.map((a) => h('option', { value: a }, a)));
  const count = h('p', { 'aria-live': 'polite', class: 'muted' });
  const body = h('div');

  const apply = () => {
    const who = actor.value.trim().toLowerCase();
    const what = action.value;
    const shown = entries.filter((e) => (!who || e.actor.toLowerCase().includes(who)) && (!what || e.action === what));
    count.textContent = `${shown.length} of the newest ${entries.length} entries shown.`;
    fill(body, table('Audit log entries', ['#', 'At', 'Actor', 'Action', 'Target', 'Change', 'Hash'],
      shown.map((e) => [String(e.id), time(e.at), e.actor, code(e.action), e.target,
        e.before || e.after ? h('details', null, h('summary', null, 'before / after'),
          h('pre', { class: 'json' }, `before: ${JSON.stringify(e.before, null, 2)}\nafter: ${JSON.stringify(e.after, null, 2)}`)) : '—',
        h('code', { class: 'hash', title: `hash ${e.hash}\nprevious ${e.prevHash}` }, `${e.hash.slice(0, 12)}…`)]),
      { empty: 'No entry matches.' }));
  };
  actor.addEventListener('input', apply);
  action.addEventListener('change', apply);
  apply();

  return h('div', null,
    h('h1', null, 'Audit'),
    section('Chain verification', verificationView(verification), serverVerification()),
    section('Log',
      h('form', { class: 'row', role: 'search', 'aria-label': 'Filter the audit log', onsubmit: (e) => e.preventDefault() },
        field('Actor', actor), h('datalist', { id: actorListId }, actors.map((a) => h('option', { value: a }))),
        field('Action', action)),
      count, body));
}

function verificationView(v) {
  if (!v.count) return h('p', null, 'The log is empty.');
  const range = `entries ${v.from} to ${v.to} (${v.count})`;
  return [
    h('p', { class: 'score' }, v.problems.length
      ? [pill('✗ broken', 'bad'), ` ${v.problems.length} problem(s) in ${range}`]
      : [pill('✓ intact', 'ok'), ` ${range} link each to the one before${v.fromGenesis ? ', from the first entry on,' : ''} and match their hashes`],
    '; checked in this browser at ', time(v.checkedAt), '.'),
    v.problems.length ? h('ul', null, v.problems.map((p) => h('li', { class: 'bad' }, p))) : null,
    h('p', { class: 'muted small' }, v.fromGenesis ? '' : `Only the newest ${v.count} entries are read here. `,
      'The whole log, its head and signed checkpoints are verified by ', code('regent audit verify'), ' (see docs/operations.md).'),
  ];
}

/** The whole chain, walked by the server (GET /api/audit/verify) on request. */
function serverVerification() {
  const result = h('p', { role: 'status' });
  const errors = errorBox();
  const button = h('button', { type: 'button' }, 'Verify the whole chain on the server');
  button.addEventListener('click', () => act(button, errors, async () => {
    const v = await get('/api/audit/verify');
    const at = new Date().toISOString();
    fill(result, v.intact
      ? [pill('✓ intact', 'ok'), ` all ${v.entries} entries, verified by the server at `, time(at), '.']
      : [pill('✗ broken', 'bad'), ` ${v.problems.length} problem(s) in ${v.entries} entries (server, `, time(at), '): ',
        h('ul', null, v.problems.map((p) => h('li', { class: 'bad' }, p)))]);
  }));
  return h('div', null, button, errors, result);
}
