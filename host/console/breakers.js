// Breakers: the rules (enable, disable, edit condition, window, action;
// an invalid condition is refused inline with the plugin's message) and the
// events (resolve with a note).

import { get, post, patch, seg } from './api.js';
import { h, section, time, code, pill, errorBox, noteBox, act, field, table, num, utc, uid } from './ui.js';

const ACTIONS = ['revert_to_l3', 'pause_command_type', 'alert_only'];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];

export async function render(ctx) {
  const [rules, events] = await Promise.all([
    get('/api/circuit-breaker/rules'),
    get('/api/circuit-breaker/events?limit=100'),
  ]);
  const operator = ctx.can('operator');
  const unresolved = events.filter((e) => !e.resolvedAt);
  const resolved = events.filter((e) => e.resolvedAt);
  return h('div', null,
    h('h1', null, 'Breakers'),
    section(`Rules (${rules.length})`,
      h('p', { class: 'muted' }, 'Each enabled rule is checked over its window in the background; a condition is validated by its plugin before it is saved.'),
      operator ? checkNow(ctx) : null,
      h('div', { class: 'rules' }, rules.map((r) => (operator ? ruleForm(ctx, r) : ruleView(r))))),
    section(`Unresolved events (${unresolved.length})`,
      unresolved.length ? unresolved.map((e) => eventCard(ctx, e, operator)) : h('p', null, 'No breaker event is unresolved.')),
    section('Resolved events (newest 100 events)',
      table('Resolved breaker events', ['Rule', 'Triggered', 'Observed', 'Action', 'Resolved', 'By', 'Note'],
        resolved.map((e) => [e.ruleName, time(e.triggeredAt), num(e.observedValue, 4), e.action, time(e.resolvedAt), e.resolvedBy || '—', e.resolution || '—']),
        { empty: 'None.' })));
}

function checkNow(ctx) {
  const box = errorBox();
  const note = noteBox();
  const button = h('button', { type: 'button', class: 'secondary' }, 'Check every rule now');
  button.addEventListener('click', () => act(button, box, async () => {
    const created = await post('/api/circuit-breaker/check', {});
    note.say(`Checked at ${utc(new Date().toISOString())}: ${created.length} new event(s).`);
    if (created.length) await ctx.refresh();
  }));
  return h('div', { class: 'actions' }, button, box, note);
}

function ruleView(r) {
  const id = uid('r');
  return h('article', { class: 'rule', 'aria-labelledby': id },
    h('h3', { id }, r.name, ' ', r.enabled ? pill('enabled', 'ok') : pill('disabled', 'neutral')),
    h('p', null, code(r.condition), ` over ${r.window} → ${r.action.replaceAll('_', ' ')} (${r.alertSeverity}), plugin ${r.plugin}`));
}

function ruleForm(ctx, r) {
  const enabled = h('input', { type: 'checkbox', checked: r.enabled });
  const condition = h('input', { type: 'text', value: r.condition, required: true, spellcheck: 'false', class: 'mono' });
  const windowInput = h('input', { type: 'text', value: r.window, required: true, pattern: '[0-9]+[smhd]', size: '6', class: 'mono' });
  const action = h('select', null, ACTIONS.map((a) => h('option', { value: a, selected: a === r.action ? true : null }, a)));
  const severity = h('select', null, SEVERITIES.map((s) => h('option', { value: s, selected: s === r.alertSeverity ? true : null }, s)));
  action.value = r.action;
  severity.value = r.alertSeverity;
  const box = errorBox();
  const note = noteBox();
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save rule');
  const enabledId = uid('en');
  enabled.id = enabledId;
  const form = h('form', { class: 'rule', 'aria-label': r.name, novalidate: true },
    h('h3', null, r.name, ' ', h('span', { class: 'muted small' }, `plugin ${r.plugin}`)),
    h('div', { class: 'check' }, enabled, h('label', { for: enabledId }, 'Enabled')),
    h('div', { class: 'row' },
      field('Condition', condition, 'e.g. errorRate > 0.05, failures >= 3, criticalIncidents > 0'),
      field('Window', windowInput, '30s, 5m, 1h, 7d (at most 30d)'),
      field('Action', action),
      field('Alert severity', severity)),
    box, note,
    h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    note.say('');
    act(save, box, async () => {
      const updated = await patch(`/api/circuit-breaker/rules/${seg(r.name)}`, {
        enabled: enabled.checked,
        condition: condition.value,
        window: windowInput.value.trim(),
        action: action.value,
        alertSeverity: severity.value,
      });
      Object.assign(r, updated);
      note.say(`Saved at ${utc(new Date().toISOString())}: ${updated.enabled ? 'enabled' : 'disabled'}, ${updated.condition} over ${updated.window}, ${updated.action}.`);
    });
  });
  return form;
}

function eventCard(ctx, e, operator) {
  const id = uid('e');
  const parts = [
    h('h3', { id }, `${e.ruleName} `, pill(e.alertSeverity, e.alertSeverity === 'critical' || e.alertSeverity === 'high' ? 'bad' : 'warn'), ' ', e.checkError ? pill('check failed', 'bad') : null),
    h('p', null, 'Triggered ', time(e.triggeredAt), `; action ${e.action.replaceAll('_', ' ')}; observed ${num(e.observedValue, 4)}; condition `, code(e.condition), ` over ${e.window}; decided by `, code(`${e.plugin}@${e.pluginVersion}`), '.'),
    h('p', null, e.checkError ? `The rule could not be checked: ${e.checkError}` : e.reason),
    e.pausedCommandTypes && e.pausedCommandTypes.length ? h('p', null, 'Paused until resolved: ', e.pausedCommandTypes.map((c) => [code(c), ' '])) : null,
  ];
  if (operator) {
    const note = h('input', { type: 'text', 'aria-required': 'true', maxlength: '1000' });
    const box = errorBox();
    const button = h('button', { type: 'submit', class: 'primary' }, 'Resolve');
    const form = h('form', { 'aria-label': `Resolve event ${e.id} (${e.ruleName})` },
      field('Resolution note', note), box, h('div', { class: 'actions' }, button));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!note.value.trim()) {
        box.show('A resolution needs a note.');
        note.focus();
        return;
      }
      act(button, box, async () => {
        await post(`/api/circuit-breaker/events/${e.id}/resolve`, { resolution: note.value.trim() });
        await ctx.refresh();
      });
    });
    parts.push(form);
  }
  return h('article', { class: 'event', 'aria-labelledby': id }, parts);
}

