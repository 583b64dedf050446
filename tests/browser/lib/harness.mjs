// What every browser test needs: a real `regent serve` on a free port with a
// scratch SQLite database, tokens minted through the API, and Debian's
// Chromium driven by playwright-core.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The first of `candidates` that exists, or a failure naming them all and what builds them. */
function firstExisting(what, candidates, build) {
  const tried = candidates.filter(Boolean);
  for (const c of tried) if (fs.existsSync(c)) return c;
  throw new Error(`${what} not found (tried ${tried.join(', ')}): ${build}`);
}

export function regentBin() {
  return firstExisting('the regent binary', [
    process.env.REGENT_BIN,
    path.join(REPO, 'target/debug/regent'),
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'debug/regent'),
  ], 'run `cargo build -p regent-host --bin regent` (or set REGENT_BIN)');
}

export function pluginsDir() {
  return firstExisting('the built-in plugins', [
    process.env.REGENT_PLUGINS_DIR,
    path.join(REPO, 'target/plugins'),
  ], 'run `make plugins` (or set REGENT_PLUGINS_DIR)');
}

export function fixturesDir() {
  return firstExisting('the test fixtures', [
    process.env.REGENT_FIXTURES_DIR,
    path.join(REPO, 'target/fixtures'),
  ], 'run `make plugins` (or set REGENT_FIXTURES_DIR)');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A shared compile cache (and its key), so each test server does not recompile every plugin. */
function sharedCache() {
  const dir = process.env.REGENT_BROWSER_CACHE || path.join(os.tmpdir(), 'regent-browser-cache');
  fs.mkdirSync(dir, { recursive: true });
  return { cacheDir: path.join(dir, 'compiled'), keyFile: path.join(dir, 'cache.key') };
}

const DAY_MS = 86_400_000;
export const ago = (ms) => new Date(Date.now() - ms).toISOString();
export const daysAgo = (days) => ago(days * DAY_MS);

/**
 * Starts `regent serve`. `config` is TOML text for --config. Returns
 * { base, admin, api(), token(), stop(), log() }.
 */
export async function startServer({ config = '', name = 'regent' } = {}) {
  const bin = regentBin();
  const plugins = pluginsDir();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `regent-browser-${name}-`));
  const { cacheDir, keyFile } = sharedCache();
  const port = await freePort();
  const admin = `browser-admin-${randomBytes(12).toString('hex')}`;
  const configFile = path.join(scratch, 'regent.toml');
  fs.writeFileSync(configFile, config);
  const logFile = path.join(scratch, 'server.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(bin, [
    'serve', '--config', configFile, '--plugins-dir', plugins,
    '--db', path.join(scratch, 'regent.db'), '--cache-dir', cacheDir,
  ], {
    env: {
      ...process.env,
      REGENT_ADMIN_TOKEN: admin,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
      REGENT_CACHE_KEY_FILE: keyFile,
    },
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const base = `http://127.0.0.1:${port}`;
  const logTail = () => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  };
  // Up to 3 minutes: a first start compiles every plugin (debug build).
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (exited) throw new Error(`regent serve exited (${JSON.stringify(exited)}) before answering:\n${logTail()}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`regent serve did not answer /health within 180 s:\n${logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  async function api(method, p, body, token = admin) {
    const headers = { authorization: `Bearer ${token}` };
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const r = await fetch(`${base}${p}`, { method, headers, body: payload });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: r.status, body: json };
  }

  /** `api`, asserting the status; returns the body. */
  async function must(method, p, body, token = admin, status = [200, 201, 204]) {
    const r = await api(method, p, body, token);
    const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
    if (!ok) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** A new token holding `roles`; returns its secret. */
  async function token(tokenName, roles, extra = {}) {
    const body = await must('POST', '/api/tokens', { name: tokenName, roles, ...extra }, admin, 201);
    return body.token;
  }

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((r) => (exited ? r() : child.once('exit', r)));
      clearTimeout(t);
    }
    fs.closeSync(log);
    if (!process.env.REGENT_KEEP_SCRATCH) fs.rmSync(scratch, { recursive: true, force: true });
  }

  return { base, admin, api, must, token, stop, logTail, scratch };
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: install Debian's chromium (scripts/browser-tests.sh does) or set CHROMIUM`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A new browser context and page at 1280×800 (or `viewport`). */
export async function newPage(browser, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  return { context, page };
}

/** Signs in through the form; resolves once the navigation is shown. */
export async function signIn(page, server, token, hash = '#/overview') {
  await page.goto(`${server.base}/console/${hash}`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Overview' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Opens a page of the console by its nav link and waits for its heading. */
export async function openPage(page, name) {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
}

/** The text of every role=alert on the page that shows something. */
export async function alerts(page) {
  return page.locator('[role="alert"]:not([hidden])').allInnerTexts();
}

/** Fails if the page logged errors or CSP refusals. */
export function assertNoPageProblems(page, assert) {
  assert.deepEqual(page.problems, [], 'the page logged errors or CSP refusals');
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually(fn, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
