// examples/spa, the tutorials' single-page app, driven in Chromium across three origins (three
// ports of 127.0.0.1): jwtgate, the app's own static server, and the todo API
// (examples/resource-api, which verifies jwtgate's tokens itself and reads its revocation feed).
// What is proven:
//
// - "Sign in with jwtgate" runs the code flow with PKCE S256 through jwtgate's hosted sign-in and
//   consent pages; the app exchanges the code at /token from the browser (CORS from jwtgate's
//   allow-list) as a public client and shows the user's email from /userinfo; no token is left in
//   localStorage, sessionStorage or a cookie;
// - a todo added in the app goes to the API with the app's access token, and is listed;
// - an access token about to expire is renewed through /token (grant_type=refresh_token) before
//   the next call: the page's clock is moved on with Playwright's fake clock (time in the page
//   only; jwtgate and the API keep real time), no sleep;
// - a call the API refuses with 401 (the access token's signing key revoked on jwtgate) is made
//   again once, with a token renewed through /token;
// - "Sign out" goes through /end-session with the ID token and comes back signed out: the API
//   refuses the old access token (through the feed), /token the refresh token, and jwtgate's own
//   web session is over;
// - failures in words, with no token: jwtgate not listing the app's origin in cors_origins, a
//   sign-in answer the page did not ask for, the app's access taken back on jwtgate (its refresh
//   refused: the app signs out), and "Cancel" on the consent screen.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  buildBinary,
  jwtgateCli,
  launchBrowser,
  repoRoot,
  screenshot,
  startListening,
  startServer,
  tokenShapedStorage,
  uniqueEmail,
} from './harness.mjs';

const spaDir = join(repoRoot, 'examples', 'spa');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/**
 * The app's static server: index.html and app.js from examples/spa as they are, and a
 * config.json made here (the one in the directory is the README's). Resolves to { url, origin,
 * stop, configure(config) }: the config is set once the other two origins are known.
 */
async function startSpa() {
  let config = null;
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://spa');
    if (pathname === '/config.json' && config) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(config));
    }
    const file = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js' }[pathname];
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, { 'Content-Type': TYPES[file.slice(file.lastIndexOf('.'))], 'Cache-Control': 'no-store' });
    return res.end(readFileSync(join(spaDir, file)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    url: `${origin}/`,
    configure(next) {
      config = next;
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}

/** Registers the app as a public client coming back to its page; returns its client_id. */
function registerSpa(jwtgate, spa) {
  const args = ['client', 'add', '--name', 'Todos SPA', '--public', '--redirect-uri', spa.url, '--json'];
  return JSON.parse(jwtgateCli(jwtgate.dataDir, args)).client_id;
}

/** Asks `check` until it holds, for at most `ms` (for what happens in another process). */
async function until(what, check, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Every call the page makes to jwtgate's /authorize, /token, /userinfo and /end-session, and
 * to the API, in order: { kind, url, form (the parsed body), authorization, status, body }.
 * `settled()` waits until every answer seen so far has been read.
 */
function watchCalls(page, jwtgate, api) {
  const calls = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() === 'OPTIONS') return;
    let kind = null;
    if (url.origin === jwtgate.url && ['/authorize', '/token', '/userinfo', '/end-session'].includes(url.pathname)) kind = url.pathname.slice(1);
    if (url.origin === api.url) kind = `api ${request.method()} ${url.pathname}`;
    if (!kind) return;
    const entry = { kind, url, form: new URLSearchParams(request.postData() ?? '') };
    entry.ready = (async () => {
      entry.authorization = (await request.allHeaders()).authorization ?? null;
      const response = await request.response();
      entry.status = response?.status() ?? null;
      if (response && (kind === 'token' || kind.startsWith('api'))) entry.body = await response.json().catch(() => null);
      entry.read = true;
    })();
    calls.push(entry);
  });
  return {
    calls,
    of: (kind) => calls.filter((c) => c.kind === kind),
    tokenCalls: (grant) => calls.filter((c) => c.kind === 'token' && c.form.get('grant_type') === grant),
    settled: () => {
      let timer;
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`answers never read: ${calls.filter((c) => !c.read).map((c) => c.kind)}`)), 10_000);
      });
      return Promise.race([Promise.all(calls.map((c) => c.ready)), late]).finally(() => clearTimeout(timer));
    },
  };
}

/** From the app's page: through jwtgate's sign-in page to its consent screen. */
async function signInThroughJwtgate(page, email) {
  await page.goto(spa.url);
  await page.getByRole('button', { name: 'Sign in with jwtgate' }).click();
  await page.waitForURL((url) => url.origin === jwtgate.url && url.hash.startsWith('#/sign-in'));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Allow Todos SPA?' }).waitFor();
}

