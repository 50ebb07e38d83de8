// The administrators' page and the activity page: an administrator (made with the CLI, as an
// operator would) changes a user's roles and plan and disables them; a non-administrator is
// refused by the page and by the server; a user sees their own sign-ins.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  launchBrowser,
  registerByApi,
  registerThroughPage,
  screenshot,
  signInThroughPage,
  startServer,
  uniqueEmail,
} from './harness.mjs';

// Generous: the suite runs two files at once on a small, loaded machine.
const TIMEOUT = 60_000;

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

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  return { context, page: await context.newPage() };
}

/** Waits until `locator`'s text is exactly `text` (status lines change as requests finish). */
async function textBecomes(locator, text) {
  await locator.filter({ hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }).waitFor();
  assert.equal(await locator.textContent(), text);
}

function mainNav(page) {
  return page.getByRole('navigation', { name: 'Main' });
}

describe('administration', () => {
  test('an administrator changes roles and plan, disables a user, and reads it all in the audit log', async () => {
    const target = await registerByApi(server.url, uniqueEmail('target'));
    const { context, page } = await newPage();
    await signInThroughPage(page, server.url, adminEmail);
    await mainNav(page).getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();

    await page.getByLabel('Search by email').fill(target);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await textBecomes(page.locator('#admin-status'), `1 user matching “${target}”.`);
    const card = page.locator('li[data-user]');
    assert.equal(await card.count(), 1);
    const note = card.getByRole('status');
    const summary = card.locator('[data-summary]');

    await card.getByLabel(`Roles for ${target}`, { exact: true }).fill('support, billing');
    await card.getByRole('button', { name: `Save roles for ${target}` }).click();
    await textBecomes(note, `Roles saved for ${target}.`);
    assert.match(await summary.textContent(), /^Roles: billing, support · Plan: free · Active · /);

    // A plan the server does not know is refused next to the field, with the known ones.
    const plan = card.getByLabel(`Plan for ${target}`, { exact: true });
    await plan.fill('gold');
    await card.getByRole('button', { name: `Save plan for ${target}` }).click();
    await textBecomes(card.locator('[id$="-plan-error"]'), 'Choose one of the plans this server has: free, pro.');
    await plan.fill('pro');
    await card.getByRole('button', { name: `Save plan for ${target}` }).click();
    await textBecomes(note, `Plan saved for ${target}.`);
    assert.equal(await card.locator('[id$="-plan-error"]').isHidden(), true);
    assert.match(await summary.textContent(), /^Roles: billing, support · Plan: pro · Active · /);

    await card.getByRole('button', { name: `Disable the account of ${target}` }).click();
    await textBecomes(note, `${target} is disabled: their sessions ended and they cannot sign in.`);
    assert.match(await summary.textContent(), / · Disabled · /);
    await card.getByRole('button', { name: `Enable the account of ${target}` }).waitFor();

    // The audit log, reloaded after each action, names the accounts by email.
    const disabled = page.locator('#audit-list > li[data-event="disable_user"]');
    await disabled.waitFor();
    assert.equal(await disabled.locator('.notice__title').textContent(), 'Account disabled');
    assert.match(await disabled.textContent(), new RegExp(`by ${adminEmail} · account ${target} · IP 127\\.0\\.0\\.1`));
    const events = await page.locator('#audit-list > li').evaluateAll((items) => items.slice(0, 3).map((li) => li.dataset.event));
    assert.deepEqual(events, ['disable_user', 'set_plan', 'set_roles']);
    await screenshot(page, 'admin-desktop');

    // An administrator cannot disable themself: the 409 is said in plain words.
    await page.getByLabel('Search by email').fill(adminEmail);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await textBecomes(page.locator('#admin-status'), `1 user matching “${adminEmail}”.`);
    await card.getByRole('button', { name: `Disable the account of ${adminEmail}` }).click();
    await textBecomes(
      card.getByRole('status'),
      'You cannot disable your own account. Ask another administrator to do it.',
    );
    await page.locator('#audit-list > li[data-event="disable_user"][data-outcome="failure"]').waitFor();

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'admin-phone');
    await context.close();

    // The disabled user's correct password now meets account_disabled.
    const { context: theirs, page: theirPage } = await newPage();
    await theirPage.goto(`${server.url}/#/sign-in`);
    await theirPage.getByLabel('Email').fill(target);
    await theirPage.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const answer = theirPage.waitForResponse((r) => r.url().endsWith('/auth/login'));
    await theirPage.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await answer).status(), 403);
    assert.equal((await (await answer).json()).code, 'account_disabled');
    await textBecomes(theirPage.locator('#form-error'), 'This account has been disabled by an administrator. Contact them if you think this is a mistake.');
    await theirs.close();
  });

  test('a non-administrator gets no Admin link, a plain refusal at #/admin, and 403 from the API', async () => {
    const { context, page } = await newPage();
    const adminCalls = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/api/admin/')) adminCalls.push(request.url());
    });
    await registerThroughPage(page, server.url);
    const links = await mainNav(page).getByRole('link').allTextContents();
    assert.deepEqual(links, ['Profile', 'Todos', 'Sessions', 'Activity']);

    await page.evaluate(() => {
      window.location.hash = '#/admin';
    });
    await page.getByRole('heading', { level: 1, name: 'Administrators only' }).waitFor();
    assert.equal(
      await page.locator('#admin-only .lead').textContent(),
      'This page is for administrators of this server, and your account is not one. Ask an administrator if you need access.',
    );
    assert.equal(await page.title(), 'Administrators only · jwtgate');
    assert.deepEqual(adminCalls, []);

    // The page is only a courtesy: the server refuses the call itself.
    const direct = await page.evaluate(async () => {
      const response = await fetch('/api/admin/users', { headers: { Accept: 'application/json' } });
      return { status: response.status, code: (await response.json()).code };
    });
    assert.deepEqual(direct, { status: 403, code: 'insufficient_scope' });
    await context.close();
  });
});

describe('activity', () => {
  test('the activity page lists your own sign-in, newest first, after a refused one', async () => {
    const email = await registerByApi(server.url, uniqueEmail('activity'));
    const refused = await fetch(`${server.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: 'not the password at all' }),
    });
    assert.equal(refused.status, 401);

    const { context, page } = await newPage();
    await signInThroughPage(page, server.url, email);
    await mainNav(page).getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your activity' }).waitFor();
    await textBecomes(page.locator('#activity-status'), '3 events shown, newest first.');

    const items = page.locator('#activity-list > li');
    const seen = await items.evaluateAll((lis) => lis.map((li) => `${li.dataset.event}:${li.dataset.outcome}`));
    assert.deepEqual(seen, ['login:success', 'login:failure', 'register:success']);
    assert.equal(await items.nth(0).locator('.notice__title').textContent(), 'You signed in.');
    // The sign-in of this very session still knows its device.
    assert.match(await items.nth(0).locator('.muted').textContent(), / · IP 127\.0\.0\.1 · device \S/);
    assert.equal(
      await items.nth(1).locator('.notice__title').textContent(),
      'Someone tried to sign in to your account with a wrong password.',
    );
    assert.equal(await items.nth(2).locator('.notice__title').textContent(), 'You created your account.');
    await screenshot(page, 'activity-desktop');
    await context.close();
  });
});
