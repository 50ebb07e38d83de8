// Confirm an email address from the link in the mail (#/verify-email?token=...). As with the reset
// link, opening the page sends nothing: only the button spends the single-use token.

import { h } from '../dom.js';
import { request } from '../api.js';
import { MESSAGES, describeError } from '../messages.js';
import * as session from '../session.js';
import { linkToken } from './link-token.js';

export function verifyEmailPage() {
  const token = linkToken();
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const done = h('div', { class: 'notice', role: 'status', id: 'verify-done', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Confirm my email');
  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit }, submit);
  const lead = h('p', { class: 'lead' }, 'Press the button to confirm that this address is yours.');

  function fail(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    submit.disabled = true;
    submit.textContent = 'Confirming…';
    try {
      await request('POST', '/auth/email/verify', { token });
    } catch (error) {
      submit.disabled = false;
      submit.textContent = 'Confirm my email';
      fail(describeError(error));
      return;
    }
    form.hidden = true;
    lead.hidden = true;
    // The access token says email_verified: false until it is renewed: renew it now.
    if (session.isSignedIn()) {
      session
        .refresh()
        .then(() => session.loadProfile())
        .catch(() => {});
    }
    const next = session.isSignedIn()
      ? h('a', { href: '#/profile' }, 'Back to your profile')
      : h('a', { href: '#/sign-in' }, 'Sign in');
    done.replaceChildren(h('p', { class: 'notice__title' }, 'Your email address is confirmed.'), h('p', {}, next));
    done.hidden = false;
  }

  if (!token) {
    form.hidden = true;
    fail(MESSAGES.invalid_link);
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Confirm your email'),
    lead,
    formError,
    form,
    done,
  );
  return { node };
}
