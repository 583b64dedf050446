// Plugins: the active set (kind, sha256, signer, what each item reads), each
// plugin's version history, and for an admin: an upload that dry-runs first
// and shows the gates and the shadow diff before it is confirmed, activate
// and roll back.

import { get, api, post, seg } from './api.js';
import { h, fill, section, time, code, pill, yesNo, errorBox, noteBox, act, field, table, num, pre, uid } from './ui.js';

function readsText(reads) {
  if (!reads) return h('span', { class: 'muted' }, '—');
  const parts = [];
  if (reads.incidents) parts.push('incidents');
  if (reads.attestationKeys === null || reads.attestationKeys === undefined) parts.push('every attestation');
  else if (reads.attestationKeys.length) parts.push(`attestations ${reads.attestationKeys.join(', ')}`);
  if (reads.gaugeNames === null || reads.gaugeNames === undefined) parts.push('every gauge');
  else if (reads.gaugeNames.length) parts.push(`gauges ${reads.gaugeNames.join(', ')}`);
  return parts.length ? parts.join('; ') : 'metrics and facts only';
}

export async function render(ctx) {
  const plugins = await get('/api/plugins');
  plugins.sort((a, b) => a.name.localeCompare(b.name));
  const versions = await Promise.all(plugins.map((p) =>
    get(`/api/plugins/${seg(p.name)}/versions`).then((v) => v, (e) => ({ error: e }))));
  const admin = ctx.can('admin');
  const byName = new Map(plugins.map((p, i) => [p.name, versions[i]]));
  const box = errorBox();

  const rows = plugins.map((p) => {
    const vs = byName.get(p.name);
    const active = Array.isArray(vs) ? vs.find((v) => v.status === 'active' && v.version === p.version) : null;
    let rollback = null;
    if (admin) {
      rollback = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Roll back ${p.name}` }, 'Roll back');
      rollback.addEventListener('click', () => act(rollback, box, async () => {
        const a = await post(`/api/plugins/${seg(p.name)}/rollback`, {});
        sessionStorage.setItem('regent:plugins-note', `${a.name} rolled back to ${a.version} (was ${a.previous || 'none'}), plugin set generation ${a.generation}, in ${num(a.elapsedMs, 1)} ms.`);
        await ctx.refresh();
      }));
    }
    const items = p.items && p.items.length
      ? h('ul', { class: 'plain' }, p.items.map((b) => h('li', null, code(b.item.id), `: ${readsText(b.reads)}`)))
      : readsText(p.reads);
    return [
      h('span', null, h('strong', null, p.name), h('br'), h('span', { class: 'muted small' }, p.summary)),
      p.kind,
      h('span', { class: 'version' }, p.version),
      h('code', { class: 'hash', title: p.sha256 }, p.sha256),
      active ? (active.signer || h('span', { class: 'muted' }, 'unsigned')) : h('span', { class: 'muted' }, '?'),
      items,
      h('span', null, time(p.loadedAt), h('br'), h('span', { class: 'muted small' }, `limits ${p.timeoutMs} ms, ${Math.round(p.memoryLimitBytes / 1048576)} MiB`)),
      rollback,
    ];
  });

  const note = noteBox();
  const saved = sessionStorage.getItem('regent:plugins-note');
  if (saved) {
    note.say(saved);
    sessionStorage.removeItem('regent:plugins-note');
  }

  return h('div', null,
    h('h1', null, 'Plugins'),
    note,
    admin ? uploadForm(ctx) : null,
    section(`Active plugins (${plugins.length})`, box,
      table('Active plugins', ['Plugin', 'Kind', 'Version', 'sha256', 'Signer', 'Reads', 'Loaded', admin ? '' : null].filter((c) => c !== null),
        admin ? rows : rows.map((r) => r.slice(0, 7)))),
    section('Version history', plugins.map((p) => history(ctx, p, byName.get(p.name), admin))));
}

function history(ctx, p, vs, admin) {
  const box = errorBox();
  const summary = h('summary', null, `${p.name}: `, Array.isArray(vs) ? `${vs.length} version(s)` : 'versions unavailable');
  if (!Array.isArray(vs)) {
    box.show(vs.error);
    return h('details', null, summary, box);
  }
  const rows = vs.map((v) => {
    let activate = null;
    if (admin && v.status === 'inactive') {
      activate = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Activate ${v.name} ${v.version}` }, 'Activate');
      activate.addEventListener('click', () => act(activate, box, async () => {
        const a = await api('POST', `/api/plugins/${seg(v.name)}/activate`, { version: v.version });
        sessionStorage.setItem('regent:plugins-note', `${a.name} ${a.version} is active (was ${a.previous || 'none'}), plugin set generation ${a.generation}, in ${num(a.elapsedMs, 1)} ms.`);
        await ctx.refresh();
      }));
    }
    return [v.version, pill(v.status, v.status === 'active' ? 'ok' : v.status === 'rejected' ? 'bad' : 'neutral'),
      time(v.uploadedAt), v.uploadedBy, v.signer || 'unsigned', `${num(v.sizeBytes)} bytes`,
      h('code', { class: 'hash', title: v.sha256 }, v.sha256.slice(0, 16) + '…'),
      v.activatedAt ? time(v.activatedAt) : '—', v.rejection || '', activate];
  });
  return h('details', { class: 'history' }, summary,
    table(`Versions of ${p.name}`, ['Version', 'Status', 'Uploaded', 'By', 'Signer', 'Size', 'sha256', 'Last active', 'Rejected because', ''], rows, { empty: 'No stored version.' }),
    box);
}

