// Agents: budgets, costs, breaker state with its reason; an operator trips
// a breaker or resets it with a new budget. The assignment history.

import { get, post, seg } from './api.js';
import { h, section, time, code, pill, errorBox, act, askReason, field, table, num, uid } from './ui.js';

export async function render(ctx) {
  const [agents, assignments] = await Promise.all([
    get('/api/agents'),
    get('/api/assignments?limit=100'),
  ]);
  const operator = ctx.can('operator');
  const tripped = agents.filter((a) => a.breaker.tripped).length;
  return h('div', null,
    h('h1', null, 'Agents'),
    h('p', null, `${agents.length} agent(s), ${tripped} with a tripped breaker. A tripped agent is denied at authorize and never assigned a task. Costs and budgets are in the units the agents report them in.`),
    section('Agents', agents.length
      ? h('div', { class: 'list' }, agents.map((a) => agent(ctx, a, operator)))
      : h('p', null, 'No agent is registered (POST /api/agents, admin).')),
    section('Assignment history (newest 100)', table('Task assignments',
      ['Task', 'Assigned', 'Agent', 'Score', 'Candidates', 'Excluded', 'Max cost', 'Matcher', 'Requested by'],
      assignments.map((s) => [code(s.taskId), time(s.assignedAt), s.agentId ? code(s.agentId) : pill('none', 'bad'),
        s.score === null || s.score === undefined ? '—' : num(s.score, 3),
        String(s.candidates.length),
        Object.entries(s.excludedCounts || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '0',
        `${num(s.maxCost)} per hour`, `${s.matcher}@${s.matcherVersion}`, s.requestedBy]),
      { empty: 'No task has been assigned yet.' })));
}

function agent(ctx, a, operator) {
  const id = uid('a');
  const b = a.breaker;
  const box = errorBox();
  let control = null;
  if (operator && b.tripped) {
    const budget = h('input', { type: 'number', min: '0', step: 'any', required: true, value: String(a.budget) });
    const button = h('button', { type: 'submit', class: 'primary' }, 'Reset breaker');
    control = h('form', { class: 'inline', 'aria-label': `Reset the breaker of ${a.id}` },
      field('New budget', budget), button);
    control.addEventListener('submit', (e) => {
      e.preventDefault();
      act(button, box, async () => {
        const value = Number(budget.value);
        if (!(value > 0)) throw new Error('The new budget must be greater than 0.');
        await post(`/api/agents/${seg(a.id)}/breaker/reset`, { newBudget: value });
        await ctx.refresh();
      });
    });
  } else if (operator) {
    control = h('button', { type: 'button', class: 'danger small', 'aria-label': `Trip the breaker of ${a.id}` }, 'Trip breaker');
    control.addEventListener('click', () => askReason({
      title: `Trip the breaker of ${a.id}`,
      text: 'The agent is denied at authorize and excluded from assignments until its breaker is reset.',
      confirmLabel: 'Confirm trip',
      danger: true,
      onConfirm: async (reason) => {
        await post(`/api/agents/${seg(a.id)}/breaker/trip`, { reason });
        await ctx.refresh();
      },
    }));
  }
  const spent = a.budget > 0 ? Math.min(100, Math.max(0, ((a.budget - a.budgetRemaining) / a.budget) * 100)) : 100;
  const meter = h('meter', { min: '0', max: String(a.budget), value: String(Math.max(0, a.budgetRemaining)), low: String(a.budget * 0.2), optimum: String(a.budget), 'aria-label': `Budget remaining of ${a.id}` });
  return h('article', { class: 'agent', 'aria-labelledby': id },
    h('h3', { id }, code(a.id), ' ', b.tripped ? pill('breaker tripped', 'bad') : pill('breaker closed', 'ok'), a.model ? h('span', { class: 'muted small' }, ` model ${a.model}`) : null),
    h('ul', { class: 'plain' },
      h('li', null, `Budget: ${num(a.budgetRemaining)} remaining of ${num(a.budget)} (${spent.toFixed(0)} % spent) `, meter),
      h('li', null, `Total cost: ${num(a.totalCost)}; cost ${num(a.costPerHour)} per hour; reputation ${num(a.reputation, 2)} (0 to 1)`),
      h('li', null, 'Capabilities: ', a.capabilities.map((c) => [code(c), ' '])),
      h('li', null, `Failures since the last reset: ${b.failures}`),
      b.tripped ? h('li', { class: 'bad' }, `Tripped `, time(b.trippedAt), ` by ${b.trippedBy || 'the breaker'}: ${b.reason || '?'}`) : null,
      h('li', { class: 'muted' }, 'Registered ', time(a.registeredAt))),
    control, box);
}
