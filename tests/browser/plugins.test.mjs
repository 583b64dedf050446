// Plugin versions in the console: an upload's dry run shows the gates and the
// shadow diff and stores nothing; "Upload and activate" swaps the version;
// "Roll back" restores the one before.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  startServer, launchBrowser, newPage, signIn, openPage, fixturesDir, eventually, assertNoPageProblems,
} from './lib/harness.mjs';

describe('plugin versions', () => {
  let server;
  let browser;
  let fixtures;

  before(async () => {
    fixtures = fixturesDir();
    server = await startServer({ name: 'plugins' });
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  const upload = (dir, query) => {
    const form = new FormData();
    form.append('wasm', new Blob([fs.readFileSync(path.join(dir, 'swap-item.wasm'))]), 'swap-item.wasm');
    form.append('manifest', fs.readFileSync(path.join(dir, 'swap-item.toml'), 'utf8'));
    return server.api('PUT', `/api/plugins/swap-item${query}`, form);
  };
  const active = async () => (await server.must('GET', '/api/plugins/swap-item')).version;

  it('a dry run shows the shadow diff; activation swaps the version; rollback restores it', async () => {
    // Version 1.0.0 (it passes) is active, and the server has recorded a
    // readiness context it decided: the input the shadow run replays.
    const v1 = await upload(fixtures, '?activate=true');
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    assert.equal(await active(), '1.0.0');
    await eventually(async () => {
      await server.must('GET', '/api/readiness/current');
      const probe = await upload(path.join(fixtures, 'v2'), '?dry_run=true');
      return probe.status === 200 && probe.body.shadow.differences.length > 0;
    }, { timeoutMs: 15000, intervalMs: 500, what: 'a recorded readiness input for the shadow run' });

    const { context, page } = await newPage(browser);
    await signIn(page, server, server.admin);
    await openPage(page, 'Plugins');
    const form = page.getByRole('form', { name: 'Upload a plugin version' });
    await form.getByLabel('Component (.wasm)').setInputFiles(path.join(fixtures, 'v2/swap-item.wasm'));
    await form.getByLabel('Manifest (.toml)').setInputFiles(path.join(fixtures, 'v2/swap-item.toml'));
    // The name is read from the manifest.
    await eventually(async () => (await form.getByRole('textbox', { name: 'Plugin name' }).inputValue()) === 'swap-item',
      { what: 'the plugin name from the manifest' });
    assert.equal(await form.getByRole('button', { name: /Upload and activate/ }).isVisible(), false, 'no activation before a dry run');
    await form.getByRole('button', { name: 'Dry run' }).click();

    const result = page.getByRole('region', { name: 'Dry run result' });
    await result.waitFor();
    const text = await result.innerText();
    assert.match(text, /Dry run of swap-item 2\.0\.0/);
    for (const gate of ['signature', 'compile', 'world', 'describe', 'params', 'fixtures', 'shadow']) {
      assert.match(text, new RegExp(`\\b${gate}\\b`), `gate ${gate} listed`);
    }
    assert.match(text, /Compared with the active 1\.0\.0 on \d+ recorded input\(s\): \d+ identical, [1-9]\d* would change outcome/);
    assert.match(text, /swap-item v1: passes/, 'the active version says');
    assert.match(text, /swap-item v2: fails/, 'the candidate says');
    // A dry run stores nothing.
    assert.equal(await active(), '1.0.0');
    const stored = await server.must('GET', '/api/plugins/swap-item/versions');
    assert.deepEqual(stored.map((v) => v.version), ['1.0.0']);

    await form.getByRole('button', { name: /Upload and activate/ }).click();
    await page.getByText(/swap-item 2\.0\.0 is active \(was 1\.0\.0\)/).waitFor();
    assert.equal(await active(), '2.0.0');
    const row = page.getByRole('region', { name: 'Active plugins', exact: true }).getByRole('row').filter({ hasText: 'swap-item' });
    assert.match(await row.innerText(), /2\.0\.0/);
    const readiness = await server.must('GET', '/api/readiness/current');
    const item = readiness.items.find((i) => i.id === 'swap-item');
    assert.deepEqual([item.pluginVersion, item.passed], ['2.0.0', false]);

    await row.getByRole('button', { name: 'Roll back swap-item' }).click();
    await page.getByText(/swap-item rolled back to 1\.0\.0 \(was 2\.0\.0\)/).waitFor();
    assert.equal(await active(), '1.0.0');
    assert.match(await page.getByRole('region', { name: 'Active plugins', exact: true }).getByRole('row').filter({ hasText: 'swap-item' }).innerText(), /1\.0\.0/);

    // And forward again from the version history.
    const history = page.locator('details.history').filter({ hasText: 'swap-item:' });
    await history.locator('summary').click();
    await history.getByRole('button', { name: 'Activate swap-item 2.0.0' }).click();
    await page.getByText(/swap-item 2\.0\.0 is active \(was 1\.0\.0\)/).waitFor();
    assert.equal(await active(), '2.0.0');

    // Each swap is in the audit log, whose chain the page verifies.
    await openPage(page, 'Audit');
    await page.getByText(/✓ intact/).first().waitFor();
    // And the whole chain, walked by the server.
    await page.getByRole('button', { name: 'Verify the whole chain on the server' }).click();
    await page.getByRole('status').filter({ hasText: /verified by the server/ }).getByText(/✓ intact/).waitFor();
    await page.getByRole('combobox', { name: 'Action' }).selectOption('plugin.activate');
    const rows = page.getByRole('region', { name: 'Audit log entries', exact: true }).locator('tbody tr');
    const texts = await rows.allInnerTexts();
    assert.ok(texts.length >= 3, texts.join('\n'));
    for (const t of texts) assert.match(t, /plugin\.activate/);
    assert.ok(texts.some((t) => /plugin\/swap-item|swap-item/.test(t)), texts.join('\n'));
    assertNoPageProblems(page, assert);
    await context.close();
  });

  it('a candidate refused by a gate is shown with the gate, and nothing changes', async () => {
    const { context, page } = await newPage(browser);
    await signIn(page, server, server.admin, '#/plugins');
    await page.getByRole('heading', { level: 1, name: 'Plugins' }).waitFor();
    const form = page.getByRole('form', { name: 'Upload a plugin version' });
    // A manifest that does not match the component: the describe gate (or
    // an earlier one) refuses it.
    const bogus = path.join(server.scratch, 'bogus.toml');
    fs.writeFileSync(bogus, 'name = "swap-item"\nkind = "checklist-item"\nversion = "3.0.0"\n');
    await form.getByLabel('Component (.wasm)').setInputFiles(path.join(fixtures, 'v2/swap-item.wasm'));
    await form.getByLabel('Manifest (.toml)').setInputFiles(bogus);
    await form.getByRole('button', { name: 'Dry run' }).click();
    const alert = form.getByRole('alert').filter({ hasText: 'Refused' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /gate_failed/);
    assert.equal(await form.getByRole('button', { name: /Upload and activate/ }).isVisible(), false);
    assert.equal(await active(), '2.0.0');
    await context.close();
  });
});