/** A new user in a fresh browser, at jwtgate's consent screen for the app: { email, context, page, seen }. */
async function atConsent(label) {
  const email = addUserWithCli(jwtgate.dataDir, uniqueEmail(label));
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = watchCalls(page, jwtgate, api);
  await signInThroughJwtgate(page, email);
  return { email, context, page, seen };
}

/** A web-client access token of jwtgate's own (POST /auth/login), for its /api. */
async function jwtgateAccess(email) {
  const login = await fetch(`${jwtgate.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(login.status, 200);
  return (await login.json()).access_token;
}

/** GET /todos of the API with `access`. */
const apiTodos = (access) => fetch(`${api.url}/todos`, { headers: { Authorization: `Bearer ${access}` } });

/** Until the API refuses `access` (it hears of revocations through jwtgate's feed). */
const refusedByApi = (what, access) => until(what, async () => (await apiTodos(access)).status === 401);

let browser;
let jwtgate;
let spa;
let api;
let clientId;

before(async () => {
  const resourceApi = buildBinary('resource-api');
  spa = await startSpa();
  jwtgate = await startServer({ JWTGATE_CORS_ORIGINS: spa.origin });
  clientId = registerSpa(jwtgate, spa);
  const feed = JSON.parse(jwtgateCli(jwtgate.dataDir, ['feed-credential', 'add', '--name', 'resource-api', '--json']));
  api = await startListening('resource-api', resourceApi, [], {
    env: { LISTEN: '127.0.0.1:0', JWTGATE_URL: jwtgate.url, FEED_CREDENTIAL: feed.secret, CORS_ORIGINS: spa.origin },
  });
  // The API refuses every token until it has heard from the feed.
  await until('the API follows the feed', async () => (await (await fetch(`${api.url}/healthz`)).json()).feed.fresh === true);
  spa.configure({ issuer: jwtgate.url, client_id: clientId, api: api.url });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await api?.stop();
  await jwtgate?.stop();
  await spa?.stop();
});

describe('signed in through jwtgate, the app keeps todos in the API', () => {
  let context;
  let page;
  let seen; // watchCalls
  const email = uniqueEmail('spa');

  before(async () => {
    addUserWithCli(jwtgate.dataDir, email);
    context = await browser.newContext();
    // The page's clock: real time until a test moves it on (see the refresh test).
    await context.clock.install();
    page = await context.newPage();
    seen = watchCalls(page, jwtgate, api);
  });

  after(async () => {
    await context?.close();
  });

  /** The tokens the app holds now: from its last answer of /token. */
  const latestTokens = () => seen.of('token').at(-1).body;

  test('the app signs in with code and PKCE through jwtgate\'s pages and shows the user\'s email', async () => {
    await signInThroughJwtgate(page, email);
    await page.locator('#consent-allow').click();
    await page.locator('#who').filter({ hasText: email }).waitFor();
    await page.locator('#todos li', { hasText: 'Nothing to do yet.' }).waitFor(); // the API answered
    assert.equal(await page.getByRole('alert').isVisible(), false, 'no error shown');
    assert.equal(page.url(), spa.url, 'the code is no longer in the address bar');
    await seen.settled();

    const [authorize] = seen.of('authorize');
    assert.equal(authorize.url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.url.searchParams.get('redirect_uri'), spa.url);
    const [exchange] = seen.tokenCalls('authorization_code');
    assert.equal(exchange.status, 200, JSON.stringify(exchange.body));
    assert.equal(exchange.form.get('client_id'), clientId);
    assert.equal(exchange.form.has('client_secret'), false, 'a public client sends no secret');
    assert.equal(exchange.authorization, null, 'nor Basic credentials');
    const verifier = exchange.form.get('code_verifier');
    assert.equal(createHash('sha256').update(verifier).digest('base64url'), authorize.url.searchParams.get('code_challenge'));
    assert.equal(seen.of('userinfo')[0]?.status, 200);

    // Memory only: nothing token-shaped in the page's storage (the round trip's entries are
    // gone), and no cookie holds one of the tokens.
    const storage = await tokenShapedStorage(page);
    assert.deepEqual(storage.entries, [], 'localStorage and sessionStorage are empty');
    const { access_token: access, refresh_token: refresh, id_token: idToken } = exchange.body;
    assert.ok(access && refresh && idToken, 'the exchange gave all three tokens');
    const cookies = await context.cookies();
    assert.deepEqual(cookies.filter((c) => [access, refresh, idToken].some((t) => t.includes(c.value) || c.value.includes(t))), []);
  });

  test('a todo added in the app goes through the API with the app\'s access token', async () => {
    await page.getByLabel('New todo').fill('Write the SPA tutorial');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.locator('#todos li', { hasText: 'Write the SPA tutorial' }).waitFor();
    await seen.settled();

    const access = seen.tokenCalls('authorization_code')[0].body.access_token;
    const [added] = seen.of('api POST /todos');
    assert.equal(added.status, 201);
    assert.equal(added.authorization, `Bearer ${access}`);
    assert.deepEqual(added.body, { id: 1, title: 'Write the SPA tutorial' });
    // The API has it under the user, as the app's token says.
    const listed = await apiTodos(access);
    assert.equal(listed.status, 200);
    assert.deepEqual(await listed.json(), [{ id: 1, title: 'Write the SPA tutorial' }]);
    assert.deepEqual(seen.tokenCalls('refresh_token'), [], 'no refresh yet: the token is fresh');
  });

  test('an access token about to expire is renewed through /token before the next call', async () => {
    const first = seen.tokenCalls('authorization_code')[0].body;
    // 15 minutes of access token (jwtgate's default); the app renews within its last minute.
    assert.equal(first.expires_in, 900);
    await page.clock.fastForward('14:30');
    await page.getByLabel('New todo').fill('Renew tokens quietly');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.locator('#todos li', { hasText: 'Renew tokens quietly' }).waitFor();
    await seen.settled();

    const refreshes = seen.tokenCalls('refresh_token');
    assert.equal(refreshes.length, 1, 'one refresh, shared by the calls after it');
    const [renewal] = refreshes;
    assert.equal(renewal.status, 200, JSON.stringify(renewal.body));
    assert.equal(renewal.form.get('refresh_token'), first.refresh_token);
    assert.equal(renewal.form.get('client_id'), clientId);
    assert.equal(renewal.form.has('client_secret'), false);
    assert.notEqual(renewal.body.access_token, first.access_token);
    assert.notEqual(renewal.body.refresh_token, first.refresh_token, 'rotated');

    const adds = seen.of('api POST /todos');
    assert.equal(adds.length, 2);
    assert.equal(adds[1].status, 201);
    assert.equal(adds[1].authorization, `Bearer ${renewal.body.access_token}`, 'the new token, not the old one');
    assert.equal(seen.of('api GET /todos').at(-1).authorization, `Bearer ${renewal.body.access_token}`);
    await screenshot(page, 'spa-signed-in');
  });

  test('a token the API refuses (its signing key revoked) is renewed through /token and the call made again', async () => {
    const { access_token: access } = latestTokens();
    const kid = JSON.parse(Buffer.from(access.split('.')[0], 'base64url')).kid;
    const admin = addUserWithCli(jwtgate.dataDir, uniqueEmail('spa-admin'), ['admin']);
    const revoked = await fetch(`${jwtgate.url}/api/admin/keys/${kid}/revoke`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await jwtgateAccess(admin)}` },
    });
    assert.equal(revoked.status, 200);
    await refusedByApi('the API refuses the revoked key\'s token', access);
    const renewalsBefore = seen.tokenCalls('refresh_token').length;

    await page.getByLabel('New todo').fill('Survive a key revocation');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.locator('#todos li', { hasText: 'Survive a key revocation' }).waitFor();
    await seen.settled();

    const adds = seen.of('api POST /todos').slice(-2);
    assert.deepEqual(adds.map((a) => a.status), [401, 201], 'refused once, then accepted');
    assert.equal(adds[0].authorization, `Bearer ${access}`);
    const renewals = seen.tokenCalls('refresh_token').slice(renewalsBefore);
    assert.equal(renewals.length, 1);
    assert.equal(renewals[0].status, 200);
    assert.equal(adds[1].authorization, `Bearer ${renewals[0].body.access_token}`);
    assert.equal(await page.getByRole('alert').isVisible(), false, 'no error shown');
  });

  test('signing out ends the session on jwtgate: the app is signed out and the old tokens are refused', async () => {
    const idToken = seen.tokenCalls('authorization_code')[0].body.id_token;
    const { access_token: access, refresh_token: refresh } = latestTokens();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('status').filter({ hasText: 'You are signed out, here and on jwtgate.' }).waitFor();
    assert.equal(page.url(), spa.url);
    assert.equal(await page.getByRole('button', { name: 'Sign in with jwtgate' }).isVisible(), true);
    assert.equal(await page.locator('#signed-in').isVisible(), false);
    await seen.settled();

    const [endSession] = seen.of('end-session');
    assert.equal(endSession.status, 303);
    assert.equal(endSession.url.searchParams.get('id_token_hint'), idToken);
    assert.equal(endSession.url.searchParams.get('post_logout_redirect_uri'), spa.url);

    // The API hears of it through the feed, within about a second.
    await refusedByApi('the API refuses the signed-out token', access);
    assert.equal((await (await apiTodos(access)).json()).code, 'invalid_token');
    const again = await fetch(`${jwtgate.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: clientId }),
    });
    assert.equal(again.status, 400);
    assert.equal((await again.json()).error, 'invalid_grant');

    // jwtgate's own web session, which the sign-in came from, is over too.
    await page.goto(`${jwtgate.url}/#/profile`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });
});

describe('failures, in words and without tokens', () => {
  test('jwtgate not listing the app\'s origin in cors_origins: the app says so and cannot sign in', async () => {
    const closed = await startServer(); // no JWTGATE_CORS_ORIGINS
    const elsewhere = await startSpa();
    const context = await browser.newContext();
    try {
      elsewhere.configure({ issuer: closed.url, client_id: registerSpa(closed, elsewhere), api: api.url });
      const page = await context.newPage();
      const seen = watchCalls(page, closed, api);
      await page.goto(elsewhere.url);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal(
        await alert.textContent(),
        `jwtgate at ${closed.url} did not answer this page. If it is running, its cors_origins setting must list this page's origin, ${elsewhere.origin}.`,
      );
      assert.equal(await page.getByRole('button', { name: 'Sign in with jwtgate' }).isDisabled(), true);
      await screenshot(page, 'spa-cors-refused');
      assert.deepEqual(seen.calls, []);
      assert.deepEqual((await tokenShapedStorage(page)).entries, []);
    } finally {
      await context.close();
      await elsewhere.stop();
      await closed.stop();
    }
  });

  test('a sign-in answer the page did not ask for is refused: no code is exchanged', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = watchCalls(page, jwtgate, api);
    await page.goto(`${spa.url}?code=stolen-code&state=not-mine&iss=${encodeURIComponent(jwtgate.url)}`);
    await page.getByRole('alert').filter({ hasText: 'This sign-in answer was not asked for by this page (its state does not match), so it was ignored. Sign in again.' }).waitFor();
    assert.equal(page.url(), spa.url, 'the code is dropped from the address bar');
    assert.deepEqual(seen.calls, [], 'no call to /token');
    assert.equal(await page.getByRole('button', { name: 'Sign in with jwtgate' }).isEnabled(), true);
    await context.close();
  });

  test('access taken back on jwtgate: the app\'s next call finds the session over, says so and signs out', async () => {
    const { email, context, page, seen } = await atConsent('spa-forget');
    await page.locator('#consent-allow').click();
    await page.locator('#todos li', { hasText: 'Nothing to do yet.' }).waitFor();
    await seen.settled();
    const { access_token: access } = seen.of('token').at(-1).body;

    // The user takes the app's access back, as the Sessions page of jwtgate does.
    const forgotten = await fetch(`${jwtgate.url}/api/me/apps/${clientId}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${await jwtgateAccess(email)}` },
    });
    assert.equal(forgotten.status, 204);
    await refusedByApi('the API refuses the app\'s token', access);

    await page.getByLabel('New todo').fill('Never stored');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('alert').filter({ hasText: 'Your jwtgate session has ended (signed out, or ended elsewhere). Sign in again.' }).waitFor();
    await seen.settled();
    assert.equal(await page.getByRole('button', { name: 'Sign in with jwtgate' }).isVisible(), true);
    assert.equal(await page.locator('#signed-in').isVisible(), false);
    const [renewal] = seen.tokenCalls('refresh_token');
    assert.equal(renewal.status, 400);
    assert.equal(renewal.body.error, 'invalid_grant');
    assert.deepEqual(seen.of('api POST /todos').map((c) => c.status), [401], 'refused, and not sent again');
    await context.close();
  });

  test('Cancel on jwtgate\'s consent screen: the app says no access was given, and has no token', async () => {
    const { context, page, seen } = await atConsent('spa-deny');
    await page.locator('#consent-deny').click();
    await page.getByRole('alert').filter({ hasText: 'You chose not to let this app use your jwtgate account, so you are not signed in.' }).waitFor();
    assert.equal(page.url(), spa.url);
    assert.deepEqual(seen.of('token'), []);
    assert.deepEqual((await tokenShapedStorage(page)).entries, []);
    await context.close();
  });
});
