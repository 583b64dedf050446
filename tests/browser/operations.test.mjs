// An operator's other brakes from the console: pausing and resuming a
// workflow with a reason (its authorize calls are denied meanwhile), and
// resetting a tripped agent's breaker with a new budget; a breaker event
// resolved with a note.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, launchBrowser, newPage, signIn, openPage, assertNoPageProblems } from './lib/harness.mjs';

describe("an operator's brakes", () => {
  let server;
  let browser;
  let operator;
  let reporter;

  before(async () => {
    server = await startServer({ name: 'operations' });
    browser = await launchBrowser();
    operator = await server.token('olga (on call)', ['operator'], { kind: 'person' });
    reporter = await server.token('planner', ['reporter']);
    await server.must('POST', '/api/agents', {
      id: 'planner-1', capabilities: ['roast:plan'], costPerHour: 3, reputation: 0.9, budget: 100,
    }, server.admin, 201);
    await server.must('POST', '/api/workflows', { id: 'batch-7', name: 'Roast batch 7', agentId: 'planner-1' }, reporter, 201);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const authorize = () => server.must('POST', '/api/authorize', { commandType: 'SET_POWER', workflowId: 'batch-7' }, reporter);

  it('pauses a workflow with a reason, and resumes it', async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await openPage(page, 'Workflows');
    await page.getByRole('button', { name: 'Pause workflow batch-7' }).click();
    const dialog = page.getByRole('dialog', { name: 'Pause workflow batch-7' });
    await dialog.getByRole('textbox', { name: 'Reason' }).fill('drum overheating');
    await dialog.getByRole('button', { name: 'Confirm pause' }).click();
    await page.getByText(/Paused by olga \(on call\).*drum overheating/).waitFor();

    const wf = await server.must('GET', '/api/workflows/batch-7');
    assert.deepEqual([wf.status, wf.pausedBy, wf.pauseReason], ['paused', 'olga (on call)', 'drum overheating']);
    assert.equal((await authorize()).decision, 'denied');

    await page.getByRole('button', { name: 'Resume workflow batch-7' }).click();
    const resume = page.getByRole('dialog', { name: 'Resume workflow batch-7' });
    await resume.getByRole('textbox', { name: 'Reason' }).fill('drum cooled');
    await resume.getByRole('button', { name: /Confirm resume/ }).click();
    await page.getByRole('button', { name: 'Pause workflow batch-7' }).waitFor();
    assert.equal((await server.must('GET', '/api/workflows/batch-7')).status, 'running');
    assert.notEqual((await authorize()).decision, 'denied');
    assertNoPageProblems(page, assert);
    await context.close();
  });

  it("resets a tripped agent's breaker with a new budget", async () => {
    await server.must('POST', '/api/agents/planner-1/breaker/trip', { reason: 'runaway spending' }, operator);
    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await openPage(page, 'Agents');
    const agent = page.getByRole('article', { name: /planner-1/ });
    await agent.getByText(/runaway spending/).waitFor();
    const form = agent.getByRole('form', { name: 'Reset the breaker of planner-1' });
    await form.getByRole('spinbutton', { name: 'New budget' }).fill('250');
    await form.getByRole('button', { name: 'Reset breaker' }).click();
    await page.getByRole('article', { name: /planner-1/ }).getByText('breaker closed').waitFor();
    const a = await server.must('GET', '/api/agents/planner-1');
    assert.equal(a.breaker.tripped, false);
    assert.equal(a.budget, 250);
    assertNoPageProblems(page, assert);
    await context.close();
  });

  it('resolves a breaker event with a note', async () => {
    await server.must('POST', '/api/circuit-breaker/rules', {
      name: 'Any Failure', enabled: true, condition: 'failures >= 1', window: '1h', action: 'alert_only', alertSeverity: 'medium',
    }, operator, 201);
    await server.must('POST', '/api/commands', [{
      id: 'c-1', commandType: 'SET_FAN', status: 'failed', requiredApproval: false, autonomous: true,
    }], reporter);
    const created = await server.must('POST', '/api/circuit-breaker/check', {}, operator);
    const event = created.find((e) => e.ruleName === 'Any Failure');
    assert.ok(event, JSON.stringify(created));

    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await openPage(page, 'Breakers');
    const form = page.getByRole('form', { name: `Resolve event ${event.id} (Any Failure)` });
    // A note is required.
    await form.getByRole('button', { name: 'Resolve' }).click();
    await form.getByRole('alert').filter({ hasText: 'needs a note' }).waitFor();
    await form.getByRole('textbox', { name: 'Resolution note' }).fill('fan controller replaced');
    await form.getByRole('button', { name: 'Resolve' }).click();
    await form.waitFor({ state: 'detached' });
    const events = await server.must('GET', '/api/circuit-breaker/events');
    const resolved = events.find((e) => e.id === event.id);
    assert.deepEqual([resolved.resolvedBy, resolved.resolution], ['olga (on call)', 'fan controller replaced']);
    await page.getByRole('region', { name: 'Resolved breaker events', exact: true }).getByText('fan controller replaced').waitFor();
    assertNoPageProblems(page, assert);
    await context.close();
  });
});
