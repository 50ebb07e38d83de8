// Signing in to an app through jwtgate (OpenID Connect). The server's /authorize checks the
// app's request and sends the browser here with the request's query: #/authorize?client_id=...
// (a page for signed-in people, so the router asks for a sign-in first and comes back). The page
// hands the query to /api/oauth/authorize, which answers with where to go (the app, with a code
// or an error) or with what to ask the person (consent). #/oauth-error?error=...&error_description=...
// is where a request that cannot go back to its app stops.

import { h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

/** The query of this page's own address (after the `?` of the hash). */
function hashQuery() {
  const hash = window.location.hash || '';
  const at = hash.indexOf('?');
  return at < 0 ? '' : hash.slice(at + 1);
}

/** What each scope lets the app do, in words. */
const SCOPE_WORDS = {
  openid: 'Know who you are: your account id on this server.',
  email: 'See your email address, and whether you confirmed it.',
};

export function authorizePage() {
  const query = hashQuery();
  const status = h('p', { class: 'lead', role: 'status', id: 'authorize-status' }, 'Signing you in to the app…');
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const consent = h('div', { id: 'consent', hidden: true });
  const title = h('h1', { id: 'page-title' }, 'Sign in to an app');
  let alive = true;

  function fail(error) {
    status.hidden = true;
    formError.textContent = describeError(error);
    formError.hidden = false;
  }

  async function send(decision) {
    const { data } = await session.call('POST', '/api/oauth/authorize', { query, decision });
    if (!alive) return;
    if (data.redirect_to) {
      consent.hidden = true;
      status.textContent = decision === 'deny' ? 'Telling the app you said no…' : 'Taking you back to the app…';
      status.hidden = false;
      window.location.assign(data.redirect_to);
      return;
    }
    ask(data.consent);
  }

  function ask(prompt) {
    status.hidden = true;
    title.textContent = `Allow ${prompt.client_name}?`;
    const allow = h('button', { type: 'button', class: 'button button--primary', id: 'consent-allow' }, 'Allow');
    const deny = h('button', { type: 'button', class: 'button', id: 'consent-deny' }, 'Cancel');
    const choose = (decision) => async () => {
      allow.disabled = true;
      deny.disabled = true;
      try {
        await send(decision);
      } catch (error) {
        allow.disabled = false;
        deny.disabled = false;
        fail(error);
      }
    };
    allow.addEventListener('click', choose('allow'));
    deny.addEventListener('click', choose('deny'));
    consent.replaceChildren(
      h('p', { class: 'lead' }, `${prompt.client_name} wants to sign you in with your account here. It will be able to:`),
      h('ul', { class: 'consent__scopes' }, ...prompt.scopes.map((s) => h('li', {}, SCOPE_WORDS[s] || s))),
      h('p', {}, `After you answer you go back to ${prompt.redirect_origin}. You can take this back at any time on your Sessions page.`),
      h('div', { class: 'actions' }, allow, deny),
    );
    consent.hidden = false;
    allow.focus();
  }

  send(null).catch((error) => alive && fail(error));
  const node = h('section', { class: 'card card--narrow' }, title, status, formError, consent);
  return {
    node,
    cleanup() {
      alive = false;
    },
  };
}

export function oauthErrorPage() {
  const params = new URLSearchParams(hashQuery());
  const code = params.get('error') || '';
  const detail = params.get('error_description') || '';
  const known = code === 'invalid_client' || code === 'invalid_redirect_uri';
  const text = known
    ? describeError({ code, status: 400, detail })
    : 'The app that sent you here made a request this server cannot carry out, so you cannot sign in to it from here.';
  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'This sign-in link does not work'),
    h('div', { class: 'notice notice--error', role: 'alert', id: 'oauth-error' }, text),
    detail ? h('p', { class: 'hint' }, `For the app's developers: ${detail}`) : null,
    h('p', {}, session.isSignedIn() ? h('a', { href: '#/profile' }, 'Go to your profile') : h('a', { href: '#/sign-in' }, 'Sign in')),
  );
  return { node };
}
