// Confirming an email address: with require_email_verification on, registering says "check your
// mail" (and never tries to sign in), the link can be asked for again without a session, and
// sign-in before confirming says why; on the profile, the resend says whether the mail went
// ("sent") or the ration held it ("held"), and when the next one can be asked for.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  assertFormsGone,
  launchBrowser,
  registerThroughPage,
  screenshot,
  startServer,
  tokenFromOutbox,
  uniqueEmail,
} from './harness.mjs';

const MAIL_LIMITS = { JWTGATE_MAIL_CLIENT_PER_HOUR: '1000', JWTGATE_MAIL_RECIPIENT_PER_HOUR: '100' };
const COOLDOWN_SECS = 5;

let verifyServer; // require_email_verification on
let mailServer; // a short mail cooldown, so a held resend can be followed by a sent one
let browser;

before(async () => {
  verifyServer = await startServer({ JWTGATE_REQUIRE_EMAIL_VERIFICATION: 'true', ...MAIL_LIMITS });
  mailServer = await startServer({ JWTGATE_MAIL_COOLDOWN_SECS: String(COOLDOWN_SECS), ...MAIL_LIMITS });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await verifyServer?.stop();
  await mailServer?.stop();
});

async function exactText(locator, text) {
  await locator.filter({ hasText: text }).waitFor();
  assert.equal((await locator.textContent()).trim(), text);
}

describe('registration that needs a confirmed address', () => {
  test('the page says check your mail, asks for the link again, and sign-in waits for the confirmation', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const logins = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/auth/login') logins.push(r.url());
    });
    const email = uniqueEmail('confirm');
    await page.goto(`${verifyServer.url}/#/register`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const registered = page.waitForResponse((r) => r.url().endsWith('/auth/register'));
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.equal((await registered).status(), 202);
    assert.deepEqual(await (await registered).json(), { status: 'check_your_email' });

    await page.getByRole('heading', { level: 1, name: 'Check your mail' }).waitFor();
    await exactText(page.locator('#check-your-email .notice__title'), `We mailed a link to ${email}.`);
    await assertFormsGone(page, 'register with confirmation');
    assert.deepEqual(logins, [], 'no sign-in is tried before the address is confirmed');
    await screenshot(page, 'register-check-email-desktop');

    // Asking again sends the address, without a session; the answer is the same for any address.
    const resent = page.waitForResponse((r) => r.url().endsWith('/auth/email/verify/resend'));
    await page.getByRole('button', { name: 'Send the link again' }).click();
    assert.equal((await resent).status(), 202);
    assert.deepEqual((await resent).request().postDataJSON(), { email });
    assert.deepEqual(await (await resent).json(), { status: 'check_your_email' });
    await exactText(
      page.locator('#resend-link-status'),
      `Asked for a new link to ${email}. If an account there is waiting to be confirmed, it arrives in a few minutes. ` +
        'Mail is rationed, so asking again right away sends nothing more.',
    );
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'register-check-email-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    // Signing in before confirming is refused in words, with the link on offer again.
    await page.locator('#check-your-email').getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const refused = page.waitForResponse((r) => r.url().endsWith('/auth/login'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await refused).status(), 403);
    assert.equal((await (await refused).json()).code, 'email_not_verified');
    await exactText(page.locator('#form-error'), 'Confirm your email address first: open the link we mailed you when you registered.');
    const again = page.waitForResponse((r) => r.url().endsWith('/auth/email/verify/resend'));
    await page.locator('#sign-in-resend').getByRole('button', { name: 'Send the link again' }).click();
    assert.equal((await again).status(), 202);
    assert.deepEqual((await again).request().postDataJSON(), { email });
    await page.locator('#resend-link-status').filter({ hasText: `Asked for a new link to ${email}.` }).waitFor();

    // The mailed link confirms the address; then the same password signs in.
    const token = await tokenFromOutbox(verifyServer.dataDir, email, 'verify-email');
    await page.goto(`${verifyServer.url}/#/verify-email?token=${encodeURIComponent(token)}`);
    await page.getByRole('button', { name: 'Confirm my email' }).click();
    await page.locator('#verify-done').filter({ hasText: 'confirmed' }).waitFor();
    await page.locator('#verify-done').getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    await context.close();
  });
});

describe('the profile\'s resend', () => {
  test('held says nothing went and when to ask again; sent says it went; confirming clears the flag', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const email = await registerThroughPage(page, mailServer.url);
    const notice = page.locator('#email-unconfirmed');
    await notice.waitFor();
    assert.equal(await page.locator('[data-claim="email_verified"] .claims__value').textContent(), 'no');

    // A resend from elsewhere (an API client of the same account) takes this minute's mail, so
    // the page's own request right after it is held.
    const login = await fetch(`${mailServer.url}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    }).then((r) => r.json());
    const first = await fetch(`${mailServer.url}/auth/email/verify/resend`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${login.access_token}` },
    });
    assert.equal(first.status, 202);

    const button = page.getByRole('button', { name: 'Send the link again' });
    const held = page.waitForResponse((r) => r.url().endsWith('/auth/email/verify/resend'));
    await button.click();
    assert.equal((await held).status(), 202);
    const heldBody = await (await held).json();
    assert.equal(heldBody.status, 'held');
    assert.ok(heldBody.next_in_secs > 0 && heldBody.next_in_secs <= COOLDOWN_SECS, `next_in_secs ${heldBody.next_in_secs}`);
    await exactText(
      page.locator('#resend-status'),
      `Not sent this time: mail to ${email} is rationed so that no one can flood an inbox, and its share is used up for now.`,
    );
    assert.match(await page.locator('#resend-wait').textContent(), /^You can ask for another link in [1-5] seconds?\.$/);
    assert.equal(await button.isDisabled(), true);
    await screenshot(page, 'profile-resend-held-desktop');

    // The button comes back when the server said the next one could go, and then it goes.
    await page.waitForFunction(() => !document.getElementById('resend-verification').disabled, null, { timeout: 15_000 });
    assert.equal(await page.locator('#resend-wait').textContent(), 'You can ask for another link now.');
    const sent = page.waitForResponse((r) => r.url().endsWith('/auth/email/verify/resend'));
    await button.click();
    const sentBody = await (await sent).json();
    assert.equal(sentBody.status, 'sent');
    await exactText(page.locator('#resend-status'), `Sent to ${email}. Check your inbox: the link works once, for 24 hours.`);
    assert.equal(await button.isDisabled(), true, 'the next one waits for the ration');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'profile-resend-sent-phone');

    const token = await tokenFromOutbox(mailServer.dataDir, email, 'verify-email');
    await page.goto(`${mailServer.url}/#/verify-email?token=${encodeURIComponent(token)}`);
    const refreshed = page.waitForResponse((r) => r.url().endsWith('/auth/refresh'));
    await page.getByRole('button', { name: 'Confirm my email' }).click();
    await page.locator('#verify-done').filter({ hasText: 'confirmed' }).waitFor();
    assert.equal((await refreshed).status(), 200);
    await page.getByRole('link', { name: 'Back to your profile' }).click();
    await page.locator('[data-claim="email_verified"] .claims__value').filter({ hasText: 'yes' }).waitFor();
    assert.equal(await notice.isHidden(), true);
    await context.close();
  });
});
