// The brakes from the console: an operator presses "Emergency stop" with a
// reason, authorize is then denied, and "Resume" lifts it; a stop made
// through the API shows on an open overview within 2 s; the operator's
// session cannot be driven by a post without its CSRF token.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, launchBrowser, newPage, signIn, assertNoPageProblems } from './lib/harness.mjs';

describe('the emergency stop', () => {
  let server;
  let browser;
  let operator;
  let reporter;
  let viewer;

  before(async () => {
    server = await startServer({ name: 'stop' });
    browser = await launchBrowser();
    operator = await server.token('olga (on call)', ['operator'], { kind: 'person' });
    reporter = await server.token('fan-controller', ['reporter']);
    viewer = await server.token('vic (viewer)', ['viewer'], { kind: 'person' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const authorize = () => server.must('POST', '/api/authorize', { commandType: 'SET_POWER' }, reporter);

  it('an operator stops with a reason, authorize is denied, and Resume lifts it', async () => {
    const before = await authorize();
    assert.notEqual(before.decision, 'denied', JSON.stringify(before));

    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await page.getByRole('button', { name: 'Emergency stop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Emergency stop' });
    await dialog.waitFor();
    // No reason, no stop.
    await dialog.getByRole('button', { name: 'Confirm emergency stop' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'reason is required' }).waitFor();
    assert.equal((await server.must('GET', '/api/emergency-stop')).active, false);

    await dialog.getByRole('textbox', { name: 'Reason' }).fill('runaway fan commands');
    await dialog.getByRole('button', { name: 'Confirm emergency stop' }).click();
    const status = page.getByRole('status').filter({ hasText: 'Emergency stop active' });
    await status.waitFor();
    const text = await status.innerText();
    assert.match(text, /olga \(on call\)/, 'who stopped it');
    assert.match(text, /runaway fan commands/, 'why');
    assert.match(text, /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/, 'when');
    assert.equal(await page.getByRole('button', { name: 'Emergency stop' }).count(), 0);

    const denied = await authorize();
    assert.equal(denied.decision, 'denied', JSON.stringify(denied));
    assert.match(denied.reasons.join(' '), /emergency stop/i);
    const stop = await server.must('GET', '/api/emergency-stop');
    assert.equal(stop.active, true);
    assert.equal(stop.by, 'olga (on call)');
    assert.equal(stop.reason, 'runaway fan commands');

    // A viewer's open console shows the stop too, but offers no Resume.
    const watcher = await newPage(browser);
    await signIn(watcher.page, server, viewer);
    await watcher.page.getByRole('status').filter({ hasText: 'Emergency stop active' }).waitFor();
    assert.equal(await watcher.page.getByRole('button', { name: 'Resume', exact: true }).count(), 0);

    await page.getByRole('button', { name: 'Resume', exact: true }).click();
    const resumeDialog = page.getByRole('dialog', { name: 'Resume autonomous operation' });
    await resumeDialog.getByRole('textbox', { name: 'Reason' }).fill('fan controller fixed');
    await resumeDialog.getByRole('button', { name: 'Confirm resume' }).click();
    await page.getByRole('button', { name: 'Emergency stop' }).waitFor();
    assert.equal(await page.getByRole('status').filter({ hasText: 'Emergency stop active' }).count(), 0);
    // The viewer's page follows over the stream, without a reload.
    await watcher.page.getByRole('status').filter({ hasText: 'Emergency stop active' }).waitFor({ state: 'detached', timeout: 5000 });

    const after = await authorize();
    assert.notEqual(after.decision, 'denied', JSON.stringify(after));
    assert.equal((await server.must('GET', '/api/emergency-stop')).active, false);
    assertNoPageProblems(page, assert);
    assertNoPageProblems(watcher.page, assert);
    await watcher.context.close();
    await context.close();
  });

  it("a post from the operator's session without its CSRF token is refused", async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    const result = await page.evaluate(async () => {
      const r = await fetch('/api/emergency-stop', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'forged' }),
      });
      return { status: r.status, body: await r.text() };
    });
    assert.equal(result.status, 403, result.body);
    assert.equal((await server.must('GET', '/api/emergency-stop')).active, false, 'the forged post stopped nothing');
    await context.close();
  });

  it('signing out ends the session on the server', async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'regent_session');
    assert.ok(session, 'the session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The old cookie, replayed, no longer opens a session.
    const replay = await fetch(`${server.base}/api/session`, { headers: { cookie: `regent_session=${session.value}` } });
    assert.equal(replay.status, 401);
    await context.close();
  });
});
