// A single-page app that signs in with jwtgate (OpenID Connect, authorization code + PKCE S256,
// as a public client) and calls the todo API (examples/resource-api) with the access token.
// No framework, no build step, no dependency: what any browser app would do by hand.
//
// Where things are kept, and why:
// - the tokens live in this module's memory only: never localStorage, never a cookie, so no
//   other script run later on this origin, and no reload, finds them (a reload signs out);
// - the state, nonce and PKCE verifier of a sign-in under way sit in sessionStorage (this tab
//   only) for the round trip through jwtgate's pages, and are removed when the answer comes.
//
// config.json (beside this file) says where jwtgate and the API are and which client this is:
//   {"issuer": "http://127.0.0.1:8080", "client_id": "…", "api": "http://127.0.0.1:3000"}

/** Where jwtgate sends the browser back, after a sign-in and after a sign-out: this page. */
const HOME = new URL('./', window.location.href).href;
const SIGN_IN_KEY = 'spa.sign-in';
const SIGN_OUT_KEY = 'spa.sign-out';
/** An access token expiring within this is renewed before the call, not after a refusal. */
const RENEW_BEFORE_MS = 60_000;

let config; // { issuer, client_id, api }
let provider; // jwtgate's discovery document
/** { access, refresh, idToken, expiresAt }, or null when signed out. Memory only. */
let tokens = null;
let renewing = null; // the refresh under way, shared by every caller

const $ = (id) => document.getElementById(id);

/** A failure to show the person as it is: `message` is already in words; `ended` when the
 * session is over (the refresh token refused). */
class Trouble extends Error {
  constructor(message, { ended = false } = {}) {
    super(message);
    this.ended = ended;
  }
}

// ---------------------------------------------------------------------------------------------
// What the page shows

function show(view) {
  $('signed-out').hidden = view !== 'signed-out';
  $('signed-in').hidden = view !== 'signed-in';
}

function say(text) {
  $('status').textContent = text;
  $('status').hidden = !text;
}

