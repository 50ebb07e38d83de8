// Accessibility: axe-core's WCAG 2.x A/AA and best-practice rules find nothing on the main pages (the
// hosted pages of "Sign in with jwtgate" included), desktop and phone.
// axe is injected with bypassCSP (the page's own CSP rightly refuses foreign script).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  addClientWithCli,
  addUserWithCli,
  authorizeRequest,
  launchBrowser,
  registerByApi,
  registerThroughPage,
  screenshotDir,
  signInThroughPage,
  startEvilSite,
  startServer,
  uniqueEmail,
  useNav,
} from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;
let adminEmail;
let appSite; // where an app sends the browser back after "Sign in with jwtgate"
let app;

before(async () => {
  server = await startServer();
  adminEmail = addUserWithCli(server.dataDir, uniqueEmail('admin'), ['admin']);
  appSite = await startEvilSite('127.0.0.1', '<!doctype html><html lang="en"><title>An app</title><h1>An app</h1></html>');
  app = addClientWithCli(server.dataDir, { name: 'Orders dashboard', redirectUris: [`${appSite.url}callback`] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await appSite?.stop();
  await server?.stop();
});

async function violations(page) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

describe('accessibility', () => {
  for (const [label, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ]) {
    test(`sign-in, register and profile pass axe's WCAG A/AA and best-practice rules (${label})`, async () => {
      const context = await browser.newContext({ viewport, bypassCSP: true });
      const page = await context.newPage();
      await page.goto(`${server.url}/#/sign-in`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      assert.deepEqual(await violations(page), [], 'sign-in');
      await page.goto(`${server.url}/#/register`);
      await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
      assert.deepEqual(await violations(page), [], 'register');
      await registerThroughPage(page, server.url);
      await page.locator('dd[data-claim="sid"]').waitFor();
      assert.deepEqual(await violations(page), [], 'profile');
      await useNav(page, 'Sign out');
      await page.locator('#session-ended').waitFor();
      assert.deepEqual(await violations(page), [], 'sign-in with a reason');
      await context.close();
    });
  }

  for (const [label, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 375, height: 812 }],
  ]) {
    test(`the change-password page, the admin table, one account and its confirmation pass axe (${label})`, async () => {
      const target = await registerByApi(server.url, uniqueEmail('axe'));
      const context = await browser.newContext({ viewport, bypassCSP: true });
      const page = await context.newPage();
      await signInThroughPage(page, server.url, adminEmail);
      await page.goto(`${server.url}/#/password`);
      await page.getByRole('heading', { level: 1, name: 'Change your password' }).waitFor();
      assert.deepEqual(await violations(page), [], 'change password');
      await page.goto(`${server.url}/#/sessions`);
      await page.locator('#sessions-list li').first().waitFor();
      assert.deepEqual(await violations(page), [], 'sessions');
      await page.goto(`${server.url}/#/admin`);
      await page.locator('#admin-users tbody tr').first().waitFor();
      assert.deepEqual(await violations(page), [], 'admin table');
      await page.getByLabel('Search by email').fill(target);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.locator('#admin-users tbody').getByRole('link', { name: target }).click();
      await page.getByRole('heading', { level: 1, name: target }).waitFor();
      await page.locator('#admin-plan option').first().waitFor({ state: 'attached' });
      assert.deepEqual(await violations(page), [], 'one account');
      await page.getByRole('button', { name: 'End all sessions' }).click();
      await page.getByRole('dialog').waitFor();
      assert.deepEqual(await violations(page), [], 'the confirmation');
      await context.close();
    });
  }

  for (const [label, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ]) {
    test(`an app's consent screen, the page a bad app link stops on, and the Sessions page with an allowed app pass axe (${label})`, async () => {
      const context = await browser.newContext({ viewport, bypassCSP: true });
      const page = await context.newPage();
      await registerThroughPage(page, server.url);
      await page.goto(authorizeRequest(server.url, { clientId: app.client_id, redirectUri: `${appSite.url}callback` }).url);
      await page.getByRole('heading', { level: 1, name: 'Allow Orders dashboard?' }).waitFor();
      assert.deepEqual(await violations(page), [], 'consent');
      await page.locator('#consent-allow').click();
      await page.waitForURL(`${appSite.url}callback?**`);
      await page.goto(`${server.url}/#/sessions`);
      await page.locator('#apps-list li').first().waitFor();
      assert.deepEqual(await violations(page), [], 'sessions with an allowed app');
      await page.goto(authorizeRequest(server.url, { clientId: 'no-such-app', redirectUri: `${appSite.url}callback` }).url);
      await page.locator('#oauth-error').waitFor();
      assert.deepEqual(await violations(page), [], 'the error page');
      await context.close();
    });
  }

  test('the keyboard focus ring is clearly visible: a solid outline of 2 px or more, 3:1 against what is behind it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    /** Tabs through every control of the page, to the end, and measures the ring of each. */
    async function ringsOnTab() {
      const rings = [];
      for (let i = 0; i < 40; i += 1) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(() => document.activeElement === document.body)) break;
        rings.push(
          await page.evaluate(() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
            const luminance = ([r, g, b]) =>
              [r, g, b].map((c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4)).reduce((sum, c, k) => sum + c * [0.2126, 0.7152, 0.0722][k], 0);
            // The ring is drawn outside the element: what is behind it is the nearest opaque ancestor.
            let behind = el.parentElement;
            while (behind && (rgb(getComputedStyle(behind).backgroundColor)[3] === 0 || getComputedStyle(behind).backgroundColor === 'transparent')) behind = behind.parentElement;
            const background = rgb(behind ? getComputedStyle(behind).backgroundColor : 'rgb(255,255,255)');
            const [a, b] = [luminance(rgb(style.outlineColor)), luminance(background)].sort((x, y) => y - x);
            const label = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} “${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}”`;
            return { label, style: style.outlineStyle, width: Number.parseFloat(style.outlineWidth), contrast: (a + 0.05) / (b + 0.05) };
          }),
        );
      }
      return rings;
    }
    function assertVisible(rings) {
      for (const ring of rings) {
        assert.equal(ring.style, 'solid', `${ring.label}: a solid outline`);
        assert.ok(ring.width >= 2, `${ring.label}: ${ring.width}px thick`);
        assert.ok(ring.contrast >= 3, `${ring.label}: contrast ${ring.contrast.toFixed(2)}:1`);
      }
    }

    await page.goto(`${server.url}/#/sign-in`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const signIn = await ringsOnTab(); // skip link, brand, two nav links, email, password, button, two links
    assert.equal(signIn.length, 9, signIn.map((r) => r.label).join(', '));
    assertVisible(signIn);
    await page.getByRole('button', { name: 'Sign in' }).focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab'); // focus by keyboard, so :focus-visible is what is pictured
    await page.screenshot({ path: join(screenshotDir, 'focus-ring-desktop.png') });

    await registerThroughPage(page, server.url);
    await page.locator('dd[data-claim="sid"]').waitFor();
    await page.locator('#skip-link').focus(); // from the top
    const profile = await ringsOnTab(); // brand, nav, the resend button, the profile's links, Check again
    assert.ok(profile.length >= 9, profile.map((r) => r.label).join(', '));
    assertVisible(profile);
    await context.close();
  });
});
