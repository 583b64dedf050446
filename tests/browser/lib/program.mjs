// A program that has earned its next phase, brought about through the API as
// tests/suite/governance_flow.rs does: a week of clean commands (all older
// than any breaker window), eval coverage, every attestation, and a fresh
// /metrics scrape by the monitoring system's own token.

import { ago } from './harness.mjs';

/** The config of a program adopted at L3+ `days` ago (only a proposal goes higher). */
export function adoptedAt(phase, days) {
  return `initial_phase = "${phase}"\nphase_started_at = "${ago(days * 86_400_000).replace(/\.\d+Z$/, 'Z')}"\n`;
}

export async function team(server) {
  return {
    reporter: await server.token('command-service', ['reporter']),
    operator: await server.token('oncall', ['operator']),
    viewer: await server.token('val (viewer)', ['viewer'], { kind: 'person' }),
    tech: await server.token('tess (tech lead)', ['tech_lead'], { kind: 'person' }),
    ops: await server.token('omar (ops lead)', ['ops_lead'], { kind: 'person' }),
    product: await server.token('pia (product lead)', ['product_lead'], { kind: 'person' }),
    exec: await server.token('eve (exec sponsor)', ['exec_sponsor'], { kind: 'person' }),
    scraper: await server.token('prometheus', ['scraper']),
  };
}

/** Every attestation the default checklist counts, by the role its params name. */
export const ATTESTATIONS = {
  tech: ['chaos_testing', 'architecture_docs', 'security_review', 'audit_trail', 'rollback_plan', 'team_consensus'],
  ops: ['kill_switch_tested', 'runbooks', 'incident_playbooks', 'escalation_path', 'oncall_trained', 'ops_approval'],
  product: ['product_approval'],
  exec: ['stakeholder_signoff'],
};

/** Commands, eval coverage, attestations (all but `skip`) and a scrape. */
export async function makeReady(server, t, { skip = [] } = {}) {
  const commands = Array.from({ length: 1000 }, (_, i) => ({
    id: `hist-${i}`,
    commandType: 'SET_POWER',
    status: i % 500 === 7 ? 'failed' : 'succeeded',
    requiredApproval: i % 10 === 0,
    autonomous: true,
    createdAt: ago(3_600_000 + i * 500_000),
  }));
  const accepted = await server.must('POST', '/api/commands', commands, t.reporter);
  if (accepted.accepted !== 1000) throw new Error(`commands not accepted: ${JSON.stringify(accepted)}`);
  await server.must('POST', '/api/gauges', { name: 'evalCoverage', value: 0.95 }, t.reporter);
  for (const [who, keys] of Object.entries(ATTESTATIONS)) {
    for (const key of keys) {
      if (skip.includes(key)) continue;
      await server.must('POST', '/api/attestations', { key }, t[who], 201);
    }
  }
  const scrape = await server.api('GET', '/metrics', undefined, t.scraper);
  if (scrape.status !== 200) throw new Error(`scrape answered ${scrape.status}`);
}
