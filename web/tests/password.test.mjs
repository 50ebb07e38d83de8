// Changing your password: linked from the profile and the activity page; wrong current password,
// weak new password and the session's lockout each said in words; on success every other session
// ends (password_changed) while this one goes on with its new access cookie.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  assertFormsGone,
  launchBrowser,
  registerByApi,
  screenshot,
  signInThroughPage,
  startServer,
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

async function exactText(locator, text) {
  await locator.filter({ hasText: text }).waitFor();
  assert.equal((await locator.textContent()).trim(), text);
}

function changeAnswer(page) {
  return page.waitForResponse((r) => r.url().endsWith('/auth/password/change'));
}

async function fillAndSubmit(page, current, next) {
  await page.getByLabel('Current password', { exact: true }).fill(current);
  await page.getByLabel('New password', { exact: true }).fill(next);
  const answer = changeAnswer(page);
  await page.getByRole('button', { name: 'Change password' }).click();
  return answer;
}

async function login(email, password) {
  return fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

describe('change password', () => {
  test('refusals are said next to their field; success ends the other sessions and keeps this one', async () => {
    const email = await registerByApi(server.url);
    const mine = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const theirs = await browser.newContext();
    const page = await mine.newPage();
    const other = await theirs.newPage();
    await signInThroughPage(other, server.url, email);
    await signInThroughPage(page, server.url, email);

    await page.getByRole('link', { name: 'Change your password' }).click();
    await page.getByRole('heading', { level: 1, name: 'Change your password' }).waitFor();
    assert.equal(
      await page.locator('#password-consequence').textContent(),
      'Your other sessions will endEvery other browser and app signed in to your account is signed out at once. This one stays signed in.',
    );
    // The same advice as the register page, wired to the field.
    assert.equal(
      await page.locator('#new-password-hint').textContent(),
      'At least 8 characters. A few unusual words make a strong, memorable password.',
    );
    assert.match(await page.getByLabel('New password', { exact: true }).getAttribute('aria-describedby'), /new-password-hint/);

    const wrong = await fillAndSubmit(page, 'not my password at all', NEW_PASSWORD);
    assert.equal(wrong.status(), 400);
    assert.equal((await wrong.json()).code, 'wrong_password');
    await exactText(page.locator('#current-password-error'), 'That is not your current password. Check it and try again.');
    assert.equal(await page.getByLabel('Current password', { exact: true }).getAttribute('aria-invalid'), 'true');

    const weak = await fillAndSubmit(page, PASSWORD, 'password1');
    assert.equal(weak.status(), 422);
    const weakProblem = await weak.json();
    assert.equal(weakProblem.code, 'weak_password');
    const weakText = await page.locator('#new-password-error').textContent();
    assert.match(weakText, /^This password is too easy to guess\. /);
    assert.doesNotMatch(weakText, /password is too easy to guess:/, 'the server text is framed, not shown raw');
    assert.equal(await page.locator('#current-password-error').isHidden(), true, 'the earlier complaint is gone');
    await screenshot(page, 'password-refused-desktop');

    const changed = await fillAndSubmit(page, PASSWORD, NEW_PASSWORD);
    assert.equal(changed.status(), 200);
    assert.deepEqual(await changed.json(), { token_type: 'cookie', expires_in: 900 });
    await page.locator('#password-done').filter({ hasText: 'Your password was changed.' }).waitFor();
    await assertFormsGone(page, 'change password');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'password-changed-phone');

    // This session goes on with the new cookie: the profile is read with it.
    await page.locator('#password-done').getByRole('link', { name: 'Back to your profile' }).click();
    const me = page.waitForResponse((r) => r.url().endsWith('/api/me'));
    await page.getByRole('button', { name: 'Check again' }).click();
    assert.equal((await me).status(), 200);
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();

    // The other session ended, and says why.
    await other.getByRole('button', { name: 'Check again' }).click();
    await other.locator('#session-ended[data-reason="password_changed"]').waitFor();

    assert.equal((await login(email, PASSWORD)).status, 401);
    assert.equal((await login(email, NEW_PASSWORD)).status, 200);
    await mine.close();
    await theirs.close();
  });

  test('five wrong current passwords lock this session\'s attempts, said with the wait', async () => {
    const email = await registerByApi(server.url);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await signInThroughPage(page, server.url, email);
    await page.goto(`${server.url}/#/password`);
    await page.getByRole('heading', { level: 1, name: 'Change your password' }).waitFor();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const answer = await fillAndSubmit(page, `wrong guess number ${attempt}`, NEW_PASSWORD);
      assert.equal(answer.status(), 400, `attempt ${attempt}`);
      await page.locator('#current-password-error:not([hidden])').waitFor();
    }
    const locked = await fillAndSubmit(page, PASSWORD, NEW_PASSWORD);
    assert.equal(locked.status(), 429);
    assert.equal((await locked.json()).code, 'too_many_attempts');
    const wait = Number(locked.headers()['retry-after']);
    assert.ok(wait >= 1 && wait <= 15, `Retry-After ${wait}`);
    await exactText(
      page.locator('#form-error'),
      `Too many wrong current passwords on this session. For your account's safety, try again in ${wait} second${wait === 1 ? '' : 's'}.`,
    );
    assert.equal(await page.getByRole('button', { name: 'Change password' }).isDisabled(), true);
    await screenshot(page, 'password-locked-desktop');
    // Another page of the same account is not locked out of signing in: the lockout is this session's.
    assert.equal((await login(email, PASSWORD)).status, 200);
    await context.close();
  });
});
