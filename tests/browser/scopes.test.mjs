// Scoped authority from the console: an operator revokes autonomy for
// `portal:carrier` from the overview, with a reason; authorize in that
// scope is then denied while another scope stays autonomous; a viewer sees
// the scope's state but no control; a grant restores it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, launchBrowser, newPage, signIn, assertNoPageProblems } from './lib/harness.mjs';

describe('scopes on the overview', () => {
  let server;
  let browser;
  let operator;
  let reporter;
  let viewer;

  before(async () => {
    // L5: SET_POWER is whitelisted, so it runs autonomously unless braked.
    server = await startServer({ name: 'scopes', config: 'initial_phase = "L5"\nphase_started_at = "2026-01-01T00:00:00Z"\n' });
    browser = await launchBrowser();
    operator = await server.token('olga (on call)', ['operator'], { kind: 'person' });
    reporter = await server.token('carrier-bot', ['reporter']);
    viewer = await server.token('vic (viewer)', ['viewer'], { kind: 'person' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const authorize = (scope) => server.must('POST', '/api/authorize', { commandType: 'SET_POWER', scope }, reporter);

  it('an operator revokes portal:carrier; only that scope is denied', async () => {
    assert.equal((await authorize('portal:carrier')).decision, 'autonomous');
    assert.equal((await authorize('website:seo')).decision, 'autonomous');

    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    const scopes = page.getByRole('region', { name: 'Scopes' });
    await scopes.getByText('No scope is configured.').waitFor();

    // A scope nobody configured yet is named in the form.
    const form = page.getByRole('group', { name: 'Brake another scope' });
    await form.getByRole('textbox', { name: 'Scope' }).fill('portal:carrier');
    await form.getByRole('button', { name: 'Revoke autonomy' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke autonomy for portal:carrier' });
    await dialog.waitFor();
    // No reason, no revoke.
    await dialog.getByRole('button', { name: 'Confirm revoke' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'reason is required' }).waitFor();
    assert.deepEqual(await server.must('GET', '/api/scopes'), []);

    await dialog.getByRole('textbox', { name: 'Reason' }).fill('carrier complaints');
    await dialog.getByRole('button', { name: 'Confirm revoke' }).click();
    const item = scopes.getByRole('listitem').filter({ hasText: 'portal:carrier' });
    await item.getByText('autonomy revoked').waitFor();
    const text = await item.innerText();
    assert.match(text, /Revoked by olga \(on call\)/, 'who');
    assert.match(text, /carrier complaints/, 'why');

    const denied = await authorize('portal:carrier');
    assert.equal(denied.decision, 'denied', JSON.stringify(denied));
    assert.match(denied.reasons.join(' '), /autonomy is revoked for scope `portal:carrier`/);
    const other = await authorize('website:seo');
    assert.equal(other.decision, 'autonomous', JSON.stringify(other));
    const stored = await server.must('GET', '/api/scopes/portal:carrier');
    assert.equal(stored.autonomous, false);
    assert.equal(stored.autonomyBy, 'olga (on call)');

    // A viewer sees the scope and its state, but no control.
    const watcher = await newPage(browser);
    await signIn(watcher.page, server, viewer);
    const watched = watcher.page.getByRole('region', { name: 'Scopes' });
    await watched.getByRole('listitem').filter({ hasText: 'portal:carrier' }).getByText('autonomy revoked').waitFor();
    assert.equal(await watcher.page.getByRole('button', { name: 'Grant autonomy for portal:carrier' }).count(), 0);
    assert.equal(await watcher.page.getByRole('group', { name: 'Brake another scope' }).count(), 0);

    // Granted again from the overview.
    await page.getByRole('button', { name: 'Grant autonomy for portal:carrier' }).click();
    const grant = page.getByRole('dialog', { name: 'Grant autonomy for portal:carrier' });
    await grant.getByRole('textbox', { name: 'Reason' }).fill('complaints handled');
    await grant.getByRole('button', { name: 'Confirm grant' }).click();
    await item.getByText('autonomy granted').waitFor();
    assert.equal((await authorize('portal:carrier')).decision, 'autonomous');
    // The viewer's page follows over the stream, without a reload.
    await watched.getByRole('listitem').filter({ hasText: 'portal:carrier' }).getByText('autonomy granted').waitFor({ timeout: 5000 });

    assertNoPageProblems(page, assert);
    assertNoPageProblems(watcher.page, assert);
    await watcher.context.close();
    await context.close();
  });

  it("an operator stops a scope and resumes it", async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await page.getByRole('button', { name: 'Stop scope portal:carrier' }).click();
    const dialog = page.getByRole('dialog', { name: 'Stop scope portal:carrier' });
    await dialog.getByRole('textbox', { name: 'Reason' }).fill('portal outage');
    await dialog.getByRole('button', { name: 'Confirm scope stop' }).click();
    await page.getByRole('button', { name: 'Resume scope portal:carrier' }).waitFor();
    const denied = await authorize('portal:carrier');
    assert.equal(denied.decision, 'denied', JSON.stringify(denied));
    assert.match(denied.reasons.join(' '), /scope `portal:carrier` is stopped by olga \(on call\): portal outage/);
    assert.equal((await authorize('website:seo')).decision, 'autonomous');

    await page.getByRole('button', { name: 'Resume scope portal:carrier' }).click();
    const resume = page.getByRole('dialog', { name: 'Resume scope portal:carrier' });
    await resume.getByRole('textbox', { name: 'Reason' }).fill('portal back');
    await resume.getByRole('button', { name: 'Confirm scope resume' }).click();
    await page.getByRole('button', { name: 'Stop scope portal:carrier' }).waitFor();
    assert.equal((await authorize('portal:carrier')).decision, 'autonomous');
    assertNoPageProblems(page, assert);
    await context.close();
  });
});
