// The administrators' page and the activity page: an administrator (made with the CLI, as an
// operator would) pages through and searches 500 accounts in a table, opens one, changes its roles
// and plan, ends its sessions and disables it after a confirmation; a non-administrator is refused
// by the page and by the server; a user sees their own sign-ins. On the same page an administrator
// registers an app (OAuth client), sees its secret once (with the warning), sees it listed, reloads
// and sees no secret, removes it after a confirmation; an http redirect URI on a host that is not
// loopback is refused next to its field.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  launchBrowser,
  registerByApi,
  registerManyByApi,
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
  // The tests page through hundreds of accounts within a minute, faster than the free plan's 60
  // requests a minute allow the administrator.
  server = await startServer({ JWTGATE_RATE_LIMITS: 'free=600,pro=6000' });
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

const BULK = 500;

/** The next /api/admin/users answer's JSON (the page's own request). */
async function usersAnswer(page, act) {
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/admin/users');
  await act();
  const response = await answer;
  assert.equal(response.status(), 200);
  return response.json();
}

async function rowEmails(page) {
  return page.locator('#admin-users tbody tr .table__email').allTextContents();
}

async function openAdmin(page) {
  await signInThroughPage(page, server.url, adminEmail);
  const first = await usersAnswer(page, () => mainNav(page).getByRole('link', { name: 'Admin' }).click());
  await page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
  return first;
}

/** Searches by email and opens the one account found. */
async function openUser(page, email) {
  await page.getByLabel('Search by email').fill(email);
  const found = await usersAnswer(page, () => page.getByRole('button', { name: 'Search', exact: true }).click());
  assert.equal(found.total, 1, `one account matches ${email}`);
  await page.locator('#admin-users tbody').getByRole('link', { name: email, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: email }).waitFor();
  await page.locator('#admin-user-facts dd').first().waitFor();
}

