// Overview: the phase and days at it, the whitelist, readiness and its
// blockers, what holds the program back (breaker events, paused workflows,
// tripped agents), the scopes with their grants and stops, and how many
// decisions are being made. Updated live from the control stream, and
// every 15 s.

import { get, post, put, seg } from './api.js';
import { h, fill, section, time, utc, code, pill, plural, errorBox, pct, num, askReason, field } from './ui.js';

const WINDOW_S = 60;
/** Decisions read: at a high rate, the rate is taken over the span they cover. */
const DECISIONS = 200;

async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

async function readiness() {
  try {
    return await get('/api/readiness/latest');
  } catch (e) {
    if (e.status === 404) return get('/api/readiness/current');
    throw e;
  }
}

function load() {
  return Promise.all([
    settle(get('/api/governance/state')),
    settle(readiness()),
    settle(get('/api/circuit-breaker/events/unresolved')),
    settle(get('/api/workflows?status=paused&limit=100')),
    settle(get('/api/agents/breakers')),
    settle(get(`/api/decisions?limit=${DECISIONS}`)),
    settle(get('/api/governance/proposals')),
    settle(get('/api/scopes')),
    settle(get('/api/budgets/overview')),
  ]);
}

function daysSince(ts) {
  return Math.max(0, Math.floor((Date.now() - new Date(ts).getTime()) / 86400000));
}

