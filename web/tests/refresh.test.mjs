// Silent refresh: an expired access token, the proactive timer, and two tabs refreshing at once.
// The server runs with 30 s access tokens and no leeway; the page clock is driven by Playwright,
// and the tests wait on events (responses, cookies, DOM), never on a fixed sleep.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, registerThroughPage, startServer, watchRefreshes } from './harness.mjs';

const ACCESS_COOKIE = '__Host-jwtgate_at';
const TTL_SECS = 30;

let server;
let browser;

before(async () => {
  server = await startServer({ JWTGATE_ACCESS_TOKEN_TTL_SECS: String(TTL_SECS), JWTGATE_LEEWAY_SECS: '0' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function accessCookie(context) {
  return (await context.cookies()).find((c) => c.name === ACCESS_COOKIE) ?? null;
}

/** Resolves once the browser has dropped the access cookie, i.e. the access token has expired. */
async function accessTokenExpired(context, timeoutMs = (TTL_SECS + 15) * 1000) {
  const deadline = Date.now() + timeoutMs;
  while (await accessCookie(context)) {
    if (Date.now() > deadline) throw new Error('the access cookie never expired');
    await new Promise((r) => setTimeout(r, 250)); // polling interval, not an assertion
  }
}

/**
 * Waits until the tab's profile says it checked with the server. On a timeout the error carries
 * what each tab shows and what the server logged, so a failure on a CI machine can be read.
 */
async function profileChecked(tab, tabs = [tab], refreshes = []) {
  try {
    await tab.locator('#profile-status').filter({ hasText: 'Checked at' }).waitFor();
  } catch (error) {
    const seen = await Promise.all(
      tabs.map(async (t) => ({
        hash: await t.evaluate(() => window.location.hash).catch((e) => String(e)),
        status: await t.locator('#profile-status').textContent({ timeout: 1000 }).catch(() => null),
        main: (await t.locator('main').textContent({ timeout: 1000 }).catch(() => '')).slice(0, 200),
      })),
    );
    error.message += `\ntabs: ${JSON.stringify(seen)}\nrefreshes: ${JSON.stringify(refreshes)} ${JSON.stringify(refreshes.details ?? [])}\nserver log:\n${server.logs.join('').slice(-4000)}`;
    throw error;
  }
  assert.equal(await tab.getByRole('heading', { level: 1 }).textContent(), 'Your profile');
}

function countRequests(context, path) {
  const seen = [];
  context.on('request', (request) => {
    if (new URL(request.url()).pathname === path) seen.push(request.method());
  });
  return seen;
}

describe('silent refresh', { concurrency: true }, () => {
  test('an expired access token is refreshed silently on the next API call', async () => {
    const context = await browser.newContext();
    const refreshes = watchRefreshes(context);
    const page = await context.newPage();
    await page.clock.install();
    await registerThroughPage(page, server.url);
    const before = await accessCookie(context);
    // Freeze the page's clock so its own refresh timer does not fire: as a sleeping laptop would.
    await page.clock.pauseAt(new Date(await page.evaluate(() => Date.now() + 2000)));
    await accessTokenExpired(context);
    assert.deepEqual(refreshes, [], 'nothing refreshed while the page slept');

    // The server itself refuses the expired session's API call...
    const unauthenticated = await page.evaluate(() => fetch('/api/me').then((r) => r.status));
    assert.equal(unauthenticated, 401);
    // ...and the page recovers on its next call: 401, one refresh, retry, without a sign-in.
    const refreshed = page.waitForResponse((r) => r.url().endsWith('/auth/refresh'));
    await page.getByRole('button', { name: 'Check again' }).click();
    assert.equal((await refreshed).status(), 200);
    await profileChecked(page, [page], refreshes);
    const after = await accessCookie(context);
    assert.ok(after && after.value !== before.value, 'a new access cookie was set');
    assert.deepEqual(refreshes, [{ status: 200, code: null }]);
    await context.close();
  });

  test('the page refreshes shortly before expiry, so the API never sees an expired token', async () => {
    const context = await browser.newContext();
    const refreshes = watchRefreshes(context);
    const unauthorized = [];
    context.on('response', (r) => r.status() === 401 && r.url().includes('/api/') && unauthorized.push(r.url()));
    const page = await context.newPage();
    await page.clock.install();
    await registerThroughPage(page, server.url);
    const oldCookie = (await accessCookie(context)).value;

    const refreshed = page.waitForResponse((r) => r.url().endsWith('/auth/refresh'));
    await page.clock.fastForward((TTL_SECS - 3) * 1000); // past the refresh moment, before expiry
    assert.equal((await refreshed).status(), 200);
    await page.waitForFunction(() => {
      const [m, s] = document.getElementById('countdown').textContent.split(':').map(Number);
      return m * 60 + s > 20; // the countdown starts again from a fresh 30 s token
    });
    assert.notEqual((await accessCookie(context)).value, oldCookie);
    assert.deepEqual(refreshes, [{ status: 200, code: null }]);
    assert.deepEqual(unauthorized, []);
    await context.close();
  });

  test('two tabs whose timers fire together refresh once and both stay signed in', async () => {
    const context = await browser.newContext();
    const refreshes = watchRefreshes(context);
    const posts = countRequests(context, '/auth/refresh');
    const tabA = await context.newPage();
    await context.clock.install();
    await registerThroughPage(tabA, server.url);
    const tabB = await context.newPage();
    await tabB.goto(server.url);
    await tabB.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();

    const refreshed = tabA.context().waitForEvent('response', (r) => r.url().endsWith('/auth/refresh'));
    await context.clock.fastForward((TTL_SECS - 3) * 1000); // both tabs' refresh timers are due
    assert.equal((await refreshed).status(), 200);
    // Both tabs fetch the new profile after the refresh (the one that refreshed, and the one told).
    for (const tab of [tabA, tabB]) await profileChecked(tab, [tabA, tabB], refreshes);
    assert.deepEqual(
      refreshes,
      [{ status: 200, code: null }],
      `one refresh, no refresh_token_reused: ${JSON.stringify(refreshes.details)}`,
    );
    assert.equal(posts.length, 1);
    await context.close();
  });

  test('two tabs hitting an expired token at the same moment converge on one refresh', async () => {
    const context = await browser.newContext();
    const refreshes = watchRefreshes(context);
    const tabA = await context.newPage();
    await registerThroughPage(tabA, server.url);
    const tabB = await context.newPage();
    await tabB.goto(server.url);
    await tabB.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    // The access cookie disappears as it does at expiry; both tabs then call the API at once.
    await context.clearCookies({ name: ACCESS_COOKIE });
    await Promise.all([tabA, tabB].map((tab) => tab.getByRole('button', { name: 'Check again' }).click()));
    for (const tab of [tabA, tabB]) await profileChecked(tab, [tabA, tabB], refreshes);
    assert.ok(refreshes.length >= 1);
    assert.ok(
      refreshes.every((r) => r.status === 200),
      `every refresh succeeded: ${JSON.stringify(refreshes)}`,
    );
    assert.equal(refreshes.length, 1, 'the second tab reused the first tab refresh');
    // And the session is still healthy for the server.
    assert.equal(await tabB.evaluate(() => fetch('/api/me').then((r) => r.status)), 200);
    await context.close();
  });
});