describe('administration', () => {
  before(async () => {
    await registerManyByApi(server.url, BULK, 'bulk');
  });

  test('500 accounts: a table a page at a time, searchable by email, the place kept in the address', async () => {
    const { context, page } = await newPage();
    const first = await openAdmin(page);
    assert.ok(first.total >= BULK + 1, `total ${first.total}`);
    const pages = Math.ceil(first.total / 25);

    const headers = await page.locator('#admin-users thead th').allTextContents();
    assert.deepEqual(headers, ['Email', 'Roles', 'Plan', 'Status', 'Created']);
    assert.equal(await page.locator('#admin-users tbody tr').count(), 25);
    await textBecomes(page.locator('#admin-status'), `${first.total} users; showing 1–25.`);
    await textBecomes(page.locator('#admin-page'), `Page 1 of ${pages}`);
    // The administrator (made first, by the CLI) is on top, oldest first, with their role.
    const top = page.locator('#admin-users tbody tr').first();
    assert.deepEqual(await top.locator('td').allTextContents(), [adminEmail, 'admin', 'free', 'Active', (await top.locator('td').nth(4).textContent())]);
    // A row is a line, not a card: 25 of them fit in less than two screens.
    const rowHeight = (await top.boundingBox()).height;
    assert.ok(rowHeight < 56, `row height ${rowHeight}`);
    assert.equal(await page.getByRole('button', { name: 'Previous page' }).isDisabled(), true);
    await screenshot(page, 'admin-desktop');

    const second = await usersAnswer(page, () => page.getByRole('button', { name: 'Next page' }).click());
    assert.equal(second.page, 2);
    assert.deepEqual(await rowEmails(page), second.users.map((u) => u.email));
    await textBecomes(page.locator('#admin-status'), `${first.total} users; showing 26–50.`);
    assert.equal(new URL(page.url()).hash, '#/admin?page=2');

    const last = await usersAnswer(page, () => page.getByRole('button', { name: 'Last page' }).click());
    assert.equal(last.page, pages);
    assert.equal(await page.locator('#admin-users tbody tr').count(), first.total - 25 * (pages - 1));
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);

    // Back returns to page 2, and a reload keeps it.
    const backAgain = await usersAnswer(page, () => page.goBack());
    assert.equal(backAgain.page, 2);
    await textBecomes(page.locator('#admin-page'), `Page 2 of ${pages}`);
    const reloaded = await usersAnswer(page, () => page.reload());
    assert.equal(reloaded.page, 2);

    // Search by part of an address: the server's search, its own count.
    await page.getByLabel('Search by email').fill('bulk-042');
    const found = await usersAnswer(page, () => page.getByRole('button', { name: 'Search', exact: true }).click());
    assert.equal(found.total, 10);
    assert.deepEqual((await rowEmails(page)).sort(), Array.from({ length: 10 }, (_, i) => `bulk-042${i}@example.com`));
    await textBecomes(page.locator('#admin-status'), '10 users matching “bulk-042”; showing 1–10.');
    assert.equal(await page.locator('nav[aria-label="Pages of users"]').isHidden(), true);
    assert.equal(new URL(page.url()).hash, '#/admin?q=bulk-042');
    await page.getByLabel('Search by email').fill('nobody-like-this');
    await usersAnswer(page, () => page.getByRole('button', { name: 'Search', exact: true }).click());
    await textBecomes(page.locator('#admin-status'), 'No users matching “nobody-like-this”.');
    const everyone = await usersAnswer(page, () => page.getByRole('button', { name: 'Show everyone' }).click());
    assert.equal(everyone.total, first.total);

    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'admin-phone');
    // On a phone the table reads as a list: no sideways scrolling.
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
    await context.close();
  });

  test('one account: roles, a plan from the server\'s plans, ending sessions and disabling after a confirmation', async () => {
    const target = await registerByApi(server.url, uniqueEmail('target'));
    const { context: theirs, page: theirPage } = await newPage();
    await signInThroughPage(theirPage, server.url, target);

    const { context, page } = await newPage();
    const changes = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET' && new URL(r.url()).pathname.startsWith('/api/admin/users/')) changes.push(`${r.method()} ${new URL(r.url()).pathname.split('/').pop()}`);
    });
    await openAdmin(page);
    await openUser(page, target);
    const facts = async () => Object.fromEntries(
      await page.locator('#admin-user-facts').evaluate((dl) => [...dl.querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
    );
    assert.deepEqual({ ...(await facts()), Created: null, 'User id': null }, { Status: 'Active', Roles: 'none', Plan: 'free', Created: null, 'User id': null });
    const rolesNote = page.locator('#admin-roles-note');
    const planNote = page.locator('#admin-plan-note');
    const note = page.locator('#admin-access-note');

    // The plan picker lists what the server has configured.
    const plans = await page.evaluate(() => fetch('/api/admin/plans').then((r) => r.json()));
    assert.deepEqual(
      await page.locator('#admin-plan option').allTextContents(),
      plans.plans.map((p) => `${p.name}: ${p.requests_per_minute} requests a minute${p.name === plans.default ? ' (the default)' : ''}`),
    );
    await page.getByRole('combobox', { name: 'Plan' }).selectOption('pro');
    const planSaved = page.waitForResponse((r) => r.url().endsWith('/plan'));
    await page.getByRole('button', { name: 'Save plan' }).click();
    assert.equal((await planSaved).status(), 200);
    assert.deepEqual((await planSaved).request().postDataJSON(), { plan: 'pro' });
    await textBecomes(planNote, 'Plan saved: pro. It applies from the account’s next token refresh.');
    assert.equal((await facts()).Plan, 'pro');

    // Roles: a name the server refuses is explained next to the field; then two are saved.
    await page.getByLabel('Add a role').fill('Support!');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await textBecomes(page.locator('#admin-new-role-error'), 'Start with a lower-case letter, then use up to 31 of a to z, 0 to 9, _ or -.');
    await page.getByLabel('Add a role').fill('support');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByLabel('Add a role').fill('billing');
    const rolesSaved = page.waitForResponse((r) => r.url().endsWith('/roles'));
    await page.getByRole('button', { name: 'Save roles' }).click();
    assert.equal((await rolesSaved).status(), 200);
    assert.deepEqual((await rolesSaved).request().postDataJSON(), { roles: ['support', 'billing'] });
    await textBecomes(rolesNote, 'Roles saved: billing, support.');
    assert.equal((await facts()).Roles, 'billing, support');
    assert.equal(await page.getByLabel('support', { exact: true }).isChecked(), true);
    await screenshot(page, 'admin-user-desktop');

    // Ending all sessions asks first; Cancel sends nothing.
    const before = changes.length;
    await page.getByRole('button', { name: 'End all sessions' }).click();
    const dialog = page.getByRole('dialog', { name: `End every session of ${target}?` });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'Cancel has the focus');
    await screenshot(page, 'admin-confirm-desktop', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(changes.slice(before), []);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'admin-end-sessions', 'focus back on the button');

    await page.getByRole('button', { name: 'End all sessions' }).click();
    const ended = page.waitForResponse((r) => r.url().endsWith('/sessions') && r.request().method() === 'DELETE');
    await dialog.getByRole('button', { name: 'End all sessions' }).click();
    assert.equal((await ended).status(), 200);
    assert.deepEqual(await (await ended).json(), { ended_sessions: 1 });
    await textBecomes(note, `Ended 1 session of ${target}.`);
    await theirPage.getByRole('button', { name: 'Check again' }).click();
    await theirPage.locator('#session-ended[data-reason="signed_out_by_admin"]').waitFor();

    // Disabling asks too; Escape is a no.
    await page.getByRole('button', { name: 'Disable account' }).click();
    const disableDialog = page.getByRole('dialog', { name: `Disable ${target}?` });
    await disableDialog.waitFor();
    await page.keyboard.press('Escape');
    await disableDialog.waitFor({ state: 'detached' });
    assert.deepEqual(changes.slice(before), ['DELETE sessions']);
    await page.getByRole('button', { name: 'Disable account' }).click();
    const disabled = page.waitForResponse((r) => r.url().endsWith('/disable'));
    await disableDialog.getByRole('button', { name: 'Disable account' }).click();
    assert.equal((await disabled).status(), 200);
    await textBecomes(note, `${target} is disabled: their sessions ended and they cannot sign in.`);
    assert.equal((await facts()).Status, 'Disabled');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'admin-user-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    // The disabled user's correct password now meets account_disabled.
    await theirPage.getByLabel('Email').fill(target);
    await theirPage.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const answer = theirPage.waitForResponse((r) => r.url().endsWith('/auth/login'));
    await theirPage.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await answer).status(), 403);
    assert.equal((await (await answer).json()).code, 'account_disabled');
    await textBecomes(theirPage.locator('#form-error'), 'This account has been disabled by an administrator. Contact them if you think this is a mistake.');
    await theirs.close();

    // Enabling needs no confirmation.
    const enabled = page.waitForResponse((r) => r.url().endsWith('/enable'));
    await page.getByRole('button', { name: 'Enable account' }).click();
    assert.equal((await enabled).status(), 200);
    assert.equal((await facts()).Status, 'Active');

    // Back on the list: the row shows the change, and the audit log names the accounts by email.
    await usersAnswer(page, () => page.locator('#admin-back').click());
    await page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
    assert.equal(new URL(page.url()).hash, `#/admin?q=${encodeURIComponent(target)}`);
    assert.deepEqual(
      (await page.locator('#admin-users tbody tr td').allTextContents()).slice(0, 4),
      [target, 'billing, support', 'pro', 'Active'],
    );
    const events = page.locator('#audit-list > li');
    await events.first().waitFor();
    const recent = await events.evaluateAll((items) => items.slice(0, 5).map((li) => li.dataset.event));
    assert.deepEqual(recent, ['enable_user', 'disable_user', 'end_sessions', 'set_roles', 'set_plan']);
    assert.match(await events.nth(1).textContent(), new RegExp(`account ${target} · by ${adminEmail} · IP 127\\.0\\.0\\.1`));
    await context.close();
  });

  test('an administrator\'s own account: disabling it is refused in words', async () => {
    const { context, page } = await newPage();
    await openAdmin(page);
    await openUser(page, adminEmail);
    await textBecomes(page.locator('#admin-user-status'), 'This is your own account: you cannot disable it or remove its admin role.');
    await page.getByRole('button', { name: 'Disable account' }).click();
    const refused = page.waitForResponse((r) => r.url().endsWith('/disable'));
    await page.getByRole('dialog').getByRole('button', { name: 'Disable account' }).click();
    assert.equal((await refused).status(), 409);
    assert.equal((await (await refused).json()).code, 'cannot_modify_self');
    await textBecomes(page.locator('#admin-access-note'), 'You cannot disable your own account. Ask another administrator to do it.');
    assert.equal(await page.locator('#admin-access-note').getAttribute('class'), 'notice notice--error');

    await page.getByLabel('admin (administrator: this page, every account)').uncheck();
    const roles = page.waitForResponse((r) => r.url().endsWith('/roles'));
    await page.getByRole('button', { name: 'Save roles' }).click();
    assert.equal((await roles).status(), 409);
    await textBecomes(page.locator('#admin-roles-note'), 'You cannot remove your own administrator role. Ask another administrator to do it.');
    assert.equal(await page.locator('#admin-access-note').isHidden(), true, 'the earlier refusal is gone');
    await context.close();
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

// --- apps (OAuth clients) -------------------------------------------------------------------------

async function openApps() {
  const { context, page } = await newPage();
  await signInThroughPage(page, server.url, adminEmail);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('heading', { level: 2, name: 'Apps (OAuth clients)' }).waitFor();
  await page.locator('#clients-status').filter({ hasText: /registered/ }).waitFor();
  return { context, page };
}

/** Submits the form and waits for the server's answer to it. */
async function register(page) {
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/admin/clients' && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Register app' }).click();
  return answer;
}

