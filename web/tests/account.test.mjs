// The sign-in address and the account itself, through the pages: change the address (a link to
// the new one, nothing changes until its button is pressed), undo it from the old address's link
// (every session ends, a reset link goes there), and delete the account (the password again and a
// confirmation; every session ends). Each refusal is said in words: a wrong password, a taken or
// unchanged address, a link used twice or broken, the last administrator.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  addUserWithCli,
  assertFormsGone,
  launchBrowser,
  registerByApi,
  screenshot,
  signInThroughPage,
  startServer,
  tokenFromOutbox,
  uniqueEmail,
} from './harness.mjs';

// Every test here mails; the default ration (20 mails an hour caused by one client) is for people.
const MAIL_LIMITS = { JWTGATE_MAIL_CLIENT_PER_HOUR: '1000', JWTGATE_MAIL_RECIPIENT_PER_HOUR: '100' };
const NEW_PASSWORD = 'a brand new staple for the battery';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;

before(async () => {
  server = await startServer(MAIL_LIMITS);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function exactText(locator, text) {
  await locator.filter({ hasText: text }).waitFor();
  assert.equal((await locator.textContent()).trim(), text);
}

/** The visible text of a notice, its paragraphs joined by spaces. */
async function paragraphs(locator) {
  return (await locator.locator('p').allTextContents()).map((t) => t.trim()).join(' ');
}

async function login(email, password = PASSWORD) {
  return fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

/** A change of address made and confirmed without the pages, for the tests about undoing it. */
async function changeByApi(from, to) {
  const { access_token: token } = await (await login(from)).json();
  const asked = await fetch(`${server.url}/auth/email/change`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ new_email: to, password: PASSWORD }),
  });
  assert.equal(asked.status, 202, await asked.text());
  const confirmToken = await tokenFromOutbox(server.dataDir, to, 'confirm-email');
  const confirmed = await fetch(`${server.url}/auth/email/change/confirm`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: confirmToken }),
  });
  assert.equal(confirmed.status, 204, await confirmed.text());
}

const answerOf = (page, path) => page.waitForResponse((r) => new URL(r.url()).pathname === path);

async function askForChange(page, to, password) {
  await page.getByLabel('New email address').fill(to);
  await page.getByLabel('Current password', { exact: true }).fill(password);
  const answer = answerOf(page, '/auth/email/change');
  await page.getByRole('button', { name: 'Send the confirmation link' }).click();
  return answer;
}

async function pressButton(page, name, path) {
  const answer = answerOf(page, path);
  await page.getByRole('button', { name }).click();
  return answer;
}

async function violations(page) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

