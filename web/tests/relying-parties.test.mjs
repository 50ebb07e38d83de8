// Standard relying-party libraries sign people in with jwtgate unchanged: node openid-client (v6)
// and Python's Authlib, each through the whole OpenID Connect flow with Debian's Chromium signing
// in on jwtgate's hosted page, and the attacks a provider must refuse.
//
// jwtgate runs over TLS (a certificate made here with openssl), as providers do: openid-client
// refuses http:// unless told to, and Authlib's metadata validation demands https. Node reads
// NODE_EXTRA_CA_CERTS only at start, so openid-client is handed a fetch (its `customFetch`
// extension point) over node:https trusting this certificate; Python trusts it through
// REQUESTS_CA_BUNDLE; Chromium is told to accept it. The app's redirect target is a tiny HTTP
// server on 127.0.0.1 (jwtgate allows http on loopback), which records every request it gets.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpsRequest, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { PASSWORD, addClientWithCli, addUserWithCli, launchBrowser, startServer, uniqueEmail } from './harness.mjs';

const here = import.meta.dirname;

let certDir;
let certFile;
let server; // jwtgate, https://127.0.0.1:PORT
let app; // the relying party's own HTTP server: { origin, callback, signedOut, requests, arrival, stop }
let browser;
let confidential; // { client_id, client_secret }: a server-side app, asks for consent
let publicApp; // { client_id }: a first-party browser app, no consent screen
let trustedFetch; // openid-client's fetch, trusting the test certificate
const fetched = []; // every URL openid-client fetched, for the JWKS check

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'jwtgate-rp-'));
  certFile = join(certDir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', join(certDir, 'key.pem'), '-out', certFile,
  ], { stdio: 'ignore' });
  server = await startServer({ JWTGATE_TLS_CERT_FILE: certFile, JWTGATE_TLS_KEY_FILE: join(certDir, 'key.pem') });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  trustedFetch = fetchTrusting(readFileSync(certFile));
  app = await startApp();
  const redirectUris = [app.callback, app.signedOut];
  confidential = addClientWithCli(server.dataDir, { name: 'Orders dashboard', kind: 'confidential', redirectUris });
  publicApp = addClientWithCli(server.dataDir, { name: 'Team calendar', kind: 'public', redirectUris, firstParty: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
  await server?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

/**
 * A Fetch API function over node:https that trusts `ca` (HTTP/1.1, no redirects followed: the
 * library asks for `redirect: 'manual'`), for openid-client's `customFetch`.
 */
function fetchTrusting(ca) {
  const agent = new Agent({ ca });
  return (url, { method, headers, body, signal }) =>
    new Promise((resolve, reject) => {
      fetched.push(url);
      const req = httpsRequest(url, { method, headers, agent, signal }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const answerHeaders = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) answerHeaders.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
          const empty = [204, 304].includes(res.statusCode) || method === 'HEAD';
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers: answerHeaders }));
        });
      });
      req.on('error', reject);
      req.end(body === undefined || body === null ? undefined : String(body));
    });
}

/**
 * The relying party's HTTP server: answers every request with a small page and records it.
 * `arrival(path)` resolves with the full URL of the next request to `path`.
 */
