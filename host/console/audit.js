// Audit: the hash-chained log, filterable by actor and action, and the
// result of verifying the chain. Admin only (the server refuses others).

import { get } from './api.js';
import { h, fill, section, time, code, pill, errorBox, field, table, uid } from './ui.js';

const LIMIT = 1000;

export async function render(ctx) {
  if (!ctx.can('admin')) {
    return h('div', null, h('h1', null, 'Audit'),
      h('p', null, 'The audit log is read by admins only; your roles do not include admin. Every change you make is recorded in it with your name.'));
  }
  const [entries, verification] = await Promise.all([
    get(`/api/audit?limit=${LIMIT}`),
    get('/api/audit/verify').then((v) => ({ ok: true, v }), (e) => ({ ok: false, e })),
  ]);
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
    section('Chain verification', verificationView(verification)),
    section('Log',
      h('form', { class: 'row', role: 'search', 'aria-label': 'Filter the audit log', onsubmit: (e) => e.preventDefault() },
        field('Actor', actor), h('datalist', { id: actorListId }, actors.map((a) => h('option', { value: a }))),
        field('Action', action)),
      count, body));
}

function verificationView(result) {
  if (!result.ok) {
    const box = errorBox();
    box.show(result.e);
    return [box, h('p', null, 'The chain can also be verified offline: ', code('regent audit verify --db <file>'), '.')];
  }
  const v = result.v;
  const problems = v.problems || [];
  return [
    h('p', { class: 'score' }, problems.length
      ? [pill('✗ broken', 'bad'), ` ${problems.length} problem(s) in ${v.entries} entries, checked at `]
      : [pill('✓ intact', 'ok'), ` all ${v.entries} entries link to the one before and match their hashes, checked at `],
    time(v.checkedAt || new Date().toISOString())),
    problems.length ? h('ul', null, problems.map((p) => h('li', { class: 'bad' }, p))) : null,
  ];
}