describe('changing the sign-in address', () => {
  test('refusals at their field; the link to the new address makes the change, once, and only its button', async () => {
    const email = await registerByApi(server.url, uniqueEmail('old'));
    const taken = await registerByApi(server.url, uniqueEmail('taken'));
    const next = uniqueEmail('new');
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, email);

    await page.getByRole('link', { name: 'Change your email address' }).click();
    await page.getByRole('heading', { level: 1, name: 'Change your email address' }).waitFor();
    assert.equal((await page.locator('.lead').textContent()).trim(), `Your sign-in address is ${email}.`);
    assert.match(await paragraphs(page.locator('#email-consequence')), /changes only when that link is opened and its button pressed/);

    // Nothing typed: said at the field, nothing sent.
    await page.getByRole('button', { name: 'Send the confirmation link' }).click();
    await exactText(page.locator('#new-email-error'), 'Enter the new email address.');

    const wrong = await askForChange(page, next, 'not my password at all');
    assert.equal(wrong.status(), 400);
    assert.equal((await wrong.json()).code, 'wrong_password');
    await exactText(page.locator('#current-password-error'), 'That is not your current password. Check it and try again.');
    assert.equal(await page.getByLabel('Current password', { exact: true }).getAttribute('aria-invalid'), 'true');

    const same = await askForChange(page, email.toUpperCase(), PASSWORD);
    assert.equal(same.status(), 422);
    await exactText(page.locator('#new-email-error'), 'This is already your sign-in address. Enter the new one.');
    assert.equal(await page.locator('#current-password-error').isHidden(), true, 'the earlier complaint is gone');

    const clash = await askForChange(page, taken, PASSWORD);
    assert.equal(clash.status(), 409);
    assert.equal((await clash.json()).code, 'email_taken');
    await exactText(page.locator('#new-email-error'), 'Another account already signs in with this address. Choose a different one.');
    assert.equal(await page.getByLabel('New email address').getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'email-change-taken-desktop');

    const asked = await askForChange(page, next, PASSWORD);
    assert.equal(asked.status(), 202);
    assert.deepEqual(asked.request().postDataJSON(), { new_email: next, password: PASSWORD });
    const sent = page.locator('#email-sent');
    await exactText(sent.locator('.notice__title'), `Check your mail at ${next}.`);
    assert.equal(
      await paragraphs(sent),
      `Check your mail at ${next}. We sent a link to that address. Your sign-in address changes only when the link is used: ` +
        `open it within 24 hours and press its button. Until then, sign in with ${email} as before. ` +
        'If nothing arrives within a few minutes, check the address and ask again. Back to your profile',
    );
    await assertFormsGone(page, 'change address');
    await screenshot(page, 'email-change-sent-desktop');

    // Nothing changed yet.
    assert.equal((await login(email)).status, 200);
    assert.equal((await login(next)).status, 401);

    const token = await tokenFromOutbox(server.dataDir, next, 'confirm-email');
    const link = `${server.url}/#/confirm-email?token=${encodeURIComponent(token)}`;
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Confirm your new address' }).waitFor();
    // Opening (and reopening) the page spent nothing: a mail scanner changes nothing.
    await page.reload();
    await page.getByRole('button', { name: 'Confirm the new address' }).waitFor();
    assert.equal((await login(next)).status, 401, 'opening the link changed nothing');

    const confirmed = await pressButton(page, 'Confirm the new address', '/auth/email/change/confirm');
    assert.equal(confirmed.status(), 204);
    const done = page.locator('#confirm-email-done');
    await exactText(done.locator('.notice__title'), 'Your sign-in address is changed.');
    assert.match(await paragraphs(done), /Your old address was told about the change, with a link that undoes it for 72 hours\./);
    await assertFormsGone(page, 'confirm address');
    await screenshot(page, 'confirm-email-done-desktop');

    // This session goes on, now under the new address.
    await done.getByRole('link', { name: 'Back to your profile' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    await page.locator('.lead').filter({ hasText: `Signed in as ${next}.` }).waitFor();
    assert.equal((await login(next)).status, 200);
    assert.equal((await login(email)).status, 401);
    // The old address was told, with its undo link.
    await tokenFromOutbox(server.dataDir, email, 'undo-email');

    // The same link again: it was used.
    await page.goto(link);
    const again = await pressButton(page, 'Confirm the new address', '/auth/email/change/confirm');
    assert.equal(again.status(), 400);
    assert.equal((await again.json()).code, 'token_used');
    await exactText(
      page.locator('#form-error'),
      'This link was already used. Each link works once: if you pressed its button before, your sign-in address is already the new one.',
    );
    assert.equal(await page.locator('#confirm-email-done').isHidden(), true);
    await screenshot(page, 'confirm-email-used-desktop');
    await context.close();
  });

  test('an address taken before the link is used, and a broken link, are said in words', async () => {
    const email = await registerByApi(server.url, uniqueEmail('old'));
    const next = uniqueEmail('new');
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, email);
    await page.goto(`${server.url}/#/email`);
    await page.getByRole('heading', { level: 1, name: 'Change your email address' }).waitFor();
    assert.equal((await askForChange(page, next, PASSWORD)).status(), 202);
    await page.locator('#email-sent').waitFor();
    const token = await tokenFromOutbox(server.dataDir, next, 'confirm-email');
    await registerByApi(server.url, next); // someone else takes the address meanwhile

    await page.goto(`${server.url}/#/confirm-email?token=${encodeURIComponent(token)}`);
    const clash = await pressButton(page, 'Confirm the new address', '/auth/email/change/confirm');
    assert.equal(clash.status(), 409);
    await exactText(
      page.locator('#form-error'),
      'Another account started using this address after the link was sent, so it cannot become yours. Your sign-in address has not changed.',
    );
    assert.equal((await login(email)).status, 200, 'the address did not change');

    await page.goto(`${server.url}/#/confirm-email?token=not-a-token`);
    const broken = await pressButton(page, 'Confirm the new address', '/auth/email/change/confirm');
    assert.equal((await broken.json()).code, 'invalid_link');
    await exactText(
      page.locator('#form-error'),
      'This link is not valid. Check that you opened the whole link from the mail, or start the change again from your profile.',
    );
    // No token at all: no button to press, the reason at once.
    await page.goto(`${server.url}/#/undo-email`);
    await page.getByRole('heading', { level: 1, name: 'Undo the address change' }).waitFor();
    await exactText(page.locator('#form-error'), 'This link is not valid. Check that you opened the whole link from the mail.');
    assert.equal(await page.getByRole('button', { name: 'Undo the change' }).isVisible(), false);
    await context.close();
  });

  test('the old address undoes a change: every session ends, the password stops working, a reset link goes there', async () => {
    const email = await registerByApi(server.url, uniqueEmail('victim'));
    const next = uniqueEmail('thief');
    await changeByApi(email, next);
    // Whoever made the change is signed in under the new address.
    const theirs = await browser.newContext();
    const other = await theirs.newPage();
    await signInThroughPage(other, server.url, next);

    const token = await tokenFromOutbox(server.dataDir, email, 'undo-email');
    const link = `${server.url}/#/undo-email?token=${encodeURIComponent(token)}`;
    const mine = await browser.newContext({ viewport: PHONE });
    const page = await mine.newPage();
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Undo the address change' }).waitFor();
    await page.reload();
    const undone = await pressButton(page, 'Undo the change', '/auth/email/change/undo');
    assert.equal(undone.status(), 204);
    const done = page.locator('#undo-email-done');
    await exactText(done.locator('.notice__title'), 'Your old address is back.');
    assert.equal(
      await paragraphs(done),
      'Your old address is back. It is the sign-in address of your account again. Every session of the account was signed out, ' +
        'and its password no longer works: whoever changed the address knew it. We mailed this address a link to choose a new ' +
        'password. It works once, for 30 minutes; after that, ask for another.',
    );
    await assertFormsGone(page, 'undo');
    await screenshot(page, 'undo-email-done-phone');

    // The other session ended, with the reason; nobody signs in with the old password.
    await other.getByRole('button', { name: 'Check again' }).click();
    await other.locator('#session-ended[data-reason="email_change_undone"]').waitFor();
    assert.equal((await login(next)).status, 401);
    assert.equal((await login(email)).status, 401, 'the password stopped working');

    // The same link again (opened afresh) says so, in this link's own words.
    await page.goto(`${server.url}/`);
    await page.goto(link);
    const again = await pressButton(page, 'Undo the change', '/auth/email/change/undo');
    assert.equal((await again.json()).code, 'token_used');
    await exactText(
      page.locator('#form-error'),
      'This link was already used, or the change was undone with another link. Look in this mailbox for the link to choose a new password.',
    );

    // The reset link mailed to the restored address opens the account again.
    const reset = await tokenFromOutbox(server.dataDir, email, 'reset-password');
    await page.goto(`${server.url}/#/reset-password?token=${encodeURIComponent(reset)}`);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#reset-done').filter({ hasText: 'Your password was changed' }).waitFor();
    assert.equal((await login(email, NEW_PASSWORD)).status, 200);
    await mine.close();
    await theirs.close();
  });
  test('undone in a browser signed in to the account: its session ends there too, and the sign-in page says why', async () => {
    const email = await registerByApi(server.url, uniqueEmail('victim'));
    const next = uniqueEmail('moved');
    await changeByApi(email, next);
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, next);
    const token = await tokenFromOutbox(server.dataDir, email, 'undo-email');
    await page.goto(`${server.url}/#/undo-email?token=${encodeURIComponent(token)}`);
    assert.equal((await pressButton(page, 'Undo the change', '/auth/email/change/undo')).status(), 204);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const notice = page.locator('#session-ended[data-reason="email_change_undone"]');
    assert.match(await paragraphs(notice), /^A change of your email address was undone .*A link to choose a new password went to that address\.$/);
    assert.equal(new URL(page.url()).hash, '#/sign-in');
    await context.close();
  });
});

