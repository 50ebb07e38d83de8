// Getting around: the page asked for before signing in is the page shown after it (also through
// a reload, through registration, and after a session ended under it), while a sign-out or a
// crafted `next` leads to the profile; on a phone the header is one line, the signed-in entries
// behind a Menu button.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  launchBrowser,
  registerByApi,
  screenshot,
  signInThroughPage,
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

/** The header's line: its height, and the vertical centre of the name and of each shown entry. */
async function headerLine(page) {
  return page.evaluate(() => {
    const centre = (el) => {
      const r = el.getBoundingClientRect();
      return Math.round(r.top + r.height / 2);
    };
    const shown = (el) => el.getClientRects().length > 0;
    const entries = [...document.querySelectorAll('#nav a, #nav button'), document.getElementById('nav-toggle')].filter(shown);
    return {
      height: Math.round(document.querySelector('.site-header').getBoundingClientRect().height),
      brand: centre(document.querySelector('.brand')),
      entries: entries.map((el) => ({ text: el.textContent.trim(), centre: centre(el) })),
    };
  });
}

function assertOneLine(line, what) {
  assert.ok(line.height <= 72, `${what}: the header is one line (${line.height}px)`);
  for (const entry of line.entries) {
    assert.ok(Math.abs(entry.centre - line.brand) <= 4, `${what}: “${entry.text}” is on the name's line (${entry.centre} vs ${line.brand})`);
  }
}

const ADMIN_ENTRIES = ['Profile', 'Todos', 'Sessions', 'Activity', 'Admin', 'Sign out'];

describe('the header', () => {
  test('on a 375 px phone: one line, the signed-in entries behind Menu, which opens, leads and closes', async () => {
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    await page.goto(`${server.url}/#/sign-in`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const guest = await headerLine(page);
    assert.deepEqual(guest.entries.map((e) => e.text), ['Sign in', 'Create account'], 'a visitor has no menu to open');
    assertOneLine(guest, 'visitor');

    await signInThroughPage(page, server.url, adminEmail);
    const toggle = page.getByRole('button', { name: 'Menu' });
    const signedIn = await headerLine(page);
    assert.deepEqual(signedIn.entries.map((e) => e.text), ['Menu'], 'only the Menu button shows');
    assertOneLine(signedIn, 'signed in');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await screenshot(page, 'menu-closed-phone', { fullPage: false });

    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const links = page.getByRole('navigation', { name: 'Main' }).locator('a, button');
    assert.deepEqual(await links.allTextContents(), ADMIN_ENTRIES);
    for (const link of await links.all()) assert.equal(await link.isVisible(), true);
    await screenshot(page, 'menu-open-phone', { fullPage: false });

    // An entry leads there and folds the menu.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your sessions' }).waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false);

    // Escape folds it and gives the focus back to Menu; so does a click elsewhere.
    await toggle.click();
    await page.keyboard.press('Escape');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'nav-toggle');
    await toggle.click();
    await page.locator('.site-footer').click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');

    // And Sign out is in it.
    await toggle.click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended[data-reason="logout"]').waitFor();
    await context.close();
  });

  for (const width of [1280, 720]) {
    test(`at ${width} px every entry is on the name's line, with no Menu button`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 800 } });
      const page = await context.newPage();
      await signInThroughPage(page, server.url, adminEmail);
      const line = await headerLine(page);
      assert.deepEqual(line.entries.map((e) => e.text), ADMIN_ENTRIES);
      assertOneLine(line, `${width} px`);
      await context.close();
    });
  }
});
