// Verifiers follow key rotation without a miss: the two most used Node stacks, `jose` and the
// tutorials' `jwks-rsa` + `jsonwebtoken`, verify every token of a server that rotates its signing
// key every 6 s (JWKS max-age 1 s, pre-publication 4 s). Each library fetches the JWKS through a
// small counting proxy, so what it fetched, and when, can be asserted. What each check proves:
//
// - jose, first token of a new kid: the kid is already in jose's cache (`JWKS.jwks()`) *before*
//   the token is verified, and that cached set alone verifies it. We do not assert "no fetch
//   during that call": with cacheMaxAge 1 s jose refreshes a stale set before every lookup, so a
//   fetch then is a timed refresh that says nothing about the kid. Cache membership is what
//   tells "had the key in time" from "learned it late". And with cooldownDuration 30 s a kid
//   unknown to a fresh cache is not fetched again: it fails (JWKSNoMatchingKey), see below.
// - jwks-rsa caches per kid, so the first sight of a kid always fetches the whole set, by
//   design: that first getSigningKey(kid) made exactly one fetch and found the key (a key
//   published late would throw SigningKeyNotFoundError).
// - Over the whole run no verification failed, with either stack, for any reason (in
//   particular no unknown kid: JWKSNoMatchingKey, SigningKeyNotFoundError).
// - The last token of each old key still verifies after the switch, the first one after a
//   further rotation too, with both stacks and with the server (GET /api/me 200): retiring keys
//   stay published until their tokens expire.
// - The JWKS says `Cache-Control: public, max-age=1`, and pre-publication (4 s) covers two such
//   cache lifetimes, the rule that makes the first check hold for any cache honouring max-age.
//
// The sign-in loop is the event waited on: one sign-in every ~250 ms until the kid has changed
// twice, bounded at 60 s. A second test records why ES256 is the default: jsonwebtoken cannot
// verify an EdDSA (Ed25519) token at all, jose can.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import { PASSWORD, registerByApi, startServer } from './harness.mjs';

const MAX_AGE_SECS = 1;
const PREPUBLISH_SECS = 4;
const ROTATING = {
  JWTGATE_JWKS_MAX_AGE_SECS: String(MAX_AGE_SECS),
  JWTGATE_KEY_PREPUBLISH_SECS: String(PREPUBLISH_SECS),
  JWTGATE_KEY_ROTATION_SECS: '6',
  JWTGATE_ACCESS_TOKEN_TTL_SECS: '30', // every token of the run is still valid at its end
  // One account signs in ~60 times: lift the per-account sign-in and session limits, or the
  // loop would meet 429s, and the oldest sessions (whose tokens we re-check) would be ended.
  JWTGATE_LOGIN_SUCCESSES_PER_MINUTE: '1000',
  JWTGATE_MAX_SESSIONS_PER_USER: '1000',
};

/**
 * A counting reverse proxy: `GET /<name>/jwks.json` answers with the server's JWKS (status, body,
 * Cache-Control copied). `served[name]` lists, per fetch, the kids of the set it answered.
 */
