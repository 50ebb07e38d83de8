// The cookie session as this tab knows it: who is signed in, when the access token expires, and
// the silent refresh. Everything here is in memory; tokens themselves never reach script.
//
// Refresh is coordinated across tabs, because every tab of this origin shares the same cookies:
// two tabs spending the same refresh token is what trips reuse detection on other servers.
//  - navigator.locks('jwtgate-refresh') lets one tab at a time call POST /auth/refresh;
//  - before letting go of that lock, the tab that refreshed advertises the new expiry in the name
//    of a lock it keeps holding ('jwtgate-fresh:<expiry>:<lifetime>:<id>'). navigator.locks.query()
//    shows every tab that name at once, so the next tab to get the refresh lock re-checks it and
//    does not refresh again. (A BroadcastChannel message could still be in flight then; it is used
//    only to update the other tabs' pages and timers.)
// The server's grace window (a spent token re-presented within seconds gets the same successor)
// is the second line of defence, not the first.

import { ApiError, request, setCsrfToken } from './api.js';

const LOCK_NAME = 'jwtgate-refresh';
const CHANNEL_NAME = 'jwtgate-session';

/** Thrown when the session is over; `code` is the server's reason (`logout`, `refresh_token_reused`...). */
export class SessionEndedError extends Error {
  constructor(code) {
    super(`The session ended (${code}).`);
    this.name = 'SessionEndedError';
    this.code = code;
  }
}

const state = {
  user: null, // { id, email, roles, plan, session_id, ... } from the last /auth or /api/me answer
  profile: null, // the last /api/me answer
  expiresAt: 0, // local-clock ms at which the access token expires
  lifetimeMs: 0, // its full lifetime, to pick the refresh moment
  generation: 0, // bumped on every refresh this tab learns about (its own or another tab's)
  // The latest advertised expiry (see the top of this file) this tab has accounted for: its own,
  // one it adopted, or the ones standing when it loaded. A later one means another tab refreshed.
  advertSeen: 0,
  ended: null, // { code, elsewhere } once the session ended, for the sign-in page
};

const events = new EventTarget();
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;
let refreshTimer = null;
let inflight = null;

/** Subscribes to 'change' (signed in, refreshed, signed out) events. */
export function onChange(listener) {
  events.addEventListener('change', listener);
  return () => events.removeEventListener('change', listener);
}

function emit(kind) {
  events.dispatchEvent(new CustomEvent('change', { detail: { kind } }));
}

export function isSignedIn() {
  return state.user !== null;
}

export function user() {
  return state.user;
}

export function profile() {
  return state.profile;
}

export function expiresAt() {
  return state.expiresAt;
}

/** The access token's full lifetime in ms, when known (0 after a page reload). */
export function lifetimeMs() {
  return state.lifetimeMs;
}

/** Why the last session ended ({ code, elsewhere }), until the next sign-in; null if none. */
export function endReason() {
  return state.ended;
}

// --- expiry and the refresh timer -------------------------------------------------------------

/** How long before expiry to refresh: a fifth of the lifetime, between 5 s and 60 s. */
function refreshLeadMs() {
  return Math.min(60_000, Math.max(5_000, state.lifetimeMs / 5));
}

function setExpiry(expiresAtMs, lifetimeMs) {
  state.expiresAt = expiresAtMs;
  if (lifetimeMs > 0) state.lifetimeMs = lifetimeMs;
  // After a page load the lifetime is unknown: what is left of it is the best lower bound.
  else if (!state.lifetimeMs) state.lifetimeMs = Math.max(0, expiresAtMs - Date.now());
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  if (!state.user || !state.expiresAt) return;
  // A little jitter so that tabs woken together do not all queue on the lock at once.
  const jitter = Math.random() * 1000;
  const delay = Math.max(0, state.expiresAt - refreshLeadMs() - Date.now() - jitter);
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {
      // A network failure keeps the session; try again shortly. A dead session was handled.
      if (state.user) refreshTimer = setTimeout(schedule, 5_000);
    });
  }, delay);
}

function applyTokenResponse(data) {
  if (data.csrf_token) setCsrfToken(data.csrf_token);
  if (data.user) state.user = { ...(state.user || {}), ...data.user };
  const lifetime = Number(data.expires_in) * 1000;
  if (lifetime > 0) setExpiry(Date.now() + lifetime, lifetime);
}

// --- cross-tab messages -----------------------------------------------------------------------

function broadcast(message) {
  try {
    channel?.postMessage(message);
  } catch {
    // A closed channel (page unloading) only costs the other tabs a redundant refresh.
  }
}

if (channel) {
  channel.addEventListener('message', (event) => {
    const message = event.data || {};
    if (message.type === 'refreshed' && state.user) {
      // Relative, so two tabs need not agree on the wall clock.
      const expiresAt = Date.now() + Number(message.expiresInMs);
      // Already known when this tab took the advertised expiry while holding the refresh lock.
      if (!(expiresAt > state.expiresAt + 1000)) return;
      state.generation += 1;
      setExpiry(expiresAt, Number(message.lifetimeMs) || 0);
      emit('refreshed');
    } else if (message.type === 'ended' && state.user) {
      endLocally(String(message.reason || 'session_ended'), true);
    } else if (message.type === 'signed-in' && !state.user) {
      restore().catch(() => {});
    }
  });
}