async function startApp() {
  const requests = [];
  const waiting = new Map();
  const http = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    requests.push(url);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>The app</title><h1 id="app-page">${url.pathname}</h1>`);
    const waiter = waiting.get(url.pathname);
    if (waiter) {
      waiting.delete(url.pathname);
      waiter.resolve(url);
    }
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${http.address().port}`;
  return {
    origin,
    callback: `${origin}/callback`,
    signedOut: `${origin}/signed-out`,
    requests,
    arrival(path, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the app got no request to ${path} in ${timeoutMs} ms`)), timeoutMs);
        timer.unref(); // a test that failed before the request does not hold the run
        waiting.set(path, {
          resolve: (url) => {
            clearTimeout(timer);
            resolve(url);
          },
        });
      });
    },
    stop: () => new Promise((r) => http.close(r)),
  };
}

/**
 * openid-client configured from jwtgate's discovery document, as an app would be: ID tokens
 * must be RS256 and their signature is checked against the JWKS (enableNonRepudiationChecks;
 * without it openid-client trusts the TLS channel of the token response).
 */
function discover(clientId, clientAuth) {
  return client.discovery(new URL(server.url), clientId, { id_token_signed_response_alg: 'RS256' }, clientAuth, {
    [client.customFetch]: trustedFetch,
    execute: [client.enableNonRepudiationChecks],
  });
}

/**
 * The person's part, in Chromium: opens an app's authorization URL, signs in on jwtgate's hosted
 * page when `email` is given (a browser already signed in goes straight on), allows on the
 * consent screen when `consent`. Resolves to the callback URL the app's server received, once
 * the browser has landed there too (its navigation commits a moment after the request: a
 * navigation started before that would be cut short by it).
 */
async function signInAndAllow(page, url, { email, consent = false }) {
  const arrived = app.arrival('/callback');
  await page.goto(url);
  if (email) {
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  if (consent) {
    await page.getByRole('heading', { level: 1, name: 'Allow Orders dashboard?' }).waitFor();
    await page.locator('#consent-allow').click();
  }
  const callback = await arrived;
  await page.waitForURL(callback.href);
  return callback;
}

/**
 * One authorization as openid-client builds it (PKCE S256, state, nonce), through the browser.
 * Resolves to { callback (URL), checks } for authorizationCodeGrant.
 */
async function authorize(page, config, { email, consent }) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const expectedNonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: app.callback,
    scope: 'openid email',
    state: expectedState,
    nonce: expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
  });
  const callback = await signInAndAllow(page, url.href, { email, consent });
  return { callback, checks: { pkceCodeVerifier, expectedState, expectedNonce, idTokenExpected: true } };
}

/**
 * What openid-client threw for a refusal: the HTTP status and the OAuth error code, with the
 * WWW-Authenticate challenge's scheme when the answer had one (openid-client then throws
 * WWWAuthenticateChallengeError, and the RFC 6749 §5.2 body says which error).
 */
async function refusal(promise) {
  let thrown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown, 'the request should have been refused');
  if (thrown instanceof client.ResponseBodyError) return { status: thrown.status, error: thrown.error };
  if (thrown instanceof client.WWWAuthenticateChallengeError) {
    const [challenge] = thrown.cause;
    const error = challenge.parameters.error ?? (await thrown.response.json()).error;
    return { status: thrown.status, challenge: challenge.scheme, error };
  }
  throw thrown;
}

// The refusals, as `refusal` reports them (RFC 6749 §5.2: invalid_client is a 401 with a
// challenge; RFC 6750 §3.1 for a refused bearer token).
const INVALID_GRANT = { status: 400, error: 'invalid_grant' };
const INVALID_CLIENT = { status: 401, challenge: 'basic', error: 'invalid_client' };
const INVALID_TOKEN = { status: 401, challenge: 'bearer', error: 'invalid_token' };

/** Runs `fn(page)` in a fresh browser context (jwtgate's certificate accepted), closed after. */
async function inBrowser(fn) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    return await fn(await context.newPage());
  } finally {
    await context.close();
  }
}

/** The whole flow with openid-client's own API, for one registered client. */
async function wholeFlow(registered, clientAuth, { consent }) {
  const config = await discover(registered.client_id, clientAuth);
  const email = addUserWithCli(server.dataDir, uniqueEmail('rp'));
  await inBrowser(async (page) => {
    const { callback, checks } = await authorize(page, config, { email, consent });
    assert.equal(callback.searchParams.get('iss'), server.url, 'RFC 9207: the callback names the issuer');
    const jwksFetches = () => fetched.filter((u) => u.endsWith('/.well-known/jwks.json')).length;
    const jwksBefore = jwksFetches();

    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    assert.equal(decodeProtectedHeader(tokens.id_token).alg, 'RS256');
    assert.ok(jwksFetches() > jwksBefore, "the ID token's signature was checked against jwtgate's JWKS");
    const claims = tokens.claims();
    assert.equal(claims.iss, server.url);
    assert.equal(claims.aud, registered.client_id);
    assert.equal(claims.nonce, checks.expectedNonce);
    assert.equal(claims.email, email);
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, 'openid email');

    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.deepEqual(info, { sub: claims.sub, email, email_verified: claims.email_verified });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token is rotated');
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal((await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).sub, claims.sub);

    const logoutState = client.randomState();
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: app.signedOut,
      state: logoutState,
    });
    const back = app.arrival('/signed-out');
    await page.goto(endSession.href);
    assert.equal((await back).searchParams.get('state'), logoutState);

    assert.deepEqual(await refusal(client.refreshTokenGrant(config, refreshed.refresh_token)), INVALID_GRANT);
  });
}

test('a confidential app (client_secret_basic) signs a person in with openid-client after consent, refreshes, and its refresh token is refused after its logout', async () => {
  await wholeFlow(confidential, client.ClientSecretBasic(confidential.client_secret), { consent: true });
});

test('a first-party public app (PKCE, no secret) does the same with openid-client, without a consent screen', async () => {
  await wholeFlow(publicApp, client.None(), { consent: false });
});

test("a redirect URI the app never registered stops on jwtgate's error page and the app gets no request", async () => {
  const config = await discover(publicApp.client_id, client.None());
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${app.origin}/not-registered`,
    scope: 'openid',
    state: client.randomState(),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  await inBrowser(async (page) => {
    const seen = app.requests.length;
    await page.goto(url.href);
    await page.locator('#oauth-error').waitFor();
    const landed = new URL(page.url());
    assert.equal(landed.origin, server.url);
    assert.equal(new URLSearchParams(landed.hash.split('?')[1]).get('error'), 'invalid_redirect_uri');
    assert.equal(app.requests.length, seen, 'the app got no request');
  });
});

test('a code redeemed without its PKCE verifier or with a wrong one is refused with invalid_grant, and still works with the right one', async () => {
  const config = await discover(confidential.client_id, client.ClientSecretBasic(confidential.client_secret));
  const email = addUserWithCli(server.dataDir, uniqueEmail('pkce'));
  await inBrowser(async (page) => {
    const { callback, checks } = await authorize(page, config, { email, consent: true });
    const { pkceCodeVerifier, ...withoutVerifier } = checks;

    assert.deepEqual(await refusal(client.authorizationCodeGrant(config, callback, withoutVerifier)), INVALID_GRANT);
    const wrong = { ...withoutVerifier, pkceCodeVerifier: client.randomPKCECodeVerifier() };
    assert.deepEqual(await refusal(client.authorizationCodeGrant(config, callback, wrong)), INVALID_GRANT);

    const tokens = await client.authorizationCodeGrant(config, callback, checks);
    assert.equal(tokens.claims().email, email);
  });
});

test('a code replayed is refused with invalid_grant, and the tokens of its first redemption are refused after', async () => {
  const config = await discover(publicApp.client_id, client.None());
  const email = addUserWithCli(server.dataDir, uniqueEmail('replay'));
  await inBrowser(async (page) => {
    const { callback, checks } = await authorize(page, config, { email });
    const first = await client.authorizationCodeGrant(config, callback, checks);
    const { sub } = first.claims();
    assert.equal((await client.fetchUserInfo(config, first.access_token, sub)).sub, sub);

    assert.deepEqual(await refusal(client.authorizationCodeGrant(config, callback, checks)), INVALID_GRANT);
    assert.deepEqual(await refusal(client.fetchUserInfo(config, first.access_token, sub)), INVALID_TOKEN);
    assert.deepEqual(await refusal(client.refreshTokenGrant(config, first.refresh_token)), INVALID_GRANT);
  });
});

test('a public app presenting a secret and a confidential app without its secret are refused with invalid_client, and their codes still work after', async () => {
  const email = addUserWithCli(server.dataDir, uniqueEmail('auth'));
  await inBrowser(async (page) => {
    const asPublic = await discover(publicApp.client_id, client.None());
    const publicCode = await authorize(page, asPublic, { email });
    const publicWithSecret = await discover(publicApp.client_id, client.ClientSecretBasic('a secret it never had'));
    assert.deepEqual(await refusal(client.authorizationCodeGrant(publicWithSecret, publicCode.callback, publicCode.checks)), INVALID_CLIENT);
    await client.authorizationCodeGrant(asPublic, publicCode.callback, publicCode.checks);

    // The same browser is signed in now: the confidential app only asks for consent.
    const asConfidential = await discover(confidential.client_id, client.ClientSecretBasic(confidential.client_secret));
    const confidentialCode = await authorize(page, asConfidential, { consent: true });
    const withoutSecret = await discover(confidential.client_id, client.None());
    assert.deepEqual(await refusal(client.authorizationCodeGrant(withoutSecret, confidentialCode.callback, confidentialCode.checks)), INVALID_CLIENT);
    await client.authorizationCodeGrant(asConfidential, confidentialCode.callback, confidentialCode.checks);
  });
});

/** web/tests/authlib_rp.py for a registered client, one JSON object a line each way. */
function startAuthlib(registered) {
  const child = spawn(
    'python3',
    [join(here, 'authlib_rp.py'), server.url, registered.client_id, registered.client_secret, app.callback, app.signedOut],
    { env: { ...process.env, REQUESTS_CA_BUNDLE: certFile, PYTHONUNBUFFERED: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk.toString()));
  const exited = new Promise((r) => child.on('close', (code) => r(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async read() {
      const { value, done } = await lines.next();
      if (done) throw new Error(`Authlib's app exited with ${await exited}:\n${stderr.join('')}`);
      return JSON.parse(value);
    },
    send(message) {
      child.stdin.write(`${JSON.stringify(message)}\n`);
    },
    /** Closes its input and resolves to its exit code and stderr once it has exited. */
    async end() {
      child.stdin.end();
      return { code: await exited, stderr: stderr.join('') };
    },
    /** After a failure: ends it if it still runs (waiting for a line, it exits on end of input). */
    async stop() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

test('Authlib accepts the discovery document and signs a person in (code + PKCE), checks the ID token, refreshes, and is refused after its logout', async () => {
  const email = addUserWithCli(server.dataDir, uniqueEmail('authlib'));
  const rp = startAuthlib(confidential);
  try {
    await inBrowser(async (page) => {
      const { authorize: url } = await rp.read();
      assert.equal(new URL(url).searchParams.get('code_challenge_method'), 'S256');
      const callback = await signInAndAllow(page, url, { email, consent: true });
      rp.send({ callback: callback.href });

      const signedIn = await rp.read();
      assert.deepEqual(signedIn.id_token, {
        alg: 'RS256',
        iss: server.url,
        aud: confidential.client_id,
        sub: signedIn.userinfo.sub,
        email,
        nonce_matches: true,
      });
      assert.equal(signedIn.userinfo.email, email);
      assert.deepEqual(signedIn.refreshed, { rotated: true, new_access_token: true, userinfo_status: 200 });

      const back = app.arrival('/signed-out');
      await page.goto(signedIn.end_session);
      const landed = await back;
      assert.equal(landed.searchParams.get('state'), signedIn.logout_state);
      rp.send({ signed_out: landed.href });
      assert.deepEqual(await rp.read(), { refresh_after_logout: { error: 'invalid_grant' } });
    });
    const { code, stderr } = await rp.end();
    assert.equal(code, 0, stderr);
  } finally {
    await rp.stop();
  }
});
