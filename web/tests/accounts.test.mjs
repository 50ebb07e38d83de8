// The account pages: forgot/reset password through the dev outbox, todos, and the sessions list.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  assertFormsGone,
  launchBrowser,
  registerByApi,
  registerThroughPage,
  signInThroughPage,
  startServer,
  tokenFromOutbox,
} from './harness.mjs';

const NEW_PASSWORD = 'a brand new staple for the battery';

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

async function signIn(page, email, password) {
  await page.goto(`${server.url}/#/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
}

describe('account pages', () => {
  test('forgot password: the mailed link resets once, opening it consumes nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = await registerByApi(server.url);

    await page.goto(`${server.url}/#/sign-in`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { level: 1, name: 'Forgot your password?' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('status').filter({ hasText: 'If an account exists, we sent a link' }).waitFor();
    await assertFormsGone(page, 'forgot password');

    const token = await tokenFromOutbox(server.dataDir, email, 'reset-password');
    const link = `${server.url}/#/reset-password?token=${encodeURIComponent(token)}`;
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Choose a new password' }).waitFor();
    // Opening (and reopening) the page spent nothing: the form is still there after a reload.
    await page.reload();
    await page.getByLabel('New password', { exact: true }).waitFor();

    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#reset-done').filter({ hasText: 'Your password was changed' }).waitFor();
    await assertFormsGone(page, 'reset password');
    await page.locator('#reset-done').getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await signIn(page, email, NEW_PASSWORD);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended').waitFor();

    // The same link a second time: the page opens, the button says it was already used.
    await page.goto(link);
    await page.getByLabel('New password', { exact: true }).fill('yet another long password');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('alert').filter({ hasText: 'already used' }).waitFor();
    await context.close();
  });

  test('reset page: a weak password is explained next to the field, a broken link in plain words', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#/reset-password?token=not-a-token`);
    await page.getByLabel('New password', { exact: true }).fill('password1');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    // Either complaint is fine for a junk token; what matters is that it is shown in words.
    await page.locator('#new-password-error:not([hidden]), #form-error:not([hidden])').first().waitFor();
    await page.getByLabel('New password', { exact: true }).fill('a long enough passphrase here');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await context.close();
  });
});

test('sessions: revoking another device sends it to sign-in with the reason', async () => {
  const email = await registerByApi(server.url);
  const mine = await browser.newContext();
  const theirs = await browser.newContext();
  const page = await mine.newPage();
  const other = await theirs.newPage();
  await signInThroughPage(other, server.url, email);
  await signInThroughPage(page, server.url, email);
  await page.getByRole('link', { name: 'Sessions' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your sessions' }).waitFor();
  const others = page.locator('#sessions-list li:not([data-current])');
  await others.first().waitFor();
  assert.equal(await others.count(), 1);
  assert.match(await page.locator('#sessions-list li[data-current]').textContent(), /This device/);
  await others.getByRole('button', { name: /^Sign out/ }).click();
  await page.locator('#sessions-list li').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#sessions-list li').length === 1);

  await other.getByRole('button', { name: 'Check again' }).click();
  await other.locator('#session-ended[data-reason="signed_out_elsewhere"]').waitFor();
  await mine.close();
  await theirs.close();
});

test('todos: add, tick off, rename, delete; an empty title is explained next to the field', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await registerThroughPage(page, server.url);
  await page.getByRole('link', { name: 'Todos' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your todos' }).waitFor();
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.locator('#todo-title-error:not([hidden])').waitFor();

  await page.getByLabel('New todo').fill('Buy milk');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const box = page.getByRole('checkbox', { name: 'Buy milk' });
  // The box ticks at once; the reload must wait for the server to have it.
  const saved = page.waitForResponse((r) => r.url().includes('/api/todos/') && r.request().method() === 'PATCH');
  await box.check();
  assert.equal((await saved).status(), 200);
  await page.reload();
  await page.getByRole('checkbox', { name: 'Buy milk' }).waitFor();
  assert.equal(await page.getByRole('checkbox', { name: 'Buy milk' }).isChecked(), true);

  await page.getByRole('button', { name: 'Edit Buy milk' }).click();
  await page.getByLabel('Title', { exact: true }).fill('Buy oat milk');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('checkbox', { name: 'Buy oat milk' }).waitFor();

  await page.getByRole('button', { name: 'Delete Buy oat milk' }).click();
  await page.locator('#todo-list li').waitFor({ state: 'detached' });
  await page.reload();
  await page.getByRole('status').filter({ hasText: 'Nothing to do yet' }).waitFor();
  assert.equal(await page.locator('#todo-list li').count(), 0);
  await context.close();
});

test('verify email: only the button spends the link, a second press says it was used', async () => {
  const email = await registerByApi(server.url);
  const login = await fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  }).then((r) => r.json());
  const resend = await fetch(`${server.url}/auth/email/verify/resend`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${login.access_token}` },
  });
  assert.equal(resend.status, 202);
  const token = await tokenFromOutbox(server.dataDir, email, 'verify-email');
  const context = await browser.newContext();
  const page = await context.newPage();
  const link = `${server.url}/#/verify-email?token=${encodeURIComponent(token)}`;
  await page.goto(link);
  await page.reload();
  await page.getByRole('button', { name: 'Confirm my email' }).click();
  await page.locator('#verify-done').filter({ hasText: 'confirmed' }).waitFor();
  await assertFormsGone(page, 'verify email');
  await page.goto(`${server.url}/#/sign-in`);
  await page.goto(link);
  await page.getByRole('button', { name: 'Confirm my email' }).click();
  await page.getByRole('alert').filter({ hasText: 'already used' }).waitFor();
  await context.close();
});
