// Test harness: builds and starts the real jwtgate binary on a free loopback port with a fresh
// data dir and cheap (explicitly opted-in) password hashing, and launches Debian's chromium through
// playwright-core. Never downloads a browser.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
// The committed pictures change only when asked (UPDATE_SCREENSHOTS=1), so a test run leaves
// the tree clean; otherwise they are still taken, into a scratch directory.
export const screenshotDir = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(repoRoot, 'docs', 'screenshots')
  : join(tmpdir(), 'jwtgate-screenshots');
export const PASSWORD = 'correct horse battery staple';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The jwtgate binary: $JWTGATE_BIN (set by run.mjs after one build), else `cargo build` now. */
export function serverBinary() {
  if (process.env.JWTGATE_BIN) return process.env.JWTGATE_BIN;
  process.env.JWTGATE_BIN = buildServer();
  return process.env.JWTGATE_BIN;
}

/** Builds `jwtgate` and returns the binary's path, from cargo's own idea of the target dir. */
export function buildServer() {
  return buildBinary('jwtgate');
}

/** Builds the workspace's package `name` (its binary has the same name) and returns its path. */
export function buildBinary(name) {
  execFileSync('cargo', ['build', '-p', name, '--locked'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  const metadata = JSON.parse(
    execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 << 20 }),
  );
  return join(metadata.target_directory, 'debug', process.platform === 'win32' ? `${name}.exe` : name);
}

/** The environment of every jwtgate process of the tests: cheap hashing, explicitly opted in. */
function serverEnv(env = {}) {
  return {
    PATH: process.env.PATH,
    RUST_LOG: process.env.RUST_LOG || 'warn',
    NO_COLOR: '1',
    JWTGATE_ALLOW_WEAK_PASSWORD_HASHING: 'true',
    JWTGATE_ARGON2_MEMORY_KIB: '64',
    JWTGATE_ARGON2_ITERATIONS: '1',
    ...env,
  };
}

const jwtgateOrigins = new Set(); // every server started here, for WEB_FROM_DISK

/**
 * Starts a server (port 0: the kernel picks a free one; the URL is read from its banner).
 * `env` adds or overrides JWTGATE_* settings. Resolves to { url, dataDir, stop, logs }.
 */