describe('deleting the account', () => {
  test('the password again and a confirmation; then every session ends and signing in fails', async () => {
    const email = await registerByApi(server.url, uniqueEmail('leaving'));
    const mine = await browser.newContext({ viewport: DESKTOP });
    const theirs = await browser.newContext();
    const page = await mine.newPage();
    const other = await theirs.newPage();
    await signInThroughPage(other, server.url, email);
    await signInThroughPage(page, server.url, email);
    const deletes = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/auth/account/delete') deletes.push(r.postDataJSON());
    });

    await page.getByRole('link', { name: 'Delete your account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delete your account' }).waitFor();
    assert.equal((await page.locator('.lead').textContent()).trim(), `This deletes the account ${email} for good.`);
    assert.match(await paragraphs(page.locator('#delete-consequence')), /^This cannot be undone /);
    const submit = page.getByRole('button', { name: 'Delete my account' });
    const dialog = page.getByRole('dialog', { name: 'Delete your account?' });

    // No password: said at the field, and no question asked.
    await submit.click();
    await exactText(page.locator('#delete-password-error'), 'Enter your password.');
    assert.equal(await dialog.count(), 0);

    // Cancel sends nothing, and gives the focus back.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await submit.click();
    await dialog.waitFor();
    assert.equal(
      await dialog.locator('.dialog__text').textContent(),
      `The account ${email} and its todos are deleted, and you are signed out everywhere.This cannot be undone.`,
    );
    await screenshot(page, 'delete-account-confirm-desktop', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await submit.evaluate((el) => el === document.activeElement), true, 'focus back on the button');
    assert.deepEqual(deletes, []);

    // A wrong password, confirmed: refused at the field.
    await page.getByLabel('Password', { exact: true }).fill('not my password at all');
    await submit.click();
    const wrong = answerOf(page, '/auth/account/delete');
    await dialog.getByRole('button', { name: 'Delete my account' }).click();
    assert.equal((await wrong).status(), 400);
    await exactText(page.locator('#delete-password-error'), 'That is not your current password. Check it and try again.');
    assert.equal((await login(email)).status, 200, 'still there');
    await page.setViewportSize(PHONE);
    await screenshot(page, 'delete-account-refused-phone');
    await page.setViewportSize(DESKTOP);

    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await submit.click();
    const deleted = answerOf(page, '/auth/account/delete');
    await dialog.getByRole('button', { name: 'Delete my account' }).click();
    assert.equal((await deleted).status(), 204);
    assert.deepEqual(deletes, [{ password: 'not my password at all' }, { password: PASSWORD }]);

    // Signed out, and told the account is gone; no way back to a page of it.
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const notice = page.locator('#session-ended[data-reason="account_deleted"]');
    assert.equal(await paragraphs(notice), 'Your account was deleted The account and its data are gone, and every session with it.');
    assert.equal(new URL(page.url()).hash, '#/sign-in');
    assert.equal(await page.locator('#sign-in-lead').textContent(), 'Sign in with another account, or create a new one.');
    await screenshot(page, 'account-deleted-desktop');

    // The other session ended with it.
    await other.getByRole('button', { name: 'Check again' }).click();
    await other.locator('#session-ended[data-reason="account_deleted"]').waitFor();

    // Signing in again fails, as for an address nobody has.
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const signIn = answerOf(page, '/auth/login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await signIn).status(), 401);
    await exactText(page.locator('#form-error'), 'That email and password do not match an account. Check both and try again.');
    // The address is free for a new account.
    await registerByApi(server.url, email);
    await mine.close();
    await theirs.close();
  });

  test('the last administrator cannot delete their account, and is told why', async () => {
    const admin = addUserWithCli(server.dataDir, uniqueEmail('admin'), ['admin']);
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, admin);
    await page.goto(`${server.url}/#/delete-account`);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    const refused = answerOf(page, '/auth/account/delete');
    await page.getByRole('dialog').getByRole('button', { name: 'Delete my account' }).click();
    assert.equal((await refused).status(), 409);
    await exactText(
      page.locator('#form-error'),
      'You are the only administrator of this server, so your account cannot be deleted. Make someone else an administrator first.',
    );
    assert.equal((await login(admin)).status, 200);
    await context.close();
  });
});

test('the new pages and the confirmation pass axe (desktop and phone)', async () => {
  const email = await registerByApi(server.url, uniqueEmail('axe'));
  for (const viewport of [DESKTOP, PHONE]) {
    const context = await browser.newContext({ viewport, bypassCSP: true });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, email);
    await page.goto(`${server.url}/#/email`);
    await page.getByRole('heading', { level: 1, name: 'Change your email address' }).waitFor();
    assert.deepEqual(await violations(page), [], 'change address');
    await page.goto(`${server.url}/#/delete-account`);
    await page.getByRole('heading', { level: 1, name: 'Delete your account' }).waitFor();
    assert.deepEqual(await violations(page), [], 'delete account');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('dialog').waitFor();
    assert.deepEqual(await violations(page), [], 'the confirmation');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    for (const route of ['confirm-email', 'undo-email']) {
      await page.goto(`${server.url}/#/${route}?token=x`);
      await page.locator('main form button').waitFor();
      assert.deepEqual(await violations(page), [], route);
    }
    await context.close();
  }
});
