// Proposals: pending and past, with who approved and when; approve or
// reject in the roles the signed-in person holds. An operator can run the
// weekly cycle from here.

import { get, post } from './api.js';
import { h, section, time, code, pill, errorBox, noteBox, act, field, facts, plural, uid } from './ui.js';

const STATUS_KIND = { pending: 'warn', approved: 'ok', rejected: 'bad', cancelled: 'neutral' };

export async function render(ctx) {
  const proposals = await get('/api/governance/proposals?status=all');
  const pending = proposals.filter((p) => p.status === 'pending');
  const past = proposals.filter((p) => p.status !== 'pending');
  return h('div', null,
    h('h1', null, 'Proposals'),
    ctx.can('operator') ? cycleControl(ctx) : null,
    section(`Pending (${pending.length})`,
      pending.length ? pending.map((p) => proposal(ctx, p)) : h('p', null, 'No proposal is awaiting approval. The weekly cycle proposes an expansion when readiness is ready, no breaker event is unresolved and the stabilization period is met.')),
    section(`Past (${past.length})`,
      past.length ? past.map((p) => proposal(ctx, p)) : h('p', { class: 'muted' }, 'None yet.')));
}

function cycleControl(ctx) {
  const box = errorBox();
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'secondary' }, 'Run the weekly cycle now');
  button.addEventListener('click', () => act(button, box, async () => {
    const report = await post('/api/governance/run-cycle', {});
    const d = report.decision;
    out.replaceChildren(h('p', null,
      d.proposalCreated ? `Report #${report.id}: proposal #${d.proposalId} created.` : `Report #${report.id}: no proposal.`),
    d.reasons.length ? h('ul', null, d.reasons.map((r) => h('li', null, r))) : null);
    if (d.proposalCreated) await ctx.refresh();
  }));
  return section('Weekly cycle', h('p', null, 'Stores a 7-day metrics snapshot, assesses readiness, checks the breakers and decides whether to propose an expansion.'), button, box, out);
}

function proposal(ctx, p) {
  const titleId = uid('p');
  const approvedRoles = new Set(p.approvals.map((a) => a.role));
  const heldRequired = ctx.approverRoles().filter((r) => p.requiredApprovals.includes(r));
  const risk = p.riskAssessment;
  const riskKind = risk.level === 'low' ? 'ok' : risk.level === 'medium' ? 'warn' : 'bad';
  return h('article', { class: 'proposal', 'aria-labelledby': titleId },
    h('h3', { id: titleId }, `Proposal #${p.id}: ${p.fromPhase} → ${p.targetPhase} `, pill(p.status, STATUS_KIND[p.status] || 'neutral')),
    facts([
      ['Created', time(p.createdAt)],
      p.decidedAt ? ['Decided', time(p.decidedAt)] : null,
      ['Commands to whitelist', p.commandsToWhitelist.length ? p.commandsToWhitelist.map((c) => [code(c), ' ']) : 'none'],
      ['Validation period', plural(p.validationPeriodDays, 'day')],
      ['Risk', h('span', null, pill(risk.level, riskKind), ` score ${risk.score} / 100`,
        risk.scorer ? h('span', { class: 'muted' }, ` (scored by ${risk.scorer}@${risk.scorerVersion})`) : null)],
      risk.factors.length ? ['Risk factors', h('ul', { class: 'plain' }, risk.factors.map((f) => h('li', null, f)))] : null,
      risk.mitigations.length ? ['Mitigations', h('ul', { class: 'plain' }, risk.mitigations.map((f) => h('li', null, f)))] : null,
      ['Key achievements', p.keyAchievements.length ? h('ul', { class: 'plain' }, p.keyAchievements.map((a) => h('li', null, a))) : 'none'],
      ['Approvals', h('ul', { class: 'plain approvals' }, p.requiredApprovals.map((role) => {
        const a = p.approvals.find((x) => x.role === role);
        return h('li', null, code(role), ': ', a
          ? [pill('approved', 'ok'), ` by ${a.by} `, time(a.at), a.comment ? [' — ', h('q', null, a.comment)] : null]
          : pill('awaiting', 'warn'));
      }))],
      p.rejection ? ['Rejected', h('span', null, `by ${p.rejection.by} as ${p.rejection.role} `, time(p.rejection.at), ': ', h('q', null, p.rejection.reason))] : null,
    ]),
    p.status === 'pending' && heldRequired.length ? decide(ctx, p, heldRequired, approvedRoles) : null);
}

function decide(ctx, p, roles, approvedRoles) {
  const box = errorBox();
  const note = noteBox();
  const comment = h('input', { type: 'text', maxlength: '1000' });
  const approveButtons = roles.filter((r) => !approvedRoles.has(r)).map((role) => {
    const b = h('button', { type: 'button', class: 'primary' }, `Approve as ${role}`);
    b.addEventListener('click', () => act(b, box, async () => {
      const body = { role };
      if (comment.value.trim()) body.comment = comment.value.trim();
      const updated = await post(`/api/governance/proposals/${p.id}/approve`, body);
      note.say(updated.status === 'approved'
        ? `Approved as ${role}: that was the last approval, the phase is now ${updated.targetPhase}.`
        : `Approved as ${role}.`);
      await ctx.refresh();
    }));
    return b;
  });
  // Reject: a reason is required, and the role it is given in.
  const reason = h('textarea', { rows: '2', maxlength: '1000' });
  const roleSelect = roles.length > 1 ? h('select', null, roles.map((r) => h('option', { value: r }, r))) : null;
  const confirmReject = h('button', { type: 'submit', class: 'danger' }, 'Confirm rejection');
  const rejectForm = h('form', { class: 'reject', hidden: true, 'aria-label': `Reject proposal ${p.id}` },
    field('Reason for rejecting', reason), roleSelect ? field('Reject as', roleSelect) : null,
    h('div', { class: 'actions' }, confirmReject));
  const reject = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false' }, 'Reject');
  reject.addEventListener('click', () => {
    rejectForm.hidden = !rejectForm.hidden;
    reject.setAttribute('aria-expanded', String(!rejectForm.hidden));
    if (!rejectForm.hidden) reason.focus();
  });
  rejectForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      box.show('A rejection needs a reason.');
      reason.focus();
      return;
    }
    act(confirmReject, box, async () => {
      await post(`/api/governance/proposals/${p.id}/reject`, { role: roleSelect ? roleSelect.value : roles[0], reason: reason.value.trim() });
      await ctx.refresh();
    });
  });
  return h('div', { class: 'decide' },
    approveButtons.length ? field('Comment (optional, kept with your approval)', comment) : null,
    h('div', { class: 'actions' }, approveButtons, reject),
    rejectForm, box, note);
}