export async function render(ctx) {
  const errors = errorBox();
  const phaseValue = h('div', { class: 'phase-value', role: 'group', 'aria-label': 'Current phase' }, '…');
  const phaseBody = h('div', { class: 'phase-body' });
  const whitelistBody = h('div');
  const readinessBody = h('div');
  const holdsBody = h('div');
  const decisionsBody = h('div');
  const proposalsBody = h('div');
  const budgetsBody = h('div');
  const scopesBody = h('div');
  const scopesForm = ctx.can('operator') ? newScopeForm() : null;
  const updated = h('p', { class: 'muted small' });

  const node = h('div', { class: 'overview', 'data-ready': 'false' },
    h('h1', null, 'Overview'),
    updated,
    errors,
    h('div', { class: 'grid' },
      section('Phase', h('div', { class: 'phase-row' }, phaseValue, phaseBody)),
      section('Readiness', readinessBody),
      section('Pending proposals', proposalsBody),
      section('Decisions', decisionsBody),
      section('Whitelist', whitelistBody),
      section('Holding autonomy back', holdsBody),
      section('Scopes', scopesBody, scopesForm),
      section('Budgets and throttles', budgetsBody)));

  let state = null;

  function showPhase(phase, startedAt, minDays) {
    phaseValue.textContent = phase;
    const days = daysSince(startedAt);
    fill(phaseBody,
      h('p', { class: 'days' }, h('strong', null, plural(days, 'day')), ` at ${phase}`),
      h('p', null, 'since ', time(startedAt, { relative: false })),
      minDays !== undefined && minDays !== null
        ? h('p', { class: 'muted' }, `Stabilization before the next expansion: at least ${plural(minDays, 'day')} at this phase.`)
        : null);
  }

  function show(results) {
    const [st, rd, unresolved, paused, tripped, decisions, proposals, scopes, budgets] = results;
    const failed = results.filter((r) => !r.ok);
    if (failed.length) errors.show(failed.map((r) => (r.error.describe ? r.error.describe() : String(r.error))).join(' · '));
    else errors.clear();

    if (st.ok) {
      state = st.value;
      showPhase(state.phase, state.phaseStartedAt, state.minStabilizationDays);
      fill(whitelistBody,
        state.whitelist.length
          ? h('ul', { class: 'chips', 'aria-label': 'Whitelisted command types' }, state.whitelist.map((c) => h('li', null, code(c))))
          : h('p', null, 'Nothing is whitelisted: every command needs a human approval.'),
        state.pausedCommandTypes.length
          ? h('p', null, 'Paused by a breaker: ', state.pausedCommandTypes.map((c) => [code(c), ' ']))
          : h('p', { class: 'muted' }, 'No command type is paused by a breaker.'),
        h('p', { class: 'muted small' }, 'Last weekly report: ', state.lastReportAt ? time(state.lastReportAt) : 'none yet'));
    }

    if (rd.ok) {
      const r = rd.value;
      const o = r.overall;
      const kind = o.status === 'ready' ? 'ok' : o.status === 'almost_ready' ? 'warn' : 'bad';
      fill(readinessBody,
        h('p', { class: 'score' }, h('strong', null, `${o.score} / ${o.maxScore} points`), ` (${pct(o.percentage)}) `, pill(o.status.replace('_', ' '), kind)),
        h('p', { class: 'muted small' }, `Assessed at ${utc(r.assessedAt)} for ${r.phase}; ready needs ≥ 95 % and no failed required item.`),
        o.blockers.length
          ? [h('h3', null, `Blockers (${o.blockers.length} required item${o.blockers.length === 1 ? '' : 's'} failing)`),
            h('ul', null, o.blockers.map((b) => h('li', null, b)))]
          : h('p', null, 'No required item is failing.'),
        h('p', null, h('a', { href: '#/readiness' }, 'Every item on the Readiness page')));
    }

    const holds = [];
    if (unresolved.ok) {
      const ev = unresolved.value;
      holds.push(h('h3', null, `Unresolved breaker events: ${ev.length}`));
      if (ev.length) {
        holds.push(h('ul', null, ev.map((e) => h('li', null, h('strong', null, e.ruleName), ` (${e.action.replaceAll('_', ' ')}), since `, time(e.triggeredAt), `: ${e.checkError ? `check failed: ${e.checkError}` : e.reason}`))));
      }
    }
    if (paused.ok) {
      const wf = paused.value;
      holds.push(h('h3', null, `Paused workflows: ${wf.length}`));
      if (wf.length) {
        holds.push(h('ul', null, wf.map((w) => h('li', null, code(w.id), ` (${w.name}, agent ${w.agentId}) paused by ${w.pausedBy || '?'} `, time(w.pausedAt), w.pauseReason ? `: ${w.pauseReason}` : ''))));
      }
    }
    if (tripped.ok) {
      const ag = tripped.value;
      holds.push(h('h3', null, `Tripped agents: ${ag.length}`));
      if (ag.length) {
        holds.push(h('ul', null, ag.map((a) => h('li', null, code(a.agentId), ` tripped `, time(a.trippedAt), ` by ${a.trippedBy || 'the breaker'}: ${a.reason || '?'} (budget left ${num(a.budgetRemaining)}, failures ${a.failures})`))));
      }
    }
    fill(holdsBody, holds);

    if (decisions.ok) {
      const now = Date.now();
      const list = decisions.value;
      let recent = list.filter((d) => now - new Date(d.at).getTime() <= WINDOW_S * 1000);
      let span = WINDOW_S;
      if (list.length === DECISIONS && recent.length === list.length) {
        // Busy: the newest decisions cover less than the window.
        span = Math.max(0.001, (now - new Date(list[list.length - 1].at).getTime()) / 1000);
        recent = list;
      }
      const by = { autonomous: 0, requires_approval: 0, denied: 0, throttled: 0 };
      for (const d of recent) by[d.decision] = (by[d.decision] || 0) + 1;
      const spanText = span === WINDOW_S ? `${WINDOW_S} s` : `${span.toFixed(1)} s (the newest ${DECISIONS})`;
      fill(decisionsBody,
        h('p', { class: 'score' }, h('strong', null, `${(recent.length / span).toFixed(2)} decisions/s`), ` over the last ${spanText}, to ${utc(new Date(now).toISOString())}`),
        h('ul', null,
          h('li', null, `autonomous: ${by.autonomous}`),
          h('li', null, `requires approval: ${by.requires_approval}`),
          h('li', null, `denied: ${by.denied}`),
          h('li', null, `throttled: ${by.throttled}`)),
        list.length
          ? h('p', { class: 'muted small' }, 'Latest decision: ', time(list[0].at), ` (${list[0].commandType} → ${list[0].decision})`)
          : h('p', { class: 'muted small' }, 'No authorize call has been logged yet.'));
    }

    if (budgets.ok) showBudgets(budgets.value);

    if (proposals.ok) {
      const ps = proposals.value;
      fill(proposalsBody, ps.length
        ? h('ul', null, ps.map((p) => h('li', null,
          h('a', { href: '#/proposals' }, `#${p.id}: ${p.fromPhase} → ${p.targetPhase}`),
          `, ${p.approvals.length} of ${p.requiredApprovals.length} approvals, created `, time(p.createdAt))))
        : h('p', null, 'No proposal is awaiting approval.'));
    }
    if (scopes.ok) showScopes(scopes.value);
    updated.textContent = `Data as of ${utc(new Date().toISOString())}.`;
  }

  function showBudgets(b) {
    const use = (used, limit) => {
      const kind = used >= limit ? 'bad' : used * 5 >= limit * 4 ? 'warn' : 'ok';
      return pill(`${used} / ${limit}`, kind);
    };
    const rows = [];
    rows.push(h('h3', null, `Throttles in force: ${b.throttles.length}`));
    if (b.throttles.length) {
      rows.push(h('ul', { 'aria-label': 'Throttles' }, b.throttles.map((t) => h('li', null,
        h('strong', null, t.ruleName), ` (event ${t.eventId}): ${t.limit} per ${t.per} for `,
        t.commandType ? code(t.commandType) : 'all commands', ' ', use(t.used, t.limit),
        t.resetsAt ? [' resets ', time(t.resetsAt)] : ''))));
    }
    rows.push(h('h3', null, `Rate budgets: ${b.rates.length}`));
    if (b.rates.length) {
      rows.push(h('ul', { 'aria-label': 'Rate budgets' }, b.rates.map((r) => h('li', null,
        h('strong', null, r.name), ` (${r.key}, ${r.limit} per ${r.window}) `, use(r.used, r.limit),
        r.refillsAt && r.used >= r.limit ? [' refills ', time(r.refillsAt)] : ''))));
    }
    rows.push(h('h3', null, `Concurrency budgets: ${b.concurrency.length}`));
    if (b.concurrency.length) {
      rows.push(h('ul', { 'aria-label': 'Concurrency budgets' }, b.concurrency.map((c) => h('li', null,
        h('strong', null, c.name), ` (${c.key}, leases of ${c.leaseTtl}) in flight `, use(c.inFlight, c.limit)))));
    }
    if (b.batches.length) {
      rows.push(h('h3', null, `Batch limits: ${b.batches.length}`));
      rows.push(h('ul', { 'aria-label': 'Batch limits' }, b.batches.map((l) => h('li', null,
        code(l.commandType), ': ',
        [l.maxBatch ? `at most ${l.maxBatch} per batch` : null, l.maxPayloadBytes ? `at most ${num(l.maxPayloadBytes)} bytes` : null]
          .filter(Boolean).join(', ')))));
    }
    fill(budgetsBody, rows);
  }

  /** Reloads everything at once after an operator's change. */
  async function reload() {
    show(await load());
  }

  // Each scope with its grant and its stop; an operator revokes or grants,
  // stops or resumes it, each with a reason (kept in the audit log).
  function showScopes(list) {
    const operator = ctx.can('operator');
    fill(scopesBody,
      h('p', { class: 'muted small' }, 'A scope not listed has no brake of its own: its autonomy follows the phase. The emergency stop holds every scope.'),
      list.length
        ? h('ul', { class: 'scopes', 'aria-label': 'Scopes' }, list.map((s) => h('li', { class: 'scope' },
          code(s.scope), ' ',
          s.autonomous ? pill('autonomy granted', 'ok') : pill('autonomy revoked', 'bad'), ' ',
          s.stopped ? pill('stopped', 'bad') : null,
          s.autonomyBy
            ? h('p', { class: 'small' }, `${s.autonomous ? 'Granted' : 'Revoked'} by ${s.autonomyBy} `, time(s.autonomyAt), s.autonomyReason ? [': ', h('q', null, s.autonomyReason)] : null)
            : null,
          s.stopped
            ? h('p', { class: 'small bad' }, `Stopped by ${s.stoppedBy || '?'} `, time(s.stoppedAt), s.stopReason ? [': ', h('q', null, s.stopReason)] : null)
            : null,
          operator ? h('div', { class: 'actions' }, autonomyButton(s.scope, !s.autonomous), stopButton(s.scope, s.stopped)) : null)))
        : h('p', null, 'No scope is configured.'));
  }

  function autonomyButton(scope, grant) {
    const button = h('button', { type: 'button', class: grant ? 'primary small' : 'danger small', 'aria-label': `${grant ? 'Grant' : 'Revoke'} autonomy for ${scope}` }, grant ? 'Grant' : 'Revoke');
    button.addEventListener('click', () => askAutonomy(scope, grant));
    return button;
  }

  function askAutonomy(scope, grant) {
    askReason({
      title: `${grant ? 'Grant' : 'Revoke'} autonomy for ${scope}`,
      text: grant
        ? 'Authorize calls in this scope follow the phase again from the next call on.'
        : 'Every authorize call in this scope that would run autonomously is denied from the next call on, on every replica; the other scopes go on.',
      confirmLabel: grant ? 'Confirm grant' : 'Confirm revoke',
      danger: !grant,
      onConfirm: async (reason) => {
        await put(`/api/scopes/${seg(scope)}`, { autonomous: grant, reason });
        await reload();
      },
    });
  }

  function stopButton(scope, stopped) {
    const button = h('button', { type: 'button', class: stopped ? 'primary small' : 'danger small', 'aria-label': `${stopped ? 'Resume' : 'Stop'} scope ${scope}` }, stopped ? 'Resume' : 'Stop');
    button.addEventListener('click', () => askStop(scope, !stopped));
    return button;
  }

  function askStop(scope, stop) {
    askReason({
      title: `${stop ? 'Stop' : 'Resume'} scope ${scope}`,
      text: stop
        ? 'Every authorize call in this scope is denied from the next call on, on every replica, until someone resumes it.'
        : 'Authorize calls in this scope are answered normally again from the next call on.',
      confirmLabel: stop ? 'Confirm scope stop' : 'Confirm scope resume',
      danger: stop,
      onConfirm: async (reason) => {
        await post(`/api/scopes/${seg(scope)}/${stop ? 'stop' : 'resume'}`, { reason });
        await reload();
      },
    });
  }

  // A scope nobody configured yet is braked by naming it here.
  function newScopeForm() {
    const name = h('input', { type: 'text', maxlength: '128', autocomplete: 'off' });
    const box = errorBox();
    const revoke = h('button', { type: 'button', class: 'danger small' }, 'Revoke autonomy');
    const stop = h('button', { type: 'button', class: 'danger small' }, 'Stop scope');
    const named = (then) => () => {
      const scope = name.value.trim();
      if (!scope) {
        box.show('Name the scope first, e.g. portal:carrier.');
        name.focus();
        return;
      }
      box.clear();
      then(scope);
    };
    revoke.addEventListener('click', named((scope) => askAutonomy(scope, false)));
    stop.addEventListener('click', named((scope) => askStop(scope, true)));
    return h('div', { class: 'new-scope', role: 'group', 'aria-label': 'Brake another scope' },
      h('h3', null, 'Brake another scope'),
      field('Scope', name, 'As authorize requests name it, e.g. portal:carrier.'),
      box,
      h('div', { class: 'actions' }, revoke, stop));
  }

  show(await load());
  node.dataset.ready = 'true';
  if (!window.__overviewShown) {
    window.__overviewShown = true;
    performance.mark('regent:overview-data-shown');
  }

  let pending = null;
  let inFlight = false;
  const refresh = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      if (inFlight || !node.isConnected) return;
      inFlight = true;
      try {
        show(await load());
      } finally {
        inFlight = false;
      }
    }, 250);
  };
  ctx.onControl((control) => {
    if (control.phase) {
      showPhase(control.phase, control.phaseStartedAt || (state && state.phaseStartedAt),
        control.phase === (state && state.phase) ? state.minStabilizationDays : null);
    }
    refresh();
  });
  const timer = setInterval(refresh, 15000);
  return { node, cleanup: () => { clearInterval(timer); if (pending) clearTimeout(pending); } };
}
