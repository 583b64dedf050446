// The console's first render under load, measured (`make load-console`;
// docs/console.md, "First render"). Not a test: timings are reported, never
// asserted.
//
// A release `regent serve` (REGENT_BIN) on a scratch SQLite database, with a
// program made ready and a pending proposal, so every page has data. wrk
// drives POST /api/authorize (scripts/bench/authorize.lua) at
// LOAD_CONNECTIONS connections throughout the loaded pass. For each page, a
// full load of /console/#/<page> (not a fragment navigation) is timed from
// navigation start to the page shown: its data fetched and rendered, the
// loading line gone and its heading in place. ROUNDS loads per page, idle and
// then under load; p50, p95 and max per page, and the load's req/s.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { REPO, launchBrowser, newPage, regentBin, signIn, startServer } from './lib/harness.mjs';
import { adoptedAt, makeReady, team } from './lib/program.mjs';

const ROUNDS = Number(process.env.ROUNDS || 20);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS || 16);
const PAGES = ['overview', 'readiness', 'proposals', 'breakers', 'workflows', 'agents', 'plugins', 'audit', 'replicas'];

const percentile = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];

async function measure(page, base) {
  const rows = [];
  for (const name of PAGES) {
    const figures = [];
    for (let i = 0; i < ROUNDS; i++) {
      await page.goto('about:blank');
      await page.goto(`${base}/console/#/${name}`);
      const shown = await page.waitForFunction(
        () => (document.querySelector('main .page:not([aria-busy]) h1') && !document.querySelector('main .loading')
          ? performance.now() : false),
        undefined, { polling: 'raf', timeout: 30_000 });
      figures.push(await shown.jsonValue());
    }
    figures.sort((a, b) => a - b);
    rows.push({ name, p50: percentile(figures, 50), p95: percentile(figures, 95), max: figures[figures.length - 1] });
  }
  return rows;
}

function wrk(base, token, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '-H', `Authorization: Bearer ${token}`,
      '-s', path.join(REPO, 'scripts/bench/authorize.lua'), `${base}/api/authorize`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`))));
  });
}

const server = await startServer({ config: adoptedAt('L3+', 30), name: 'first-render' });
const browser = await launchBrowser();
try {
  const t = await team(server);
  await makeReady(server, t);
  await server.must('POST', '/api/governance/run-cycle', {}, t.operator);
  for (let i = 0; i < 500; i++) {
    await server.must('POST', '/api/authorize', { commandType: i % 2 ? 'SET_POWER' : 'SET_FAN' }, t.reporter);
  }
  const { context, page } = await newPage(browser);
  await signIn(page, server, server.admin);

  const idle = await measure(page, server.base);
  // Long enough for the whole loaded pass; wrk is stopped after it.
  const load = wrk(server.base, t.reporter, 600);
  await new Promise((r) => setTimeout(r, 2000));
  const started = Date.now();
  const before = (await server.must('GET', '/api/decisions?limit=1')).at(0)?.decisionId ?? 0;
  const loaded = await measure(page, server.base);
  const after = (await server.must('GET', '/api/decisions?limit=1')).at(0)?.decisionId ?? 0;
  const rate = (after - before) / ((Date.now() - started) / 1000);
  spawn('pkill', ['-INT', '-f', `${server.base}/api/authorize`]);
  await load.catch(() => {});
  await context.close();

  const lines = [
    `# ${new Date().toISOString()} console first render, ${ROUNDS} full loads per page, ${regentBin()}`,
    `load: wrk -t1 -c${CONNECTIONS} on POST /api/authorize, ${Math.round(rate)} decisions/s during the loaded pass`,
    'page        idle p50   p95   max | loaded p50   p95   max (ms)',
    ...PAGES.map((name, i) => {
      const a = idle[i];
      const b = loaded[i];
      const f = (x) => x.toFixed(0).padStart(5);
      return `${name.padEnd(10)} ${f(a.p50)} ${f(a.p95)} ${f(a.max)} |     ${f(b.p50)} ${f(b.p95)} ${f(b.max)}`;
    }),
  ];
  const report = lines.join('\n');
  console.log(report);
  const out = path.join(REPO, 'target/load');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'console.txt'), `${report}\n`);
} finally {
  await browser.close();
  await server.stop();
}