export async function startServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'jwtgate-web-'));
  const child = spawn(serverBinary(), ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: serverEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`jwtgate did not start:\n${logs.join('')}`)), 30_000);
    const onData = (chunk) => {
      logs.push(chunk.toString());
      const match = /jwtgate listening on (https?:\/\/[\d.:]+)/.exec(logs.join(''));
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => logs.push(chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jwtgate exited with ${code}:\n${logs.join('')}`));
    });
  });
  child.removeAllListeners('exit');
  jwtgateOrigins.add(url);
  return {
    url,
    dataDir,
    logs,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates an account with the CLI, as an operator would (`jwtgate user add --role ...`), in a
 * running server's data dir: SQLite lets the CLI write while the server has the file open.
 */
export function addUserWithCli(dataDir, email, roles = []) {
  const args = ['user', 'add', '--email', email, ...roles.flatMap((role) => ['--role', role]), '--data-dir', dataDir];
  execFileSync(serverBinary(), args, { input: `${PASSWORD}\n`, env: serverEnv(), stdio: ['pipe', 'ignore', 'inherit'], timeout: 60_000 });
  return email;
}

/**
 * Registers an app (an OAuth client) with the CLI, as an operator would (`jwtgate client add`),
 * in a running server's data dir. Resolves to the CLI's JSON: { client_id, client_secret, ... }.
 */
export function addClientWithCli(dataDir, { name, redirectUris, kind = 'public', firstParty = false }) {
  const args = [
    'client', 'add', '--name', name, `--${kind}`,
    ...redirectUris.flatMap((uri) => ['--redirect-uri', uri]),
    ...(firstParty ? ['--first-party'] : []),
    '--json', '--data-dir', dataDir,
  ];
  return JSON.parse(execFileSync(serverBinary(), args, { env: serverEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60_000 }));
}

/**
 * The link an app sends the browser to for "Sign in with jwtgate" (/authorize with PKCE S256, a
 * fresh state and nonce): { url, state, verifier }, the verifier for the app's code exchange.
 */
export function authorizeRequest(baseUrl, { clientId, redirectUri, scope = 'openid email' }) {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  return { url: `${baseUrl}/authorize?${query}`, state, verifier };
}

/** Runs a jwtgate command on a running server's data dir, as an operator would; returns its stdout. */
export function jwtgateCli(dataDir, args) {
  return execFileSync(serverBinary(), [...args, '--data-dir', dataDir], {
    env: serverEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 60_000,
  });
}

/**
 * Starts a service that prints `listening on http://127.0.0.1:PORT` once it serves (the
 * examples do), and resolves to { url, logs, stop } when it has: never a sleep.
 */
export async function startListening(name, command, args, { cwd = repoRoot, env = {} } = {}) {
  const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${logs.join('')}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      logs.push(chunk.toString());
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(logs.join(''));
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.stderr.on('data', (chunk) => logs.push(chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${logs.join('')}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    url,
    logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function launchBrowser() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  if (process.env.WEB_FROM_DISK === '1') serveWebFromDisk(browser);
  return browser;
}

const WEB_TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/**
 * A development shortcut (WEB_FROM_DISK=1, with JWTGATE_BIN set to an existing binary): the
 * page's own files come from web/ on disk instead of the copies embedded in the binary, with the
 * server's headers (CSP included), so editing the client needs no rebuild. A run without it is
 * the real test: it also proves every file is embedded.
 */
function serveWebFromDisk(browser) {
  const webDir = join(repoRoot, 'web');
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const context = await newContext(...args);
    const ours = (url) => jwtgateOrigins.has(url.origin) && /^\/(app\.css|js\/.*\.js)?$/.test(url.pathname);
    await context.route(ours, async (route) => {
      const { pathname } = new URL(route.request().url());
      const file = join(webDir, pathname === '/' ? 'index.html' : pathname);
      let body;
      try {
        body = readFileSync(file);
      } catch {
        return route.continue();
      }
      const answer = await route.fetch();
      const headers = { ...answer.headers(), 'content-type': WEB_TYPES[file.slice(file.lastIndexOf('.'))] };
      delete headers.etag;
      delete headers['content-length'];
      return route.fulfill({ status: 200, headers, body });
    });
    return context;
  };
}

/** A second origin for cross-site requests: serves one HTML page on `host` (e.g. 127.0.0.2). */
export async function startEvilSite(host, html) {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => server.listen(0, host, r));
  return {
    url: `http://${host}:${server.address().port}/`,
    stop: () => new Promise((r) => server.close(r)),
  };
}

let counter = 0;
export function uniqueEmail(label = 'user') {
  counter += 1;
  return `${label}-${process.pid}-${Date.now()}-${counter}@example.com`;
}

/** Registers through the page and lands on the profile (register signs straight in). */
export async function registerThroughPage(page, baseUrl, email = uniqueEmail()) {
  await page.goto(`${baseUrl}/#/register`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
  return email;
}

/** Registers by API (no page), for tests about something else. */
export async function registerByApi(baseUrl, email = uniqueEmail()) {
  const response = await fetch(`${baseUrl}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (response.status !== 201) throw new Error(`register: ${response.status} ${await response.text()}`);
  return email;
}

/**
 * Registers `count` accounts by API, `parallel` at a time (`<prefix>-0001@example.com`...): few
 * enough that one client address stays within its share of the hashing queue, so every answer
 * must be 201. Resolves to the addresses.
 */
export async function registerManyByApi(baseUrl, count, prefix = 'bulk', { parallel = 4 } = {}) {
  const emails = Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(4, '0')}@example.com`);
  let next = 0;
  async function worker() {
    while (next < emails.length) {
      const email = emails[next];
      next += 1;
      const response = await fetch(`${baseUrl}/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      if (response.status !== 201) throw new Error(`register ${email}: ${response.status} ${await response.text()}`);
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  return emails;
}

export async function signInThroughPage(page, baseUrl, email) {
  await page.goto(`${baseUrl}/#/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
}

/**
 * After a success that replaces a form with its answer: every form of the page is still in the
 * document (hidden) but takes no room on screen, so no "Saving…" button is left to press.
 */
export async function assertFormsGone(page, why) {
  const forms = page.locator('main form');
  assert.ok((await forms.count()) >= 1, `${why}: the page should keep its form, hidden`);
  for (const form of await forms.all()) {
    assert.equal(await form.isVisible(), false, `${why}: the form is gone after success`);
  }
}

/**
 * Follows an entry of the main navigation ("Todos", "Sign out"), opening the phone's menu first
 * when the entry is folded in it.
 */
export async function useNav(page, name) {
  const toggle = page.locator('#nav-toggle');
  if ((await toggle.isVisible()) && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole(name === 'Sign out' ? 'button' : 'link', { name, exact: true }).click();
}

/** The whole page as `name`.png; `{ fullPage: false }` for what is on screen (a modal dialog). */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.mouse.move(0, 0); // no hover state in the picture
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage, animations: 'disabled', caret: 'hide' });
}

/**
 * Collects every /auth/refresh answer seen by a browser context, for assertions. `answers.details`
 * (not compared by deepEqual) says which tab sent each one and when, for failure messages.
 */
export function watchRefreshes(context) {
  const answers = [];
  const details = [];
  Object.defineProperty(answers, 'details', { value: details, enumerable: false });
  const started = Date.now();
  context.on('response', async (response) => {
    if (!response.url().endsWith('/auth/refresh')) return;
    const page = response.frame()?.page();
    details.push({ tab: page ? context.pages().indexOf(page) : null, ms: Date.now() - started, status: response.status() });
    let code = null;
    try {
      code = (await response.json()).code ?? null;
    } catch {
      // a 200 with a JSON body but no code, or no body
    }
    answers.push({ status: response.status(), code });
  });
  return answers;
}

const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/;
// The refresh token and CSRF token are opaque random values (base64url, 32+ bytes).
const OPAQUE_SECRET_SHAPE = /[A-Za-z0-9_-]{32,}/;

/** Every localStorage/sessionStorage entry of a page that looks like a JWT or an opaque secret. */
export async function tokenShapedStorage(page) {
  const entries = await page.evaluate(() => {
    const all = [];
    for (const [kind, store] of [['localStorage', window.localStorage], ['sessionStorage', window.sessionStorage]]) {
      for (let i = 0; i < store.length; i += 1) {
        const key = store.key(i);
        all.push({ kind, key, value: store.getItem(key) });
      }
    }
    return all;
  });
  return {
    entries,
    suspicious: entries.filter(({ key, value }) =>
      [key, value].some((s) => JWT_SHAPE.test(s || '') || OPAQUE_SECRET_SHAPE.test(s || '')),
    ),
  };
}

/** A mail body as text: quoted-printable soft breaks joined and `=XX` escapes decoded. */
export function decodeQuotedPrintable(text) {
  return text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * Waits (polling, up to `timeoutMs`) for a mail to `email` in the dev outbox
 * (`<data dir>/outbox/*.eml`) whose link goes to `#/<route>?token=`, and returns that link's
 * token. Mail is sent in the background, so it may land a moment after the request's answer.
 */
export async function tokenFromOutbox(dataDir, email, route, { timeoutMs = 10_000 } = {}) {
  const dir = join(dataDir, 'outbox');
  const deadline = Date.now() + timeoutMs;
  const pattern = new RegExp(`#/${route}\\?token=([A-Za-z0-9._~%-]+)`);
  for (;;) {
    let names = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.eml')).sort();
    } catch {
      // no outbox yet
    }
    for (const name of names.reverse()) {
      const mail = decodeQuotedPrintable(readFileSync(join(dir, name), 'utf8'));
      if (!mail.toLowerCase().includes(email.toLowerCase())) continue;
      const match = pattern.exec(mail);
      if (match) return decodeURIComponent(match[1]);
    }
    if (Date.now() > deadline) throw new Error(`no ${route} mail to ${email} in ${dir}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