function uploadForm(ctx) {
  const name = h('input', { type: 'text', required: true, pattern: '[a-z0-9][a-z0-9_-]{0,63}', autocomplete: 'off', spellcheck: 'false' });
  const wasm = h('input', { type: 'file', accept: '.wasm,application/wasm', required: true });
  const manifest = h('input', { type: 'file', accept: '.toml', required: true });
  const signature = h('input', { type: 'file', accept: '.sig,.json' });
  const box = errorBox();
  const note = noteBox();
  const dry = h('button', { type: 'submit', class: 'primary' }, 'Dry run');
  const confirm = h('button', { type: 'button', class: 'danger', hidden: true }, 'Upload and activate');
  const result = h('section', { class: 'dry-run', 'aria-label': 'Dry run result', hidden: true });

  const invalidate = () => {
    confirm.hidden = true;
    result.hidden = true;
    note.say('');
  };
  manifest.addEventListener('change', async () => {
    invalidate();
    const file = manifest.files[0];
    if (file && !name.value) {
      const m = (await file.text()).match(/^\s*name\s*=\s*"([^"]+)"/m);
      if (m) name.value = m[1];
    }
  });
  wasm.addEventListener('change', invalidate);
  signature.addEventListener('change', invalidate);
  name.addEventListener('input', invalidate);

  const parts = () => {
    if (!name.value.trim()) throw new Error('Give the plugin name (as in its manifest).');
    if (!wasm.files[0] || !manifest.files[0]) throw new Error('Choose the component (.wasm) and its manifest (.toml).');
    const data = new FormData();
    data.append('wasm', wasm.files[0]);
    data.append('manifest', manifest.files[0]);
    if (signature.files[0]) data.append('signature', signature.files[0]);
    return data;
  };

  const form = h('form', { 'aria-label': 'Upload a plugin version', novalidate: true },
    h('p', null, 'The version is checked by every gate (signature, compile, world, describe, params, fixtures, shadow) and run beside the active version on recorded inputs. Nothing is stored until you confirm.'),
    h('div', { class: 'row' },
      field('Plugin name', name),
      field('Component (.wasm)', wasm),
      field('Manifest (.toml)', manifest),
      field('Signature (optional)', signature)),
    box,
    h('div', { class: 'actions' }, dry),
    result,
    h('div', { class: 'actions' }, confirm),
    note);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    invalidate();
    act(dry, box, async () => {
      const plugin = name.value.trim();
      try {
        const outcome = await api('PUT', `/api/plugins/${seg(plugin)}?dry_run=true`, parts());
        showOutcome(result, outcome);
        result.hidden = false;
        confirm.hidden = false;
        confirm.textContent = `Upload and activate`;
        confirm.dataset.plugin = plugin;
      } catch (err) {
        if (err.code === 'gate_failed' && err.details) {
          showGates(result, err.details.gates || [], err.details.shadow, `Refused at the ${err.gate} gate: nothing would be stored or activated.`);
          result.hidden = false;
        }
        throw err;
      }
    });
  });
  confirm.addEventListener('click', () => act([confirm, dry], box, async () => {
    const plugin = confirm.dataset.plugin;
    const outcome = await api('PUT', `/api/plugins/${seg(plugin)}?activate=true`, parts());
    const a = outcome.activation;
    sessionStorage.setItem('regent:plugins-note', a
      ? `${a.name} ${a.version} is active (was ${a.previous || 'none'}), plugin set generation ${a.generation}, swapped in ${num(a.elapsedMs, 1)} ms.`
      : `${plugin} ${outcome.version.version} is stored (${outcome.version.status}).`);
    await ctx.refresh();
  }));
  return section('Upload a version', form);
}

function showOutcome(el, o) {
  const v = o.version;
  showGates(el, o.gates, o.shadow,
    `Dry run of ${v.name} ${v.version} (${v.kind}), ${num(v.sizeBytes)} bytes, sha256 ${v.sha256}${v.signer ? `, signed by ${v.signer}` : ', unsigned'}: every gate passed in ${num(o.elapsedMs, 1)} ms; nothing was stored.`);
}

function showGates(el, gates, shadow, headline) {
  const parts = [h('h3', null, 'Dry run result'), h('p', null, headline),
    table('Gates', ['Gate', 'Result', 'Time', 'Detail'], gates.map((g) => [g.gate, yesNo(g.passed), `${num(g.elapsedMs, 1)} ms`, g.detail]))];
  if (shadow) {
    const changed = shadow.differences.length;
    parts.push(h('h3', null, 'Shadow diff'),
      h('p', { class: 'shadow-summary' },
        shadow.comparedWith
          ? `Compared with the active ${shadow.comparedWith} on ${shadow.inputs} recorded input(s): ${shadow.identical} identical, ${changed} would change outcome, ${shadow.failures.length} failure(s).`
          : `No active version to compare with; run on ${shadow.inputs} recorded input(s): ${shadow.failures.length} failure(s).`),
      changed ? table('Recorded inputs whose outcome would change', ['Input', 'Recorded', 'Active version says', 'Candidate says'],
        shadow.differences.map((d) => [d.input, time(d.recordedAt), d.active === null || d.active === undefined ? h('span', { class: 'muted' }, d.activeError ? `failed: ${d.activeError}` : '—') : pre(d.active), pre(d.candidate)])) : null,
      shadow.failures.length ? table('Recorded inputs the candidate fails on', ['Input', 'Recorded', 'Code', 'Error'],
        shadow.failures.map((f) => [f.input, time(f.recordedAt), f.code, f.error])) : null);
  }
  fill(el, parts);
}