async function startJwksProxy(upstream, names) {
  const served = Object.fromEntries(names.map((name) => [name, []]));
  const proxy = createServer(async (req, res) => {
    const name = /^\/([a-z]+)\/jwks\.json$/.exec(req.url)?.[1];
    if (req.method !== 'GET' || !served[name]) return res.writeHead(404).end();
    try {
      const answer = await fetch(`${upstream}/.well-known/jwks.json`);
      const body = await answer.text();
      served[name].push(answer.ok ? JSON.parse(body).keys.map((k) => k.kid) : []);
      res.writeHead(answer.status, {
        'Content-Type': answer.headers.get('content-type'),
        'Cache-Control': answer.headers.get('cache-control'),
      });
      res.end(body);
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${proxy.address().port}`;
  return { base, served, stop: () => new Promise((r) => proxy.close(r)) };
}

async function signIn(url, email) {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (response.status !== 200) throw new Error(`sign-in: ${response.status} ${await response.text()}`);
  return (await response.json()).access_token;
}

/** The tutorials' stack: the kid's PEM from jwks-rsa, then jsonwebtoken. */
async function rsaVerify(client, token, options) {
  const key = await client.getSigningKey(decodeProtectedHeader(token).kid);
  return jwt.verify(token, key.getPublicKey(), options);
}

test('jose and jwks-rsa + jsonwebtoken follow two key rotations without a miss', async (t) => {
  const server = await startServer(ROTATING);
  t.after(() => server.stop());
  const proxy = await startJwksProxy(server.url, ['jose', 'rsa']);
  t.after(() => proxy.stop());

  const jwks = await fetch(`${server.url}/.well-known/jwks.json`);
  assert.equal(jwks.headers.get('cache-control'), `public, max-age=${MAX_AGE_SECS}`);
  const maxAge = Number(/max-age=(\d+)/.exec(jwks.headers.get('cache-control'))[1]);
  assert.ok(PREPUBLISH_SECS >= 2 * maxAge, 'a new key outlives two JWKS cache lifetimes before it signs');

  // Both follow max-age by configuration: neither library reads Cache-Control.
  const JWKS = createRemoteJWKSet(new URL(`${proxy.base}/jose/jwks.json`), {
    cacheMaxAge: MAX_AGE_SECS * 1000,
    cooldownDuration: 30_000,
  });
  const client = jwksClient({
    jwksUri: `${proxy.base}/rsa/jwks.json`,
    cache: true,
    cacheMaxAge: MAX_AGE_SECS * 1000,
    rateLimit: true,
    // Its default, 10 fetches a minute, is sized for a cache of minutes: a per-kid cache of
    // 1 s refetches about once a second and would throttle itself (JwksRateLimitError "Too
    // many requests to the JWKS endpoint" after ~10 s). Scaled with the clock, as max-age is.
    jwksRequestsPerMinute: 120,
  });
  const joseOptions = { issuer: server.url, audience: 'jwtgate', typ: 'at+jwt' };
  const rsaOptions = { algorithms: ['ES256'], issuer: server.url, audience: 'jwtgate' };
  const failures = [];
  async function verifyBoth(token, when) {
    const { kid } = decodeProtectedHeader(token);
    for (const [stack, verify] of [
      ['jose', () => jwtVerify(token, JWKS, joseOptions)],
      ['jwks-rsa', () => rsaVerify(client, token, rsaOptions)],
    ]) {
      await verify().catch((e) => failures.push(`${when}, ${stack}, kid ${kid}: ${e.name}: ${e.message}`));
    }
  }

  const email = await registerByApi(server.url);
  const lastOfOldKey = []; // the last token signed by each key that was replaced
  const deadline = Date.now() + 60_000;
  let previous = null;
  while (lastOfOldKey.length < 2) {
    assert.ok(Date.now() < deadline, `the signing key changed ${lastOfOldKey.length} times in 60 s, not 2:\n${server.logs.join('')}`);
    const token = await signIn(server.url, email);
    const { kid } = decodeProtectedHeader(token);
    if (previous && kid !== previous.kid) {
      const cached = JWKS.jwks();
      assert.ok(cached.keys.some((k) => k.kid === kid), `jose's cache lacks the new kid ${kid} before its first token`);
      await jwtVerify(token, createLocalJWKSet(cached), joseOptions); // the cache alone suffices

      const fetches = proxy.served.rsa.length;
      await client.getSigningKey(kid); // SigningKeyNotFoundError if the set it fetched lacks it
      assert.equal(proxy.served.rsa.length - fetches, 1, 'jwks-rsa fetched the set once for the new kid');
      lastOfOldKey.push(previous.token);
    }
    await verifyBoth(token, 'in the loop');
    previous = { token, kid };
    await sleep(250); // pacing of the sign-ins, not a wait for a condition
  }

  for (const [i, token] of lastOfOldKey.entries()) {
    await verifyBoth(token, `old key ${i + 1} after the switch`);
    const me = await fetch(`${server.url}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200, `the server accepts the last token of old key ${i + 1}`);
  }
  assert.deepEqual(failures, [], 'every verification succeeded');
});

test('EdDSA tokens: jose verifies them, jsonwebtoken cannot (why ES256 is the default)', async (t) => {
  const server = await startServer({ JWTGATE_SIGNING_KEY_ALG: 'EdDSA' });
  t.after(() => server.stop());
  const token = await signIn(server.url, await registerByApi(server.url));
  const { alg, kid } = decodeProtectedHeader(token);
  assert.equal(alg, 'EdDSA');
  const jwksUri = `${server.url}/.well-known/jwks.json`;

  const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), {
    issuer: server.url,
    audience: 'jwtgate',
    typ: 'at+jwt',
  });
  assert.equal(payload.aud, 'jwtgate');

  // jwks-rsa hands over the Ed25519 key as a PEM; jsonwebtoken refuses it whatever it is told.
  const publicKey = (await jwksClient({ jwksUri }).getSigningKey(kid)).getPublicKey();
  const options = { issuer: server.url, audience: 'jwtgate' };
  assert.throws(() => jwt.verify(token, publicKey, { ...options, algorithms: ['EdDSA'] }), {
    message: 'Unknown key type "ed25519".',
  });
  // Past that check, its signature layer (jwa) has no EdDSA either.
  const unchecked = { ...options, algorithms: ['EdDSA'], allowInvalidAsymmetricKeyTypes: true };
  assert.throws(() => jwt.verify(token, publicKey, unchecked), {
    name: 'TypeError',
    message: /^"EdDSA" is not a valid algorithm\./,
  });
  assert.throws(() => jwt.verify(token, publicKey, { ...options, algorithms: ['ES256'] }), {
    name: 'JsonWebTokenError',
    message: 'invalid algorithm',
  });
});