// --- the advertised expiry (see the top of this file) -----------------------------------------

const FRESH_PREFIX = 'jwtgate-fresh:';
let releaseAdvert = null;

/** Holds a lock named after the new expiry until the next refresh; resolves once it is held. */
function advertise(expiresAtMs, lifetimeMs) {
  state.advertSeen = Math.max(state.advertSeen, Math.round(expiresAtMs));
  if (!navigator.locks) return Promise.resolve();
  const id = Math.random().toString(36).slice(2);
  const name = `${FRESH_PREFIX}${Math.round(expiresAtMs)}:${Math.round(lifetimeMs)}:${id}`;
  return new Promise((held) => {
    navigator.locks
      .request(name, () =>
        new Promise((release) => {
          releaseAdvert?.();
          releaseAdvert = release;
          held();
        }),
      )
      .catch(() => held());
  });
}

function withdrawAdvert() {
  releaseAdvert?.();
  releaseAdvert = null;
}

/** The latest expiry any tab advertised: { expiresAt, lifetimeMs }, or null. */
async function advertisedExpiry() {
  if (!navigator.locks?.query) return null;
  const { held = [] } = await navigator.locks.query();
  let latest = null;
  for (const { name } of held) {
    if (!name?.startsWith(FRESH_PREFIX)) continue;
    const [expiresAt, lifetimeMs] = name.slice(FRESH_PREFIX.length).split(':').map(Number);
    if (Number.isFinite(expiresAt) && (!latest || expiresAt > latest.expiresAt)) latest = { expiresAt, lifetimeMs };
  }
  return latest;
}

// --- sign in, refresh, sign out ---------------------------------------------------------------

function endLocally(code, elsewhere = false) {
  const wasSignedIn = state.user !== null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  withdrawAdvert();
  setCsrfToken(null);
  state.user = null;
  state.profile = null;
  state.expiresAt = 0;
  state.ended = { code, elsewhere };
  if (wasSignedIn) emit('ended');
}

/** Signs in with the cookie transport. Rejects with ApiError (invalid_credentials, throttled...). */
export async function signIn(email, password) {
  const { data } = await request('POST', '/auth/login', { email, password, transport: 'cookie' });
  state.ended = null;
  state.user = data.user || { email };
  applyTokenResponse(data);
  state.generation += 1;
  await advertise(state.expiresAt, state.lifetimeMs);
  await loadProfile();
  broadcast({ type: 'signed-in' });
  emit('signed-in');
}

/**
 * Creates an account. `{ user }` when it can sign in now (201); `{ checkYourEmail: true }` when the
 * server wants the address confirmed first (202 `check_your_email`): signing in would be refused.
 */
export async function register(email, password) {
  const { data } = await request('POST', '/auth/register', { email, password });
  if (data?.status === 'check_your_email') return { checkYourEmail: true, user: null };
  return { checkYourEmail: false, user: data?.user || null };
}

/**
 * Asks for the confirmation link again for someone who cannot sign in yet. The server answers
 * the same whatever the address (202 `check_your_email`), so all the page may say is that it
 * was asked for.
 */
export async function resendLinkTo(email) {
  await request('POST', '/auth/email/verify/resend', { email });
}

/**
 * Changes the password (POST /auth/password/change). The server cuts off every earlier token of
 * the account, this session's too, and answers with this session's new access cookie: its expiry
 * is taken like a refresh's, and the other tabs are told. Every other session ends
 * (password_changed). Rejects with ApiError (wrong_password, weak_password, too_many_attempts).
 */
export async function changePassword(currentPassword, newPassword) {
  const { data } = await call('POST', '/auth/password/change', {
    current_password: currentPassword,
    new_password: newPassword,
  });
  applyTokenResponse(data || {});
  state.generation += 1;
  await advertise(state.expiresAt, state.lifetimeMs);
  broadcast({ type: 'refreshed', expiresInMs: state.expiresAt - Date.now(), lifetimeMs: state.lifetimeMs });
  emit('refreshed');
}

/**
 * Deletes the account (POST /auth/account/delete, the password again). The server ends every
 * session of it and clears the cookies; here the session ends as any other does, with the
 * server's reason (`account_deleted`), in every tab: the shell shows the sign-in page saying so.
 * Rejects with ApiError (wrong_password, too_many_attempts, last_admin), and nothing changed.
 */
export async function deleteAccount(password) {
  await call('POST', '/auth/account/delete', { password });
  endLocally('account_deleted');
  broadcast({ type: 'ended', reason: 'account_deleted' });
}

/**
 * Refreshes the access token, once across all tabs. `seenGeneration` is the generation the caller
 * saw when it decided a refresh was needed: if another refresh happened since, nothing is sent.
 */
