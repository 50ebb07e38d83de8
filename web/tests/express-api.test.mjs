// The tutorials' protected API (examples/express-api: express + express-jwt + jwks-rsa, i.e.
// jsonwebtoken) verifies jwtgate's access tokens by itself, against jwtgate's JWKS, with the
// default signing key (ES256, `kid` in the header, `typ: at+jwt`). What is proven:
//
// - a signed-in user's token opens GET /todos (200), and a todo it POSTs (201) is listed after,
//   under the token's `sub` (an administrator's list is still empty);
// - the same token with its signature tampered with: 401 `invalid_token`, with a Bearer challenge;
// - no token: 401 `credentials_required`;
// - the token with its payload altered to claim the admin role, signature kept: 401 `invalid_token`;
// - GET /admin/stats: 403 `forbidden` for a user without the admin role, 200 for an administrator
//   (the `roles` claim decides);
// - no answer leaks a stack trace.
//
// The example server is waited on through its `listening on` line, never a sleep. Its node_modules
// come from `npm ci` in examples/express-api (scripts/test does it before this suite).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PASSWORD, addUserWithCli, registerByApi, repoRoot, startListening, startServer, uniqueEmail } from './harness.mjs';

const exampleDir = join(repoRoot, 'examples', 'express-api');

let server; // jwtgate
let api; // the example: { url, stop }
let token; // a user's access token (no roles)
let adminToken;

/** Starts examples/express-api/server.js on a free port; resolves once it prints its URL. */
function startExpressApi(env) {
  return startListening('express-api', process.execPath, [join(exampleDir, 'server.js')], { cwd: exampleDir, env: { PORT: '0', ...env } });
}

async function signIn(email) {
  const response = await fetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (response.status !== 200) throw new Error(`sign-in: ${response.status} ${await response.text()}`);
  return (await response.json()).access_token;
}

/** A request to the example API; resolves to { status, headers, body (parsed JSON), text }. */
async function call(path, { bearer, method = 'GET', json } = {}) {
  const headers = {};
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (json) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${api.url}${path}`, { method, headers, body: json && JSON.stringify(json) });
  const text = await response.text();
  assert.doesNotMatch(text, /\bat .+:\d+:\d+/, `${method} ${path}: no stack trace in the answer`);
  return { status: response.status, headers: response.headers, body: JSON.parse(text), text };
}

const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const encode = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');

before(async () => {
  server = await startServer();
  token = await signIn(await registerByApi(server.url));
  adminToken = await signIn(addUserWithCli(server.dataDir, uniqueEmail('admin'), ['admin']));
  // The issuer is the URL jwtgate bound (no JWTGATE_ISSUER set): the example gets it as is.
  api = await startExpressApi({ JWTGATE_URL: server.url });
});

after(async () => {
  await api?.stop();
  await server?.stop();
});

test('the tokens are jwtgate\'s defaults: ES256 with a kid, typ at+jwt, iss the server URL', () => {
  const [header, payload] = token.split('.').map((part, i) => (i < 2 ? decode(part) : part));
  assert.equal(header.alg, 'ES256');
  assert.equal(header.typ, 'at+jwt');
  assert.ok(header.kid, 'a kid in the header');
  assert.equal(payload.iss, server.url);
  assert.equal(payload.aud, 'jwtgate');
  assert.ok(!(payload.roles ?? []).includes('admin'), 'a user without the admin role');
});

test('a valid token opens the API; what it POSTs is listed under its sub', async () => {
  assert.deepEqual((await call('/healthz')).body, { status: 'ok' });

  const before = await call('/todos', { bearer: token });
  assert.equal(before.status, 200);
  assert.deepEqual(before.body, []);

  const created = await call('/todos', { bearer: token, method: 'POST', json: { title: 'Verify tokens offline' } });
  assert.equal(created.status, 201);
  assert.equal(created.body.title, 'Verify tokens offline');

  const listed = await call('/todos', { bearer: token });
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body, [created.body]);

  // Another user (the administrator) has a list of its own.
  assert.deepEqual((await call('/todos', { bearer: adminToken })).body, []);
});

test('a tampered signature: 401 invalid_token, with a Bearer challenge', async () => {
  assert.equal((await call('/todos', { bearer: token })).status, 200, 'the untouched token is accepted');
  const [header, payload, signature] = token.split('.');
  // The first character, not the last: an ES256 signature (64 bytes) ends with a base64url
  // character carrying 4 unused bits, so 15 of the 63 other last characters decode to the very
  // same signature and still verify.
  const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
  const answer = await call('/todos', { bearer: `${header}.${payload}.${flipped}` });
  assert.equal(answer.status, 401);
  assert.deepEqual(answer.body, { error: 'invalid_token' });
  assert.match(answer.headers.get('www-authenticate'), /^Bearer\b/);
});

test('no token: 401 credentials_required', async () => {
  const answer = await call('/todos');
  assert.equal(answer.status, 401);
  assert.deepEqual(answer.body, { error: 'credentials_required' });
  assert.equal(answer.headers.get('www-authenticate'), 'Bearer');
});

test('a payload altered to claim the admin role, signature kept: 401', async () => {
  assert.equal((await call('/admin/stats', { bearer: adminToken })).status, 200, 'a real admin token is accepted');
  const [header, payload, signature] = token.split('.');
  const forged = `${header}.${encode({ ...decode(payload), roles: ['admin'] })}.${signature}`;
  for (const path of ['/todos', '/admin/stats']) {
    const answer = await call(path, { bearer: forged });
    assert.equal(answer.status, 401, path);
    assert.deepEqual(answer.body, { error: 'invalid_token' }, path);
  }
});

test('/admin/stats: 403 without the admin role, 200 with it', async () => {
  const refused = await call('/admin/stats', { bearer: token });
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.body, { error: 'forbidden' });

  const stats = await call('/admin/stats', { bearer: adminToken });
  assert.equal(stats.status, 200);
  assert.equal(typeof stats.body.todos, 'number');
});
