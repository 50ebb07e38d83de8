// Accessibility: axe-core's WCAG 2.x A/AA and best-practice rules find nothing on the main pages, desktop and phone.
// axe is injected with bypassCSP (the page's own CSP rightly refuses foreign script).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { addUserWithCli, launchBrowser, registerByApi, registerThroughPage, signInThroughPage, startServer, uniqueEmail } from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;
let adminEmail;

before(async () => {
  server = await startServer();
  adminEmail = addUserWithCli(server.dataDir, uniqueEmail('admin'), ['admin']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
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
      await page.getByRole('button', { name: 'Sign out' }).click();
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
});
