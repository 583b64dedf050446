// Workflows: each with its state; an operator pauses or resumes one with a
// reason; the step trace on demand.

import { get, post, seg } from './api.js';
import { h, fill, section, time, code, pill, errorBox, act, askReason, table, uid } from './ui.js';

const STATUS_KIND = { running: 'ok', paused: 'bad', completed: 'neutral' };

export async function render(ctx) {
  const workflows = await get('/api/workflows?limit=200');
  const operator = ctx.can('operator');
  const order = { paused: 0, running: 1, completed: 2 };
  workflows.sort((a, b) => (order[a.status] - order[b.status]) || (a.registeredAt < b.registeredAt ? 1 : -1));
  const counts = workflows.reduce((m, w) => ((m[w.status] = (m[w.status] || 0) + 1), m), {});
  return h('div', null,
    h('h1', null, 'Workflows'),
    h('p', null, `${workflows.length} workflow(s): ${counts.running || 0} running, ${counts.paused || 0} paused, ${counts.completed || 0} completed. A paused workflow's authorize calls are denied until it is resumed.`),
    section('Workflows', workflows.length
      ? h('div', { class: 'list' }, workflows.map((w) => workflow(ctx, w, operator)))
      : h('p', null, 'No workflow has been registered.')));
}

function workflow(ctx, w, operator) {
  const id = uid('w');
  const box = errorBox();
  const traceBody = h('div');
  const traceButton = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false', 'aria-label': `Step trace of ${w.id}` }, 'Step trace');
  traceButton.addEventListener('click', () => {
    if (traceButton.getAttribute('aria-expanded') === 'true') {
      traceButton.setAttribute('aria-expanded', 'false');
      traceBody.replaceChildren();
      return;
    }
    act(traceButton, box, async () => {
      const steps = await get(`/api/workflows/${seg(w.id)}/trace`);
      traceButton.setAttribute('aria-expanded', 'true');
      fill(traceBody, table(`Steps of ${w.id}`, ['#', 'Step', 'Status', 'At', 'Recorded by', 'Detail'],
        steps.map((s) => [String(s.seq), s.name, s.status, time(s.at), s.recordedBy, s.detail ? h('code', { class: 'detail' }, JSON.stringify(s.detail)) : '—']),
        { empty: 'No step recorded yet.' }));
    });
  });
  let action = null;
  if (operator && w.status === 'running') {
    action = h('button', { type: 'button', class: 'danger small', 'aria-label': `Pause workflow ${w.id}` }, 'Pause');
    action.addEventListener('click', () => askReason({
      title: `Pause workflow ${w.id}`,
      text: 'Its authorize calls are denied until it is resumed; it can still record steps but not complete.',
      confirmLabel: 'Confirm pause',
      danger: true,
      onConfirm: async (reason) => {
        await post(`/api/workflows/${seg(w.id)}/pause`, { reason });
        await ctx.refresh();
      },
    }));
  } else if (operator && w.status === 'paused') {
    action = h('button', { type: 'button', class: 'primary small', 'aria-label': `Resume workflow ${w.id}` }, 'Resume');
    action.addEventListener('click', () => askReason({
      title: `Resume workflow ${w.id}`,
      confirmLabel: 'Confirm resume of the workflow',
      onConfirm: async (reason) => {
        await post(`/api/workflows/${seg(w.id)}/resume`, { reason });
        await ctx.refresh();
      },
    }));
  }
  return h('article', { class: 'workflow', 'aria-labelledby': id },
    h('h3', { id }, code(w.id), ` ${w.name} `, pill(w.status, STATUS_KIND[w.status] || 'neutral')),
    h('p', null, `Agent ${w.agentId}; registered `, time(w.registeredAt), ` by ${w.registeredBy}; ${w.stepCount} step(s).`,
      w.completedAt ? [' Completed ', time(w.completedAt), '.'] : null),
    w.status === 'paused' ? h('p', { class: 'bad' }, `Paused by ${w.pausedBy || '?'} `, time(w.pausedAt), w.pauseReason ? [': ', h('q', null, w.pauseReason)] : null) : null,
    h('div', { class: 'actions' }, action, traceButton),
    box, traceBody);
}
