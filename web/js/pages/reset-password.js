// Choose a new password from the link in the reset mail (#/reset-password?token=...). Opening the
// page sends nothing: only the button's POST spends the single-use token, so a mail scanner that
// follows the link consumes nothing.

import { field, h } from '../dom.js';
import { MESSAGES, PASSWORD_HINT, describeError } from '../messages.js';
import { request } from '../api.js';
import { linkToken } from './link-token.js';

export function resetPasswordPage() {
  const token = linkToken();
  const password = field({
    id: 'new-password',
    label: 'New password',
    type: 'password',
    autocomplete: 'new-password',
    minlength: 8,
    maxlength: 128,
    hint: PASSWORD_HINT,
  });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const done = h('div', { class: 'notice', role: 'status', id: 'reset-done', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Set the new password');
  const lead = h('p', { class: 'lead' }, 'Nothing changes until you press the button.');

  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    password.wrapper,
    submit,
  );

  function fail(message) {
    formError.replaceChildren(
      h('p', {}, message),
      h('p', {}, h('a', { href: '#/forgot-password' }, 'Ask for a new link')),
    );
    formError.hidden = false;
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    password.setError('');
    const value = password.input.value;
    if (value.length < 8) {
      password.setError('Use at least 8 characters.');
      password.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Saving…';
    try {
      await request('POST', '/auth/password/reset', { token, new_password: value });
    } catch (error) {
      submit.disabled = false;
      submit.textContent = 'Set the new password';
      if (error.code === 'weak_password') {
        password.setError(describeError(error));
        password.input.focus();
      } else {
        fail(describeError(error));
      }
      return;
    }
    form.hidden = true;
    lead.hidden = true;
    done.replaceChildren(
      h('p', { class: 'notice__title' }, 'Your password was changed.'),
      h('p', {}, 'Every session of your account was signed out. ', h('a', { href: '#/sign-in' }, 'Sign in'), ' with the new password.'),
    );
    done.hidden = false;
  }

  if (!token) {
    form.hidden = true;
    fail(MESSAGES.invalid_link);
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Choose a new password'),
    lead,
    form.hidden ? formError : null,
    form,
    done,
  );
  return { node };
}
