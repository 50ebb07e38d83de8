// "Sign in with jwtgate" in a real browser: an app (a tiny HTTP server on 127.0.0.1, its
// redirect target) sends the browser to /authorize; jwtgate's hosted pages sign the person in,
// ask for consent and send the browser back with a code, or stop on jwtgate's error page; the
// Sessions page shows the app and takes its access back; the app's logout ends the web session.
// The app's server-side requests (/token) are made from the test process; its redirects
// (/authorize, /end-session) are the browser's own navigations.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { MESSAGES } from '../js/messages.js';
import {
  PASSWORD,
  addClientWithCli,
  authorizeRequest,
  launchBrowser,
  registerByApi,
  screenshot,
  signInThroughPage,
  startServer,
  uniqueEmail,
} from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;
let app; // the app's web server: where the browser is sent back
let orders; // a third-party public app: asks for consent
let handbook; // a first-party app: never asks

/**
 * The app's side: answers every request with a small page of its own and remembers each one.
 * `nextRequest()` resolves with the URL of the next request to arrive (ask before acting).
 */
async function startApp() {
  const requests = [];
  let waiting = [];
  const http = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    requests.push(url);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Orders dashboard</title><link rel="icon" href="data:,"><h1>Orders dashboard</h1></html>');
    const resolvers = waiting;
    waiting = [];
    for (const resolve of resolvers) resolve(url);
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${http.address().port}`;
  return {
    origin,
    callback: `${origin}/callback`,
    requests,
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    stop: () => new Promise((r) => http.close(r)),
  };
}

before(async () => {
  server = await startServer();
  app = await startApp();
  orders = addClientWithCli(server.dataDir, { name: 'Orders dashboard', redirectUris: [app.callback] });
  handbook = addClientWithCli(server.dataDir, { name: 'Staff handbook', redirectUris: [app.callback], firstParty: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await server?.stop();
});

/** `client`'s authorization request; `redirectUri` and `clientId` may be made wrong. */
function appLink(client, { redirectUri = app.callback, clientId = client.client_id } = {}) {
  return authorizeRequest(server.url, { clientId, redirectUri });
}

/** POST /token with a form, from the app's server: { status, body }. */
async function tokenRequest(fields) {
  const response = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  return { status: response.status, body: await response.json() };
}

/** The app redeems its code (a public client: client_id and the PKCE verifier): the tokens. */
async function redeem(client, code, verifier) {
  const { status, body } = await tokenRequest({
    grant_type: 'authorization_code',
    code,
    redirect_uri: app.callback,
    code_verifier: verifier,
    client_id: client.client_id,
  });
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/**
 * A browser context, and `decisions()`: what each answer of the hosted page's POST
 * /api/oauth/authorize said so far ('consent' or 'redirect'), in order.
 */
async function contextWithDecisions(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const answers = [];
  // Read in passing, since the page leaves as soon as it has the answer (and its body with it).
  await context.route(`${server.url}/api/oauth/authorize`, async (route) => {
    const response = await route.fetch();
    const body = await response.json().catch(() => null);
    answers.push(body?.consent ? 'consent' : body?.redirect_to ? 'redirect' : `status ${response.status()}`);
    await route.fulfill({ response });
  });
  return { context, decisions: () => [...answers] };
}

/** The consent screen of `client`, shown. */
async function consentShown(page, name) {
  await page.getByRole('heading', { level: 1, name: `Allow ${name}?` }).waitFor();
  await page.locator('#consent-allow').waitFor();
}

/** A new account, signed in in a new browser context: { context, page, decisions }. */
async function signedIn(label, viewport = DESKTOP) {
  const email = await registerByApi(server.url, uniqueEmail(label));
  const { context, decisions } = await contextWithDecisions(viewport);
  const page = await context.newPage();
  await signInThroughPage(page, server.url, email);
  return { context, page, decisions };
}

/** Does `act` and waits for the browser at the app's callback: the URL the app was sent. */
async function arriveAtApp(page, act) {
  const arrived = app.nextRequest();
  await act();
  const url = await arrived;
  assert.equal(url.pathname, '/callback');
  await page.waitForURL(`${app.callback}?**`);
  return url;
}

/** Follows the app's link with a signed-in page, allows, and returns the code and verifier. */
async function allowAndArrive(page, client) {
  const request = appLink(client);
  await page.goto(request.url);
  await consentShown(page, client.name);
  const url = await arriveAtApp(page, () => page.locator('#consent-allow').click());
  return { code: url.searchParams.get('code'), verifier: request.verifier };
}

describe('signing in to an app through jwtgate', () => {
  test('a signed-out person following an app’s link signs in, sees the app and what it gets, allows, and arrives back with a code, the state and iss', async () => {
    const email = await registerByApi(server.url, uniqueEmail('oauth'));
    const { context, decisions } = await contextWithDecisions();
    const page = await context.newPage();
    const request = appLink(orders);

    await page.goto(request.url);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(
      await page.locator('#sign-in-lead').textContent(),
      'An app asked you to sign in with your account on this server. Sign in here; then you choose whether to let it.',
    );
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await consentShown(page, 'Orders dashboard');
    assert.equal(await page.title(), 'Allow Orders dashboard? · jwtgate');
    assert.deepEqual(await page.locator('#consent ul li').allTextContents(), [
      'Know who you are: your account id on this server.',
      'See your email address, and whether you confirmed it.',
    ]);
    assert.match(await page.locator('#consent').textContent(), new RegExp(`After you answer you go back to ${app.origin}\\.`));
    // The question is where the keyboard is, and it is read out: not the Allow button, which Enter would press.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'page-title');
    await page.waitForFunction(() => document.getElementById('announcer').textContent.startsWith('Allow Orders dashboard?'));
    await screenshot(page, 'consent-desktop');

    const url = await arriveAtApp(page, () => page.locator('#consent-allow').click());
    assert.deepEqual([...url.searchParams.keys()].sort(), ['code', 'iss', 'state']);
    assert.match(url.searchParams.get('code'), /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(url.searchParams.get('state'), request.state);
    assert.equal(url.searchParams.get('iss'), server.url);
    assert.deepEqual(decisions(), ['consent', 'redirect']);
    await context.close();
  });

  test('the consent screen fits a phone: the question, what the app gets, and both buttons without scrolling sideways', async () => {
    const { context, page } = await signedIn('oauth-phone', PHONE);
    await page.goto(appLink(orders).url);
    await consentShown(page, 'Orders dashboard');
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'no sideways scrolling');
    for (const id of ['consent-allow', 'consent-deny']) {
      const box = await page.locator(`#${id}`).boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `${id} is on screen`);
      assert.ok(box.height >= 44, `${id} is a big enough target (${box.height}px)`);
    }
    await screenshot(page, 'consent-phone');
    await context.close();
  });

  test('Cancel sends the browser back with access_denied and the state, and nothing is remembered: the next request asks again', async () => {
    const { context, page, decisions } = await signedIn('oauth-deny');
    const request = appLink(orders);
    await page.goto(request.url);
    await consentShown(page, 'Orders dashboard');

    const url = await arriveAtApp(page, () => page.locator('#consent-deny').click());
    assert.equal(url.searchParams.get('error'), 'access_denied');
    assert.equal(url.searchParams.get('state'), request.state);
    assert.equal(url.searchParams.get('iss'), server.url);
    assert.equal(url.searchParams.get('code'), null);

    const apps = await context.request.get(`${server.url}/api/me/apps`); // the browser's cookies
    assert.equal(apps.status(), 200);
    assert.deepEqual(await apps.json(), { apps: [] });
    await page.goto(appLink(orders).url);
    await consentShown(page, 'Orders dashboard');
    assert.deepEqual(decisions(), ['consent', 'redirect', 'consent']);
    await context.close();
  });

  test('after allowing once, the same app’s next request goes straight back without the consent screen', async () => {
    const { context, page, decisions } = await signedIn('oauth-again');
    await allowAndArrive(page, orders);
    assert.deepEqual(decisions(), ['consent', 'redirect']);

    const request = appLink(orders);
    const url = await arriveAtApp(page, () => page.goto(request.url));
    assert.equal(url.searchParams.get('state'), request.state);
    assert.ok(url.searchParams.get('code'));
    assert.deepEqual(decisions(), ['consent', 'redirect', 'redirect'], 'the second request was not asked');
    await context.close();
  });

  test('a first-party app never shows the consent screen', async () => {
    const { context, page, decisions } = await signedIn('oauth-first');
    const request = appLink(handbook);
    const url = await arriveAtApp(page, () => page.goto(request.url));
    assert.equal(url.searchParams.get('state'), request.state);
    assert.equal(url.searchParams.get('iss'), server.url);
    assert.ok(url.searchParams.get('code'));
    assert.deepEqual(decisions(), ['redirect']);
    await context.close();
  });

  test('an unregistered redirect URI stops on jwtgate’s error page, which says why, and never reaches the app', async () => {
    const { context, page } = await signedIn('oauth-uri');
    const before = app.requests.length;

    await page.goto(appLink(orders, { redirectUri: `${app.origin}/elsewhere` }).url);
    await page.getByRole('heading', { level: 1, name: 'This sign-in link does not work' }).waitFor();
    assert.match(page.url(), /\/#\/oauth-error\?error=invalid_redirect_uri&/);
    assert.equal(await page.getByRole('alert').textContent(), MESSAGES.invalid_redirect_uri);
    assert.match(await page.locator('#oauth-error-detail').textContent(), /^For the app’s developers: .*redirect_uri/);
    assert.equal(await page.getByRole('link', { name: 'Go to your profile' }).count(), 1);
    await screenshot(page, 'oauth-error-desktop');
    assert.equal(app.requests.length, before, 'the app heard nothing');
    await context.close();
  });

  test('an unknown client_id stops on jwtgate’s error page, which says why, and never reaches the app', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const before = app.requests.length;

    await page.goto(appLink(orders, { clientId: 'no-such-app' }).url);
    await page.getByRole('heading', { level: 1, name: 'This sign-in link does not work' }).waitFor();
    assert.match(page.url(), /\/#\/oauth-error\?error=invalid_client&/);
    assert.equal(await page.getByRole('alert').textContent(), MESSAGES.invalid_client);
    assert.match(await page.locator('#oauth-error-detail').textContent(), /^For the app’s developers: .*client_id/);
    assert.equal(await page.getByRole('link', { name: 'Sign in' }).count(), 2, 'in the menu and on the page');
    assert.equal(app.requests.length, before, 'the app heard nothing');
    await context.close();
  });
});

