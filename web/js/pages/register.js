// Create an account, then sign straight in with it; or, when the server wants the address
// confirmed first (202 check_your_email), say so, with the address, and offer the link again.

import { field, h } from '../dom.js';
import { PASSWORD_HINT, describeError } from '../messages.js';
import * as session from '../session.js';
import { resendLinkControl } from './resend-link.js';

export function registerPage({ next = null } = {}) {
  const email = field({ id: 'email', label: 'Email', type: 'email', autocomplete: 'email', inputmode: 'email' });
  const password = field({
    id: 'password',
    label: 'Password',
    type: 'password',
    autocomplete: 'new-password',
    minlength: 8,
    maxlength: 128,
    hint: PASSWORD_HINT,
  });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Create account');

  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    email.wrapper,
    password.wrapper,
    submit,
  );

  function busy(on) {
    submit.disabled = on;
    submit.textContent = on ? 'Creating your account…' : 'Create account';
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    email.setError('');
    password.setError('');
    const emailValue = email.input.value.trim();
    const passwordValue = password.input.value;
    if (!emailValue) {
      email.setError('Enter your email address.');
      email.input.focus();
      return;
    }
    if (passwordValue.length < 8) {
      password.setError('Use at least 8 characters.');
      password.input.focus();
      return;
    }
    busy(true);
    let created;
    try {
      created = await session.register(emailValue, passwordValue);
    } catch (error) {
      busy(false);
      if (error.code === 'invalid_email' || error.code === 'email_taken') {
        email.setError(describeError(error));
        email.input.focus();
      } else if (error.code === 'weak_password') {
        password.setError(describeError(error));
        password.input.focus();
      } else {
        formError.textContent = describeError(error);
        formError.hidden = false;
      }
      return;
    }
    if (created.checkYourEmail) {
      showCheckYourEmail(emailValue);
      return;
    }
    try {
      await session.signIn(emailValue, passwordValue); // emits 'signed-in': the shell opens the profile
    } catch (error) {
      busy(false);
      formError.textContent = `Your account was created, but signing in failed. ${describeError(error)}`;
      formError.hidden = false;
    }
  }

  const heading = h('h1', { id: 'page-title' }, 'Create an account');
  const lead = h('p', { class: 'lead' }, 'One account, one password. Your sessions stay in cookies no script can read.');
  const aside = h('p', { class: 'aside' }, 'Already have an account? ', h('a', { href: next ? `#/sign-in?next=${encodeURIComponent(next)}` : '#/sign-in' }, 'Sign in'));
  const checkYourEmail = h('div', { id: 'check-your-email', hidden: true });

  // Signing in now would only meet email_not_verified: the link in the mail comes first.
  function showCheckYourEmail(address) {
    form.hidden = true;
    lead.hidden = true;
    aside.hidden = true;
    heading.textContent = 'Check your mail';
    document.title = 'Check your mail · jwtgate';
    checkYourEmail.replaceChildren(
      h(
        'div',
        { class: 'notice' },
        h('p', { class: 'notice__title' }, `We mailed a link to ${address}.`),
        h('p', {}, 'Open it to confirm that the address is yours, then sign in. The link works once, for 24 hours.'),
      ),
      h('p', { class: 'muted' }, 'Nothing after a few minutes? Look in your spam folder, or ask for the link again:'),
      resendLinkControl(address),
      h('p', { class: 'aside' }, 'Confirmed it? ', h('a', { href: '#/sign-in' }, 'Sign in')),
    );
    checkYourEmail.hidden = false;
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }

  const node = h('section', { class: 'card card--narrow' }, heading, lead, form, checkYourEmail, aside);
  return { node };
}
