// Real refusals of the server, said in words on the page (the sentences are web/js/messages.js,
// walked code by code in messages.test.mjs): a locked account, a plan's rate limit, an address the
// server's grammar refuses, a taken address, a weak password, a todo without a title.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PASSWORD,
  launchBrowser,
  registerByApi,
  screenshot,
  signInThroughPage,
  startServer,
  uniqueEmail,
  useNav,
} from './harness.mjs';

const RATE_LIMIT = 3; // requests a minute on the free plan, for the rate-limit server

let server;
let limitedServer;
let browser;

before(async () => {
  server = await startServer();
  limitedServer = await startServer({ JWTGATE_RATE_LIMITS: `free=${RATE_LIMIT},pro=600` });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await limitedServer?.stop();
});

async function exactText(locator, text) {
  await locator.filter({ hasText: text }).waitFor();
  assert.equal((await locator.textContent()).trim(), text);
}

async function newPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  return { context, page: await context.newPage() };
}

describe('refusals in words', () => {
  test('a locked account: which limit, and how long to wait', async () => {
    const email = await registerByApi(server.url);
    for (let i = 0; i < 5; i += 1) {
      const wrong = await fetch(`${server.url}/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: `not it ${i}` }),
      });
      assert.equal(wrong.status, 401);
    }
    const { context, page } = await newPage();
    await page.goto(`${server.url}/#/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const answer = page.waitForResponse((r) => r.url().endsWith('/auth/login'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.equal((await answer).status(), 429);
    const problem = await (await answer).json();
    assert.equal(problem.code, 'too_many_attempts');
    assert.match(problem.detail, /for this account;/);
    const wait = Number((await answer).headers()['retry-after']);
    assert.ok(wait >= 1 && wait <= 15, `Retry-After ${wait}`);
    await exactText(
      page.locator('#form-error'),
      `Too many failed sign-ins on this account. To keep guessers out, try again in ${wait} second${wait === 1 ? '' : 's'}.`,
    );
    await screenshot(page, 'sign-in-locked-desktop');
    await context.close();
  });

  test('a plan\'s rate limit: the plan, its limit and the wait', async () => {
    const email = await registerByApi(limitedServer.url);
    const { context, page } = await newPage({ width: 375, height: 812 });
    await signInThroughPage(page, limitedServer.url, email);
    await useNav(page, 'Todos');
    await page.getByRole('heading', { level: 1, name: 'Your todos' }).waitFor();
    let limited = null;
    for (let i = 1; i <= RATE_LIMIT + 2 && !limited; i += 1) {
      await page.getByLabel('New todo').fill(`Todo ${i}`);
      const answer = page.waitForResponse((r) => r.url().endsWith('/api/todos') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      if ((await answer).status() === 429) limited = await answer;
      else assert.equal((await answer).status(), 201);
    }
    assert.ok(limited, `a 429 within ${RATE_LIMIT + 2} additions`);
    assert.equal((await limited.json()).code, 'rate_limited');
    const wait = Number(limited.headers()['retry-after']);
    await exactText(
      page.locator('#form-error'),
      `You are going faster than your plan allows (the free plan allows ${RATE_LIMIT} requests a minute). ` +
        `Please try again in ${wait} second${wait === 1 ? '' : 's'}.`,
    );
    await screenshot(page, 'todos-rate-limited-phone');
    await context.close();
  });

  test('registration: a refused address, a taken one and a weak password, each next to its field', async () => {
    const taken = await registerByApi(server.url);
    const { context, page } = await newPage();
    await page.goto(`${server.url}/#/register`);
    const email = page.getByLabel('Email');
    const password = page.getByLabel('Password', { exact: true });
    const submit = async () => {
      const answer = page.waitForResponse((r) => r.url().endsWith('/auth/register'));
      await page.getByRole('button', { name: 'Create account' }).click();
      return answer;
    };

    await email.fill('ada@localhost');
    await password.fill(PASSWORD);
    const refused = await submit();
    assert.equal(refused.status(), 422);
    assert.equal((await refused.json()).code, 'invalid_email');
    await exactText(page.locator('#email-error'), 'The part after the @ must be a domain, such as example.com.');

    await email.fill(taken);
    const conflict = await submit();
    assert.equal(conflict.status(), 409);
    assert.equal((await conflict.json()).code, 'email_taken');
    await exactText(
      page.locator('#email-error'),
      'An account with this email already exists. Sign in instead, or reset its password if you forgot it.',
    );

    await email.fill(uniqueEmail('weak'));
    await password.fill('password1');
    const weak = await submit();
    assert.equal(weak.status(), 422);
    assert.equal((await weak.json()).code, 'weak_password');
    const advice = await page.locator('#password-error').textContent();
    assert.match(advice, /^This password is too easy to guess\. [A-Z].*\.$/);
    assert.equal(await page.locator('#email-error').isHidden(), true);
    await screenshot(page, 'register-weak-password-desktop');
    await context.close();
  });

  test('a todo without a title is explained next to the field', async () => {
    const email = await registerByApi(server.url);
    const { context, page } = await newPage();
    await signInThroughPage(page, server.url, email);
    await page.getByRole('link', { name: 'Todos' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your todos' }).waitFor();
    await page.getByLabel('New todo').fill('   ');
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/todos') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    assert.equal((await answer).status(), 422);
    const problem = await (await answer).json();
    assert.deepEqual([problem.code, problem.field], ['invalid_field', 'title']);
    await exactText(page.locator('#todo-title-error'), "A todo's title must be 1 to 200 characters long.");
    await context.close();
  });
});