describe('an app on the Sessions page, and signing out from the app', () => {
  test('the Sessions page names the app’s session and the allowed app; Remove access, once confirmed, takes it back and the app’s refresh token fails with invalid_grant', async () => {
    const { context, page } = await signedIn('oauth-sessions');
    const { code, verifier } = await allowAndArrive(page, orders);
    const tokens = await redeem(orders, code, verifier);
    assert.ok(tokens.refresh_token);

    await page.goto(`${server.url}/#/sessions`);
    const sessions = page.locator('#sessions-list > li');
    await page.getByRole('status').filter({ hasText: '2 devices and apps are signed in, this one included.' }).waitFor();
    const appSession = sessions.filter({ has: page.getByRole('heading', { level: 2, name: 'Orders dashboard' }) });
    assert.equal(await appSession.count(), 1);
    assert.equal(await appSession.locator('.badge').textContent(), 'App');
    assert.equal(await appSession.getByRole('button', { name: 'Sign out Orders dashboard (127.0.0.1)' }).count(), 1);

    const allowed = page.locator('#apps-list > li');
    await allowed.first().waitFor();
    assert.equal(await allowed.count(), 1);
    const item = allowed.first();
    assert.equal(await item.getByRole('heading', { level: 3 }).textContent(), 'Orders dashboard');
    assert.deepEqual(await item.locator('ul li').allTextContents(), [
      'Know who you are: your account id on this server.',
      'See your email address, and whether you confirmed it.',
    ]);
    assert.match(await item.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
    await screenshot(page, 'sessions-apps-desktop');
    await page.setViewportSize(PHONE);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width, 'no sideways scrolling on a phone');
    await page.setViewportSize(DESKTOP);

    // Cancel first: nothing changes.
    const remove = item.getByRole('button', { name: 'Remove access for Orders dashboard' });
    await remove.click();
    const dialog = page.getByRole('dialog', { name: 'Remove access for Orders dashboard?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await allowed.count(), 1);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Remove access', 'focus back on the button');

    await remove.click();
    const removed = page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().endsWith(`/api/me/apps/${orders.client_id}`));
    await dialog.getByRole('button', { name: 'Remove access' }).click();
    assert.equal((await removed).status(), 204);
    await page.locator('#apps-status').filter({ hasText: /^Removed access for Orders dashboard\.$/ }).waitFor();
    assert.equal(await allowed.count(), 0);
    assert.equal(
      await page.locator('#apps-empty').textContent(),
      'You have not allowed any apps. When an app asks to sign you in with this account and you allow it, it is listed here.',
    );
    await page.waitForFunction(() => document.activeElement?.id === 'apps-title'); // its button is gone: the section has the keyboard
    await page.getByRole('status').filter({ hasText: 'Only this device is signed in.' }).waitFor();
    assert.equal(await appSession.count(), 0);

    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: orders.client_id });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
    await context.close();
  });

  test('the app’s logout (end-session with the ID token) sends the browser back to the app and signs jwtgate’s page out too, saying an app did it', async () => {
    const { context, page } = await signedIn('oauth-logout');
    const { code, verifier } = await allowAndArrive(page, orders);
    const tokens = await redeem(orders, code, verifier);
    assert.ok(tokens.id_token);

    const logout = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: app.callback, state: 'bye' });
    const url = await arriveAtApp(page, () => page.goto(`${server.url}/end-session?${logout}`));
    assert.deepEqual(Object.fromEntries(url.searchParams), { state: 'bye' });

    await page.goto(`${server.url}/#/profile`);
    const notice = page.locator('#session-ended[data-reason="signed_out_by_app"]');
    await notice.waitFor();
    assert.equal(await notice.locator('.notice__title').textContent(), 'An app signed you out');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: orders.client_id });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
    await context.close();
  });
});
