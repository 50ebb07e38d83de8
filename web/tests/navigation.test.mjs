// Getting around: the page asked for before signing in is the page shown after it (also through
// a reload, through registration, and after a session ended under it), while a sign-out or a
// crafted `next` leads to the profile.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  launchBrowser,
  registerByApi,
  startServer,
  uniqueEmail,
} from './harness.mjs';

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

async function fillSignIn(page, email) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const hashOf = (page) => new URL(page.url()).hash;

describe('back to the page asked for', () => {
  test('a signed-out visit to a page signs in there, also after a reload of the sign-in page', async () => {
    const email = await registerByApi(server.url);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#/sessions`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(hashOf(page), '#/sign-in?next=%2Fsessions');
    assert.equal(await page.locator('#sign-in-lead').textContent(), 'Sign in to continue to your sessions.');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await fillSignIn(page, email);
    await page.getByRole('heading', { level: 1, name: 'Your sessions' }).waitFor();
    assert.equal(hashOf(page), '#/sessions');
    await context.close();
  });

  test('the query comes along: an administrator\'s link to one account', async () => {
    const target = await registerByApi(server.url, uniqueEmail('target'));
    const login = await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: adminEmail, password: PASSWORD }),
    }).then((r) => r.json());
    const found = await fetch(`${server.url}/api/admin/users?q=${encodeURIComponent(target)}`, {
      headers: { Authorization: `Bearer ${login.access_token}` },
    }).then((r) => r.json());
    const id = found.users[0].id;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#/admin?user=${id}`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await fillSignIn(page, adminEmail);
    await page.getByRole('heading', { level: 1, name: target }).waitFor();
    assert.equal(hashOf(page), `#/admin?user=${id}`);
    await context.close();
  });

  test('through registration: a new account lands on the page it was asked for', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#/password`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
    assert.equal(hashOf(page), '#/register?next=%2Fpassword');
    await page.getByLabel('Email').fill(uniqueEmail('new'));
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Change your password' }).waitFor();
    await context.close();
  });

  test('a session that ended under a page signs in back to it; signing out does not', async () => {
    const email = await registerByApi(server.url);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#/todos`);
    await fillSignIn(page, email);
    await page.getByRole('heading', { level: 1, name: 'Your todos' }).waitFor();

    // Another client of the account signs out everywhere else: this session ends.
    const api = await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    }).then((r) => r.json());
    const out = await fetch(`${server.url}/auth/logout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${api.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ scope: 'others' }),
    });
    assert.equal(out.status, 204);
    await page.getByLabel('New todo').fill('Buy milk');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.locator('#session-ended[data-reason="signed_out_elsewhere"]').waitFor();
    assert.equal(hashOf(page), '#/sign-in?next=%2Ftodos');
    await fillSignIn(page, email);
    await page.getByRole('heading', { level: 1, name: 'Your todos' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended[data-reason="logout"]').waitFor();
    assert.equal(hashOf(page), '#/sign-in');
    await fillSignIn(page, email);
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    await context.close();
  });

  test('a next that is not one of the signed-in pages leads to the profile', async () => {
    const email = await registerByApi(server.url);
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const next of ['//evil.example/', 'https://evil.example/', '/register', '/nowhere', 'javascript:alert(1)']) {
      await page.goto(`${server.url}/#/sign-in?next=${encodeURIComponent(next)}`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      assert.equal(await page.locator('#sign-in-lead').textContent(), 'Welcome back. Sign in to see your account.', next);
      await fillSignIn(page, email);
      await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
      assert.equal(new URL(page.url()).origin, server.url, next);
      assert.equal(hashOf(page), '#/profile', next);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#session-ended').waitFor();
    }
    await context.close();
  });
});
