// Cross-origin access (CORS): a page on an origin listed in `cors_origins` calls the API from the
// browser, credentials included; a page on any other origin cannot read a single answer.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PASSWORD, launchBrowser, startEvilSite, startServer, uniqueEmail } from './harness.mjs';

let browser;
let app;
let other;
let server;

before(async () => {
  app = await startEvilSite('127.0.0.2', '<!doctype html><title>An app</title><h1>An app</h1>');
  other = await startEvilSite('127.0.0.3', '<!doctype html><title>Another site</title><h1>Another</h1>');
  server = await startServer({ JWTGATE_CORS_ORIGINS: app.url.replace(/\/$/, '') });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await app?.stop();
  await other?.stop();
});

/** In the page: register, sign in (Bearer), read /api/me; what each answer said, or 'blocked'. */
async function signUpAndReadProfile(page, api, email, password) {
  return page.evaluate(
    async ({ api, email, password }) => {
      const call = async (path, init = {}) => {
        try {
          const response = await fetch(`${api}${path}`, { mode: 'cors', ...init });
          return { status: response.status, body: await response.json() };
        } catch (error) {
          return { blocked: String(error) };
        }
      };
      const json = (body) => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const registered = await call('/auth/register', json({ email, password }));
      const login = await call('/auth/login', json({ email, password }));
      const me = login.body?.access_token
        ? await call('/api/me', { headers: { authorization: `Bearer ${login.body.access_token}` } })
        : null;
      return { registered, login, me };
    },
    { api, email, password },
  );
}

describe('cross-origin access', () => {
  test('a page on a listed origin signs in and calls the API', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(app.url);
    const email = uniqueEmail('cors');
    const { registered, login, me } = await signUpAndReadProfile(page, server.url, email, PASSWORD);
    assert.equal(registered.status, 201, JSON.stringify(registered));
    assert.equal(login.status, 200, JSON.stringify(login));
    assert.equal(me.status, 200, JSON.stringify(me));
    assert.equal(me.body.email, email);
    await context.close();
  });

  test('a page on any other origin cannot read an answer', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(other.url);
    const { registered, login, me } = await signUpAndReadProfile(page, server.url, uniqueEmail('evil'), PASSWORD);
    // The preflight gets no CORS header for this origin: the browser refuses to send the POSTs.
    assert.ok(registered.blocked, JSON.stringify(registered));
    assert.ok(login.blocked, JSON.stringify(login));
    assert.equal(me, null);
    await context.close();
  });
});