function fail(error) {
  const text = error instanceof Trouble ? error.message : `Something went wrong: ${error.message}`;
  if (!(error instanceof Trouble)) console.error(error);
  $('error').textContent = text;
  $('error').hidden = false;
  say('');
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function renderTodos(todos) {
  const list = $('todos');
  if (todos.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'hint';
    empty.textContent = 'Nothing to do yet.';
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(
    ...todos.map((todo) => {
      const item = document.createElement('li');
      item.textContent = todo.title;
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Small tools

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `size` random bytes, base64url: for the state, the nonce and the PKCE verifier. */
function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

/** PKCE S256 (RFC 7636 §4.2): BASE64URL(SHA-256(verifier)). */
async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}

/** A JWT's payload, not verified: see `checkIdToken` for why that is enough here. */
function payloadOf(jwt) {
  const part = (jwt.split('.')[1] || '').replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * fetch, with a refusal of the browser (no answer, or an answer without CORS permission for
 * this origin: the page cannot tell the two apart) turned into words about `what`.
 */
async function reach(what, url, init, fix) {
  try {
    return await fetch(url, { credentials: 'omit', cache: 'no-store', ...init });
  } catch {
    throw new Trouble(
      `${what} at ${new URL(url).origin} did not answer this page. If it is running, ${fix} must list this page's origin, ${window.location.origin}.`,
    );
  }
}

const reachJwtgate = (url, init) => reach('jwtgate', url, init, 'its cors_origins setting');
const reachApi = (url, init) => reach('The todo API', url, init, 'its CORS_ORIGINS setting');

async function jsonOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// jwtgate: discovery, sign-in, the token endpoint, sign-out

async function loadConfig() {
  const response = await fetch(new URL('config.json', HOME), { cache: 'no-store' });
  if (!response.ok) throw new Trouble('This app has no config.json beside it: copy it from the README and fill it in.');
  const loaded = await jsonOf(response);
  for (const key of ['issuer', 'client_id', 'api']) {
    if (typeof loaded[key] !== 'string' || !loaded[key]) {
      throw new Trouble(`config.json has no ${key}: see the README (the client_id is what \`jwtgate client add\` printed).`);
    }
  }
  return { ...loaded, issuer: loaded.issuer.replace(/\/+$/, ''), api: loaded.api.replace(/\/+$/, '') };
}

/** OpenID Connect Discovery §4: the document of the configured issuer, and only of it. */
async function discover() {
  const response = await reachJwtgate(`${config.issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Trouble(`jwtgate at ${config.issuer} has no OpenID Connect configuration (it answered ${response.status}).`);
  const found = await jsonOf(response);
  if (found.issuer !== config.issuer) {
    throw new Trouble(`jwtgate at ${config.issuer} says its issuer is ${found.issuer}: set config.json's issuer to exactly that.`);
  }
  return found;
}

/** Off to jwtgate's sign-in (RFC 6749 §4.1.1 with PKCE); it sends the browser back here. */
async function signIn() {
  const round = { state: randomText(), nonce: randomText(), verifier: randomText() };
  sessionStorage.setItem(SIGN_IN_KEY, JSON.stringify(round));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: config.client_id,
    redirect_uri: HOME,
    scope: 'openid email',
    state: round.state,
    nonce: round.nonce,
    code_challenge: await challengeOf(round.verifier),
    code_challenge_method: 'S256',
  });
  window.location.assign(`${provider.authorization_endpoint}?${query}`);
}

/** Why jwtgate sent the person back without a code (RFC 6749 §4.1.2.1), in words. */
function refusal(error, description) {
  if (error === 'access_denied') return 'You chose not to let this app use your jwtgate account, so you are not signed in.';
  return `jwtgate did not sign you in (${error}${description ? `: ${description}` : ''}).`;
}

/** The answer of the sign-in: checked (state, then iss: RFC 9207), then the code exchanged. */
async function finishSignIn(answer) {
  const round = JSON.parse(sessionStorage.getItem(SIGN_IN_KEY) || 'null');
  sessionStorage.removeItem(SIGN_IN_KEY);
  if (!round || answer.get('state') !== round.state) {
    throw new Trouble('This sign-in answer was not asked for by this page (its state does not match), so it was ignored. Sign in again.');
  }
  if (answer.get('iss') !== provider.issuer) {
    throw new Trouble(`This sign-in answer does not come from ${provider.issuer} (its iss is ${answer.get('iss') ?? 'missing'}), so it was ignored.`);
  }
  if (answer.has('error')) throw new Trouble(refusal(answer.get('error'), answer.get('error_description')));
  const granted = await tokenRequest({
    grant_type: 'authorization_code',
    code: answer.get('code') || '',
    redirect_uri: HOME,
    code_verifier: round.verifier,
  });
  checkIdToken(granted.id_token, round.nonce);
  keep(granted);
}

/**
 * OpenID Connect Core §3.1.3.7, for an ID token this page took straight from the token
 * endpoint: issuer, audience, nonce and expiry. Its signature is not checked here: the
 * specification lets the TLS connection to the token endpoint stand for it (item 6).
 */
function checkIdToken(idToken, nonce) {
  if (!idToken) throw new Trouble('jwtgate gave no ID token: the sign-in cannot be trusted.');
  const claims = payloadOf(idToken);
  const audiences = [].concat(claims.aud);
  const problems = [
    claims.iss !== provider.issuer && 'it comes from another issuer',
    !audiences.includes(config.client_id) && 'it is for another app',
    claims.nonce !== nonce && 'its nonce is not this sign-in\'s',
    !(claims.exp * 1000 > Date.now()) && 'it has expired',
  ].filter(Boolean);
  if (problems.length) throw new Trouble(`The sign-in was refused: the ID token does not hold (${problems.join(', ')}).`);
}

/** POST to the token endpoint as a public client (client_id, no secret). */
async function tokenRequest(fields) {
  const response = await reachJwtgate(provider.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, client_id: config.client_id }),
  });
  const body = await jsonOf(response);
  if (response.ok && body.access_token) return body;
  if (body.error === 'invalid_grant' && fields.grant_type === 'refresh_token') {
    throw new Trouble('Your jwtgate session has ended (signed out, or ended elsewhere). Sign in again.', { ended: true });
  }
  if (body.error === 'invalid_grant') throw new Trouble('That sign-in was already used or has expired. Sign in again.');
  throw new Trouble(`jwtgate refused to give this app tokens (${body.error || response.status}${body.error_description ? `: ${body.error_description}` : ''}).`);
}

function keep(granted) {
  tokens = {
    access: granted.access_token,
    // A refresh rotates the refresh token; the ID token comes with the sign-in only.
    refresh: granted.refresh_token ?? tokens?.refresh ?? null,
    idToken: granted.id_token ?? tokens?.idToken ?? null,
    expiresAt: Date.now() + granted.expires_in * 1000,
  };
}

/** A new access token through /token (grant_type=refresh_token); one at a time. */
function renew() {
  renewing ??= (async () => {
    if (!tokens?.refresh) throw new Trouble('Your sign-in has expired. Sign in again.');
    try {
      keep(await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh }));
    } catch (error) {
      if (error.ended) signedOut();
      throw error;
    }
  })().finally(() => {
    renewing = null;
  });
  return renewing;
}

