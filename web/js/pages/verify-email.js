// The pages of the mailed links about your address: confirm it (#/verify-email?token=...),
// confirm a new one (#/confirm-email?token=...) and undo a change from the old one
// (#/undo-email?token=...). As with the reset link, opening one sends nothing: a mail scanner
// that follows the link spends nothing; only the page's button POSTs the single-use token.

import { h } from '../dom.js';
import { request } from '../api.js';
import { describeError } from '../messages.js';
import * as session from '../session.js';
import { linkToken } from './link-token.js';

/** The way on from a link's page: the profile when this tab is signed in, else sign-in. */
function onward() {
  return session.isSignedIn() ? h('a', { href: '#/profile' }, 'Back to your profile') : h('a', { href: '#/sign-in' }, 'Sign in');
}

/** Renews this tab's access token (it names the address as it was) and re-reads the profile. */
function renewSession() {
  if (!session.isSignedIn()) return;
  session
    .refresh()
    .then(() => session.loadProfile())
    .catch(() => {});
}

/**
 * A page whose one button spends the link's token at `endpoint`. `id` names the answer
 * (`<id>-done`), `page` picks that page's sentences for a refusal (PAGE_MESSAGES), `done()` gives
 * the answer that takes the place of the lead and the button, and `after()` runs once the server
 * said yes.
 */
function linkPage({ id, title, lead, button, busy, endpoint, page = null, done, after = () => {} }) {
  const token = linkToken();
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const answer = h('div', { class: 'notice', role: 'status', id: `${id}-done`, hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, button);
  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit }, submit);
  const leadNode = h('p', { class: 'lead' }, lead);

  function fail(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    submit.disabled = true;
    submit.textContent = busy;
    try {
      await request('POST', endpoint, { token });
    } catch (error) {
      submit.disabled = false;
      submit.textContent = button;
      fail(describeError(error, page));
      return;
    }
    form.hidden = true;
    leadNode.hidden = true;
    answer.replaceChildren(...done());
    answer.hidden = false;
    after();
  }

  if (!token) {
    form.hidden = true;
    fail(describeError({ code: 'invalid_link' }, page));
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, title),
    leadNode,
    formError,
    form,
    answer,
  );
  return { node };
}

export function verifyEmailPage() {
  return linkPage({
    id: 'verify',
    title: 'Confirm your email',
    lead: 'Press the button to confirm that this address is yours.',
    button: 'Confirm my email',
    busy: 'Confirming…',
    endpoint: '/auth/email/verify',
    done: () => [h('p', { class: 'notice__title' }, 'Your email address is confirmed.'), h('p', {}, onward())],
    // The access token says email_verified: false until it is renewed: renew it now.
    after: renewSession,
  });
}

/** The link mailed to the new address of a change: only its button makes the change. */
export function confirmEmailPage() {
  return linkPage({
    id: 'confirm-email',
    title: 'Confirm your new address',
    lead: 'Press the button to make this address the sign-in address of your account.',
    button: 'Confirm the new address',
    busy: 'Confirming…',
    endpoint: '/auth/email/change/confirm',
    page: 'confirm-email',
    done: () => [
      h('p', { class: 'notice__title' }, 'Your sign-in address is changed.'),
      h('p', {}, 'Sign in with this address from now on. Your old address was told about the change, with a link that undoes it for 72 hours.'),
      h('p', {}, onward()),
    ],
    // The change cut off every earlier access token (they name the old address); the session
    // goes on, and its next token names the new one.
    after: renewSession,
  });
}

/**
 * The link mailed to the old address after a change. The server puts the address back, ends
 * every session of the account, makes its password unusable (whoever changed the address knew
 * it) and mails this address a reset link (30 minutes).
 */
export function undoEmailPage() {
  return linkPage({
    id: 'undo-email',
    title: 'Undo the address change',
    lead:
      'Press the button to make this address the sign-in address of your account again. Every session of the account ends, and you choose a new password with a link we mail to this address.',
    button: 'Undo the change',
    busy: 'Undoing…',
    endpoint: '/auth/email/change/undo',
    page: 'undo-email',
    done: () => [
      h('p', { class: 'notice__title' }, 'Your old address is back.'),
      h(
        'p',
        {},
        'It is the sign-in address of your account again. Every session of the account was signed out, and its password no longer works: whoever changed the address knew it.',
      ),
      h(
        'p',
        {},
        'We mailed this address a link to choose a new password. It works once, for 30 minutes; after that, ',
        h('a', { href: '#/forgot-password' }, 'ask for another'),
        '.',
      ),
    ],
    // A session of the account in this tab ended too: finding out now shows the sign-in page
    // with the reason (email_change_undone), rather than a menu for a session that is gone.
    after: () => {
      if (session.isSignedIn()) session.refresh().catch(() => {});
    },
  });
}