export function refresh(seenGeneration = state.generation) {
  if (inflight) return inflight;
  inflight = lockedRefresh(seenGeneration).finally(() => {
    inflight = null;
  });
  return inflight;
}

function lockedRefresh(seenGeneration) {
  if (!navigator.locks) return doRefresh(seenGeneration);
  return navigator.locks.request(LOCK_NAME, () => doRefresh(seenGeneration));
}

async function doRefresh(seenGeneration) {
  if (!state.user) throw new SessionEndedError(state.ended?.code || 'session_ended');
  // Did another tab refresh while we waited for the lock (or just before we asked for it)?
  const advertised = await advertisedExpiry();
  // Newer than every advert this tab has accounted for. (Without one to compare with, newer than
  // its own expiry by a second: a tab's expiry from /api/me is the token's second, a sign-in's
  // advert the moment its answer arrived, so the two may differ by a little.)
  const newer = state.advertSeen ? advertised?.expiresAt > state.advertSeen : advertised?.expiresAt > state.expiresAt + 1000;
  if (newer) {
    state.advertSeen = advertised.expiresAt;
    state.generation += 1;
    setExpiry(advertised.expiresAt, advertised.lifetimeMs);
    emit('refreshed');
  }
  if (state.generation !== seenGeneration && state.expiresAt - Date.now() > refreshLeadMs()) {
    return 'converged';
  }
  let data;
  try {
    ({ data } = await request('POST', '/auth/refresh'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      endLocally(error.code);
      broadcast({ type: 'ended', reason: error.code });
      throw new SessionEndedError(error.code);
    }
    throw error;
  }
  applyTokenResponse(data);
  state.generation += 1;
  await advertise(state.expiresAt, state.lifetimeMs);
  broadcast({ type: 'refreshed', expiresInMs: state.expiresAt - Date.now(), lifetimeMs: state.lifetimeMs });
  emit('refreshed');
  return 'refreshed';
}

/**
 * An authenticated API call. On a 401 it refreshes once (under the cross-tab lock) and retries;
 * if the session is over it ends it here and rejects with SessionEndedError carrying the reason.
 */
export async function call(method, path, body) {
  const seen = state.generation;
  try {
    return await request(method, path, body);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 403 && error.code === 'csrf_failed' && state.user) {
      await reloadCsrf();
      return request(method, path, body);
    }
    if (error.status !== 401) throw error;
  }
  await refresh(seen);
  try {
    return await request(method, path, body);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      endLocally(error.code);
      broadcast({ type: 'ended', reason: error.code });
      throw new SessionEndedError(error.code);
    }
    throw error;
  }
}

async function reloadCsrf() {
  const { data } = await request('GET', '/auth/csrf');
  setCsrfToken(data.csrf_token);
}

/** Reads /api/me: the profile from the access token's claims, and its expiry. */
export async function loadProfile() {
  const { data, serverNow } = await call('GET', '/api/me');
  state.profile = data;
  state.user = { ...(state.user || {}), id: data.id, email: data.email, roles: data.roles };
  if (Number.isFinite(data.expires_at)) {
    // Convert the server's expiry to this tab's clock, so a skewed device clock does not matter.
    const skew = serverNow === null ? 0 : serverNow - Date.now();
    const local = data.expires_at * 1000 - skew;
    if (Math.abs(local - state.expiresAt) > 2000 || !state.expiresAt) setExpiry(local, 0);
  }
  emit('profile');
  return data;
}

/** After a page load: is there a cookie session? Fetches its CSRF token and profile if so. */
export async function restore() {
  try {
    await reloadCsrf();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      // No session. If it ended while no page of it was open (an app signed the user out, an
      // administrator ended it), the server says why, and the sign-in page says it too.
      if (error.code !== 'missing_credentials' && error.code !== 'invalid_token') state.ended = { code: error.code, elsewhere: false };
      return false;
    }
    throw error;
  }
  state.user = state.user || {};
  state.ended = null;
  // The adverts standing now are accounted for by the expiry /api/me tells next.
  const standing = await advertisedExpiry().catch(() => null);
  if (standing) state.advertSeen = Math.max(state.advertSeen, standing.expiresAt);
  try {
    await loadProfile();
  } catch (error) {
    if (error instanceof SessionEndedError) return false;
    state.user = null;
    throw error;
  }
  emit('signed-in');
  return true;
}

/** Ends this session on the server (its access token stops working at once) and in every tab. */
export async function signOut() {
  try {
    await call('POST', '/auth/logout');
  } catch (error) {
    if (!(error instanceof SessionEndedError)) throw error;
  }
  endLocally('logout');
  broadcast({ type: 'ended', reason: 'logout' });
}

// A tab coming back to the foreground may have slept through its timer (browsers throttle timers
// in background tabs): refresh now if the token is about to expire.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.user && state.expiresAt - Date.now() < refreshLeadMs()) {
    refresh().catch(() => {});
  }
});
