// Change your password (POST /auth/password/change): the current one, a new one (with the same
// advice as registration), and what happens to your other sessions: they end, this one goes on.
// Five wrong current passwords lock this session's attempts for a while (too_many_attempts).

import { field, h } from '../dom.js';
import { PASSWORD_HINT, describeError } from '../messages.js';
import * as session from '../session.js';

export function passwordPage() {
  const current = field({ id: 'current-password', label: 'Current password', type: 'password', autocomplete: 'current-password' });
  const next = field({
    id: 'new-password',
    label: 'New password',
    type: 'password',
    autocomplete: 'new-password',
    minlength: 8,
    maxlength: 128,
    hint: PASSWORD_HINT,
  });
  const formError = h('div', { class: 'notice notice--error', role: 'alert', id: 'form-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button button--primary button--block' }, 'Change password');
  const form = h(
    'form',
    { class: 'form', novalidate: true, 'aria-labelledby': 'page-title', onsubmit: onSubmit },
    formError,
    current.wrapper,
    next.wrapper,
    h(
      'div',
      { class: 'notice notice--warning', id: 'password-consequence' },
      h('p', { class: 'notice__title' }, 'Your other sessions will end'),
      h('p', {}, 'Every other browser and app signed in to your account is signed out at once. This one stays signed in.'),
    ),
    submit,
  );
  const lead = h('p', { class: 'lead' }, 'Choose a new password for your account.');
  const done = h('div', { class: 'notice', role: 'status', id: 'password-done', hidden: true });
  let unlockTimer = null;

  function idle() {
    submit.disabled = false;
    submit.textContent = 'Change password';
  }

  // The server's lockout: the button waits it out, and says until when.
  function lockFor(seconds) {
    clearTimeout(unlockTimer);
    submit.disabled = true;
    submit.textContent = 'Change password';
    unlockTimer = setTimeout(() => {
      submit.disabled = false;
      formError.hidden = true; // its "try again in…" is over
    }, Math.max(1, seconds) * 1000);
  }

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    current.setError('');
    next.setError('');
    const currentValue = current.input.value;
    const nextValue = next.input.value;
    if (!currentValue) {
      current.setError('Enter your current password.');
      current.input.focus();
      return;
    }
    if (nextValue.length < 8) {
      next.setError('Use at least 8 characters.');
      next.input.focus();
      return;
    }
    if (nextValue === currentValue) {
      next.setError('Choose a password different from the current one.');
      next.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Changing…';
    try {
      await session.changePassword(currentValue, nextValue);
    } catch (error) {
      idle();
      if (error.code === 'wrong_password') {
        current.setError(describeError(error));
        current.input.select();
      } else if (error.code === 'weak_password') {
        next.setError(describeError(error));
        next.input.focus();
      } else if (error.name !== 'SessionEndedError') {
        // A session that ended routes to sign-in by itself, with its reason.
        formError.textContent = describeError(error);
        formError.hidden = false;
        if (error.code === 'too_many_attempts') lockFor(error.retryAfter || 15);
      }
      return;
    }
    current.input.value = '';
    next.input.value = '';
    form.hidden = true;
    lead.hidden = true;
    done.replaceChildren(
      h('p', { class: 'notice__title' }, 'Your password was changed.'),
      h('p', {}, 'Every other session of your account was signed out; this one stays signed in. Use the new password the next time you sign in.'),
      h('p', {}, h('a', { href: '#/sessions' }, 'See where you are signed in'), ' · ', h('a', { href: '#/profile' }, 'Back to your profile')),
    );
    done.hidden = false;
  }

  const node = h(
    'section',
    { class: 'card card--narrow' },
    h('h1', { id: 'page-title' }, 'Change your password'),
    lead,
    form,
    done,
  );
  return {
    node,
    cleanup() {
      clearTimeout(unlockTimer);
    },
  };
}
