// Readiness: every checklist item with its verdict, points, detail, the
// plugin version that decided it, and the attestations it accepts; an
// approver attests from here.

import { get, post, del } from './api.js';
import { h, link, section, time, code, pill, yesNo, errorBox, noteBox, act, field, table, pct, uid } from './ui.js';

/** item id -> what it reads (attestation keys, gauges), from the active plugins. */
function readsByItem(plugins) {
  const map = new Map();
  for (const p of plugins) {
    if (p.item && p.reads) map.set(p.item.id, p.reads);
    for (const b of p.items || []) map.set(b.item.id, b.reads);
  }
  return map;
}

export async function render(ctx) {
  const [report, attestations, plugins] = await Promise.all([
    get('/api/readiness/current'),
    get('/api/attestations'),
    get('/api/plugins'),
  ]);
  const reads = readsByItem(plugins);
  const now = Date.now();
  const o = report.overall;
  const kind = o.status === 'ready' ? 'ok' : o.status === 'almost_ready' ? 'warn' : 'bad';

  const rows = report.items.map((item) => {
    const r = reads.get(item.id);
    const keys = r && r.attestationKeys ? r.attestationKeys : [];
    const given = attestations.filter((a) => (a.acceptedBy || []).includes(item.id));
    return [
      h('span', null, h('strong', null, item.name), h('br'), h('span', { class: 'muted small' }, `${item.id} · ${item.category} / ${item.subcategory}`)),
      yesNo(item.passed),
      `${item.passed ? item.weight : 0} of ${item.weight} points`,
      item.required ? pill('required', 'warn') : 'no',
      h('span', null, item.detail, item.error ? [h('br'), h('span', { class: 'bad' }, `error: ${item.error}`)] : null),
      h('span', null, code(`${item.plugin}@${item.pluginVersion}`)),
      h('span', null,
        keys.length ? h('span', null, 'accepts ', keys.map((k, i) => [i ? ', ' : '', code(k)])) : h('span', { class: 'muted' }, 'none'),
        given.length ? h('ul', { class: 'plain' }, given.map((a) => {
          const expired = a.expiresAt && new Date(a.expiresAt).getTime() <= now;
          return h('li', null, `${a.attestedBy} (${a.role}) `, time(a.attestedAt), ', ',
            a.expiresAt ? [expired ? pill('expired', 'bad') : 'expires ', time(a.expiresAt)] : 'no expiry',
            a.evidenceUrl ? [', ', link(a.evidenceUrl, 'evidence')] : null);
        })) : null),
    ];
  });

  const node = h('div', null,
    h('h1', null, 'Readiness'),
    section('Score',
      h('p', { class: 'score' }, h('strong', null, `${o.score} / ${o.maxScore} points`), ` (${pct(o.percentage)}) `, pill(o.status.replace('_', ' '), kind)),
      h('p', null, `Assessed now (${report.items.length} items, plugin set generation ${report.pluginGeneration}) at `, time(report.assessedAt), ` for phase ${report.phase}.`),
      h('ul', null,
        h('li', null, `technical: ${report.categories.technical.score} / ${report.categories.technical.maxScore} points`),
        h('li', null, `process: ${report.categories.process.score} / ${report.categories.process.maxScore} points`),
        h('li', null, `organizational: ${report.categories.organizational.score} / ${report.categories.organizational.maxScore} points`)),
      o.blockers.length ? h('p', null, h('strong', null, 'Blockers: '), o.blockers.join(', ')) : h('p', null, 'No required item is failing.')),
    ctx.approverRoles().length ? attestForm(ctx, reads) : null,
    section('Items',
      table('Readiness items', ['Item', 'Result', 'Points', 'Required', 'Detail', 'Decided by', 'Attestations'], rows)),
    section('Attestations', attestationList(ctx, attestations)));
  return node;
}

function attestForm(ctx, reads) {
  const roles = ctx.approverRoles();
  const keys = [...new Set([...reads.values()].flatMap((r) => r.attestationKeys || []))].sort();
  const listId = uid('keys');
  const key = h('input', { type: 'text', list: listId, required: true, maxlength: '100', autocomplete: 'off' });
  const evidence = h('input', { type: 'url', placeholder: 'https://…' });
  const expires = h('input', { type: 'date' });
  const role = roles.length > 1 ? h('select', null, roles.map((r) => h('option', { value: r }, r))) : null;
  const box = errorBox();
  const note = noteBox();
  const button = h('button', { type: 'submit', class: 'primary' }, 'Attest');
  const form = h('form', { 'aria-label': 'Attest an item' },
    h('p', null, `You attest as ${roles.join(' or ')}. An item counts an attestation only for the keys and roles its params name.`),
    h('div', { class: 'row' },
      field('Attestation key', key),
      h('datalist', { id: listId }, keys.map((k) => h('option', { value: k }))),
      field('Evidence URL', evidence),
      field('Expires (end of day, UTC)', expires, 'Leave empty for no expiry.'),
      role ? field('Role', role) : null),
    box, note,
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, box, async () => {
      const body = { key: key.value.trim() };
      if (evidence.value) body.evidenceUrl = evidence.value;
      if (expires.value) body.expiresAt = `${expires.value}T23:59:59Z`;
      if (role) body.role = role.value;
      const a = await post('/api/attestations', body);
      note.say(`Attested ${a.key} as ${a.role}; counted by ${a.acceptedBy.length ? a.acceptedBy.join(', ') : 'no active item'}.`);
      await ctx.refresh();
    });
  });
  return section('Attest', form);
}

function attestationList(ctx, attestations) {
  const box = errorBox();
  const mayRevoke = (a) => ctx.can('operator') || a.attestedBy === ctx.session.principal;
  return [box, table('Attestations given', ['Key', 'By', 'Role', 'Attested', 'Expires', 'Counted by', 'Evidence', ''],
    attestations.map((a) => {
      let revoke = null;
      if (mayRevoke(a)) {
        revoke = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Revoke attestation ${a.id} (${a.key})` }, 'Revoke');
        revoke.addEventListener('click', () => act(revoke, box, async () => {
          await del(`/api/attestations/${a.id}`);
          await ctx.refresh();
        }));
      }
      return [code(a.key), a.attestedBy, a.role, time(a.attestedAt), a.expiresAt ? time(a.expiresAt) : 'never',
        a.acceptedBy.length ? a.acceptedBy.join(', ') : h('span', { class: 'muted' }, 'no active item'),
        a.evidenceUrl ? link(a.evidenceUrl) : '—',
        revoke];
    }), { empty: 'No attestation has been given.' })];
}
