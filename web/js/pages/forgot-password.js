// Forgot password: asks for a reset link by mail. The answer is the same whether or not an
// account exists, so this page cannot be used to find out who has one.

import { field, h } from '../dom.js';
import { request } from '../api.js';
import { describeError } from '../messages.js';

export const SENT_MESSAGE = 'If an account exists, we sent a link';

export function forgotPasswordPage() {
  const email = field({ id: 'email', label: 'Email', type: 'email', autocomplete: 'email', inputmode: 'email' });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const done = h('div', { class: 'notice', role: 'status', id: 'forgot-sent', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Send the link');
  const lead = h('p', { class: 'lead' }, 'Enter the email of your account and we will mail you a link to choose a new password.');

  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    email.wrapper,
    submit,
  );

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    email.setError('');
    const value = email.input.value.trim();
    if (!value) {
      email.setError('Enter your email address.');
      email.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Sending…';
    try {
      await request('POST', '/auth/password/forgot', { email: value });
      done.replaceChildren(
        h('p', { class: 'notice__title' }, `${SENT_MESSAGE}.`),
        h('p', {}, `Check the inbox of ${value}. The link works once, for 30 minutes.`),
      );
      done.hidden = false;
      form.hidden = true;
      lead.hidden = true;
    } catch (error) {
      formError.textContent = describeError(error);
      formError.hidden = false;
    } finally {
      submit.disabled = false;
      submit.textContent = 'Send the link';
    }
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Forgot your password?'),
    lead,
    form,
    done,
    h('p', { class: 'aside' }, 'Remembered it? ', h('a', { href: '#/sign-in' }, 'Sign in')),
  );
  return { node };
}
