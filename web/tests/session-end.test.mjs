// A session ending elsewhere: signing out in another tab, on another device holding the same
// session, and refresh-token theft (reuse) — each shown on the sign-in page with its reason.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, registerThroughPage, screenshot, startServer, watchRefreshes } from './harness.mjs';

const ACCESS_COOKIE = '__Host-jwtgate_at';

let server;
let noGraceServer;
let browser;

before(async () => {
  server = await startServer();
  // No grace window: a spent refresh token presented again is theft at once.
  noGraceServer = await startServer({ JWTGATE_REFRESH_GRACE_SECS: '0' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await noGraceServer?.stop();
});

/** A second browser (its own cookie jar) holding a copy of `context`'s session cookies. */
async function sameSessionElsewhere(context, baseUrl) {
  const other = await browser.newContext();
  await other.addCookies(await context.cookies());
  const page = await other.newPage();
  await page.goto(baseUrl);
  await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
  return { other, page };
}

async function endedReason(page) {
  const notice = page.locator('#session-ended');
  await notice.waitFor();
  return { code: await notice.getAttribute('data-reason'), text: await notice.textContent() };
}

describe('a session ending elsewhere', () => {
  test('signing out in tab A signs tab B out, with the reason shown', async () => {
    const context = await browser.newContext();
    const tabA = await context.newPage();
    await registerThroughPage(tabA, server.url);
    const tabB = await context.newPage();
    await tabB.goto(server.url);
    await tabB.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();

    await tabA.getByRole('button', { name: 'Sign out' }).click();
    assert.equal((await endedReason(tabA)).code, 'logout');
    const inB = await endedReason(tabB);
    assert.equal(inB.code, 'logout');
    assert.match(inB.text, /signed out in another tab/);
    assert.equal(await tabB.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
    await context.close();
  });

  test('another browser on the same session learns on its next API call that it was signed out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await registerThroughPage(page, server.url);
    const { other, page: elsewhere } = await sameSessionElsewhere(context, server.url);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await endedReason(page);
    // The other browser still holds the (now revoked) access token; its next call is refused,
    // its refresh answers the session's end reason, and the page shows it.
    const refreshed = elsewhere.waitForResponse((r) => r.url().endsWith('/auth/refresh'));
    await elsewhere.getByRole('button', { name: 'Check again' }).click();
    const answer = await refreshed;
    assert.equal(answer.status(), 401);
    assert.equal((await answer.json()).code, 'logout');
    const shown = await endedReason(elsewhere);
    assert.equal(shown.code, 'logout');
    assert.match(shown.text, /You signed out/);
    await other.close();
    await context.close();
  });

  test('a stolen refresh token used after the real one ends the session for both, as reuse', async () => {
    const victim = await browser.newContext();
    const page = await victim.newPage();
    await registerThroughPage(page, noGraceServer.url);
    const { other: thief, page: thiefPage } = await sameSessionElsewhere(victim, noGraceServer.url);
    const thiefRefreshes = watchRefreshes(thief);

    // The victim's page refreshes (its access cookie expired), spending the shared refresh token.
    await victim.clearCookies({ name: ACCESS_COOKIE });
    const spent = page.waitForResponse((r) => r.url().endsWith('/auth/refresh'));
    await page.getByRole('button', { name: 'Check again' }).click();
    const spentAt = Date.parse((await spent).headers().date);
    assert.equal((await spent).status(), 200);
    // The victim's chain moves on: its successor is presented (here by the test, standing in
    // for the victim's next refresh). Now the thief's copy can only be a replay; a spent token
    // whose successor was never used would still get that successor.
    const successor = (await victim.cookies()).find((c) => c.name === '__Host-jwtgate_rt').value;
    const onwards = await fetch(`${noGraceServer.url}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: successor }),
    });
    assert.equal(onwards.status, 200);
    // Wait until the server's clock (second resolution) has moved past the spend.
    while (Date.parse((await fetch(`${noGraceServer.url}/healthz`)).headers.get('date')) <= spentAt) {
      await new Promise((r) => setTimeout(r, 100));
    }

    // The thief's copy is now a spent token: presenting it is reuse, and the session dies.
    await thief.clearCookies({ name: ACCESS_COOKIE });
    await thiefPage.getByRole('button', { name: 'Check again' }).click();
    const thiefShown = await endedReason(thiefPage);
    assert.equal(thiefShown.code, 'refresh_token_reused');
    assert.deepEqual(thiefRefreshes, [{ status: 401, code: 'refresh_token_reused' }]);

    // The victim's access token was revoked with the session: the next call shows the reason.
    await page.getByRole('button', { name: 'Check again' }).click();
    const victimShown = await endedReason(page);
    assert.equal(victimShown.code, 'refresh_token_reused');
    assert.match(victimShown.text, /protect your account/);
    await page.setViewportSize({ width: 1280, height: 800 });
    await screenshot(page, 'sign-in-after-reuse-desktop');
    await thief.close();
    await victim.close();
  });
});
