// Browser-side defences: hardened cookies, nothing token-shaped in web storage or document.cookie,
// cross-site form posts refused, and the CSP blocking injected script.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  launchBrowser,
  registerThroughPage,
  startEvilSite,
  startServer,
  tokenShapedStorage,
  watchRefreshes,
} from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function attackPage(target) {
  // A plain HTML form: it can carry cookies (if SameSite allows) but never a custom header.
  return `<!doctype html><title>You won!</title>
<form method="post" action="${target}"><button type="submit">Claim your prize</button></form>`;
}

async function sessionCookies(context) {
  const cookies = await context.cookies();
  return Object.fromEntries(cookies.map((c) => [c.name, c]));
}

describe('browser-side security', () => {
  test('the session cookies are HttpOnly, Secure and SameSite=Strict, and invisible to script', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await registerThroughPage(page, server.url);
    const cookies = await sessionCookies(context);
    const access = cookies['__Host-jwtgate_at'];
    assert.ok(access, 'access cookie set');
    assert.equal(access.httpOnly, true);
    assert.equal(access.secure, true);
    assert.equal(access.sameSite, 'Strict');
    assert.equal(access.path, '/');
    const refresh = cookies['__Host-jwtgate_rt'];
    assert.ok(refresh, 'refresh cookie set');
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.secure, true);
    assert.equal(refresh.sameSite, 'Strict');
    assert.equal(refresh.path, '/');
    assert.equal(cookies['__Secure-jwtgate_rt'], undefined, 'no cookie of the old, plantable name');
    assert.equal(await page.evaluate(() => document.cookie), '');
    await context.close();
  });

  test('nothing token-shaped is ever in localStorage or sessionStorage', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await registerThroughPage(page, server.url);
    const checkpoints = [];
    checkpoints.push(await tokenShapedStorage(page));
    await context.clearCookies({ name: '__Host-jwtgate_at' });
    await page.getByRole('button', { name: 'Check again' }).click(); // forces a refresh
    await page.locator('#profile-status').filter({ hasText: 'Checked at' }).waitFor();
    checkpoints.push(await tokenShapedStorage(page));
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    checkpoints.push(await tokenShapedStorage(page));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended').waitFor();
    checkpoints.push(await tokenShapedStorage(page));
    for (const { entries, suspicious } of checkpoints) {
      assert.deepEqual(suspicious, [], `token-shaped storage: ${JSON.stringify(entries)}`);
    }
    await context.close();
  });

  for (const [what, path] of [
    ['sign out', '/auth/logout'],
    ['refresh', '/auth/refresh'],
  ]) {
    test(`a form post to ${path} from another origin cannot ${what}`, async () => {
      const context = await browser.newContext();
      const refreshes = watchRefreshes(context);
      const page = await context.newPage();
      await registerThroughPage(page, server.url);
      const before = await sessionCookies(context);
      const target = `${server.url}${path}`;
      // Same host, other port: same-site, so the Strict cookies ARE sent; the CSRF header is
      // what stops it. 127.0.0.2: another site, so the Strict cookies are not sent at all.
      const sameSite = await startEvilSite('127.0.0.1', attackPage(target));
      const crossSite = await startEvilSite('127.0.0.2', attackPage(target));
      try {
        for (const [evil, status, code] of [
          [sameSite, 403, 'csrf_failed'],
          [crossSite, 401, 'missing_credentials'],
        ]) {
          const attack = await context.newPage();
          await attack.goto(evil.url);
          const answered = attack.waitForResponse((r) => r.url() === target);
          await attack.getByRole('button', { name: 'Claim your prize' }).click();
          const response = await answered;
          assert.equal(response.status(), status, `${evil.url} -> ${path}`);
          assert.equal((await response.json()).code, code);
          await attack.close();
        }
      } finally {
        await sameSite.stop();
        await crossSite.stop();
      }
      // The session is untouched: same cookies, nothing rotated, and the API still answers.
      const afterwards = await sessionCookies(context);
      assert.equal(afterwards['__Host-jwtgate_at'].value, before['__Host-jwtgate_at'].value);
      assert.equal(afterwards['__Host-jwtgate_rt'].value, before['__Host-jwtgate_rt'].value);
      await page.getByRole('button', { name: 'Check again' }).click();
      await page.locator('#profile-status').filter({ hasText: 'Checked at' }).waitFor();
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Your profile');
      assert.deepEqual(refreshes.filter((r) => r.status === 200), []);
      await context.close();
    });
  }

  test('the CSP blocks injected inline script, and the page itself triggers no violation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    const response = await page.goto(server.url);
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
    await registerThroughPage(page, server.url);
    assert.deepEqual(violations, [], 'our own page needs no CSP exception');
    // An attacker who manages to inject markup still cannot run script: the browser reports a
    // violation for each attempt instead of running it.
    await page.evaluate(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
      const injected = document.createElement('div');
      injected.innerHTML = '<img src="data:," onerror="window.__pwned = 1">';
      document.body.append(injected);
      const script = document.createElement('script');
      script.textContent = 'window.__pwned = 1';
      document.body.append(script);
    });
    await page.waitForFunction(() => window.__violations.length >= 2);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await context.close();
  });
});
