// Register, sign in, see the profile, sign out; form errors; focus; screenshots of the main pages.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  launchBrowser,
  registerByApi,
  registerThroughPage,
  screenshot,
  startServer,
  uniqueEmail,
  useNav,
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

describe('account flow', () => {
  test('register, see the profile with its claims, sign out, sign in again', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = await registerThroughPage(page, server.url);

    // The profile shows the token's claims, read from /api/me, each explained.
    await page.getByText(`Signed in as ${email}.`).waitFor();
    assert.equal(await page.locator('dd[data-claim="email"] .claims__value').textContent(), email);
    for (const claim of ['sub', 'email', 'roles', 'sid', 'exp']) {
      const explanation = await page.locator(`dd[data-claim="${claim}"] .claims__explain`).textContent();
      assert.ok(explanation.length > 20, `${claim} is explained`);
    }
    // The countdown is live: 15 minutes by default, and it moves.
    const first = await page.locator('#countdown').textContent();
    assert.match(first, /^1[45]:\d\d$/);
    await page.waitForFunction((before) => document.getElementById('countdown').textContent !== before, first);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const notice = page.locator('#session-ended');
    assert.equal(await notice.getAttribute('data-reason'), 'logout');
    assert.match(await notice.textContent(), /You signed out/);
    // The session really is over on the server: /api/me is refused.
    const me = await page.evaluate(() => fetch('/api/me').then((r) => r.status));
    assert.equal(me, 401);

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    await context.close();
  });

  test('a reload keeps the session (CSRF token fetched again, never stored)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await registerThroughPage(page, server.url);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    // A state change after the reload still carries a valid CSRF header.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended[data-reason="logout"]').waitFor();
    await context.close();
  });

  test('wrong password and weak password are explained next to the form', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = await registerByApi(server.url);
    await page.goto(`${server.url}/#/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match an account' }).waitFor();

    await page.goto(`${server.url}/#/register`);
    await page.getByLabel('Email').fill(uniqueEmail());
    await page.getByLabel('Password', { exact: true }).fill('password1');
    await page.getByRole('button', { name: 'Create account' }).click();
    const error = page.locator('#password-error');
    await error.waitFor();
    assert.ok((await error.textContent()).length > 0);
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    await context.close();
  });

  test('keyboard only: focus moves to the heading on route change and the form submits with Enter', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = await registerByApi(server.url);
    await page.goto(`${server.url}/#/register`);
    await page.getByRole('link', { name: 'Sign in' }).last().focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Sign in');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'email');
    await page.keyboard.type(email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.textContent === 'Your profile');
    await context.close();
  });

  test('screenshots of the main pages, desktop and phone', async () => {
    for (const [suffix, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ]) {
      const context = await browser.newContext({ viewport, deviceScaleFactor: suffix === 'phone' ? 2 : 1 });
      const page = await context.newPage();
      const email = `ada.${suffix}@example.com`;
      await page.goto(`${server.url}/#/register`);
      await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
      await screenshot(page, `register-${suffix}`);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
      await page.locator('dd[data-claim="sid"]').waitFor();
      await screenshot(page, `profile-${suffix}`);
      await useNav(page, 'Sign out');
      await page.locator('#session-ended').waitFor();
      await page.getByLabel('Email').fill(email);
      await screenshot(page, `sign-in-${suffix}`);
      await context.close();
    }
  });
});
