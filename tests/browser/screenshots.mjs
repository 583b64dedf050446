// Screenshots of every console page for docs/console.md, at 1280×800 and
// the overview at a phone's width (390×844), against a real server given a
// plausible week: a pending proposal with one approval, agents, workflows,
// decisions, a breaker event, a plugin's dry run.
//
//   node tests/browser/screenshots.mjs      (writes docs/console/*.png)

import fs from 'node:fs';
import path from 'node:path';
import {
  REPO, startServer, launchBrowser, newPage, signIn, openPage, fixturesDir,
} from './lib/harness.mjs';
import { adoptedAt, team, makeReady } from './lib/program.mjs';

const out = process.env.REGENT_SCREENSHOT_DIR || path.join(REPO, 'docs/console');
fs.mkdirSync(out, { recursive: true });

const server = await startServer({ name: 'screenshots', config: adoptedAt('L3+', 20) });
const browser = await launchBrowser();
try {
  const t = await team(server);
  const { must } = server;

  // A proposal, approved by the tech lead so far.
  await makeReady(server, t);
  const report = await must('POST', '/api/governance/run-cycle', {}, t.operator);
  const id = report.decision.proposalId;
  await must('POST', `/api/governance/proposals/${id}/approve`, { role: 'tech_lead', comment: 'clean week, rollback plan reviewed' }, t.tech);

  // swap-item 1.0.0 active (2.0.0 is dry-run from the Plugins page below).
  const fixtures = fixturesDir();
  for (const [dir, activate] of [[fixtures, true]]) {
    const form = new FormData();
    form.append('wasm', new Blob([fs.readFileSync(path.join(dir, 'swap-item.wasm'))]), 'swap-item.wasm');
    form.append('manifest', fs.readFileSync(path.join(dir, 'swap-item.toml'), 'utf8'));
    await must('PUT', `/api/plugins/swap-item?activate=${activate}`, form);
  }

  // Agents, costs, a tripped breaker, assignments.
  const agents = [
    { id: 'roaster-planner', capabilities: ['roast:plan', 'roast:profile'], costPerHour: 4, reputation: 0.92, budget: 500, model: 'planner-v3' },
    { id: 'fan-tuner', capabilities: ['roast:fan', 'roast:airflow'], costPerHour: 2.5, reputation: 0.81, budget: 200 },
    { id: 'drum-watcher', capabilities: ['roast:drum'], costPerHour: 1.2, reputation: 0.7, budget: 80 },
  ];
  for (const a of agents) await must('POST', '/api/agents', a, server.admin, 201);
  await must('POST', '/api/agents/roaster-planner/costs', { operation: 'plan batch 42', cost: 37.5 }, t.reporter);
  await must('POST', '/api/agents/fan-tuner/costs', { operation: 'tune fan', cost: 12.25 }, t.reporter);
  await must('POST', '/api/agents/drum-watcher/breaker/trip', { reason: 'drum temperature readings out of range' }, t.operator);
  await must('POST', '/api/tasks/assign', { taskId: 'batch-42-plan', requiredCapabilities: ['roast:plan'] }, t.reporter);
  await must('POST', '/api/tasks/assign', { taskId: 'batch-42-fan', requiredCapabilities: ['roast:fan', 'roast:airflow'] }, t.reporter);

  // Workflows, one paused.
  await must('POST', '/api/workflows', { id: 'batch-42', name: 'Roast batch 42', agentId: 'roaster-planner' }, t.reporter, 201);
  await must('POST', '/api/workflows', { id: 'batch-43', name: 'Roast batch 43', agentId: 'fan-tuner' }, t.reporter, 201);
  for (const [name, status] of [['preheat', 'succeeded'], ['charge', 'succeeded'], ['first crack', 'started']]) {
    await must('POST', '/api/workflows/batch-42/steps', { name, status, detail: { tempC: 200 } }, t.reporter, [200, 201]);
  }
  await must('POST', '/api/workflows/batch-43/pause', { reason: 'fan speed oscillating, checking the controller' }, t.operator);

  // Graded brakes: budgets, a batch limit, and one portal's autonomy revoked.
  await must('PUT', '/api/budgets/rates/power-changes', { key: 'command:SET_POWER', limit: 30, window: '1h' }, t.operator);
  await must('PUT', '/api/budgets/concurrency/in-flight', { key: 'all', limit: 150, leaseTtl: '10m' }, t.operator);
  await must('PUT', '/api/budgets/batches/REPLAY_DLQ', { maxBatch: 50, maxPayloadBytes: 2000000 }, t.operator);
  await must('PUT', '/api/scopes/portal:carrier', { autonomous: false, reason: 'carrier complaints about duplicate bookings' }, t.operator);

  // Decisions.
  for (let i = 0; i < 120; i++) {
    await must('POST', '/api/authorize', { commandType: ['SET_POWER', 'SET_FAN', 'SET_DRUM'][i % 3], workflowId: i % 10 ? 'batch-42' : 'batch-43' }, t.reporter);
  }

  // An alert-only breaker event, unresolved.
  await must('POST', '/api/circuit-breaker/rules', {
    name: 'Any Failure This Week', enabled: true, condition: 'failures >= 1', window: '7d', action: 'alert_only', alertSeverity: 'medium',
  }, t.operator, 201);
  await must('POST', '/api/circuit-breaker/check', {}, t.operator);

  const shoot = async (page, name) => {
    await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
    await page.screenshot({ path: path.join(out, `${name}.png`) });
    console.log(`wrote ${path.join(out, `${name}.png`)}`);
  };

  const ops = await newPage(browser);
  await signIn(ops.page, server, t.ops);
  await ops.page.locator('.overview[data-ready="true"]').waitFor();
  await ops.page.evaluate(() => document.activeElement && document.activeElement.blur());
  await shoot(ops.page, 'overview');
  await openPage(ops.page, 'Proposals');
  await shoot(ops.page, 'proposals');
  await openPage(ops.page, 'Readiness');
  await shoot(ops.page, 'readiness');

  const operator = await newPage(browser);
  await signIn(operator.page, server, t.operator);
  await openPage(operator.page, 'Breakers');
  await operator.page.getByRole('form', { name: 'High Error Rate' }).getByRole('textbox', { name: 'Condition' }).fill('errorRate >>> 0.05');
  await operator.page.getByRole('form', { name: 'High Error Rate' }).getByRole('button', { name: 'Save rule' }).click();
  await operator.page.getByRole('form', { name: 'High Error Rate' }).getByRole('alert').filter({ hasText: 'Refused' }).waitFor();
  await shoot(operator.page, 'breakers');
  await openPage(operator.page, 'Workflows');
  await operator.page.getByRole('button', { name: 'Step trace of batch-42' }).click();
  await operator.page.getByRole('region', { name: 'Steps of batch-42' }).waitFor();
  await shoot(operator.page, 'workflows');
  await openPage(operator.page, 'Agents');
  await shoot(operator.page, 'agents');

  const admin = await newPage(browser);
  await signIn(admin.page, server, server.admin);
  await openPage(admin.page, 'Plugins');
  const form = admin.page.getByRole('form', { name: 'Upload a plugin version' });
  await must('GET', '/api/readiness/current');
  await form.getByLabel('Component (.wasm)').setInputFiles(path.join(fixtures, 'v2/swap-item.wasm'));
  await form.getByLabel('Manifest (.toml)').setInputFiles(path.join(fixtures, 'v2/swap-item.toml'));
  await form.getByRole('button', { name: 'Dry run' }).click();
  await admin.page.getByRole('region', { name: 'Dry run result' }).waitFor();
  await admin.page.getByRole('region', { name: 'Dry run result' }).scrollIntoViewIfNeeded();
  await shoot(admin.page, 'plugins');
  await openPage(admin.page, 'Audit');
  await shoot(admin.page, 'audit');
  await openPage(admin.page, 'Replicas');
  await shoot(admin.page, 'replicas');

  // The stopped state, and the overview on a phone.
  await must('POST', '/api/emergency-stop', { reason: 'runaway fan commands on roaster 2' }, t.operator);
  await openPage(operator.page, 'Overview');
  await operator.page.getByRole('status').filter({ hasText: 'Emergency stop active' }).waitFor();
  await operator.page.locator('.overview[data-ready="true"]').waitFor();
  await shoot(operator.page, 'overview-stopped');

  const phone = await newPage(browser, { width: 390, height: 844 });
  await signIn(phone.page, server, t.operator);
  await phone.page.locator('.overview[data-ready="true"]').waitFor();
  await phone.page.evaluate(() => document.activeElement && document.activeElement.blur());
  await phone.page.screenshot({ path: path.join(out, 'overview-phone.png'), fullPage: true });
  console.log(`wrote ${path.join(out, 'overview-phone.png')}`);

  const signin = await newPage(browser);
  await signin.page.goto(`${server.base}/console/`);
  await signin.page.getByRole('button', { name: 'Sign in' }).waitFor();
  await shoot(signin.page, 'sign-in');
} finally {
  await browser.close();
  await server.stop();
}
