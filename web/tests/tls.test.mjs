// The web client over TLS, as a person would use it: https://localhost with the server's own
// certificate (made here with openssl), HTTP/2, HSTS, Secure cookies; a wrong password and a
// sign-out shown as they are over plain HTTP.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, launchBrowser, registerThroughPage, screenshot, startServer, uniqueEmail } from './harness.mjs';

let certDir;
let server;
let browser;
let origin;

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'jwtgate-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
  ], { stdio: 'ignore' });
  server = await startServer({
    JWTGATE_TLS_CERT_FILE: join(certDir, 'cert.pem'),
    JWTGATE_TLS_KEY_FILE: join(certDir, 'key.pem'),
  });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  // The name the certificate and the browser use; the server's issuer stays its address.
  origin = server.url.replace('127.0.0.1', 'localhost');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('the web client over https://localhost', () => {
  test('signs up, shows the profile over HTTP/2 with HSTS and Secure cookies, and signs out', async () => {
    // The certificate is self-signed: this browser is told to accept it, as a person would
    // after checking it; everything else is the real thing.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const first = await page.goto(origin);
    assert.equal(first.status(), 200);
    assert.equal(first.headers()['strict-transport-security'], 'max-age=31536000');
    assert.equal((await first.securityDetails())?.subjectName, 'localhost');
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');

    await registerThroughPage(page, origin);
    const cookies = await context.cookies(origin);
    const access = cookies.find((c) => c.name === '__Host-jwtgate_at');
    assert.ok(access, 'the access cookie is set over TLS');
    assert.equal(access.secure, true);
    assert.equal(access.httpOnly, true);
    await screenshot(page, 'tls-profile');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended[data-reason="logout"]').waitFor();
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Sign in');
    await context.close();
  });

  test('a wrong password is explained next to the form, over TLS as over HTTP', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const email = await registerThroughPage(page, origin, uniqueEmail('tls'));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#session-ended[data-reason="logout"]').waitFor();

    await page.goto(`${origin}/#/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match an account' }).waitFor();
    await screenshot(page, 'tls-wrong-password');

    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your profile' }).waitFor();
    await context.close();
  });
});
