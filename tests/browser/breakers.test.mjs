// Breaker rules in the console: an invalid condition is refused inline with
// the plugin's message and the rule is unchanged; a valid edit is saved.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, launchBrowser, newPage, signIn, openPage, assertNoPageProblems } from './lib/harness.mjs';

describe('breaker rules', () => {
  let server;
  let browser;
  let operator;

  before(async () => {
    server = await startServer({ name: 'breakers' });
    browser = await launchBrowser();
    operator = await server.token('oncall', ['operator'], { kind: 'person' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const rule = async (name) => (await server.must('GET', '/api/circuit-breaker/rules')).find((r) => r.name === name);

  it('an invalid condition is refused inline, with the plugin message, and the rule is unchanged', async () => {
    const original = await rule('High Error Rate');
    assert.equal(original.condition, 'errorRate > 0.05');
    const bad = 'errorRate >>> 0.05 +';
    // What the server says about it (nothing is saved by an invalid PATCH).
    const refusal = await server.api('PATCH', `/api/circuit-breaker/rules/${encodeURIComponent('High Error Rate')}`, { condition: bad }, operator);
    assert.equal(refusal.status, 400, JSON.stringify(refusal.body));
    const message = refusal.body.error.message;

    const { context, page } = await newPage(browser);
    await signIn(page, server, operator);
    await openPage(page, 'Breakers');
    const form = page.getByRole('form', { name: 'High Error Rate', exact: true });
    await form.getByRole('textbox', { name: 'Condition' }).fill(bad);
    await form.getByRole('textbox', { name: 'Window' }).fill('10m');
    await form.getByRole('button', { name: 'Save rule' }).click();
    const alert = form.getByRole('alert');
    await alert.filter({ hasText: 'Refused' }).waitFor();
    const shown = await alert.innerText();
    assert.ok(shown.includes(message), `the alert quotes the server: ${shown} / ${message}`);
    assert.match(shown, /400/);
    // Nothing saved: neither the condition nor the window sent with it.
    assert.deepEqual(await rule('High Error Rate'), original);
    // The other rules' forms show no error.
    assert.equal(await page.getByRole('form', { name: 'Critical Incident', exact: true }).getByRole('alert').filter({ hasText: /./ }).count(), 0);

    // Corrected, it is saved, and the alert goes.
    await form.getByRole('textbox', { name: 'Condition' }).fill('errorRate > 0.07');
    await form.getByRole('button', { name: 'Save rule' }).click();
    await form.getByText(/^Saved at/).waitFor();
    assert.equal(await alert.isVisible(), false);
    const saved = await rule('High Error Rate');
    assert.equal(saved.condition, 'errorRate > 0.07');
    assert.equal(saved.window, '10m');

    // Disabling is saved too.
    await form.getByRole('checkbox', { name: 'Enabled' }).uncheck();
    await form.getByRole('button', { name: 'Save rule' }).click();
    await form.getByText(/disabled/).waitFor();
    assert.equal((await rule('High Error Rate')).enabled, false);
    assertNoPageProblems(page, assert);
    await context.close();
  });
});