describe('apps (OAuth clients)', () => {
  test('an app is registered, its secret shown once, listed, and removed after a confirmation', async () => {
    const { context, page } = await openApps();
    assert.equal(await page.locator('#clients-status').textContent(), 'No apps registered yet.');

    await page.getByLabel('Name').fill('Orders dashboard');
    await page.getByLabel('Redirect URIs').fill('https://orders.example.com/callback\nhttp://127.0.0.1:8765/callback');
    await page.getByLabel(/First party/).check();
    const answer = await register(page);
    assert.equal(answer.status(), 201);

    const secretField = page.getByLabel('Client secret');
    await secretField.waitFor();
    const secret = await secretField.inputValue();
    assert.match(secret, /^jgc_[A-Za-z0-9_-]{43}$/);
    assert.equal(await secretField.getAttribute('readonly'), '');
    const clientId = await page.getByLabel('Client ID').inputValue();
    assert.match(await page.locator('#client-secret-warning').textContent(), /will not be shown again/);
    const row = page.locator(`#admin-clients tr[data-client="${clientId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[0], 'Orders dashboard first party');
    assert.equal(cells[1], clientId);
    assert.equal(cells[2], 'Confidential');
    assert.match(cells[3], /https:\/\/orders\.example\.com\/callback\s+http:\/\/127\.0\.0\.1:8765\/callback/);
    assert.equal(await page.locator('#clients-status').textContent(), '1 app registered.');
    // The form is ready for the next app.
    assert.equal(await page.getByLabel('Name').inputValue(), '');
    await screenshot(page, 'admin-clients-secret');

    // A reload lists the app, and the secret is nowhere: not in the page, not in the server's log.
    await page.reload();
    await row.waitFor();
    assert.equal(await page.locator('#client-new-secret').count(), 0);
    assert.ok(!(await page.content()).includes(secret), 'the secret is not on the page after a reload');
    assert.ok(!server.logs.join('').includes(secret), 'the secret is not in the log');

    await row.getByRole('button', { name: 'Remove' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove Orders dashboard?' });
    await dialog.waitFor();
    await screenshot(page, 'admin-clients-remove', { fullPage: false });
    await dialog.getByRole('button', { name: 'Remove app' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#clients-note').textContent(), 'Orders dashboard is removed.');
    await page.locator('#clients-status').filter({ hasText: 'No apps registered yet.' }).waitFor();
    await context.close();
  });

  test('the audit log names an app and a signing key as what they are, not as accounts', async () => {
    const { context, page } = await openApps();
    await page.getByLabel('Name').fill('Audit board');
    await page.getByLabel('Redirect URIs').fill('https://audit.example.com/callback');
    assert.equal((await register(page)).status(), 201);
    const clientId = await page.getByLabel('Client ID').inputValue();
    // A key rotation by the same administrator, through the API with this session's CSRF token.
    const rotated = await page.evaluate(async () => {
      const { csrf_token: token } = await (await fetch('/auth/csrf')).json();
      const answer = await fetch('/api/admin/keys/rotate', { method: 'POST', headers: { 'X-CSRF-Token': token } });
      return { status: answer.status, kid: (await answer.json()).key.kid };
    });
    assert.equal(rotated.status, 200);
    await page.reload();
    const added = page.locator('#audit-list > li[data-event="client_added"]').first();
    await added.waitFor();
    assert.ok((await added.textContent()).includes(`app ${clientId}`));
    const key = page.locator('#audit-list > li[data-event="key_rotated"]').first();
    await key.waitFor();
    const text = await key.textContent();
    assert.ok(text.includes(`key ${rotated.kid}`), text);
    assert.doesNotMatch(text, /account user/);
    assert.match(text, /^Signing key rotated/);
    await key.scrollIntoViewIfNeeded();
    await screenshot(page, 'admin-audit-app-and-key', { fullPage: false });
    await context.close();
  });

  test('an http redirect URI on a host that is not loopback is refused next to its field', async () => {
    const { context, page } = await openApps();
    await page.getByLabel('Name').fill('Legacy portal');
    await page.getByLabel('Redirect URIs').fill('http://portal.example.com/callback');
    const answer = await register(page);
    assert.equal(answer.status(), 422);
    const error = page.locator('#client-uris-error');
    await error.waitFor();
    assert.equal(
      await error.textContent(),
      'The redirect URI “http://portal.example.com/callback” must use https (http only on a loopback host: 127.0.0.1, [::1] or localhost).',
    );
    assert.equal(await page.getByLabel('Redirect URIs').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#client-new-secret').count(), 0);
    // Nothing was registered (other tests' apps may be listed).
    assert.equal(await page.locator('#admin-clients tbody tr', { hasText: 'Legacy portal' }).count(), 0);
    await screenshot(page, 'admin-clients-refused');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('#client-uris-error').scrollIntoViewIfNeeded();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await screenshot(page, 'admin-clients-phone');
    await context.close();
  });
});
