// Signing in to an app through jwtgate (OpenID Connect). The server's /authorize checks the
// app's request and sends the browser here with the request's query: #/authorize?client_id=...
// (a page for signed-in people, so the router asks for a sign-in first and comes back). The page
// hands the query to /api/oauth/authorize, which answers with where to go (the app, with a code
// or an error) or with what to ask the person (consent). #/oauth-error?error=...&error_description=...
// is where a request that cannot go back to its app stops.

import { scopeWords } from '../claims.js';
import { h } from '../dom.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';

/** The query of this page's own address (after the `?` of the hash). */
function hashQuery() {
  const hash = window.location.hash || '';
  const at = hash.indexOf('?');
  return at < 0 ? '' : hash.slice(at + 1);
}

export function authorizePage({ announce }) {
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
    const question = `Allow ${prompt.client_name}?`;
    const lead = `${prompt.client_name} wants to sign you in with your account here. It will be able to:`;
    title.textContent = question;
    document.title = `${question} · jwtgate`;
    const allow = h('button', { type: 'button', class: 'button button--primary', id: 'consent-allow' }, 'Allow');
    const deny = h('button', { type: 'button', class: 'button button--quiet', id: 'consent-deny' }, 'Cancel');
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
    const account = session.user()?.email;
    consent.replaceChildren(
      h('p', { class: 'lead' }, lead),
      h('ul', { class: 'consent__scopes' }, ...prompt.scopes.map((s) => h('li', {}, scopeWords(s)))),
      account ? h('p', {}, 'You are signed in as ', h('strong', { class: 'address' }, account), '.') : null,
      h(
        'p',
        { class: 'muted' },
        'After you answer you go back to ',
        h('span', { class: 'address' }, prompt.redirect_origin),
        '. You can take this back at any time on your Sessions page.',
      ),
      h('div', { class: 'actions consent__actions' }, allow, deny),
    );
    consent.hidden = false;
    // The question takes the focus, not Allow: a screen reader starts at the question and reads
    // on, and a hurried Enter does not give an app access. The announcement says what is asked.
    title.setAttribute('tabindex', '-1');
    title.focus();
    announce?.(`${question} ${lead} ${prompt.scopes.map(scopeWords).join(' ')}`);
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
  // Only /authorize stops here with these two; an app's sign-out link (/end-session) that the
  // server refuses comes here with invalid_request, so the other words do not speak of signing in.
  const signIn = code === 'invalid_client' || code === 'invalid_redirect_uri';
  const heading = signIn ? 'This sign-in link does not work' : 'This link from an app does not work';
  const text = signIn
    ? describeError({ code, status: 400, detail })
    : 'The app that sent you here made a request this server cannot carry out, so it stops here. Go back to the app and try again; if it keeps happening, tell its developers.';
  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, heading),
    h('div', { class: 'notice notice--error', role: 'alert', id: 'oauth-error' }, text),
    detail ? h('p', { class: 'muted address', id: 'oauth-error-detail' }, `For the app’s developers: ${detail}`) : null,
    h('p', {}, session.isSignedIn() ? h('a', { href: '#/profile' }, 'Go to your profile') : h('a', { href: '#/sign-in' }, 'Sign in')),
  );
  return { node, title: heading };
}
