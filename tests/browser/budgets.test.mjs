// Budgets and throttles on the overview: a rate budget's use against its
// limit, a concurrency budget's leases in flight, a batch limit, and a
// throttle from a tripped latency SLO, each as the API reports it; the
// throttled decisions are counted, and resolving the event clears the
// throttle from an open overview.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, launchBrowser, newPage, signIn, assertNoPageProblems } from './lib/harness.mjs';

describe('budgets and throttles on the overview', () => {
  let server;
  let browser;
  let operator;
  let reporter;

  before(async () => {
    // L5: SET_POWER is whitelisted, so it runs autonomously unless braked.
    server = await startServer({ name: 'budgets', config: 'initial_phase = "L5"\nphase_started_at = "2026-01-01T00:00:00Z"\n' });
    browser = await launchBrowser();
    operator = await server.token('olga (on call)', ['operator'], { kind: 'person' });
    reporter = await server.token('fleet-bot', ['reporter']);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const authorize = () => server.must('POST', '/api/authorize', { commandType: 'SET_POWER' }, reporter);

  it('shows each budget in use and a throttle until its event is resolved', async () => {
    await server.must('PUT', '/api/budgets/rates/power', { key: 'command:SET_POWER', limit: 2, window: '1h' }, operator);
    await server.must('PUT', '/api/budgets/concurrency/fleet', { key: 'all', limit: 5, leaseTtl: '10m' }, operator);
    await server.must('PUT', '/api/budgets/batches/REPLAY_DLQ', { maxBatch: 50 }, operator);
    for (let i = 0; i < 3; i += 1) await authorize();

    // A latency SLO that throttles, tripped by slow commands.
    await server.must('POST', '/api/circuit-breaker/rules', {
      name: 'p95 over 2.5s', enabled: true, condition: 'p95DurationMs > 2500', window: '5m',
      action: 'throttle', alertSeverity: 'high', throttle: { limit: 1, per: '1m', commandType: 'SET_FAN' },
    }, operator);
    const slow = Array.from({ length: 5 }, (_, i) => ({
      id: `slow-${i}`, commandType: 'SET_FAN', status: 'succeeded', requiredApproval: false, autonomous: true, durationMs: 4000,
    }));
    await server.must('POST', '/api/commands', slow, reporter);
    const [event] = await server.must('POST', '/api/circuit-breaker/check', {}, operator);
    assert.equal(event.action, 'throttle');
    const fan = () => server.must('POST', '/api/authorize', { commandType: 'SET_FAN' }, reporter);
    assert.equal((await fan()).decision, 'autonomous');
    assert.equal((await fan()).decision, 'throttled');

    const { page } = await newPage(browser);
    await signIn(page, server, operator);
    const section = page.getByRole('region', { name: 'Budgets and throttles' });
    const rates = section.getByRole('list', { name: 'Rate budgets' });
    await rates.getByRole('listitem').filter({ hasText: 'power' }).getByText('2 / 2').waitFor();
    // Two SET_POWER and one SET_FAN hold leases; the denied third SET_POWER
    // and the throttled SET_FAN took none.
    await section.getByRole('list', { name: 'Concurrency budgets' }).getByText('3 / 5').waitFor();
    await section.getByRole('list', { name: 'Batch limits' }).getByText('at most 50 per batch').waitFor();
    const throttles = section.getByRole('list', { name: 'Throttles' });
    const throttle = throttles.getByRole('listitem').filter({ hasText: 'p95 over 2.5s' });
    await throttle.getByText('1 / 1').waitFor();
    assert.match(await throttle.innerText(), /1 per 1m for SET_FAN/);
    await page.getByRole('region', { name: 'Decisions' }).getByText('throttled: 1').waitFor();

    // Resolved through the API: the open overview drops the throttle.
    await server.must('POST', `/api/circuit-breaker/events/${event.id}/resolve`, { resolution: 'disk replaced' }, operator);
    await section.getByText('Throttles in force: 0').waitFor({ timeout: 5000 });
    assert.equal((await fan()).decision, 'autonomous');
    assertNoPageProblems(page, assert);
  });
});
