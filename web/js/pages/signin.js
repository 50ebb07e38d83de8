// Sign in (cookie transport). Shows why the previous session ended, from the server's reason code.

import { field, h } from '../dom.js';
import { describeError, endMessage } from '../messages.js';
import * as session from '../session.js';
import { resendLinkControl } from './resend-link.js';

export function signInPage({ next = null, nextTitle = null, nextLead = null } = {}) {
  const ended = session.endReason();
  const email = field({ id: 'email', label: 'Email', type: 'email', autocomplete: 'username', inputmode: 'email' });
  const password = field({ id: 'password', label: 'Password', type: 'password', autocomplete: 'current-password' });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Sign in');
  // After email_not_verified: the confirmation link again, for the address just typed.
  const resend = h('div', { id: 'sign-in-resend', hidden: true });

  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    resend,
    email.wrapper,
    password.wrapper,
    submit,
  );

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    resend.hidden = true;
    email.setError('');
    password.setError('');
    const emailValue = email.input.value.trim();
    const passwordValue = password.input.value;
    if (!emailValue) {
      email.setError('Enter your email address.');
      email.input.focus();
      return;
    }
    if (!passwordValue) {
      password.setError('Enter your password.');
      password.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await session.signIn(emailValue, passwordValue); // emits 'signed-in': the shell opens the profile
    } catch (error) {
      submit.disabled = false;
      submit.textContent = 'Sign in';
      formError.textContent = describeError(error);
      formError.hidden = false;
      if (error.code === 'invalid_credentials') password.input.select();
      if (error.code === 'email_not_verified') {
        resend.replaceChildren(resendLinkControl(emailValue));
        resend.hidden = false;
      }
    }
  }

  function leadText() {
    if (nextLead) return nextLead;
    if (nextTitle) return `Sign in to continue to ${nextTitle[0].toLowerCase()}${nextTitle.slice(1)}.`;
    // Right under "Your account was deleted", a welcome back would be odd.
    if (ended?.code === 'account_deleted') return 'Sign in with another account, or create a new one.';
    return 'Welcome back. Sign in to see your account.';
  }

  let notice = null;
  if (ended) {
    const message = endMessage(ended.code, ended.elsewhere);
    notice = h(
      'div',
      { class: `notice notice--${message.tone || 'info'}`, role: 'status', id: 'session-ended', 'data-reason': message.code },
      h('p', { class: 'notice__title' }, message.title),
      h('p', {}, message.text),
    );
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Sign in'),
    h('p', { class: 'lead', id: 'sign-in-lead' }, leadText()),
    notice,
    form,
    h('p', { class: 'aside' }, h('a', { href: '#/forgot-password' }, 'Forgot your password?')),
    h('p', { class: 'aside' }, 'New here? ', h('a', { href: next ? `#/register?next=${encodeURIComponent(next)}` : '#/register' }, 'Create an account')),
  );
  return { node };
}
