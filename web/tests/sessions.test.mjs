// The sessions page: each session's browser and system (the server's label for its User-Agent),
// address, first and last use, with this device first and marked; signing another one out.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, registerByApi, screenshot, signInThroughPage, startServer } from './harness.mjs';

const CHROME_ON_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const FIREFOX_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

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

/** The facts of one session card, as { term: text }, and the datetime of each <time>. */
async function factsOf(card) {
  return card.locator('dl.facts').evaluate((dl) => {
    const out = {};
    for (const dt of dl.querySelectorAll('dt')) {
      const dd = dt.nextElementSibling;
      out[dt.textContent] = { text: dd.textContent, datetime: dd.querySelector('time')?.getAttribute('datetime') || null };
    }
    return out;
  });
}

const iso = (seconds) => new Date(seconds * 1000).toISOString();

describe('sessions', () => {
  test('browser and system, address, first and last use; this device first and marked', async () => {
    const email = await registerByApi(server.url);
    const theirs = await browser.newContext({ userAgent: FIREFOX_ON_WINDOWS });
    const other = await theirs.newPage();
    await signInThroughPage(other, server.url, email);
    const mine = await browser.newContext({ userAgent: CHROME_ON_MAC, viewport: { width: 1280, height: 800 } });
    const page = await mine.newPage();
    await signInThroughPage(page, server.url, email);

    const listed = page.waitForResponse((r) => r.url().endsWith('/auth/sessions'));
    await page.getByRole('link', { name: 'Sessions' }).first().click();
    const { sessions } = await (await listed).json();
    assert.equal(sessions.length, 2);
    const here = sessions.find((s) => s.current);
    const there = sessions.find((s) => !s.current);

    const cards = page.locator('#sessions-list > li');
    await cards.nth(1).waitFor();
    await page.getByRole('status').filter({ hasText: '2 devices and apps are signed in, this one included.' }).waitFor();
    // This device comes first, marked in words (not only by colour).
    const first = cards.nth(0);
    assert.equal(await first.getAttribute('data-session'), here.id);
    assert.equal(await first.getAttribute('aria-current'), 'true');
    assert.equal(await first.locator('h2').textContent(), 'Chrome on macOS');
    assert.equal(await first.locator('.badge').textContent(), 'This device');
    assert.equal(await first.getByRole('button').count(), 0, 'this one is signed out with Sign out at the top');
    const mineFacts = await factsOf(first);
    assert.deepEqual(Object.keys(mineFacts), ['Address', 'First used', 'Last used']);
    assert.equal(mineFacts.Address.text, '127.0.0.1');
    assert.equal(mineFacts['First used'].datetime, iso(here.created_at));
    assert.equal(mineFacts['Last used'].text, 'Now, on this page');

    const second = cards.nth(1);
    assert.equal(await second.getAttribute('data-session'), there.id);
    assert.equal(await second.locator('h2').textContent(), 'Firefox on Windows');
    assert.equal(await second.locator('.badge').count(), 0);
    const theirFacts = await factsOf(second);
    assert.equal(theirFacts.Address.text, '127.0.0.1');
    assert.equal(theirFacts['First used'].datetime, iso(there.created_at));
    assert.equal(theirFacts['Last used'].datetime, iso(there.last_used_at));
    assert.match(theirFacts['Last used'].text, /^(just now|\d+ seconds? ago|\d+ minutes? ago) \(/);
    await screenshot(page, 'sessions-desktop');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'sessions-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    // Signing the other one out: it goes from the list, and that browser learns why.
    const revoked = page.waitForResponse((r) => r.url().includes('/auth/sessions/') && r.request().method() === 'DELETE');
    await second.getByRole('button', { name: 'Sign out Firefox on Windows (127.0.0.1)' }).click();
    assert.equal((await revoked).status(), 204);
    await page.getByRole('status').filter({ hasText: 'Signed out Firefox on Windows. Only this device is signed in.' }).waitFor();
    assert.equal(await cards.count(), 1);
    await other.getByRole('button', { name: 'Check again' }).click();
    await other.locator('#session-ended[data-reason="signed_out_elsewhere"]').waitFor();
    await mine.close();
    await theirs.close();
  });
});