/**
 * Calls `send(accessToken)`: with a token renewed first when it is about to expire, and once
 * more with a renewed one when the answer is 401 (revoked keys, a clock that ran ahead…).
 */
async function withToken(send) {
  if (!tokens) throw new Trouble('You are not signed in.');
  if (tokens.expiresAt - Date.now() < RENEW_BEFORE_MS) await renew();
  let response = await send(tokens.access);
  if (response.status === 401) {
    await response.body?.cancel(); // not read: let the connection go
    await renew();
    response = await send(tokens.access);
  }
  return response;
}

/** RP-initiated logout: jwtgate ends this app's session and its own, then comes back here. */
function signOut() {
  const state = randomText(16);
  sessionStorage.setItem(SIGN_OUT_KEY, state);
  const query = new URLSearchParams({ id_token_hint: tokens.idToken, post_logout_redirect_uri: HOME, state });
  tokens = null;
  window.location.assign(`${provider.end_session_endpoint}?${query}`);
}

function signedOut() {
  tokens = null;
  show('signed-out');
}

// ---------------------------------------------------------------------------------------------
// The signed-in page: who (from /userinfo) and the todos (from the API)

async function whoAmI() {
  const response = await withToken((access) => reachJwtgate(provider.userinfo_endpoint, { headers: { Authorization: `Bearer ${access}` } }));
  if (!response.ok) throw new Trouble(`jwtgate would not say who you are (${response.status}).`);
  return jsonOf(response);
}

async function callApi(method, path, json) {
  const response = await withToken((access) =>
    reachApi(`${config.api}${path}`, {
      method,
      headers: { Authorization: `Bearer ${access}`, ...(json ? { 'Content-Type': 'application/json' } : {}) },
      body: json ? JSON.stringify(json) : undefined,
    }),
  );
  if (response.status === 401) throw new Trouble('The todo API does not accept your sign-in any more. Sign out, and sign in again.');
  if (response.status === 422) throw new Trouble('A todo needs a title of 1 to 200 characters.');
  if (!response.ok) throw new Trouble(`The todo API answered ${response.status}: try again in a moment.`);
  return jsonOf(response);
}

async function showSignedIn() {
  const me = await whoAmI();
  $('who').textContent = me.email || me.sub;
  show('signed-in');
  renderTodos(await callApi('GET', '/todos'));
}

async function addTodo(event) {
  event.preventDefault();
  clearError();
  const input = $('title');
  const button = event.target.querySelector('button');
  button.disabled = true;
  try {
    await callApi('POST', '/todos', { title: input.value });
    input.value = '';
    renderTodos(await callApi('GET', '/todos'));
  } catch (error) {
    fail(error);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start: read the address (a sign-in's or a sign-out's answer, or nothing), then show the page

async function start() {
  $('sign-in').addEventListener('click', () => {
    clearError();
    signIn().catch(fail);
  });
  $('sign-out').addEventListener('click', signOut);
  $('add-todo').addEventListener('submit', addTodo);

  const answer = new URLSearchParams(window.location.search);
  // The code must not stay in the address bar or the history.
  if (window.location.search) window.history.replaceState(null, '', HOME);
  show('signed-out');
  say('Loading…');
  try {
    config = await loadConfig();
    provider = await discover();
    say('');
    $('sign-in').disabled = false;
    if (answer.has('code') || answer.has('error')) {
      say('Signing you in…');
      await finishSignIn(answer);
      say('');
      await showSignedIn();
    } else if (answer.has('state')) {
      const expected = sessionStorage.getItem(SIGN_OUT_KEY);
      sessionStorage.removeItem(SIGN_OUT_KEY);
      if (expected && answer.get('state') === expected) say('You are signed out, here and on jwtgate.');
    }
  } catch (error) {
    fail(error);
  }
}

start();
