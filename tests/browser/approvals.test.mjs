// Approvers in the console: an exec sponsor attests from the Readiness page;
// a viewer sees the pending proposal but no approve, stop or activate
// button, and a forged form post from the viewer's session is refused; two
// approvers in two browser contexts approve role by role, the phase changes,
// and the overview shows it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  startServer, launchBrowser, newPage, signIn, openPage, assertNoPageProblems, eventually,
} from './lib/harness.mjs';
import { adoptedAt, team, makeReady } from './lib/program.mjs';

describe('proposals and approvals', () => {
  let server;
  let browser;
  let t;
  let proposalId;

  before(async () => {
    server = await startServer({ name: 'approvals', config: adoptedAt('L3+', 20) });
    browser = await launchBrowser();
    t = await team(server);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('an exec sponsor attests an item from the Readiness page', async () => {
    await makeReady(server, t, { skip: ['stakeholder_signoff'] });
    const { context, page } = await newPage(browser);
    await signIn(page, server, t.exec);
    await openPage(page, 'Readiness');
    const form = page.getByRole('form', { name: 'Attest an item' });
    await form.getByLabel('Attestation key').fill('stakeholder_signoff');
    await form.getByLabel('Evidence URL').fill('https://wiki.example/signoff/2026-11');
    const expiry = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    await form.getByLabel('Expires (end of day, UTC)').fill(expiry);
    await form.getByRole('button', { name: 'Attest' }).click();
    // The page re-renders with the attestation listed, counted by its item.
    const row = page.getByRole('region', { name: 'Attestations given', exact: true }).getByRole('row').filter({ hasText: 'stakeholder_signoff' });
    await row.waitFor();
    assert.match(await row.innerText(), /eve \(exec sponsor\)/);
    assert.match(await row.innerText(), new RegExp(expiry));

    const stored = await server.must('GET', '/api/attestations');
    const mine = stored.find((a) => a.key === 'stakeholder_signoff');
    assert.ok(mine, 'the attestation is stored');
    assert.equal(mine.attestedBy, 'eve (exec sponsor)');
    assert.equal(mine.role, 'exec_sponsor');
    assert.equal(mine.evidenceUrl, 'https://wiki.example/signoff/2026-11');
    assert.equal(mine.expiresAt.slice(0, 10), expiry);
    assert.ok(mine.acceptedBy.length > 0, 'an active item counts it');
    assertNoPageProblems(page, assert);
    await context.close();

    const readiness = await server.must('GET', '/api/readiness/current');
    assert.equal(readiness.overall.status, 'ready', JSON.stringify(readiness.overall));
    const report = await server.must('POST', '/api/governance/run-cycle', {}, t.operator);
    assert.equal(report.decision.proposalCreated, true, JSON.stringify(report.decision));
    proposalId = report.decision.proposalId;
  });

  it('a viewer sees the proposal but no approve, stop or activate button, and forged posts are refused', async () => {
    assert.ok(proposalId, 'the proposal exists');
    const { context, page } = await newPage(browser);
    await signIn(page, server, t.viewer);
    // Overview: the phase, but no emergency stop.
    await page.locator('[aria-label="Current phase"]').filter({ hasText: 'L3+' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Emergency stop' }).count(), 0);

    await openPage(page, 'Proposals');
    await page.getByRole('heading', { name: new RegExp(`Proposal #${proposalId}: L3\\+ → L4`) }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Approve as/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Reject' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Run the weekly cycle/ }).count(), 0);

    await openPage(page, 'Plugins');
    await page.getByRole('region', { name: 'Active plugins', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Activate/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Roll back/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Dry run' }).count(), 0);

    await openPage(page, 'Breakers');
    assert.equal(await page.getByRole('button', { name: 'Save rule' }).count(), 0);

    // A form posted from the viewer's page, with the viewer's cookie but no
    // CSRF header: refused, and nothing changes.
    const formPost = page.waitForResponse((r) => r.url().endsWith('/api/emergency-stop') && r.request().method() === 'POST');
    await page.evaluate(() => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = '/api/emergency-stop';
      const i = document.createElement('input');
      i.name = 'reason';
      i.value = 'forged';
      f.appendChild(i);
      document.body.appendChild(f);
      f.submit();
    });
    const forged = await formPost;
    assert.equal(forged.status(), 403, 'a form post without the CSRF token is refused');
    await page.waitForURL(/\/api\/emergency-stop$/);
    await page.goto(`${server.base}/console/#/overview`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    const results = await page.evaluate(async (id) => {
      const send = async (path, body, headers) => {
        const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
        return { status: r.status, body: await r.json().catch(() => null) };
      };
      const session = await (await fetch('/api/session')).json();
      return {
        noCsrf: await send('/api/emergency-stop', { reason: 'forged' }, {}),
        wrongCsrf: await send('/api/emergency-stop', { reason: 'forged' }, { 'X-CSRF-Token': 'not-the-token' }),
        withCsrf: await send('/api/emergency-stop', { reason: 'forged' }, { 'X-CSRF-Token': session.csrfToken }),
        approve: await send(`/api/governance/proposals/${id}/approve`, { role: 'tech_lead' }, { 'X-CSRF-Token': session.csrfToken }),
        roles: session.roles,
      };
    }, proposalId);
    assert.deepEqual(results.roles, ['viewer']);
    assert.equal(results.noCsrf.status, 403, JSON.stringify(results.noCsrf));
    assert.equal(results.wrongCsrf.status, 403, JSON.stringify(results.wrongCsrf));
    assert.equal(results.withCsrf.status, 403, `the viewer lacks operator: ${JSON.stringify(results.withCsrf)}`);
    assert.notEqual(results.approve.status, 200, JSON.stringify(results.approve));

    const stop = await server.must('GET', '/api/emergency-stop');
    assert.equal(stop.active, false, 'no forged post stopped anything');
    const p = await server.must('GET', `/api/governance/proposals/${proposalId}`);
    assert.deepEqual(p.approvals, []);
    assertNoPageProblems(page, assert);
    await context.close();
  });

  it('two approvers in two browser contexts approve role by role; the phase changes and the overview shows it', async () => {
    assert.ok(proposalId, 'the proposal exists');
    const tech = await newPage(browser);
    const ops = await newPage(browser);
    await signIn(tech.page, server, t.tech);
    await signIn(ops.page, server, t.ops);
    await ops.page.locator('[aria-label="Current phase"]').filter({ hasText: /^L3\+$/ }).waitFor();

    // The tech lead sees only the approval in the role they hold.
    await openPage(tech.page, 'Proposals');
    const techProposal = tech.page.getByRole('article', { name: new RegExp(`Proposal #${proposalId}`) });
    await techProposal.getByRole('button', { name: 'Approve as tech_lead' }).waitFor();
    assert.equal(await techProposal.getByRole('button', { name: 'Approve as ops_lead' }).count(), 0);
    await techProposal.getByLabel(/Comment/).fill('reviewed the week');
    await techProposal.getByRole('button', { name: 'Approve as tech_lead' }).click();
    await techProposal.getByText(/approved by tess \(tech lead\)/).waitFor();
    assert.equal(await techProposal.getByRole('button', { name: 'Approve as tech_lead' }).count(), 0, 'one approval per role');

    let state = await server.must('GET', '/api/governance/state');
    assert.equal(state.phase, 'L3+', 'one approval of two moves nothing');

    // The ops lead, in another context, gives the last approval.
    await openPage(ops.page, 'Proposals');
    const opsProposal = ops.page.getByRole('article', { name: new RegExp(`Proposal #${proposalId}`) });
    await opsProposal.getByText(/approved by tess \(tech lead\)/).waitFor();
    await opsProposal.getByRole('button', { name: 'Approve as ops_lead' }).click();
    await opsProposal.getByText(/approved by omar \(ops lead\)/).waitFor();

    state = await server.must('GET', '/api/governance/state');
    assert.equal(state.phase, 'L4');
    const p = await server.must('GET', `/api/governance/proposals/${proposalId}`);
    assert.equal(p.status, 'approved');
    assert.deepEqual(p.approvals.map((a) => [a.role, a.by]), [['tech_lead', 'tess (tech lead)'], ['ops_lead', 'omar (ops lead)']]);

    // Both overviews show the new phase: the ops lead's on navigating, the
    // tech lead's (open on Proposals, then Overview) the same.
    await openPage(ops.page, 'Overview');
    await ops.page.locator('[aria-label="Current phase"]').filter({ hasText: /^L4$/ }).waitFor();
    await openPage(tech.page, 'Overview');
    await tech.page.locator('[aria-label="Current phase"]').filter({ hasText: /^L4$/ }).waitFor();
    const whitelist = await tech.page.getByRole('list', { name: 'Whitelisted command types' }).innerText();
    for (const c of ['SET_POWER', 'SET_FAN', 'SET_DRUM', 'SET_AIRFLOW']) assert.match(whitelist, new RegExp(c));
    assertNoPageProblems(tech.page, assert);
    assertNoPageProblems(ops.page, assert);
    await tech.context.close();
    await ops.context.close();
  });

  it('an overview left open follows a phase change live', async () => {
    // Lowering the phase through the API (operator) reaches an open overview
    // without a reload, over the control stream.
    const { context, page } = await newPage(browser);
    await signIn(page, server, t.viewer);
    await page.locator('[aria-label="Current phase"]').filter({ hasText: /^L4$/ }).waitFor();
    await server.must('PUT', '/api/governance/state/phase', { phase: 'L3' }, t.operator);
    await eventually(async () => (await page.locator('[aria-label="Current phase"]').innerText()) === 'L3',
      { timeoutMs: 5000, what: 'the overview to show L3' });
    await context.close();
  });
});
