// Accessibility: axe-core's WCAG 2.x A/AA and best-practice rules find nothing on the main pages, desktop and phone.
// axe is injected with bypassCSP (the page's own CSP rightly refuses foreign script).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, registerThroughPage, startServer } from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

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
});
